"""The coordinator's digest: one email a day with what needs attention (pure).

``build_digest(snapshot, now) -> (subject, text, html)``. The lead engineer
fills a :class:`DigestSnapshot` from the store; this module only lays it
out, most urgent first:

1. delivery failures (a member did not get a message),
2. quarantined emails (refused input waiting for a person),
3. follow-ups overdue (two-week rule broken),
4. minutes missing,
5. Social Work checks pending,
6. young people turning 19 soon (exit meeting to plan),
7. follow-ups due soon,
8. meetings this week,
9. new cases,

then the counts. Empty sections are left out. The HTML part is plain
inline-styled tables (Outlook-safe: no CSS classes, no scripts, no
images); the text part has the same content. Layout lives in
``templates/digest.html`` and ``templates/digest.txt`` (``string.Template``
placeholders ``$title $summary $sections $counts``; no logic in templates).

Only case codes appear. Pass ``protected_names`` (from the Master List) to
make the digest refuse (LeakDetected) if a name slipped into any field.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from string import Template

from mailbot.errors import ConfigError, LeakDetected
from mailbot.paths import shipped

__all__ = ["DigestSnapshot", "NewCase", "FollowUp", "MeetingItem", "MinutesMissing",
           "BirthdayItem", "QuarantineItem", "DeliveryFailure", "build_digest", "TEMPLATES_DIR"]

TEMPLATES_DIR = shipped("templates")


@dataclass(frozen=True)
class NewCase:
    code: str
    lead_agency: str
    referred_on: date


@dataclass(frozen=True)
class FollowUp:
    code: str
    lead_agency: str
    due_on: date


@dataclass(frozen=True)
class MeetingItem:
    code: str
    start: datetime
    venue: str


@dataclass(frozen=True)
class MinutesMissing:
    code: str
    lead_agency: str
    meeting_start: datetime


@dataclass(frozen=True)
class BirthdayItem:
    code: str
    turns_19_on: date


@dataclass(frozen=True)
class QuarantineItem:
    when: datetime
    sender: str
    reason: str


@dataclass(frozen=True)
class DeliveryFailure:
    when: datetime
    code: str | None
    recipient: str
    error: str


@dataclass
class DigestSnapshot:
    new_cases: list[NewCase] = field(default_factory=list)
    sw_checks_pending: list[str] = field(default_factory=list)  # case codes
    follow_ups_due: list[FollowUp] = field(default_factory=list)
    follow_ups_overdue: list[FollowUp] = field(default_factory=list)
    meetings_this_week: list[MeetingItem] = field(default_factory=list)
    minutes_missing: list[MinutesMissing] = field(default_factory=list)
    birthdays_ahead: list[BirthdayItem] = field(default_factory=list)
    quarantined: list[QuarantineItem] = field(default_factory=list)
    delivery_failures: list[DeliveryFailure] = field(default_factory=list)
    #: referrals waiting for a consent decision (case codes) and closed cases purged since the last digest
    consent_waiting: list[str] = field(default_factory=list)
    purged: list[tuple[str, str]] = field(default_factory=list)  # (case code, closed on dd/mm/yyyy)
    #: held items removed unsent after [held] purge_after_days ("O7 (coded-referral, CN3)", "H2 (CN4)")
    held_purged: list[str] = field(default_factory=list)
    #: e.g. {"open cases": 41, "referrals received (24h)": 2, "messages sent (24h)": 37}
    counts: dict[str, int] = field(default_factory=dict)


# -- formatting helpers ----------------------------------------------------------

def _d(x: date) -> str:
    return x.strftime("%a %d/%m/%Y")


def _dt(x: datetime) -> str:
    return x.strftime("%a %d/%m/%Y %H:%M")


def _one_line(s: str | None, limit: int = 140) -> str:
    s = re.sub(r"\s+", " ", str(s or "")).strip()
    return s if len(s) <= limit else s[: limit - 3] + "..."


def _code_key(code: str | None):
    m = re.fullmatch(r"CN(\d+)([A-Z]?)", code or "")
    return (int(m.group(1)), m.group(2)) if m else (10**9, code or "")


# (title, urgent, headers, rows) ; rows are lists of plain strings
def _sections(s: DigestSnapshot, now: datetime) -> list[tuple[str, bool, list[str], list[list[str]]]]:
    out = []
    if s.delivery_failures:
        rows = [[_dt(f.when), f.code or "-", _one_line(f.recipient, 80), _one_line(f.error)]
                for f in sorted(s.delivery_failures, key=lambda f: f.when)]
        out.append(("Delivery failures: these members did not get a message", True,
                    ["When", "Case", "Recipient", "Error"], rows))
    if s.quarantined:
        rows = [[_dt(q.when), _one_line(q.sender, 80), _one_line(q.reason)]
                for q in sorted(s.quarantined, key=lambda q: q.when)]
        out.append(("Quarantined emails waiting for you", True, ["When", "From", "Why"], rows))
    if s.consent_waiting:
        rows = [[c] for c in sorted(set(s.consent_waiting), key=_code_key)]
        out.append(("Referrals waiting for your consent decision (reply: CONSENT CN78 OVERRIDE <reason> / "
                    "WITHDRAW)", True, ["Case"], rows))
    if s.follow_ups_overdue:
        rows = [[f.code, _one_line(f.lead_agency, 80), _d(f.due_on), f"{(now.date() - f.due_on).days} days"]
                for f in sorted(s.follow_ups_overdue, key=lambda f: (f.due_on, _code_key(f.code)))]
        out.append(("Follow-ups overdue (no meeting called within two weeks)", True,
                    ["Case", "Lead agency", "Was due", "Late by"], rows))
    if s.minutes_missing:
        rows = [[m.code, _one_line(m.lead_agency, 80), _dt(m.meeting_start)]
                for m in sorted(s.minutes_missing, key=lambda m: (m.meeting_start, _code_key(m.code)))]
        out.append(("Minutes not received", True, ["Case", "Lead agency", "Meeting held"], rows))
    if s.sw_checks_pending:
        rows = [[c] for c in sorted(set(s.sw_checks_pending), key=_code_key)]
        out.append(("Social Work checks to do (reply: SW CN78 KNOWN OPEN ... / NOT-KNOWN)", True,
                    ["Case"], rows))
    if s.birthdays_ahead:
        rows = [[b.code, _d(b.turns_19_on), f"{(b.turns_19_on - now.date()).days} days"]
                for b in sorted(s.birthdays_ahead, key=lambda b: (b.turns_19_on, _code_key(b.code)))]
        out.append(("Turning 19 soon: plan the exit meeting", False, ["Case", "Turns 19 on", "In"], rows))
    if s.follow_ups_due:
        rows = [[f.code, _one_line(f.lead_agency, 80), _d(f.due_on)]
                for f in sorted(s.follow_ups_due, key=lambda f: (f.due_on, _code_key(f.code)))]
        out.append(("Follow-ups due soon", False, ["Case", "Lead agency", "Due by"], rows))
    if s.meetings_this_week:
        rows = [[_dt(m.start), m.code, _one_line(m.venue, 100)]
                for m in sorted(s.meetings_this_week, key=lambda m: (m.start, _code_key(m.code)))]
        out.append(("Meetings this week", False, ["When", "Case", "Venue"], rows))
    if s.purged:
        rows = [[c, closed] for c, closed in sorted(s.purged, key=lambda p: _code_key(p[0]))]
        out.append(("Closed cases purged after the retention period (names removed; code and dates kept)",
                    False, ["Case", "Closed on"], rows))
    if s.held_purged:
        out.append(("Held too long: removed unsent ([held] purge_after_days)", False, ["Held item"],
                    [[_one_line(p, 120)] for p in s.held_purged]))
    if s.new_cases:
        rows = [[n.code, _one_line(n.lead_agency, 80), _d(n.referred_on)]
                for n in sorted(s.new_cases, key=lambda n: (n.referred_on, _code_key(n.code)))]
        out.append(("New cases", False, ["Case", "Lead agency", "Referred on"], rows))
    return out


def _text_table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(c.ljust(widths[i]) for i, c in enumerate(cells)).rstrip()
    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


_TH = ('style="text-align:left;padding:4px 10px 4px 0;border-bottom:1px solid #999999;'
       'font-size:13px;color:#444444;"')
_TD = 'style="padding:4px 10px 4px 0;border-bottom:1px solid #e0e0e0;font-size:13px;vertical-align:top;"'


def _html_table(title: str, urgent: bool, headers: list[str], rows: list[list[str]],
                counted: bool = True) -> str:
    colour = "#b00020" if urgent else "#1f3b5a"
    e = html.escape
    head = "".join(f"<th {_TH}>{e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td {_TD}>{e(c)}</td>" for c in r) + "</tr>\n" for r in rows)
    return (f'<h2 style="font-size:16px;margin:20px 0 6px 0;color:{colour};">{e(title)}{f" ({len(rows)})" if counted else ""}</h2>\n'
            f'<table cellpadding="0" cellspacing="0" border="0" '
            f'style="border-collapse:collapse;width:100%;max-width:800px;">\n'
            f"<tr>{head}</tr>\n{body}</table>")


def _load(name: str, templates_dir: Path | None) -> Template:
    p = (templates_dir or TEMPLATES_DIR) / name
    try:
        return Template(p.read_text(encoding="utf-8"))
    except OSError:
        raise ConfigError(f"The digest template {name} is missing from the templates folder.") from None


def build_digest(snapshot: DigestSnapshot, now: datetime, *, templates_dir: Path | None = None,
                 protected_names=()) -> tuple[str, str, str]:
    """Return (subject, plain text, HTML) for the coordinator's digest at ``now``."""
    sections = _sections(snapshot, now)
    need_action = sum(len(rows) for _t, urgent, _h, rows in sections if urgent)
    title = f"mailbot digest for {_d(now.date())}"
    if need_action:
        summary = f"{need_action} item{'s' if need_action != 1 else ''} need{'s' if need_action == 1 else ''} your action (in red, most urgent first)."
        subject = f"{title}: {need_action} need{'s' if need_action == 1 else ''} action"
    elif sections:
        summary = "Nothing needs your action today; for information below."
        subject = f"{title}: nothing needs action"
    else:
        summary = "Nothing to report today."
        subject = f"{title}: nothing to report"

    counts = [(str(k), str(v)) for k, v in snapshot.counts.items()]
    text_sections = "\n\n".join(
        f"{t.upper()} ({len(rows)})\n{_text_table(h, rows)}" for t, _u, h, rows in sections)
    text_counts = ("COUNTS\n" + _text_table(["What", "Number"], [list(c) for c in counts])) if counts else ""
    html_sections = "\n".join(_html_table(t, u, h, rows) for t, u, h, rows in sections)
    html_counts = _html_table("Counts", False, ["What", "Number"], [list(c) for c in counts], False) if counts else ""

    text = _load("digest.txt", templates_dir).substitute(
        title=title, summary=summary, sections=text_sections, counts=text_counts)
    text = re.sub(r"\n{3,}", "\n\n", text)
    page = _load("digest.html", templates_dir).substitute(
        title=html.escape(title), summary=html.escape(summary), sections=html_sections,
        counts=html_counts)

    if protected_names:
        from mailbot.casework.notices import contains_protected_name
        if any(contains_protected_name(part, protected_names) for part in (subject, text, page)):
            raise LeakDetected("The digest would contain a young person's name, so it was not built.")
    return subject, text, page
