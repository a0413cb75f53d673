"""One normaliser for every check on names: the stripper, its verifier, the recall check, the
leak gates (at queue time and before SMTP) and minutes.

A name can be written in many ways that a reader sees as the same word:

* accents, precomposed (é) or decomposed (e + U+0301): folded away (Seán = Sean);
* invisible characters inside it (soft hyphen, zero-width space/joiner/non-joiner, word
  joiner, BOM, bidi controls, variation selectors, any format character): removed;
* letters from another script that look Latin (a Cyrillic а inside a surname, Greek ο,
  fullwidth or mathematical letters): mapped to the Latin letter by Unicode's confusables
  data (UTS #39, from the maintained ``confusable_homoglyphs`` package);
* apostrophe, dash and space styles: one of each.

:func:`fold_map` returns the folded text and, when characters were removed, the index in the
original text of every folded character, so that a match on the folded text maps straight back
to the text as written (and the invisible characters inside a name are removed with it).
Pure functions, no I/O beyond loading the confusables table once.
"""

from __future__ import annotations

import json
import re
import unicodedata
from functools import lru_cache
from pathlib import Path

APOSTROPHES = "'’‘`´ʼʹ′‛＇"
DASHES = "-‐‑‒–—―−﹘﹣－"
SPACES = " \u00a0\u2007\u202f\u2009\u200a\u2002\u2003\u2004\u2005\u2006\u2008\u205f\u3000\t\u1680"


def _is_invisible(ch: str) -> bool:
    cat = unicodedata.category(ch)
    # Cf: soft hyphen, ZWSP/ZWNJ/ZWJ, word joiner, BOM, bidi controls; Mn/Me: combining marks
    # (decomposed accents), variation selectors
    return cat in ("Cf", "Mn", "Me") or ch in "\u034f\u115f\u1160\u3164\uffa0"


@lru_cache(maxsize=1)
def confusables() -> dict[str, str]:
    """Non-Latin (or non-ASCII) characters that look like one ASCII letter or digit -> that letter."""
    out: dict[str, str] = {}
    try:
        import confusable_homoglyphs
        path = Path(confusable_homoglyphs.__file__).with_name("confusables.json")
        data = json.loads(path.read_text(encoding="utf-8"))
    except Exception:  # pragma: no cover - the package is a dependency; fail towards more matches
        data = {}
    for ch, glyphs in data.items():
        if len(ch) != 1 or ch.isascii():
            continue
        targets = [g["c"] for g in glyphs if len(g.get("c", "")) == 1 and g["c"].isascii() and g["c"].isalpha()]
        if targets:
            # prefer a letter of the same case (Greek capital iota looks like I, not l)
            same = [t for t in targets if t.isupper() == ch.isupper()] if ch.isupper() or ch.islower() else []
            out[ch] = (same or targets)[0]
    # a few the table leaves out or maps elsewhere
    out.update({"ı": "i", "ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "đ": "d", "Đ": "D", "ħ": "h",
                "ŀ": "l", "ſ": "s", "ß": "s", "æ": "a", "Ι": "I", "І": "I", "Ӏ": "I", "ӏ": "i", "і": "i", "ι": "i", "ǀ": "I", "Æ": "A", "œ": "o", "Œ": "O", "þ": "t", "ð": "d"})
    return out


#: characters that are several letters (typographic ligatures, digraphs, sharp s)
LIGATURES = {"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl", "\ufb05": "st",
             "\ufb06": "st", "\u0132": "IJ", "\u0133": "ij", "\u01c4": "DZ", "\u01c5": "Dz", "\u01c6": "dz",
             "\u01c7": "LJ", "\u01c8": "Lj", "\u01c9": "lj", "\u01ca": "NJ", "\u01cb": "Nj", "\u01cc": "nj",
             "\u00df": "ss", "\u1e9e": "SS"}
_LETTER_NAME = re.compile(r"\bLATIN (?:(CAPITAL|SMALL) )?LETTER (?:SMALL CAPITAL |CAPITAL )?([A-Z])\b|"
                          r"^REGIONAL INDICATOR SYMBOL LETTER ([A-Z])$")


def _letter_by_name(ch: str, keep_case: bool) -> str | None:
    """The Latin letter a character is a form of, by its Unicode name (small capitals, letters with
    a hook or stroke, parenthesized letters, regional indicators), or None."""
    m = _LETTER_NAME.search(unicodedata.name(ch, ""))
    if not m:
        return None
    letter = m.group(2) or m.group(3)
    if not keep_case:
        return letter.lower()
    return letter if m.group(1) == "CAPITAL" else letter.lower()


class _Table(dict):
    """str.translate table: one character -> one folded character (several for a ligature), or None (removed)."""

    def __init__(self, keep_case: bool):
        super().__init__()
        self.keep_case = keep_case

    def __missing__(self, ordinal: int):
        ch = chr(ordinal)
        if ch in LIGATURES:  # one character, several letters: "ﬃ" in Griﬃths pasted from a PDF, ß
            out = LIGATURES[ch] if self.keep_case else LIGATURES[ch].lower()
        elif ch in APOSTROPHES:
            out = "'"
        elif ch in DASHES:
            out = "-"
        elif ch in SPACES:
            out = " "
        elif _is_invisible(ch):
            out = None
        else:
            base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
            if len(base) == 1 and not base.isascii():
                base = confusables().get(base, base)
            elif not base:
                base = ch
            elif len(base) > 1:
                base = confusables().get(ch, ch)
                if not base.isascii():
                    b2 = "".join(c for c in unicodedata.normalize("NFKD", base) if not unicodedata.combining(c))
                    base = b2 if len(b2) == 1 else base
            if not self.keep_case:
                low = base.casefold()
                base = low if len(low) == 1 else base.lower()[:1] or base
            out = base if len(base) == 1 else ch
            if not out.isascii() and unicodedata.category(ch)[0] in "LS":
                out = _letter_by_name(ch, self.keep_case) or out
        self[ordinal] = out
        return out


_LIGATURE_RE = re.compile("[" + "".join(LIGATURES) + "]")
_FOLD = _Table(keep_case=False)
_NORM = _Table(keep_case=True)
_ASCII_FIX = str.maketrans({"`": "'", "\t": " "})


def fold(text: str) -> str:
    """Lower case, accents and invisible characters off, look-alikes Latin, one style of
    apostrophe/dash/space. Shorter than ``text`` only when characters were removed, longer only
    for a ligature (ﬃ, ß)."""
    if text.isascii():
        text = text.lower()
        return text.translate(_ASCII_FIX) if ("`" in text or "\t" in text) else text
    return text.translate(_FOLD)


def normalise(text: str) -> str:
    """As :func:`fold` but keeping case (for the rule on names that are also ordinary words)."""
    if text.isascii():
        return text.translate(_ASCII_FIX) if ("`" in text or "\t" in text) else text
    return text.translate(_NORM)


def fold_map(text: str) -> tuple[str, list[int] | None]:
    """(folded text, index map). The map is None when every character was kept (the common
    case: folded[i] comes from text[i]); else map[i] is the index in ``text`` of folded[i],
    with one extra entry, len(text), at the end."""
    folded = fold(text)
    multi = _LIGATURE_RE.search(text) is not None
    if len(folded) == len(text) and not multi:
        return folded, None
    index = []
    for i, ch in enumerate(text):
        out = _FOLD[ord(ch)]
        if out is not None:
            index.extend([i] * len(out))  # a ligature's letters all come from it
    index.append(len(text))
    return folded, index


def span_back(index: list[int] | None, start: int, end: int) -> tuple[int, int]:
    """A span of the folded text as a span of the original text (invisible characters inside
    the span are part of it)."""
    if index is None:
        return start, end
    return index[start], (index[end - 1] + 1) if end > start else index[start]


#: digits written for the letters they look like, in handles ("k4cper_n0wicki"): one table for the
#: stripper (mailbot.documents.matcher) and the last gate (mailbot.gate.views)
DIGIT_LETTERS = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t"}
