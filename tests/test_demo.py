"""`mailbot demo`, the newcomer's first command: the whole cycle on its embedded default, a clean summary,
the out/ tree, a fresh start each run, and --keep leaving the mailboxes open for a mail client."""

import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import zipfile
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from mailbot.sandbox.mailserver import dovecot_available

pytestmark = pytest.mark.mailserver

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "tests" / "fixtures" / "samples"


def protected_tokens(*forms: str) -> set[str]:
    tokens = set()
    for form in forms:
        truth = json.loads((SAMPLES / form).with_suffix(".truth.json").read_text(encoding="utf-8"))
        tokens |= {t.lower() for t in truth["protected_tokens"] if len(t) > 3}
    return tokens


def docx_text(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return "\n".join(zf.read(n).decode("utf-8", "replace") for n in zf.namelist() if n.endswith(".xml"))


def test_demo_refuses_a_folder_that_is_not_its_own(tmp_path):
    (tmp_path / "thesis.txt").write_text("not a demo")
    out = subprocess.run([sys.executable, "-m", "mailbot.cli", "demo", "--dir", str(tmp_path)], capture_output=True,
                         text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 1 and "not a mailbot demo folder" in out.stdout
    assert (tmp_path / "thesis.txt").exists()


@pytest.mark.skipif(not dovecot_available(), reason="Dovecot is not installed (scripts/setup installs it)")
def test_demo_runs_the_whole_cycle_writes_every_members_mail_and_keeps_the_server_for_a_mail_client():
    from imapclient import IMAPClient

    work = Path(tempfile.mkdtemp(prefix="mailbot-demo-test-"))
    work.chmod(0o755)
    (work / ".mailbot-demo").write_text("")
    (work / "stale-from-last-run.txt").write_text("old")  # a fresh start each run
    proc = subprocess.Popen([sys.executable, "-m", "mailbot.cli", "demo", "--dir", str(work), "--referrals", "2",
                             "--keep"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines = []
    try:
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
            if line.startswith("  user name:"):
                break
        stdout = "\n".join(lines)
        assert "password:" in stdout, stdout + proc.stderr.read() if proc.poll() is not None else stdout
        # --keep: the printed settings open a member's mailbox over IMAP, with what the summary says it got
        port = int(re.search(r"IMAP, server 127\.0\.0\.1, port (\d+)", stdout).group(1))
        password = re.search(r"password: (\S+)", stdout).group(1)
        member = "svarian@lisnavarcs.ie"  # Lisnavar Community School
        with IMAPClient("127.0.0.1", port, ssl=False, timeout=10) as client:
            client.login(member, password)
            client.select_folder("INBOX", readonly=True)
            in_mailbox = len(client.search("ALL"))
    finally:
        proc.send_signal(2)  # Ctrl-C
        rest, err = proc.communicate(timeout=60)
    stdout = stdout + "\n" + rest
    assert proc.returncode == 0, err[-2000:]
    assert "Traceback" not in err and err.strip() == ""  # the log is in the file, not on the terminal
    assert " INFO " not in stdout
    assert "Stopped." in stdout
    log = (work / "mailbot.log").read_text(encoding="utf-8")
    assert "coded CN1" in log and "Master List version" in log
    assert not (work / "stale-from-last-run.txt").exists()

    # the cycle: referral, Social Work check, meeting notice, minutes, reminders, digest
    for step in ("1. Referrals", "2. Social Work check", "3. Meeting notice", "4. Minutes", "5. Ten days on"):
        assert step in stdout, step
    assert "Cases on the Master List: CN1, CN2A, CN2B" in stdout
    summary = {l[:40].strip(): l[40:] for l in stdout.splitlines() if l.startswith("  ") and len(l) > 40}
    school = summary["Lisnavar Community School"]
    assert "2 coded-referral" in school and "meeting-notice" in school and "master-list" in school
    assert in_mailbox == sum(int(n) for n in re.findall(r"(\d+) [a-z-]+", school))
    sw = summary["Lisnavar Social Work Team"]
    assert "1 coded-referral" in sw and "1 meeting-notice" in sw  # CN1 only, once known, open, allocated
    assert "reminder-no-meeting" in summary["Westbury Young People's Drug Service"]  # CN2's lead, 10 days on
    assert "1 digest" in summary["Coordinator"]
    assert "1 minutes" in summary["Marsden Vale Children's Services"]
    m = re.search(r"Demo finished in ([\d.]+) s", stdout)
    assert m and float(m.group(1)) < 60

    # out/<member>/: every email as .eml, with its attachments; the Master List decrypted (demo only)
    out = work / "out"
    members = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert len(members) == 12 + 2 and "coordinator" in members and "lisnavar-social-work-team" in members
    for folder in members:
        emls = sorted((out / folder).glob("*.eml"))
        assert emls, folder
        for eml in emls:
            msg = message_from_bytes(eml.read_bytes(), policy=policy.default)
            assert msg["X-Mailbot-Kind"], eml
    school_dir = out / "lisnavar-community-school"
    assert len(list(school_dir.glob("*.eml"))) == in_mailbox
    coded = sorted(school_dir.glob("*coded-referral.docx"))
    assert [p.name.split("-", 1)[1] for p in coded] == ["CN1-coded-referral.docx", "CN2A-CN2B-coded-referral.docx"]
    assert list(school_dir.glob("*.ics"))
    tokens = protected_tokens("S01-table.docx", "S04-siblings-table.docx")
    import openpyxl

    (first_list,) = sorted(school_dir.glob("*master-list-v1-decrypted.xlsx"))
    wb = openpyxl.load_workbook(first_list)
    cells = " ".join(str(c.value) for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.value)
    assert "CN1" in cells and "CN2B" in cells and "harvey pemberton" in cells.lower()  # the names are on it
    minutes = sorted((out / "coordinator").glob("*CN1-minutes-*.docx"))
    assert minutes and "CN1" in docx_text(minutes[0].read_bytes())
    # the names never appear anywhere else: terminal, log, emails, coded documents
    everything = [stdout, err, log] + [p.read_text(encoding="utf-8") for p in out.rglob("*.ics")]
    for eml in out.rglob("*.eml"):  # headers and every text part (not the attachments' base64)
        msg = message_from_bytes(eml.read_bytes(), policy=policy.default)
        everything.append("\n".join(f"{k}: {v}" for k, v in msg.items()))
        everything += [part.get_content() for part in msg.walk() if part.get_content_maintype() == "text"]
    everything += [docx_text(p.read_bytes()) for p in out.rglob("*.docx")]
    for text in everything:
        low = text.lower()
        assert not [t for t in tokens if t in low]
