"""The labels and section headings of minutes: "Case Number:", "Chair –", "2 Actions decided", Yes / No.

Which words are labels and headings is data (rules/minutes_labels.toml [labels] and [sections]); this
module compiles them and splits a line into its labelled fields ("Case Number: CN12   Lead Agency: X"),
recognises a bare label in a table cell, a numbered section heading, and a yes/no answer.
"""

from __future__ import annotations

import re

from mailbot.documents.minutes.blocks import DASHES, Para, clean, minutes_rules
from mailbot.documents.minutes_decisions import AGREED, NOT

# -- header labels --------------------------------------------------------------------

# label name -> regex (matched case-insensitively, at the start of a segment, followed by ":" / tab):
# data, in rules/minutes_labels.toml [labels]
_RULES = minutes_rules()
_LABEL_TABLE = _RULES["labels"]
_LABELS: list[tuple[str, str]] = [(k, "|".join(f"(?:{p})" for p in _LABEL_TABLE[k])) for k in _LABEL_TABLE["order"]]
_LABEL_ALT = "|".join(f"(?P<{k}>{v})" for k, v in _LABELS)
# a label at the start of the text, then ":" (or a tab / dash)
LABEL_AT_START = re.compile(rf"^\s*(?:{_LABEL_ALT})\s*(?::|\t|\s[{DASHES}-]\s)\s*", re.I)
_DASH_OK = set(_LABEL_TABLE["dash_ok"])
_NOT_INLINE = set(_LABEL_TABLE["not_inline"])
_DASH_NOT = re.compile("|".join(_LABEL_TABLE["dash_not"]), re.I)
# a further label later on the same line (one-line header), preceded by whitespace
_LABEL_INLINE = re.compile(rf"(?:(?<=\s)|(?<=\|))(?:{_LABEL_ALT})\s*:\s*", re.I)
_YES = re.compile("|".join(_LABEL_TABLE["yes"]), re.I)
NO = re.compile("|".join(_LABEL_TABLE["no"]), re.I)
_YES_TICK = re.compile("|".join(_LABEL_TABLE["ticked_yes"]), re.I)  # the box stands before its answer
_NO_TICK = re.compile("|".join(_LABEL_TABLE["ticked_no"]), re.I)


def _label_kind(m: re.Match) -> str:
    return next(k for k, v in m.groupdict().items() if v is not None)


def split_labelled(line: str) -> list[tuple[str, str]]:
    """'Case Number: CN12   Lead Agency: X   Date: Y' -> [(case_code, CN12), (lead_agency, X), (date, Y)]."""
    m = LABEL_AT_START.match(line)
    if not m:
        return []
    if ":" not in m.group(0) and "\t" not in m.group(0) and (
            _label_kind(m) not in _DASH_OK or _DASH_NOT.fullmatch(m.group(m.lastgroup or 0) or "")):
        return []  # "Minutes – Network Case Meeting" is a title, not the minutes taker
    found = [(_label_kind(m), m.start(), m.end())]
    for im in _LABEL_INLINE.finditer(line, m.end()):
        kind = _label_kind(im)
        if kind in {k for k, _, _ in found}:
            continue  # the same label twice on a line is text, not a new field
        if kind in _NOT_INLINE:
            continue  # those words are common inside values
        found.append((kind, im.start(), im.end()))
    out = []
    for i, (kind, _s, e) in enumerate(found):
        end = found[i + 1][1] if i + 1 < len(found) else len(line)
        out.append((kind, line[e:end].strip()))
    return out


def is_bare_label(text: str) -> str | None:
    t = text.strip().rstrip(":").strip()
    m = re.fullmatch(rf"(?:{_LABEL_ALT})", t, re.I)
    return _label_kind(m) if m else None


def yes_no(value: str) -> str | None:
    """AGREED / NOT for a yes/no answer (or tick boxes), None when it is neither (or left blank)."""
    v = value.strip()
    if _YES_TICK.search(v):
        return AGREED
    if _NO_TICK.search(v):
        return NOT
    if any(box in v for box in "☐☒☑"):
        return None  # tick boxes, none ticked
    v = clean(v)
    if _YES.match(v):
        return AGREED
    if NO.match(v):
        return NOT
    return None


#: a title that says minutes ("Network Case Meeting Minutes", "Minutes – CN12")
MINUTES_TITLE = re.compile(r"\bminutes\b|\bcase\s+meeting\b|\bnetwork\s+meeting\b", re.I)


# -- sections -------------------------------------------------------------------------

SECTION_TABLE = _RULES["sections"]
_SECTIONS = [(k, "|".join(f"(?:{p})" for p in SECTION_TABLE[k])) for k in SECTION_TABLE["order"]]
_SECTION_RE = re.compile(
    r"^\s*(?:(?:section\s+)?(?P<number>\d{1,2})\s*[.):]?\s*)?(?:" + "|".join(f"(?P<{k}>{v})" for k, v in _SECTIONS)
    + r")\s*:?\s*$",
    re.I,
)


def section_of(para: Para) -> str | None:
    text = para.text.strip()
    if not text or len(text) > 80:
        return None
    m = _SECTION_RE.match(text)
    if not m:
        return None
    return next(k for k, v in m.groupdict().items() if v is not None and k != "number")


def section_number(para: Para, kind: str) -> int | None:
    """The number the minutes give the section ("3. Monitor and review"), else the template's."""
    m = _SECTION_RE.match(para.text.strip())
    if m and m["number"]:
        return int(m["number"])
    return SECTION_TABLE["numbers"].get(kind)
