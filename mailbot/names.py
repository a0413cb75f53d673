"""Protected names: every way a young person's or family member's name can be written.

Pure functions. :func:`protected_names` turns the people on a Referral Form
into the list of texts to replace (full name, first name, surname, known-as,
other surnames, parts of double-barrelled surnames, family names) with what
replaces each (the child's case code, or a neutral placeholder for family).
:func:`build_matcher` compiles them into ONE regular expression that runs on
a *folded* form of the text: lower case, accents removed (Seán = Sean), every
apostrophe style the same (O'Neill = O’Neill = O`Neill), every dash and space
the same. Folding keeps the text length, so a match maps straight back to the
original text.

Names that are also ordinary words (rules/ordinary_words.txt: Grace, Will,
Rose...) are matched only when written Capitalised or in CAPITALS.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from .config import shipped

RULES_DIR = shipped("rules")

#: name particles that are never protected on their own ("Ní", "van", "de")
PARTICLES = frozenset(
    "ni nic mac mc o ui uí van von der den de la le du da di del della dos das bin ben al el st ap".split()
)
#: placeholder texts that are not names (a form's "None", "N/A" answers)
NOT_A_NAME = frozenset(
    "none n/a na nil no - -- unknown not known tbc tba n.a. not applicable".split()
)

PARENT_WORDS = ("mother", "father", "mum", "dad", "parent", "carer", "guardian", "step", "foster",
                "stepmother", "stepfather", "grandparent", "grandmother", "grandfather", "kinship")
PLACEHOLDER_PARENT = "[parent/carer]"
PLACEHOLDER_FAMILY = "[family member]"

_APOSTROPHES = "'’‘`´ʼʹ′‛"
_DASHES = "-‐‑‒–—―−"
_SPACES = " \u00a0\u2007\u202f\u2009\u200a\u2002\u2003\u2004\u2005\u2006\u2008\u205f\u3000\t"


class _FoldTable(dict):
    """str.translate table mapping every character to exactly one folded character."""

    def __missing__(self, ordinal: int) -> str:
        ch = chr(ordinal)
        if ch in _APOSTROPHES:
            out = "'"
        elif ch in _DASHES:
            out = "-"
        elif ch in _SPACES:
            out = " "
        else:
            base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
            base = base.casefold()
            out = base[0] if base else ch
            if len(out) != 1:  # pragma: no cover - defensive
                out = ch
        self[ordinal] = out
        return out


_FOLD = _FoldTable()


_ASCII_FIX = str.maketrans({"`": "'", "\t": " "})


def fold(text: str) -> str:
    """Lower case, accents off, one apostrophe/dash/space style. Same length as ``text``."""
    if text.isascii():  # fast path: ASCII lower() keeps the length
        text = text.lower()
        return text.translate(_ASCII_FIX) if ("`" in text or "\t" in text) else text
    return text.translate(_FOLD)


@dataclass(frozen=True)
class ProtectedName:
    text: str          # the name as written on the form
    replacement: str   # case code (CN78) or placeholder ([parent/carer])
    kind: str          # child-full, child-first, child-surname, known-as, other-surname,
                       # surname-part, family-full, family-part
    ordinary: bool = False  # also an ordinary word: match Capitalised/UPPER only

    @property
    def key(self) -> str:
        return _key(self.text)


def _key(text: str) -> str:
    """The identity of a name or a matched text: folded, separators and apostrophes removed."""
    return re.sub(r"[\s._'\-]+", "", fold(text))


@lru_cache(maxsize=1)
def ordinary_words() -> frozenset[str]:
    path = RULES_DIR / "ordinary_words.txt"
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:  # pragma: no cover - rules file missing: protect everything
        return frozenset()
    return frozenset(fold(l.strip()) for l in lines if l.strip() and not l.lstrip().startswith("#"))


def _clean(text) -> str:
    if not text:
        return ""
    text = re.sub(r"\s+", " ", str(text)).strip().strip(",;:")
    if fold(text).strip(" .") in NOT_A_NAME or len(_key(text)) < 2:
        return ""
    return text


def _as_list(value) -> list[str]:
    if not value:
        return []
    if isinstance(value, str):
        value = re.split(r"[,;/]| and ", value)
    return [v for v in (_clean(x) for x in value) if v]


def _words(name: str) -> list[str]:
    return [w for w in re.split(r"[\s]+", name) if w]


def _parts(name: str) -> list[str]:
    """Single words and the pieces of hyphenated words, without particles."""
    out = []
    for w in _words(name):
        out.append(w)
        pieces = [p for p in re.split("[" + _DASHES + "]", w) if p]
        if len(pieces) > 1:
            out.extend(pieces)
    return [p for p in (_clean(x) for x in out) if p and fold(p).strip(".'") not in PARTICLES]


def _split_person(person: dict) -> tuple[str, str, str]:
    full = _clean(person.get("name") or "")
    first = _clean(person.get("first_name") or person.get("first") or "")
    surname = _clean(person.get("surname") or person.get("last_name") or "")
    if full and not (first or surname):
        words = _words(full)
        if len(words) >= 2:
            first, surname = words[0], " ".join(words[1:])
        else:
            first = full
    if not full:
        full = " ".join(x for x in (first, surname) if x)
    return full, first, surname


def _family_placeholder(relationship: str) -> str:
    rel = fold(relationship or "")
    return PLACEHOLDER_PARENT if any(w in rel for w in PARENT_WORDS) else PLACEHOLDER_FAMILY


def protected_names(children: list[dict], family: list[dict], codes: list[str]) -> list[ProtectedName]:
    """Every variant of every protected name, with its replacement. Children come first.

    ``children`` are dicts with name / first_name (or first) / surname / known_as /
    other_surnames; ``family`` dicts have name and relationship; ``codes[i]`` is the
    case code of ``children[i]``.
    """
    if len(codes) < len(children):
        raise ValueError("one case code is needed per young person")
    ordinary = ordinary_words()
    seen: dict[str, ProtectedName] = {}

    def add(text: str, replacement: str, kind: str) -> None:
        text = _clean(text)
        if not text:
            return
        key = _key(text)
        if key in seen:  # first (child, then earlier child) wins
            return
        single = len(_words(text)) == 1 and not re.search("[" + _DASHES + "]", text)
        seen[key] = ProtectedName(text, replacement, kind, single and fold(text) in ordinary)

    child_surnames: list[tuple[str, str]] = []
    for child, code in zip(children, codes):
        full, first, surname = _split_person(child)
        add(full, code, "child-full")
        if first and surname:
            add(f"{first} {surname}", code, "child-full")
        for k in _as_list(child.get("known_as")):
            if surname:
                add(f"{k} {surname}", code, "child-full")
        for other in _as_list(child.get("other_surnames")):
            if first:
                add(f"{first} {other}", code, "child-full")
        if first:
            add(first, code, "child-first")
            for part in _parts(first):
                add(part, code, "child-first")
        if surname:
            add(surname, code, "child-surname")
            child_surnames.append((surname, code))
        for k in _as_list(child.get("known_as")):
            add(k, code, "known-as")
        for other in _as_list(child.get("other_surnames")):
            add(other, code, "other-surname")
            for part in _parts(other):
                add(part, code, "surname-part")
        for w in _words(full)[1:-1]:  # middle names
            if fold(w).strip(".'") not in PARTICLES:
                add(w, code, "child-first")
        for part in _parts(surname or ""):
            add(part, code, "surname-part")
        for part in _parts(full):
            add(part, code, "surname-part")
    for member in family:
        full, first, surname = _split_person(member)
        placeholder = _family_placeholder(member.get("relationship") or "")
        add(full, placeholder, "family-full")
        if first and surname:
            add(f"{first} {surname}", placeholder, "family-full")
        for part in [first, surname] + _parts(full):
            if part:
                add(part, placeholder, "family-part")
    return list(seen.values())


# -- matching --------------------------------------------------------------

_SEP = r"[\s._\-']*"
_BEFORE = r"(?<![^\W_])"   # not preceded by a letter or digit
_AFTER = r"(?![^\W_])"     # not followed by a letter or digit


def _pattern(name: str) -> str:
    out = []
    for chunk in re.split(r"([\s._\-]+|')", fold(name)):
        if not chunk:
            continue
        if chunk == "'" or re.fullmatch(r"[\s._\-]+", chunk):
            if not out or out[-1] != _SEP:
                out.append(_SEP)
        else:
            out.append(re.escape(chunk))
    return "".join(out)


MONTHS = frozenset("january february march april may june july august september october november december".split())
_DAY_BEFORE = re.compile(r"\d{1,2}(?:st|nd|rd|th)?(?: of)? $")
_DAY_OR_YEAR_AFTER = re.compile(r"^,? \d{1,4}(?!\d)")


def _in_date(folded: str, start: int, end: int) -> bool:
    return bool(_DAY_BEFORE.search(folded[max(0, start - 12):start])
                or _DAY_OR_YEAR_AFTER.match(folded[end:end + 8]))


@dataclass(frozen=True)
class Match:
    start: int
    end: int
    name: ProtectedName


class Matcher:
    """One compiled regular expression over folded text for a list of protected names."""

    def __init__(self, names: list[ProtectedName]):
        self.names = list(names)
        self.by_key = {n.key: n for n in self.names}
        alts = sorted({_pattern(n.text) for n in self.names}, key=lambda p: (-len(p), p))
        if alts:
            body = "|".join(alts)
            self.regex = re.compile(f"{_BEFORE}(?:{body}){_AFTER}")
        else:
            self.regex = re.compile(r"(?!x)x")
        # For each name, its longest run of letters/digits (folded): a name can only
        # be in a text whose folded form contains that run.
        anchors = set()
        for n in self.names:
            runs = re.findall(r"[^\W_]+", fold(n.text))
            if runs:
                anchors.add(max(runs, key=len))
        self.anchors = tuple(sorted(anchors, key=len))
        # the anchors that can occur in pure-ASCII text, as bytes
        self.ascii_anchors = tuple(a.encode("ascii") for a in self.anchors if a.isascii())

    def _name_for(self, matched: str) -> ProtectedName | None:
        return self.by_key.get(_key(matched))

    def finditer(self, text: str):
        """Matches in ``text`` (original text; folding is done here)."""
        if not self.names or not text:
            return
        folded = fold(text)
        for m in self.regex.finditer(folded):
            name = self._name_for(m.group())
            if name is None:  # pragma: no cover - every alternative has a key
                name = ProtectedName(m.group(), "[name removed]", "unknown")
            if name.ordinary:
                original = text[m.start():m.end()]
                if not original[:1].isupper():
                    continue
                if m.group() in MONTHS and _in_date(folded, m.start(), m.end()):
                    continue  # "10 May 2012", "May 10th": a date, not a person
            yield Match(m.start(), m.end(), name)

    def search(self, text: str) -> Match | None:
        for m in self.finditer(text):
            return m
        return None

    def sub(self, text: str) -> tuple[str, int]:
        """Replace every match; returns (new text, number replaced)."""
        pieces, last, count = [], 0, 0
        for m in self.finditer(text):
            pieces.append(text[last:m.start])
            pieces.append(m.name.replacement)
            last = m.end
            count += 1
        if not count:
            return text, 0
        pieces.append(text[last:])
        return "".join(pieces), count

    def maybe_in(self, text: str) -> bool:
        """Cheap superset test: could ``text`` contain a name anywhere (no boundaries, any case)?"""
        if not self.anchors:
            return False
        folded = fold(text)
        return any(a in folded for a in self.anchors)


def build_matcher(names: list[ProtectedName]) -> Matcher:
    return Matcher(names)
