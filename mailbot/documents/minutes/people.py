"""Who was at the meeting: the attendance sheet, "In Attendance" and "Apologies", and a person's name.

Names are read as written ("A (Agency), B (Agency) and C", "Name – Agency"); the attendance sheet is a
table whose header names a Name column and an Agency, Email or Phone column. Anyone "In Attendance" who
is not on the sheet is added after it.
"""

from __future__ import annotations

import re

from mailbot.documents.minutes.blocks import DASHES, NONE_WORDS, Table, cell, clean, header_map, norm, split_top, \
    strip_parens
from mailbot.documents.minutes.result import Attendee

_ATTEND_COLS = {
    "name": ("name", "full name", "attendee"),
    "agency": ("agency", "organisation", "organization", "service", "agency organisation"),
    "phone": ("phone", "phone no", "phone number", "tel", "telephone", "mobile", "contact number", "contact no"),
    "email": ("email", "e mail", "email address"),
}


def person_list(value: str) -> list[tuple[str, str | None]]:
    """'A (Agency), B (Agency) and C' -> [(A, Agency), (B, Agency), (C, None)]."""
    value = value.strip()
    if clean(value).lower() in NONE_WORDS:
        return []
    out = []
    for part in split_top(value, ",;\n"):
        subparts = re.split(r"\s+(?:and|&)\s+(?![^()]*\))", part) if "(" not in part or part.count("(") > 1 \
            else [part]
        for sp in subparts:
            sp = sp.strip().lstrip("•·*-–— \t").strip()
            if not sp or clean(sp).lower() in NONE_WORDS:
                continue
            m = re.match(r"^(?P<name>[^()]+?)\s*\((?P<agency>[^()]*)\)\s*$", sp)
            if m:
                out.append((clean(m["name"]), clean(m["agency"]) or None))
            else:
                m = re.match(rf"^(?P<name>[^{DASHES}]+?)\s+[{DASHES}-]\s+(?P<agency>.+)$", sp)
                if m:
                    out.append((clean(m["name"]), clean(m["agency"]) or None))
                else:
                    out.append((clean(sp), None))
    return [(n, a) for n, a in out if n]


def name_only(value: str | None) -> str | None:
    if value is None:
        return None
    people = person_list(value)
    if people:
        return people[0][0]
    v = clean(value)
    return v or None


def is_attendance_table(t: Table) -> tuple[dict[str, int], int] | None:
    """(column map, index of the first data row), looking for the header in the first two rows."""
    for i, row in enumerate(t.rows[:2]):
        cols = header_map(row, _ATTEND_COLS)
        if "name" in cols and ("agency" in cols or "email" in cols or "phone" in cols):
            return cols, i + 1
    return None


def attendees(blocks: list, in_attendance: str) -> list[Attendee]:
    """The attendance sheet(s), then anyone named "In Attendance" who is not on a sheet."""
    out: list[Attendee] = []
    for b in blocks:
        if isinstance(b, Table):
            found = is_attendance_table(b)
            if not found:
                continue
            cols, start = found
            for row in b.rows[start:]:
                name = cell(row, cols.get("name"))
                if not name:
                    continue
                out.append(Attendee(
                    name=strip_parens(name) or name,
                    agency=cell(row, cols.get("agency")),
                    phone=cell(row, cols.get("phone")),
                    email=cell(row, cols.get("email")),
                ))
    on_sheet = {norm(a.name) for a in out}
    for name, agency in person_list(in_attendance):
        if norm(name) not in on_sheet:
            out.append(Attendee(name=name, agency=agency))
            on_sheet.add(norm(name))
    return out


def apologies(value: str) -> list[str]:
    """The names under "Apologies" (their agencies left out)."""
    return [n for n, _a in person_list(value)]
