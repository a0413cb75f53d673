"""The reading of a Referral Form: young people, family, referrer, consent.

Plain dataclasses that travel typed through intake, coding and the gate; the people are
:mod:`mailbot.people`'s. ``to_json``/``from_json`` only where the reading crosses an edge (the
command line, a hold sealed in the store).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field

from mailbot.people import FamilyMember, YoungPerson


@dataclass
class Referrer:
    name: str = ""
    email: str = ""
    phone: str = ""

    def to_json(self) -> dict:
        return {"name": self.name, "email": self.email, "phone": self.phone}

    @classmethod
    def from_json(cls, data: dict | None) -> Referrer:
        data = data or {}
        return cls(data.get("name") or "", data.get("email") or "", data.get("phone") or "")


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

    @classmethod
    def from_json(cls, data: dict) -> Referral:
        day = data.get("referral_date")
        return cls(
            young_people=[YoungPerson.from_json(y) for y in data.get("young_people") or []],
            family=[FamilyMember.from_json(f) for f in data.get("family") or []],
            referring_agency=data.get("referring_agency") or "",
            referrer=Referrer.from_json(data.get("referrer")),
            referral_date=_dt.date.fromisoformat(day) if day else None,
            concerns=list(data.get("concerns") or []),
            suggested_agencies=list(data.get("suggested_agencies") or []),
            parental_consent=data.get("parental_consent"),
            young_person_informed=data.get("young_person_informed"),
            known_to_social_work=data.get("known_to_social_work"),
            sensitive_consent=data.get("sensitive_consent"),
            consent_answers={k: dict(v) for k, v in (data.get("consent_answers") or {}).items()},
            named_in_text=[FamilyMember.from_json(f) for f in data.get("named_in_text") or []],
            signatories=list(data.get("signatories") or []),
        )

    def protected_family(self) -> list[FamilyMember]:
        """Every relative whose name is protected: the family boxes, and those named only in the text."""
        return self.family + self.named_in_text

