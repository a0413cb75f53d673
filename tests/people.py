"""Test data to the typed people of mailbot.people: fixtures keep people as JSON (truth files, literals)."""

from __future__ import annotations

from mailbot.people import FamilyMember, ProtectedPerson, YoungPerson


def young(*people) -> list[YoungPerson]:
    """Young people from JSON dicts (a truth file's "young_people", a literal)."""
    return [p if isinstance(p, YoungPerson) else YoungPerson.from_json(p) for p in _flat(people)]


def relatives(*people) -> list[FamilyMember]:
    """Relatives from JSON dicts (a truth file's "family", a literal)."""
    return [p if isinstance(p, FamilyMember) else FamilyMember.from_json(p) for p in _flat(people)]


def protected(*people) -> list[ProtectedPerson]:
    """Case records (what the store keeps and the gate reads) from JSON dicts."""
    return [p if isinstance(p, ProtectedPerson) else ProtectedPerson.from_json(p) for p in _flat(people)]


def record(data: dict | ProtectedPerson | None) -> ProtectedPerson:
    """One case record from a JSON dict (a record already made is kept)."""
    return data if isinstance(data, ProtectedPerson) else ProtectedPerson.from_json(data)


def _flat(people) -> list:
    out = []
    for p in people:
        out += list(p) if isinstance(p, (list, tuple)) else [p]
    return out
