"""The change line of a Master List email: what changed since the last version, by case code only. Pure.

    change_line([("CN81", "added"), ("CN82A", "added"), ("CN82B", "added"), ("CN64", "closed")])
    -> "added CN81, CN82A/B; closed CN64"

Changes come from the store's ``master_list_changes`` rows (mailbot.store.cases), never from the
workbooks: the line holds codes and fixed words, never a name. Siblings of one family number are
written together (CN82A/B); the kinds come in a fixed order; a code is named once per kind.
"""

from __future__ import annotations

import re

#: (stored kind, words in the line), in the order they are written
KINDS: tuple[tuple[str, str], ...] = (
    ("added", "added"),
    ("closed", "closed"),
    ("lead", "new lead agency"),
    ("social-work", "Social Work status"),
    ("meeting", "next meeting"),
    ("detained", "in detention"),
    ("released", "released from detention"),
    ("updated", "updated"),
)
_WORDS = dict(KINDS)
_CODE = re.compile(r"^CN(\d+)([A-Z]?)$")


def _code_key(code: str) -> tuple[int, str, str]:
    m = _CODE.match(code)
    return (int(m.group(1)), m.group(2), "") if m else (1 << 30, "", code)


def group_codes(codes) -> list[str]:
    """Sorted, de-duplicated codes with the siblings of one number joined: CN82A, CN82B -> CN82A/B."""
    out: list[str] = []
    seen: set[str] = set()
    family: dict[int, list[str]] = {}
    order: list[tuple] = []
    for code in sorted({c for c in codes if c}, key=_code_key):
        if code in seen:
            continue
        seen.add(code)
        m = _CODE.match(code)
        if m and m.group(2):
            number = int(m.group(1))
            if number not in family:
                family[number] = []
                order.append(("family", number))
            family[number].append(m.group(2))
        else:
            order.append(("code", code))
    for kind, value in order:
        if kind == "code":
            out.append(value)
        else:
            out.append(f"CN{value}" + "/".join(family[value]))
    return out


def change_line(changes) -> str:
    """The changes (code, kind) as one line; "" when there are none."""
    by_kind: dict[str, list[str]] = {}
    for code, kind in changes:
        kind = kind if kind in _WORDS else "updated"
        by_kind.setdefault(kind, []).append(code or "")
    parts = []
    for kind, words in KINDS:
        if kind not in by_kind:
            continue
        codes = group_codes(by_kind[kind])
        parts.append(f"{words} {', '.join(codes)}" if codes else words)
    return "; ".join(parts)


def keep_line(keep: int) -> str:
    """The request to delete older versions, for ``keep`` copies (0: no request)."""
    if keep <= 0:
        return ""
    if keep == 1:
        return ("Please delete every earlier version of the Master List from your mailbox and your "
                "computer: keep only this one.")
    return (f"Please keep only the latest {keep} versions of the Master List (this one and the "
            f"{keep - 1} before it) and delete older ones from your mailbox and your computer.")
