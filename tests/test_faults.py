"""Fault tests against the real Dovecot set-up: kill -9, IMAP outage and silent cut, SMTP outage,
a corrupted database, a full disk.

The daemon runs as `python -m mailbot.cli run -c CONFIG` in a subprocess, exactly as in production.
Every person and agency here is fictional (bench/bench_mailflow.py generates the names).
The long version is bench/bench_faults.py.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import re
import select
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.bench_mailflow import forms  # noqa: E402
from mailbot.sandbox.network import MASTER_LIST_PASSWORD, TestNetwork  # noqa: E402

pytestmark = pytest.mark.mailserver

#: low timeouts so the watcher notices a dead connection within seconds (defaults are 60 s)
FAST_IMAP = {"read_timeout": 4, "liveness_seconds": 3, "connect_timeout": 3, "backoff_max": 2,
             "full_pass_seconds": 30}
FAST_SMTP = {"retry_base_seconds": 0.5, "retry_max_seconds": 2}


# -- helpers (also used by bench/bench_faults.py) ----------------------------------------------

def make_network(server, work_dir: Path, *, imap: dict | None = None, smtp: dict | None = None,
                 imap_port: int | None = None) -> TestNetwork:
    net = TestNetwork(server, work_dir, extra={"imap": dict(FAST_IMAP, **(imap or {})),
                                               "smtp": dict(FAST_SMTP, **(smtp or {}))})
    if imap_port is not None:
        net.raw_config["imap"]["port"] = imap_port
    return net


def process_table() -> dict[int, tuple[int, str, str]]:
    """pid -> (parent pid, start time, state) of every process (from /proc)."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        out[int(entry)] = (int(fields[1]), fields[19], fields[0])
    return out


def descendants(pid: int) -> dict[int, str]:
    """The processes below ``pid`` (children, their children...): pid -> start time."""
    table = process_table()
    found, todo = {}, [pid]
    while todo:
        parent = todo.pop()
        for child, (ppid, start, _state) in table.items():
            if ppid == parent and child not in found:
                found[child] = start
                todo.append(child)
    return found


def survivors(procs: dict[int, str]) -> list[int]:
    """Which of these processes (pid -> start time) still run (a zombie has ended)."""
    table = process_table()
    return [pid for pid, start in procs.items()
            if pid in table and table[pid][1] == start and table[pid][2] not in ("Z", "X")]


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class Daemon:
    """`mailbot run -c CONFIG` as a subprocess; output appended to one log file.

    Every SIGKILL also notes the processes the daemon had started (its helper process):
    :meth:`orphans` says which of them outlived it."""

    def __init__(self, config_path: Path, log_path: Path, *, python_args: list[str] | None = None):
        self.config_path = Path(config_path)
        self.log_path = Path(log_path)
        self.python_args = list(python_args or ["-m", "mailbot.cli"])  # what follows `python`
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self.kills = 0
        self.children_at_kills: dict[int, str] = {}  # pid -> start time, of every kill

    def start(self) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        with open(self.log_path, "ab") as log:
            log.write(f"---- start {self.starts + 1}\n".encode())
            log.flush()
            self.proc = subprocess.Popen([sys.executable, *self.python_args, "run", "-c", str(self.config_path)],
                                         cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT)
        self.starts += 1

    def kill9(self) -> None:
        self.children_at_kills.update(descendants(self.proc.pid))
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.kills += 1

    def orphans(self, wait: float = 5.0) -> list[int]:
        """The processes the daemon had started that still run after it was killed (waits a little)."""
        deadline = time.monotonic() + wait
        while True:
            left = survivors(self.children_at_kills)
            if not left or time.monotonic() > deadline:
                return left
            time.sleep(0.1)

    def started(self) -> bool:
        """The current run got as far as handling signals (it logs "mailbot started" just before)."""
        return self.log().count("mailbot started for") >= self.starts

    def stop(self, timeout: float = 30) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        # a SIGTERM before the daemon has set up its signal handlers would just kill it (-15)
        deadline = time.monotonic() + 20
        while not self.started() and self.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.2)
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise AssertionError(f"the daemon did not stop within {timeout} s after SIGTERM")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def db_query(db: Path, sql: str, params=()) -> list[tuple]:
    """Read the daemon's database without taking part in it (read-only)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def outbox_counts(db: Path) -> Counter:
    try:
        return Counter(dict(db_query(db, "SELECT status, COUNT(*) FROM outbox GROUP BY status")))
    except sqlite3.OperationalError:  # not created yet
        return Counter()


def settled(server, net: TestNetwork, expected_processed: int) -> bool:
    db = net.config.store_path
    if not db.exists():
        return False
    c = outbox_counts(db)
    dirty = db_query(db, "SELECT value FROM kv WHERE name = 'master_list_dirty'")
    return (server.count(net.mailbox, "INBOX") == 0
            and server.count(net.mailbox, "Processed") + server.count(net.mailbox, "Quarantine") >= expected_processed
            and c["pending"] == 0 and c["sending"] == 0
            and (not dirty or dirty[0][0] != "1"))


def wait_until(cond, timeout: float, what: str, step: float = 0.25, daemon: Daemon | None = None) -> float:
    t0 = time.monotonic()
    while True:
        if cond():
            return time.monotonic() - t0
        if daemon is not None and not daemon.alive():
            raise AssertionError(f"the daemon exited ({daemon.proc.returncode}) while waiting for {what}:\n"
                                 + daemon.log()[-3000:])
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"not done after {timeout:.0f} s: {what}"
                                 + (("\n" + daemon.log()[-3000:]) if daemon else ""))
        time.sleep(step)


def open_store(net: TestNetwork):
    from mailbot.store import Store
    from mailbot.store.vault import Vault

    return Store.open(net.config.store_path, Vault.load_or_create(net.config.key_file))


def mailbox_report(server, net: TestNetwork, kind: str) -> dict:
    """Per member address: distinct Message-IDs of `kind`, raw duplicates, subjects per distinct id."""
    out = {}
    for addr in net.member_addresses:
        msgs = [m for m in server.fetch_all(addr) if m["X-Mailbot-Kind"] == kind]
        ids = Counter(m["Message-ID"] for m in msgs)
        subjects = {m["Message-ID"]: m["Subject"] for m in msgs}
        out[addr] = {"distinct": len(ids), "raw_duplicates": sum(n - 1 for n in ids.values()),
                     "subjects": sorted(subjects.values())}
    return out


def all_raw_duplicates(server, net: TestNetwork) -> tuple[int, int]:
    """(distinct-id duplicates that differ in content?, raw duplicate deliveries) over every mailbox of the network."""
    raw_dups = 0
    delivered = 0
    for addr in net.all_member_addresses + [net.coordinator]:
        ids = Counter(m["Message-ID"] for m in server.fetch_all(addr))
        delivered += sum(ids.values())
        raw_dups += sum(n - 1 for n in ids.values())
    return delivered, raw_dups


def latest_master_list_codes(server, address: str) -> tuple[int, set[str]]:
    import openpyxl

    from mailbot.casework.master_list import decrypt_workbook

    best = None
    for m in server.fetch_all(address):
        if m["X-Mailbot-Kind"] != "master-list":
            continue
        for part in m.iter_attachments():
            found = re.match(r"master-list-v(\d+)\.xlsx$", part.get_filename() or "")
            if found and (best is None or int(found.group(1)) > best[0]):
                best = (int(found.group(1)), part.get_content())
    assert best is not None, f"{address} received no Master List"
    wb = openpyxl.load_workbook(io.BytesIO(decrypt_workbook(best[1], MASTER_LIST_PASSWORD)))
    codes = {str(c.value).strip() for row in wb.active.iter_rows() for c in row
             if c.value is not None and re.fullmatch(r"CN\d+[A-Z]?", str(c.value).strip())}
    return best[0], codes


def check_outcome(server, net: TestNetwork, n: int) -> dict:
    """The invariants after any sequence of faults, for n distinct single-child referrals.

    Returns figures (raw duplicate deliveries...) for the caller to print."""
    store = open_store(net)
    try:
        cases = store.open_cases()
        codes = [c.code for c in cases]
        held = store.outbox_counts()
    finally:
        store.close()
    assert len(codes) == n, f"{len(codes)} open cases for {n} referrals"
    assert len(set(codes)) == n
    numbers = sorted(int(c[2:]) for c in codes)
    assert numbers == list(range(numbers[0], numbers[0] + n)), f"case numbers have gaps: {numbers}"
    assert held["held"] == 0 and held["failed"] == 0, held
    assert server.count(net.mailbox, "INBOX") == 0
    assert server.count(net.mailbox, "Processed") == n
    report = mailbox_report(server, net, "coded-referral")
    expected_subjects = sorted(f"[{c}] Coded referral" for c in codes)
    for addr, r in report.items():
        assert r["distinct"] == n, (addr, r["distinct"])
        assert r["subjects"] == expected_subjects, addr
    version, listed = latest_master_list_codes(server, net.member_addresses[-1])
    assert listed == set(codes), f"Master List v{version} lists {sorted(listed)}"
    delivered, raw_dups = all_raw_duplicates(server, net)
    return {"cases": n, "coded_raw_duplicates": sum(r["raw_duplicates"] for r in report.values()),
            "delivered": delivered, "raw_duplicates": raw_dups, "master_list_version": version}


class FreezableProxy:
    """A TCP proxy between the bot and Dovecot's IMAP port that can stop forwarding without closing
    (a silent network cut: packets dropped, no FIN, no RST). Frozen connections stay dead for good;
    connections made while frozen are accepted and hang; after thaw() new connections work again."""

    def __init__(self, target_port: int, host: str = "127.0.0.1"):
        self.target = (host, target_port)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((host, 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.frozen = threading.Event()
        self.closed = threading.Event()
        self._socks: list[socket.socket] = []
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def freeze(self) -> None:
        self.frozen.set()

    def thaw(self) -> None:
        self.frozen.clear()

    def close(self) -> None:
        self.closed.set()
        for s in [self.listener] + self._socks:
            try:
                s.close()
            except OSError:
                pass

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self._socks.append(client)
            self.connections += 1
            threading.Thread(target=self._pipe, args=(client, self.frozen.is_set()), daemon=True).start()

    def _pipe(self, client: socket.socket, born_frozen: bool) -> None:
        if born_frozen:  # a black hole until the test ends
            self.closed.wait()
            return
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            client.close()
            return
        self._socks.append(upstream)
        peers = {client: upstream, upstream: client}
        try:
            while not self.closed.is_set():
                if self.frozen.is_set():  # this connection is cut for good, silently
                    self.closed.wait()
                    return
                ready, _, _ = select.select(list(peers), [], [], 0.1)
                for s in ready:
                    if self.frozen.is_set():
                        break
                    data = s.recv(65536)
                    if not data:
                        return
                    peers[s].sendall(data)
        except OSError:
            return
        finally:
            if not self.frozen.is_set():
                for s in (client, upstream):
                    try:
                        s.close()
                    except OSError:
                        pass


def coded_count(server, address: str) -> int:
    return sum(1 for m in server.fetch_all(address) if m["X-Mailbot-Kind"] == "coded-referral")


# -- 1. kill -9 at random moments --------------------------------------------------------------

def kill_run(server, work_dir: Path, *, n: int, kills: int, seed: int, gap=(0.1, 0.6),
             kill_after=(0.3, 2.5), settle_timeout: float = 120) -> dict:
    """Deliver n referrals while killing the daemon (SIGKILL) `kills` times at random moments."""
    rnd = random.Random(seed)
    net = make_network(server, work_dir)
    daemon = Daemon(net.write_config(), work_dir / "daemon.log")
    payloads = list(forms(n))
    referrer = net.members[0][1]
    daemon.start()
    sent = threading.Event()

    def deliver():
        for data in payloads:
            net.send_referral(referrer, data)
            time.sleep(rnd.uniform(*gap))
        sent.set()

    t0 = time.monotonic()
    feeder = threading.Thread(target=deliver, daemon=True)
    feeder.start()
    handled = 0
    for _ in range(kills):
        time.sleep(rnd.uniform(*kill_after))
        # Three kills in a row while one email is being handled make it a poison message, set aside
        # unread (issue 11 item 11): so between two kills the daemon finishes at least one email
        # (unless none is waiting). The kills still fall anywhere: intake, sending, start-up.
        deadline = time.monotonic() + 15
        while (len(re.findall(r"uid \d+: \S+ -> ", daemon.log())) <= handled and time.monotonic() < deadline
               and server.count(net.mailbox, "INBOX") > 0):
            time.sleep(0.05)
        handled = len(re.findall(r"uid \d+: \S+ -> ", daemon.log()))
        daemon.kill9()
        daemon.start()
    feeder.join(120)
    assert sent.is_set()
    wait_until(lambda: settled(server, net, n), settle_timeout, "inbox empty and outbox drained", daemon=daemon)
    elapsed = time.monotonic() - t0
    assert daemon.stop() == 0
    orphans = daemon.orphans()
    figures = check_outcome(server, net, n)
    log = daemon.log()
    figures.update(kills=daemon.kills, seconds=elapsed, resent_in_flight=daemon.log().count("were in flight"),
                   # mail the server had already taken when the daemon died: sent again (in flight, no
                   # 250 yet) or recorded from the send journal (250 arrived, database not yet written)
                   in_flight_at_kills=sum(int(x) for x in re.findall(r"(\d+) outgoing mail\(s\) were in flight", log)),
                   saved_by_journal=sum(int(x) for x in re.findall(r"(\d+) outgoing mail\(s\) accepted by the server", log)),
                   children_at_kills=len(daemon.children_at_kills), orphans=len(orphans))
    return figures


@pytest.mark.timeout(200)
def test_kill9_at_random_moments_loses_nothing_and_codes_each_referral_once(mailserver, tmp_path):
    figures = kill_run(mailserver, tmp_path, n=15, kills=4, seed=20261123)
    print(f"\nkill -9: {figures}")
    assert figures["kills"] == 4
    assert figures["orphans"] == 0, figures


@pytest.mark.timeout(120)
def test_sigkill_takes_the_helper_with_it_and_no_resource_tracker_is_started(mailserver, tmp_path):
    """Issue 11 item 12: the daemon SIGKILLed while its helper process codes a backlog ahead: the
    helper ends with it (no orphan; no resource tracker is ever started), and a restart finishes."""
    n = 8
    net = make_network(mailserver, tmp_path)
    daemon = Daemon(net.write_config(), tmp_path / "daemon.log")
    for data in forms(n):
        net.send_referral(net.members[0][1], data)
    daemon.start()
    try:
        def helper_up():
            return any("helper_main" in cmdline(pid) for pid in descendants(daemon.proc.pid))

        wait_until(helper_up, 60, "the helper process", step=0.02, daemon=daemon)
        children = [cmdline(pid) for pid in descendants(daemon.proc.pid)]
        # one helper, and no other process (no multiprocessing resource tracker)
        assert len(children) == 1 and "mailbot.speculate" in children[0], children
        daemon.kill9()
        orphans = daemon.orphans()
        assert not orphans, [cmdline(pid) for pid in orphans]
        daemon.start()
        wait_until(lambda: settled(mailserver, net, n), 120, "the backlog after the restart", daemon=daemon)
        assert daemon.stop() == 0
    finally:
        daemon.stop()
    check_outcome(mailserver, net, n)


#: `mailbot run` in which handling an email whose subject says POISON kills the process (SIGKILL), as a
#: crash in a library or the kernel's OOM killer would; every other email is handled as usual
POISON_RUNNER = """
import os, signal, sys
import mailbot.pipeline as pipeline
original = pipeline._process
def _process(ctx, email, *args, **kwargs):
    if "POISON" in (email.subject or ""):
        os.kill(os.getpid(), signal.SIGKILL)
    return original(ctx, email, *args, **kwargs)
pipeline._process = _process
from mailbot.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.timeout(150)
def test_a_message_that_kills_the_daemon_is_quarantined_unread_after_three_attempts(mailserver, tmp_path):
    """Issue 11 item 11: attempts are counted (committed) before handling; a message that killed the
    daemon three times is moved to Quarantine as it is on the fourth start, the coordinator is told,
    and the mail behind it is handled."""
    from mailbot.pipeline import MAX_ATTEMPTS

    net = make_network(mailserver, tmp_path)
    sender = net.members[0][1]
    poison, good = list(forms(2))
    raw = net.email_with(sender, "POISON referral", attachments=[("referral.docx", poison)])
    mailserver.deliver_to_inbox(net.mailbox, raw, mail_from=sender)
    net.send_referral(sender, good)
    daemon = Daemon(net.write_config(), tmp_path / "daemon.log", python_args=["-c", POISON_RUNNER])
    try:
        for attempt in range(MAX_ATTEMPTS):
            daemon.start()
            assert daemon.proc.wait(60) == -signal.SIGKILL, daemon.log()[-3000:]
            assert mailserver.count(net.mailbox, "INBOX") == 2  # nothing moved, nothing lost
        daemon.start()
        wait_until(lambda: settled(mailserver, net, 2), 60, "the poison set aside and the referral handled",
                   daemon=daemon)
        assert daemon.stop() == 0
    finally:
        daemon.stop()
    quarantined = mailserver.fetch_all(net.mailbox, "Quarantine")
    assert [m["Subject"] for m in quarantined] == ["POISON referral"]
    assert raw.split(b"\n\n", 1)[1].strip()[:200] in quarantined[0].as_bytes().replace(b"\r\n", b"\n")
    assert [m["Subject"] for m in mailserver.fetch_all(net.mailbox, "Processed")] == ["Referral"]
    alerts = [m for m in mailserver.fetch_all(net.coordinator) if m["X-Mailbot-Kind"] == "coordinator-alert"]
    assert len(alerts) == 1, [a["Subject"] for a in alerts]
    text = alerts[0].get_body(("plain",)).get_content()
    assert "set aside" in alerts[0]["Subject"] and f"fail {MAX_ATTEMPTS} times" in text and "Quarantine" in text
    db = net.config.store_path
    assert db_query(db, "SELECT kind, outcome FROM messages WHERE kind = 'unreadable'") == [("unreadable", "quarantined")]
    assert db_query(db, "SELECT COUNT(*) FROM attempts") == [(1,)]  # the poison's own count, kept
    assert db_query(db, "SELECT COUNT(*) FROM cases") == [(1,)]
    assert coded_count(mailserver, net.member_addresses[2]) == 1


class CountingRelay:
    """An SMTP server (aiosmtpd) that accepts everything and counts each Message-ID it receives.

    ``on_first_data`` runs (in the server's thread) just before the first message's 250 is sent."""

    def __init__(self, on_first_data=None):
        from aiosmtpd.controller import Controller

        from mailbot.sandbox.mailserver import free_port

        self.received: Counter = Counter()
        self.on_first_data = on_first_data
        relay = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                found = re.search(rb"^Message-ID:\s*(\S+)", envelope.content, re.M | re.I)
                first = not relay.received
                relay.received[found.group(1).decode() if found else "?"] += 1
                if first and relay.on_first_data is not None:
                    relay.on_first_data()
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, ready_timeout=5.0)
        self.controller.start()

    def close(self) -> None:
        self.controller.stop()


@pytest.mark.timeout(120)
def test_a_send_accepted_just_before_a_kill_is_not_sent_again(mailserver, tmp_path):
    """Issue 11 item 13: the SMTP server's 250 is recorded the moment it arrives, even while the
    database is busy (here: held by another process, as intake holds it while coding a referral).
    The daemon is SIGKILLed after the 250 and before the database could record it; after a restart
    that message is not sent again."""
    net = make_network(mailserver, tmp_path)
    net.send_referral(net.members[0][1], next(iter(forms(1))))
    run_once_no_send(net)  # the referral coded; its mail waits in the outbox
    db = net.config.store_path
    pending = db_query(db, "SELECT COUNT(*) FROM outbox WHERE status = 'pending'")[0][0]
    assert pending > 5
    lock = sqlite3.connect(db, timeout=10, isolation_level=None, check_same_thread=False)
    locked = threading.Event()

    def hold_the_database():
        lock.execute("BEGIN IMMEDIATE")  # the daemon's next write waits (busy timeout 15 s)
        locked.set()

    relay = CountingRelay(on_first_data=hold_the_database)
    net.raw_config["smtp"]["port"] = relay.port
    daemon = Daemon(net.write_config(), tmp_path / "daemon.log")
    try:
        daemon.start()
        wait_until(locked.is_set, 30, "the first message at the SMTP server", daemon=daemon)
        # every 250 the server gave has reached the daemon (seen in its send journal; with no journal,
        # give it 4 s); its database writes are waiting for the lock
        journal = Path(str(db) + "-sent")
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            time.sleep(0.2)
            lines = journal.read_bytes().count(b"\n") if journal.exists() else 0
            if lines and lines >= sum(relay.received.values()):
                time.sleep(0.3)
                break
        daemon.kill9()
        lock.execute("ROLLBACK")
        first = next(iter(relay.received))
        daemon.start()
        wait_until(lambda: outbox_counts(db)["pending"] == 0 and outbox_counts(db)["sending"] == 0, 60,
                   "the outbox drained after the restart", daemon=daemon)
        assert daemon.stop() == 0
    finally:
        daemon.stop()
        lock.close()
        relay.close()
    assert relay.received[first] == 1, relay.received
    assert sum(relay.received.values()) == len(relay.received) == pending, relay.received
    assert daemon.orphans() == []


def run_once_no_send(net: TestNetwork) -> None:
    """Process the inbox in-process (no daemon) and leave everything to send in the outbox."""
    from mailbot.daemon import Bot

    bot = Bot(net.config, work_ahead=False)
    try:
        bot.drain_inbox_once()
    finally:
        bot.close()


# -- 2. IMAP outage: Dovecot stopped; a silent cut ----------------------------------------------

@pytest.mark.timeout(150)
def test_imap_restart_referral_delivered_meanwhile_is_processed(private_mailserver, tmp_path):
    server = private_mailserver
    net = make_network(server, tmp_path)
    daemon = Daemon(net.write_config(), tmp_path / "daemon.log")
    daemon.start()
    try:
        payloads = list(forms(2))
        member = net.member_addresses[3]
        net.send_referral(net.members[0][1], payloads[0])
        wait_until(lambda: coded_count(server, member) == 1, 60, "first referral", daemon=daemon)
        server.stop_imap()  # Dovecot gone: IMAP and LMTP
        time.sleep(3)  # the watcher notices and backs off
        server.start_imap()
        net.send_referral(net.members[0][1], payloads[1])  # before the watcher has reconnected
        took = wait_until(lambda: settled(server, net, 2) and coded_count(server, member) == 2, 60,
                          "referral after the IMAP restart", daemon=daemon)
        print(f"\nIMAP restart: processed {took:.1f} s after Dovecot was back")
        assert "IMAP connection to" in daemon.log()  # the outage was noticed and logged once
        assert daemon.stop() == 0
    finally:
        daemon.stop()
    check_outcome(server, net, 2)


@pytest.mark.timeout(150)
def test_imap_silent_cut_is_noticed_by_the_watchdog(mailserver, tmp_path):
    server = mailserver
    proxy = FreezableProxy(server.imap_port, server.host)
    net = make_network(server, tmp_path, imap_port=proxy.port)
    daemon = Daemon(net.write_config(), tmp_path / "daemon.log")
    daemon.start()
    try:
        payloads = list(forms(2))
        member = net.member_addresses[2]
        net.send_referral(net.members[1][1], payloads[0])
        wait_until(lambda: coded_count(server, member) == 1, 60, "first referral", daemon=daemon)
        time.sleep(1)  # back in IDLE
        proxy.freeze()
        net.send_referral(net.members[1][1], payloads[1])  # straight to Dovecot: the bot cannot see it
        time.sleep(8)
        assert server.count(net.mailbox, "INBOX") == 1, "nothing can be processed through a dead link"
        before = proxy.connections
        proxy.thaw()
        took = wait_until(lambda: settled(server, net, 2) and coded_count(server, member) == 2, 60,
                          "referral after the silent cut", daemon=daemon)
        print(f"\nsilent cut: processed {took:.1f} s after the link was back; "
              f"{proxy.connections - before} new connection(s)")
        assert daemon.stop() == 0
    finally:
        daemon.stop()
        proxy.close()
    check_outcome(server, net, 2)


# -- 3. SMTP outage ------------------------------------------------------------------------------

def smtp_outage_run(server, work_dir: Path, *, outage_seconds: float, n: int = 2, smtp: dict | None = None,
                    drain_timeout: float = 120) -> dict:
    """Referrals processed while the SMTP relay is down; all delivered once it is back; one alert.
    `smtp` overrides the fast retry settings (e.g. the production backoff: retry_max_seconds 300)."""
    net = make_network(server, work_dir, smtp=smtp)
    daemon = Daemon(net.write_config(), work_dir / "daemon.log")
    db = net.config.store_path
    daemon.start()
    try:
        server.stop_smtp()
        t_down = time.monotonic()
        for data in forms(n):
            net.send_referral(net.members[0][1], data)
        wait_until(lambda: db.exists() and server.count(net.mailbox, "Processed") == n, 60,
                   "referrals recorded during the SMTP outage", daemon=daemon)
        wait_until(lambda: db_query(db, "SELECT COUNT(*) FROM outbox WHERE status = 'pending' "
                                        "AND last_error LIKE 'cannot reach%'")[0][0] > 0,
                   30, "a failed connection attempt", daemon=daemon)
        time.sleep(max(0.0, outage_seconds - (time.monotonic() - t_down)))
        waiting = db_query(db, "SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'sending')")[0][0]
        sent_during = db_query(db, "SELECT COUNT(*) FROM outbox WHERE status = 'sent'")[0][0]
        assert sent_during == 0 and waiting > n * len(net.member_addresses)
        alerts_queued = db_query(db, "SELECT COUNT(*) FROM outbox WHERE kind = 'coordinator-alert'")[0][0]
        assert alerts_queued == 1, f"{alerts_queued} outage alerts queued, expected exactly one"
        server.start_smtp()
        t_up = time.monotonic()
        wait_until(lambda: settled(server, net, n), drain_timeout, "outbox drained after the outage", daemon=daemon)
        drained = time.monotonic() - t_up
        assert daemon.stop() == 0
    finally:
        daemon.stop()
        server.start_smtp()
    alerts = [m for m in server.fetch_all(net.coordinator) if m["X-Mailbot-Kind"] == "coordinator-alert"]
    assert len(alerts) == 1 and "delayed" in alerts[0]["Subject"] + alerts[0].get_body(("plain",)).get_content()
    figures = check_outcome(server, net, n)
    figures.update(outage_seconds=outage_seconds, drained_seconds=drained, queued_during_outage=waiting)
    assert db_query(db, "SELECT value FROM kv WHERE name = 'smtp_outage_alerted'") == [("0",)]
    return figures


@pytest.mark.timeout(150)
def test_smtp_outage_mail_waits_coordinator_alerted_once_then_delivered_once(private_mailserver, tmp_path):
    figures = smtp_outage_run(private_mailserver, tmp_path, outage_seconds=12)
    print(f"\nSMTP outage: {figures}")
    assert figures["raw_duplicates"] == 0


# -- 4. corrupted store, full disk ---------------------------------------------------------------

def run_once(net: TestNetwork, server, n: int) -> None:
    """Process n referrals in-process (no daemon), deliver everything."""
    import asyncio

    from mailbot.daemon import Bot

    bot = Bot(net.config)
    try:
        bot.drain_inbox_once()
        asyncio.run(bot.make_outbox().drain_until_empty(30))
    finally:
        bot.close()


@pytest.mark.timeout(90)
def test_corrupted_database_stops_the_daemon_with_one_line_and_changes_nothing(mailserver, tmp_path):
    net = make_network(mailserver, tmp_path)
    for data in forms(2):
        net.send_referral(net.members[0][1], data)
    run_once(net, mailserver, 2)
    db = net.config.store_path
    size = db.stat().st_size
    assert size > 8 * 4096
    with open(db, "r+b") as fh:
        fh.seek((size // 2) // 4096 * 4096)
        fh.write(random.Random(7).randbytes(4096))
    digest = hashlib.sha256(db.read_bytes()).hexdigest()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    t0 = time.monotonic()
    res = subprocess.run([sys.executable, "-m", "mailbot.cli", "run", "-c", str(net.write_config())], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=30)
    took = time.monotonic() - t0
    assert res.returncode != 0
    assert took < 10
    errors = [line for line in res.stderr.splitlines() if line.strip() and " INFO " not in line]
    assert len(errors) == 1, res.stderr
    assert "Traceback" not in res.stderr and "damaged" in errors[0], errors[0]
    assert hashlib.sha256(db.read_bytes()).hexdigest() == digest
    assert mailserver.count(net.mailbox, "Processed") == 2


@pytest.fixture
def small_disk(tmp_path):
    d = tmp_path / "small-disk"
    d.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(d)], capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here to fill the disk ({res.stderr.strip()[:100]})")
    try:
        yield d
    finally:
        subprocess.run(["umount", "-l", str(d)], capture_output=True)


def _png_chunks(idat: bytes) -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def padded(form: bytes, size: int) -> bytes:
    """The same form with a large picture in it (random bytes: it does not compress)."""
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(form)) as zin, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as out:
        for info in zin.infolist():
            out.writestr(info, zin.read(info))
        # a well-formed PNG (the coded form's check refuses a picture it cannot follow)
        out.writestr("word/media/image99.png", _png_chunks(random.Random(size).randbytes(size)))
    return buf.getvalue()


def fill(directory: Path) -> Path:
    """Fill the file system holding `directory` to the last byte."""
    filler = directory / "filler"
    with open(filler, "wb", buffering=0) as fh:
        block = b"\0" * 65536
        try:
            while True:
                fh.write(block)
                fh.flush()
        except OSError:
            pass
        try:
            while True:
                fh.write(b"\0")
                fh.flush()
        except OSError:
            pass
    return filler


@pytest.mark.timeout(150)
def test_full_disk_stops_the_daemon_and_the_referral_waits_in_the_inbox(mailserver, tmp_path, small_disk):
    net = make_network(mailserver, tmp_path)
    net.raw_config["paths"]["data_dir"] = str(small_disk / "data")
    config_path = net.write_config()
    from mailbot.config import load_config

    net.config = load_config(config_path)
    daemon = Daemon(config_path, tmp_path / "daemon.log")
    payloads = list(forms(3))
    payloads[1] = padded(payloads[1], 600_000)  # its transaction (12 coded copies) cannot fit in the WAL
    daemon.start()
    try:
        net.send_referral(net.members[0][1], payloads[0])
        wait_until(lambda: settled(mailserver, net, 1), 60, "first referral", daemon=daemon)
        filler = fill(small_disk)
        net.send_referral(net.members[0][1], payloads[1])
        try:
            daemon.proc.wait(30)
        except subprocess.TimeoutExpired:
            pytest.fail("the daemon kept running on a full disk:\n" + daemon.log()[-2000:])
        assert daemon.proc.returncode != 0
        log = daemon.log()
        assert "Traceback" not in log, log[-3000:]
        assert re.search(r"disk .*full|full .*disk|no space", log, re.I), log[-2000:]
        assert mailserver.count(net.mailbox, "INBOX") == 1, "the referral that could not be recorded waits"
        filler.unlink()
        net.send_referral(net.members[0][1], payloads[2])
        daemon.start()
        wait_until(lambda: settled(mailserver, net, 3), 90, "both referrals after space was freed", daemon=daemon)
        assert daemon.stop() == 0
    finally:
        daemon.stop()
    check_outcome(mailserver, net, 3)
