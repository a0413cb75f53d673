"""The minutes' body as paragraphs and tables, and the small text helpers every part of the reader shares.

The body comes from :mod:`mailbot.documents.text` (lxml only) as :class:`Para` and :class:`Table` in
reading order; the helpers clean a value, compare names, split lists and read a table cell. The
reader's words are data: :func:`minutes_rules` reads rules/minutes_labels.toml once.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache

from mailbot.documents import minutes_decisions as decisions
from mailbot.documents import text as docx_text
from mailbot.documents.package import Package

RULES = decisions.RULES_FILE  # rules/minutes_labels.toml


@lru_cache(maxsize=1)
def minutes_rules() -> dict:
    """rules/minutes_labels.toml, read once: the labels, sections and next-meeting words."""
    return tomllib.loads(RULES.read_text(encoding="utf-8"))


# -- reading the document's text ------------------------------------------------------

@dataclass
class Para:
    text: str
    style: str = ""


@dataclass
class Table:
    rows: list[list[str]]


def document_blocks(pkg: Package) -> list:
    """The body as Para and Table (cell texts), in reading order, via mailbot.documents.text."""
    out: list = []
    for b in docx_text.blocks(pkg):
        if isinstance(b, docx_text.Table):
            out.append(Table([[c.text.replace("\u00a0", " ") for c in row] for row in b.rows]))
        else:
            out.append(Para(b.text.replace("\u00a0", " "), b.style))
    return out


# -- small text helpers ---------------------------------------------------------------

DASHES = "\u2013\u2014\u2012\u2015"
_SPACE = re.compile(r"[ \t\u00a0\u2002\u2003\u2009]+")
# the local part bounded and possessive: read from each letter of a long word (200,000 letters: 90 s); every
# address with a local part up to 256 characters is found as before
EMAIL = re.compile(r"[\w.+'-]{1,256}+@[\w-]+(?:\.[\w-]+)+")
NONE_WORDS = {"", "none", "n/a", "na", "nil", "no", "no apologies", "none received", "-"}


def clean(text: str | None) -> str:
    return _SPACE.sub(" ", (text or "").replace("\u200b", "")).strip(" \t:;,.-" + DASHES)


def norm(text: str) -> str:
    return re.sub(r"[^a-z0-9@]+", " ", text.lower()).strip()


def strip_parens(text: str) -> str:
    return clean(re.sub(r"\s*\([^()]*\)\s*$", "", text.strip()))


def split_top(text: str, seps: str = ",;") -> list[str]:
    """Split on separators that are not inside parentheses."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth = max(0, depth - 1)
        if ch in seps and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


# -- tables ----------------------------------------------------------------------------

def header_map(row: list[str], wanted: dict[str, tuple[str, ...]]) -> dict[str, int]:
    cols: dict[str, int] = {}
    for i, cell in enumerate(row):
        c = norm(cell)
        for key, words in wanted.items():
            if key in cols:
                continue
            if any(c == w or c.startswith(w + " ") or (" " in w and w in c) for w in words):
                cols[key] = i
                break
    return cols


def cell(row: list[str], i: int | None) -> str | None:
    if i is None or i >= len(row):
        return None
    v = clean(row[i]) if not EMAIL.fullmatch(row[i].strip()) else row[i].strip()
    return v or None
