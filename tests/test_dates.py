"""Day-first dates as typed on Irish/UK forms."""

from __future__ import annotations

import datetime as dt

import pytest

from mailbot.documents.dates import find_date, parse_date, parse_date_or_none, parse_datetime, parse_time
from mailbot.errors import BadField

TODAY = dt.date(2026, 11, 23)
D = dt.date


@pytest.mark.parametrize("text, expected", [
    ("31/01/2012", D(2012, 1, 31)),
    ("31-1-12", D(2012, 1, 31)),
    ("31.01.2012", D(2012, 1, 31)),
    ("08-03-13", D(2013, 3, 8)),
    ("1/2/2012", D(2012, 2, 1)),  # day first, never US order
    ("31 Jan 2012", D(2012, 1, 31)),
    ("31st January 2012", D(2012, 1, 31)),
    ("3rd June 2012", D(2012, 6, 3)),
    ("7 Aug 2014", D(2014, 8, 7)),
    ("10 May 2012", D(2012, 5, 10)),
    ("12 Jul 2013", D(2013, 7, 12)),
    ("20 April 2014", D(2014, 4, 20)),
    ("22nd of Sept 2010", D(2010, 9, 22)),
    ("31-Jan-2012", D(2012, 1, 31)),
    ("January 31st 2012", D(2012, 1, 31)),
    ("Jan 31, 2012", D(2012, 1, 31)),
    ("2012-01-31", D(2012, 1, 31)),
    ("  14/10/2008 ", D(2008, 10, 14)),
    ("Tuesday 3 March 2026", D(2026, 3, 3)),
    ("29/02/2012", D(2012, 2, 29)),
    ("29/02/24", D(2024, 2, 29)),
])
def test_reads(text, expected):
    assert parse_date(text, today=TODAY) == expected


@pytest.mark.parametrize("text, expected", [
    ("01/01/26", D(2026, 1, 1)),   # this year, already past
    ("01/12/26", D(1926, 12, 1)),  # would be in the future: previous century
    ("05/05/99", D(1999, 5, 5)),
    ("05/05/08", D(2008, 5, 5)),
])
def test_two_digit_years_never_in_the_future(text, expected):
    assert parse_date(text, today=TODAY) == expected


@pytest.mark.parametrize("text", ["31/02/2012", "32/1/2012", "30/13/2012", "29/02/2023", "31 April 2012",
                                  "0/1/2012", "2012-02-30", "31/06/12"])
def test_impossible_dates_refused_plainly(text):
    with pytest.raises(BadField) as exc:
        parse_date(text, what="date of birth", today=TODAY)
    msg = str(exc.value)
    assert "\n" not in msg
    assert f"The date of birth '{text}' is not a real date." in msg


def test_exact_message_from_the_brief():
    with pytest.raises(BadField) as exc:
        parse_date("31/02/2012", what="date of birth")
    assert str(exc.value) == ("The date of birth '31/02/2012' is not a real date. "
                              "Please correct it and send the form again.")


@pytest.mark.parametrize("text", ["next Tuesday", "2012", "12/2012", "sometime in May", "31/01"])
def test_unreadable_refused(text):
    with pytest.raises(BadField) as exc:
        parse_date(text, today=TODAY)
    assert "cannot be read as a date" in str(exc.value)


def test_or_none():
    assert parse_date_or_none("N/A") is None
    assert parse_date_or_none("") is None
    assert parse_date_or_none("1/2/2012") == D(2012, 2, 1)
    with pytest.raises(BadField):
        parse_date_or_none("31/02/2012")


@pytest.mark.parametrize("text, expected", [
    ("15:30", dt.time(15, 30)), ("15.30", dt.time(15, 30)), ("3.30pm", dt.time(15, 30)),
    ("3pm", dt.time(15, 0)), ("10 a.m.", dt.time(10, 0)), ("12am", dt.time(0, 0)), ("noon", dt.time(12, 0)),
])
def test_times(text, expected):
    assert parse_time(text) == expected


@pytest.mark.parametrize("text", ["25:00", "13pm", "soon"])
def test_bad_times(text):
    with pytest.raises(BadField):
        parse_time(text)


@pytest.mark.parametrize("text, date, time", [
    ("15/02/2027 at 15:30", D(2027, 2, 15), dt.time(15, 30)),
    ("Tuesday 3 March 2027, 3.30pm in the Family Centre", D(2027, 3, 3), dt.time(15, 30)),
    ("Next meeting: 4th May 2027 10am", D(2027, 5, 4), dt.time(10, 0)),
    ("TBC", None, None),
    ("Room 12, 2 June 2027", D(2027, 6, 2), None),
])
def test_parse_datetime(text, date, time):
    assert parse_datetime(text, today=TODAY) == (date, time)


def test_find_date():
    assert find_date("Signed: A. Person  Date: 05/04/2025") == D(2025, 4, 5)
    assert find_date("no date here") is None
