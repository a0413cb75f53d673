"""Protected names: every way a young person's or family member's name can be written.

Pure functions. :func:`protected_names` turns the people on a Referral Form into the list of
texts to replace (full name, first name, surname, known-as, other surnames, parts of
double-barrelled surnames, family names, the aliases the text introduced, and the derived
forms: pet names and diminutives, joined-up initial + surname, initials) with what replaces
each (the child's case code, or a neutral placeholder for family).

Names that are also ordinary words (rules/ordinary_words.txt: Grace, Will, Rose...) and every
derived form are matched only when written Capitalised or in CAPITALS; initials only in CAPITALS.
How they are found in a text: :mod:`mailbot.documents.matcher`; the names a form's own text
introduces: :mod:`mailbot.documents.discover`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass

from mailbot.paths import shipped
from mailbot.people import FamilyMember, YoungPerson
from mailbot.words.textnorm import DASHES as _DASHES
from mailbot.words.textnorm import fold
from mailbot.words.vocabulary import (acronyms, is_ordinary_word, mutated_forms, nicknames_of, ordinary_words,
                                      suffix_forms)

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


@dataclass(frozen=True)
class ProtectedName:
    text: str          # the name as written on the form
    replacement: str   # case code (CN78) or placeholder ([parent/carer])
    kind: str          # child-full, child-first, child-surname, known-as, other-surname,
                       # surname-part, family-full, family-part, alias, derived, initials,
                       # initials-dotted, field
    ordinary: bool = False  # also an ordinary word: match Capitalised/UPPER only
    upper: bool = False     # initials: match only when every letter is a capital

    @property
    def key(self) -> str:
        return name_key(self.text)


def name_key(text: str) -> str:
    """The identity of a name or a matched text: folded, separators and apostrophes removed."""
    return re.sub(r"[\s._'\-,]+", "", fold(text))


def _clean(text) -> str:
    if not text:
        return ""
    text = re.sub(r"\s+", " ", str(text)).strip().strip(",;:")
    if fold(text).strip(" .") in NOT_A_NAME or len(name_key(text)) < 2:
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


def _split_person(person: YoungPerson | FamilyMember) -> tuple[str, str, str]:
    """(full name, first name, surname): a relative has a full name only; it is split at its first word."""
    full = _clean(person.name)
    first = _clean(getattr(person, "first_name", ""))
    surname = _clean(getattr(person, "surname", ""))
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


def _initials(words: list[str]) -> str:
    letters = [w[0] for w in words if w and w[0].isalpha() and fold(w).strip(".'") not in PARTICLES]
    return "".join(letters).upper()




def protected_names(children: Sequence[YoungPerson], family: Sequence[FamilyMember], codes: Sequence[str], *,
                    derive: bool = True, exclude: frozenset[str] | set[str] = frozenset()) -> list[ProtectedName]:
    """Every variant of every protected name, with its replacement. Children come first.

    ``children`` are the young people, ``family`` their relatives (mailbot.people);
    ``codes[i]`` is the case code of ``children[i]``.

    With ``derive`` (the default), each first name also brings its pet names and diminutives
    (the nickname table, suffix forms: protected when Capitalised), each person their
    joined-up forms (initial + surname: "rbeddoe") and their initials (B.L., BL; with dots
    only where the letters are a common abbreviation). ``exclude``: folded words never
    derived (the professionals named on the form).
    """
    if len(codes) < len(children):
        raise ValueError("one case code is needed per young person")
    names = _Names(ordinary_words(), derive)
    for child, code in zip(children, codes):
        names.add_child(child, code)
    for member in family:
        names.add_family(member)
    if derive:
        names.add_derived(exclude)
    return list(names.seen.values())


class _Names:
    """The names collected so far, by key: the first (child, then earlier child) wins."""

    def __init__(self, ordinary: frozenset[str], derive: bool):
        self.ordinary = ordinary
        self.derive = derive
        self.seen: dict[str, ProtectedName] = {}
        self.derived: list[tuple[str, str]] = []    # (text, replacement), added last
        self.firsts: list[tuple[str, str]] = []     # first names whose pet names are derived

    def add(self, text: str, replacement: str, kind: str, *, ordinary_word: bool | None = None) -> None:
        text = _clean(text)
        if not text:
            return
        key = name_key(text)
        if key in self.seen:  # first (child, then earlier child) wins
            return
        single = len(_words(text)) == 1 and not re.search("[" + _DASHES + "]", text)
        if ordinary_word is None:
            # a nickname the text introduced that is also a word ("goes by Jazz"): Capitalised only
            ordinary_word = single and (fold(text) in self.ordinary or (
                kind == "alias" and is_ordinary_word(fold(text))))
        self.seen[key] = ProtectedName(text, replacement, kind, ordinary_word)

    def add_initials(self, words: list[str], replacement: str) -> None:
        ini = _initials(words)
        if len(ini) < 2 or len(ini) > 4:
            return
        dotted = ".".join(ini) + "."
        if ini not in acronyms():
            k = name_key(ini)
            if k not in self.seen:
                self.seen[k] = ProtectedName(ini, replacement, "initials", upper=True)
        k = "." + name_key(ini)  # its own key: the dotted pattern differs from the plain one
        if k not in self.seen:
            self.seen[k] = ProtectedName(dotted, replacement, "initials-dotted", upper=True)

    def add_child(self, child: YoungPerson, code: str) -> None:
        add = self.add
        full, first, surname = _split_person(child)
        add(full, code, "child-full")
        if first and surname:
            add(f"{first} {surname}", code, "child-full")
        for k in _as_list(child.known_as):
            if surname:
                add(f"{k} {surname}", code, "child-full")
        for other in _as_list(child.other_surnames):
            if first:
                add(f"{first} {other}", code, "child-full")
        if first:
            add(first, code, "child-first")
            for part in _parts(first):
                add(part, code, "child-first")
                self.firsts.append((part, code))
        if surname:
            add(surname, code, "child-surname")
        for k in _as_list(child.known_as):
            add(k, code, "known-as")
            self.firsts.append((k, code))
        for other in _as_list(child.other_surnames):
            add(other, code, "other-surname")
            for part in _parts(other):
                add(part, code, "surname-part")
        for a in _as_list(child.aliases):
            add(a, code, "alias")
            if surname and len(_words(a)) == 1:
                add(f"{a} {surname}", code, "child-full")
        for w in _words(full)[1:-1]:  # middle names
            if fold(w).strip(".'") not in PARTICLES:
                add(w, code, "child-first")
        for part in _parts(surname or ""):
            add(part, code, "surname-part")
        for part in _parts(full):
            add(part, code, "surname-part")
        if self.derive:
            self._child_joined(full, first, surname, code)

    def _child_joined(self, full: str, first: str, surname: str, code: str) -> None:
        """A child's joined-up forms and initials."""
        words = _words(full)
        if first and surname:
            self.derived.append((f"{first[0]} {surname}", code))      # rbeddoe, r.beddoe
            self.derived.append((f"{surname} {first}", code))         # beddoe.rhodri
            self.add_initials(_words(first) + _words(surname), code)
            if len(words) > 2:
                self.add_initials([words[0], words[-1]], code)
        elif len(words) >= 2:
            self.add_initials(words, code)

    def add_family(self, member: FamilyMember) -> None:
        add = self.add
        full, first, surname = _split_person(member)
        placeholder = _family_placeholder(member.relationship)
        add(full, placeholder, "family-full")
        if first and surname:
            add(f"{first} {surname}", placeholder, "family-full")
        for part in [first, surname] + _parts(full):
            if part:
                add(part, placeholder, "family-part")
        for a in _as_list(member.aliases):
            add(a, placeholder, "alias")
            for part in _parts(a):
                add(part, placeholder, "alias")
        if self.derive and first:
            self.firsts.append((first, placeholder))
            if surname:
                self.derived.append((f"{first[0]} {surname}", placeholder))
                self.add_initials(_words(first) + _words(surname), placeholder)

    def add_derived(self, exclude: frozenset[str] | set[str]) -> None:
        """Pet names and suffix forms of every first name, then the joined-up forms."""
        for first, replacement in self.firsts:
            nicks = set(nicknames_of(first))
            forms = nicks | suffix_forms(first)
            for nick in nicks:  # Libby -> Libs, Peggy -> Peggo
                if len(nick) >= 4:
                    forms |= suffix_forms(nick)
            for form in sorted(forms):
                if form in exclude or len(form) < 2:
                    continue
                self.derived.append((form, replacement))
        # Mc and Mac are one prefix: McAllister is also written MacAllister, Mc Allister, Mac Allister
        for n in list(self.seen.values()):
            if n.kind in ("initials", "initials-dotted") or len(_words(n.text)) != 1:
                continue
            m = re.match(r"(?i)(mc|mac)[\s'’]*([^\W\d_]{3,})$", n.text)
            if m:
                # the name itself as two words (its key is the same): "McAllister" and "Mc Allister"
                self.seen[name_key(n.text)] = dataclasses.replace(n, text=f"{m.group(1)} {m.group(2)}")
                for prefix in ("Mc", "Mac"):
                    self.derived.append((f"{prefix} {m.group(2)}", n.replacement))
        # a name in a Welsh sentence, mutated ("i Wenllian", "gyda Thomos"); not English words (Bill, Mark)
        for n in list(self.seen.values()):
            if n.kind in ("initials", "initials-dotted") or n.ordinary or len(_words(n.text)) != 1:
                continue
            for form in sorted(mutated_forms(n.text)):
                if form not in exclude:
                    self.derived.append((form, n.replacement))
        for text, replacement in self.derived:
            text = _clean(text)
            if not text or name_key(text) in self.seen:
                continue
            single = len(_words(text)) == 1
            # a derived single word is protected when Capitalised: "Peg", "Will" stay words
            self.seen[name_key(text)] = ProtectedName(text, replacement, "derived", ordinary=single)
