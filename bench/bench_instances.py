"""Idle memory of N networks on one server (issue 13 item 8): N = 1, 2, 4 instances of `mailbot run`.

Each instance is its own network, as deploy/mailbot@.service runs them: its own config, data folder,
key and mailbox on the sandbox mail server (a real Dovecot, mailbot/sandbox). All N are started,
each waits in IMAP IDLE with its scheduler running, and after --settle seconds the memory of every
instance (its process and any children) is read from /proc:

- RSS (VmRSS): what each process has resident, shared library pages counted in every process;
- PSS (Pss in /proc/PID/smaps_rollup, when the kernel has it): shared pages divided among the
  processes that share them, so the PSS of N instances adds up to what they really take.

    python3 bench/bench_instances.py [--counts 1,2,4] [--settle 5]

Every network, agency and address is fictional (mailbot.sandbox.network).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mailbot.sandbox.mailserver import MailServer  # noqa: E402
from mailbot.sandbox.network import TestNetwork  # noqa: E402


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid:
            out.append(int(entry))
    return out


def tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        todo.extend(_children(p))
    return pids


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        return next((int(line.split()[1]) for line in fh if line.startswith("VmRSS:")), 0)


def pss_kb(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            return next((int(line.split()[1]) for line in fh if line.startswith("Pss:")), None)
    except OSError:
        return None


class Instance:
    """`mailbot run -c /…/netK/config.toml` in its own process, as systemd would start mailbot@netK."""

    def __init__(self, server: MailServer, work: Path, k: int):
        self.net = TestNetwork(server, work / f"net{k}", suffix=f"n{k}x{os.getpid() % 1000}")
        self.log_path = self.net.dir / "daemon.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        cfg = self.net.write_config()
        env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "mailbot.cli", "run", "-c", str(cfg)], cwd=str(ROOT),
                                         env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)

    def ready(self) -> bool:
        if self.proc.poll() is not None:
            raise SystemExit(f"an instance stopped; see {self.log_path}")
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "mailbot started" in text and "scheduler started" in text

    def memory(self) -> tuple[int, int | None]:
        pids = [p for p in tree(self.proc.pid) if os.path.exists(f"/proc/{p}")]
        rss = sum(rss_kb(p) for p in pids)
        pss = [pss_kb(p) for p in pids]
        return rss, (sum(pss) if all(x is not None for x in pss) else None)

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def measure(server: MailServer, work: Path, n: int, settle: float) -> list[tuple[int, int | None]]:
    instances = [Instance(server, work / f"n{n}", k) for k in range(1, n + 1)]
    try:
        for inst in instances:
            inst.start()
        deadline = time.monotonic() + 60
        while not all(inst.ready() for inst in instances):
            if time.monotonic() > deadline:
                raise SystemExit("the instances did not start in 60 s")
            time.sleep(0.2)
        time.sleep(settle)  # connected, in IDLE, scheduler ticking: idle
        return [inst.memory() for inst in instances]
    finally:
        for inst in instances:
            inst.stop()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--counts", default="1,2,4", help="numbers of instances to measure (default 1,2,4)")
    ap.add_argument("--settle", type=float, default=5.0, help="seconds idle before measuring (default 5)")
    args = ap.parse_args()
    counts = [int(x) for x in args.counts.split(",") if x.strip()]
    work = Path(tempfile.mkdtemp(prefix="mailbot-bench-instances-"))
    work.chmod(0o755)
    rows = []
    with MailServer(work / "mailserver") as server:
        for n in counts:
            rows.append((n, measure(server, work, n, args.settle)))
    have_pss = all(p is not None for _, mem in rows for _, p in mem)
    mib = 1024.0
    print()
    head = f"{'instances':>9} {'RSS total MiB':>14} {'RSS each MiB':>13}"
    if have_pss:
        head += f" {'PSS total MiB':>14} {'PSS each MiB':>13}"
    print(head)
    print("-" * len(head))
    for n, mem in rows:
        rss = sum(r for r, _ in mem)
        line = f"{n:>9} {rss / mib:>14.1f} {rss / n / mib:>13.1f}"
        if have_pss:
            pss = sum(p for _, p in mem)
            line += f" {pss / mib:>14.1f} {pss / n / mib:>13.1f}"
        print(line)
    if not have_pss:
        print("(PSS not shown: /proc/PID/smaps_rollup is not available on this kernel)")
    print(f"(idle: connected to IMAP, in IDLE, scheduler running, {args.settle:.0f} s after start-up; "
          "each instance with its children)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
