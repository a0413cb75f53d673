"""Sensitive services (sexual health, mental health, substance misuse; [[members]] sensitive = true).

Where a case has no recorded consent to share with such services (mailbot.casework.consent), a
sensitive member's involvement in it (as lead agency, organiser, the lead contact) is shown to the
OTHER members only as "an unspecified service". The member itself and the coordinator see it as it
is. Pure: who may see what, and the masking of a text.
"""

from __future__ import annotations

import re

from mailbot.casework.consent import UNSPECIFIED


def sensitive_member(members, agency: str):
    """The sensitive member whose agency this is, or None."""
    a = (agency or "").strip().lower()
    for m in members:
        if m.sensitive and m.agency.strip().lower() == a:
            return m
    return None


def hidden_member(members, agency: str, consent: bool):
    """The member to hide in what others receive about a case led by ``agency`` (None: nothing hidden)."""
    return None if consent else sensitive_member(members, agency)


def may_see(address: str, member, coordinators) -> bool:
    """The member itself and the coordinators see a sensitive member as it is."""
    a = (address or "").strip().lower()
    return a in {c.lower() for c in member.contacts} or a in {c.lower() for c in coordinators}


def split_recipients(to, member, coordinators) -> tuple[list[str], list[str]]:
    """(those who see the member as it is, the others) in ``to``'s order."""
    seeing = [a for a in to if may_see(a, member, coordinators)]
    return seeing, [a for a in to if a not in seeing]


def group_by_hidden(to, hidden, coordinators) -> list[tuple[list[str], tuple]]:
    """[(recipients, the members of ``hidden`` they may not see)] in ``to``'s order: each sensitive member
    sees itself, the coordinators see all of them, everyone else none."""
    groups: dict[tuple, list[str]] = {}
    for address in to:
        key = tuple(m for m in hidden if not may_see(address, m, coordinators))
        groups.setdefault(key, []).append(address)
    return [(group, key) for key, group in groups.items()]


def mask(text: str, member, *, label: str = UNSPECIFIED, extra=()) -> str:
    """``text`` with the member's agency name, its contact addresses (and ``extra`` words: the organiser's
    name or phone) replaced by the label, whole words, case-insensitively."""
    out = str(text or "")
    for word in sorted({member.agency, *member.contacts, *(w for w in extra if w and len(w) > 2)},
                       key=len, reverse=True):
        # the agency's name also inside a longer word ("...Teams"); an address only whole
        tail = r"(?![\w@])" if "@" in word else ""
        out = re.sub(rf"(?<![\w@.]){re.escape(word)}{tail}", label, out, flags=re.I)
    return out


def views(members, coordinators, lead_agency: str, consent: bool, to) -> list[tuple[list[str], object]]:
    """[(recipients, member to hide or None)]: the others' masked copy first, then those who see it as
    it is; [(to, None)] when nothing is hidden. Empty groups are left out."""
    hide = hidden_member(members, lead_agency, consent)
    if hide is None:
        return [(list(to), None)]
    seeing, others = split_recipients(list(to), hide, coordinators)
    return [(g, h) for g, h in ((others, hide), (seeing, None)) if g]


def mask_values(values: dict, member, *, label: str = UNSPECIFIED, extra=()) -> dict:
    """Template values with the member's name and addresses masked in every text value."""
    return {k: mask(v, member, label=label, extra=extra) if isinstance(v, str) else v for k, v in values.items()}
