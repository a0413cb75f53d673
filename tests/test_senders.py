"""Sender authorisation on real parsed mail. Fictional agencies and people only."""

from __future__ import annotations

from email.message import EmailMessage

from mailbot.mailreader import read_email
from mailbot.senders import Directory, Member, authorise

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
