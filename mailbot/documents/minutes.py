"""Read Network Case Meeting Minutes written by a lead agency.

Minutes follow the Guide's template (Case Number, Lead Agency, Date, Chair,
Minutes taker, In Attendance, Apologies; 1 Discussion of case; 2 Actions
decided and who is responsible; 3 Monitor and review; 4 Attendance sheet;
5 AOB; Date for the next meeting), but each lead agency types them its own
way: the header on one line or in a table, actions in a table or as bullet
lines "Action – Person (Agency)", the next meeting as a date and time or
"TBC". This module reads all of those into :class:`Minutes`.

Pure functions on an opened package; the only I/O is :func:`read_minutes`
opening the file through :func:`mailbot.documents.package.open_package` (safe).
Error messages describe what is missing; they never quote the document
(minutes may carry a young person's name by mistake).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from mailbot.documents import text as docx_text
from mailbot.documents.dates import parse_datetime as _shared_parse_datetime
from mailbot.documents.package import Package, open_package
from mailbot.documents import minutes_decisions as decisions
from mailbot.documents.minutes_decisions import AGREED, MENTION, NOT, PENDING, UNCLEAR, Decision, Evidence
from mailbot.errors import BadField, MailbotError

log = logging.getLogger("mailbot.minutes")

RULES = decisions.RULES_FILE  # rules/minutes_labels.toml


class NotMinutes(MailbotError):
    """A readable Word document that is not Network Case Meeting Minutes."""

    reason = "not-minutes"


# -- the result ------------------------------------------------------------------

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

    def to_json(self) -> dict:
        nm = self.next_meeting
        if isinstance(nm, dt.datetime):
            nm_text = nm.strftime("%Y-%m-%dT%H:%M")
        elif isinstance(nm, dt.date):
            nm_text = nm.isoformat()
        else:
            nm_text = None
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
            if _norm(name) not in {_norm(s) for s in seen}:
                seen.append(name)
        return seen


# -- reading the document's text ------------------------------------------------------

@dataclass
class Para:
    text: str
    style: str = ""


@dataclass
class Table:
    rows: list[list[str]]


def document_blocks(pkg: Package) -> list:
    """The body as Para and Table (cell texts), in reading order, via mailbot.documents.text."""
    out: list = []
    for b in docx_text.blocks(pkg):
        if isinstance(b, docx_text.Table):
            out.append(Table([[c.text.replace("\u00a0", " ") for c in row] for row in b.rows]))
        else:
            out.append(Para(b.text.replace("\u00a0", " "), b.style))
    return out


# -- small text helpers ---------------------------------------------------------------

_DASHES = "\u2013\u2014\u2012\u2015"
_SPACE = re.compile(r"[ \t\u00a0\u2002\u2003\u2009]+")


def _clean(text: str | None) -> str:
    return _SPACE.sub(" ", (text or "").replace("\u200b", "")).strip(" \t:;,.-" + _DASHES)


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9@]+", " ", text.lower()).strip()


def _strip_parens(text: str) -> str:
    return _clean(re.sub(r"\s*\([^()]*\)\s*$", "", text.strip()))


def _split_top(text: str, seps: str = ",;") -> list[str]:
    """Split on separators that are not inside parentheses."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth = max(0, depth - 1)
        if ch in seps and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


_NONE_WORDS = {"", "none", "n/a", "na", "nil", "no", "no apologies", "none received", "-"}


@lru_cache(maxsize=1)
def _minutes_rules() -> dict:
    """rules/minutes_labels.toml, read once: the labels, sections and next-meeting words."""
    return tomllib.loads(RULES.read_text(encoding="utf-8"))


_NEXT = _minutes_rules()["next_meeting"]
_TBC = re.compile("|".join(_NEXT["tbc"]), re.I)
_TIME_TBC = re.compile("|".join(_NEXT["time_tbc"]), re.I)
_NOON = re.compile("|".join(_NEXT["noon"]), re.I)
_NEXT_SENTENCE = re.compile("|".join(_NEXT["sentences"]), re.I)


# -- header labels --------------------------------------------------------------------

# label name -> regex (matched case-insensitively, at the start of a segment, followed by ":" / tab):
# data, in rules/minutes_labels.toml [labels]
_RULES = _minutes_rules()
_LABEL_TABLE = _RULES["labels"]
_LABELS: list[tuple[str, str]] = [(k, "|".join(f"(?:{p})" for p in _LABEL_TABLE[k])) for k in _LABEL_TABLE["order"]]
_LABEL_ALT = "|".join(f"(?P<{k}>{v})" for k, v in _LABELS)
# a label at the start of the text, then ":" (or a tab / dash)
_LABEL_AT_START = re.compile(rf"^\s*(?:{_LABEL_ALT})\s*(?::|\t|\s[{_DASHES}-]\s)\s*", re.I)
_DASH_OK = set(_LABEL_TABLE["dash_ok"])
_NOT_INLINE = set(_LABEL_TABLE["not_inline"])
_DASH_NOT = re.compile("|".join(_LABEL_TABLE["dash_not"]), re.I)
# a further label later on the same line (one-line header), preceded by whitespace
_LABEL_INLINE = re.compile(rf"(?:(?<=\s)|(?<=\|))(?:{_LABEL_ALT})\s*:\s*", re.I)
_YES = re.compile("|".join(_LABEL_TABLE["yes"]), re.I)
_NO = re.compile("|".join(_LABEL_TABLE["no"]), re.I)
_YES_TICK = re.compile("|".join(_LABEL_TABLE["ticked_yes"]), re.I)  # the box stands before its answer
_NO_TICK = re.compile("|".join(_LABEL_TABLE["ticked_no"]), re.I)


def _label_kind(m: re.Match) -> str:
    return next(k for k, v in m.groupdict().items() if v is not None)


def _split_labelled(line: str) -> list[tuple[str, str]]:
    """'Case Number: CN12   Lead Agency: X   Date: Y' -> [(case_code, CN12), (lead_agency, X), (date, Y)]."""
    m = _LABEL_AT_START.match(line)
    if not m:
        return []
    if ":" not in m.group(0) and "\t" not in m.group(0) and (
            _label_kind(m) not in _DASH_OK or _DASH_NOT.fullmatch(m.group(m.lastgroup or 0) or "")):
        return []  # "Minutes – Network Case Meeting" is a title, not the minutes taker
    found = [(_label_kind(m), m.start(), m.end())]
    for im in _LABEL_INLINE.finditer(line, m.end()):
        kind = _label_kind(im)
        if kind in {k for k, _, _ in found}:
            continue  # the same label twice on a line is text, not a new field
        if kind in _NOT_INLINE:
            continue  # those words are common inside values
        found.append((kind, im.start(), im.end()))
    out = []
    for i, (kind, _s, e) in enumerate(found):
        end = found[i + 1][1] if i + 1 < len(found) else len(line)
        out.append((kind, line[e:end].strip()))
    return out


def _is_bare_label(text: str) -> str | None:
    t = text.strip().rstrip(":").strip()
    m = re.fullmatch(rf"(?:{_LABEL_ALT})", t, re.I)
    return _label_kind(m) if m else None


# -- sections -------------------------------------------------------------------------

_SECTION_TABLE = _RULES["sections"]
_SECTIONS = [(k, "|".join(f"(?:{p})" for p in _SECTION_TABLE[k])) for k in _SECTION_TABLE["order"]]
_SECTION_RE = re.compile(
    r"^\s*(?:(?:section\s+)?(?P<number>\d{1,2})\s*[.):]?\s*)?(?:" + "|".join(f"(?P<{k}>{v})" for k, v in _SECTIONS)
    + r")\s*:?\s*$",
    re.I,
)


def _section_of(para: Para) -> str | None:
    text = para.text.strip()
    if not text or len(text) > 80:
        return None
    m = _SECTION_RE.match(text)
    if not m:
        return None
    return next(k for k, v in m.groupdict().items() if v is not None and k != "number")


def _section_number(para: Para, kind: str) -> int | None:
    """The number the minutes give the section ("3. Monitor and review"), else the template's."""
    m = _SECTION_RE.match(para.text.strip())
    if m and m["number"]:
        return int(m["number"])
    return _SECTION_TABLE["numbers"].get(kind)


# -- dates and times ------------------------------------------------------------------

def _parse_date(text: str) -> dt.date:
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


def _parse_next_meeting(value: str, ref: dt.date | None = None) -> dt.datetime | dt.date | None:
    """The date for the next meeting: a datetime, a date (no time given, or the time still to be
    confirmed) or None (TBC, none, missing, unreadable)."""
    value = _clean(value)
    if not value:
        return None
    timeless = bool(_TIME_TBC.search(value))
    if timeless:
        value = _TIME_TBC.sub(" ", value)  # "8 September 2027 (time to be confirmed)": the date stands
    if _TBC.search(value):
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


# -- people ----------------------------------------------------------------------------

_EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")


def _person_list(value: str) -> list[tuple[str, str | None]]:
    """'A (Agency), B (Agency) and C' -> [(A, Agency), (B, Agency), (C, None)]."""
    value = value.strip()
    if _clean(value).lower() in _NONE_WORDS:
        return []
    out = []
    for part in _split_top(value, ",;\n"):
        subparts = re.split(r"\s+(?:and|&)\s+(?![^()]*\))", part) if "(" not in part or part.count("(") > 1 \
            else [part]
        for sp in subparts:
            sp = sp.strip().lstrip("•·*-–— \t").strip()
            if not sp or _clean(sp).lower() in _NONE_WORDS:
                continue
            m = re.match(r"^(?P<name>[^()]+?)\s*\((?P<agency>[^()]*)\)\s*$", sp)
            if m:
                out.append((_clean(m["name"]), _clean(m["agency"]) or None))
            else:
                m = re.match(rf"^(?P<name>[^{_DASHES}]+?)\s+[{_DASHES}-]\s+(?P<agency>.+)$", sp)
                if m:
                    out.append((_clean(m["name"]), _clean(m["agency"]) or None))
                else:
                    out.append((_clean(sp), None))
    return [(n, a) for n, a in out if n]


def _name_only(value: str | None) -> str | None:
    if value is None:
        return None
    people = _person_list(value)
    if people:
        return people[0][0]
    v = _clean(value)
    return v or None


# -- tables ----------------------------------------------------------------------------

def _header_map(row: list[str], wanted: dict[str, tuple[str, ...]]) -> dict[str, int]:
    cols: dict[str, int] = {}
    for i, cell in enumerate(row):
        c = _norm(cell)
        for key, words in wanted.items():
            if key in cols:
                continue
            if any(c == w or c.startswith(w + " ") or (" " in w and w in c) for w in words):
                cols[key] = i
                break
    return cols


_ATTEND_COLS = {
    "name": ("name", "full name", "attendee"),
    "agency": ("agency", "organisation", "organization", "service", "agency organisation"),
    "phone": ("phone", "phone no", "phone number", "tel", "telephone", "mobile", "contact number", "contact no"),
    "email": ("email", "e mail", "email address"),
}
_ACTION_COLS = {
    "action": ("action", "actions", "action decided", "actions decided", "action agreed", "actions agreed", "task"),
    "responsible": ("who is responsible", "responsible", "who", "person responsible", "responsibility",
                    "lead", "by whom", "owner"),
}


def _is_attendance_table(t: Table) -> tuple[dict[str, int], int] | None:
    """(column map, index of the first data row), looking for the header in the first two rows."""
    for i, row in enumerate(t.rows[:2]):
        cols = _header_map(row, _ATTEND_COLS)
        if "name" in cols and ("agency" in cols or "email" in cols or "phone" in cols):
            return cols, i + 1
    return None


def _is_action_table(t: Table) -> tuple[dict[str, int], int] | None:
    for i, row in enumerate(t.rows[:2]):
        cols = _header_map(row, _ACTION_COLS)
        if "action" in cols and "responsible" in cols and cols["action"] != cols["responsible"]:
            return cols, i + 1
    return None


def _cell(row: list[str], i: int | None) -> str | None:
    if i is None or i >= len(row):
        return None
    v = _clean(row[i]) if not _EMAIL.fullmatch(row[i].strip()) else row[i].strip()
    return v or None


# -- actions as lines --------------------------------------------------------------------

_ACTION_HEADER_LINE = re.compile(r"^(?:actions?(?:\s+decided)?\s*[/|\t]?\s*)?(?:who\s+is\s+)?responsib\w*\??$|^actions?$",
                                 re.I)


def _action_from_line(line: str, people: set[str]) -> Action | None:
    text = line.strip().lstrip("•·*►▪-–— \t").strip()
    text = re.sub(r"^\d{1,2}[.)]\s+", "", text)
    if not _clean(text) or _ACTION_HEADER_LINE.match(_clean(text)):
        return None
    if _clean(text).lower() in _NONE_WORDS:
        return None
    # "Action<TAB>Person"
    if "\t" in text:
        left, _, right = text.rpartition("\t")
        if _clean(left) and _clean(right):
            return Action(_clean(left), _name_only(right))
    # "Action – Person (Agency)": the last dash outside parentheses
    depth, cut = 0, -1
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        elif depth == 0 and ch in _DASHES + "-" and 0 < i < len(text) - 1 and text[i - 1] == " " and text[i + 1] == " ":
            cut = i
    if cut > 0:
        return Action(_clean(text[:cut]), _name_only(text[cut + 1:]))
    # "Action (Person)" when the parenthesis names someone at the meeting
    m = re.match(r"^(?P<a>.+?)\s*\((?P<p>[^()]+)\)\s*\.?$", text)
    if m and _norm(m["p"]) in people:
        return Action(_clean(m["a"]), _clean(m["p"]))
    # "Responsible: Person" inside the line
    m = re.match(r"^(?P<a>.+?)[.;,]?\s*(?:responsible|who)\s*:\s*(?P<p>.+)$", text, re.I)
    if m:
        return Action(_clean(m["a"]), _name_only(m["p"]))
    return Action(_clean(text), None)


# -- exit, handover and next meeting, where they are written -------------------------------------------
# What the minutes say is read by mailbot.documents.minutes_decisions (three values: agreed / not /
# unclear); this part walks the document, says where each line is (in the reader's own words: a
# section and paragraph number, never the document's text) and reads the labelled lines.

@dataclass
class _Unit:
    text: str
    where: str
    section: str | None  # None: before the first section (title and header)
    title: bool = False
    row: list[str] | None = None  # a table row (the cells) when the text is one of its cells
    cell: int = 0


def _where_section(kind: str | None, number: int | None) -> str:
    if kind is None:
        return "the header"
    name = _SECTION_TABLE["names"].get(kind, kind)
    return f"section {number} ({name})" if number else f"the section {name}"


def _units(blocks: list, first_section: int) -> list[_Unit]:
    """Every paragraph line and table cell that can speak of an exit, a handover or the next meeting,
    in reading order, with where it is. The attendance sheet and the template's notes are left out."""
    out: list[_Unit] = []
    section, number, paragraph, table = None, None, 0, 0
    title_seen = False
    for i, b in enumerate(blocks):
        if isinstance(b, Para):
            kind = _section_of(b) if i >= first_section else None
            if kind:
                section, number, paragraph, table = kind, _section_number(b, kind), 0, 0
                continue
            if section == "notes" or not b.text.strip():
                continue
            paragraph += 1
            is_title = (section is None and not title_seen and bool(_MINUTES_TITLE.search(b.text))
                        and not _split_labelled(b.text.strip()))
            title_seen = title_seen or is_title
            where = "the title" if is_title else (
                f"{_where_section(section, number)}, line {paragraph}" if section is None
                else f"{_where_section(section, number)}, paragraph {paragraph}")
            for line in b.text.split("\n"):
                if line.strip():
                    out.append(_Unit(line.strip(), where, section, title=is_title))
        else:
            if section in ("notes", "attendance") or _is_attendance_table(b):
                continue
            table += 1
            for r, row in enumerate(b.rows, 1):
                for c, cell in enumerate(row):
                    for line in cell.split("\n"):
                        if line.strip():
                            out.append(_Unit(line.strip(), f"{_where_section(section, number)}, table {table}, "
                                                           f"row {r}", section, row=row, cell=c))
    return out


_DECISION_LABELS = ("exit_agreed", "handover_agreed", "new_lead")


def _labelled(unit: _Unit, units: list[_Unit], i: int) -> list[tuple[str, str, str]]:
    """(kind, label text, value) of the labels on a line: "Exit agreed: Yes", a cell "Exit agreed"
    with "No" in the next cell, a heading "Date for the next meeting" with the date on the next line."""
    text = unit.text.lstrip("•·*►▪-–— \t")
    out = []
    m = _LABEL_AT_START.match(text)
    pairs = _split_labelled(text)
    if pairs:
        label_text = m.group(0) if m else ""
        for n, (kind, value) in enumerate(pairs):
            out.append((kind, label_text if n == 0 else "", value))
    elif len(text) < 80 and _is_bare_label(text):
        kind = _is_bare_label(text)
        value = ""
        if unit.row is not None:
            if unit.cell + 1 < len(unit.row):
                value = unit.row[unit.cell + 1].strip()
        else:
            for nxt in units[i + 1: i + 3]:  # the value on the next line
                if nxt.row is None and not _split_labelled(nxt.text) and not _is_bare_label(nxt.text):
                    value = nxt.text
                break
        out.append((kind, text, value))
    return out


def _yes_no(value: str) -> str | None:
    """AGREED / NOT for a yes/no answer (or tick boxes), None when it is neither (or left blank)."""
    v = value.strip()
    if _YES_TICK.search(v):
        return AGREED
    if _NO_TICK.search(v):
        return NOT
    if any(box in v for box in "☐☒☑"):
        return None  # tick boxes, none ticked
    v = _clean(v)
    if _YES.match(v):
        return AGREED
    if _NO.match(v):
        return NOT
    return None


def _canonical_agency(candidate: str, known: list[str]) -> str:
    """The agency as the attendance sheet names it ("Youthreach" -> "Kilbrannagh Youthreach")."""
    c = _norm(candidate)
    for k in sorted(known, key=len, reverse=True):
        nk = _norm(k)
        if nk and (c == nk or c.endswith(" " + nk) or c.startswith(nk + " ") or f" {nk} " in f" {c} "):
            return k
    longer = {k for k in known if _norm(k).endswith(" " + c) or _norm(k).startswith(c + " ")}
    if c and len(longer) == 1:
        return longer.pop()
    return candidate


@dataclass
class _Read:
    exit: list[Evidence] = field(default_factory=list)
    handover: list[Evidence] = field(default_factory=list)
    next_meeting: str | None = None  # the value as written
    next_meeting_sentence: str | None = None


def _read_units(units: list[_Unit], code: str, people: tuple[str, ...]) -> _Read:
    v = decisions.load_vocabulary()
    got = _Read()
    for i, unit in enumerate(units):
        labels = _labelled(unit, units, i)
        sentence_text = unit.text
        for kind, label_text, value in labels:
            if kind == "next_meeting":
                if got.next_meeting is None and value:
                    got.next_meeting = value
                if v.exit_next_meeting_label.search(label_text) and (
                        _parse_next_meeting(value) is not None or _TBC.search(value)):
                    # "Next meeting (final review / exit): 16/03/2027": the exit is for that meeting
                    got.exit.append(Evidence(PENDING, unit.where, "next-meeting label"))
                sentence_text = ""
            elif kind in ("exit_agreed", "handover_agreed"):
                answer = _yes_no(value)
                target = got.exit if kind == "exit_agreed" else got.handover
                if answer is not None:
                    target.append(Evidence(answer, unit.where, "label"))
                    sentence_text = ""
                elif not _clean(value) or any(box in value for box in "☐☒☑"):
                    sentence_text = ""  # left blank: says nothing
                else:
                    sentence_text = f"{label_text.rstrip(': ')}: {value}"  # "Handover of Lead Agency: X and Y agreed ..."
            elif kind == "new_lead":
                val = _clean(value)
                if val.lower() in _NONE_WORDS or _NO.match(val):
                    if val:
                        got.handover.append(Evidence(NOT, unit.where, "label"))
                elif val:
                    marks = decisions._marks(val, [(0, len(val))], v, None)
                    kind_ = NOT if marks.negated else PENDING if (marks.pending or marks.question) else AGREED
                    got.handover.append(Evidence(kind_, unit.where, "label", agency=_strip_parens(val) or val))
                sentence_text = ""
        if unit.row is not None and labels and not sentence_text:
            continue
        if not sentence_text:
            continue
        if unit.title:
            ex = decisions.exit_sentence(sentence_text, code, v)
            if v.exit_title.search(sentence_text) and ex in (None, MENTION, AGREED):
                got.exit.append(Evidence(AGREED, unit.where, "title"))
            elif ex is not None:
                got.exit.append(Evidence(ex, unit.where, "title"))
            if v.handover_title.search(sentence_text):
                got.handover.append(Evidence(MENTION, unit.where, "title"))
            continue
        for s in decisions.sentences(sentence_text):
            ex = decisions.exit_sentence(s, code, v)
            if ex is not None:
                got.exit.append(Evidence(ex, unit.where))
            ho = decisions.handover_sentence(s, code, v, people=people)
            if ho is not None:
                got.handover.append(Evidence(ho[0], unit.where, agency=ho[1]))
            if got.next_meeting_sentence is None:
                nm = _NEXT_SENTENCE.search(s)
                if nm:
                    got.next_meeting_sentence = s[nm.end():]
    return got


def _handover_decision(evidence: list[Evidence], known: list[str], lead: str | None) -> Decision:
    """The handover: as :func:`decisions.decide`, with the agency it goes to. A handover "to" the
    lead agency itself is no handover; two different agencies, or none named, are unclear."""
    fixed: list[Evidence] = []
    for e in evidence:
        agency = _canonical_agency(e.agency, known) if e.agency else None
        if agency and lead and _norm(agency) == _norm(lead):
            if e.kind == AGREED:
                fixed.append(Evidence(NOT, e.where, e.source))  # "X remains / will be the lead agency"
            continue
        fixed.append(Evidence(e.kind, e.where, e.source, agency))
    d = decisions.decide(fixed)
    labelled = [e.agency for e in fixed if e.source == "label" and e.agency and e.kind == AGREED]
    targets: list[str] = labelled[:1]
    for e in fixed:
        if e.kind == AGREED and e.agency and not any(_same_agency(e.agency, t) for t in targets):
            targets.append(e.agency)
    if d.value == AGREED:
        if len(targets) != 1:  # agreed, but to whom? none named, or two different agencies
            return Decision(UNCLEAR, d.where, targets[0] if targets else None, fixed)
        return Decision(AGREED, d.where, targets[0], fixed)
    if d.value == UNCLEAR:
        named = targets + [e.agency for e in fixed if e.agency]
        return Decision(UNCLEAR, d.where, named[0] if named else None, fixed)
    return d


def _same_agency(a: str, b: str) -> bool:
    na, nb = _norm(a), _norm(b)
    return na == nb or na.endswith(" " + nb) or nb.endswith(" " + na)


# -- the parser -------------------------------------------------------------------------------

_CASE_CODE = re.compile(r"\bCN\s*-?\s*(\d{1,6})([A-Z])?\b", re.I)
_MINUTES_TITLE = re.compile(r"\bminutes\b|\bcase\s+meeting\b|\bnetwork\s+meeting\b", re.I)
_REFERRAL_HINT = re.compile(r"referral\s+form|name\s+of\s+(?:the\s+)?(?:young\s+person|child)|young\s+person'?s\s+name",
                            re.I)


def _case_code(value: str) -> str | None:
    m = _CASE_CODE.search(value or "")
    if not m:
        return None
    return f"CN{int(m[1])}{(m[2] or '').upper()}"


def _header_pairs(blocks: list) -> tuple[dict[str, str], int]:
    """Labelled header fields from the blocks before the first numbered section.

    Returns the fields (first value wins) and the index of the first section block.
    """
    fields: dict[str, str] = {}
    first_section = len(blocks)
    for i, b in enumerate(blocks):
        if isinstance(b, Para) and _section_of(b):
            first_section = i
            break

    def add(kind: str, value: str) -> None:
        if value.strip() and kind not in fields:
            fields[kind] = value.strip()

    pending: str | None = None  # "Apologies:" on its own line, names below
    for b in blocks[:first_section]:
        if isinstance(b, Para):
            for line in b.text.split("\n"):
                pairs = _split_labelled(line)
                if pairs:
                    for kind, value in pairs:
                        add(kind, value)
                    pending = pairs[-1][0] if not pairs[-1][1] else None
                elif pending and line.strip():
                    fields[pending] = (fields.get(pending, "") + "\n" + line).strip()
        else:
            pending = None
            rows = b.rows
            if _is_attendance_table(b) or _is_action_table(b):
                continue
            # a header row of bare labels and a row of values below
            if len(rows) >= 2 and rows[0] and all(_is_bare_label(c) for c in rows[0] if c.strip()) \
                    and any(c.strip() for c in rows[0]):
                for label_cell, value_cell in zip(rows[0], rows[1]):
                    kind = _is_bare_label(label_cell)
                    if kind:
                        add(kind, value_cell)
                continue
            for row in rows:
                cells = [c for c in row]
                j = 0
                while j < len(cells):
                    cell = cells[j]
                    kind = _is_bare_label(cell) if cell.strip() else None
                    if kind and j + 1 < len(cells):  # "Case Number" | "CN15"
                        add(kind, cells[j + 1])
                        j += 2
                        continue
                    for line in cell.split("\n"):
                        for k, v in _split_labelled(line):
                            add(k, v)
                    j += 1
    return fields, first_section


def parse_minutes(pkg: Package) -> Minutes:
    """Read the fields of Network Case Meeting Minutes from an opened package."""
    blocks = document_blocks(pkg)
    if not any((isinstance(b, Para) and b.text.strip()) or isinstance(b, Table) for b in blocks):
        raise NotMinutes("The document is empty; please attach the minutes of the Network Case Meeting.")
    fields, first_section = _header_pairs(blocks)
    sections_present = {s for b in blocks if isinstance(b, Para) for s in [_section_of(b)] if s}
    title_text = " ".join(b.text for b in blocks[:first_section][:6] if isinstance(b, Para))
    looks_like_minutes = (
        bool(_MINUTES_TITLE.search(title_text))
        + ("chair" in fields or "minutes_taker" in fields)
        + ("in_attendance" in fields or "apologies" in fields)
        + (len(sections_present) >= 2)
        + any(_is_attendance_table(b) for b in blocks if isinstance(b, Table))
    ) >= 2
    if not looks_like_minutes:
        if any(isinstance(b, Para) and _REFERRAL_HINT.search(b.text) for b in blocks) or any(
                isinstance(b, Table) and any(_REFERRAL_HINT.search(c) for r in b.rows for c in r) for b in blocks):
            raise NotMinutes("This looks like a Referral Form, not minutes of a Network Case Meeting.")
        raise NotMinutes("This document does not look like minutes of a Network Case Meeting "
                         "(no Chair, Attendance or Actions); please use the minutes template.")

    code = _case_code(fields.get("case_code", ""))
    if code is None:
        # the code may have been typed in the title line ("Minutes – CN12")
        code = _case_code(title_text)
    if code is None:
        # or in the page header ("CN12 – Network Case Meeting Minutes")
        for part in docx_text.text_parts(pkg):
            if part.startswith("word/header"):
                code = _case_code(docx_text.text_of(docx_text.blocks(pkg, part)))
                if code:
                    break
    if code is None:
        raise BadField("The minutes have no Case Number (like CN12) at the top; "
                       "please add it and send them again.")

    date = _parse_date(fields["date"]) if fields.get("date") else None

    minutes = Minutes(
        case_code=code,
        lead_agency=_clean(fields.get("lead_agency")) or None,
        date=date,
        chair=_name_only(fields.get("chair")),
        minutes_taker=_name_only(fields.get("minutes_taker")),
    )

    # attendees: the attendance sheet, then anyone in "In Attendance" not on it
    for b in blocks:
        if isinstance(b, Table):
            found = _is_attendance_table(b)
            if not found:
                continue
            cols, start = found
            for row in b.rows[start:]:
                name = _cell(row, cols.get("name"))
                if not name:
                    continue
                minutes.attendees.append(Attendee(
                    name=_strip_parens(name) or name,
                    agency=_cell(row, cols.get("agency")),
                    phone=_cell(row, cols.get("phone")),
                    email=_cell(row, cols.get("email")),
                ))
    on_sheet = {_norm(a.name) for a in minutes.attendees}
    for name, agency in _person_list(fields.get("in_attendance", "")):
        if _norm(name) not in on_sheet:
            minutes.attendees.append(Attendee(name=name, agency=agency))
            on_sheet.add(_norm(name))

    minutes.apologies = [n for n, _a in _person_list(fields.get("apologies", ""))]

    # actions: an action table anywhere, else lines in the Actions section
    people = {_norm(a.name) for a in minutes.attendees} | {_norm(n) for n in minutes.apologies}
    for b in blocks:
        if isinstance(b, Table):
            found = _is_action_table(b)
            if not found:
                continue
            cols, start = found
            for row in b.rows[start:]:
                action = _cell(row, cols["action"])
                if action:
                    minutes.actions.append(Action(action, _name_only(_cell(row, cols["responsible"]))))
    if not minutes.actions:
        section = None
        for b in blocks:
            if isinstance(b, Para):
                s = _section_of(b)
                if s:
                    section = s
                    continue
                if section != "actions":
                    continue
                for line in b.text.split("\n"):
                    if _split_labelled(line.strip()):
                        continue
                    act = _action_from_line(line, people)
                    if act:
                        minutes.actions.append(act)
            elif section == "actions" and b.rows and len(b.rows[0]) >= 2:
                # a table with no header row in the Actions section: Action | Person
                for row in b.rows:
                    action = _cell(row, 0)
                    if action and not _ACTION_HEADER_LINE.match(action):
                        minutes.actions.append(Action(action, _name_only(_cell(row, 1))))

    units = _units(blocks, first_section)
    people = tuple(x for x in [minutes.chair, minutes.minutes_taker, *(a.name for a in minutes.attendees),
                               *minutes.apologies] if x)
    read = _read_units(units, code, people)
    minutes.next_meeting = _parse_next_meeting(fields.get("next_meeting") or read.next_meeting or "", date)
    if minutes.next_meeting is None and not (fields.get("next_meeting") or read.next_meeting) \
            and read.next_meeting_sentence:
        minutes.next_meeting = _parse_next_meeting(read.next_meeting_sentence, date)

    minutes.exit = decisions.decide(read.exit)
    known_agencies = [a.agency for a in minutes.attendees if a.agency]
    if minutes.lead_agency:
        known_agencies.append(minutes.lead_agency)
    minutes.handover = _handover_decision(read.handover, known_agencies, minutes.lead_agency)
    minutes.exit_agreed = minutes.exit.agreed
    minutes.handover_to = minutes.handover.to if minutes.handover.agreed else None
    log.info("minutes read: case %s, exit %s, handover %s", minutes.case_code, minutes.exit.value,
             minutes.handover.value)
    log.info("minutes read: case %s, %d attendees, %d actions", minutes.case_code, len(minutes.attendees),
             len(minutes.actions))
    return minutes


def read_minutes(source: bytes | str | Path) -> tuple[Package, Minutes]:
    """Open a minutes document safely and read it; raises BadDocument / NotMinutes / BadField."""
    pkg = open_package(source)
    return pkg, parse_minutes(pkg)
