"""No message content in any log, at any level (issue 11 item 15).

`mailbot -v run` logs at DEBUG; imapclient's protocol log (imaplib's untagged responses: whole
fetched emails) must not reach it. The referrer here writes the young person's name in the email
body, as real referrers do, so that a protocol log would show it. The search is the one of
tests/test_no_names_at_rest.py. Every person here is fictional.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, SAMPLES
from test_no_names_at_rest import find_names, protected_tokens

pytestmark = pytest.mark.mailserver

FORMS = [SAMPLES / "S01-table.docx", SAMPLES / "S02-paragraphs.docx"]


def _send_with_names_in_body(net, server):
    from conftest import truth_for

    for i, form in enumerate(FORMS):
        child = truth_for(form)["young_people"][0]
        body = f"Hello, please find attached the referral for {child['name']} (born {child['dob']}).\n"
        raw = net.email_with(net.members[i][1], "Referral", body=body,
                             attachments=[("referral.docx", form.read_bytes())])
        server.deliver_to_inbox(net.mailbox, raw, mail_from=net.members[i][1])


def test_verbose_daemon_log_holds_no_name(mailserver, tmp_path):
    from mailbot.sandbox.network import TestNetwork

    net = TestNetwork(mailserver, tmp_path / "net")
    _send_with_names_in_body(net, mailserver)
    log_path = tmp_path / "daemon.log"
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "mailbot.cli", "-v", "run", "-c", str(net.write_config())],
                                cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while mailserver.count(net.mailbox, "Processed") < len(FORMS) or b"outbox item" not in log_path.read_bytes():
            assert proc.poll() is None, log_path.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, "referrals not handled in time"
            time.sleep(0.25)
        time.sleep(1)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    data = log_path.read_bytes()
    assert b" DEBUG " in data and data.count(b"\n") > 20, data[-2000:]
    tokens, ordinary = protected_tokens(FORMS)
    assert not find_names(data, tokens, ordinary), find_names(data, tokens, ordinary)


def test_debug_on_every_logger_writes_no_name(mailserver, tmp_path):
    """Every logger at DEBUG, the IMAP library's included, one in-process run."""
    import asyncio

    from mailbot.daemon import Bot
    from mailbot.sandbox.network import TestNetwork

    net = TestNetwork(mailserver, tmp_path / "net")
    _send_with_names_in_body(net, mailserver)
    log_file = tmp_path / "all.log"
    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    names = [n for n in logging.root.manager.loggerDict if n != "mail.log"] + ["imapclient", "imapclient.imaplib"]
    saved = {n: logging.getLogger(n).level for n in names}
    saved_root = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for n in names:
        logging.getLogger(n).setLevel(logging.DEBUG)
    try:
        bot = Bot(net.config)
        try:
            bot.drain_inbox_once()
            asyncio.run(bot.make_outbox().drain_until_empty(60))
        finally:
            bot.close()
    finally:
        root.removeHandler(handler)
        handler.close()
        root.setLevel(saved_root)
        for n, level in saved.items():
            logging.getLogger(n).setLevel(level)
    assert mailserver.count(net.mailbox, "Processed") == len(FORMS)
    data = log_file.read_bytes()
    assert data.count(b"\n") > 10
    tokens, ordinary = protected_tokens(FORMS)
    assert not find_names(data, tokens, ordinary), find_names(data, tokens, ordinary)
