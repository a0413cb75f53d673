"""The member directory as it stands: the configuration's members with the MEMBER commands' changes applied.

Pure. The configuration is read once and never changed; the store keeps each change as a row
(store.facts), and :func:`apply_changes` gives the directory they make together.
"""

from __future__ import annotations

from mailbot.config import MemberConfig


def apply_changes(members: list[MemberConfig], changes: list[dict]) -> list[MemberConfig]:
    """``members`` with each change (oldest first) applied: add, remove or change an address."""
    for change in changes:
        members = apply_change(members, change)
    return members


def apply_change(members: list[MemberConfig], change: dict) -> list[MemberConfig]:
    op, email = change["op"], (change.get("email") or "").lower()
    if op == "add":
        return _add(members, change["agency"], email, bool(change.get("social_work")),
                    bool(change.get("may_submit", True)))
    out = []
    for m in members:
        contacts = m.contacts
        if op == "remove":
            contacts = tuple(c for c in contacts if c != email)
        elif op == "change":
            new = (change.get("new_email") or "").lower()
            contacts = tuple(new if c == email else c for c in contacts)
        if contacts:
            out.append(MemberConfig(m.agency, contacts, m.social_work, m.may_submit, m.sensitive))
    return out


def _add(members: list[MemberConfig], agency: str, email: str, social_work: bool,
         may_submit: bool) -> list[MemberConfig]:
    out, done = [], False
    for m in members:
        if m.agency.lower() == agency.lower() and not done:
            m = MemberConfig(m.agency, tuple(dict.fromkeys(m.contacts + (email,))), m.social_work or social_work,
                             m.may_submit and may_submit, m.sensitive)
            done = True
        out.append(m)
    if not done:
        out.append(MemberConfig(agency, (email,), social_work, may_submit))
    return out
