"""Dates as people type them on Irish/UK forms: day first, never a guess.

``parse_date`` accepts 31/01/2012, 31-1-12, 31.01.2012, 31 Jan 2012,
31st January 2012, January 31st 2012, Jan 31, 2012 and ISO 2012-01-31.
Two-digit years take the century that puts the date not in the future.
An impossible date (31/02/2012) or one that cannot be read raises
:class:`~mailbot.errors.BadField` with a plain message.
"""

from __future__ import annotations

import datetime as _dt
import re

from mailbot.errors import BadField

MONTHS = {
    "jan": 1, "january": 1, "feb": 2, "february": 2, "mar": 3, "march": 3, "apr": 4, "april": 4,
    "may": 5, "jun": 6, "june": 6, "jul": 7, "july": 7, "aug": 8, "august": 8,
    "sep": 9, "sept": 9, "september": 9, "oct": 10, "october": 10, "nov": 11, "november": 11,
    "dec": 12, "december": 12,
}
_MONTH_RE = r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
_DAY_RE = r"(\d{1,2})(?:st|nd|rd|th)?"
_WEEKDAY_RE = r"(?:(?:mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)(?:day|nesday|sday|urday|rsday)?\.?,?\s+)?"

_NUMERIC = re.compile(r"^(\d{1,2})\s*([/\-.])\s*(\d{1,2})\s*\2\s*(\d{2}|\d{4})$")
_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:t[\d:.]+z?)?$")
_DMY_WORDS = re.compile(rf"^{_WEEKDAY_RE}{_DAY_RE}\s*(?:of\s+)?[\s\-/]*{_MONTH_RE}[\s,\-/]*(\d{{2}}|\d{{4}})$")
_MDY_WORDS = re.compile(rf"^{_WEEKDAY_RE}{_MONTH_RE}\s+{_DAY_RE},?\s+(\d{{2}}|\d{{4}})$")


def _clean(text: str) -> str:
    s = (text or "").strip().lower()
    s = s.replace("\u2013", "-").replace("\u2014", "-").replace("\u2011", "-").replace("\u00a0", " ")
    s = re.sub(r"\s+", " ", s)
    return s.strip(" .,;")


def _year(y: str, month: int, day: int, today: _dt.date) -> int:
    if len(y) == 4:
        return int(y)
    yy = int(y)
    century = today.year // 100 * 100
    for cand in (century + yy, century - 100 + yy):
        try:
            if _dt.date(cand, month, day) <= today:
                return cand
        except ValueError:
            # 29 Feb in a non-leap candidate: try the other century
            if cand % 4 == 0:
                return cand
            continue
    return century - 100 + yy


def _not_real(what: str, raw: str) -> BadField:
    return BadField(
        f"The {what} '{raw.strip()}' is not a real date. Please correct it and send the form again.",
        reason="bad-date",
    )


def _unreadable(what: str, raw: str) -> BadField:
    shown = raw.strip()
    if len(shown) > 40:
        shown = shown[:37] + "..."
    return BadField(
        f"The {what} '{shown}' cannot be read as a date; please write it as day/month/year "
        f"(for example 31/01/2012) and send the form again.",
        reason="bad-date",
    )


def parse_date(text: str, *, what: str = "date", today: _dt.date | None = None) -> _dt.date:
    """Read a day-first date; raise BadField if it is impossible or unreadable.

    ``what`` names the field in the message ("date of birth").
    """
    today = today or _dt.date.today()
    s = _clean(text)
    if not s:
        raise BadField(f"The {what} is empty. Please fill it in and send the form again.", reason="bad-date")
    m = _ISO.match(s)
    if m:
        y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
        return _make(y, mo, d, what, text)
    m = _NUMERIC.match(s)
    if m:
        d, mo, y = int(m.group(1)), int(m.group(3)), m.group(4)
        if not (1 <= mo <= 12 and 1 <= d <= 31):
            raise _not_real(what, text)
        return _make(_year(y, mo, d, today), mo, d, what, text)
    m = _DMY_WORDS.match(s)
    if m:
        d, mo, y = int(m.group(1)), MONTHS[m.group(2)], m.group(3)
        return _make(_year(y, mo, min(d, 28), today) if len(y) == 2 else int(y), mo, d, what, text)
    m = _MDY_WORDS.match(s)
    if m:
        mo, d, y = MONTHS[m.group(1)], int(m.group(2)), m.group(3)
        return _make(_year(y, mo, min(d, 28), today) if len(y) == 2 else int(y), mo, d, what, text)
    raise _unreadable(what, text)


def _make(y: int, mo: int, d: int, what: str, raw: str) -> _dt.date:
    try:
        return _dt.date(y, mo, d)
    except ValueError:
        raise _not_real(what, raw) from None


def parse_date_or_none(text: str, *, what: str = "date", today: _dt.date | None = None) -> _dt.date | None:
    """Like parse_date, but an empty value or 'N/A'/'unknown' gives None (impossible dates still raise)."""
    s = _clean(text)
    if s in ("", "n/a", "na", "none", "unknown", "not known", "tbc", "tba", "-", "?"):
        return None
    return parse_date(text, what=what, today=today)


# -- times -------------------------------------------------------------------

_TIME = re.compile(
    r"(?<![\d/.\-])(\d{1,2})(?:[:.](\d{2}))?\s*(a\.?m\.?|p\.?m\.?)?(?![\d/\-])"
)


def parse_time(text: str) -> _dt.time:
    """Read a clock time: 15:30, 15.30, 3.30pm, 3pm, 10 a.m., noon. Raises BadField."""
    s = _clean(text).replace("o'clock", "").strip()
    if s in ("noon", "midday", "12 noon"):
        return _dt.time(12, 0)
    m = re.fullmatch(r"(?:at\s+)?(\d{1,2})(?:[:.](\d{2}))?\s*(a\.?m\.?|p\.?m\.?)?(?:\s*hrs?)?", s)
    if not m or (m.group(2) is None and m.group(3) is None and len(m.group(1)) < 1):
        raise BadField(f"The time '{text.strip()[:40]}' cannot be read; please write it like 15:30.",
                       reason="bad-time")
    return _make_time(m.group(1), m.group(2), m.group(3), text)


def _make_time(h: str, mi: str | None, ampm: str | None, raw: str) -> _dt.time:
    hour, minute = int(h), int(mi or 0)
    if ampm:
        if not 1 <= hour <= 12:
            raise BadField(f"The time '{raw.strip()[:40]}' is not a real time.", reason="bad-time")
        pm = ampm.startswith("p")
        hour = hour % 12 + (12 if pm else 0)
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        raise BadField(f"The time '{raw.strip()[:40]}' is not a real time.", reason="bad-time")
    return _dt.time(hour, minute)


_DATE_IN_TEXT = re.compile(
    rf"(\d{{4}}-\d{{1,2}}-\d{{1,2}}"
    rf"|\d{{1,2}}\s*[/\-.]\s*\d{{1,2}}\s*[/\-.]\s*\d{{2,4}}"
    rf"|{_WEEKDAY_RE}{_DAY_RE}\s*(?:of\s+)?{_MONTH_RE},?\s+\d{{2,4}}"
    rf"|{_WEEKDAY_RE}{_MONTH_RE}\s+{_DAY_RE},?\s+\d{{2,4}})",
    re.IGNORECASE,
)


def find_date(text: str, *, what: str = "date", today: _dt.date | None = None) -> _dt.date | None:
    """The first date written anywhere in ``text`` (None if there is none; impossible dates raise)."""
    m = _DATE_IN_TEXT.search(text or "")
    if not m:
        return None
    return parse_date(m.group(0), what=what, today=today)


def parse_datetime(text: str, *, what: str = "date and time",
                   today: _dt.date | None = None) -> tuple[_dt.date | None, _dt.time | None]:
    """Find a date and a clock time in free text ("15/02/2027 at 15:30", "Tue 3 March 2027, 3.30pm").

    Returns (date or None, time or None); an impossible date raises BadField.
    """
    text = text or ""
    m = _DATE_IN_TEXT.search(text)
    date = parse_date(m.group(0), what=what, today=today) if m else None
    rest = (text[: m.start()] + " " + text[m.end():]) if m else text
    time = None
    for tm in _TIME.finditer(rest.lower()):
        if tm.group(2) is None and tm.group(3) is None:
            continue  # a bare number is not a time
        try:
            time = _make_time(tm.group(1), tm.group(2), tm.group(3), tm.group(0))
            break
        except BadField:
            continue
    return date, time
