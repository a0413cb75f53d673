"""What a reading of minutes gives: the Minutes record with its attendees, actions and decisions.

:class:`Minutes` is what :func:`mailbot.documents.minutes.parse_minutes` returns; the handler reads it
as it is, ``to_json`` is for the CLI and the tests. :class:`NotMinutes` is the plain refusal of a Word
document that is not Network Case Meeting Minutes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from mailbot.documents.minutes.blocks import norm
from mailbot.documents.minutes_decisions import Decision
from mailbot.errors import MailbotError


class NotMinutes(MailbotError):
    """A readable Word document that is not Network Case Meeting Minutes."""

    reason = "not-minutes"


@dataclass
class Attendee:
    name: str
    agency: str | None = None
    phone: str | None = None
    email: str | None = None

    def to_json(self) -> dict:
        return {"name": self.name, "agency": self.agency, "phone": self.phone, "email": self.email}


@dataclass
class Action:
    action: str
    responsible: str | None = None

    def to_json(self) -> dict:
        return {"action": self.action, "responsible": self.responsible}


@dataclass
class Minutes:
    case_code: str
    lead_agency: str | None = None
    date: dt.date | None = None
    chair: str | None = None
    minutes_taker: str | None = None
    attendees: list[Attendee] = field(default_factory=list)
    apologies: list[str] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    #: the next meeting: a datetime, a date when no time was given, None when TBC/missing
    next_meeting: dt.datetime | dt.date | None = None
    exit_agreed: bool = False  # exit.value == "agreed" (kept for callers that read only this)
    handover_to: str | None = None  # handover.to when the handover was agreed
    #: what the minutes say about an exit / a handover: agreed, not, or unclear (ask the coordinator)
    exit: Decision = field(default_factory=Decision)
    handover: Decision = field(default_factory=Decision)

    @property
    def next_meeting_iso(self) -> str | None:
        """The next meeting as the store keeps it: '2027-03-01T15:30', or '2027-03-01' without a time."""
        nm = self.next_meeting
        if isinstance(nm, dt.datetime):
            return nm.strftime("%Y-%m-%dT%H:%M")
        if isinstance(nm, dt.date):
            return nm.isoformat()
        return None

    def to_json(self) -> dict:
        nm_text = self.next_meeting_iso
        return {
            "case_code": self.case_code,
            "lead_agency": self.lead_agency,
            "date": self.date.isoformat() if self.date else None,
            "chair": self.chair,
            "minutes_taker": self.minutes_taker,
            "attendees": [a.to_json() for a in self.attendees],
            "apologies": list(self.apologies),
            "actions": [a.to_json() for a in self.actions],
            "next_meeting": nm_text,
            "exit_agreed": self.exit_agreed,
            "handover_to": self.handover_to,
        }

    def decisions_json(self) -> dict:
        """The exit and handover as three-valued decisions with where they are written."""
        return {"exit": self.exit.to_json(), "handover": self.handover.to_json()}

    def recipients(self) -> list[str]:
        """Names of everyone who attended or sent apologies (the Guide's circulation list)."""
        seen: list[str] = []
        for name in [a.name for a in self.attendees] + self.apologies:
            if norm(name) not in {norm(s) for s in seen}:
                seen.append(name)
        return seen
