"""What the minutes say about an exit and a handover (and the next meeting as written), and the decisions made of it.

Every unit of text (:mod:`.units`) is read for evidence: a labelled answer ("Exit agreed: Yes", "New
lead agency: X"), the title, and each sentence through :mod:`mailbot.documents.minutes_decisions`.
The evidence becomes a three-valued decision (agreed / not / unclear) with where it is written; a
handover also says to which agency, named as the attendance sheet names it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mailbot.documents import minutes_decisions as decisions
from mailbot.documents.minutes.blocks import NONE_WORDS, clean, norm, strip_parens
from mailbot.documents.minutes.labels import NO, yes_no
from mailbot.documents.minutes.meeting_dates import NEXT_SENTENCE, TBC, parse_next_meeting
from mailbot.documents.minutes.result import Minutes
from mailbot.documents.minutes.units import Unit, labelled
from mailbot.documents.minutes_decisions import AGREED, MENTION, NOT, PENDING, UNCLEAR, Decision, Evidence


@dataclass
class Read:
    exit: list[Evidence] = field(default_factory=list)
    handover: list[Evidence] = field(default_factory=list)
    next_meeting: str | None = None  # the value as written
    next_meeting_sentence: str | None = None


def read_units(units: list[Unit], code: str, people: tuple[str, ...]) -> Read:
    """The evidence of every unit, in reading order: its labels first, then its title or sentences
    (a line whose labels said everything is not read again as a sentence)."""
    v = decisions.load_vocabulary()
    got = Read()
    for i, unit in enumerate(units):
        sentence_text = _read_labels(labelled(unit, units, i), unit, got, v)
        if not sentence_text:
            continue
        if unit.title:
            _read_title(sentence_text, unit, got, code, v)
        else:
            _read_sentences(sentence_text, unit, got, code, v, people)
    return got


def _read_labels(labels: list[tuple[str, str, str]], unit: Unit, got: Read, v) -> str:
    """The evidence of a unit's labels; returns the text still to be read as a sentence ("" for none)."""
    sentence_text = unit.text
    for kind, label_text, value in labels:
        if kind == "next_meeting":
            if got.next_meeting is None and value:
                got.next_meeting = value
            if v.exit_next_meeting_label.search(label_text) and (
                    parse_next_meeting(value) is not None or TBC.search(value)):
                # "Next meeting (final review / exit): 16/03/2027": the exit is for that meeting
                got.exit.append(Evidence(PENDING, unit.where, "next-meeting label"))
            sentence_text = ""
        elif kind in ("exit_agreed", "handover_agreed"):
            answer = yes_no(value)
            target = got.exit if kind == "exit_agreed" else got.handover
            if answer is not None:
                target.append(Evidence(answer, unit.where, "label"))
                sentence_text = ""
            elif not clean(value) or any(box in value for box in "☐☒☑"):
                sentence_text = ""  # left blank: says nothing
            else:
                sentence_text = f"{label_text.rstrip(': ')}: {value}"  # "Handover of Lead Agency: X and Y agreed ..."
        elif kind == "new_lead":
            _read_new_lead(value, unit, got, v)
            sentence_text = ""
    return sentence_text


def _read_new_lead(value: str, unit: Unit, got: Read, v) -> None:
    """ "New lead agency: X" is a handover to X (tentative or negated as its words say); "None" is none."""
    val = clean(value)
    if val.lower() in NONE_WORDS or NO.match(val):
        if val:
            got.handover.append(Evidence(NOT, unit.where, "label"))
    elif val:
        marks = decisions._marks(val, [(0, len(val))], v, None)
        kind_ = NOT if marks.negated else PENDING if (marks.pending or marks.question) else AGREED
        got.handover.append(Evidence(kind_, unit.where, "label", agency=strip_parens(val) or val))


def _read_title(text: str, unit: Unit, got: Read, code: str, v) -> None:
    ex = decisions.exit_sentence(text, code, v)
    if v.exit_title.search(text) and ex in (None, MENTION, AGREED):
        got.exit.append(Evidence(AGREED, unit.where, "title"))
    elif ex is not None:
        got.exit.append(Evidence(ex, unit.where, "title"))
    if v.handover_title.search(text):
        got.handover.append(Evidence(MENTION, unit.where, "title"))


def _read_sentences(text: str, unit: Unit, got: Read, code: str, v, people: tuple[str, ...]) -> None:
    for s in decisions.sentences(text):
        ex = decisions.exit_sentence(s, code, v)
        if ex is not None:
            got.exit.append(Evidence(ex, unit.where))
        ho = decisions.handover_sentence(s, code, v, people=people)
        if ho is not None:
            got.handover.append(Evidence(ho[0], unit.where, agency=ho[1]))
        if got.next_meeting_sentence is None:
            nm = NEXT_SENTENCE.search(s)
            if nm:
                got.next_meeting_sentence = s[nm.end():]


# -- the decisions ------------------------------------------------------------------------------

def decide_exit_and_handover(minutes: Minutes, read: Read) -> None:
    """Set the minutes' exit and handover decisions (and the old exit_agreed / handover_to fields)."""
    minutes.exit = decisions.decide(read.exit)
    known_agencies = [a.agency for a in minutes.attendees if a.agency]
    if minutes.lead_agency:
        known_agencies.append(minutes.lead_agency)
    minutes.handover = handover_decision(read.handover, known_agencies, minutes.lead_agency)
    minutes.exit_agreed = minutes.exit.agreed
    minutes.handover_to = minutes.handover.to if minutes.handover.agreed else None


def handover_decision(evidence: list[Evidence], known: list[str], lead: str | None) -> Decision:
    """The handover: as :func:`decisions.decide`, with the agency it goes to. A handover "to" the
    lead agency itself is no handover; two different agencies, or none named, are unclear."""
    fixed: list[Evidence] = []
    for e in evidence:
        agency = _canonical_agency(e.agency, known) if e.agency else None
        if agency and lead and norm(agency) == norm(lead):
            if e.kind == AGREED:
                fixed.append(Evidence(NOT, e.where, e.source))  # "X remains / will be the lead agency"
            continue
        fixed.append(Evidence(e.kind, e.where, e.source, agency))
    d = decisions.decide(fixed)
    labelled_to = [e.agency for e in fixed if e.source == "label" and e.agency and e.kind == AGREED]
    targets: list[str] = labelled_to[:1]
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


def _canonical_agency(candidate: str, known: list[str]) -> str:
    """The agency as the attendance sheet names it ("Youthreach" -> "Kilbrannagh Youthreach")."""
    c = norm(candidate)
    for k in sorted(known, key=len, reverse=True):
        nk = norm(k)
        if nk and (c == nk or c.endswith(" " + nk) or c.startswith(nk + " ") or f" {nk} " in f" {c} "):
            return k
    longer = {k for k in known if norm(k).endswith(" " + c) or norm(k).startswith(c + " ")}
    if c and len(longer) == 1:
        return longer.pop()
    return candidate


def _same_agency(a: str, b: str) -> bool:
    na, nb = norm(a), norm(b)
    return na == nb or na.endswith(" " + nb) or nb.endswith(" " + na)
