"""Fault benchmark against the real Dovecot set-up (issue 5 item 3): the long version of tests/test_faults.py.

    python3 bench/bench_faults.py [--referrals 100] [--kills 20] [--backlog-kills 20] [--imap-cycles 5]
                                  [--cuts 3] [--smtp-outage-seconds 600] [--seed 1]

Phases, each on its own fictional network, `mailbot run` as a subprocess:
  1. kill -9: N referrals delivered at random intervals while the daemon is SIGKILLed K times at
     random moments and restarted each time; then the same with the N/2 referrals delivered at once
     (a backlog: the daemon's helper process is at work when most kills land);
  2. IMAP: Dovecot stopped and restarted C times under the running daemon, a referral delivered
     right after each restart;
  3. silent cuts: the link to IMAP frozen (no FIN/RST) while a referral arrives, then restored;
  4. SMTP: the relay down for --smtp-outage-seconds (skipped when 0) while referrals arrive.
After each phase the invariants of tests/test_faults.py are checked (every referral coded once,
N open cases with consecutive numbers, each member got each Coded Referral, inbox empty, the
latest Master List lists exactly the open cases). Then a table is printed, with the orphans (processes
the daemon had started (its helper process), still running 5 s after a
SIGKILL: must be 0) and the raw duplicates (the same Message-ID delivered twice to one mailbox: the
mail whose SMTP 250 arrived just before a kill, before it was recorded).
Every name is generated and fictional.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from bench.bench_mailflow import forms  # noqa: E402
from mailbot.sandbox.mailserver import MailServer  # noqa: E402
from test_faults import (Daemon, FreezableProxy, check_outcome, coded_count, kill_run, make_network,  # noqa: E402
                         settled, smtp_outage_run, wait_until)


def imap_cycles(server: MailServer, work: Path, cycles: int, rnd: random.Random) -> dict:
    net = make_network(server, work)
    daemon = Daemon(net.write_config(), work / "daemon.log")
    payloads = list(forms(cycles + 1))
    member = net.member_addresses[3]
    daemon.start()
    waits = []
    try:
        net.send_referral(net.members[0][1], payloads[0])
        wait_until(lambda: coded_count(server, member) == 1, 60, "first referral", daemon=daemon)
        for i in range(cycles):
            server.stop_imap()
            time.sleep(rnd.uniform(1, 6))
            server.start_imap()
            net.send_referral(net.members[0][1], payloads[i + 1])
            waits.append(wait_until(lambda: settled(server, net, i + 2) and coded_count(server, member) == i + 2,
                                    90, f"referral after IMAP restart {i + 1}", daemon=daemon))
        assert daemon.stop() == 0
    finally:
        daemon.stop()
        server.start_imap()
    figures = check_outcome(server, net, cycles + 1)
    figures.update(outages=cycles, worst_recovery=max(waits, default=0.0))
    return figures


def silent_cuts(server: MailServer, work: Path, cuts: int, rnd: random.Random) -> dict:
    proxy = FreezableProxy(server.imap_port, server.host)
    net = make_network(server, work, imap_port=proxy.port)
    daemon = Daemon(net.write_config(), work / "daemon.log")
    payloads = list(forms(cuts + 1))
    member = net.member_addresses[2]
    daemon.start()
    waits = []
    try:
        net.send_referral(net.members[1][1], payloads[0])
        wait_until(lambda: coded_count(server, member) == 1, 60, "first referral", daemon=daemon)
        for i in range(cuts):
            time.sleep(1)
            proxy.freeze()
            net.send_referral(net.members[1][1], payloads[i + 1])
            time.sleep(rnd.uniform(3, 10))
            proxy.thaw()
            waits.append(wait_until(lambda: settled(server, net, i + 2) and coded_count(server, member) == i + 2,
                                    90, f"referral after silent cut {i + 1}", daemon=daemon))
        assert daemon.stop() == 0
    finally:
        daemon.stop()
        proxy.close()
    figures = check_outcome(server, net, cuts + 1)
    figures.update(outages=cuts, worst_recovery=max(waits, default=0.0))
    return figures


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--referrals", type=int, default=100)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--backlog-kills", type=int, default=20,
                    help="kills while a backlog of referrals/2 drains (the helper process running); 0 skips")
    ap.add_argument("--imap-cycles", type=int, default=5)
    ap.add_argument("--cuts", type=int, default=3)
    ap.add_argument("--smtp-outage-seconds", type=float, default=0.0, help="e.g. 600 for ten minutes; 0 skips")
    ap.add_argument("--smtp-referrals", type=int, default=5)
    ap.add_argument("--production-backoff", action="store_true",
                    help="SMTP phase with the default retry backoff (2 s doubling to 300 s) instead of 0.5-2 s")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rnd = random.Random(args.seed)

    base = Path(tempfile.mkdtemp(prefix="mailbot-bench-faults-"))
    os.chmod(base, 0o755)  # Dovecot's users must traverse it
    server = MailServer(base / "mail").start()
    rows = []
    failures = 0
    t_all = time.monotonic()

    def phase(name, fn):
        nonlocal failures
        t0 = time.monotonic()
        print(f"-- {name} ...", flush=True)
        try:
            figures = fn()
            figures["ok"] = True
        except AssertionError as exc:
            failures += 1
            figures = {"ok": False, "error": str(exc).splitlines()[0][:200]}
        figures["seconds"] = time.monotonic() - t0
        rows.append((name, figures))
        print(f"   {figures}", flush=True)

    try:
        if args.referrals:
            phase(f"kill -9 x{args.kills}",
                  lambda: kill_run(server, base / "kills", n=args.referrals, kills=args.kills, seed=args.seed,
                                   settle_timeout=600))
        if args.referrals and args.backlog_kills:
            phase(f"kill -9 x{args.backlog_kills} (backlog)",
                  lambda: kill_run(server, base / "kills-backlog", n=max(8, args.referrals // 2),
                                   kills=args.backlog_kills, seed=args.seed + 1, gap=(0.0, 0.02),
                                   settle_timeout=600))
        if args.imap_cycles:
            phase(f"IMAP stop/start x{args.imap_cycles}", lambda: imap_cycles(server, base / "imap",
                                                                              args.imap_cycles, rnd))
        if args.cuts:
            phase(f"silent cut x{args.cuts}", lambda: silent_cuts(server, base / "cuts", args.cuts, rnd))
        if args.smtp_outage_seconds > 0:
            phase(f"SMTP outage {args.smtp_outage_seconds:.0f} s" + (" (prod)" if args.production_backoff else ""),
                  lambda: smtp_outage_run(server, base / "smtp", outage_seconds=args.smtp_outage_seconds,
                                          n=args.smtp_referrals, drain_timeout=600,
                                          smtp={"retry_base_seconds": 2, "retry_max_seconds": 300}
                                          if args.production_backoff else None))
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)

    print()
    print(f"{'phase':<28} {'ok':>3} {'faults':>6} {'refs':>5} {'lost':>5} {'dup-ids':>7} {'raw-dups':>8} "
          f"{'orphans':>7} {'delivered':>9} {'recovery s':>10} {'time s':>7}")
    for name, f in rows:
        faults = f.get("kills", f.get("outages", 1 if "SMTP" in name else 0))
        recovery = f.get("worst_recovery", f.get("drained_seconds"))
        print(f"{name:<28} {'yes' if f['ok'] else 'NO':>3} {faults:>6} {f.get('cases', '-'):>5} "
              f"{0 if f['ok'] else '?':>5} {0 if f['ok'] else '?':>7} {f.get('raw_duplicates', '-'):>8} "
              f"{f.get('orphans', '-'):>7} {f.get('delivered', '-'):>9} "
              f"{('%.1f' % recovery) if recovery is not None else '-':>10} {f['seconds']:>7.1f}")
        if not f["ok"]:
            print(f"   FAILED: {f['error']}")
    kills = sum(f.get("kills", 0) for _, f in rows if f["ok"])
    outages = sum(f.get("outages", 0) for _, f in rows if f["ok"]) + sum(1 for n, f in rows if "SMTP" in n and f["ok"])
    print(f"\nkills survived: {kills}; outages survived: {outages}; referrals: "
          f"{sum(f.get('cases', 0) for _, f in rows)}; messages lost: {0 if not failures else 'see failures'}; "
          f"duplicates (distinct Message-ID): {0 if not failures else 'see failures'}; raw duplicate deliveries: "
          f"{sum(f.get('raw_duplicates', 0) for _, f in rows)}; orphans after kills: "
          f"{sum(f.get('orphans', 0) for _, f in rows)} (of {sum(f.get('children_at_kills', 0) for _, f in rows)} "
          f"child processes running at the kills); sends recorded from the journal after a kill "
          f"(250 arrived, not yet in the database; not sent again): {sum(f.get('saved_by_journal', 0) for _, f in rows)}; "
          f"mails in flight at a kill (no 250 yet; sent again): {sum(f.get('in_flight_at_kills', 0) for _, f in rows)}; "
          f"total {time.monotonic() - t_all:.0f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
