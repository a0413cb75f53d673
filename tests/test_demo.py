"""`mailbot demo`, the newcomer's first command, runs end to end on its embedded default."""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from mailbot.sandbox.mailserver import dovecot_available

pytestmark = pytest.mark.mailserver


@pytest.mark.skipif(not dovecot_available(), reason="Dovecot is not installed (scripts/setup installs it)")
def test_demo_codes_referrals_and_shows_what_members_received():
    work = Path(tempfile.mkdtemp(prefix="mailbot-demo-test-"))
    work.chmod(0o755)
    out = subprocess.run([sys.executable, "-m", "mailbot.cli", "demo", "--dir", str(work), "--referrals", "2"],
                         capture_output=True, text=True, timeout=150, cwd=Path(__file__).resolve().parent.parent,
                         env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert "Traceback" not in out.stderr
    lines = out.stdout.splitlines()
    member_lines = [l for l in lines if "coded-referral" in l]
    assert len(member_lines) == 12  # every member but Social Work
    assert all("2 coded-referral" in l and "1 master-list" in l for l in member_lines)
    sw = [l for l in lines if l.strip().startswith("Lisnavar Social Work Team")]
    assert sw and "coded-referral" not in sw[0]
    assert "Cases on the Master List: CN1, CN2A, CN2B" in out.stdout
    # the demo's output never shows a young person's name
    for name in ("Harvey", "Pemberton", "Maisie", "Dunmore", "Archie"):
        assert name not in out.stdout and name not in out.stderr
