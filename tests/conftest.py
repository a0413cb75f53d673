"""Shared fixtures. Every person named in fixtures is fictional."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "tests" / "fixtures" / "samples"
REFERRAL_SAMPLES = sorted(SAMPLES.glob("S0*.docx"))
MINUTES_SAMPLES = sorted(SAMPLES.glob("minutes-*.docx"))


def truth_for(docx: Path) -> dict:
    return json.loads(docx.with_suffix(".truth.json").read_text(encoding="utf-8"))


@pytest.fixture
def samples_dir() -> Path:
    return SAMPLES


# -- real mail server (Dovecot IMAP/LMTP + SMTP relay), see mailbot/testing/mailserver.py

def _new_mailserver_dir() -> Path:
    import os
    import tempfile

    # Not under pytest's tmp_path: that is mode 0700 and Dovecot's own users must traverse it.
    d = Path(tempfile.mkdtemp(prefix="mailbot-test-mail-"))
    os.chmod(d, 0o755)
    return d


def _start_mailserver():
    from mailbot.sandbox.mailserver import MailServer, dovecot_available

    if not dovecot_available():
        pytest.skip("Dovecot is not installed here (scripts/setup installs it; CI has it)")
    d = _new_mailserver_dir()
    return MailServer(d).start(), d


@pytest.fixture(scope="session")
def mailserver():
    """One real mail server for the test session. Use ``mail_user`` for mailboxes."""
    import shutil

    ms, d = _start_mailserver()
    try:
        yield ms
    finally:
        ms.stop()
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def private_mailserver():
    """A mail server of the test's own, for fault tests that stop/restart Dovecot."""
    import shutil

    ms, d = _start_mailserver()
    try:
        yield ms
    finally:
        ms.stop()
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def mail_user(mailserver):
    """Factory for fresh, unique mailbox addresses, so tests never see each other's mail.

    ``addr = mail_user("coordinator")`` -> "coordinator-1a2b3c4d5e@net.test" (password "secret").
    """
    import uuid

    def make(prefix: str = "user", password: str = "secret", server=None) -> str:
        return (server or mailserver).add_user(f"{prefix}-{uuid.uuid4().hex[:10]}@net.test", password)

    return make


# -- the bot on a fictional network (end-to-end tests) --------------------------------------

@pytest.fixture
def network(mailserver, tmp_path):
    """Thirteen member agencies, a coordinator and the bot's mailbox on the shared server (unique addresses)."""
    from mailbot.sandbox.network import TestNetwork

    return TestNetwork(mailserver, tmp_path)


@pytest.fixture
def bot(network):
    from mailbot.daemon import Bot

    b = Bot(network.config)
    yield b
    b.close()


def deliver_outbox(bot, timeout: float = 30.0) -> None:
    """Send everything in the outbox now, over SMTP to the test server."""
    import asyncio

    asyncio.run(bot.make_outbox().drain_until_empty(timeout))


def run_bot_until_idle(bot, timeout: float = 30.0) -> None:
    """Process the inbox once (moving mail to Processed/Quarantine), then deliver the outbox."""
    bot.drain_inbox_once()
    deliver_outbox(bot, timeout)


@pytest.fixture
def desk(tmp_path):
    """A network on paper (tests/desk.py): the pipeline against a temporary store, no mail server."""
    from desk import Desk

    d = Desk(tmp_path)
    yield d
    d.close()
