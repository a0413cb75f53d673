"""The actions decided and who is responsible: from an action table, else from the Actions section.

An action table anywhere (a header naming an Action and a Responsible column) wins; without one, the
lines of section 2 are read as "Action – Person (Agency)", "Action<TAB>Person", "Action (Person)" when
the person was at the meeting, or "Action. Responsible: Person"; a headerless two-column table in that
section is Action | Person.
"""

from __future__ import annotations

import re

from mailbot.documents.minutes.blocks import DASHES, NONE_WORDS, Para, Table, cell, clean, header_map, norm
from mailbot.documents.minutes.labels import section_of, split_labelled
from mailbot.documents.minutes.people import name_only
from mailbot.documents.minutes.result import Action

_ACTION_COLS = {
    "action": ("action", "actions", "action decided", "actions decided", "action agreed", "actions agreed", "task"),
    "responsible": ("who is responsible", "responsible", "who", "person responsible", "responsibility",
                    "lead", "by whom", "owner"),
}
_ACTION_HEADER_LINE = re.compile(r"^(?:actions?(?:\s+decided)?\s*[/|\t]?\s*)?(?:who\s+is\s+)?responsib\w*\??$|^actions?$",
                                 re.I)


def is_action_table(t: Table) -> tuple[dict[str, int], int] | None:
    for i, row in enumerate(t.rows[:2]):
        cols = header_map(row, _ACTION_COLS)
        if "action" in cols and "responsible" in cols and cols["action"] != cols["responsible"]:
            return cols, i + 1
    return None


def action_from_line(line: str, people: set[str]) -> Action | None:
    text = line.strip().lstrip("•·*►▪-–— \t").strip()
    text = re.sub(r"^\d{1,2}[.)]\s+", "", text)
    if not clean(text) or _ACTION_HEADER_LINE.match(clean(text)):
        return None
    if clean(text).lower() in NONE_WORDS:
        return None
    # "Action<TAB>Person"
    if "\t" in text:
        left, _, right = text.rpartition("\t")
        if clean(left) and clean(right):
            return Action(clean(left), name_only(right))
    # "Action – Person (Agency)": the last dash outside parentheses
    depth, cut = 0, -1
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        elif depth == 0 and ch in DASHES + "-" and 0 < i < len(text) - 1 and text[i - 1] == " " and text[i + 1] == " ":
            cut = i
    if cut > 0:
        return Action(clean(text[:cut]), name_only(text[cut + 1:]))
    # "Action (Person)" when the parenthesis names someone at the meeting
    m = re.match(r"^(?P<a>.+?)\s*\((?P<p>[^()]+)\)\s*\.?$", text)
    if m and norm(m["p"]) in people:
        return Action(clean(m["a"]), clean(m["p"]))
    # "Responsible: Person" inside the line
    m = re.match(r"^(?P<a>.+?)[.;,]?\s*(?:responsible|who)\s*:\s*(?P<p>.+)$", text, re.I)
    if m:
        return Action(clean(m["a"]), name_only(m["p"]))
    return Action(clean(text), None)


def actions(blocks: list, people: set[str]) -> list[Action]:
    """The actions: every action table's rows, else the Actions section's lines (``people``: the
    normalised names of those at the meeting, for "Action (Person)")."""
    return _from_action_tables(blocks) or _from_actions_section(blocks, people)


def _from_action_tables(blocks: list) -> list[Action]:
    out: list[Action] = []
    for b in blocks:
        if isinstance(b, Table):
            found = is_action_table(b)
            if not found:
                continue
            cols, start = found
            for row in b.rows[start:]:
                action = cell(row, cols["action"])
                if action:
                    out.append(Action(action, name_only(cell(row, cols["responsible"]))))
    return out


def _from_actions_section(blocks: list, people: set[str]) -> list[Action]:
    out: list[Action] = []
    section = None
    for b in blocks:
        if isinstance(b, Para):
            s = section_of(b)
            if s:
                section = s
                continue
            if section != "actions":
                continue
            for line in b.text.split("\n"):
                if split_labelled(line.strip()):
                    continue
                act = action_from_line(line, people)
                if act:
                    out.append(act)
        elif section == "actions" and b.rows and len(b.rows[0]) >= 2:
            # a table with no header row in the Actions section: Action | Person
            for row in b.rows:
                action = cell(row, 0)
                if action and not _ACTION_HEADER_LINE.match(action):
                    out.append(Action(action, name_only(cell(row, 1))))
    return out
