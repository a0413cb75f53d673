"""The dates minutes give: the meeting's own date and the date for the next meeting (or TBC).

Dates are read by :mod:`mailbot.documents.dates` (day first). The words for "to be confirmed", a time
still to be confirmed, noon, and the sentences that announce the next meeting are data
(rules/minutes_labels.toml [next_meeting]). Error messages never quote the document.
"""

from __future__ import annotations

import datetime as dt
import logging
import re

from mailbot.documents.dates import parse_datetime as _shared_parse_datetime
from mailbot.documents.minutes.blocks import clean, minutes_rules
from mailbot.errors import BadField

log = logging.getLogger("mailbot.minutes")

_NEXT = minutes_rules()["next_meeting"]
TBC = re.compile("|".join(_NEXT["tbc"]), re.I)
_TIME_TBC = re.compile("|".join(_NEXT["time_tbc"]), re.I)
_NOON = re.compile("|".join(_NEXT["noon"]), re.I)
NEXT_SENTENCE = re.compile("|".join(_NEXT["sentences"]), re.I)


def parse_meeting_date(text: str) -> dt.date:
    """The meeting date (mailbot.documents.dates, day first); a plain message that does not quote the text."""
    try:
        day, _time = _shared_parse_datetime(text, what="meeting date")
    except BadField as exc:
        raise BadField("The meeting date at the top of the minutes is not a real date; please check it.",
                       reason="bad-date") from exc
    if day is None:
        raise BadField("The meeting date at the top of the minutes cannot be read; "
                       "please write it as DD/MM/YYYY.", reason="bad-date")
    return day


def parse_next_meeting(value: str, ref: dt.date | None = None) -> dt.datetime | dt.date | None:
    """The date for the next meeting: a datetime, a date (no time given, or the time still to be
    confirmed) or None (TBC, none, missing, unreadable)."""
    value = clean(value)
    if not value:
        return None
    timeless = bool(_TIME_TBC.search(value))
    if timeless:
        value = _TIME_TBC.sub(" ", value)  # "8 September 2027 (time to be confirmed)": the date stands
    if TBC.search(value):
        return None
    value = _NOON.sub(" 12:00 ", value)
    try:
        day, time = _shared_parse_datetime(value, what="next meeting date")
    except BadField:
        day, time = None, None
    if day is None:
        log.info("next meeting date not readable; recorded as not set")
        return None
    ref = ref or dt.date.today()
    if day.year < ref.year - 50:  # "02.06.27": two-digit years are read as past years (dates of birth)
        day = day.replace(year=day.year + 100)
    if timeless:
        time = None
    return dt.datetime.combine(day, time) if time else day


def next_meeting(written: str | None, sentence: str | None, ref: dt.date | None) -> dt.datetime | dt.date | None:
    """The next meeting from the labelled value as written ("Date for the next meeting: ..."); only when
    no value is written at all, from a sentence ("We will meet again on ...")."""
    when = parse_next_meeting(written or "", ref)
    if when is None and not written and sentence:
        when = parse_next_meeting(sentence, ref)
    return when
