"""The coordinator's view and steering commands, read from a line (pure).

``STATUS``, ``CASE CN78``, ``LIST OPEN`` and ``MEMBERS`` only answer; ``RELEASE O7 <reason>``,
``DISCARD O7``, ``DISCARD Q5`` and ``REPROCESS Q5`` act on held and quarantined email (they are
always confirmed: mailbot.handlers.control). ``HELD``, ``STRIP``, ``RELEASE H3`` and ``DISCARD H3``
are read by mailbot.casework.commands as before; a held item's id says what it is:

- ``H3``: a referral form held for review (mailbot.casework.held);
- ``O7``: an outgoing email held by the last gate (outbox status 'held');
- ``Q5``: an incoming email set aside in the Quarantine folder (refused or not handled).

:func:`parse_control` is called by :func:`mailbot.casework.commands.parse_command_line` with the line's
first word (upper case), the other words and the original line. It answers a command, a
:class:`~mailbot.casework.command_syntax.CommandError`, or None when the line is not one of these
(the other parsers then read it). It never raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailbot.casework.command_syntax import CODE_RE as _CODE_RE, CommandError

__all__ = ["ShowStatus", "ShowCase", "ListOpen", "ListMembers", "ReleaseOutgoing", "DiscardItem",
           "Reprocess", "parse_item_id", "parse_control", "ITEM_KINDS"]

#: the id prefixes of what HELD lists, and what each is
ITEM_KINDS = {"H": "held referral form", "O": "held outgoing email", "Q": "quarantined incoming email"}

_ITEM_RE = re.compile(r"^([HOQ])-?(\d{1,9})[.,;:]?$", re.I)


@dataclass(frozen=True)
class ShowStatus:
    line: str = ""


@dataclass(frozen=True)
class ShowCase:
    code: str
    line: str = ""


@dataclass(frozen=True)
class ListOpen:
    line: str = ""


@dataclass(frozen=True)
class ListMembers:
    line: str = ""


@dataclass(frozen=True)
class ReleaseOutgoing:
    """RELEASE O7 <reason>: send a held outgoing email as it is (the gate checks it again)."""
    item: int
    reason: str
    line: str = ""


@dataclass(frozen=True)
class DiscardItem:
    """DISCARD O7 (the held email is never sent) or DISCARD Q5 (no longer listed; it stays in the folder)."""
    kind: str  # "O" | "Q"
    item: int
    line: str = ""


@dataclass(frozen=True)
class Reprocess:
    """REPROCESS Q5: the quarantined email goes back to the inbox and is handled afresh."""
    item: int
    line: str = ""


def parse_item_id(text: str) -> tuple[str, int] | None:
    """``O7`` / ``q5`` / ``H-3`` -> ("O", 7) / ("Q", 5) / ("H", 3); None otherwise (a bare number too)."""
    m = _ITEM_RE.match((text or "").strip())
    return (m.group(1).upper(), int(m.group(2))) if m else None


_error = CommandError  # a view or steering command written wrongly


def parse_control(kw: str, rest: list[str], original: str):
    """The command of this line if it is one of this module's, a CommandError if it is one of them
    written wrongly, None if it is not (see the module doc)."""
    try:
        return _parse(kw, [w for w in rest if w], original)
    except Exception:  # pragma: no cover - parsing must never raise
        return CommandError(original, "This line could not be read as a command; send HELP for the list.")


def _parse(kw: str, rest: list[str], original: str):
    upper = [w.upper().strip(".,;:") for w in rest]
    if kw == "STATUS":
        if rest:
            return _error(original, "STATUS takes nothing after it. Write it as: STATUS")
        return ShowStatus(line=original)
    if kw == "CASE":
        if not rest:
            return _error(original, "The case code is missing. Write it as: CASE CN78")
        if not _CODE_RE.fullmatch(rest[0].strip(".,;:")):
            # the word may be a young person's name: it is not quoted back
            return _error("CASE (a word that is not a case code, not repeated here)",
                          "The case code must come right after CASE (like CASE CN78); never write a name.")
        if len(rest) > 1:
            return _error(original, "Only the case code follows CASE. Write it as: CASE CN78")
        return ShowCase(rest[0].strip(".,;:"), line=original)
    if kw == "LIST":
        if upper in (["OPEN"], ["OPEN", "CASES"], ["CASES"]):
            return ListOpen(line=original)
        if upper == ["MEMBERS"]:
            return ListMembers(line=original)
        return _error(original, "Write it as: LIST OPEN (the open cases) or MEMBERS (the member agencies).")
    if kw == "OPEN" and upper == ["CASES"]:
        return ListOpen(line=original)
    if kw == "MEMBERS":
        if rest:
            return _error(original, "MEMBERS takes nothing after it. Write it as: MEMBERS")
        return ListMembers(line=original)
    if kw == "REPROCESS":
        got = parse_item_id(rest[0]) if rest else None
        if got is None or got[0] != "Q":
            return _error(original, "REPROCESS needs the id of a quarantined email, like REPROCESS Q5 "
                                    "(send HELD for the list).")
        if len(rest) > 1:
            return _error(original, "Only the id follows REPROCESS. Write it as: REPROCESS Q5")
        return Reprocess(got[1], line=original)
    if kw in ("RELEASE", "DISCARD"):
        got = parse_item_id(rest[0]) if rest else None
        if got is None or got[0] == "H":
            if rest and re.fullmatch(r"\d{1,9}", rest[0]):
                return None  # a bare number is a held referral form, as before (mailbot.casework.held)
            if got is not None:
                return None  # H3: the held referral form (mailbot.casework.commands)
            return _error(original, f"{kw} needs the id of a held item, like {kw} H3, {kw} O7"
                                    f"{' or DISCARD Q5' if kw == 'DISCARD' else ''} (send HELD for the list).")
        kind, number = got
        if kw == "RELEASE":
            if kind == "Q":
                return _error(original, f"A quarantined email is not released: REPROCESS Q{number} handles it "
                                        f"again, DISCARD Q{number} stops listing it.")
            reason = " ".join(rest[1:]).strip(" -:")
            if not reason:
                return _error(original, f"Give a reason: RELEASE O{number} <reason> (it is recorded).")
            return ReleaseOutgoing(number, reason, line=original)
        if len(rest) > 1:
            return _error(original, f"Only the id follows DISCARD. Write it as: DISCARD {kind}{number}")
        return DiscardItem(kind, number, line=original)
    return None
