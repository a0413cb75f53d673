"""The top of the minutes: the labelled header fields, the Case Number, and whether the document is minutes at all.

The header is everything before the first numbered section, typed on one line ("Case Number: CN12
Lead Agency: X"), one label per line, or in a table (label | value cells, or a row of labels over a
row of values). The Case Number may instead be in the title line or the page header. Refusals are
plain sentences that never quote the document.
"""

from __future__ import annotations

import re

from mailbot.documents import text as docx_text
from mailbot.documents.minutes.actions import is_action_table
from mailbot.documents.minutes.blocks import Para, Table
from mailbot.documents.minutes.labels import MINUTES_TITLE, is_bare_label, section_of, split_labelled
from mailbot.documents.minutes.people import is_attendance_table
from mailbot.documents.minutes.result import NotMinutes
from mailbot.documents.package import Package
from mailbot.errors import BadField

_CASE_CODE = re.compile(r"\bCN\s*-?\s*(\d{1,6})([A-Z])?\b", re.I)
_REFERRAL_HINT = re.compile(r"referral\s+form|name\s+of\s+(?:the\s+)?(?:young\s+person|child)|young\s+person'?s\s+name",
                            re.I)


def header_pairs(blocks: list) -> tuple[dict[str, str], int]:
    """Labelled header fields from the blocks before the first numbered section.

    Returns the fields (first value wins) and the index of the first section block.
    """
    fields: dict[str, str] = {}
    first_section = len(blocks)
    for i, b in enumerate(blocks):
        if isinstance(b, Para) and section_of(b):
            first_section = i
            break
    pending: str | None = None  # "Apologies:" on its own line, names below
    for b in blocks[:first_section]:
        if isinstance(b, Para):
            pending = _paragraph_pairs(b, fields, pending)
        else:
            pending = None
            _table_pairs(b, fields)
    return fields, first_section


def _add(fields: dict[str, str], kind: str, value: str) -> None:
    if value.strip() and kind not in fields:
        fields[kind] = value.strip()


def _paragraph_pairs(b: Para, fields: dict[str, str], pending: str | None) -> str | None:
    """The labelled lines of a paragraph; a label left without a value takes the lines below it.
    Returns the label still waiting for its value."""
    for line in b.text.split("\n"):
        pairs = split_labelled(line)
        if pairs:
            for kind, value in pairs:
                _add(fields, kind, value)
            pending = pairs[-1][0] if not pairs[-1][1] else None
        elif pending and line.strip():
            fields[pending] = (fields.get(pending, "") + "\n" + line).strip()
    return pending


def _table_pairs(b: Table, fields: dict[str, str]) -> None:
    """A header table: a row of bare labels over a row of values, or label | value cells."""
    rows = b.rows
    if is_attendance_table(b) or is_action_table(b):
        return
    # a header row of bare labels and a row of values below
    if len(rows) >= 2 and rows[0] and all(is_bare_label(c) for c in rows[0] if c.strip()) \
            and any(c.strip() for c in rows[0]):
        for label_cell, value_cell in zip(rows[0], rows[1]):
            kind = is_bare_label(label_cell)
            if kind:
                _add(fields, kind, value_cell)
        return
    for row in rows:
        cells = [c for c in row]
        j = 0
        while j < len(cells):
            cell = cells[j]
            kind = is_bare_label(cell) if cell.strip() else None
            if kind and j + 1 < len(cells):  # "Case Number" | "CN15"
                _add(fields, kind, cells[j + 1])
                j += 2
                continue
            for line in cell.split("\n"):
                for k, v in split_labelled(line):
                    _add(fields, k, v)
            j += 1


def title_text(blocks: list, first_section: int) -> str:
    """The first paragraphs before the first section, where the title is."""
    return " ".join(b.text for b in blocks[:first_section][:6] if isinstance(b, Para))


def check_not_empty(blocks: list) -> None:
    if not any((isinstance(b, Para) and b.text.strip()) or isinstance(b, Table) for b in blocks):
        raise NotMinutes("The document is empty; please attach the minutes of the Network Case Meeting.")


def check_is_minutes(blocks: list, fields: dict[str, str], title: str) -> None:
    """Minutes have at least two of: a minutes title, a Chair or Minutes taker, In Attendance or
    Apologies, two template sections, an attendance sheet. Otherwise NotMinutes (a referral form is
    named as such)."""
    sections_present = {s for b in blocks if isinstance(b, Para) for s in [section_of(b)] if s}
    looks_like_minutes = (
        bool(MINUTES_TITLE.search(title))
        + ("chair" in fields or "minutes_taker" in fields)
        + ("in_attendance" in fields or "apologies" in fields)
        + (len(sections_present) >= 2)
        + any(is_attendance_table(b) for b in blocks if isinstance(b, Table))
    ) >= 2
    if not looks_like_minutes:
        if any(isinstance(b, Para) and _REFERRAL_HINT.search(b.text) for b in blocks) or any(
                isinstance(b, Table) and any(_REFERRAL_HINT.search(c) for r in b.rows for c in r) for b in blocks):
            raise NotMinutes("This looks like a Referral Form, not minutes of a Network Case Meeting.")
        raise NotMinutes("This document does not look like minutes of a Network Case Meeting "
                         "(no Chair, Attendance or Actions); please use the minutes template.")


def _case_code(value: str) -> str | None:
    m = _CASE_CODE.search(value or "")
    if not m:
        return None
    return f"CN{int(m[1])}{(m[2] or '').upper()}"


def case_code(pkg: Package, fields: dict[str, str], title: str) -> str:
    """The Case Number of the header, else of the title line, else of the page header; BadField if none."""
    code = _case_code(fields.get("case_code", ""))
    if code is None:
        # the code may have been typed in the title line ("Minutes – CN12")
        code = _case_code(title)
    if code is None:
        # or in the page header ("CN12 – Network Case Meeting Minutes")
        for part in docx_text.text_parts(pkg):
            if part.startswith("word/header"):
                code = _case_code(docx_text.text_of(docx_text.blocks(pkg, part)))
                if code:
                    break
    if code is None:
        raise BadField("The minutes have no Case Number (like CN12) at the top; "
                       "please add it and send them again.")
    return code
