"""A text made ready for the gate's matching: normalised and tokenised once, whoever is protected.

The normaliser is the stripper's (mailbot.words.textnorm); the ordinary-word list is the one of
rules/ordinary_words.txt (mailbot.words.vocabulary), shared with the stripper and the verifier."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass

from mailbot.words import textnorm as _textnorm
from mailbot.words.vocabulary import ordinary_words as _ordinary_words

#: first names (and a few surnames) that are also ordinary English words
ORDINARY_WORDS = _ordinary_words()

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'", "\u00b4": "'", "\u02bc": "'",
                              "\u2032": "'", "\uff07": "'"})
_WORD = re.compile(r"[^\W\d_]+")  # letters only: digits separate words (rhodribeddoe2010)
WORD_START = r"(?<![^\W_])"
WORD_END = r"(?![^\W_])"


def normalise(text: str) -> str:
    """Accents and invisible characters stripped, look-alike letters Latin, apostrophes folded,
    case kept: the same normaliser as the stripper's (mailbot.words.textnorm)."""
    return _textnorm.normalise(text) if not text.isascii() else text.translate(_APOSTROPHES)


def fold(text: str) -> str:
    return normalise(text).casefold()


def tokens(name: str) -> list[str]:
    return _WORD.findall(fold(name))


@dataclass(frozen=True)
class Prepared:
    """A text ready to be matched against any gate: normalised and tokenised once.

    Which words a text holds does not depend on who is protected, so a prepared text can be
    checked again, in microseconds, after the set of names has changed. The text itself is
    kept only when it is short (``norm``). For a long text the capitalised words are kept
    instead (``caps``: the ASCII ones folded, ``odd``: the others as written), which is what
    the rule for ordinary-word names needs; the rare checks that need a long text itself (a
    multi-word name, an allowed staff name, an ordinary word that is not ASCII) make the gate
    read the whole message again from its bytes."""

    toks: tuple  # the folded words, each once, interned (shared by the many texts that hold them)
    norm: str | None
    caps: tuple = ()
    odd: tuple = ()


PREPARED_KEEP_CHARS = 512


def prepare(text: str, *, keep: bool = False) -> Prepared:
    norm = normalise(text) if text else ""
    if not norm:
        return Prepared((), norm)
    toks = tuple(map(sys.intern, set(_WORD.findall(norm.casefold()))))
    if keep or len(norm) <= PREPARED_KEEP_CHARS:
        return Prepared(toks, norm)
    capitalised = {w for w in _WORD.findall(norm) if w[0].isupper()}
    return Prepared(toks, None, tuple(sys.intern(w.casefold()) for w in capitalised if w.isascii()),
                    tuple(w for w in capitalised if not w.isascii()))


class NeedText(Exception):
    """A cached check needs a long text that was not kept: read the message again."""
