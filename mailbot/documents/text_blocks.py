"""The blocks a Word document's text is read into: paragraphs, tables, cells, controls, fields.

Plain data, filled in by :mod:`mailbot.documents.text_reader` and queried through
:mod:`mailbot.documents.text`. Tick boxes are shown as the glyphs :data:`CHECKED` (☒) and
:data:`UNCHECKED` (☐).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

CHECKED = "\u2612"  # ☒
UNCHECKED = "\u2610"  # ☐
TICK = "\u2713"  # ✓
#: glyphs that mean "ticked" / "not ticked" when they stand alone by a label
TICKED_GLYPHS = frozenset("\u2612\u2611\u2713\u2714\u2716\u2717\u2718xX\u25a0\u25cf")
UNTICKED_GLYPHS = frozenset("\u2610\u25a1\u25cb\u274f")

# -- data ------------------------------------------------------------------

@dataclass
class ContentControl:
    """A Word content control (``w:sdt``)."""

    tag: str = ""
    alias: str = ""
    text: str = ""
    checked: bool | None = None  # None unless it is a check box
    kind: str = "text"  # text | richtext | checkbox | dropdown | date | other
    placeholder: bool = False  # showing its placeholder prompt: no real value

    @property
    def label(self) -> str:
        return self.alias or self.tag


@dataclass
class FormField:
    """A legacy form field (``w:fldChar`` with ``w:ffData``)."""

    name: str = ""
    kind: str = "text"  # text | checkbox | dropdown
    text: str = ""
    checked: bool | None = None


@dataclass
class Paragraph:
    text: str
    is_list: bool = False
    sdts: list[ContentControl] = field(default_factory=list)  # inline controls, in order
    fields: list[FormField] = field(default_factory=list)  # legacy form fields, in order
    style: str = ""  # paragraph style id (Heading1, ListBullet...)
    container: ContentControl | None = None  # the block-level control holding it, if any

    kind = "paragraph"

    @property
    def is_heading(self) -> bool:
        s = self.style.lower()
        return s.startswith("heading") or s == "title"


@dataclass
class Cell:
    text: str
    blocks: list["Block"] = field(default_factory=list)
    sdts: list[ContentControl] = field(default_factory=list)  # every control in the cell


@dataclass
class Table:
    rows: list[list[Cell]] = field(default_factory=list)

    kind = "table"

    @property
    def text(self) -> str:
        return "\n".join("\t".join(c.text for c in row) for row in self.rows)


Block = Union[Paragraph, Table]

