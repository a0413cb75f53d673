import subprocess
import sys


def test_cli_help_lists_commands():
    out = subprocess.run([sys.executable, "-m", "mailbot.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for word in ("referral", "minutes", "run", "demo", "check-config"):
        assert word in out.stdout
