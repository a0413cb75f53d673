"""Read Network Case Meeting Minutes written by a lead agency.

Minutes follow the Guide's template (Case Number, Lead Agency, Date, Chair,
Minutes taker, In Attendance, Apologies; 1 Discussion of case; 2 Actions
decided and who is responsible; 3 Monitor and review; 4 Attendance sheet;
5 AOB; Date for the next meeting), but each lead agency types them its own
way: the header on one line or in a table, actions in a table or as bullet
lines "Action – Person (Agency)", the next meeting as a date and time or
"TBC". This package reads all of those into :class:`Minutes`.

Pure functions on an opened package; the only I/O is :func:`read_minutes`
opening the file through :func:`mailbot.documents.package.open_package` (safe).
Error messages describe what is missing; they never quote the document
(minutes may carry a young person's name by mistake).

The package, in the order minutes are read: :mod:`.blocks` gives the body as paragraphs and tables
(and the shared text helpers), :mod:`.header` the labelled header fields (:mod:`.labels`), the Case
Number and whether the document is minutes at all; :mod:`.people` the attendance and apologies,
:mod:`.actions` the actions decided, :mod:`.units` and :mod:`.evidence` the exit, handover and next
meeting where they are written, :mod:`.meeting_dates` the dates; :mod:`.result` is the
:class:`Minutes` record. This module is the public face: the names below are what the rest of
mailbot imports.
"""

from __future__ import annotations

import logging
from pathlib import Path

from mailbot.documents.minutes.actions import actions
from mailbot.documents.minutes.blocks import RULES, Para, Table, clean, document_blocks, norm
from mailbot.documents.minutes.evidence import decide_exit_and_handover, read_units
from mailbot.documents.minutes.header import case_code, check_is_minutes, check_not_empty, header_pairs, title_text
from mailbot.documents.minutes.meeting_dates import next_meeting, parse_meeting_date
from mailbot.documents.minutes.people import apologies, attendees, name_only
from mailbot.documents.minutes.result import Action, Attendee, Minutes, NotMinutes
from mailbot.documents.minutes.units import units
from mailbot.documents.package import Package, open_package

__all__ = ["Action", "Attendee", "Minutes", "NotMinutes", "Para", "RULES", "Table", "document_blocks",
           "parse_minutes", "read_minutes"]

log = logging.getLogger("mailbot.minutes")


def parse_minutes(pkg: Package) -> Minutes:
    """Read the fields of Network Case Meeting Minutes from an opened package."""
    blocks = document_blocks(pkg)
    check_not_empty(blocks)
    fields, first_section = header_pairs(blocks)
    title = title_text(blocks, first_section)
    check_is_minutes(blocks, fields, title)
    code = case_code(pkg, fields, title)
    date = parse_meeting_date(fields["date"]) if fields.get("date") else None
    minutes = Minutes(
        case_code=code,
        lead_agency=clean(fields.get("lead_agency")) or None,
        date=date,
        chair=name_only(fields.get("chair")),
        minutes_taker=name_only(fields.get("minutes_taker")),
    )
    minutes.attendees = attendees(blocks, fields.get("in_attendance", ""))
    minutes.apologies = apologies(fields.get("apologies", ""))
    minutes.actions = actions(blocks, {norm(a.name) for a in minutes.attendees} | {norm(n) for n in minutes.apologies})
    read = read_units(units(blocks, first_section), code, _people_named(minutes))
    minutes.next_meeting = next_meeting(fields.get("next_meeting") or read.next_meeting, read.next_meeting_sentence,
                                        date)
    decide_exit_and_handover(minutes, read)
    log.info("minutes read: case %s, exit %s, handover %s", minutes.case_code, minutes.exit.value,
             minutes.handover.value)
    log.info("minutes read: case %s, %d attendees, %d actions", minutes.case_code, len(minutes.attendees),
             len(minutes.actions))
    return minutes


def _people_named(minutes: Minutes) -> tuple[str, ...]:
    """Everyone the minutes name as at (or excused from) the meeting: a handover "to" one of them is to a
    person, not to an agency."""
    return tuple(x for x in [minutes.chair, minutes.minutes_taker, *(a.name for a in minutes.attendees),
                             *minutes.apologies] if x)


def read_minutes(source: bytes | str | Path) -> tuple[Package, Minutes]:
    """Open a minutes document safely and read it; raises BadDocument / NotMinutes / BadField."""
    pkg = open_package(source)
    return pkg, parse_minutes(pkg)
