"""Meeting notices: a lead agency tells the coordinator about a Network Case Meeting.

mailbot reads the notice and sends members a *new* message built only from
the fields below (plus an .ics invitation): the sender's own text is never
forwarded, so nothing but the case code travels.

Notice format
-------------

Subject: anything containing ``meeting notice``, ``notice of meeting`` or
``network case meeting``, usually with the code: ``Meeting notice CN78``.
Body: one ``Label: value`` line per field (labels not case-sensitive;
anything else in the email is ignored)::

    Case: CN78                      (or Code:, Case code:, Case number:; may be in the subject instead)
    Date: 15/02/2027                (day first: 15/02/2027, 15-02-27, 15 February 2027, Mon 15th Feb 2027)
    Time: 15:30                     (or 3.30pm, 3:30 pm, 15.30; a range 15:30-17:00 also sets the end)
    End: 17:00                      (optional; or Duration: 90 min / 1.5 hours / 2h; default 90 minutes)
    Venue: Family Resource Centre, Main Street   (or Location:, Place:, Where:)
    Organiser: Sam Lead, 087 765 4321, sam.lead@youth.example   (or Contact:, Organizer:;
                                    phone and email may also be on Phone: / Email: lines)
    Type: assessment                (optional: assessment, review, exit, handover)
    Status: cancelled               (optional; or "cancelled" in the subject)

Only the case code identifies the young person. Write "CN78", never a name:
if a protected name (from the Master List) appears anywhere in the notice
the notice is refused and nothing is sent. A time like "3.30" without am/pm
between 1 and 7 o'clock is refused as ambiguous.

API: ``looks_like_notice(subject, body) -> bool``;
``parse_notice(subject, body, *, now=None, protected_names=()) -> MeetingNotice``
(raises :class:`NotANotice`, :class:`~mailbot.errors.BadField` or
:class:`~mailbot.errors.LeakDetected`); ``social_work_may_receive(known, open, allocated)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from mailbot.errors import BadField, LeakDetected, MailbotError

__all__ = ["MeetingNotice", "NotANotice", "parse_notice", "looks_like_notice",
           "social_work_may_receive", "contains_protected_name", "MEETING_TYPES",
           "DEFAULT_DURATION"]

MEETING_TYPES = ("assessment", "review", "exit", "handover")
DEFAULT_DURATION = timedelta(minutes=90)


class NotANotice(MailbotError):
    """The email is not a meeting notice we can read (e.g. the case code is missing)."""

    reason = "not-a-notice"


@dataclass(frozen=True)
class MeetingNotice:
    code: str
    start: datetime  # naive local wall-clock time
    end: datetime
    venue: str
    organiser_name: str
    organiser_phone: str | None
    organiser_email: str | None
    meeting_type: str | None = None  # one of MEETING_TYPES or None
    cancelled: bool = False

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def summary(self) -> str:
        """Calendar/email title: code only."""
        kind = f" ({self.meeting_type})" if self.meeting_type else ""
        return f"Network Case Meeting {self.code}{kind}"

    def description(self) -> str:
        contact = ", ".join(x for x in (self.organiser_name, self.organiser_phone,
                                        self.organiser_email) if x)
        return (f"Network Case Meeting for case {self.code}.\n"
                f"Venue: {self.venue}\nOrganiser: {contact}\n"
                "Please use the case code only in any reply.")


_SUBJECT_RE = re.compile(r"meeting\s+notice|notice\s+of\s+(?:a\s+)?(?:network\s+)?(?:case\s+)?meeting|"
                         r"network\s+case\s+meeting|case\s+meeting", re.I)
_CODE_RE = re.compile(r"(?<![A-Za-z0-9])cn[ \t-]?0*([1-9]\d{0,5})([a-z])?(?![A-Za-z0-9])", re.I)
_EMAIL_RE = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_PHONE_RE = re.compile(r"\+?\(?\d[\d ()./-]{5,}\d")
_LABEL_RE = re.compile(r"^\s*[*>-]?\s*([A-Za-z][A-Za-z /']{1,25}?)\s*[:=]\s*(.*?)\s*$")
_LABELS = {
    "case": "case", "code": "case", "case code": "case", "case number": "case", "case no": "case",
    "case ref": "case", "reference": "case",
    "date": "date", "meeting date": "date", "date of meeting": "date",
    "time": "time", "start": "time", "start time": "time", "meeting time": "time",
    "end": "end", "end time": "end", "finish": "end", "finish time": "end", "until": "end",
    "duration": "duration", "length": "duration",
    "venue": "venue", "location": "venue", "place": "venue", "where": "venue", "address": "venue",
    "organiser": "organiser", "organizer": "organiser", "contact": "organiser",
    "organised by": "organiser", "organized by": "organiser", "chair": "organiser",
    "phone": "phone", "tel": "phone", "telephone": "phone", "mobile": "phone",
    "organiser phone": "phone", "contact phone": "phone",
    "email": "email", "e-mail": "email", "organiser email": "email", "contact email": "email",
    "type": "type", "meeting type": "type", "type of meeting": "type",
    "status": "status",
}
_MAX_BODY = 100_000
_STOP_RE = re.compile(r"^(?:--\s*|-{3,}\s*original message\s*-{3,}|_{5,}|on .{0,200}wrote:)$", re.I)


def social_work_may_receive(known: bool | None, open_: bool | None, allocated: bool | None) -> bool:
    """Social Work gets meeting notices only when the young person is known, open AND allocated."""
    return known is True and open_ is True and allocated is True


def contains_protected_name(text: str, names) -> bool:
    """True when any protected name (word-bounded, any case) occurs in ``text``."""
    low = (text or "").casefold().replace("\u2019", "'")
    for name in names or ():
        n = (name or "").strip().casefold().replace("\u2019", "'")
        if len(n) < 2:
            continue
        if re.search(r"(?<![^\W_])" + re.escape(n) + r"(?![^\W_])", low):
            return True
    return False


def looks_like_notice(subject: str, body: str) -> bool:
    """Cheap test used to route an email: a notice subject, or Date+Time+Venue/Case lines."""
    if _SUBJECT_RE.search(subject or ""):
        return True
    fields = _fields(body or "")
    return "date" in fields and "time" in fields and ("venue" in fields or "case" in fields)


def _body_lines(body: str):
    for raw in body[:_MAX_BODY].replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if _STOP_RE.match(raw.strip()):
            return
        if raw.lstrip().startswith(">"):
            continue
        yield raw


def _fields(body: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for raw in _body_lines(body):
        m = _LABEL_RE.match(raw)
        if not m:
            continue
        key = _LABELS.get(re.sub(r"\s+", " ", m.group(1).strip().lower()))
        if key and key not in out and m.group(2).strip():
            out[key] = m.group(2).strip()
    return out


def _code(text: str) -> list[str]:
    return sorted({f"CN{int(m.group(1))}{(m.group(2) or '').upper()}" for m in _CODE_RE.finditer(text)})


# -- dates and times -----------------------------------------------------------

_MONTHS = {m: i + 1 for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"])}


def _fallback_parse_date(text: str) -> date:
    """Local day-first date reader, used when mailbot.documents.dates is not available."""
    t = text.strip().lower().replace(",", " ")
    t = re.sub(r"\b(mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)[a-z]*\.?\s+", "", t)
    m = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", t)
    if m:
        y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
    else:
        m = re.fullmatch(r"(\d{1,2})\s*[/.-]\s*(\d{1,2})\s*[/.-]\s*(\d{2}|\d{4})", t)
        if m:
            d, mo, y = int(m.group(1)), int(m.group(2)), int(m.group(3))
        else:
            m = re.fullmatch(r"(\d{1,2})(?:st|nd|rd|th)?\s*(?:of\s+)?([a-z]{3,9})\.?\s+(\d{2}|\d{4})", t)
            if not m or m.group(2)[:3] not in _MONTHS:
                raise BadField("The date is not one I can read; write it like 15/02/2027.")
            d, mo, y = int(m.group(1)), _MONTHS[m.group(2)[:3]], int(m.group(3))
        if y < 100:
            y += 2000
    try:
        return date(y, mo, d)
    except ValueError:
        raise BadField("The date does not exist; write it like 15/02/2027.") from None


def _parse_date(text: str) -> date:
    """Day-first meeting date. Uses mailbot.documents.dates.parse_date when present (two-digit years are
    taken as 20yy); messages are our own, so they never echo what was typed."""
    try:
        from mailbot.documents.dates import parse_date  # written by another engineer; optional
    except ImportError:
        return _fallback_parse_date(text)
    try:
        return parse_date(text, what="meeting date", today=date(2099, 12, 31))
    except BadField as exc:
        if "not a real date" in str(exc):
            raise BadField("The date does not exist; write it like 15/02/2027.") from None
        raise BadField("The date is not one I can read; write it like 15/02/2027.") from None
    except Exception:
        return _fallback_parse_date(text)


def _parse_time(text: str, what: str) -> time:
    t = text.strip().lower()
    if t in ("noon", "12 noon", "midday"):
        return time(12, 0)
    m = re.fullmatch(r"(\d{1,2})\s*(?:[:.h]\s*(\d{2}))?\s*(a\.?m\.?|p\.?m\.?)?(?:\s*o'?clock)?", t)
    if not m:
        m4 = re.fullmatch(r"([01]\d|2[0-3])([0-5]\d)", t)
        if m4:
            return time(int(m4.group(1)), int(m4.group(2)))
        raise BadField(f"The {what} time is not one I can read; write it like 15:30 or 3.30pm.")
    h, mi, ampm = int(m.group(1)), int(m.group(2) or 0), (m.group(3) or "").replace(".", "")
    if mi > 59:
        raise BadField(f"The {what} time is not one I can read; write it like 15:30 or 3.30pm.")
    if ampm:
        if not 1 <= h <= 12:
            raise BadField(f"The {what} time is not one I can read; write it like 15:30 or 3.30pm.")
        h = h % 12 + (12 if ampm == "pm" else 0)
    else:
        if h > 23:
            raise BadField(f"The {what} time is not one I can read; write it like 15:30 or 3.30pm.")
        if 1 <= h <= 7 and not m.group(1).startswith("0"):
            raise BadField(f"The {what} time could be morning or afternoon; write it like 15:30 or 3.30pm.")
    return time(h, mi)


def _parse_duration(text: str) -> timedelta:
    t = text.strip().lower()
    m = re.fullmatch(r"(\d+(?:[.,]\d+)?)\s*(h|hr|hrs|hour|hours|m|min|mins|minutes?)", t)
    if m:
        n = float(m.group(1).replace(",", "."))
        minutes = n * 60 if m.group(2).startswith("h") else n
    else:
        m = re.fullmatch(r"(\d+)\s*(?:h|hr|hrs|hours?)\s*(?:and\s*)?(\d+)\s*(?:m|min|mins|minutes?)", t)
        if not m:
            raise BadField("The duration is not one I can read; write it like 90 min or 1.5 hours.")
        minutes = int(m.group(1)) * 60 + int(m.group(2))
    if not 15 <= minutes <= 8 * 60:
        raise BadField("The duration must be between 15 minutes and 8 hours.")
    return timedelta(minutes=round(minutes))


def _split_range(text: str) -> tuple[str, str | None]:
    parts = re.split(r"\s*(?:-|–|—|\bto\b|\buntil\b|\btill\b)\s*", text.strip(), maxsplit=1, flags=re.I)
    if len(parts) == 2 and parts[1]:
        return parts[0], parts[1]
    return text.strip(), None


def _organiser(fields: dict[str, str]) -> tuple[str, str | None, str | None]:
    raw = fields.get("organiser", "")
    email = None
    emails = _EMAIL_RE.findall(raw)
    if emails:
        email = emails[0].lower()
        for e in emails:
            raw = raw.replace(e, " ")
    phone = None
    pm = _PHONE_RE.search(raw)
    if pm and sum(c.isdigit() for c in pm.group(0)) >= 7:
        phone = re.sub(r"\s+", " ", pm.group(0)).strip()
        raw = raw[: pm.start()] + " " + raw[pm.end():]
    name = re.sub(r"[\s,;/|()<>]+", " ", raw).strip(" -:")
    if not email and fields.get("email"):
        e = _EMAIL_RE.search(fields["email"])
        if not e:
            raise BadField("The Email line does not hold a valid email address.")
        email = e.group(0).lower()
    if not phone and fields.get("phone"):
        p = _PHONE_RE.search(fields["phone"])
        if not p or sum(c.isdigit() for c in p.group(0)) < 7:
            raise BadField("The Phone line does not hold a phone number.")
        phone = re.sub(r"\s+", " ", p.group(0)).strip()
    return name, phone, email


def parse_notice(subject: str, body: str, *, now: datetime | None = None,
                 protected_names=()) -> MeetingNotice:
    """Read a meeting notice; raise a plain-language MailbotError naming the wrong/missing line.

    ``now`` (naive local) enables the "not in the past / not more than two
    years ahead" check. ``protected_names``: names from the Master List;
    if any occurs in subject or body the notice is refused (LeakDetected).
    """
    subject = (subject or "")[:1000]
    body = (body or "")[:_MAX_BODY]
    if protected_names and (contains_protected_name(subject, protected_names)
                            or contains_protected_name(body, protected_names)):
        raise LeakDetected("The meeting notice contains a young person's name, so it was not sent on. "
                           "Please send it again using the case code only.")
    fields = _fields(body)
    code = _notice_code(fields, subject)
    start, end = _start_and_end(fields)
    if now is not None:
        if start < now:
            raise BadField("The meeting date and time are in the past: check the Date and Time lines.")
        if start > now + timedelta(days=731):
            raise BadField("The meeting is more than two years away: check the Date line.")
    venue = _venue(fields)
    org_name, org_phone, org_email = _organiser_line(fields)
    status = fields.get("status", "").lower()
    cancelled = bool(re.search(r"\bcancel", status) or re.search(r"\bcancel", subject, re.I))
    return MeetingNotice(code=code, start=start, end=end, venue=venue, organiser_name=org_name,
                         organiser_phone=org_phone, organiser_email=org_email,
                         meeting_type=_meeting_type(fields), cancelled=cancelled)


def _notice_code(fields: dict[str, str], subject: str) -> str:
    """The case code: the Case line wins (and the subject may not name another); otherwise exactly one
    code in the subject."""
    if "case" in fields:
        codes = _code(fields["case"])
        rest = _CODE_RE.sub("", fields["case"]).strip(" .,;:-()")
        if len(codes) != 1:
            raise BadField("The Case line must hold one case code, like CN78.")
        if rest:
            raise BadField("The Case line must hold only the case code (like CN78), nothing else.")
        code = codes[0]
        others = [c for c in _code(subject) if c != code]
        if others:
            raise BadField(f"The subject names case {others[0]} but the Case line says {code}; "
                           "please send the notice again with one case code.")
        return code
    codes = _code(subject)
    if len(codes) != 1:
        if not _SUBJECT_RE.search(subject) and "date" not in fields:
            raise NotANotice("This email is not a meeting notice I can read: add a line 'Case: CN78'.")
        raise BadField("The case code is missing: add a line like 'Case: CN78'.")
    return codes[0]


def _start_and_end(fields: dict[str, str]) -> tuple[datetime, datetime]:
    """The start from the Date and Time lines; the end from a time range, the End line, a Duration,
    or the default 90 minutes. A meeting ends after it starts and lasts at most 8 hours."""
    if "date" not in fields:
        raise BadField("The Date line is missing: add a line like 'Date: 15/02/2027'.")
    day = _parse_date(fields["date"])
    if "time" not in fields:
        raise BadField("The Time line is missing: add a line like 'Time: 15:30'.")
    start_text, end_text = _split_range(fields["time"])
    if end_text and re.search(r"(am|pm|a\.m\.|p\.m\.)\s*$", end_text, re.I) and \
            not re.search(r"(am|pm|a\.m\.|p\.m\.)\s*$", start_text, re.I):
        # "3.30-5pm": the start shares the end's am/pm
        start_text = start_text + " " + re.search(r"(am|pm|a\.m\.|p\.m\.)\s*$", end_text, re.I).group(1)
    start = datetime.combine(day, _parse_time(start_text, "start"))
    if end_text is None and "end" in fields:
        end_text = fields["end"]
    if end_text is not None:
        end = datetime.combine(day, _parse_time(end_text, "end"))
        if end <= start:
            raise BadField("The meeting must end after it starts: check the Time and End lines.")
    elif "duration" in fields:
        end = start + _parse_duration(fields["duration"])
    else:
        end = start + DEFAULT_DURATION
    if end - start > timedelta(hours=8):
        raise BadField("The meeting would last more than 8 hours: check the Time and End lines.")
    return start, end


def _venue(fields: dict[str, str]) -> str:
    venue = re.sub(r"\s+", " ", fields.get("venue", "")).strip()
    if not venue:
        raise BadField("The Venue line is missing: add a line like 'Venue: Family Resource Centre'.")
    if len(venue) > 300:
        raise BadField("The Venue line is too long; keep it to the place and address.")
    return venue


def _organiser_line(fields: dict[str, str]) -> tuple[str, str | None, str | None]:
    """(name, phone, email) of the organiser: a name, and a phone number or an email address."""
    if "organiser" not in fields:
        raise BadField("The Organiser line is missing: add 'Organiser: name, phone, email'.")
    org_name, org_phone, org_email = _organiser(fields)
    if not org_name:
        raise BadField("The Organiser line needs the organiser's name.")
    if not org_phone and not org_email:
        raise BadField("The Organiser line needs a phone number or an email address.")
    return org_name, org_phone, org_email


def _meeting_type(fields: dict[str, str]) -> str | None:
    """One of MEETING_TYPES from the Type line (its first four letters are enough), None without one."""
    if "type" not in fields:
        return None
    t = fields["type"].strip().lower().split()[0].rstrip(".,")
    matches = [k for k in MEETING_TYPES if k.startswith(t[:4])] if len(t) >= 4 else []
    if len(matches) != 1:
        raise BadField("The Type line must be assessment, review, exit or handover.")
    return matches[0]
