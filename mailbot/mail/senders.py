"""Who may write to the coordinator mailbox, and whether to believe the From line.

Pure: works on an :class:`~mailbot.mail.reading.IncomingEmail` and the network
:class:`Directory`. The verdict's ``reason`` is one plain line, never a name.

Rules, in order:

1. mail from one of our own addresses -> role "ourselves", not allowed
   (never answered: no mail loops);
2. auto-replies, out-of-office, bounces -> role "auto", not allowed, never answered
   (the shell may still file a bounce against the message it refers to);
3. a sender that is neither a coordinator nor a member -> "stranger", refused;
4. a From line that does not name exactly one sender unambiguously (several mailboxes, group
   syntax, two From lines, a display name or comment that shows another address) -> refused,
   and the coordinator is told (``Verdict.tell_coordinator``);
5. sender authentication: only the topmost block of Authentication-Results headers (the ones
   our receiving server prepended) is read, and in it only the headers whose authserv-id is
   configured as trusted; lower or untrusted ones are ignored, never merged (anyone can write
   such a header into the mail they send). With no trusted id configured, none is trusted.
   dmarc=fail, or an SPF/DKIM fail aligned with the From domain, is refused. A pass counts only
   when aligned with the From domain: dmarc=pass with header.from equal to it, SPF
   (smtp.mailfrom) or DKIM (header.d) pass for the same organisational domain (Public Suffix
   List, from the ``publicsuffixlist`` package, offline: a public suffix never aligns). Without
   an aligned pass the mail is allowed only when ``require_auth_pass`` is off.

A member's ``may_submit`` flag is not checked here: it says whether the
member may submit referrals, which the intake decides (``Verdict.may_submit``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from mailbot.mail.auth_results import UNREADABLE, AuthResult
from mailbot.mail.reading import IncomingEmail


def _norm(address: str) -> str:
    return (address or "").strip().strip("<>").strip().lower()


@dataclass
class Member:
    agency: str
    emails: list[str] = field(default_factory=list)
    social_work: bool = False
    may_submit: bool = True


@dataclass
class Directory:
    members: list[Member] = field(default_factory=list)
    coordinators: list[str] = field(default_factory=list)
    our_addresses: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._index: dict[str, Member] = {}
        for m in self.members:
            for e in m.emails:
                self._index.setdefault(_norm(e), m)
        self._coordinators = {_norm(a) for a in self.coordinators}
        self._ours = {_norm(a) for a in self.our_addresses}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Directory":
        """From config data: {members: [{agency, emails, social_work, may_submit}], coordinators, our_addresses}."""
        members = [
            Member(
                agency=str(m.get("agency", "")),
                emails=[str(e) for e in m.get("emails", [])],
                social_work=bool(m.get("social_work", False)),
                may_submit=bool(m.get("may_submit", True)),
            )
            for m in data.get("members", [])
        ]
        return cls(members=members, coordinators=list(data.get("coordinators", [])),
                   our_addresses=list(data.get("our_addresses", [])))

    def member_for(self, address: str) -> Member | None:
        """The member whose email is exactly this addr-spec (case-insensitive), or None."""
        return self._index.get(_norm(address))

    def is_coordinator(self, address: str) -> bool:
        return _norm(address) in self._coordinators

    def is_ours(self, address: str) -> bool:
        return _norm(address) in self._ours


@dataclass
class Verdict:
    allowed: bool
    role: str  # "coordinator" | "member" | "stranger" | "ourselves" | "auto"
    member: Member | None
    reason: str
    #: refused in a way the coordinator must hear about now (a From line that hides who sent it)
    tell_coordinator: bool = False
    #: the From line names a member or a coordinator, but sender authentication failed or could not be
    #: confirmed: the email may be forged, so it is never counted or shown as theirs
    unverified: bool = False

    @property
    def may_submit(self) -> bool:
        """May this sender submit a referral form?"""
        if not self.allowed:
            return False
        return self.role == "coordinator" or bool(self.member and self.member.may_submit)


@lru_cache(maxsize=1)
def _psl():
    from publicsuffixlist import PublicSuffixList

    return PublicSuffixList()  # the list shipped inside the package: never downloaded here


_HOSTNAME = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)(?:\.(?!-)[a-z0-9-]{1,63}(?<!-))+$")


def organisational_domain(domain: str) -> str:
    """The registrable domain (one label below a public suffix), or "" for a public suffix itself, or for
    anything that is not a domain name (spaces, quotes, an "@", a wildcard: such a value aligns with nothing)."""
    d = (domain or "").strip().lower().rstrip(".")
    if not d:
        return ""
    try:
        ascii_form = d if d.isascii() else d.encode("idna").decode("ascii")
    except UnicodeError:
        return ""
    if not _HOSTNAME.match(ascii_form):
        return ""
    try:
        return _psl().privatesuffix(d) or ""
    except Exception:  # noqa: BLE001 - an odd domain aligns with nothing
        return ""


def _aligned(result_domain: str, from_domain: str) -> bool:
    """Relaxed DMARC alignment: the same organisational domain (never a public suffix)."""
    a, b = organisational_domain(result_domain), organisational_domain(from_domain)
    return bool(a and b and a == b)


def trusted_results(results: list[AuthResult], trusted_authserv_ids: list[str]) -> list[AuthResult]:
    """Only the results of the topmost block of headers, written by a server we trust (see module doc)."""
    trusted = {t.strip().lower() for t in trusted_authserv_ids or [] if t and t.strip()}
    if not trusted:
        return []
    return [r for r in results if r.top and r.authserv_id in trusted]


def authentication_verdict(results: list[AuthResult], from_domain: str) -> tuple[str, str]:
    """("fail", reason) | ("pass", "") | ("unknown", "") from trusted results."""
    from_domain = (from_domain or "").lower()
    if any(r.method == UNREADABLE for r in results):
        return "fail", "the receiving server's sender authentication results could not be read"
    dmarc = [r for r in results if r.method == "dmarc"]
    if any(r.result == "fail" for r in dmarc):
        return "fail", "failed sender authentication (DMARC)"
    spf = [r for r in results if r.method == "spf" and _aligned(r.domain, from_domain)]
    dkim = [r for r in results if r.method == "dkim" and _aligned(r.domain, from_domain)]
    # several results for one method that disagree count as no pass (fail closed)
    spf_pass = bool(spf) and all(r.result == "pass" for r in spf)
    dkim_pass = bool(dkim) and all(r.result == "pass" for r in dkim)
    dmarc_pass = bool(dmarc) and all(r.result == "pass" and r.domain == from_domain for r in dmarc)
    for r in results:
        # a result without a domain is taken to be about the From domain (fail closed)
        about_from = not r.domain or _aligned(r.domain, from_domain)
        if r.method == "spf" and r.result == "fail" and about_from and not dkim_pass:
            return "fail", "failed sender authentication (SPF)"
        if r.method == "dkim" and r.result == "fail" and about_from and not (dkim_pass or spf_pass):
            return "fail", "failed sender authentication (DKIM)"
    if dmarc_pass or dkim_pass or spf_pass:
        return "pass", ""
    return "unknown", ""


def authorise(email: IncomingEmail, directory: Directory, *, require_auth_pass: bool = False,
              trusted_authserv_ids: list[str] | None = None) -> Verdict:
    """Decide whether to act on this email, and in which role."""
    address = _norm(email.from_address)
    problem = getattr(email, "from_problem", "")
    if problem:
        return Verdict(False, "stranger", None, problem, tell_coordinator=True)
    if not address:
        return Verdict(False, "stranger", None, "the email has no readable sender address")
    if directory.is_ours(address):
        return Verdict(False, "ourselves", None, "mail from our own address is never answered (no mail loops)")
    if email.is_bounce:
        return Verdict(False, "auto", None, "a delivery failure report (bounce), filed without reply")
    if email.auto_submitted:
        return Verdict(False, "auto", None, "an automatic reply, filed without reply")
    coordinator = directory.is_coordinator(address)
    member = directory.member_for(address)
    if not coordinator and member is None:
        return Verdict(False, "stranger", None, "the sender is not a member of the network")
    role = "coordinator" if coordinator else "member"
    results = trusted_results(email.auth_results, list(trusted_authserv_ids or []))
    status, reason = authentication_verdict(results, email.from_domain)
    if status == "fail":
        return Verdict(False, role, member, reason, unverified=True)
    if status != "pass" and require_auth_pass:
        return Verdict(False, role, member, "sender authentication could not be confirmed (no passing DMARC, DKIM or SPF)",
                       unverified=True)
    return Verdict(True, role, member, "coordinator" if coordinator else "network member")


def refusal_note(email: IncomingEmail, verdict: Verdict, quarantine_folder: str, *,
                 shown_sender: str | None = None) -> str:
    """The coordinator's note about an email refused for its From line: name-free (addresses only).
    ``shown_sender``: the sender as it may be shown (an outsider's address only as its pseudonym,
    mailbot.context.Context.recorded_sender); the From address itself when not given."""
    shown = email.from_address if shown_sender is None else shown_sender
    sent_from = f"sent from {shown}" if shown else "with no single sender address"
    return (f"An email {sent_from} was refused: {verdict.reason}. Nothing in it was acted on and no reply "
            f"was sent. It is kept in the folder \"{quarantine_folder}\". If it is genuine, ask the sender "
            f"to send it again from their own address, with a plain From line.")
