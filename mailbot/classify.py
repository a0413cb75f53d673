"""Classify: who sent a message (senders.authorise) and what kind it is. Pure.

Kinds: auto (auto-reply, bounce, our own mail: never answered), refused
(stranger or failed sender authentication), too-large, command (from a
coordinator), document (Word attachments from a member: referral or
minutes), notice (a meeting notice in the body), other.
"""

from __future__ import annotations

from mailbot.config import Config

_DIRECTORIES: dict = {}


def directory_for(cfg: Config):
    """The sender directory for the current members (rebuilt when a MEMBER command changes them)."""
    from mailbot.mail.senders import Directory, Member

    key = (id(cfg), tuple(cfg.members), tuple(cfg.coordinators))
    hit = _DIRECTORIES.get(key)
    if hit is None:
        members = [Member(agency=m.agency, emails=list(m.contacts), social_work=m.social_work,
                          may_submit=m.may_submit) for m in cfg.members]
        hit = Directory(members=members, coordinators=list(cfg.coordinators), our_addresses=[cfg.mailbox_address])
        _DIRECTORIES.clear()
        _DIRECTORIES[key] = hit
    return hit


def classify(ctx, email):
    from mailbot.mail.reading import kind_of_attachment
    from mailbot.casework.notices import looks_like_notice
    from mailbot.mail.senders import authorise

    cfg = ctx.cfg
    verdict = authorise(
        email,
        directory_for(cfg),
        require_auth_pass=cfg.require_authentication_pass and cfg.check_authentication_results,
        # checks off: trust no Authentication-Results header at all
        trusted_authserv_ids=list(cfg.trusted_authserv_ids) if cfg.check_authentication_results else [],
    )
    if verdict.role in ("auto", "ourselves"):
        return "auto", verdict
    if not verdict.allowed:
        return "refused", verdict
    if getattr(email, "too_large", False):
        return "too-large", verdict
    if verdict.role == "coordinator":
        return "command", verdict
    if not getattr(verdict, "may_submit", True):
        return "refused", verdict
    if any(kind_of_attachment(a) in ("docx", "doc", "docm") for a in email.attachments):
        return "document", verdict
    if looks_like_notice(email.subject or "", email.text_body or ""):
        return "notice", verdict
    if email.attachments:
        return "document", verdict  # answered: "please attach the form as a .docx"
    return "other", verdict
