"""Sender authorisation on real parsed mail. Fictional agencies and people only."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from mailbot.mail.reading import read_email
from mailbot.mail.senders import Directory, Member, authorise

HUB = Member("Marsden Vale Youth Hub", ["Marcus.Okonjo@mvyouthhub.example.net", "intake@mvyouthhub.example.net"])
SOCIAL_WORK = Member("HSE Social Work", ["duty@socialwork.example.ie"], social_work=True, may_submit=False)
DIRECTORY = Directory(
    members=[HUB, SOCIAL_WORK],
    coordinators=["Coordinator@Network.example.org"],
    our_addresses=["mailbot@network.example.org"],
)
TRUSTED = ["mx.network.example.org"]


def mail(sender, *, auth=(), subject="Referral", extra=()):
    msg = EmailMessage()
    for value in auth:  # listed topmost first, as a receiving server prepends
        msg["Authentication-Results"] = value
    msg["From"] = sender
    msg["To"] = "mailbot@network.example.org"
    msg["Subject"] = subject
    msg["Message-ID"] = "<m-1@example.net>"
    for name, value in extra:
        msg[name] = value
    msg.set_content("hello")
    return read_email(bytes(msg))


def test_directory_lookup_exact_and_case_insensitive():
    assert DIRECTORY.member_for("marcus.okonjo@MVYOUTHHUB.example.net") is HUB
    assert DIRECTORY.member_for("<intake@mvyouthhub.example.net>") is HUB
    assert DIRECTORY.member_for("okonjo@mvyouthhub.example.net") is None  # exact addr-spec only
    assert DIRECTORY.member_for("marcus.okonjo@mvyouthhub.example.net.evil.example") is None
    assert DIRECTORY.is_coordinator("coordinator@network.example.org")
    assert not DIRECTORY.is_coordinator("coordinator@network.example.org.evil.example")


def test_stranger_refused():
    v = authorise(mail("Someone <someone@elsewhere.example.com>"), DIRECTORY)
    assert (v.allowed, v.role, v.member) == (False, "stranger", None)
    assert v.reason == "the sender is not a member of the network"


def test_coordinator_and_member_recognised():
    v = authorise(mail("The Coordinator <coordinator@network.example.org>"), DIRECTORY)
    assert (v.allowed, v.role) == (True, "coordinator") and v.may_submit
    v = authorise(mail("Marcus <marcus.okonjo@mvyouthhub.example.net>"), DIRECTORY)
    assert (v.allowed, v.role, v.member) == (True, "member", HUB) and v.may_submit
    v = authorise(mail("duty@socialwork.example.ie"), DIRECTORY)
    assert v.allowed and v.role == "member" and not v.may_submit


def test_our_own_address_and_auto_replies_never_answered():
    v = authorise(mail("mailbot@network.example.org"), DIRECTORY)
    assert (v.allowed, v.role) == (False, "ourselves")
    v = authorise(mail("marcus.okonjo@mvyouthhub.example.net", subject="Automatic reply: Referral"), DIRECTORY)
    assert (v.allowed, v.role) == (False, "auto")
    v = authorise(mail("marcus.okonjo@mvyouthhub.example.net", extra=[("Auto-Submitted", "auto-replied")]), DIRECTORY)
    assert (v.allowed, v.role) == (False, "auto")


def test_dmarc_fail_from_trusted_server_refused():
    header = ("mx.network.example.org; spf=softfail smtp.mailfrom=mvyouthhub.example.net; "
              "dkim=none; dmarc=fail (p=none) header.from=mvyouthhub.example.net")
    v = authorise(mail("marcus.okonjo@mvyouthhub.example.net", auth=[header]), DIRECTORY,
                  trusted_authserv_ids=TRUSTED)
    assert not v.allowed and v.role == "member"
    assert v.reason == "failed sender authentication (DMARC)"


def test_spf_and_dkim_fail_only_count_for_the_from_domain():
    spf_other = "mx.network.example.org; spf=fail smtp.mailfrom=bounces@listserver.example.com"
    v = authorise(mail("marcus.okonjo@mvyouthhub.example.net", auth=[spf_other]), DIRECTORY, trusted_authserv_ids=TRUSTED)
    assert v.allowed
    spf_own = "mx.network.example.org; spf=fail smtp.mailfrom=marcus.okonjo@mvyouthhub.example.net"
    v = authorise(mail("marcus.okonjo@mvyouthhub.example.net", auth=[spf_own]), DIRECTORY, trusted_authserv_ids=TRUSTED)
    assert not v.allowed and "SPF" in v.reason
    dkim_own = "mx.network.example.org; dkim=fail header.d=mvyouthhub.example.net"
    v = authorise(mail("marcus.okonjo@mvyouthhub.example.net", auth=[dkim_own]), DIRECTORY, trusted_authserv_ids=TRUSTED)
    assert not v.allowed and "DKIM" in v.reason


def test_forged_header_from_untrusted_authserv_ignored():
    forged_pass = "mx.network.example.org.evil.example; dmarc=pass header.from=mvyouthhub.example.net"
    # the forged "pass" does not satisfy require_auth_pass ...
    v = authorise(mail("marcus.okonjo@mvyouthhub.example.net", auth=[forged_pass]), DIRECTORY,
                  require_auth_pass=True, trusted_authserv_ids=TRUSTED)
    assert not v.allowed and "could not be confirmed" in v.reason
    # ... and a forged "fail" written by the sender cannot block anyone either
    forged_fail = "evil.example; dmarc=fail header.from=mvyouthhub.example.net"
    v = authorise(mail("marcus.okonjo@mvyouthhub.example.net", auth=[forged_fail]), DIRECTORY,
                  trusted_authserv_ids=TRUSTED)
    assert v.allowed
    # a genuine pass from our server satisfies require_auth_pass
    real = "mx.network.example.org; dkim=pass header.d=mvyouthhub.example.net; dmarc=pass header.from=mvyouthhub.example.net"
    v = authorise(mail("marcus.okonjo@mvyouthhub.example.net", auth=[real, forged_fail]), DIRECTORY,
                  require_auth_pass=True, trusted_authserv_ids=TRUSTED)
    assert v.allowed


def test_without_trusted_ids_no_header_is_trusted():
    """Issue 11.3: with no trusted authserv-id configured, none is trusted (not even the topmost)."""
    topmost_pass = "mx.local; dmarc=pass header.from=mvyouthhub.example.net"
    v = authorise(mail("marcus.okonjo@mvyouthhub.example.net", auth=[topmost_pass]), DIRECTORY,
                  require_auth_pass=True)
    assert not v.allowed and "could not be confirmed" in v.reason
    topmost_fail = "mx.local; dmarc=fail header.from=mvyouthhub.example.net"
    v = authorise(mail("marcus.okonjo@mvyouthhub.example.net", auth=[topmost_fail]), DIRECTORY)
    assert v.allowed  # nothing trusted: neither a pass nor a fail is read


def test_no_authentication_header():
    v = authorise(mail("marcus.okonjo@mvyouthhub.example.net"), DIRECTORY, trusted_authserv_ids=TRUSTED)
    assert v.allowed
    v = authorise(mail("marcus.okonjo@mvyouthhub.example.net"), DIRECTORY, require_auth_pass=True,
                  trusted_authserv_ids=TRUSTED)
    assert not v.allowed


def test_directory_from_config_data():
    d = Directory.from_dict({"members": [{"agency": "Westbury School", "emails": ["office@westbury.example.org"]}],
                             "coordinators": ["c@network.example.org"], "our_addresses": ["bot@network.example.org"]})
    assert d.member_for("OFFICE@westbury.example.org").agency == "Westbury School"
    assert d.is_ours("bot@network.example.org")


# -- issue 11.1: the sender is the addr-spec of the single mailbox in From ----------------------------

def raw_from(*from_lines: str, auth: str = "") -> "IncomingEmail":
    head = "".join(f"From: {v}\r\n" for v in from_lines)
    top = f"Authentication-Results: {auth}\r\n" if auth else ""
    return read_email((top + head + "To: mailbot@network.example.org\r\nSubject: x\r\n"
                       "Message-ID: <m-2@example.net>\r\n\r\nHELP\r\n").encode())


COORD = "coordinator@network.example.org"
EVIL = "evil@attacker.example.com"


@pytest.mark.parametrize("from_lines, address", [
    ((f'"{COORD}" <{EVIL}>',), EVIL),
    ((f"{COORD} <{EVIL}>",), EVIL),
    ((f"{EVIL} ({COORD})",), EVIL),
    ((f"=?utf-8?q?coordinator=40network=2Eexample=2Eorg?= <{EVIL}>",), EVIL),
    ((f"=?utf-8?b?Y29vcmRpbmF0b3JAbmV0d29yay5leGFtcGxlLm9yZw==?= <{EVIL}>",), EVIL),
    ((f"{EVIL} <{COORD}>",), COORD),  # the coordinator's address shown as another: refused all the same
    ((f"{COORD}, {EVIL}",), ""),
    ((f"Friends: {COORD};",), ""),
    ((f"Friends: {COORD}, {EVIL};",), ""),
    ((COORD, EVIL), ""),
    ((f"<{COORD}> {EVIL}",), ""),
    ((f"{COORD}@attacker.example.com",), ""),
    ((f'"{COORD}"@attacker.example.com',), ""),
    ((f"<@relay.example.com:{COORD}>",), ""),
    (("Lal, Priya <marcus.okonjo@mvyouthhub.example.net>",), ""),
    (("",), ""),
    ((), ""),
])
def test_a_from_line_that_hides_its_sender_is_refused(from_lines, address):
    mail = raw_from(*from_lines)
    assert mail.from_address == address
    assert mail.from_problem
    v = authorise(mail, DIRECTORY)
    assert not v.allowed and v.tell_coordinator and v.role == "stranger"
    assert v.reason == mail.from_problem


@pytest.mark.parametrize("from_line, address, display", [
    ("The Coordinator <Coordinator@Network.example.org>", COORD, "The Coordinator"),
    ('"Okonjo, Marcus" <marcus.okonjo@mvyouthhub.example.net>', "marcus.okonjo@mvyouthhub.example.net",
     "Okonjo, Marcus"),
    ('"marcus.okonjo@mvyouthhub.example.net" <marcus.okonjo@mvyouthhub.example.net>',
     "marcus.okonjo@mvyouthhub.example.net", "marcus.okonjo@mvyouthhub.example.net"),
    ("marcus.okonjo@mvyouthhub.example.net (Marcus Okonjo)", "marcus.okonjo@mvyouthhub.example.net", ""),
    ("=?utf-8?q?Marcus_=C3=93konjo?= <marcus.okonjo@mvyouthhub.example.net>",
     "marcus.okonjo@mvyouthhub.example.net", "Marcus Ókonjo"),
])
def test_a_plain_from_line_names_its_sender(from_line, address, display):
    mail = raw_from(from_line)
    assert (mail.from_address, mail.from_display, mail.from_problem) == (address, display, "")
    assert authorise(mail, DIRECTORY).allowed


# -- issue 11.2: a pass counts only when aligned (Public Suffix List) --------------------------------

PSL_DIRECTORY = Directory(members=[Member("Kilbrack School", ["office@kilbrack.co.uk"]),
                                   Member("Lisnavar Youth", ["info@lisnavar.ie"])],
                          coordinators=[COORD], our_addresses=[])


@pytest.mark.parametrize("sender, results, passes", [
    ("office@kilbrack.co.uk", "dmarc=pass header.from=kilbrack.co.uk", True),
    ("office@kilbrack.co.uk", "dmarc=pass header.from=attacker.co.uk", False),  # not the From domain
    ("office@kilbrack.co.uk", "dmarc=pass header.from=mail.kilbrack.co.uk", False),  # dmarc: equal only
    ("office@kilbrack.co.uk", "spf=pass smtp.mailfrom=bounce@mail.kilbrack.co.uk", True),  # organisational
    ("office@kilbrack.co.uk", "dkim=pass header.d=kilbrack.co.uk", True),
    ("office@kilbrack.co.uk", "spf=pass smtp.mailfrom=evil@co.uk", False),  # a public suffix never aligns
    ("office@kilbrack.co.uk", "dkim=pass header.d=co.uk", False),
    ("office@kilbrack.co.uk", "dkim=pass header.d=uk", False),  # a bare top-level domain
    ("office@kilbrack.co.uk", "dkim=pass header.d=attacker.co.uk", False),
    ("office@kilbrack.co.uk", "spf=pass smtp.mailfrom=x@kilbrack.co.uk.attacker.example", False),
    ("info@lisnavar.ie", "dkim=pass header.d=ie", False),
    ("info@lisnavar.ie", "spf=pass smtp.mailfrom=bounces@lists.lisnavar.ie", True),
    # two results for one method that disagree: no pass
    ("info@lisnavar.ie", "dkim=pass header.d=lisnavar.ie; dkim=fail header.d=lisnavar.ie", False),
])
def test_a_pass_counts_only_when_aligned(sender, results, passes):
    mail = raw_from(sender, auth=f"mx.network.example.org; {results}")
    v = authorise(mail, PSL_DIRECTORY, require_auth_pass=True, trusted_authserv_ids=TRUSTED)
    assert v.allowed is passes, v.reason


def test_organisational_domain_uses_the_shipped_public_suffix_list():
    from mailbot.mail.senders import organisational_domain

    assert organisational_domain("mail.kilbrack.co.uk") == "kilbrack.co.uk"
    assert organisational_domain("co.uk") == "" and organisational_domain("uk") == ""
    assert organisational_domain("a.b.lisnavar.ie") == "lisnavar.ie"
    assert organisational_domain("") == ""


# -- issue 11.3: only the topmost block, only trusted authserv-ids ------------------------------------

def test_only_the_topmost_block_of_trusted_headers_is_read():
    member = "marcus.okonjo@mvyouthhub.example.net"
    good = "mx.network.example.org; dmarc=pass header.from=mvyouthhub.example.net"
    # the trusted pass lies below another header: written by the sender, never read
    raw = (f"Authentication-Results: mx.network.example.org; spf=none smtp.mailfrom=mvyouthhub.example.net\r\n"
           f"Received: from relay.example.com\r\nAuthentication-Results: {good}\r\nFrom: {member}\r\n"
           f"Subject: x\r\n\r\nbody\r\n").encode()
    mail = read_email(raw)
    assert [r.top for r in mail.auth_results] == [True, False]
    v = authorise(mail, DIRECTORY, require_auth_pass=True, trusted_authserv_ids=TRUSTED)
    assert not v.allowed
    # a contiguous block at the top: an untrusted header in it is skipped, the trusted one read
    raw = (f"Received: by mx.network.example.org\r\nAuthentication-Results: other.example; dmarc=fail "
           f"header.from=mvyouthhub.example.net\r\nAuthentication-Results: {good}\r\nFrom: {member}\r\n"
           f"Subject: x\r\n\r\nbody\r\n").encode()
    mail = read_email(raw)
    assert [r.top for r in mail.auth_results] == [True, True]
    assert authorise(mail, DIRECTORY, require_auth_pass=True, trusted_authserv_ids=TRUSTED).allowed
    # ... and never merged with a lower trusted one: a fail below does not count either
    raw = (f"Authentication-Results: {good}\r\nX-Spam: no\r\nAuthentication-Results: mx.network.example.org; "
           f"dmarc=fail header.from=mvyouthhub.example.net\r\nFrom: {member}\r\nSubject: x\r\n\r\nbody\r\n").encode()
    assert authorise(read_email(raw), DIRECTORY, require_auth_pass=True, trusted_authserv_ids=TRUSTED).allowed
