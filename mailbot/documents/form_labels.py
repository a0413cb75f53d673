"""The labels of a Referral Form (rules/form_labels.toml): which field a label means, in which section.

Pure data loading and matching, shared by the reader (documents.referral) and the recall check
(documents.recall)."""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from mailbot.paths import shipped

RULES = shipped("rules") / "form_labels.toml"

_APOS = "'’‘`´ʼ"


def _drop_bracketed(s: str) -> str:
    """``re.sub(r"\\([^)]*\\)|\\[[^\\]]*\\]", " ", s)`` in one pass: the pattern read the rest of the text
    again from every opener that has no closer after it (100,000 "(": 5.8 s a call, and a paragraph is
    compared with the labels many times)."""
    out: list[str] = []
    i, n = 0, len(s)
    nxt = {"(": -1, "[": -1}  # the next opener of each kind at or after i (-1: look again; n: none left)
    while True:
        for o in nxt:
            if nxt[o] < i and nxt[o] != n:
                f = s.find(o, i)
                nxt[o] = f if f >= 0 else n
        p = min(nxt.values())
        if p >= n:
            break
        q = s.find(")" if s[p] == "(" else "]", p + 1)
        if q < 0:  # no closer after p: neither this opener nor any later one of its kind matches
            nxt[s[p]] = n
            continue
        out += [s[i:p], " "]
        i = q + 1
    out.append(s[i:])
    return "".join(out)


def canon(text: str) -> str:
    """A label or value, normalised for comparison."""
    s = (text or "").lower()
    s = _drop_bracketed(s)
    s = re.sub(r"^\s*(?:section\s+)?(?:\d{1,2}[a-z]?|[a-z])[.)]\s+", "", s)
    s = re.sub(r"^\s*(?:q\s?\d{1,2}[.):]?|\d{1,2}[.):]?)\s+", "", s)
    s = re.sub(rf"[.{_APOS}*]", "", s)
    s = re.sub(r"[^\w]+", " ", s)
    return s.strip()


@dataclass(frozen=True)
class Rules:
    exact: dict  # canon label -> key
    section_exact: dict  # canon label -> list[(key, sections)]
    contains: tuple  # ((phrase, key), ...)
    tags: dict  # canon tag -> key
    section_order: tuple
    section_phrases: dict
    columns: dict  # column key -> set of canon labels
    values: dict  # name -> set of canon values
    relatives: frozenset = frozenset()  # canon labels naming a family member by relationship


@lru_cache(maxsize=4)
def load_rules(path: str | os.PathLike = RULES) -> Rules:
    data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    exact: dict[str, str] = {}
    section_exact: dict[str, list] = {}
    contains: list[tuple[str, str]] = []
    tags: dict[str, str] = {}
    for key, spec in data["fields"].items():
        for lab in spec.get("labels", []):
            exact.setdefault(canon(lab), key)
        for lab in spec.get("section_labels", []):
            section_exact.setdefault(canon(lab), []).append((key, tuple(spec.get("sections", []))))
        for ph in spec.get("contains", []):
            contains.append((canon(ph), key))
        for tag in spec.get("tags", []):
            tags.setdefault(_canon_tag(tag), key)
    secs = data["sections"]
    order = tuple(secs["order"])
    phrases = {k: tuple(canon(p) for p in secs[k]) for k in order}
    columns = {k: frozenset(canon(v) for v in vals) for k, vals in data["columns"].items()}
    values = {k: frozenset(canon(v) for v in vals) for k, vals in data["values"].items()}
    contains.sort(key=lambda kv: -len(kv[0]))
    relatives = frozenset(canon(x) for x in data.get("relatives", {}).get("labels", []))
    return Rules(exact, section_exact, tuple(contains), tags, order, phrases, columns, values, relatives)


_SIBLING_WORDS = ("sibling", "brother", "sister")


def _relationship_of(c: str) -> str:
    rel = re.sub(r"\b(?:s\s+)?names?$", "", c).strip()
    rel = re.sub(r"s$", "", rel) if rel.endswith(("siblings", "parents", "grandparents", "carers")) else rel
    if any(w in rel for w in _SIBLING_WORDS):
        return "sibling"
    if "household" in rel or "family member" in rel or rel.startswith("other"):
        return "family member"
    return rel.replace("step ", "step")


def _canon_tag(tag: str) -> str:
    return re.sub(r"[^a-z0-9]", "", tag.lower())


def match_label(label: str, section: str | None, rules: Rules, *, loose: bool = True) -> str | None:
    """The field key a label means in this section, or None."""
    c = canon(label)
    if not c or len(c) > 120:
        return None
    key = rules.exact.get(c)
    if key:
        return key
    if c in rules.relatives:
        return "relative:" + _relationship_of(c)
    for key, secs in rules.section_exact.get(c, ()):
        if (section or "start") in secs:
            return key
    if loose:
        padded = f" {c} "
        for phrase, key in rules.contains:
            if f" {phrase} " in padded:
                return key
    return None


def section_of(text: str, rules: Rules) -> str | None:
    c = canon(text)
    if not c:
        return None
    padded = f" {c} "
    for sec in rules.section_order:
        for ph in rules.section_phrases[sec]:
            if f" {ph} " in padded:
                return sec
    return None
