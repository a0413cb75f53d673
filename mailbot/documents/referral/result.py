"""The reading of a Referral Form: young people, family, referrer, consent, and their JSON.

Plain dataclasses; ``to_json`` gives the dict every other part of mailbot works with.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field


@dataclass
class YoungPerson:
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

    def to_json(self) -> dict:
        return {
            "name": self.name, "first_name": self.first_name, "surname": self.surname,
            "known_as": list(self.known_as), "other_surnames": list(self.other_surnames),
            "date_of_birth": self.date_of_birth.isoformat() if self.date_of_birth else None,
            "gender": self.gender, "address": self.address, "former_address": self.former_address,
            "school": self.school, "aliases": list(self.aliases),
        }


@dataclass
class FamilyMember:
    name: str
    relationship: str = ""
    aliases: list[str] = field(default_factory=list)  # maiden names, pet names the text gives

    def to_json(self) -> dict:
        out = {"name": self.name, "relationship": self.relationship}
        if self.aliases:
            out["aliases"] = list(self.aliases)
        return out


@dataclass
class Referrer:
    name: str = ""
    email: str = ""
    phone: str = ""

    def to_json(self) -> dict:
        return {"name": self.name, "email": self.email, "phone": self.phone}


@dataclass
class Referral:
    young_people: list[YoungPerson] = field(default_factory=list)
    family: list[FamilyMember] = field(default_factory=list)
    referring_agency: str = ""
    referrer: Referrer = field(default_factory=Referrer)
    referral_date: _dt.date | None = None
    concerns: list[str] = field(default_factory=list)
    suggested_agencies: list[str] = field(default_factory=list)
    parental_consent: bool | None = None
    young_person_informed: bool | None = None
    known_to_social_work: bool | None = None
    #: consent to share with sensitive services (sexual health, mental health, substance misuse)
    sensitive_consent: bool | None = None
    #: the consent questions as the form answers them: {field: {"answer": words, "value": bool|None}}
    #: (read by the rules of rules/consent.toml, mailbot.casework.consent); a question not asked is absent
    consent_answers: dict = field(default_factory=dict)
    #: relatives named only in the text ("her older brother Emrys"): protected like the family
    named_in_text: list[FamilyMember] = field(default_factory=list)
    #: who signed the form (professionals: never taken for a protected name)
    signatories: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "young_people": [y.to_json() for y in self.young_people],
            "family": [f.to_json() for f in self.family],
            "referring_agency": self.referring_agency,
            "referrer": self.referrer.to_json(),
            "referral_date": self.referral_date.isoformat() if self.referral_date else None,
            "concerns": list(self.concerns),
            "suggested_agencies": list(self.suggested_agencies),
            "parental_consent": self.parental_consent,
            "young_person_informed": self.young_person_informed,
            "known_to_social_work": self.known_to_social_work,
            "sensitive_consent": self.sensitive_consent,
            "consent_answers": {k: dict(v) for k, v in self.consent_answers.items()},
            "named_in_text": [f.to_json() for f in self.named_in_text],
            "signatories": list(self.signatories),
        }

    def protected_family(self) -> list[dict]:
        return [f.to_json() for f in self.family + self.named_in_text]

