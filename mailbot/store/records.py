"""The records the store reads and writes (cases, outbox items), its error, and small conversions
shared by its parts."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

from mailbot.errors import MailbotError
from mailbot.people import ProtectedPerson

_HELD_PREFIX = b"MAILBOT-HELD-V1\n"   # an outbox item sealed by mark_held
_HELD_CONTEXT = b"outbox-held"


class StoreError(MailbotError):
    """The database cannot be used (damaged, unreadable, newer version)."""

    reason = "store"


def storage_failure(exc: BaseException) -> str | None:
    """A plain reason when ``exc`` means the database cannot be written at all (disk full, I/O
    error, read-only), else None. Retrying does not help: the daemon stops (see daemon.Bot)."""
    if not isinstance(exc, sqlite3.OperationalError):
        return None
    text = str(exc).lower()
    if "full" in text:
        return "the disk is full"
    if "disk i/o" in text:
        return "the disk reported an I/O error"
    if "readonly" in text or "read-only" in text:
        return "the database became read-only"
    return None


def _iso(value) -> str | None:
    if value is None or value == "":
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _bool_or_none(value) -> int | None:
    return None if value is None else (1 if value else 0)


@dataclass
class Case:
    code: str
    number: int
    letter: str = ""
    lead_agency: str = ""
    lead_contact: str = ""
    status: str = "open"
    referred_on: str | None = None      # ISO date
    closed_on: str | None = None        # ISO date
    sw_known: bool | None = None
    sw_open: bool | None = None
    sw_worker: Any = None               # decrypted JSON (social worker's name/contact)
    next_meeting: str | None = None     # ISO datetime
    identity: str = ""                  # blind index (Vault.identity)
    person: ProtectedPerson | None = None  # decrypted (None: no record, or purged after retention)
    source_message_key: str | None = None
    detained: bool = False


@dataclass
class OutboxItem:
    """One outgoing email: what a handler queues (message_id to reason), and once the store has
    queued it, its place in the outbox (``id`` and the fields after it, set by the store)."""

    message_id: str
    kind: str
    case_code: str | None
    sender: str
    recipients: list[str]
    raw: bytes
    rule: str = ""
    reason: str = ""
    id: int | None = None          # None until the store has queued it
    status: str = ""               # "pending", "sent", "failed", "held"... ("" before it is queued)
    attempts: int = 0
    next_try: float = 0.0
    last_error: str = ""
    created_at: float = 0.0
    sent_at: float | None = None
    delivered: list[str] = field(default_factory=list)




_CASE_COLUMNS = ("code", "number", "letter", "lead_agency", "lead_contact", "status", "referred_on",
                 "closed_on", "sw_known", "sw_open", "sw_worker_enc", "next_meeting", "identity",
                 "person_enc", "source_message_key", "detained")
_UPDATABLE = {"number", "letter", "lead_agency", "lead_contact", "status", "referred_on", "closed_on",
              "sw_known", "sw_open", "sw_worker", "next_meeting", "identity", "person",
              "source_message_key", "detained"}
