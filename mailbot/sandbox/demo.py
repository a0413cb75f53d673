"""`mailbot demo`: the whole flow on a local demo mailbox, with no configuration.

It starts a private Dovecot (IMAP + LMTP) and an SMTP endpoint on loopback
(mailbot.sandbox.mailserver), makes a fictional network of thirteen member
agencies, runs the bot (the same Bot as `mailbot run`), has agencies email
sample Referral Forms to the coordinator, then shows what each member
received and where the files are.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from pathlib import Path

from mailbot.paths import PACKAGE_ROOT, shipped

SAMPLE_FORMS = ["S01-table.docx", "S04-siblings-table.docx", "S08-ordinary-word-name.docx",
                "S02-paragraphs.docx", "S05-header-footer.docx", "S06-split-runs.docx", "S07-possessives.docx",
                "S03-content-controls.docx"]


def run_demo(work_dir: Path, *, referrals: int = 3) -> int:
    from mailbot.daemon import Bot
    from mailbot.sandbox.mailserver import MailServer, MailServerError, dovecot_available
    from mailbot.sandbox.network import MASTER_LIST_PASSWORD, TestNetwork

    if not dovecot_available():
        print("mailbot demo needs Dovecot for its local mailbox: run `bash scripts/setup` first.")
        return 3
    work_dir = Path(work_dir).resolve()
    samples = PACKAGE_ROOT / "tests" / "fixtures" / "samples"
    if not samples.is_dir():  # a regular install: the samples ship under <prefix>/share/mailbot
        samples = shipped("samples")
    forms = [samples / n for n in SAMPLE_FORMS][: max(1, min(referrals, len(SAMPLE_FORMS)))]
    try:
        server = MailServer(work_dir / "mailserver").start()
    except MailServerError as exc:
        print(f"mailbot demo: the local mail server could not start: {exc}")
        return 1
    try:
        net = TestNetwork(server, work_dir / "network", suffix="")
        bot = Bot(net.config)
        loop = asyncio.new_event_loop()
        stop = asyncio.Event()

        def serve():
            asyncio.set_event_loop(loop)
            loop.run_until_complete(bot.run_async(stop))

        thread = threading.Thread(target=serve, name="mailbot", daemon=True)
        print(f"Local demo mailbox on 127.0.0.1 (IMAP {server.imap_port}, SMTP {server.smtp_port}).")
        print(f"{len(net.members) + 1} member agencies; coordinator mailbox {net.mailbox}.\n")
        for i, form in enumerate(forms):
            agency, address = net.members[i % len(net.members)]
            net.send_referral(address, form)  # through the local MX, which adds Authentication-Results
            print(f"  {agency} emailed a Referral Form ({form.name}) to the coordinator")
        # started once the forms are in the inbox: one batch, so one Master List, however loaded the machine
        thread.start()
        # wait until every member has its mail
        expected = len(forms)
        deadline = time.monotonic() + 60
        first = net.members[-1][1]
        quiet_since = None
        while time.monotonic() < deadline:
            got = [m["X-Mailbot-Kind"] for m in server.fetch_all(first)]
            counts = bot.store.outbox_counts()
            settled = (got.count("coded-referral") >= expected and not counts.get("pending")
                       and not counts.get("sending") and not bot.store.master_list_dirty())
            if not settled:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > 2.5:  # the per-batch Master List has gone too
                break
            time.sleep(0.2)
        print("\nWhat each member received:")
        for agency, address in net.members + [net.social_work]:
            kinds = Counter(m["X-Mailbot-Kind"] for m in server.fetch_all(address))
            line = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "nothing"
            print(f"  {agency:<40} {line}")
        coord = Counter(m["X-Mailbot-Kind"] for m in server.fetch_all(net.coordinator))
        print(f"  {'Coordinator':<40} " + ", ".join(f"{n} {k}" for k, n in sorted(coord.items())))
        print("\nCases on the Master List: " + ", ".join(c.code for c in bot.store.open_cases()))
        print(f"\nFiles:\n  store (names encrypted): {net.config.store_path}\n  key: {net.config.key_file}"
              f"\n  mailboxes (Maildir): {server.maildir_root}"
              f"\n  Master List password (demo only): {MASTER_LIST_PASSWORD}")
        loop.call_soon_threadsafe(stop.set)
        thread.join(20)
        bot.close()
    finally:
        server.stop()
    return 0
