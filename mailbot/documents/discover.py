"""The names a form's own text introduces, beyond its fields.

:func:`discover` reads the texts of a form for nicknames ("known as Robbie", "friends call him
'Twm'", a quoted word beside a name), maiden and former names ("née Eynon"), relatives named
only in the prose ("her older brother Emrys") and one-letter typos of a name ("Padriag" for
Pádraig), and says whose each is. Pure; the texts are not kept.
"""

from __future__ import annotations

import re

from mailbot.documents.names import NOT_A_NAME
from mailbot.people import FamilyMember, YoungPerson
from mailbot.words.textnorm import fold
from mailbot.words.vocabulary import is_ordinary_word, nicknames_of, suffix_forms

_CAP = r"[A-Z\u00c0-\u024f\u0400-\u04ff][\w’'\-\u00ad\u200b-\u200d\u2060]*"
_Q_OPEN = "‘'\"“«„"
_Q_CLOSE = "’'\"”»“"
#: a name starts a word (not after a letter, nor after a letter and an apostrophe: O'|Neill): without it a
#: long run of letters is tried from every letter, which is quadratic (a crafted form would hang intake)
_START = r"(?<![\w\-\u00ad\u200b-\u200d\u2060])(?<!\w[’'])"
#: spaces, one optional separator, spaces: one way to read each run of spaces (no backtracking blow-up)
_SEP = r"\s*(?:[:,]\s*)?"
_INTRO = re.compile(  # "Known online as" may open a sentence; "Known as" alone is a form's label, not prose
    r"(?:(?:also\s+)?known\s+(?:(?:to|by|on|at|in)\s+)?(?:\w+\s+){0,2}as|"
    r"Known\s+(?:(?:to|by|on|at|in)\s+)?(?:\w+\s+){1,2}as|goes\s+by|go\s+by|going\s+by|nick-?named|"
    r"nickname(?:\s+is)?|"
    r"a\.?k\.?a\.?|calls?\s+(?:him|her|them)(?:self|selves)?|called|prefers?(?:\s+to\s+be\s+called)?|"
    r"answers\s+to|likes\s+to\s+be\s+called|referred\s+to\s+as)" + _SEP + r"(?:[" + _Q_OPEN + r"]\s*)?"
    + _START + r"(" + _CAP + r")",
)
# an introduction that leaves no doubt the next word is a name, even when it is also a word
# ("goes by Jazz", "calls herself Sky"): the word is protected when Capitalised
_STRONG_INTRO = re.compile(
    r"(?:known\s+(?:(?:to|by|on|at|in)\s+)?(?:\w+\s+){0,2}as|go(?:es|ing)?\s+by|nick-?named|nickname|a\.?k\.?a\.?|calls?\s+(?:him|her|them)"
    r"(?:self|selves)|answers\s+to|likes\s+to\s+be\s+called|prefers?\s+to\s+be\s+called|referred\s+to\s+as)",
    re.IGNORECASE)
_MAIDEN = re.compile(
    r"(?:n[ée]e|maiden\s+name(?:\s+(?:is|was|of))?|(?:formerly|previously)(?:\s+(?:known\s+as|called|named))?|"
    r"birth\s+name(?:\s+(?:is|was))?|"
    r"born|also\s+uses(?:\s+the\s+surname)?|surname\s+(?:was|used\s+to\s+be))" + _SEP + r"[" + _Q_OPEN
    + r"]?" + _START + r"(" + _CAP + r"(?:[\s\-]" + _CAP + r")?)",
    re.IGNORECASE,
)
_RELATIVE_WORDS = (
    r"(?:half[\s-]|step[\s-]?|twin\s+|older\s+|younger\s+|big\s+|little\s+|baby\s+|eldest\s+|elder\s+)*"
    r"(?:brother|sister|sibling|cousin|uncle|aunt|auntie|aunty|nan|nana|nanna|gran|granny|grandma|grandmother|"
    r"grandad|granddad|grandpa|grandfather|nephew|niece|mum|mom|mam|mother|dad|father|stepdad|stepmum|"
    r"step-?father|step-?mother|partner|boyfriend|girlfriend|son|daughter|carer|guardian|godmother|godfather)"
)
_RELATIVE_BEFORE = re.compile(
    r"(?i:\b(?:his|her|their|the|a|an|whose|and|with|my|your|'s|’s)\s+" + _RELATIVE_WORDS
    + r"(?:'s|’s)?\s*(?:,\s*)?(?:(?:called|named|is|was)\s+)?)" + _START + r"(" + _CAP + r"(?:\s+" + _CAP + r")?)",
)
_RELATIVE_AFTER = re.compile(
    _START + r"(" + _CAP + r")\s*(?:\([^()]{0,120}\)\s*)?,\s*(?i:(?:his|her|their|the)\s+" + _RELATIVE_WORDS + r")\b",
)
_QUOTED = re.compile(r"[" + _Q_OPEN + r"](" + _CAP + r")[" + _Q_CLOSE + r"]")


def _name_words(text: str) -> list[str]:
    return [w for w in re.split(r"[\s]+", text.strip(" .,;:")) if w]


def discover(texts: list[str], children: list[YoungPerson], family: list[FamilyMember], *,
             allowed: frozenset[str] | set[str] = frozenset()) -> tuple[list[list[str]], list[list[str]], list[dict]]:
    """Names the form's own text introduces, beyond its fields.

    Returns (aliases per child, aliases per family member, relatives named only in the text):
    nicknames introduced ("known as Robbie", "friends call him 'Twm'", a quoted word beside a
    name), maiden and former names ("née Eynon", "maiden name Eynon"), relatives named in the
    prose ("her older brother Emrys"), and one-letter typos of a name of five letters or more
    ("Padriag" for Pádraig). ``allowed``: folded words that are never taken (professionals,
    agencies, places). Pure; the texts are not kept.
    """
    found = _Discovery(children, family, allowed)
    for text in texts:
        if text:
            found.read(text)
    found.typos(texts)
    return found.child_aliases, found.family_aliases, found.relatives


class _Discovery:
    """Who is named so far (by folded word), and what the texts gave each person."""

    def __init__(self, children: list[YoungPerson], family: list[FamilyMember], allowed: frozenset[str] | set[str]):
        self.children, self.family, self.allowed = children, family, allowed
        self.child_aliases: list[list[str]] = [[] for _ in children]
        self.family_aliases: list[list[str]] = [[] for _ in family]
        self.relatives: list[FamilyMember] = []
        self.known: dict[str, tuple[str, int]] = {}  # folded word -> ("child"|"family", index)
        self.owners: dict[str, set] = {}               # folded word -> everyone it names
        self.firsts: list[tuple[str, tuple[str, int]]] = []
        for i, c in enumerate(children):
            for n in [c.name, c.first_name, c.surname] + list(c.known_as) + list(c.other_surnames) + list(c.aliases):
                for w in _name_words(n or ""):
                    self.known.setdefault(fold(w), ("child", i))
                    self.owners.setdefault(fold(w), set()).add(("child", i))
            words = _name_words(c.first_name or c.name or "")
            if words:
                self.firsts.append((fold(words[0]), ("child", i)))
        for i, f in enumerate(family):
            words = _name_words(f.name or "")
            for w in words:
                self.known.setdefault(fold(w), ("family", i))
                self.owners.setdefault(fold(w), set()).add(("family", i))
            if words:
                self.firsts.append((fold(words[0]), ("family", i)))

    # -- whose a word is ----------------------------------------------------------
    def derived_owner(self, word: str) -> tuple[str, int] | None:
        w = fold(word)
        for first, owner in self.firsts:
            if w in nicknames_of(first) or w in suffix_forms(first) or (len(w) >= 3 and first.startswith(w)):
                return owner
        return None

    def relative_owner(self, text: str, pos: int) -> tuple[str, int] | None:
        m = re.search(_RELATIVE_WORDS + r"\W{0,3}$", text[max(0, pos - 40):pos], re.I)
        if not m:
            return None
        rel = m.group(0).lower()
        for i, f in enumerate(self.family):
            frel = fold(f.relationship or "")
            if frel and any(k in rel for k in re.findall(r"[a-z]+", frel)):
                return ("family", i)
        return None

    def plausible(self, word: str, *, words_too: bool = False) -> bool:
        """A new name; ``words_too``: also a word the dictionary knows (the text says it is a name)."""
        w = fold(word).strip("'’-")
        if len(w) < 2 or w in self.allowed or w in self.known or w in NOT_A_NAME or not any(ch.isalpha() for ch in w):
            return False
        return words_too or not is_ordinary_word(w)

    def owner_near(self, text: str, pos: int) -> tuple[str, int]:
        """The person whose name is nearest before ``pos`` in this text (else the first child)."""
        best, best_pos = ("child", 0), -1
        for m in re.finditer(r"[^\W\d_][\w’'\-]*", text[:pos]):
            w = fold(m.group())
            who = self.owners.get(w) or self.owners.get(w.rstrip("s").rstrip("'’")) or set()
            if len(who) == 1 and m.start() > best_pos:  # a shared surname names no one in particular
                best, best_pos = next(iter(who)), m.start()
        return best

    def owner_of(self, word: str, text: str, pos: int) -> tuple[str, int]:
        return self.derived_owner(word) or self.relative_owner(text, pos) or self.owner_near(text, pos)

    def give(self, owner: tuple[str, int], word: str) -> None:
        family = self.family
        target = self.child_aliases if owner[0] == "child" or not family else self.family_aliases
        idx = owner[1] if owner[0] == "child" or not family else min(owner[1], len(family) - 1)
        if owner[0] == "child" and not self.children:
            return
        if word not in target[idx]:
            target[idx].append(word)
        self.known.setdefault(fold(word), owner)

    # -- what a text introduces -----------------------------------------------------
    def read(self, text: str) -> None:
        for m in _INTRO.finditer(text):
            word = m.group(1).strip("’'-")
            strong = _STRONG_INTRO.match(m.group(0)) is not None and word[:1].isupper()
            if self.plausible(word, words_too=strong):
                self.give(self.owner_of(word, text, m.start(1)), word)
        for m in _QUOTED.finditer(text):
            word = m.group(1).strip("’'-")
            window = text[max(0, m.start() - 60):m.start()]
            if self.plausible(word) and (re.search(r"call|known|name|goes|nick|sister|brother|mum|dad|mother|father",
                                                   window, re.I) or self.owner_near(text, m.start()) != ("child", 0)
                                         or any(fold(w) in self.known for w in re.findall(r"\w+", window))):
                self.give(self.owner_of(word, text, m.start()), word)
        for m in _MAIDEN.finditer(text):
            words = _name_words(m.group(1))
            for i, word in enumerate(words):
                # "born Sandra Hocking": after a first name already known, a surname even if it is a word
                after_known = i > 0 and fold(words[i - 1]) in self.known
                if self.plausible(word, words_too=after_known) and word[0].isupper():
                    # née X: the relative just before ("Mother (formerly X)"), else the person named just before
                    self.give(self.relative_owner(text, m.start()) or self.owner_near(text, m.start()), word)
        for rx in (_RELATIVE_BEFORE, _RELATIVE_AFTER):
            for m in rx.finditer(text):
                self.relative(m)

    def relative(self, m) -> None:
        """A relative named only in the prose ("her older brother Emrys")."""
        name = m.group(1)
        words = [w for w in _name_words(name) if self.plausible(w)]
        if not words:
            return
        if any(fold(w) in self.known for w in _name_words(name)):
            return
        rel = re.search(_RELATIVE_WORDS, m.group(0), re.I)
        self.relatives.append(FamilyMember(" ".join(words),
                                           (rel.group(0).lower() if rel else "relative") + " (named in the text)"))
        for w in words:
            self.known.setdefault(fold(w), ("family", len(self.family) + len(self.relatives) - 1))

    def typos(self, texts: list[str]) -> None:
        """One-letter typos of a name of five letters or more."""
        try:
            from rapidfuzz.distance import DamerauLevenshtein
        except ImportError:  # pragma: no cover - a dependency
            return
        long_names = [(w, owner) for w, owner in self.known.items() if len(w) >= 5 and w.isalpha()]
        seen_words: set[str] = set()
        for text in texts:
            for m in re.finditer(r"(?<!\w)([A-Z\u00c0-\u024f][^\W\d_]{4,})(?!\w)", text or ""):
                word = m.group(1)
                w = fold(word)
                if w in seen_words or w in self.known or w in self.allowed:
                    continue
                seen_words.add(w)
                if is_ordinary_word(w):
                    continue
                for name, owner in long_names:
                    if abs(len(name) - len(w)) <= 1 and name[0] == w[0] and \
                            DamerauLevenshtein.distance(name, w, score_cutoff=1) <= 1:
                        if owner[0] == "child" or owner[1] < len(self.family):
                            self.give(owner, word)
                        break
