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
from dataclasses import dataclass, field
from pathlib import Path

from mailbot.documents import text as docx_text
from mailbot.documents.dates import parse_datetime as _shared_parse_datetime
from mailbot.documents.package import Package, open_package
from mailbot.errors import BadField, MailbotError

log = logging.getLogger("mailbot.minutes")


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
    exit_agreed: bool = False
    handover_to: str | None = None

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
_TBC = re.compile(r"\b(tbc|tba|tbd|to be (confirmed|arranged|agreed|decided|set|fixed)|not (yet )?(set|fixed|agreed))\b",
                  re.I)


# -- header labels --------------------------------------------------------------------

# label name -> regex (matched case-insensitively, at the start of a segment, followed by ":" / tab)
_LABELS: list[tuple[str, str]] = [
    ("case_code", r"case\s*(?:number|no\.?|code|ref(?:erence)?)|network\s+case\s+(?:number|code)|case"),
    ("new_lead", r"new\s+lead\s+agency(?:\s*\([^)]*\))?|lead\s+agency\s+handed\s+over\s+to|handover\s+to"),
    ("lead_agency", r"lead\s+agency"),
    ("next_meeting", r"(?:date|time|date\s*(?:and|&|/)\s*time)\s+(?:for|of)\s+(?:the\s+)?next\s+(?:network\s+case\s+)?meeting"
                     r"|next\s+(?:network\s+case\s+)?meeting(?:\s+date)?"),
    ("date", r"date(?:\s+of\s+(?:the\s+)?meeting)?|meeting\s+date"),
    ("chair", r"chair(?:person|ed\s+by)?"),
    ("minutes_taker", r"minutes?\s*(?:taker|taken\s+by|by)?|minute[-\s]taker|note\s*taker|notes\s+taken\s+by"),
    ("in_attendance", r"in\s+attendance|present|attendees|attending|attendance"),
    ("apologies", r"apologies(?:\s+received)?"),
    ("exit_agreed", r"exit\s+agreed|exit\s+meeting|case\s+closed"),
]
_LABEL_ALT = "|".join(f"(?P<{k}>{v})" for k, v in _LABELS)
# a label at the start of the text, then ":" (or a tab / dash)
_LABEL_AT_START = re.compile(rf"^\s*(?:{_LABEL_ALT})\s*(?::|\t|\s[{_DASHES}-]\s)\s*", re.I)
_DASH_OK = {"chair", "lead_agency", "date", "apologies", "next_meeting"}
# a further label later on the same line (one-line header), preceded by whitespace
_LABEL_INLINE = re.compile(rf"(?:(?<=\s)|(?<=\|))(?:{_LABEL_ALT})\s*:\s*", re.I)


def _label_kind(m: re.Match) -> str:
    return next(k for k, v in m.groupdict().items() if v is not None)


def _split_labelled(line: str) -> list[tuple[str, str]]:
    """'Case Number: CN12   Lead Agency: X   Date: Y' -> [(case_code, CN12), (lead_agency, X), (date, Y)]."""
    m = _LABEL_AT_START.match(line)
    if not m:
        return []
    if ":" not in m.group(0) and "\t" not in m.group(0) and _label_kind(m) not in _DASH_OK:
        return []  # "Minutes – Network Case Meeting" is a title, not the minutes taker
    found = [(_label_kind(m), m.start(), m.end())]
    for im in _LABEL_INLINE.finditer(line, m.end()):
        kind = _label_kind(im)
        if kind in {k for k, _, _ in found}:
            continue  # the same label twice on a line is text, not a new field
        if kind in ("in_attendance", "exit_agreed", "new_lead"):
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

_SECTIONS = [
    ("discussion", r"discussion(?:\s+of\s+(?:the\s+)?case)?|case\s+discussion"),
    ("actions", r"actions?(?:\s+(?:decided|agreed|points?))?(?:\s+(?:and|&)\s+who\s+is\s+responsible\??)?"
                r"(?:\s+who\s+is\s+responsible\??)?|agreed\s+actions"),
    ("monitor", r"monitor(?:ing)?\s+(?:and|&)\s+review"),
    ("attendance", r"attendance(?:\s+sheet)?|attendance\s+list"),
    ("aob", r"aob|a\.o\.b\.?|any\s+other\s+business"),
    ("notes", r"notes\s+for\s+the\s+lead\s+agency|guidance(?:\s+notes)?"),  # the template's own help text
]
_SECTION_RE = re.compile(
    r"^\s*(?:(?:section\s+)?\d{1,2}\s*[.):]?\s*)?(?:" + "|".join(f"(?P<{k}>{v})" for k, v in _SECTIONS) + r")\s*:?\s*$",
    re.I,
)


def _section_of(para: Para) -> str | None:
    text = para.text.strip()
    if not text or len(text) > 80:
        return None
    m = _SECTION_RE.match(text)
    if not m:
        return None
    return next(k for k, v in m.groupdict().items() if v is not None)


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


def _parse_next_meeting(value: str) -> dt.datetime | dt.date | None:
    """The date for the next meeting: a datetime, a date (no time given) or None (TBC, missing, unreadable)."""
    value = _clean(value)
    if not value or _TBC.search(value):
        return None
    try:
        day, time = _shared_parse_datetime(value, what="next meeting date")
    except BadField:
        day, time = None, None
    if day is None:
        log.info("next meeting date not readable; recorded as not set")
        return None
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


# -- exit and handover ----------------------------------------------------------------------

_NEG = re.compile(r"\b(?:not|no|never|n't|cannot|without|yet to|unless|if)\b", re.I)
_EXIT_PHRASES = re.compile(
    r"\bexit\s+(?:was\s+|is\s+|has\s+been\s+)?agreed\b"
    r"|\bagreed\s+(?:to\s+|on\s+(?:an?\s+|the\s+)?)?exit\b"
    r"|\bagreed\s+that\s+(?:the\s+)?(?:case|CN\d+[A-Z]?)\s+(?:will\s+|should\s+|can\s+)?(?:exit|close|be\s+closed)\b"
    r"|\b(?:case|CN\d+[A-Z]?)\s+(?:is\s+|was\s+|will\s+be\s+|to\s+be\s+)?(?:now\s+)?closed\b"
    r"|\b(?:will\s+be|to\s+be|is\s+to\s+be|be)\s+removed\s+from\s+the\s+master\s+list\b",
    re.I,
)
_YES_TICK = re.compile(r"(?:^|\s)[☒☑✓✔✗✘xX]\s*yes\b", re.I)  # the box stands before its answer
_AGENCY_RUN = r"(?:[A-Z][\w'’.&-]*|of|for|the|&)(?:\s+(?:[A-Z][\w'’.&-]*|of|for|&))*"
_HANDOVER_PATTERNS = [
    re.compile(rf"(?P<ag>{_AGENCY_RUN})\s+(?i:(?:now\s+)?(?:becomes|will\s+become|is\s+to\s+become|to\s+become|"
               rf"would\s+become|became|agreed\s+to\s+become|takes\s+over\s+as|will\s+take\s+over\s+as|"
               rf"took\s+over\s+as|will\s+be|is\s+now)\s+(?:the\s+)?(?:new\s+)?lead\s+agency)\b"),
    re.compile(rf"(?i:\blead\s+agency\s+(?:role\s+)?(?:is\s+|was\s+|will\s+be\s+)?(?:transfers?|transferred|passes|"
               rf"passed|handed\s+over|moves?|moved|changes?|changed|goes)\s+(?:from\s+.+?\s+)?to\s+(?:the\s+)?)"
               rf"(?P<ag>{_AGENCY_RUN})"),
    re.compile(rf"(?i:\bhand(?:ed|s|ing)?\s*over\s+(?:of\s+)?(?:the\s+)?(?:lead\s+agency\s+|case\s+)?to\s+(?:the\s+)?)"
               rf"(?P<ag>{_AGENCY_RUN})"),
]
_STOP_START = re.compile(r"^(?:the|of|for|&)\s+", re.I)


_MAX_SENTENCE = 1000  # longer "sentences" are not minutes prose; bounded so regexes stay linear-ish


def _sentences(text: str) -> list[str]:
    return [s[:_MAX_SENTENCE] for s in re.split(r"(?<=[.!?])\s+|\n", text[:200_000]) if s.strip()]


def _detect_exit(lines: list[str], labelled: dict[str, str]) -> bool:
    if "exit_agreed" in labelled:
        v = labelled["exit_agreed"].strip()
        if _YES_TICK.search(v):
            return True
        if "☐" in v or "☒" in v or "☑" in v:
            return False  # tick boxes, Yes not ticked
        return bool(re.match(r"^(?:yes|y|agreed|true)\b", _clean(v), re.I))
    positive = False
    for line in lines:
        for s in _sentences(line):
            if _exit_negated(s):
                return False  # any doubt about the exit: the case stays open (a person closes it)
            if _EXIT_PHRASES.search(s):
                positive = True
    return positive


_NEG_SOFT = re.compile(r"\bno\s+(?:longer|further|more)\b|\bif\s+needed\b", re.I)


def _exit_negated(sentence: str) -> bool:
    """A sentence that speaks of the exit with a negation ("exit was not agreed", "not ready to exit")."""
    if not re.search(r"\bexit|\bclos(?:e|ed|ing)\b|\bmaster\s+list\b", sentence, re.I):
        return False
    return bool(_NEG.search(_NEG_SOFT.sub("", sentence)))


def _canonical_agency(candidate: str, known: list[str]) -> str:
    c = _norm(candidate)
    for k in sorted(known, key=len, reverse=True):
        nk = _norm(k)
        if nk and (c == nk or c.endswith(" " + nk) or c.startswith(nk + " ") or f" {nk} " in f" {c} "):
            return k
    return candidate


def _detect_handover(lines: list[str], labelled: dict[str, str], known: list[str], lead: str | None) -> str | None:
    found: str | None = None
    if labelled.get("new_lead") and _clean(labelled["new_lead"]).lower() not in _NONE_WORDS:
        found = _canonical_agency(_clean(labelled["new_lead"]), known)
    else:
        for line in lines:
            for s in _sentences(line):
                for pat in _HANDOVER_PATTERNS:
                    m = pat.search(s)
                    if not m or _NEG.search(re.sub(r"\bno\s+longer\b", "", s)):
                        continue  # any negation in the sentence: not a handover (a person checks)
                    ag = _STOP_START.sub("", _clean(m["ag"]))
                    if not ag or not ag[0].isupper():
                        continue
                    found = _canonical_agency(ag, known)
                    break
                if found:
                    break
            if found:
                break
    if found and lead and _norm(found) == _norm(lead):
        return None
    return found


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


def _body_labelled(blocks: list) -> dict[str, str]:
    """Labelled fields anywhere (used for the next meeting, exit and handover lines)."""
    fields: dict[str, str] = {}
    lines = _all_lines(blocks)
    for i, line in enumerate(lines):
        stripped = line.strip().lstrip("•·*►▪-–— \t")
        pairs = _split_labelled(stripped)
        if not pairs and len(stripped) < 60 and _is_bare_label(stripped):
            pairs = [(_is_bare_label(stripped), "")]  # a heading "Date for the next meeting"
        for kind, value in pairs:
            if kind not in ("next_meeting", "exit_agreed", "new_lead"):
                continue
            if not value:  # label on its own line, value on the next non-empty line
                for nxt in lines[i + 1: i + 4]:
                    if nxt.strip():
                        if not _split_labelled(nxt.strip()):
                            value = nxt.strip()
                        break
            if value and kind not in fields:
                fields[kind] = value
    return fields


def _all_lines(blocks: list) -> list[str]:
    out: list[str] = []
    for b in blocks:
        if isinstance(b, Para):
            out.extend(b.text.split("\n"))
        else:
            for row in b.rows:
                for cell in row:
                    out.extend(cell.split("\n"))
    return out


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

    body = _body_labelled(blocks)
    header_and_body = {**body, **{k: v for k, v in fields.items() if k in ("next_meeting", "exit_agreed", "new_lead")}}
    minutes.next_meeting = _parse_next_meeting(header_and_body.get("next_meeting", ""))

    lines = []
    section = None
    for b in blocks[first_section:]:
        if isinstance(b, Para):
            section = _section_of(b) or section
            if section != "notes":
                lines.extend(b.text.split("\n"))
    lines += [ln for b in blocks[:first_section] if isinstance(b, Para) for ln in b.text.split("\n")[:1]
              if _MINUTES_TITLE.search(ln) and re.search(r"\bexit\b", ln, re.I)]
    title_exit = bool(re.search(r"\bexit\s+meeting\b", title_text, re.I)) and not _NEG.search(title_text)
    if "exit_agreed" in header_and_body:  # an explicit "Exit agreed:" answer wins
        minutes.exit_agreed = _detect_exit([], header_and_body)
    else:
        minutes.exit_agreed = (title_exit or _detect_exit(lines, header_and_body)) and not any(
            _exit_negated(s) for ln in lines for s in _sentences(ln))

    known_agencies = [a.agency for a in minutes.attendees if a.agency]
    if minutes.lead_agency:
        known_agencies.append(minutes.lead_agency)
    minutes.handover_to = _detect_handover(lines, header_and_body, known_agencies, minutes.lead_agency)
    log.info("minutes read: case %s, %d attendees, %d actions", minutes.case_code, len(minutes.attendees),
             len(minutes.actions))
    return minutes


def read_minutes(source: bytes | str | Path) -> tuple[Package, Minutes]:
    """Open a minutes document safely and read it; raises BadDocument / NotMinutes / BadField."""
    pkg = open_package(source)
    return pkg, parse_minutes(pkg)
