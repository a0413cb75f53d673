"""The IMAP inbox watcher against the real Dovecot test server."""

from __future__ import annotations

import email
import email.policy
import logging
import socket
import statistics
import threading
import time
from email.message import EmailMessage

import pytest

from mailbot.mail.inbox import (
    ImapSettings,
    InboxMessage,
    InboxUnavailable,
    InboxWatcher,
)
from mailbot.mail.uid_state import JsonFileUidState, MemoryUidState

pytestmark = pytest.mark.mailserver


def _msg(subject: str, to: str = "coordinator@net.test") -> bytes:
    m = EmailMessage()
    m["From"] = "agency@outside.test"
    m["To"] = to
    m["Subject"] = subject
    m["Message-ID"] = f"<{subject.replace(' ', '-')}-{time.monotonic_ns()}@outside.test>"
    m.set_content("Please find the form attached.")
    return m.as_bytes()


def _settings(ms, addr, **kw) -> ImapSettings:
    return ImapSettings(host=ms.host, port=kw.pop("port", ms.imap_port), tls="none", username=addr,
                        password=ms.password(addr), **kw)


def _subject(m: InboxMessage) -> str:
    return email.message_from_bytes(m.raw, policy=email.policy.default)["Subject"]


def _subjects(ms, addr, folder):
    return sorted(m["Subject"] for m in ms.fetch_all(addr, folder))


class Recorder:
    """on_message: answers by subject word; 'boom' raises; records what it saw."""

    def __init__(self):
        self.seen: list[tuple[int, str, float]] = []
        self.fail = {"boom"}
        self.event = threading.Event()

    def __call__(self, m: InboxMessage) -> str:
        subj = _subject(m)
        self.seen.append((m.uid, subj, time.monotonic()))
        self.event.set()
        word = subj.split()[0]
        if word in self.fail:
            raise RuntimeError("handler broke")
        return {"quarantine": "quarantined", "keep": "keep"}.get(word, "processed")


def _run_in_thread(watcher):
    stop = threading.Event()
    t = threading.Thread(target=watcher.run_forever, args=(stop,), daemon=True)
    t.start()
    return stop, t


def _wait(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def test_preexisting_mail_is_processed_and_filed_in_uid_order(mailserver, mail_user):
    addr = mail_user("coord")
    for s in ("referral one", "quarantine this", "referral two", "keep me"):
        mailserver.deliver_to_inbox(addr, _msg(s, addr))
    rec = Recorder()
    w = InboxWatcher(_settings(mailserver, addr), rec, MemoryUidState())
    assert w.run_until_empty() == 4
    w.close()
    assert [s for _u, s, _t in rec.seen] == ["referral one", "quarantine this", "referral two", "keep me"]
    assert [u for u, _s, _t in rec.seen] == sorted(u for u, _s, _t in rec.seen)
    assert _subjects(mailserver, addr, "Processed") == ["referral one", "referral two"]
    assert _subjects(mailserver, addr, "Quarantine") == ["quarantine this"]
    assert _subjects(mailserver, addr, "INBOX") == ["keep me"]


def test_message_fields_are_the_raw_bytes_and_internaldate(mailserver, mail_user):
    addr = mail_user("coord")
    raw = _msg("referral raw", addr)
    mailserver.deliver_to_inbox(addr, raw)
    got = []
    w = InboxWatcher(_settings(mailserver, addr), lambda m: got.append(m) or "keep", MemoryUidState())
    w.run_until_empty()
    w.close()
    (m,) = got
    assert raw.replace(b"\r\n", b"\n").strip() in m.raw.replace(b"\r\n", b"\n")
    assert m.uidvalidity > 0 and m.uid >= 1
    assert m.internaldate is not None and m.internaldate.tzinfo is not None
    assert abs(time.time() - m.internaldate.timestamp()) < 60


def test_handler_failure_leaves_message_in_inbox_and_it_is_retried(mailserver, mail_user):
    addr = mail_user("coord")
    mailserver.deliver_to_inbox(addr, _msg("boom first", addr))
    mailserver.deliver_to_inbox(addr, _msg("referral ok", addr))
    rec = Recorder()
    state = MemoryUidState()
    w = InboxWatcher(_settings(mailserver, addr), rec, state)
    assert w.run_until_empty() == 1  # the failing one is not counted, the next one still goes through
    w.close()
    assert _subjects(mailserver, addr, "INBOX") == ["boom first"]
    assert _subjects(mailserver, addr, "Processed") == ["referral ok"]
    rec.fail.clear()  # the problem is fixed: the next pass takes it
    w2 = InboxWatcher(_settings(mailserver, addr), rec, state)
    assert w2.run_until_empty() == 1
    w2.close()
    assert [s for _u, s, _t in rec.seen] == ["boom first", "referral ok", "boom first"]
    assert _subjects(mailserver, addr, "INBOX") == []
    assert _subjects(mailserver, addr, "Processed") == ["boom first", "referral ok"]


def test_without_move_it_copies_then_expunges_only_that_uid(mailserver, mail_user):
    addr = mail_user("coord")
    mailserver.deliver_to_inbox(addr, _msg("referral a", addr))
    mailserver.deliver_to_inbox(addr, _msg("keep b", addr))
    w = InboxWatcher(_settings(mailserver, addr), Recorder(), MemoryUidState())
    w.force_copy_delete = True
    assert w.run_until_empty() == 2
    w.close()
    assert _subjects(mailserver, addr, "Processed") == ["referral a"]
    assert _subjects(mailserver, addr, "INBOX") == ["keep b"]


def test_idle_push_processes_new_mail_fast_and_measures_latency(mailserver, mail_user):
    addr = mail_user("coord")
    mailserver.deliver_to_inbox(addr, _msg("referral before", addr))
    rec = Recorder()
    w = InboxWatcher(_settings(mailserver, addr), rec, MemoryUidState())
    stop, t = _run_in_thread(w)
    latencies = []
    try:
        _wait(lambda: len(rec.seen) == 1 and w.in_idle, 5, "first pass and IDLE")
        for i in range(5):
            n = len(rec.seen)
            t0 = time.monotonic()
            mailserver.deliver_to_inbox(addr, _msg(f"referral pushed{i}", addr))
            _wait(lambda: len(rec.seen) > n, 5, "IDLE push")
            latencies.append(rec.seen[-1][2] - t0)
            _wait(lambda: w.in_idle, 5, "back in IDLE")
    finally:
        stop.set()
        t.join(5)
    assert not t.is_alive(), "run_forever did not stop promptly"
    print(f"\nIDLE push latency: median {statistics.median(latencies) * 1000:.0f} ms, "
          f"max {max(latencies) * 1000:.0f} ms over {len(latencies)} deliveries")
    assert statistics.median(latencies) < 2.0
    assert len(mailserver.fetch_all(addr, "Processed")) == 6
    assert w.connects == 1


def test_survives_dovecot_restart_and_takes_mail_delivered_meanwhile(private_mailserver, caplog):
    ms = private_mailserver
    addr = ms.add_user("coordinator@net.test")
    ms.deliver_to_inbox(addr, _msg("referral before", addr))
    rec = Recorder()
    w = InboxWatcher(_settings(ms, addr, backoff_min=0.5, backoff_max=2), rec, MemoryUidState())
    caplog.set_level(logging.WARNING, logger="mailbot.mail.inbox")
    stop, t = _run_in_thread(w)
    try:
        _wait(lambda: len(rec.seen) == 1 and w.in_idle, 5, "first pass and IDLE")
        ms.stop_imap()
        _wait(lambda: not w.in_idle, 5, "the watcher to notice the outage")
        time.sleep(0.3)  # a reconnect attempt or two fail while it is down
        ms.start_imap()
        ms.deliver_to_inbox(addr, _msg("referral during outage", addr))
        _wait(lambda: len(rec.seen) == 2, 15, "the message delivered around the restart")
    finally:
        stop.set()
        t.join(5)
    assert [s for _u, s, _t in rec.seen] == ["referral before", "referral during outage"]
    assert _subjects(ms, addr, "Processed") == ["referral before", "referral during outage"]
    assert w.connects == 2
    lost = [r for r in caplog.records if r.levelno == logging.WARNING and "lost" in r.getMessage()]
    assert len(lost) == 1  # one WARNING per outage, not one per attempt
    assert all("@" not in r.getMessage() or ms.host in r.getMessage() for r in caplog.records)


class FreezingProxy:
    """TCP proxy to Dovecot; freeze() silently stops forwarding on open connections."""

    def __init__(self, port):
        self.target = port
        self.lsock = socket.create_server(("127.0.0.1", 0))
        self.port = self.lsock.getsockname()[1]
        self.frozen_conns: set = set()
        self.conns: list = []
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            self.accepted += 1
            s = socket.create_connection(("127.0.0.1", self.target))
            pair = (c, s)
            self.conns.append(pair)
            for a, b in ((c, s), (s, c)):
                threading.Thread(target=self._pump, args=(a, b, pair), daemon=True).start()

    def _pump(self, a, b, pair):
        while True:
            try:
                data = a.recv(65536)
            except OSError:
                return
            if not data:
                return
            if pair in self.frozen_conns:
                continue  # swallowed: no packets, no close
            try:
                b.sendall(data)
            except OSError:
                return

    def freeze(self):
        self.frozen_conns.update(self.conns)

    def close(self):
        self.lsock.close()
        for c, s in self.conns:
            for x in (c, s):
                try:
                    x.close()
                except OSError:
                    pass


def test_watchdog_notices_a_silently_dead_connection(mailserver, mail_user):
    addr = mail_user("coord")
    proxy = FreezingProxy(mailserver.imap_port)
    rec = Recorder()
    w = InboxWatcher(_settings(mailserver, addr, port=proxy.port, liveness_seconds=1, read_timeout=1,
                               backoff_min=0.1), rec, MemoryUidState())
    stop, t = _run_in_thread(w)
    try:
        _wait(lambda: w.in_idle, 5, "IDLE")
        proxy.freeze()
        t0 = time.monotonic()
        mailserver.deliver_to_inbox(addr, _msg("referral while frozen", addr))
        _wait(lambda: len(rec.seen) == 1, 10, "the watchdog to reconnect and process")
        took = time.monotonic() - t0
    finally:
        stop.set()
        t.join(5)
        proxy.close()
    assert w.connects >= 2 and proxy.accepted >= 2
    assert took < 6
    assert _subjects(mailserver, addr, "Processed") == ["referral while frozen"]


def test_unreachable_server_or_bad_login_is_one_plain_line(private_mailserver):
    ms = private_mailserver
    addr = ms.add_user("coordinator@net.test", "right")
    from mailbot.sandbox.mailserver import free_port

    for settings in (ImapSettings(host="127.0.0.1", port=free_port(), tls="none", username=addr, password="x",
                                  connect_timeout=2),
                     ImapSettings(host=ms.host, port=ms.imap_port, tls="none", username=addr, password="wrong"),
                     # TLS asked for but the server has none: refused, never a plaintext fallback
                     ImapSettings(host=ms.host, port=ms.imap_port, tls="ssl", username=addr, password="right",
                                  connect_timeout=2, read_timeout=2),
                     ImapSettings(host=ms.host, port=ms.imap_port, tls="starttls", username=addr,
                                  password="right")):
        w = InboxWatcher(settings, Recorder(), MemoryUidState())
        with pytest.raises(InboxUnavailable) as exc:
            w.run_until_empty()
        text = str(exc.value)
        assert "\n" not in text and "Traceback" not in text
        assert "could not be read" in text


def test_json_uid_state_survives_restart_and_resets_on_new_uidvalidity(tmp_path):
    p = tmp_path / "imap-state.json"
    s = JsonFileUidState(p)
    assert s.get(111) == 0
    s.set(111, 42)
    assert JsonFileUidState(p).get(111) == 42
    assert JsonFileUidState(p).get(222) == 0  # UIDVALIDITY changed: everything is new
    m = MemoryUidState()
    m.set(1, 5)
    assert (m.get(1), m.get(2)) == (5, 0)


def test_settings_reject_unknown_tls_mode():
    with pytest.raises(ValueError):
        ImapSettings(host="h", port=1, tls="maybe")


def test_batch_hook_runs_once_per_pass_and_its_failure_loses_nothing(mailserver, mail_user):
    addr = mail_user("coord")
    for s in ("referral a", "referral b"):
        mailserver.deliver_to_inbox(addr, _msg(s, addr))
    calls = []

    def hook():
        calls.append(1)
        raise RuntimeError("after-batch broke")

    w = InboxWatcher(_settings(mailserver, addr), Recorder(), MemoryUidState(), on_batch_done=hook)
    assert w.run_until_empty() == 2
    w.close()
    assert calls == [1]
    assert _subjects(mailserver, addr, "Processed") == ["referral a", "referral b"]


def test_probe_imap_creates_folders_and_refuses_bad_login_in_one_line(private_mailserver):
    from mailbot.mail.inbox import probe_imap

    ms = private_mailserver
    addr = ms.add_user("probe@net.test", "pw")
    probe_imap(_settings(ms, addr))
    client = ms.imap(addr)
    try:
        assert client.folder_exists("Processed") and client.folder_exists("Quarantine")
    finally:
        client.logout()
    bad = ImapSettings(host=ms.host, port=ms.imap_port, tls="none", username=addr, password="nope")
    with pytest.raises(InboxUnavailable) as exc:
        probe_imap(bad)
    assert "login refused" in str(exc.value) and "\n" not in str(exc.value)


def test_new_uidvalidity_means_everything_is_new(mailserver, mail_user, tmp_path):
    addr = mail_user("coord")
    state = JsonFileUidState(tmp_path / "uid.json")
    state.set(1, 999_999)  # remembered from a mailbox that has since been rebuilt
    mailserver.deliver_to_inbox(addr, _msg("referral old", addr))
    rec = Recorder()
    w = InboxWatcher(_settings(mailserver, addr), rec, state)
    stop, t = _run_in_thread(w)
    try:
        _wait(lambda: len(rec.seen) == 1 and w.in_idle, 5, "first pass and IDLE")
        mailserver.deliver_to_inbox(addr, _msg("referral new", addr))
        _wait(lambda: len(rec.seen) == 2, 5, "the new message")
    finally:
        stop.set()
        t.join(5)
    assert [s for _u, s, _t in rec.seen] == ["referral old", "referral new"]
    assert w.uidvalidity != 1 and state.get(w.uidvalidity) == rec.seen[-1][0]


def test_a_backlog_is_fetched_and_filed_in_chunks_in_uid_order(mailserver, mail_user, monkeypatch):
    import mailbot.mail.inbox as inbox

    monkeypatch.setattr(inbox, "FETCH_CHUNK", 4)
    addr = mail_user("coord")
    subjects = [f"{'quarantine' if i % 5 == 0 else 'referral'} n{i:02d}" for i in range(11)]
    for s in subjects:
        mailserver.deliver_to_inbox(addr, _msg(s, addr))
    rec = Recorder()
    state = MemoryUidState()
    w = InboxWatcher(_settings(mailserver, addr), rec, state)
    fetches = []
    w._connect()
    real_fetch = w.client.fetch
    w.client.fetch = lambda uids, items, *a, **k: fetches.append((len(uids), tuple(items))) or real_fetch(uids, items, *a, **k)
    assert w.run_until_empty() == 11
    assert [s for _u, s, _t in rec.seen] == subjects  # UID order across the chunks
    bodies = [n for n, items in fetches if b"BODY.PEEK[]" in items]
    assert bodies == [4, 4, 3]  # three round trips for eleven messages
    assert state.get(w.uidvalidity) == max(u for u, _s, _t in rec.seen)
    assert _subjects(mailserver, addr, "Processed") == sorted(s for s in subjects if s.startswith("referral"))
    assert _subjects(mailserver, addr, "Quarantine") == sorted(s for s in subjects if s.startswith("quarantine"))
    assert _subjects(mailserver, addr, "INBOX") == []


def test_a_chunk_handled_but_not_filed_is_only_filed_on_the_next_pass(mailserver, mail_user, monkeypatch):
    # the connection drops after the chunk was handled, before the MOVE: the next pass files it
    # and the handler (which dedups by message key in mailbot) is offered each message again
    addr = mail_user("coord")
    for s in ("referral a", "referral b"):
        mailserver.deliver_to_inbox(addr, _msg(s, addr))
    rec = Recorder()
    w = InboxWatcher(_settings(mailserver, addr), rec, MemoryUidState())
    w._connect()

    def broken_move(uids, folder):
        raise ConnectionResetError("link dropped")

    w._move = broken_move
    with pytest.raises(InboxUnavailable):
        w.run_until_empty()
    assert _subjects(mailserver, addr, "INBOX") == ["referral a", "referral b"]
    w2 = InboxWatcher(_settings(mailserver, addr), rec, MemoryUidState())
    assert w2.run_until_empty() == 2
    w2.close()
    assert _subjects(mailserver, addr, "Processed") == ["referral a", "referral b"]
    assert _subjects(mailserver, addr, "INBOX") == []


#: IDLE renewal, watchdog and full pass all far away: only an announcement (or the last look before
#: IDLE) can make the watcher take mail that arrived while it was busy
LONG_IDLE = {"idle_renew_seconds": 600, "liveness_seconds": 600, "full_pass_seconds": 600}


@pytest.mark.parametrize("when", ["while-handling", "after-filing"])
def test_mail_delivered_while_a_pass_runs_is_handled_without_another_email(mailserver, mail_user, when):
    """Issue 11 item 16: an email delivered during a pass (from a hook in the handler, or at the very
    end of the pass after the moves) is handled in the same wake-up, not at the next IDLE renewal."""
    addr = mail_user("coord")
    rec = Recorder()
    delivered = {}

    def deliver_once(name):
        if name not in delivered:
            delivered[name] = time.monotonic()
            mailserver.deliver_to_inbox(addr, _msg(f"referral {name}", addr))
            time.sleep(0.8)  # Dovecot has it (its EXISTS is due with the next response) before the pass goes on

    def on_message(m):
        out = rec(m)
        if when == "while-handling" and _subject(m) == "referral first":
            deliver_once("second")
        return out

    def on_pass_done():
        if when == "after-filing" and any(s == "referral first" for _u, s, _t in rec.seen):
            deliver_once("second")

    w = InboxWatcher(_settings(mailserver, addr, **LONG_IDLE), on_message, MemoryUidState(),
                     on_pass_done=on_pass_done)
    stop, t = _run_in_thread(w)
    try:
        _wait(lambda: w.in_idle, 5, "first (empty) pass and IDLE")
        mailserver.deliver_to_inbox(addr, _msg("referral first", addr))
        _wait(lambda: len(rec.seen) == 1, 5, "the first email")
        _wait(lambda: len(rec.seen) == 2, 8, "the email delivered during the pass (no other email comes)")
        took = rec.seen[1][2] - delivered["second"]
        _wait(lambda: w.in_idle, 5, "back in IDLE")
    finally:
        stop.set()
        t.join(5)
    assert [s for _u, s, _t in rec.seen] == ["referral first", "referral second"]
    assert took < 5, took
    assert _subjects(mailserver, addr, "Processed") == ["referral first", "referral second"]
    assert _subjects(mailserver, addr, "INBOX") == []
    assert w.connects == 1  # taken on the same connection, not after a reconnect
