"""Red-team findings on "only the right people can act", in the middle layer (tests/desk.py).

Each test hands the pipeline an email as the receiving MX would store it, with the Authentication-Results
that MX writes, and asserts what changed in the store and what the outbox holds. Fictional people only.
"""

from __future__ import annotations

import pytest

from desk import text_of


@pytest.fixture
def desk(desk):
    """conftest's desk after S01 was referred by the lead agency: case CN1."""
    desk.referral(desk.lead)
    return desk


def _notice(desk, sender: str) -> bytes:
    body = ("Case: CN1\nDate: 14/12/2026\nTime: 10:30\nVenue: Marsden Vale Family Centre, Room 2\n"
            f"Organiser: Priya Lal, 01 555 0101, {sender}\n")
    return desk.email(sender, "Meeting notice", body=body)


# The MX writes the envelope sender (MAIL FROM) as it was given. A quoted local part is legal there
# (RFC 5321), and the attacker chooses it: it can hold an "@", a ";" or a whole forged result.
INJECTED = [
    ("quoted-local-part-with-at", 'spf=pass smtp.mailfrom="x@{domain}"@attacker.test; dkim=none; '
                                  "dmarc=none header.from={domain}"),
    ("quoted-local-part-with-resinfo", 'spf=pass smtp.mailfrom="x; dkim=pass header.d={domain} y"@attacker.test; '
                                       "dkim=none; dmarc=none header.from={domain}"),
    ("reason-with-resinfo", 'spf=softfail reason="x; spf=pass smtp.mailfrom=a@{domain} y" '
                            "smtp.mailfrom=evil@attacker.test; dmarc=none header.from={domain}"),
    ("property-given-twice", "spf=pass smtp.mailfrom=evil@attacker.test smtp.mailfrom=evil@{domain}; "
                             "dmarc=none header.from={domain}"),
]


@pytest.mark.parametrize("case", INJECTED, ids=[c[0] for c in INJECTED])
def test_a_forged_result_inside_a_quoted_value_does_not_authenticate_the_lead_agency(desk, case):
    """A forged meeting notice 'from' the lead agency, sent from the attacker's server: the MX's own
    verdict is an SPF pass for attacker.test and no DMARC record for the member's domain."""
    _id, results = case
    domain = desk.lead.rpartition("@")[2]
    folder = desk.handle(_notice(desk, desk.lead), mail_from="evil@attacker.test",
                         results=results.format(domain=domain))
    assert folder == "quarantined"
    assert desk.last_message()["kind"] == "refused"
    assert not desk.store.meeting_notices()
    assert desk.store.latest_meeting("CN1") is None
    assert not desk.outgoing("meeting-notice")
    assert not desk.kinds_to("evil@attacker.test")


def test_the_genuine_lead_agency_still_passes_with_a_quoted_envelope(desk):
    domain = desk.lead.rpartition("@")[2]
    folder = desk.handle(_notice(desk, desk.lead), mail_from=desk.lead,
                         results=f'spf=pass smtp.mailfrom="priya lal"@{domain}; dmarc=none header.from={domain}')
    assert folder == "processed"
    assert desk.outgoing("meeting-notice")


@pytest.mark.parametrize("results", [
    # a quoted string that never closes swallows the results after it (here the MX's DMARC fail)
    'spf=pass smtp.mailfrom="x@{domain}; dkim=none; dmarc=fail header.from={domain}',
    # a value that is no domain name never aligns: spaces, a wildcard
    'dkim=pass header.d="x y.{domain}"; dmarc=none header.from={domain}',
    "dkim=pass header.d=*.{domain}; dmarc=none header.from={domain}",
])
def test_an_unreadable_result_or_a_value_that_is_no_domain_never_authenticates(desk, results):
    domain = desk.lead.rpartition("@")[2]
    folder = desk.handle(_notice(desk, desk.lead), mail_from="evil@attacker.test",
                         results=results.format(domain=domain))
    assert folder == "quarantined"
    assert not desk.store.meeting_notices() and not desk.outgoing("meeting-notice")


def test_forged_emails_in_a_members_name_do_not_rate_limit_the_real_member(desk):
    """Flood control counted emails by the address in From, forged or not: twenty forgeries in the lead
    agency's (or the coordinator's) name, refused for failing DMARC, put the real sender's next emails
    in Quarantine unhandled for the rest of the hour, again every hour."""
    desk.ctx.cfg.rate_limit_emails = 20  # the shipped default (the desk network sets it high)
    for i in range(21):
        raw = desk.email(desk.coordinator, f"status {i}", body="STATUS\n")
        assert desk.handle(raw, mail_from="evil@attacker.test", sending_domain="attacker.test", uid=10 + i) \
            == "quarantined"
    forged = desk.store.messages_after(0)[-21:]
    assert {r["sender"] for r in forged} == {f"{desk.coordinator} (not verified)"}
    assert forged[-1]["reason"] == "rate-limited"  # the forgeries are rate-limited among themselves
    assert not desk.kinds_to(desk.coordinator).count("rate-limited")  # and never answered
    # the real coordinator, and the real lead agency, are handled as usual
    assert desk.handle(desk.email(desk.coordinator, "status", body="STATUS\n"), uid=50) == "processed"
    assert desk.last_message()["kind"] == "command"
    assert desk.outgoing("command-reply", to=desk.coordinator)
    for i in range(21):
        desk.handle(desk.email(desk.lead, f"hello {i}", body="Hello"), mail_from="evil@attacker.test",
                    sending_domain="attacker.test", uid=100 + i)
    assert desk.referral(desk.lead) == "processed"
    assert desk.last_message()["kind"] == "referral" and desk.last_message()["reason"] != "rate-limited"


def test_a_forged_copy_that_gets_in_first_does_not_make_the_genuine_email_count_as_done(desk):
    """A member the coordinator copied in has the command email's Message-ID, date and text. A forged
    copy of it (same everything, sent from the attacker's server) refused for failing DMARC was recorded
    under that email's key: the genuine email, arriving next, was filed as 'already handled'."""
    genuine = desk.email(desk.coordinator, "status please", body="STATUS\n")
    assert desk.handle(genuine, mail_from="evil@attacker.test", sending_domain="attacker.test", uid=2) \
        == "quarantined"
    assert not desk.outgoing("command-reply")
    assert desk.handle(genuine, uid=3) == "processed"
    assert desk.last_message()["kind"] == "command"
    assert len(desk.outgoing("command-reply", to=desk.coordinator)) == 1
    # delivered once more, the genuine email is not handled twice
    assert desk.handle(genuine, uid=4) == "processed"
    assert len(desk.outgoing("command-reply", to=desk.coordinator)) == 1


def test_a_command_quoted_in_an_html_only_reply_is_not_read(desk):
    """'> ' lines of a plain-text body are skipped as quoted; the same text quoted in an HTML-only reply
    (<blockquote>, without an 'On ... wrote:' line) was read as a command and put to the coordinator."""
    from email.message import EmailMessage
    from email.utils import make_msgid

    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = desk.coordinator, desk.net.mailbox, "Re: status"
    msg["Message-ID"], msg["Date"] = make_msgid(domain="network.test"), "Mon, 23 Nov 2026 10:00:00 +0000"
    msg.set_content("<p>STATUS</p><blockquote><p>MEMBER ADD Evil Agency evil@attacker.test</p>"
                    "<blockquote>EXIT CN1 moved away</blockquote></blockquote>", subtype="html")
    assert desk.handle(msg.as_bytes(), uid=2) == "processed"
    assert not desk.store.pending_command_requests("pending")
    assert not desk.outgoing("command-confirm")
    (reply,) = desk.outgoing("command-reply", to=desk.coordinator)
    assert [line for line in text_of(reply).splitlines() if line.startswith(">")] == ["> STATUS"]
    assert desk.store.get_case("CN1").status == "open"
