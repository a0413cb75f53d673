"""Logging for journald (issue 13 item 5), the command line's --version and -c default (item 6).

Under systemd, stderr is the journal stream named by JOURNAL_STREAM (device:inode): the tests give
the daemon a file as stderr and JOURNAL_STREAM naming that very file, as systemd does, and read what
it wrote. Every network and address is fictional.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

import pytest

from mailbot.logsetup import setup_logging, under_journal
from mailbot.sandbox.network import _to_toml

ROOT = Path(__file__).resolve().parent.parent
ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d"
CLEAN_ENV = {k: v for k, v in os.environ.items()
             if k not in ("JOURNAL_STREAM", "INVOCATION_ID", "MAILBOT_LOG_FORMAT", "MAILBOT_CONFIG")}
CLEAN_ENV["PYTHONPATH"] = str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")


def servers_down_config(tmp_path: Path) -> Path:
    """A network whose mail servers do not answer (port 9 on loopback: nothing listens)."""
    (tmp_path / "ml").write_text("correct-horse-battery")
    (tmp_path / "pw").write_text("secret")
    path = tmp_path / "config.toml"
    path.write_text(_to_toml({
        "network": {"name": "Kilnsey Youth Network", "mailbox_address": "coordinator@kilnsey.example",
                    "coordinators": ["aine@kilnsey.example"]},
        "imap": {"host": "127.0.0.1", "port": 9, "tls": "none", "username": "coordinator@kilnsey.example",
                 "password_file": str(tmp_path / "pw")},
        "smtp": {"host": "127.0.0.1", "port": 9, "tls": "none"},
        "paths": {"data_dir": str(tmp_path / "data")},
        "master_list": {"password_file": str(tmp_path / "ml")},
        "members": [{"agency": "Hebble Youth Service", "contacts": ["youth.worker@hebble-ys.example.net"]},
                    {"agency": "Kilnsey Social Work Team", "contacts": ["duty@kilnsey-sw.example.net"],
                     "social_work": True}],
    }))
    return path


def run_daemon_briefly(config: Path, log: Path, *, journal: str | None) -> str:
    """`mailbot run` with stderr to `log` for about two seconds (servers down: it starts, warns, waits)."""
    env = dict(CLEAN_ENV)
    with open(log, "wb") as fh:
        if journal == "this stream":
            st = os.fstat(fh.fileno())
            env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
            env["INVOCATION_ID"] = "0123456789abcdef0123456789abcdef"
        elif journal == "another stream":  # inherited by a shell started from a unit: stderr elsewhere
            env["JOURNAL_STREAM"] = "8:12345"
        proc = subprocess.Popen([sys.executable, "-m", "mailbot.cli", "run", "-c", str(config)], cwd=ROOT, env=env,
                                stdin=subprocess.DEVNULL, stdout=fh, stderr=fh)
    try:
        deadline = time.monotonic() + 30
        while b"IMAP connection" not in log.read_bytes() or b"scheduler started" not in log.read_bytes():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    assert proc.returncode == 0, log.read_text()
    return log.read_text()


def test_under_systemd_lines_carry_a_priority_and_no_time(tmp_path):
    text = run_daemon_briefly(servers_down_config(tmp_path), tmp_path / "journal.log", journal="this stream")
    lines = text.splitlines()
    assert lines and all(re.match(r"<[2-7]>[A-Z]+ [a-z.]+: ", line) for line in lines), text
    assert not re.search(r"\d\d:\d\d:\d\d", text)  # the journal stamps each entry: no second time
    warning = next(line for line in lines if "IMAP connection" in line)
    assert warning.startswith("<4>WARNING mailbot.inbox: IMAP connection to 127.0.0.1:9")  # journalctl -p warning
    assert "<6>INFO mailbot.daemon: mailbot started for Kilnsey Youth Network" in text
    assert "apscheduler" not in text  # its per-minute chatter is silenced


@pytest.mark.parametrize("journal", [None, "another stream"])
def test_elsewhere_lines_start_with_the_local_iso_time(tmp_path, journal):
    text = run_daemon_briefly(servers_down_config(tmp_path), tmp_path / "plain.log", journal=journal)
    lines = text.splitlines()
    assert lines and all(re.match(ISO + r" [A-Z]+ [a-z.]+: ", line) for line in lines), text
    assert not re.search(r"^<\d>", text, re.M)
    assert re.search(ISO + r" WARNING mailbot.inbox: IMAP connection to 127.0.0.1:9", text)
    stamp = re.match(ISO, lines[0]).group(0)
    from datetime import datetime

    assert abs((datetime.fromisoformat(stamp) - datetime.now().astimezone()).total_seconds()) < 120  # local, now


def test_journal_formatter_prefixes_every_line_of_a_record(tmp_path):
    out = tmp_path / "stderr"
    with open(out, "w") as fh:
        st = os.fstat(fh.fileno())
        assert under_journal(fh, {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"})
        assert not under_journal(fh, {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino + 1}"})
        assert not under_journal(fh, {"INVOCATION_ID": "x"})  # a unit whose stderr is not the journal
        handler = setup_logging(logging.INFO, stream=fh, environ={"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"})
        try:
            log = logging.getLogger("mailbot.test")
            try:
                raise RuntimeError("disk on fire")
            except RuntimeError:
                log.error("the store failed", exc_info=True)
            log.critical("stopped")
            log.debug("not shown")
            assert logging.getLogger("apscheduler").getEffectiveLevel() == logging.WARNING
            assert logging.getLogger("apscheduler.executors.default").getEffectiveLevel() == logging.WARNING
        finally:
            logging.getLogger().removeHandler(handler)
    lines = out.read_text().splitlines()
    assert lines[0] == "<3>ERROR mailbot.test: the store failed"
    assert len(lines) > 3 and all(line.startswith("<3>") for line in lines[:-1])  # the traceback keeps <3>
    assert lines[-1] == "<2>CRITICAL mailbot.test: stopped"


# -- the command line ------------------------------------------------------------------------------

def cli(*args, env=None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mailbot.cli", *args], capture_output=True, text=True,
                          timeout=60, cwd=ROOT, env=dict(CLEAN_ENV, **(env or {})), **kw)


def test_version_comes_from_the_package_metadata():
    out = cli("--version")
    assert out.returncode == 0
    assert out.stdout.strip() == f"mailbot {version('mailbot')}"


def test_config_defaults_to_mailbot_config_then_etc(tmp_path, monkeypatch, capsys):
    config = servers_down_config(tmp_path)
    out = cli("check-config", "--no-servers", env={"MAILBOT_CONFIG": str(config)})
    assert out.returncode == 0 and "configuration: ok (2 member agencies, 2 addresses)" in out.stdout, out.stderr
    assert f"data folder: ok ({tmp_path / 'data'})" in out.stdout
    # no -c, no MAILBOT_CONFIG: /etc/mailbot/config.toml (here pointed at a file of the test's own)
    from mailbot import cli as cli_module

    monkeypatch.delenv("MAILBOT_CONFIG", raising=False)
    assert str(cli_module.DEFAULT_CONFIG) == "/etc/mailbot/config.toml"
    args = cli_module.build_parser().parse_args(["check-config"])
    monkeypatch.setattr(cli_module, "DEFAULT_CONFIG", config)
    assert cli_module.config_path(args) == config
    monkeypatch.setenv("MAILBOT_CONFIG", "/elsewhere/config.toml")
    assert cli_module.config_path(args) == Path("/elsewhere/config.toml")
    args = cli_module.build_parser().parse_args(["command", "-c", str(config), "HELP"])
    assert cli_module.config_path(args) == config  # -c first
    monkeypatch.delenv("MAILBOT_CONFIG")
    monkeypatch.setattr(cli_module, "DEFAULT_CONFIG", tmp_path / "missing.toml")
    assert cli_module.main(["check-config", "--no-servers"]) == 3
    assert "no configuration given and " + str(tmp_path / "missing.toml") + " does not exist" in capsys.readouterr().err


def test_run_starts_only_for_a_configuration_it_was_given(tmp_path):
    out = cli("run")
    assert out.returncode == 2
    assert out.stderr.strip().startswith("mailbot: mailbot run needs the configuration of the network it runs: "
                                         "mailbot run -c /etc/mailbot/config.toml (or set MAILBOT_CONFIG).")
    assert "Traceback" not in out.stderr
    demo = cli("demo", "--help")  # the demo still needs no configuration
    assert demo.returncode == 0 and "--dir" in demo.stdout
