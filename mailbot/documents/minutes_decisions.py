"""What Network Case Meeting Minutes say about an exit and a handover, read as a person reads them.

Minutes record an exit (the case leaves the network) or a handover (the lead agency changes) by a
label ("Exit agreed: Yes", "New Lead Agency: ..."), or only in a sentence of the discussion ("all
present agreed ... the young person will now be linked with adult services"), or they raise it
and leave it open ("possible exit at next meeting if ..."). Each is read into a
:class:`Decision` with three values: ``agreed``, ``not`` or ``unclear``, and where in the minutes
the deciding words are (a section and paragraph number, never the words themselves: minutes may
carry a name by mistake). An unclear decision is for the coordinator to confirm; a false "agreed"
would close a case wrongly, so any doubt reads as unclear, never as agreed.

The vocabulary is data: rules/minutes_labels.toml ([markers], [exit], [handover]), loaded once.
Pure functions; no I/O except reading that file.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from mailbot.paths import shipped

RULES_FILE = shipped("rules") / "minutes_labels.toml"

AGREED, NOT, UNCLEAR = "agreed", "not", "unclear"
#: what one sentence (or label) says; folded into AGREED / NOT / UNCLEAR over the whole minutes
PENDING, QUESTION, MENTION = "pending", "question", "mention"

_MAX_CLAUSE = 1000  # longer "sentences" are not minutes prose; bounded so the patterns stay fast


# -- the result --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Evidence:
    """One place in the minutes that speaks of the exit or handover."""

    kind: str  # AGREED, NOT, PENDING, QUESTION or MENTION
    where: str  # in the reader's own words: "section 1 (Discussion of case), paragraph 3"
    source: str = "sentence"  # "sentence", "label", "title" or "next-meeting label"
    agency: str | None = None  # handover: the agency named, as the minutes name it


@dataclass
class Decision:
    """Agreed, not, or unclear (ask the coordinator); ``where`` points at the deciding evidence."""

    value: str = NOT
    where: str | None = None
    to: str | None = None  # handover: the agency taking over (when one is named)
    evidence: list[Evidence] = field(default_factory=list)

    @property
    def agreed(self) -> bool:
        return self.value == AGREED

    @property
    def unclear(self) -> bool:
        return self.value == UNCLEAR

    def to_json(self) -> dict:
        return {"value": self.value, "where": self.where, "to": self.to}


# -- the vocabulary ----------------------------------------------------------------------------------

def _alt(patterns, flags=re.I) -> re.Pattern:
    if isinstance(patterns, str):
        patterns = [patterns]
    return re.compile("|".join(f"(?:{p})" for p in patterns) or r"(?!x)x", flags)


@dataclass(frozen=True)
class Vocabulary:
    soft: re.Pattern
    agreed_negations: re.Pattern
    pending_negations: re.Pattern
    question_phrases: re.Pattern
    negation: re.Pattern
    pending: re.Pattern
    wish: re.Pattern
    boundary: re.Pattern
    question: re.Pattern
    agreed: re.Pattern
    negation_window: int
    exit_assertive: re.Pattern
    exit_mention: re.Pattern
    exit_not_topic: re.Pattern
    exit_stay: re.Pattern
    exit_agreed: re.Pattern
    exit_pending: re.Pattern
    exit_title: re.Pattern
    exit_next_meeting_label: re.Pattern
    handover_to: tuple[re.Pattern, ...]
    handover_stay: re.Pattern
    handover_topic: re.Pattern
    handover_not_topic: re.Pattern
    handover_title: re.Pattern
    handover_stop_start: re.Pattern
    handover_not_agency: re.Pattern
    raw: dict


@lru_cache(maxsize=4)
def load_vocabulary(path: str | None = None) -> Vocabulary:
    """The [markers], [exit] and [handover] tables of rules/minutes_labels.toml, compiled (once)."""
    data = tomllib.loads(Path(path or RULES_FILE).read_text(encoding="utf-8"))
    mk, ex, ho = data["markers"], data["exit"], data["handover"]
    agency = ho["agency"]
    return Vocabulary(
        soft=_alt(mk["soft"]),
        agreed_negations=_alt(mk["agreed_negations"]),
        pending_negations=_alt(mk["pending_negations"]),
        question_phrases=_alt(mk["question_phrases"]),
        negation=_alt(mk["negation"]),
        pending=_alt(mk["pending"] + mk["wish"]),
        wish=_alt(mk["wish"]),
        boundary=_alt(mk["boundary"]),
        question=_alt(mk["question"]),
        agreed=_alt(mk["agreed"]),
        negation_window=int(mk.get("negation_window", 8)),
        exit_assertive=_alt(ex["assertive"]),
        exit_mention=_alt(ex["mention"]),
        exit_not_topic=_alt(ex["not_topic"]),
        exit_stay=_alt(ex["stay"]),
        exit_agreed=_alt(ex["agreed"]),
        exit_pending=_alt(ex["pending"]),
        exit_title=_alt(ex["title"]),
        exit_next_meeting_label=_alt(ex["next_meeting_label"]),
        # the agency run is case-sensitive (capitalised words); the verbs carry their own (?i:...)
        handover_to=tuple(re.compile(p.replace("{agency}", agency)) for p in ho["to"]),
        handover_stay=_alt(ho["stay"]),
        handover_topic=_alt(ho["topic"]),
        handover_not_topic=_alt(ho["not_topic"]),
        handover_title=_alt(ho["title"]),
        handover_stop_start=re.compile(ho["stop_start"], re.I),
        handover_not_agency=_alt(ho["not_agency"]),
        raw=data,
    )


# -- sentences and clauses ---------------------------------------------------------------------------

_SPACE = re.compile(r"[ \t\u00a0\u2002\u2003\u2009\u200b]+")
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
                         "\u2013": "-", "\u2014": "-", "\u2012": "-", "\u2015": "-"})
_CODE = re.compile(r"\bCN\s?-?\s?(\d{1,6})([A-Z])?\b", re.I)


_UNTICKED = re.compile(r"[☐□]\s*(?:yes|no|n/?a)\b\.?", re.I)
_TICKED = re.compile(r"[☒☑✓✔■]\s*(yes|no)\b", re.I)


def normalise(text: str) -> str:
    """Straight quotes and dashes, single spaces; tick boxes as words ("☒ Yes ☐ No" -> "yes")."""
    text = _SPACE.sub(" ", (text or "").translate(_QUOTES)).strip()
    if any(box in text for box in "☐□☒☑✓✔■"):
        text = _UNTICKED.sub(" ", text)
        text = _TICKED.sub(lambda m: " yes" if m[1].lower() == "yes" else " not agreed", text)
        text = _SPACE.sub(" ", text).strip()
    return text


def sentences(text: str) -> list[str]:
    """A paragraph's sentences (split at . ! ? followed by a space, and at line breaks)."""
    text = normalise(text[:200_000])
    return [s[:_MAX_CLAUSE] for s in re.split(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])|\n", text) if s.strip()]


def clauses(sentence: str) -> list[str]:
    """A sentence's clauses: split at ';' (an exit refused and a handover agreed in one sentence)."""
    return [c.strip() for c in sentence.split(";") if c.strip()]


def _scope(clause: str, code: str | None) -> str:
    """'ours', 'other' (another case, or the other sibling) or 'sibling' (one sibling of family minutes)."""
    if not code:
        return "ours"
    own = _CODE.match(code)
    if not own:
        return "ours"
    number, letter = own[1].lstrip("0"), (own[2] or "").upper()
    named = [(m[1].lstrip("0"), (m[2] or "").upper()) for m in _CODE.finditer(clause)]
    if not named:
        return "ours"
    if any(n == number and (l == letter or not l) for n, l in named):
        return "ours"
    if not letter and any(n == number for n, _l in named):
        return "sibling"  # family minutes (CN58) speaking of one sibling (CN58A): never acted on alone
    return "other"


@dataclass
class _Marks:
    negated: bool = False
    pending: bool = False
    wish: bool = False
    asked: bool = False  # a question raised ("asked whether"): no decision word in the clause outweighs it
    question: bool = False  # weak: "discussed", "considered", "should"
    agreed: bool = False


def _words_between(text: str, a: int, b: int) -> int:
    return len(re.findall(r"\w+", text[a:b]))


def _near(text: str, ns: int, ne: int, s: int, e: int, window: int, boundary: re.Pattern) -> bool:
    """Is the negation at ns..ne within ``window`` words of the topic at s..e (and not across a
    boundary such as ", as" or "because")?"""
    if ne <= s:
        return _words_between(text, ne, s) <= window and not boundary.search(text, ne, s)
    if ns >= e:
        return _words_between(text, e, ns) <= window and not boundary.search(text, e, ns)
    return True


def _marks(text: str, spans: list[tuple[int, int]], v: Vocabulary, extra_pending: re.Pattern | None) -> _Marks:
    """The decision words in a clause; a negation counts only near the topic (``spans``)."""
    m = _Marks()

    def blank(pattern: re.Pattern, s: str) -> tuple[bool, str]:
        if not pattern.search(s):
            return False, s
        return True, _blank_spans(s, pattern)  # blanks keep offsets, so the topic spans stay valid

    hit, text = blank(v.agreed_negations, text)
    m.agreed |= hit
    hit, text = blank(v.pending_negations, text)
    m.pending |= hit
    _hit, text = blank(v.soft, text)
    hit, text = blank(v.question_phrases, text)
    m.asked |= hit
    window = v.negation_window
    for neg in v.negation.finditer(text):
        if any(_near(text, neg.start(), neg.end(), s, e, window, v.boundary) for s, e in spans):
            m.negated = True
            break
    m.pending |= bool(v.pending.search(text)) or bool(extra_pending and extra_pending.search(text))
    m.wish = bool(v.wish.search(text))
    m.question |= bool(v.question.search(text))
    m.agreed |= bool(v.agreed.search(text))
    return m


def _spans(pattern: re.Pattern, text: str) -> list[tuple[int, int]]:
    return [(mt.start(), mt.end()) for mt in pattern.finditer(text)]


def _blank_spans(text: str, pattern: re.Pattern) -> str:
    return pattern.sub(lambda mt: " " * len(mt.group(0)), text)


# -- one clause --------------------------------------------------------------------------------------

def exit_clause(clause: str, v: Vocabulary | None = None) -> str | None:
    """What one clause says about the exit: a kind, or None when it does not speak of the exit."""
    v = v or load_vocabulary()
    text = _blank_spans(normalise(clause), v.exit_not_topic)
    assertive = _spans(v.exit_assertive, text)
    mention = _spans(v.exit_mention, text)
    stay = _spans(v.exit_stay, text)
    if not (assertive or mention or stay):
        return None
    m = _marks(_blank_spans(text, v.exit_stay) if stay else text, assertive + mention + stay, v, v.exit_pending)
    if stay:
        if m.negated:
            return PENDING  # "will not remain open": not a clear decision either way
        if m.wish and not m.agreed:
            return PENDING  # someone would like the network to stay involved: a view, not a decision
        return NOT
    if m.negated:
        return NOT
    if m.pending:
        return PENDING
    if m.asked or (m.question and not m.agreed):
        return QUESTION
    if m.agreed or assertive or v.exit_agreed.search(text):
        return AGREED
    return MENTION


def handover_clause(clause: str, v: Vocabulary | None = None, *, people: tuple[str, ...] = ()
                    ) -> tuple[str, str | None] | None:
    """What one clause says about a handover: (kind, agency named or None), or None."""
    v = v or load_vocabulary()
    text = _blank_spans(normalise(clause), v.handover_not_topic)
    agency, spans = None, []
    for pat in v.handover_to:
        for mt in pat.finditer(text):
            ag = v.handover_stop_start.sub("", mt.group("ag").strip(" ,.;:-")).strip(" ,.;:-")
            while True:  # "the College" -> "College"; "of" at the end is not a name
                ag2 = re.sub(r"\s+(?:of|for|the|&|and)$", "", ag)
                if ag2 == ag:
                    break
                ag = ag2
            if not ag or not ag[0].isupper() or v.handover_not_agency.fullmatch(ag.lower()):
                continue
            if any(_norm(ag) and _norm(ag) in _norm(p) for p in people if p):
                continue  # a person at the meeting ("Gráinne to take the lead"), not an agency
            agency = agency or ag
            spans.append((mt.start(), mt.end()))
        if agency:
            break
    stay = _spans(v.handover_stay, text)
    topic = _spans(v.handover_topic, text)
    if not (agency or stay or topic):
        return None
    m = _marks(_blank_spans(text, v.handover_stay) if stay else text, spans + stay + topic, v, None)
    if stay and not agency:
        return (PENDING if m.negated else NOT), None
    if m.negated:
        return NOT, agency
    if m.pending:
        return PENDING, agency
    if m.asked or (m.question and not m.agreed):
        return QUESTION, agency
    if m.agreed or agency:
        return AGREED, agency
    return MENTION, None


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9@]+", " ", (text or "").lower()).strip()


# -- a whole sentence (the sentences.json kind of test) ------------------------------------------------

def _fold_sentence(kinds: list[str]) -> str | None:
    """The kinds of one sentence's clauses as one kind (the strongest doubt wins)."""
    for k in (NOT, PENDING, QUESTION, AGREED, MENTION):
        if k in kinds:
            if k == NOT and AGREED in kinds:
                return PENDING  # one clause agrees, another refuses: a person must read it
            return k
    return None


def exit_sentence(sentence: str, code: str | None = None, v: Vocabulary | None = None) -> str | None:
    """The kind one sentence says about the exit of case ``code`` (None: it does not speak of it)."""
    v = v or load_vocabulary()
    kinds = []
    parts = clauses(sentence)
    for i, clause in enumerate(parts):
        scope = _scope(clause, code)
        if scope == "other":
            continue
        k = exit_clause(clause, v)
        if k is None and kinds:
            # a clause after the exit's own ("exit was discussed; mother not yet in agreement; to be
            # revisited") can leave it open, or refuse it, without naming it again
            probe = _marks(normalise(clause), [(0, len(clause))], v, v.exit_pending)
            if not handover_clause(clause, v):
                if probe.pending and not probe.agreed:
                    k = PENDING
                elif probe.negated and not probe.agreed:
                    k = NOT
        if k is not None:
            if scope == "sibling":
                k = PENDING  # family minutes speaking of one sibling: for a person to read
            kinds.append(k)
    return _fold_sentence(kinds)


def classify_exit_sentence(sentence: str, code: str | None = None) -> str:
    """'agreed', 'not', 'unclear' or 'none' (the sentence does not speak of the exit)."""
    k = exit_sentence(sentence, code)
    if k is None:
        return "none"
    return {AGREED: AGREED, NOT: NOT}.get(k, UNCLEAR)


def handover_sentence(sentence: str, code: str | None = None, v: Vocabulary | None = None,
                      *, people: tuple[str, ...] = ()) -> tuple[str, str | None] | None:
    v = v or load_vocabulary()
    found: list[tuple[str, str | None]] = []
    for clause in clauses(sentence):
        scope = _scope(clause, code)
        if scope == "other":
            continue
        got = handover_clause(clause, v, people=people)
        if got is not None:
            kind, agency = got
            if scope == "sibling":
                kind = PENDING
            found.append((kind, agency))
    if not found:
        return None
    kind = _fold_sentence([k for k, _a in found])
    agency = next((a for k, a in found if a and k == kind), None) or next((a for _k, a in found if a), None)
    return kind, agency


def classify_handover_sentence(sentence: str, code: str | None = None) -> tuple[str, str | None]:
    got = handover_sentence(sentence, code)
    if got is None:
        return "none", None
    kind, agency = got
    return {AGREED: AGREED, NOT: NOT}.get(kind, UNCLEAR), agency


# -- the whole minutes ------------------------------------------------------------------------------

def decide(evidence: list[Evidence]) -> Decision:
    """Fold the evidence, in reading order, into agreed / not / unclear.

    Agreed together with a refusal, with something left open, or with a question raised after it,
    is unclear; agreed alone (a question before it is answered by it) is agreed; a refusal without
    an agreement is not; anything else that speaks of it (raised, tentative, mentioned) is unclear.
    """
    agreed = [i for i, e in enumerate(evidence) if e.kind == AGREED]
    nots = [e for e in evidence if e.kind == NOT]
    if agreed:
        first = agreed[0]
        doubt = [e for i, e in enumerate(evidence) if e.kind in (NOT, PENDING) or (e.kind == QUESTION and i > first)]
        if doubt:
            return Decision(UNCLEAR, doubt[0].where, evidence=list(evidence))
        return Decision(AGREED, evidence[first].where, evidence=list(evidence))
    if nots:
        return Decision(NOT, nots[0].where, evidence=list(evidence))
    open_ = [e for e in evidence if e.kind in (PENDING, QUESTION, MENTION)]
    if open_:
        return Decision(UNCLEAR, open_[0].where, evidence=list(evidence))
    return Decision(NOT, None, evidence=list(evidence))
