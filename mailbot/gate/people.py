"""Building a Gate from the protected people: which words each young person and family member contributes.

Each person is a :class:`mailbot.people.ProtectedPerson` (the record a case keeps). Pure; what each
person contributes is remembered in the Context's GateMemory, so a gate rebuilt after one new case
reads only that case's names."""

from __future__ import annotations

import re
from collections.abc import Iterable

from mailbot.gate.matching import Gate
from mailbot.gate.memory import GateMemory
from mailbot.gate.prepared import ORDINARY_WORDS, WORD_END, WORD_START, normalise, tokens
from mailbot.people import ProtectedPerson

MIN_TOKEN = 3


_DEFAULT_ORDINARY = frozenset(w.casefold() for w in ORDINARY_WORDS)


def _read_person(person: ProtectedPerson, ordinary_set: frozenset) -> tuple[frozenset, frozenset, frozenset]:
    """The words one person contributes: protected alone, ordinary words, multi-word names."""
    singles: set[str] = set()
    ordinary: set[str] = set()
    sequences: set[tuple[str, ...]] = set()

    def add_token(tok: str) -> None:
        if len(tok) < MIN_TOKEN:
            return
        (ordinary if tok in ordinary_set else singles).add(tok)

    def add_name(name: str, *, alone: str) -> None:
        """alone: "all" tokens protected alone, "last" only the surname, "none"."""
        toks = tokens(name)
        if not toks:
            return
        if len(toks) > 1:
            sequences.add(tuple(toks))
        chosen = toks if alone == "all" else toks[-1:] if alone == "last" else []
        for tok in chosen:
            add_token(tok)
        if alone != "none" and "'" in normalise(name):
            # O'Neill is also written ONeill
            for word in normalise(name).split():
                if "'" in word:
                    add_token("".join(tokens(word)))

    first, surname = person.first_name, person.surname
    for n in (person.name, first, surname):
        if n:
            add_name(n, alone="all")
    if first and surname:
        add_name(f"{first} {surname}", alone="all")
    for n in person.known_as + person.aliases:
        add_name(n, alone="all")
    for n in person.other_surnames:
        add_name(n, alone="all")
        if first:
            add_name(f"{first} {n}", alone="none")
    for n in person.family:
        add_name(n, alone="all")
    # joined up, as in e-mail addresses and handles: rhodribeddoe, rbeddoe, beddoerhodri
    people = [(first, surname)] + [(" ".join(tokens(n)[:1]), " ".join(tokens(n)[1:])) for n in person.family]
    for f, sname in people:
        ft, st = tokens(f), tokens(sname)
        if ft and st:
            for joined in ("".join(ft + st), ft[0][0] + "".join(st), "".join(st + ft)):
                if len(joined) >= 5:
                    singles.add(joined)
    return frozenset(singles), frozenset(ordinary), frozenset(sequences)


def build_gate(people: Iterable[ProtectedPerson], *, ordinary_words: frozenset[str] | set[str] | None = None,
               allowed_names: list[str] | tuple[str, ...] = (), memory: GateMemory | None = None) -> Gate:
    """A gate protecting these people (young people and their family).

    ``allowed_names``: full names (two words or more) and email addresses of network
    people, e.g. member staff who share a first name with a young person ("Harvey
    Smith <harvey.smith@school.example>" while a Harvey is protected). Only their
    exact full occurrence is allowed; the protected word alone is still refused. An
    allowed name that is itself a protected full name is ignored.

    Each person is a :class:`mailbot.people.ProtectedPerson`. A young person's every name
    token is protected alone (if long enough); a family member's full name and
    surname are protected, not their first name alone.

    ``memory``: what the gates of one Context share (what each person contributes, what each
    message reads as); a new one when not given.
    """
    memory = GateMemory() if memory is None else memory
    ordinary_set = (_DEFAULT_ORDINARY if ordinary_words is None
                    else frozenset(w.casefold() for w in ordinary_words))
    singles: set[str] = set()
    ordinary: set[str] = set()
    sequences: set[tuple[str, ...]] = set()
    for person in people:
        p_singles, p_ordinary, p_sequences = memory.person_words(person, ordinary_set, _read_person)
        singles |= p_singles
        ordinary |= p_ordinary
        sequences |= p_sequences
    # a multi-word name holding a word protected alone is found through that word
    needed = tuple(sorted(seq for seq in sequences if singles.isdisjoint(seq)))
    return Gate(frozenset(singles), frozenset(ordinary), needed,
                allowed=_allowed_pattern(allowed_names, sequences), memory=memory)


def _allowed_pattern(allowed_names, protected: set[tuple[str, ...]]) -> re.Pattern | None:
    phrases = []
    for name in allowed_names or ():
        name = normalise(str(name)).strip()
        toks = tokens(name)
        if "@" in name:
            if len(toks) >= 2:
                phrases.append(re.escape(name))
            continue
        if len(toks) < 2 or tuple(toks) in protected:
            continue  # a single word is never allowed; a protected full name neither
        phrases.append(r"[\W_]+".join(map(re.escape, toks)))
    if not phrases:
        return None
    phrases.sort(key=len, reverse=True)
    return re.compile(WORD_START + "(?:" + "|".join(phrases) + ")" + WORD_END, re.IGNORECASE)

