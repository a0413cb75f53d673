"""`mailbot demo`: the whole cycle on a local demo mailbox, with no configuration.

It starts a private Dovecot (IMAP + LMTP) and an SMTP endpoint on loopback (mailbot.sandbox.mailserver),
makes a fictional network of thirteen member agencies, runs the bot (the same Bot as `mailbot run`) and
plays the network's part by email: agencies send Referral Forms; the coordinator records the Social Work
check (and confirms it from the coordinator's own mailbox); the lead agency sends a meeting notice, then
the minutes; ten days on (a demo clock) the reminders and the coordinator's digest go out.

The terminal shows a short summary (codes, never names); the log goes to ``<dir>/mailbot.log``. Every
member's mail is written to ``<dir>/out/<member>/`` as .eml files with their attachments: coded .docx,
.ics invitations, and the Master List **decrypted** (demo only: the data is fictional). Each run starts
afresh. ``--keep`` leaves the mail server (and the bot) running, and prints how to open the mailboxes in
Thunderbird, until Ctrl-C.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
import shutil
import signal
import subprocess
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

from mailbot.paths import PACKAGE_ROOT, shipped

SAMPLE_FORMS = ["S01-table.docx", "S04-siblings-table.docx", "S08-ordinary-word-name.docx",
                "S02-paragraphs.docx", "S05-header-footer.docx", "S06-split-runs.docx", "S07-possessives.docx",
                "S03-content-controls.docx"]
MARKER = ".mailbot-demo"
WORKER = 'SW CN1 KNOWN OPEN WORKER "Aoife Test" 087 123 4567 aoife.test@hse.example'
TOKEN_RE = re.compile(r"CONFIRM ([0-9a-f]{32})")

log = logging.getLogger("mailbot.demo")


class DemoClock:
    """The bot's clock: real time, moved forward by the demo to show what happens days later."""

    def __init__(self):
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(timezone.utc) + self.offset

    def jump_to(self, when: datetime) -> None:
        self.offset = when - datetime.now(timezone.utc)


# -- the demo folder ----------------------------------------------------------------------------------------

class DemoFolderError(Exception):
    pass


def fresh_folder(work_dir: Path) -> None:
    """Empty the demo folder (a server left running by --keep is stopped first); refuse a folder not ours."""
    ours = {MARKER, "mailserver", "network", "out", "mailbot.log"}  # (a folder of an older demo has no marker)
    if work_dir.exists() and not (work_dir / MARKER).exists() and not {p.name for p in work_dir.iterdir()} <= ours:
        raise DemoFolderError(f"{work_dir} is not empty and is not a mailbot demo folder; "
                              "choose another with --dir.")
    ms_dir = work_dir / "mailserver"
    conf = ms_dir / "dovecot.conf"
    if conf.exists():  # a demo left running (--keep in another terminal), or killed: its Dovecot stops
        subprocess.run(["doveadm", "-c", str(conf), "stop"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=30, check=False)
    pointer = ms_dir / "dovecot-root"
    if pointer.exists():  # the mail server's data outside the folder (see MailServer._choose_root)
        target = Path(pointer.read_text(encoding="utf-8").strip())
        if target.name.startswith("mailbot-mailserver-data-"):
            shutil.rmtree(target, ignore_errors=True)
    shutil.rmtree(work_dir, ignore_errors=True)
    work_dir.mkdir(parents=True)
    work_dir.chmod(0o755)  # Dovecot's own users must traverse it
    (work_dir / MARKER).write_text("A mailbot demo folder: `mailbot demo` empties it at every run.\n")


def log_to_file(path: Path, verbose: bool) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    for name in ("imapclient", "imapclient.imaplib"):  # never the IMAP conversation (it carries the forms)
        logging.getLogger(name).setLevel(logging.INFO)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower().replace("'", "")).strip("-")


# -- the network's part, by email --------------------------------------------------------------------------

def minutes_docx(*, code: str, lead: tuple[str, str], met: datetime, next_meeting: datetime, first_name: str,
                 attendees: list[tuple[str, str, str, str]], apologies: list[tuple[str, str]]) -> bytes:
    """Minutes as a lead agency writes them (the network's template headings); they mention the young person
    by first name, as minutes do, which mailbot strips before they go out."""
    import docx

    d = docx.Document()
    d.add_heading("Network Case Meeting Minutes", level=1)
    head = d.add_table(rows=1, cols=3)
    for cell, text in zip(head.rows[0].cells, (f"Case Number: {code}", f"Lead Agency: {lead[0]}",
                                               f"Date: {met:%d/%m/%Y}")):
        cell.text = text
    d.add_paragraph(f"Chair: {attendees[0][0]}")
    d.add_paragraph(f"Minutes: {attendees[1][0]}")
    d.add_paragraph("In Attendance: " + ", ".join(f"{n} ({a})" for n, a, _p, _e in attendees))
    d.add_paragraph("Apologies: " + ", ".join(f"{n} ({a})" for n, a in apologies))
    d.add_paragraph("1. Discussion of case")
    d.add_paragraph(f"{attendees[0][0]} opened the assessment meeting for {code}.")
    d.add_paragraph(f"{attendees[1][0]} said {first_name} has settled better at school since the referral.")
    d.add_paragraph(f"{attendees[2][0]} offered weekly sessions after school.")
    d.add_paragraph("2. Actions Decided")
    d.add_paragraph("Who is responsible?")
    d.add_paragraph(f"Weekly sessions after school – {attendees[2][0]} ({attendees[2][1]})")
    d.add_paragraph(f"Ring home after any absence – {attendees[1][0]} ({attendees[1][1]})")
    d.add_paragraph("3. Monitor and review")
    d.add_paragraph("Attendance and the sessions will be reviewed at the next meeting.")
    d.add_paragraph("4. Attendance Sheet")
    sheet = d.add_table(rows=1, cols=4)
    for cell, text in zip(sheet.rows[0].cells, ("Name", "Agency", "Phone No", "Email")):
        cell.text = text
    for row in attendees:
        cells = sheet.add_row().cells
        for cell, text in zip(cells, row):
            cell.text = text
    d.add_paragraph("5. AOB")
    d.add_paragraph("None.")
    d.add_paragraph(f"Date for the next meeting: {next_meeting:%d/%m/%Y %H:%M}")
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


class Demo:
    def __init__(self, work_dir: Path, referrals: int):
        from mailbot.daemon import Bot
        from mailbot.sandbox.mailserver import MailServer
        from mailbot.sandbox.network import TestNetwork

        self.work_dir = work_dir
        self.server = MailServer(work_dir / "mailserver").start()
        self.net = TestNetwork(self.server, work_dir / "network", suffix="")
        self.clock = DemoClock()
        self.bot = Bot(self.net.config, clock=self.clock)
        self.tz = self.net.config.tz
        samples = PACKAGE_ROOT / "tests" / "fixtures" / "samples"
        if not samples.is_dir():  # a regular install: the samples ship under <prefix>/share/mailbot
            samples = shipped("samples")
        self.forms = [samples / n for n in SAMPLE_FORMS][: max(1, min(referrals, len(SAMPLE_FORMS)))]
        self.loop = asyncio.new_event_loop()
        self.stop = asyncio.Event()
        self.thread = threading.Thread(target=self._serve, name="mailbot", daemon=True)

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.bot.run_async(self.stop))

    def close(self) -> None:
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.stop.set)
            self.thread.join(20)
        self.bot.close()
        self.server.stop()

    # -- waiting for the bot ------------------------------------------------------------

    def settle(self, timeout: float = 60.0) -> None:
        """Until the inbox is empty, the outbox delivered and the per-batch work (the Master List) done."""
        store, deadline, quiet_since = self.bot.store, time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            counts = store.outbox_counts()
            settled = (not counts.get("pending") and not counts.get("sending") and not store.master_list_dirty()
                       and not self.bot._batch_done.is_set() and self.server.count(self.net.mailbox) == 0)
            if not settled:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > 0.3:
                return
            time.sleep(0.05)
        log.warning("demo: the bot did not settle within %.0f s", timeout)

    def _email(self, sender: str, subject: str, body: str, attachments=()) -> None:
        raw = self.net.email_with(sender, subject, body=body, attachments=list(attachments))
        self.server.deliver_to_inbox(self.net.mailbox, raw, mail_from=sender)

    def mail_of(self, address: str, kind: str):
        return [m for m in self.server.fetch_all(address) if m["X-Mailbot-Kind"] == kind]

    # -- the cycle ----------------------------------------------------------------------------

    def run(self, say) -> None:
        net = self.net
        lead_agency, lead = net.members[0]
        start = self.clock().astimezone(self.tz)
        say(f"Local demo mailbox on 127.0.0.1 (IMAP {self.server.imap_port}, SMTP {self.server.smtp_port}); "
            f"{len(net.members) + 1} member agencies, coordinator mailbox {net.mailbox}.\n")

        for i, form in enumerate(self.forms):
            agency, address = net.members[i % len(net.members)]
            net.send_referral(address, form)  # through the local MX, which adds Authentication-Results
        # started once the forms are in the inbox: one batch, so one Master List
        self.thread.start()
        self.settle()
        codes = [c.code for c in self.bot.store.open_cases()]
        say(f"1. Referrals: {len(self.forms)} agencies emailed Referral Forms; coded {', '.join(codes)}. "
            "Coded Referrals went to every member but Social Work, one encrypted Master List to all.")

        self._email(net.coordinator, "Social Work check", WORKER + "\n")
        self.settle()
        requests = self.mail_of(net.coordinator, "command-confirm")
        token = TOKEN_RE.search(requests[-1].get_body(("plain",)).get_content()).group(1) if requests else ""
        self._email(net.coordinator, "Re: Please confirm your commands",
                    f"Yes, please.\n\n> CONFIRM {token}\n")
        self.settle()
        say("2. Social Work check: the coordinator emailed `SW CN1 KNOWN OPEN WORKER ...`, confirmed it from the "
            "coordinator's own mailbox; Social Work got CN1's Coded Referral, the lead agency the worker's "
            "details.")

        meeting = (start + timedelta(days=7)).replace(hour=10, minute=30, second=0, microsecond=0)
        self._email(lead, "Meeting notice CN1",
                    f"Meeting notice CN1\nCase: CN1\nDate: {meeting:%d/%m/%Y}\nTime: {meeting:%H:%M}\n"
                    f"Venue: Marsden Vale Family Centre, Room 2\nOrganiser: Priya Lal, 01 555 0101, {lead}\n"
                    "Type: assessment\n")
        self.settle()
        say(f"3. Meeting notice: {lead_agency} called CN1's first meeting for {meeting:%d/%m/%Y %H:%M}; every "
            "member (and Social Work: known, open, worker allocated) got it with an .ics invitation.")

        self.clock.jump_to(meeting + timedelta(days=1))
        person = self.bot.store.get_case("CN1").person
        first_name = (person.first_name if person else "") or "the young person"
        attendees = [("Priya Lal", lead_agency, "01 555 0101", lead),
                     ("Nadia Ellwood", net.members[1][0], "01 555 0202", net.members[1][1]),
                     ("Sam Youth", net.members[6][0], "01 555 0707", net.members[6][1]),
                     ("Fionnuala Webb", net.social_work[0], "01 839 1570", net.social_work[1])]
        apologies = [(f"Joanne Weldon, {net.members[5][1]}", net.members[5][0])]  # with an address: matched
        next_meeting = (meeting + timedelta(weeks=4)).replace(hour=14, minute=0)
        doc = minutes_docx(code="CN1", lead=(lead_agency, lead), met=meeting, next_meeting=next_meeting,
                           first_name=first_name, attendees=attendees, apologies=apologies)
        self._email(lead, "Minutes CN1", "Minutes attached.", [("minutes.docx", doc)])
        self.settle()
        say(f"4. Minutes: {lead_agency} emailed the minutes; the young person's name was stripped and they went "
            f"to the attendees, the apology and the coordinator; next meeting {next_meeting:%d/%m/%Y} recorded.")

        from mailbot.jobs.digest import send_digest
        from mailbot.jobs.scheduler import reminders_tick

        later = (start + timedelta(days=10)).replace(hour=9, minute=5, second=0, microsecond=0)
        self.clock.jump_to(later)
        reminders = reminders_tick(self.bot.ctx)
        digests = send_digest(self.bot.ctx, self.clock())
        self.settle()
        waiting = [c for c in codes if c != "CN1"]
        say(f"5. Ten days on ({later:%d/%m/%Y}): {reminders} reminder(s) to the lead agencies of "
            f"{', '.join(waiting) or 'no case'} (no meeting called yet), and {digests} daily digest to the "
            "coordinator.")

    # -- what everyone received ----------------------------------------------------------------

    def mailboxes(self) -> list[tuple[str, str]]:
        net = self.net
        return net.members + [net.social_work, ("Coordinator", net.coordinator)]

    def write_out(self) -> Path:
        """Every member's mail as .eml, and each attachment (the Master List decrypted: demo only)."""
        from mailbot.casework.master_list import decrypt_workbook
        from mailbot.sandbox.network import MASTER_LIST_PASSWORD

        out = self.work_dir / "out"
        plain: dict[bytes, bytes] = {}  # one Master List version goes to everyone: decrypted once
        for agency, address in self.mailboxes():
            folder = out / slug(agency)
            folder.mkdir(parents=True, exist_ok=True)
            for n, msg in enumerate(self.received[address], 1):
                kind = str(msg["X-Mailbot-Kind"] or "mail")
                case = str(msg["X-Mailbot-Case"] or "")
                stem = f"{n:02d}-{kind}" + (f"-{case}" if case else "")
                (folder / f"{stem}.eml").write_bytes(msg.as_bytes())
                for part in msg.iter_attachments():
                    name = Path(part.get_filename() or "attachment").name
                    data = part.get_payload(decode=True) or b""
                    if name.lower().endswith(".xlsx") and kind == "master-list":
                        if data not in plain:
                            plain[data] = decrypt_workbook(data, MASTER_LIST_PASSWORD)
                        data = plain[data]
                        name = name[:-5] + "-decrypted.xlsx"
                    (folder / f"{n:02d}-{name}").write_bytes(data)
        (out / "README.txt").write_text(
            "What each member of the demo network received, one folder per member: every email as .eml (open it\n"
            "in a mail client), and its attachments. The Master List is saved DECRYPTED here because this is a\n"
            "demo with fictional data: members receive it encrypted, and mailbot never writes it to disk.\n",
            encoding="utf-8")
        return out

    def summary(self, say) -> None:
        self.received = {address: self.server.fetch_all(address) for _agency, address in self.mailboxes()}
        say("\nWhat each member received:")
        for agency, address in self.mailboxes():
            kinds = Counter(str(m["X-Mailbot-Kind"]) for m in self.received[address])
            say(f"  {agency:<38} " + (", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "nothing"))
        say("\nCases on the Master List: " + ", ".join(c.code for c in self.bot.store.open_cases()))

    def thunderbird(self, say) -> None:
        s = self.server
        say("\nThe mail server keeps running until you press Ctrl-C. To read the mailboxes in Thunderbird (or any\n"
            "mail client), add a mail account for each address you want to see, set up manually:\n"
            f"  incoming: IMAP, server 127.0.0.1, port {s.imap_port}, connection security None, "
            "authentication Normal password\n"
            f"  outgoing: SMTP, server 127.0.0.1, port {s.smtp_port}, connection security None, no authentication\n"
            "  user name: the address;  password: " + s.password(self.net.coordinator))
        say("Addresses:")
        for agency, address in self.mailboxes():
            say(f"  {address:<45} {agency}")


def run_demo(work_dir: Path, *, referrals: int = 3, keep: bool = False, verbose: bool = False) -> int:
    from mailbot.sandbox.mailserver import MailServerError, dovecot_available

    if not dovecot_available():
        print("mailbot demo needs Dovecot for its local mailbox: run `bash scripts/setup` first.")
        return 3
    began = time.monotonic()
    work_dir = Path(work_dir).resolve()
    try:
        fresh_folder(work_dir)
    except DemoFolderError as exc:
        print(f"mailbot demo: {exc}")
        return 1
    log_to_file(work_dir / "mailbot.log", verbose)
    say = print
    try:
        demo = Demo(work_dir, referrals)
    except MailServerError as exc:
        print(f"mailbot demo: the local mail server could not start: {exc}")
        return 1
    try:
        demo.run(say)
        demo.summary(say)
        out = demo.write_out()
        cfg = demo.net.config
        say(f"\nFiles:\n  every member's mail and attachments: {out}/<member>/ (.eml, coded .docx, .ics, "
            "Master List decrypted: demo only)"
            f"\n  log: {work_dir / 'mailbot.log'}"
            f"\n  store (names encrypted): {cfg.store_path}\n  key: {cfg.key_file}"
            f"\n  Master List password (demo only): {cfg.master_list_password}")
        say(f"\nDemo finished in {time.monotonic() - began:.1f} s.")
        if keep:
            demo.thunderbird(say)
            done = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: done.set())
            try:
                while not done.wait(1):
                    pass
            except KeyboardInterrupt:
                pass
            say("Stopped.")
    finally:
        demo.close()
    return 0
