"""The minutes as units of text that can speak of an exit, a handover or the next meeting, each with where it is.

What the minutes say is read by :mod:`mailbot.documents.minutes_decisions` (three values: agreed / not /
unclear); this module walks the document, says where each line is in the reader's own words (a section
and a paragraph, table or row number, never the document's text) and finds the labels on a line.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailbot.documents.minutes.blocks import Para
from mailbot.documents.minutes.labels import LABEL_AT_START, MINUTES_TITLE, SECTION_TABLE, is_bare_label, \
    section_number, section_of, split_labelled
from mailbot.documents.minutes.people import is_attendance_table


@dataclass
class Unit:
    text: str
    where: str
    section: str | None  # None: before the first section (title and header)
    title: bool = False
    row: list[str] | None = None  # a table row (the cells) when the text is one of its cells
    cell: int = 0


def _where_section(kind: str | None, number: int | None) -> str:
    if kind is None:
        return "the header"
    name = SECTION_TABLE["names"].get(kind, kind)
    return f"section {number} ({name})" if number else f"the section {name}"


def units(blocks: list, first_section: int) -> list[Unit]:
    """Every paragraph line and table cell that can speak of an exit, a handover or the next meeting,
    in reading order, with where it is. The attendance sheet and the template's notes are left out."""
    out: list[Unit] = []
    section, number, paragraph, table = None, None, 0, 0
    title_seen = False
    for i, b in enumerate(blocks):
        if isinstance(b, Para):
            kind = section_of(b) if i >= first_section else None
            if kind:
                section, number, paragraph, table = kind, section_number(b, kind), 0, 0
                continue
            if section == "notes" or not b.text.strip():
                continue
            paragraph += 1
            is_title = (section is None and not title_seen and bool(MINUTES_TITLE.search(b.text))
                        and not split_labelled(b.text.strip()))
            title_seen = title_seen or is_title
            where = "the title" if is_title else (
                f"{_where_section(section, number)}, line {paragraph}" if section is None
                else f"{_where_section(section, number)}, paragraph {paragraph}")
            for line in b.text.split("\n"):
                if line.strip():
                    out.append(Unit(line.strip(), where, section, title=is_title))
        else:
            if section in ("notes", "attendance") or is_attendance_table(b):
                continue
            table += 1
            for r, row in enumerate(b.rows, 1):
                for c, cell in enumerate(row):
                    for line in cell.split("\n"):
                        if line.strip():
                            out.append(Unit(line.strip(), f"{_where_section(section, number)}, table {table}, "
                                                          f"row {r}", section, row=row, cell=c))
    return out


def labelled(unit: Unit, all_units: list[Unit], i: int) -> list[tuple[str, str, str]]:
    """(kind, label text, value) of the labels on a line: "Exit agreed: Yes", a cell "Exit agreed"
    with "No" in the next cell, a heading "Date for the next meeting" with the date on the next line."""
    text = unit.text.lstrip("•·*►▪-–— \t")
    out = []
    m = LABEL_AT_START.match(text)
    pairs = split_labelled(text)
    if pairs:
        label_text = m.group(0) if m else ""
        for n, (kind, value) in enumerate(pairs):
            out.append((kind, label_text if n == 0 else "", value))
    elif len(text) < 80 and is_bare_label(text):
        kind = is_bare_label(text)
        value = ""
        if unit.row is not None:
            if unit.cell + 1 < len(unit.row):
                value = unit.row[unit.cell + 1].strip()
        else:
            for nxt in all_units[i + 1: i + 3]:  # the value on the next line
                if nxt.row is None and not split_labelled(nxt.text) and not is_bare_label(nxt.text):
                    value = nxt.text
                break
        out.append((kind, text, value))
    return out
