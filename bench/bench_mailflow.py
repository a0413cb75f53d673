"""Mail flow benchmark against the real Dovecot set-up (issue 3).

Measures, on this machine:
  1. latency: from a referral's delivery into the coordinator's inbox (LMTP
     returns) to the Coded Referral in the LAST member's Maildir, p50/p95
     over N referrals sent one at a time to the running daemon (IMAP IDLE);
  2. backlog: N referrals waiting in the inbox at start-up, time until all are
     coded and every outgoing message is delivered (referrals per second);
  3. the daemon's idle memory (RSS after the backlog, everything sent).

    python3 bench/bench_mailflow.py [--latency 100] [--backlog 500]

Every name is generated and fictional.
"""

from __future__ import annotations

import argparse
import io
import itertools
import os
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mailbot.sandbox.mailserver import MailServer  # noqa: E402
from mailbot.sandbox.network import TestNetwork  # noqa: E402

SAMPLE = ROOT / "tests" / "fixtures" / "samples" / "S02-paragraphs.docx"
FIRST = ["Orla", "Cian", "Maeve", "Tadhg", "Saoirse", "Oisin", "Niamh", "Fionn", "Aoibhe", "Darragh",
         "Clodagh", "Ruairi", "Grainne", "Senan", "Ailbhe", "Colm", "Eabha", "Donnacha", "Sorcha", "Lorcan"]
LAST = ["Quillane", "Brenick", "Dromsall", "Furlane", "Gorrick", "Hallorin", "Kilvane", "Mallick", "Norrish",
        "Pellane", "Rathmore", "Sheeran", "Tolland", "Vesey", "Wexley", "Yelland", "Ardell", "Corrib",
        "Dunleer", "Errigal", "Fanad", "Gweedore", "Inver", "Lettermore", "Moyne", "Nephin"]


def forms(n: int):
    """n distinct referral forms: S02 with the child's name replaced by generated fictional names."""
    with zipfile.ZipFile(SAMPLE) as zf:
        parts = {i.filename: zf.read(i) for i in zf.infolist()}
    for first, last in itertools.islice(itertools.product(FIRST, LAST), n):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as out:
            for name, data in parts.items():
                if name.endswith(".xml"):
                    data = data.replace(b"Whitcombe", last.encode()).replace(b"Isla", first.encode())
                out.writestr(name, data)
        yield buf.getvalue()


def maildir_count(server: MailServer, address: str) -> int:
    base = server.maildir_root / address
    n = 0
    for sub in ("new", "cur"):
        try:
            n += len(os.listdir(base / sub))
        except FileNotFoundError:
            pass
    return n


class Running:
    """The daemon as it runs in production: `mailbot run -c FILE`, in its own process."""

    def __init__(self, net):
        self.net = net
        self.cfg = net.config
        self.log = open(net.dir / "daemon.log", "ab")
        self.proc = None
        self.store = None

    def __enter__(self):
        import subprocess

        cfg_path = self.net.write_config()
        self.proc = subprocess.Popen([sys.executable, "-m", "mailbot.cli", "run", "-c", str(cfg_path)],
                                     cwd=str(ROOT), stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL)
        from mailbot.store import Store
        from mailbot.store.vault import Vault

        if not wait(lambda: self.cfg.key_file.exists() and self.cfg.store_path.exists(), 20, 0.05):
            raise SystemExit("the daemon did not start; see " + str(self.net.dir / "daemon.log"))
        time.sleep(0.3)
        self.store = Store.open(self.cfg.store_path, Vault.load_or_create(self.cfg.key_file))
        return self

    def rss_kb(self) -> int:
        with open(f"/proc/{self.proc.pid}/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS"))

    def __exit__(self, *exc):
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except Exception:
            self.proc.kill()
        if self.store is not None:
            self.store.close()
        self.log.close()


def wait(cond, timeout: float, step: float = 0.002) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step)
    return False


def bench_latency(server: MailServer, work: Path, n: int) -> list[float]:
    net = TestNetwork(server, work / "latency")
    last = net.members[-1][1]
    referrer = net.members[0][1]
    samples = []
    with Running(net) as run:
        time.sleep(1.5)  # let the watcher connect and IDLE
        for i, form in enumerate(forms(n), 1):
            before = maildir_count(server, last)
            raw = net.email_with(referrer, "Referral", attachments=[("referral.docx", form)])
            t0 = time.perf_counter()
            server.deliver_to_inbox(net.mailbox, raw, mail_from=referrer)
            if not wait(lambda: maildir_count(server, last) > before, 20):
                raise SystemExit(f"referral {i} did not arrive within 20 s")
            samples.append(time.perf_counter() - t0)
            # let the Master List and acknowledgements go out before the next one
            wait(lambda: not run.store.outbox_counts().get("pending"), 10, 0.01)
            wait(lambda: maildir_count(server, last) >= before + 2, 5, 0.01)
    return samples


def bench_backlog(server: MailServer, work: Path, n: int) -> tuple[float, float, int]:
    net = TestNetwork(server, work / "backlog")
    referrer = net.members[1][1]
    for form in forms(n):
        server.deliver_to_inbox(net.mailbox, net.email_with(referrer, "Referral",
                                                            attachments=[("referral.docx", form)]),
                                mail_from=referrer)
    t0 = time.perf_counter()
    with Running(net) as run:
        store = run.store
        # counted, not loaded: decrypting every case 20 times a second would take CPU from the daemon
        ok = wait(lambda: store._conn().execute("SELECT COUNT(*) FROM cases WHERE status = 'open'")
                  .fetchone()[0] >= n, 600, 0.05)
        t_coded = time.perf_counter() - t0
        ok = ok and wait(lambda: not store.outbox_counts().get("pending") and
                         not store.outbox_counts().get("sending"), 600, 0.05)
        t_sent = time.perf_counter() - t0
        if not ok:
            raise SystemExit("backlog did not drain in 10 minutes")
        time.sleep(3.0)
        after = run.rss_kb()
    return t_coded, t_sent, after


def bench_idle(server: MailServer, work: Path) -> int:
    """RSS of a freshly started daemon that has connected and is waiting in IDLE."""
    net = TestNetwork(server, work / "idle")
    with Running(net) as run:
        time.sleep(5.0)
        return run.rss_kb()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--latency", type=int, default=100)
    ap.add_argument("--backlog", type=int, default=500)
    args = ap.parse_args()
    import logging

    logging.basicConfig(level=logging.WARNING)
    work = Path(tempfile.mkdtemp(prefix="mailbot-bench-"))
    work.chmod(0o755)
    with MailServer(work / "mailserver") as server:
        lat = bench_latency(server, work, args.latency) if args.latency else []
        backlog = bench_backlog(server, work, args.backlog) if args.backlog else None
        idle = bench_idle(server, work)
    print()
    print(f"{'measure':<58} {'value':>12}")
    print("-" * 71)
    if lat:
        ms = sorted(x * 1000 for x in lat)
        p95 = ms[min(len(ms) - 1, int(round(0.95 * len(ms))) - 1)]
        print(f"{'inbox -> Coded Referral in last of 13 members, p50 (ms)':<58} {statistics.median(ms):>12.0f}")
        print(f"{'inbox -> Coded Referral in last of 13 members, p95 (ms)':<58} {p95:>12.0f}")
        print(f"{'  (referrals measured)':<58} {len(ms):>12}")
    if backlog:
        t_coded, t_sent, rss = backlog
        n = args.backlog
        print(f"{f'backlog of {n}: all coded (s)':<58} {t_coded:>12.1f}")
        print(f"{f'backlog of {n}: all coded, referrals per second':<58} {n / t_coded:>12.1f}")
        print(f"{f'backlog of {n}: every message delivered (s)':<58} {t_sent:>12.1f}")
        print(f"{'daemon RSS, idle after the backlog (MB)':<58} {rss / 1024:>12.0f}")
    print(f"{'daemon RSS, idle after start-up (MB)':<58} {idle / 1024:>12.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
