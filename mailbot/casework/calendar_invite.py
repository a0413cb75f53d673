"""iCalendar (RFC 5545) invitations for Network Case Meetings, written by hand.

``build_ics(...)`` returns the bytes of a ``text/calendar`` part
(``method=REQUEST`` or ``CANCEL``) that Outlook, Thunderbird and Google
Calendar accept:

- CRLF line endings; lines folded at 75 octets (never inside a UTF-8
  character); TEXT values escaped (``\\``, ``;``, ``,``, newlines);
- ``DTSTAMP`` in UTC; ``DTSTART``/``DTEND`` as local wall time with
  ``TZID`` plus a ``VTIMEZONE`` block generated from the zoneinfo database
  (yearly ``RRULE`` for zones with daylight saving, e.g. Europe/Dublin
  GMT/IST and Europe/London GMT/BST; a single ``STANDARD`` otherwise);
- ``UID`` stable per meeting (use :func:`meeting_uid`), ``SEQUENCE``
  raised by the caller for every update; ``METHOD:CANCEL`` with
  ``STATUS:CANCELLED`` for a cancellation (same UID, higher SEQUENCE);
- ``ORGANIZER`` and one ``ATTENDEE`` per address with ``RSVP=TRUE``.

Summary and description must carry the case code only, never a name.
When sending, attach with ``Content-Type: text/calendar; charset=UTF-8;
method=REQUEST`` (or ``CANCEL``).
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mailbot.errors import BadField

__all__ = ["build_ics", "meeting_uid", "escape_text", "fold_line", "vtimezone_lines"]

PRODID = "-//mailbot//Network Case Meeting//EN"
_EMAIL_RE = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


def meeting_uid(code: str, meeting_no: int | str, domain: str = "mailbot.invalid") -> str:
    """A UID that stays the same for every update/cancel of one meeting: ``CN78-m2@domain``."""
    safe = re.sub(r"[^A-Za-z0-9.-]", "", f"{code}-m{meeting_no}")
    dom = re.sub(r"[^A-Za-z0-9.-]", "", domain) or "mailbot.invalid"
    return f"{safe}@{dom}"


def escape_text(value: str) -> str:
    """Escape a TEXT value (RFC 5545 3.3.11)."""
    value = (value or "").replace("\r\n", "\n").replace("\r", "\n")
    value = "".join(ch for ch in value if ch == "\n" or ch == "\t" or ord(ch) >= 32 and ord(ch) != 127)
    return (value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\n", "\\n"))


def fold_line(line: str) -> str:
    """Fold one content line at 75 octets (continuations start with one space); CRLF-joined."""
    data = line.encode("utf-8")
    if len(data) <= 75:
        return line
    pieces: list[str] = []
    cur = ""
    cur_len = 0
    limit = 75
    for ch in line:
        n = len(ch.encode("utf-8"))
        if cur_len + n > limit:
            pieces.append(cur)
            cur, cur_len = " ", 1
            limit = 75
        cur += ch
        cur_len += n
    pieces.append(cur)
    return "\r\n".join(pieces)


def _param(value: str) -> str:
    """A parameter value: quoted when it holds : ; , and without DQUOTE or controls."""
    value = "".join(ch for ch in value if ord(ch) >= 32 and ch != '"' and ord(ch) != 127)
    return f'"{value}"' if any(c in value for c in ":;,") else value


def _address(addr: str, what: str) -> str:
    addr = (addr or "").strip()
    if addr.lower().startswith("mailto:"):
        addr = addr[7:]
    if not _EMAIL_RE.fullmatch(addr):
        raise BadField(f"The {what} email address is not a valid address.")
    return addr


def _fmt_local(dt: datetime) -> str:
    return dt.strftime("%Y%m%dT%H%M%S")


def _fmt_offset(td: timedelta) -> str:
    total = int(td.total_seconds())
    sign = "+" if total >= 0 else "-"
    total = abs(total)
    h, rem = divmod(total, 3600)
    m, s = divmod(rem, 60)
    return f"{sign}{h:02d}{m:02d}" + (f"{s:02d}" if s else "")


def _transitions(tz: ZoneInfo, year: int) -> list[datetime]:
    """UTC instants in ``year`` at which the UTC offset of ``tz`` changes."""
    out = []
    t = datetime(year, 1, 1, tzinfo=timezone.utc)
    end = datetime(year + 1, 1, 1, tzinfo=timezone.utc)
    step = timedelta(days=1)
    prev = t.astimezone(tz).utcoffset()
    while t < end:
        nxt = t + step
        off = nxt.astimezone(tz).utcoffset()
        if off != prev:
            lo, hi = t, nxt  # offset(lo) == prev, offset(hi) != prev
            while hi - lo > timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                mid = mid.replace(microsecond=0)
                if mid == lo:
                    break
                if mid.astimezone(tz).utcoffset() == prev:
                    lo = mid
                else:
                    hi = mid
            out.append(hi)
            prev = off
        t = nxt
    return out


def _byday(d: date) -> str:
    wd = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"][d.weekday()]
    last = (d + timedelta(days=7)).month != d.month
    if last:
        return f"-1{wd}"
    return f"{(d.day - 1) // 7 + 1}{wd}"


def _observances(tz: ZoneInfo, trans: list[datetime]):
    """(kind, month, byday, wall clock HHMMSS, offset before, offset after, name) per change."""
    out = []
    for instant in trans:
        before = (instant - timedelta(seconds=1)).astimezone(tz).utcoffset()
        after = instant.astimezone(tz)
        # the larger offset is "daylight" (Europe/Dublin: IST in summer), whatever tzdata's flag says
        kind = "DAYLIGHT" if after.utcoffset() > before else "STANDARD"
        local_start = (instant + before).replace(tzinfo=None)  # wall clock in the old offset
        out.append((kind, local_start.month, _byday(local_start.date()),
                    local_start.strftime("%H%M%S"), before, after.utcoffset(), after.tzname()))
    return out


def _nth_weekday(year: int, month: int, byday: str) -> date:
    n = int(byday[:-2])
    wd = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"].index(byday[-2:])
    if n > 0:
        d = date(year, month, 1)
        d += timedelta(days=(wd - d.weekday()) % 7)
        return d + timedelta(weeks=n - 1)
    d = (date(year, month, 28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    d -= timedelta(days=(d.weekday() - wd) % 7)
    return d + timedelta(weeks=n + 1)


def vtimezone_lines(tz_name: str, year: int) -> list[str]:
    """VTIMEZONE content lines for ``tz_name`` valid around ``year`` (unfolded)."""
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise BadField(f"The time zone '{tz_name[:40]}' is not known.") from None
    lines = ["BEGIN:VTIMEZONE", f"TZID:{tz_name}"]
    trans = _transitions(tz, year)
    if not trans:
        probe = datetime(year, 1, 1, 12, tzinfo=timezone.utc).astimezone(tz)
        off = _fmt_offset(probe.utcoffset())
        lines += ["BEGIN:STANDARD", "DTSTART:19700101T000000", f"TZOFFSETFROM:{off}",
                  f"TZOFFSETTO:{off}", f"TZNAME:{probe.tzname()}", "END:STANDARD"]
        lines.append("END:VTIMEZONE")
        return lines
    this_year = _observances(tz, trans)
    next_year = _observances(tz, _transitions(tz, year + 1))
    same_rule = (len(this_year) == 2 and
                 [o[:5] for o in this_year] == [o[:5] for o in next_year])
    if same_rule:
        # yearly rule: anchored in 1970 so that it covers any meeting date
        for kind, month, byday, clock, before, after, name in this_year:
            first = _nth_weekday(1970, month, byday)
            lines += [f"BEGIN:{kind}", f"DTSTART:{first:%Y%m%d}T{clock}",
                      f"TZOFFSETFROM:{_fmt_offset(before)}", f"TZOFFSETTO:{_fmt_offset(after)}",
                      f"TZNAME:{name}", f"RRULE:FREQ=YEARLY;BYMONTH={month};BYDAY={byday}",
                      f"END:{kind}"]
    else:
        # irregular zone: list each change of the surrounding years explicitly
        for y in (year - 1, year, year + 1):
            for instant in _transitions(tz, y):
                before = (instant - timedelta(seconds=1)).astimezone(tz).utcoffset()
                after = instant.astimezone(tz)
                kind = "DAYLIGHT" if after.utcoffset() > before else "STANDARD"
                local_start = (instant + before).replace(tzinfo=None)
                lines += [f"BEGIN:{kind}", f"DTSTART:{_fmt_local(local_start)}",
                          f"TZOFFSETFROM:{_fmt_offset(before)}",
                          f"TZOFFSETTO:{_fmt_offset(after.utcoffset())}",
                          f"TZNAME:{after.tzname()}", f"END:{kind}"]
    lines.append("END:VTIMEZONE")
    return lines


def _local(dt: datetime, tz: ZoneInfo) -> datetime:
    """Wall-clock time in ``tz`` (naive input is taken as already local)."""
    if dt.tzinfo is not None:
        dt = dt.astimezone(tz)
    return dt.replace(tzinfo=None, microsecond=0)


def build_ics(uid: str, start: datetime, end: datetime, tz_name: str = "Europe/Dublin",
              summary: str = "", location: str = "", description: str = "",
              organizer_email: str = "", attendee_emails: list[str] | tuple[str, ...] = (),
              sequence: int = 0, method: str = "REQUEST", *, organizer_name: str = "",
              now: datetime | None = None) -> bytes:
    """Build an iCalendar invitation (``method`` REQUEST) or cancellation (CANCEL).

    ``start``/``end``: naive datetimes are wall-clock times in ``tz_name``;
    aware ones are converted. ``now`` sets DTSTAMP (default: the current
    time). Raises :class:`BadField` with a plain message for impossible input.
    """
    method = (method or "").upper()
    if method not in ("REQUEST", "CANCEL"):
        raise BadField("The calendar method must be REQUEST or CANCEL.")
    uid = (uid or "").strip()
    if not uid or any(ord(c) < 33 or ord(c) == 127 for c in uid) or len(uid) > 255:
        raise BadField("The meeting identifier (UID) is missing or has spaces in it.")
    if not isinstance(sequence, int) or sequence < 0:
        raise BadField("The invitation sequence number must be 0 or more.")
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise BadField(f"The time zone '{str(tz_name)[:40]}' is not known.") from None
    s_local, e_local = _local(start, tz), _local(end, tz)
    if e_local <= s_local:
        raise BadField("The meeting must end after it starts.")
    organizer = _address(organizer_email, "organiser's")
    attendees: list[str] = []
    seen = set()
    for a in attendee_emails:
        addr = _address(a, "invitee's")
        if addr.lower() not in seen:
            seen.add(addr.lower())
            attendees.append(addr)
    stamp = (now or datetime.now(timezone.utc))
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    stamp = stamp.astimezone(timezone.utc)

    lines = ["BEGIN:VCALENDAR", f"PRODID:{PRODID}", "VERSION:2.0", "CALSCALE:GREGORIAN",
             f"METHOD:{method}"]
    lines += vtimezone_lines(tz_name, s_local.year)
    lines += [
        "BEGIN:VEVENT",
        f"UID:{uid}",
        f"DTSTAMP:{stamp.strftime('%Y%m%dT%H%M%SZ')}",
        f"SEQUENCE:{sequence}",
        f"DTSTART;TZID={tz_name}:{_fmt_local(s_local)}",
        f"DTEND;TZID={tz_name}:{_fmt_local(e_local)}",
        f"SUMMARY:{escape_text(summary)}",
    ]
    if location:
        lines.append(f"LOCATION:{escape_text(location)}")
    if description:
        lines.append(f"DESCRIPTION:{escape_text(description)}")
    cn = f";CN={_param(organizer_name)}" if organizer_name.strip() else ""
    lines.append(f"ORGANIZER{cn}:mailto:{organizer}")
    partstat = "NEEDS-ACTION"
    for addr in attendees:
        rsvp = "TRUE" if method == "REQUEST" else "FALSE"
        lines.append(f"ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT={partstat};"
                     f"RSVP={rsvp}:mailto:{addr}")
    lines += [
        f"STATUS:{'CONFIRMED' if method == 'REQUEST' else 'CANCELLED'}",
        "TRANSP:OPAQUE",
        "CLASS:PRIVATE",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return ("\r\n".join(fold_line(l) for l in lines) + "\r\n").encode("utf-8")
