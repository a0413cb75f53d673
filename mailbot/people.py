"""The protected people: a young person, a family member, and what is kept about them for the gate.

The one typed model of the people whose names never leave the Master List. A Referral Form's
reading (:mod:`mailbot.documents.referral`) is made of :class:`YoungPerson` and
:class:`FamilyMember`; coding (:mod:`mailbot.documents.names`) takes them as they are; a case keeps
one :class:`ProtectedPerson` (sealed in the store), which the leak gate (:mod:`mailbot.gate`), the
Master List and the minutes read back. ``to_json``/``from_json`` are for the edges only: the store,
the helper process and the command line.

Below every other part of mailbot: it imports nothing of it.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable
from dataclasses import dataclass, field


def _strings(value) -> list[str]:
    """A list of texts from JSON (a list, or one text, or nothing)."""
    if not value:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value if v]


def _date(value) -> _dt.date | None:
    if isinstance(value, _dt.date):
        return value
    if isinstance(value, str) and value:
        try:
            return _dt.date.fromisoformat(value)
        except ValueError:
            return None
    return None


@dataclass
class YoungPerson:
    """A young person as the Referral Form gives them (names, date of birth, what the form says)."""

    name: str = ""
    first_name: str = ""
    surname: str = ""
    known_as: list[str] = field(default_factory=list)
    other_surnames: list[str] = field(default_factory=list)
    date_of_birth: _dt.date | None = None
    gender: str = ""
    address: str = ""
    former_address: str = ""
    school: str = ""
    aliases: list[str] = field(default_factory=list)  # names the text introduces (pet names, typos)

    @property
    def dob_iso(self) -> str | None:
        """The date of birth as kept on record (ISO), or None."""
        return self.date_of_birth.isoformat() if self.date_of_birth else None

    def to_json(self) -> dict:
        return {
            "name": self.name, "first_name": self.first_name, "surname": self.surname,
            "known_as": list(self.known_as), "other_surnames": list(self.other_surnames),
            "date_of_birth": self.dob_iso,
            "gender": self.gender, "address": self.address, "former_address": self.former_address,
            "school": self.school, "aliases": list(self.aliases),
        }

    @classmethod
    def from_json(cls, data: dict) -> YoungPerson:
        return cls(
            name=data.get("name") or "", first_name=data.get("first_name") or data.get("first") or "",
            surname=data.get("surname") or "", known_as=_strings(data.get("known_as")),
            other_surnames=_strings(data.get("other_surnames")),
            date_of_birth=_date(data.get("date_of_birth")), gender=data.get("gender") or "",
            address=data.get("address") or "", former_address=data.get("former_address") or "",
            school=data.get("school") or "", aliases=_strings(data.get("aliases")),
        )


@dataclass
class FamilyMember:
    """A relative the form names (in its family boxes, or only in its text)."""

    name: str
    relationship: str = ""
    aliases: list[str] = field(default_factory=list)  # maiden names, pet names the text gives

    def to_json(self) -> dict:
        out = {"name": self.name, "relationship": self.relationship}
        if self.aliases:
            out["aliases"] = list(self.aliases)
        return out

    @classmethod
    def from_json(cls, data: dict) -> FamilyMember:
        return cls(data.get("name") or "", data.get("relationship") or "", _strings(data.get("aliases")))


#: the relationship given to a relative read back from a case's record (which keeps names only)
RECORDED_RELATIVE = "family member"


@dataclass(frozen=True)
class ProtectedPerson:
    """What a case keeps (sealed) about its young person: every name and the date of birth.

    ``family``: the names of the family and of the relatives the form's text named, with their
    aliases (maiden names, pet names). The gate, the Master List and the minutes read this."""

    name: str = ""
    first_name: str = ""
    surname: str = ""
    known_as: tuple[str, ...] = ()
    other_surnames: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    date_of_birth: str | None = None  # ISO, as on record
    family: tuple[str, ...] = ()

    @classmethod
    def of(cls, child: YoungPerson, family: Iterable[FamilyMember]) -> ProtectedPerson:
        """The record of a young person and the family on their form."""
        family = list(family)
        return cls(
            name=child.name or "", first_name=child.first_name or "", surname=child.surname or "",
            known_as=tuple(child.known_as), other_surnames=tuple(child.other_surnames),
            aliases=tuple(child.aliases), date_of_birth=child.dob_iso,
            family=tuple([f.name for f in family if f.name] + [a for f in family for a in f.aliases]),
        )

    def young_person(self) -> YoungPerson:
        """The young person again, for coding a document (minutes) with the names on record."""
        return YoungPerson(name=self.name, first_name=self.first_name, surname=self.surname,
                           known_as=list(self.known_as), other_surnames=list(self.other_surnames),
                           date_of_birth=_date(self.date_of_birth), aliases=list(self.aliases))

    def relatives(self) -> list[FamilyMember]:
        """The family on record, each name a relative to protect."""
        return [FamilyMember(n, RECORDED_RELATIVE) for n in self.family if n]

    def with_aliases(self, words: Iterable[str]) -> ProtectedPerson:
        """The same person with more names of their own (words the coordinator stripped)."""
        more = tuple(w for w in words if w not in self.aliases)
        return ProtectedPerson(self.name, self.first_name, self.surname, self.known_as, self.other_surnames,
                               self.aliases + more, self.date_of_birth, self.family)

    def written_names(self) -> list[str]:
        """The names as the form wrote them: full, first and surname, known-as, other surnames, family."""
        return [n for n in (self.name, self.first_name, self.surname, *self.known_as, *self.other_surnames,
                            *self.family) if n]

    def to_json(self) -> dict:
        return {
            "name": self.name, "first_name": self.first_name, "surname": self.surname,
            "known_as": list(self.known_as), "other_surnames": list(self.other_surnames),
            "aliases": list(self.aliases), "date_of_birth": self.date_of_birth, "family": list(self.family),
        }

    @classmethod
    def from_json(cls, data: dict | None) -> ProtectedPerson:
        data = data or {}
        family = []
        for f in data.get("family") or []:  # names (a record), or relatives' dicts (an older reading)
            if isinstance(f, dict):
                family += [f.get("name") or ""] + _strings(f.get("aliases"))
            elif f:
                family.append(str(f))
        dob = data.get("date_of_birth")
        return cls(
            name=data.get("name") or "", first_name=data.get("first_name") or data.get("first") or "",
            surname=data.get("surname") or "", known_as=tuple(_strings(data.get("known_as"))),
            other_surnames=tuple(_strings(data.get("other_surnames"))),
            aliases=tuple(_strings(data.get("aliases"))),
            date_of_birth=dob.isoformat() if isinstance(dob, _dt.date) else (dob or None),
            family=tuple(n for n in family if n),
        )


__all__ = ["YoungPerson", "FamilyMember", "ProtectedPerson", "RECORDED_RELATIVE"]
