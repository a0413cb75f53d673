"""Schema 5's one step SQL cannot do: meetings and minutes that schema 4 knew only from its own sent mail.

Schema 4 learnt a meeting's start and venue by re-parsing the invitation inside each meeting notice it
had sent, and when minutes came by the Date of the minutes it had sent on. This step reads those
outbox rows once, into meeting_notices, meeting_invitees and minutes_received; afterwards the
handlers write the rows as they act, and nothing reads sent mail back. Times are kept as written:
an invitation's local wall-clock start, or an ISO time with its offset (readers convert to the
network's zone).
"""

from __future__ import annotations

import email
import email.header
import json
import re
import sqlite3
from datetime import datetime
from email.utils import parsedate_to_datetime

_SEALED = b"MAILBOT-HELD-V1\n"
_UNFOLD = re.compile(r"\r?\n[ \t]")
_DTSTART = re.compile(r"^DTSTART(?:;TZID=([^:;]+))?(?:;[^:]*)?:(\d{8}T\d{4}(?:\d{2})?)(Z?)\s*$", re.M)
_LOCATION = re.compile(r"^LOCATION(?:;[^:]*)?:(.*)$", re.M)
_SUBJECT_WHEN = re.compile(r"Network Case Meeting on (.+)$")


def _unescape(s: str) -> str:
    return re.sub(r"\\([\\;,nN])", lambda m: "\n" if m.group(1) in "nN" else m.group(1), s).strip()


def _sent_at(msg) -> str | None:
    try:
        return parsedate_to_datetime(str(msg["Date"])).isoformat() if msg["Date"] else None
    except (TypeError, ValueError):
        return None


def read_notice(raw: bytes) -> tuple[str | None, str, str | None]:
    """(start, venue, sent_at) of a meeting notice mailbot sent; start None when it cannot be read."""
    start, venue = None, ""
    msg = email.message_from_bytes(raw)
    for part in msg.walk():
        if part.get_content_type() != "text/calendar":
            continue
        payload = part.get_payload(decode=True) or b""
        ics = _UNFOLD.sub("", payload.decode(part.get_content_charset() or "utf-8", "replace"))
        m = _DTSTART.search(ics.split("BEGIN:VEVENT", 1)[-1])
        if m:
            stamp = m.group(2)
            when = datetime.strptime(stamp, "%Y%m%dT%H%M%S" if len(stamp) == 15 else "%Y%m%dT%H%M")
            start = when.isoformat(timespec="minutes") + ("+00:00" if m.group(3) == "Z" else "")
        loc = _LOCATION.search(ics)
        if loc:
            venue = _unescape(loc.group(1))
        break
    if start is None:  # no invitation: the subject says when
        subject = str(email.header.make_header(email.header.decode_header(str(msg["Subject"] or ""))))
        m = _SUBJECT_WHEN.search(" ".join(subject.split()))
        if m:
            try:
                start = datetime.strptime(m.group(1).strip(), "%A %d %B %Y at %H:%M").isoformat(timespec="minutes")
            except ValueError:
                start = None
    return start, venue, _sent_at(msg)


def notices_and_minutes_from_the_outbox(conn: sqlite3.Connection) -> None:
    notices: dict[tuple, dict] = {}
    for item_id, code, raw, recipients in conn.execute(
            "SELECT id, case_code, raw, recipients FROM outbox WHERE kind = 'meeting-notice' AND case_code IS NOT NULL "
            "ORDER BY id"):
        raw = bytes(raw)
        if raw.startswith(_SEALED):
            continue
        try:
            start, venue, sent_at = read_notice(raw)
        except Exception:  # noqa: BLE001 - a notice that cannot be read gave no meeting before either
            continue
        if start is None:
            continue
        one = notices.setdefault((code, start, sent_at), {"venue": venue, "first": item_id, "to": []})
        one["to"] += [a for a in json.loads(recipients or "[]") if a not in one["to"]]
    for (code, start, sent_at), one in notices.items():
        cur = conn.execute("INSERT INTO meeting_notices (case_code, starts_at, venue, sent_at, source) "
                           "VALUES (?, ?, ?, ?, ?)", (code, start, one["venue"], sent_at or "",
                                                      f"schema-4-outbox:{one['first']}"))
        conn.executemany("INSERT OR IGNORE INTO meeting_invitees (notice_id, address) VALUES (?, ?)",
                         [(cur.lastrowid, a) for a in one["to"]])
    for code, raw in conn.execute(
            "SELECT case_code, substr(raw, 1, 4096) FROM outbox WHERE kind = 'minutes' AND case_code IS NOT NULL "
            "ORDER BY id").fetchall():
        raw = bytes(raw)
        if raw.startswith(_SEALED):
            continue
        m = re.search(rb"^Date:[ \t]*(.+?)\r?$", raw, re.M | re.I)
        try:
            when = parsedate_to_datetime(m.group(1).decode("ascii", "replace").strip()).isoformat() if m else None
        except (TypeError, ValueError):
            when = None
        if when:
            conn.execute("INSERT OR IGNORE INTO minutes_received (case_code, received_at, source) VALUES (?, ?, ?)",
                         (code, when, f"schema-4-outbox:{when}"))
