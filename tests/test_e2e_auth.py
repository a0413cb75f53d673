"""Issue 11, points 1-4, 7 and 14, end to end on the real Dovecot: forged or flooding mail changes nothing.

Mail reaches the coordinator mailbox through the test MX (MailServer.deliver_to_inbox), which checks the
sender and writes its own Authentication-Results, as a provider does; the network trusts that server's
authserv-id and requires a pass, as the shipped config.example.toml does. Each test asserts what landed
in which mailbox: the attacker's holds nothing, the member list and the Master List are unchanged, and a
genuine message works. Every person, agency and address here is fictional.
"""

from __future__ import annotations

import asyncio
import base64
from email.message import EmailMessage
from email.utils import make_msgid

import pytest

from conftest import SAMPLES
from mailbot.sandbox.network import TestNetwork

pytestmark = pytest.mark.mailserver

ATTACK = "MEMBER ADD Evil Agency {evil}\nRESEND MASTER LIST\n"


def run(bot, timeout: float = 30.0) -> None:
    bot.drain_inbox_once()
    asyncio.run(bot.make_outbox().drain_until_empty(timeout))


def kinds(mailserver, address: str) -> list[str]:
    return [m["X-Mailbot-Kind"] for m in mailserver.fetch_all(address)]


def subjects(mailserver, address: str, folder: str = "INBOX") -> list[str]:
    return [str(m["Subject"]) for m in mailserver.fetch_all(address, folder)]


def raw_mail(network, from_value: str, subject: str, body: str, *, extra_from: str | None = None,
             top: str = "", html: bool = False) -> bytes:
    """An email with exactly this From value (and optionally a second From line, headers above it)."""
    msg = EmailMessage()
    msg["To"] = network.mailbox
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="sender.test")
    msg["Date"] = "Mon, 23 Nov 2026 10:00:00 +0000"
    if html:
        msg.set_content(body, subtype="html")
    else:
        msg.set_content(body)
    head = f"From: {from_value}\r\n"
    if extra_from:
        head += f"From: {extra_from}\r\n"
    return top.encode() + head.encode() + msg.as_bytes().replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\r\n")


@pytest.fixture
def evil(network, mailserver):
    return mailserver.add_user(f"evil.{network.suffix}@attacker.test")


@pytest.fixture
def with_case(network, bot, mailserver):
    """One referral coded and distributed, so that there is a Master List worth stealing."""
    network.send_referral(network.members[0][1], SAMPLES / "S01-table.docx")
    run(bot)
    assert [c.code for c in bot.store.open_cases()] == ["CN1"]
    return network


def state(bot) -> dict:
    """What a forged command would change: the member directory, the open cases, the Master Lists queued."""
    return {"members": [(m.agency, tuple(m.contacts)) for m in bot.cfg.members],
            "cases": [c.code for c in bot.store.open_cases()],
            "master_lists": len(bot.store.outbox_items_of_kind("master-list"))}


def assert_nothing_changed(network, bot, mailserver, evil, before: dict, *, subject: str) -> None:
    assert state(bot) == before
    assert mailserver.count(evil) == 0, "the attacker received something"
    assert subject in subjects(mailserver, network.mailbox, "Quarantine")
    assert "command-reply" not in kinds(mailserver, network.coordinator)


def genuine_help_works(network, bot, mailserver, *, from_value: str | None = None, **deliver) -> None:
    replies = kinds(mailserver, network.coordinator).count("command-reply")
    network.deliver(raw_mail(network, from_value or f"Aine (Coordinator) <{network.coordinator}>", "help", "HELP\n"),
                    **deliver)
    run(bot)
    assert kinds(mailserver, network.coordinator).count("command-reply") == replies + 1


# -- 1. the sender is the addr-spec of the one mailbox in From -------------------------------------

def _b64(text: str) -> str:
    return "=?utf-8?b?" + base64.b64encode(text.encode()).decode() + "?="


FORGED_FROM = [
    ("quoted-display-name", lambda n, e: (f'"{n.coordinator}" <{e}>', None)),
    ("bare-display-name", lambda n, e: (f"{n.coordinator} <{e}>", None)),
    ("comment", lambda n, e: (f"{e} ({n.coordinator})", None)),
    ("encoded-word", lambda n, e: (f"{_b64(n.coordinator)} <{e}>", None)),
    ("fullwidth-at", lambda n, e: (f"{n.coordinator.replace('@', chr(0xFF20))} <{e}>", None)),
    ("two-mailboxes", lambda n, e: (f"{n.coordinator}, {e}", None)),
    ("group-syntax", lambda n, e: (f"Coordinators: {n.coordinator};", None)),
    ("two-from-lines", lambda n, e: (n.coordinator, e)),
    ("angle-then-more", lambda n, e: (f"<{n.coordinator}> {e}", None)),
]


@pytest.mark.parametrize("case", FORGED_FROM, ids=[c[0] for c in FORGED_FROM])
def test_a_from_line_that_hides_its_sender_is_refused_and_the_coordinator_told(
        network, bot, mailserver, evil, with_case, case):
    _id, make = case
    from_value, extra = make(network, evil)
    before = state(bot)
    alerts = kinds(mailserver, network.coordinator).count("coordinator-alert")
    raw = raw_mail(network, from_value, f"commands {_id}", ATTACK.format(evil=evil), extra_from=extra)
    network.deliver(raw, mail_from=evil)  # sent from the attacker's own server: its SPF/DMARC may pass
    run(bot)
    assert_nothing_changed(network, bot, mailserver, evil, before, subject=f"commands {_id}")
    alerts_now = [m for m in mailserver.fetch_all(network.coordinator) if m["X-Mailbot-Kind"] == "coordinator-alert"]
    assert len(alerts_now) == alerts + 1
    assert "misleading From line" in str(alerts_now[-1]["Subject"])
    # a genuine coordinator email, with a display name, still works
    genuine_help_works(network, bot, mailserver)


def test_the_sender_is_the_address_not_the_display_name(network, bot, mailserver, evil):
    """`From: coordinator@... <evil@...>` is evil@...: never treated as the coordinator."""
    from mailbot.mail.reading import read_email

    mail = read_email(raw_mail(network, f"{network.coordinator} <{evil}>", "x", "HELP\n"))
    assert mail.from_address == evil and mail.from_problem
    mail = read_email(raw_mail(network, f'"{network.coordinator}" <{evil}>', "x", "HELP\n"))
    assert mail.from_address == evil and mail.from_problem
    mail = read_email(raw_mail(network, f'"Aine" <{network.coordinator}>', "x", "HELP\n"))
    assert mail.from_address == network.coordinator and not mail.from_problem


# -- 2. a pass counts only when aligned with the From domain ---------------------------------------

UNALIGNED = [
    ("dmarc-pass-for-another-domain",
     "spf=pass smtp.mailfrom={evil}; dkim=pass header.d=attacker.test; dmarc=pass header.from=attacker.test"),
    ("spf-pass-for-the-bare-tld", "spf=pass smtp.mailfrom=evil@test; dmarc=none header.from=network.test"),
    ("dkim-pass-for-the-bare-tld", "dkim=pass header.d=test; dmarc=none header.from=network.test"),
    ("spf-pass-for-a-lookalike", "spf=pass smtp.mailfrom=evil@network.test.attacker.test; dmarc=none"),
]


@pytest.mark.parametrize("case", UNALIGNED, ids=[c[0] for c in UNALIGNED])
def test_an_unaligned_pass_does_not_authenticate_a_forged_coordinator(
        network, bot, mailserver, evil, with_case, case):
    _id, results = case
    before = state(bot)
    raw = raw_mail(network, network.coordinator, f"commands {_id}", ATTACK.format(evil=evil))
    network.deliver(raw, mail_from=evil, results=results.format(evil=evil))
    run(bot)
    assert_nothing_changed(network, bot, mailserver, evil, before, subject=f"commands {_id}")
    # genuine: SPF for a subdomain of the coordinator's own organisational domain aligns
    genuine_help_works(network, bot, mailserver,
                       results="spf=pass smtp.mailfrom=bounces@mail.network.test; dmarc=none header.from=network.test")


def test_forged_coordinator_from_the_attackers_server_is_refused(network, bot, mailserver, evil, with_case):
    before = state(bot)
    raw = raw_mail(network, network.coordinator, "commands forged", ATTACK.format(evil=evil),
                   top=f"Authentication-Results: {mailserver.authserv_id}; dmarc=pass header.from=network.test\r\n")
    network.deliver(raw, mail_from=evil, sending_domain="attacker.test")
    run(bot)
    assert_nothing_changed(network, bot, mailserver, evil, before, subject="commands forged")
    genuine_help_works(network, bot, mailserver)


# -- 3. only the topmost block, only trusted authserv-ids ------------------------------------------

def test_a_lower_trusted_looking_header_is_never_read(network, bot, mailserver, evil, with_case):
    """A careless MX that keeps headers claiming its id: the forger's pass lies below other headers."""
    before = state(bot)
    forged = (f"Received: from relay.attacker.test by relay.attacker.test\r\n"
              f"Authentication-Results: {mailserver.authserv_id}; spf=pass smtp.mailfrom=network.test; "
              f"dkim=pass header.d=network.test; dmarc=pass header.from=network.test\r\n")
    raw = raw_mail(network, network.coordinator, "commands lower", ATTACK.format(evil=evil), top=forged)
    network.deliver(raw, mail_from=evil, strip_claims=False,
                    results="spf=none smtp.mailfrom=network.test; dmarc=none header.from=network.test")
    run(bot)
    assert_nothing_changed(network, bot, mailserver, evil, before, subject="commands lower")
    genuine_help_works(network, bot, mailserver)


def test_an_untrusted_header_at_the_top_is_never_read(network, bot, mailserver, evil, with_case):
    before = state(bot)
    forged = ("Authentication-Results: mx.network.test; spf=pass smtp.mailfrom=network.test; "
              "dmarc=pass header.from=network.test\r\n")
    raw = raw_mail(network, network.coordinator, "commands untrusted", ATTACK.format(evil=evil), top=forged)
    network.deliver(raw, mail_from=evil, authenticate=False)  # our MX wrote nothing: the forged one is on top
    run(bot)
    assert_nothing_changed(network, bot, mailserver, evil, before, subject="commands untrusted")
    genuine_help_works(network, bot, mailserver)


def test_with_no_trusted_authserv_id_nothing_is_trusted(mailserver, tmp_path):
    from mailbot.daemon import Bot

    net = TestNetwork(mailserver, tmp_path, extra={"security": {"trusted_authserv_ids": []}})
    bot = Bot(net.config)
    try:
        net.deliver(raw_mail(net, net.coordinator, "help", "HELP\n"))  # genuine, and the MX says pass
        run(bot)
        assert "command-reply" not in kinds(mailserver, net.coordinator)
        assert "help" in subjects(mailserver, net.mailbox, "Quarantine")
    finally:
        bot.close()


# -- 7. HTML-only email: only the visible text is read ---------------------------------------------

def test_hidden_html_commands_are_not_read(network, bot, mailserver, evil, with_case):
    member = network.members[3][1]
    html = (f"<html><head><title>MEMBER ADD Evil Agency {evil}</title>"
            f"<style>.later {{ visibility: hidden }}</style></head><body>"
            f"<p>HELP</p>"
            f"<div style=\"display:none\">MEMBER ADD Evil Agency {evil}</div>"
            f"<p style=\"color:#ffffff\">RESEND MASTER LIST</p>"
            f"<!-- MEMBER REMOVE {member} -->"
            f"<p><span style=\"font-size:0\">EXIT CN1 no longer a concern</span></p>"
            f"<p class=\"later\">MEMBER REMOVE {member}</p>"
            f"<script>document.write('HANDOVER CN1 TO Hebble Youth Service')</script>"
            f"</body></html>")
    before = state(bot)
    network.deliver(raw_mail(network, network.coordinator, "html commands", html, html=True))
    run(bot)
    assert state(bot) == before
    assert mailserver.count(evil) == 0
    replies = [m for m in mailserver.fetch_all(network.coordinator) if m["X-Mailbot-Kind"] == "command-reply"]
    assert len(replies) == 1
    text = replies[0].get_body(("plain",)).get_content()
    quoted = [line.strip() for line in text.splitlines() if line.startswith(">")]
    assert quoted == ["> HELP"]  # the reply quotes each command line read: only the visible one


# -- 14. flood control -----------------------------------------------------------------------------

def test_a_flooding_sender_gets_one_reply_and_the_coordinator_one_alert(mailserver, tmp_path):
    from mailbot.daemon import Bot

    # a week-long window: the test never straddles two windows
    net = TestNetwork(mailserver, tmp_path, extra={"security": {"rate_limit_emails": 3,
                                                                "rate_limit_window_minutes": 10080}})
    bot = Bot(net.config)
    flooder, other = net.members[2][1], net.members[5][1]
    try:
        for i in range(8):
            net.deliver(net.email_with(flooder, f"hello {i}", body="Just saying hello."))
        run(bot)
        for i in range(4):
            net.deliver(net.email_with(flooder, f"again {i}", body="Hello again."))
        stranger = mailserver.add_user(f"someone.{net.suffix}@elsewhere.test")
        for i in range(6):
            net.deliver(net.email_with(stranger, f"spam {i}", body="Buy now."))
        for i in range(6):  # a From line with two mailboxes: no single sender, one bucket
            net.deliver(raw_mail(net, f"{net.coordinator}, {stranger}", f"odd {i}", "HELP\n"))
        run(bot)
        got = kinds(mailserver, flooder)
        assert got.count("no-form") == 3 and got.count("rate-limited") == 1 and len(got) == 4
        assert mailserver.count(stranger) == 0  # a stranger is never answered
        alerts = [str(m["Subject"]) for m in mailserver.fetch_all(net.coordinator)
                  if m["X-Mailbot-Kind"] == "coordinator-alert"]
        assert sum("too many emails" in s for s in alerts) == 3  # one per flooding sender
        assert sum("nothing to process" in s for s in alerts) == 3
        assert sum("misleading From line" in s for s in alerts) == 3
        # nothing silently dropped: every email is filed and counted
        quarantined = subjects(mailserver, net.mailbox, "Quarantine")
        assert len([s for s in quarantined if s.startswith(("hello", "again"))]) == 12
        assert len([s for s in quarantined if s.startswith("spam")]) == 6
        assert len([s for s in quarantined if s.startswith("odd")]) == 6
        assert "command-reply" not in kinds(mailserver, net.coordinator)
        assert mailserver.count(net.mailbox) == 0
        rows = bot.store.messages_after(0)
        assert sum(r["sender"] == flooder for r in rows) == 12
        assert sum(r["sender"] == flooder and r["reason"] == "rate-limited" for r in rows) == 9
        # another member is not affected
        net.deliver(net.email_with(other, "hello", body="Hello."))
        run(bot)
        assert kinds(mailserver, other) == ["no-form"]
    finally:
        bot.close()
