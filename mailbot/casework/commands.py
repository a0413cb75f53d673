"""Coordinator commands: one command per line, in an email body or on the command line.

The coordinator (and only the coordinator) can tell mailbot what happened
outside the mailbox: the Social Work check done by phone, an exit, a
handover, a change of membership. This module only *reads* the commands
(pure functions); the daemon carries them out and replies with
:func:`format_reply`.

Command syntax
--------------

One command per line. Keywords are not case-sensitive; case codes may be
written ``CN78``, ``cn78``, ``CN 78`` or ``CN-78`` (siblings: ``CN58A``).
Blank lines, quoted reply lines (starting with ``>``), an ``On ... wrote:``
line, and everything below a signature separator (``--``) or an
``-----Original Message-----`` / ``From:`` block of a forwarded or replied
email are ignored. A leading bullet (``-``, ``*``, ``•``, ``1.``) is allowed.

======================================================  ==========================================
Command                                                 Meaning
======================================================  ==========================================
``SW CN78 NOT-KNOWN``                                   Social Work does not know the young person
                                                        (also ``NOT KNOWN``, ``UNKNOWN``)
``SW CN78 KNOWN CLOSED``                                known to Social Work, case closed
``SW CN78 KNOWN OPEN UNALLOCATED``                      known, open, no social worker allocated
``SW CN78 KNOWN OPEN WORKER "Aoife Test" 087 123 4567   known, open, social worker allocated; the
aoife.test@hse.example``                                worker's name (quotes optional), phone and
                                                        email are sent to the lead agency
``EXIT CN78 [reason]``                                  exit: the case leaves the Master List
``HANDOVER CN78 TO <agency name or member email>``      the lead agency changes (``TO`` optional)
``DETAINED CN78``                                       the young person is in detention
``RELEASED CN78``                                       released from detention (a meeting is due)
``MEMBER ADD <agency> <email> [SOCIAL-WORK]             add a member contact; ``SOCIAL-WORK`` marks
[NO-SUBMIT]``                                           the Social Work member, ``NO-SUBMIT`` means
                                                        the address may not send referrals
``MEMBER REMOVE <email>``                               remove a member contact
``MEMBER CHANGE <old email> <new email>``               a member's address changed
``RESEND MASTER LIST``                                  send the current Master List to all members
``HELP``                                                reply with this list
======================================================  ==========================================

Never write a young person's name in a command: use the case code. The
``EXIT`` reason and the worker's details are recorded as written (an EXIT
reason that holds a name on record is refused).

By email, every command except ``HELP`` (rules/commands.toml; the ones that
change who receives names or a case's standing always) runs only once the
coordinator confirms it with the one-time code mailbot sends to the
coordinator's configured address (mailbot.casework.confirm, mailbot.handlers.commands).

API
---

``parse_commands(text) -> list[Command | CommandError]`` (one entry per
command line, in order) and ``format_reply(results) -> str``. What a command is once read:
mailbot.casework.command_types (re-exported here); the case codes, addresses and CommandError
both parsers share: mailbot.casework.command_syntax.
"""

from __future__ import annotations

import re
from typing import Callable

from mailbot.casework.command_syntax import (CODE_RE as _CODE_RE, EMAIL_RE as _EMAIL_RE, CommandError,
                                             normalise_code, normalise_codes as _normalise_codes, parse_hold_id)
from mailbot.casework.command_types import (Command, Detained, DiscardHeld, ExitCase, Handover, Help, ListHeld,
                                            MemberAdd, MemberChange, MemberRemove, ReleaseHeld, Released,
                                            ResendMasterList, SocialWorkCheck, StripHeld, display_line)
from mailbot.casework.consent import ConsentOverride, ConsentWithdraw
from mailbot.casework.control import parse_control

__all__ = [
    "Command", "CommandError", "SocialWorkCheck", "ExitCase", "Handover", "Detained",
    "Released", "MemberAdd", "MemberRemove", "MemberChange", "ResendMasterList", "Help",
    "StripHeld", "ReleaseHeld", "DiscardHeld", "ListHeld", "display_line",
    "parse_commands", "parse_command_line", "format_reply", "normalise_code", "parse_hold_id", "HELP_TEXT",
]

# the list of commands is one table (mailbot.casework.command_help): HELP, `mailbot command --help`
from mailbot.casework.command_help import help_text as _help_text, keywords as _keywords  # noqa: E402

HELP_TEXT = _help_text()


# -- parsing -------------------------------------------------------------------

_BULLET_RE = re.compile(r"^(?:[-*•·]|\d{1,2}[.)])\s+")
_STOP_RE = re.compile(
    r"^(?:--\s*|-{3,}\s*original message\s*-{3,}|_{5,}|from:\s.*|sent from my .*|"
    r"on .{0,200}wrote:|-{3,}\s*forwarded message\s*-{3,})$",
    re.I,
)
_MAX_LINE = 500
_MAX_LINES = 200

_SYNTAX = {
    "SW": 'SW CN78 NOT-KNOWN | SW CN78 KNOWN CLOSED | SW CN78 KNOWN OPEN UNALLOCATED | '
          'SW CN78 KNOWN OPEN WORKER "Name" phone email',
    "EXIT": "EXIT CN78 [reason]",
    "HANDOVER": "HANDOVER CN78 TO <agency name or member email>",
    "DETAINED": "DETAINED CN78",
    "RELEASED": "RELEASED CN78",
    "MEMBER": "MEMBER ADD <agency> <email> [SOCIAL-WORK] [NO-SUBMIT] | MEMBER REMOVE <email> | "
              "MEMBER CHANGE <old email> <new email>",
    "RESEND": "RESEND MASTER LIST",
    "HELP": "HELP",
}


def _error(line: str, keyword: str, what: str) -> CommandError:
    return CommandError(line, f"{what} Write it as: {_SYNTAX[keyword]}")


def _unknown(line: str) -> CommandError:
    return CommandError(
        line,
        f"This line is not a command I know. Commands start with {', '.join(_keywords()[:-1])} or HELP; "
        "send HELP for the list.",
    )


def _command_lines(text: str):
    """Yield the stripped lines that may hold commands (quotes, signatures, blanks skipped)."""
    for n, raw in enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\n")):
        if n >= 10_000:
            return
        if _STOP_RE.match(raw.strip()) or raw.rstrip("\n") == "-- ":
            return
        line = raw.strip().strip("\u200b\ufeff")
        if not line or line.startswith(">"):
            continue
        yield line


def parse_commands(text: str) -> list[Command | CommandError]:
    """Parse every command line of ``text`` (an email body or CLI input), in order."""
    out: list[Command | CommandError] = []
    for line in _command_lines(text or ""):
        if len(out) >= _MAX_LINES:
            out.append(CommandError(line, f"Too many lines: only the first {_MAX_LINES} were read."))
            break
        out.append(parse_command_line(line))
    return out


def parse_command_line(line: str) -> Command | CommandError:
    """Parse one line; never raises.

    The line's first word picks its reader: the view and steering commands
    (mailbot.casework.control) first, then :data:`_READERS`, one a keyword."""
    original = line
    if len(line) > _MAX_LINE:
        return CommandError(original[:80] + "...", "This line is too long to be a command.")
    words = _tidy(line).split()
    if not words:
        return _unknown(original)
    kw = words[0].upper().rstrip(":")
    rest = words[1:]
    found = parse_control(kw, rest, original)  # STATUS, CASE, LIST OPEN, MEMBERS, O/Q items
    if found is not None:
        return found
    read = _READERS.get(kw)
    try:
        found = read(kw, rest, original) if read else None
    except Exception:  # pragma: no cover - parsing must never raise
        return _unknown(original)
    return _unknown(original) if found is None else found


def _tidy(line: str) -> str:
    """The line without its bullet, its case codes written the one way, its quotes straight."""
    line = _BULLET_RE.sub("", line.strip())
    line = _normalise_codes(line)
    # typographic quotes -> straight quotes
    return line.replace("\u201c", '"').replace("\u201d", '"').replace("\u2018", "'").replace("\u2019", "'")


# -- one reader a keyword: (keyword, the words after it, the line as written) -> the command, its
# -- CommandError, or None when the line is not this command after all (then it is not one at all)

def _parse_social_work(kw: str, rest: list[str], original: str) -> Command | CommandError | None:
    """SOCIAL WORK CN78 ... (two words for SW)."""
    if rest and rest[0].upper() == "WORK":
        return _parse_sw(kw, rest[1:], original)
    return None


def _parse_exit(kw: str, rest: list[str], original: str) -> Command | CommandError:
    code = _need_code(original, "EXIT", rest)
    if isinstance(code, CommandError):
        return code
    return ExitCase(code, " ".join(rest[1:]).strip(" -:"), line=original)


def _parse_handover(kw: str, rest: list[str], original: str) -> Command | CommandError:
    code = _need_code(original, "HANDOVER", rest)
    if isinstance(code, CommandError):
        return code
    tail = rest[1:]
    if tail and tail[0].upper() == "TO":
        tail = tail[1:]
    to = " ".join(tail).strip().strip('"').strip()
    if not to:
        return _error(original, "HANDOVER", "Say which agency becomes the lead agency.")
    if "@" in to and not _EMAIL_RE.fullmatch(to):
        return _error(original, "HANDOVER", "The email address is not complete.")
    return Handover(code, to.lower() if _EMAIL_RE.fullmatch(to) else to, line=original)


def _parse_detention(kw: str, rest: list[str], original: str) -> Command | CommandError:
    """DETAINED (or DETENTION) CN78, RELEASED CN78."""
    key = "RELEASED" if kw == "RELEASED" else "DETAINED"
    code = _need_code(original, key, rest)
    if isinstance(code, CommandError):
        return code
    if len(rest) > 1:
        return _error(original, key, "Only the case code follows the keyword.")
    return Released(code, line=original) if key == "RELEASED" else Detained(code, line=original)


def _parse_resend(kw: str, rest: list[str], original: str) -> Command | CommandError:
    tail = "".join(w.upper() for w in rest).replace("-", "").replace("_", "")
    if tail in ("MASTERLIST", "THEMASTERLIST", "LIST"):
        return ResendMasterList(line=original)
    return _error(original, "RESEND", "Only the Master List can be resent.")


def _parse_help(kw: str, rest: list[str], original: str) -> Command:
    return Help(line=original)


def _parse_held(kw: str, rest: list[str], original: str) -> Command | CommandError:
    """STRIP H3 <word>..., RELEASE H3 <reason>, DISCARD H3: a referral form held for review."""
    hold = parse_hold_id(rest[0]) if rest else None
    if hold is None:
        shown = f"STRIP H<number> ({len(rest) - 1} word(s))" if kw == "STRIP" else original
        return CommandError(shown, f"{kw} needs the number of the held referral, like {kw} H3.")
    if kw == "STRIP":
        words = tuple(w.strip(" \"'") for w in rest[1:] if w.strip(" \"'"))
        if not words:
            return CommandError(f"STRIP H{hold}", "Give the word to remove: STRIP H3 <word>.")
        return StripHeld(hold, words, line=original)
    if kw == "RELEASE":
        reason = " ".join(rest[1:]).strip(" -:")
        if not reason:
            return CommandError(original, "Give a reason: RELEASE H3 <reason> (it is recorded).")
        return ReleaseHeld(hold, reason, line=original)
    return DiscardHeld(hold, line=original)


def _parse_list_held(kw: str, rest: list[str], original: str) -> Command | None:
    return None if rest else ListHeld(line=original)


def _need_code(original: str, keyword: str, rest: list[str]) -> str | CommandError:
    if not rest:
        return _error(original, keyword, "The case code is missing.")
    if not _CODE_RE.fullmatch(rest[0]):
        return _error(original, keyword, "The case code must come right after the keyword (like CN78).")
    return rest[0]


def _parse_sw(kw: str, rest: list[str], original: str) -> Command | CommandError:
    code = _need_code(original, "SW", rest)
    if isinstance(code, CommandError):
        return code
    words = rest[1:]
    flags = [w.upper().strip(",;.") for w in words]
    joined = " ".join(flags)
    if not words:
        return _error(original, "SW", "After the case code write KNOWN or NOT-KNOWN.")
    # not known
    if re.match(r"^(NOT[- ]?KNOWN|UNKNOWN|NK)$", joined):
        return SocialWorkCheck(code, known=False, open=None, line=original)
    if flags[0] != "KNOWN":
        return _error(original, "SW", "After the case code write KNOWN or NOT-KNOWN.")
    i = 1
    open_: bool | None = None
    allocated_said: bool | None = None
    while i < len(flags):
        f = flags[i]
        if f == "OPEN" and open_ is None:
            open_ = True
        elif f == "CLOSED" and open_ is None:
            open_ = False
        elif f in ("UNALLOCATED", "NOT-ALLOCATED", "NO-WORKER"):
            allocated_said = False
        elif f == "NOT" and i + 1 < len(flags) and flags[i + 1] == "ALLOCATED":
            allocated_said = False
            i += 1
        elif f == "NO" and i + 1 < len(flags) and flags[i + 1] == "WORKER":
            allocated_said = False
            i += 1
        elif f == "ALLOCATED":
            allocated_said = True
        elif f in ("WORKER", "SW", "SOCIAL-WORKER"):
            i += 1
            break
        else:
            break
        i += 1
    if open_ is None:
        return _error(original, "SW", "Say whether the Social Work case is OPEN or CLOSED.")
    detail_words = words[i:]
    if not detail_words:
        if allocated_said:
            return _error(original, "SW", "The allocated worker's name and contact details are missing.")
        return SocialWorkCheck(code, known=True, open=open_, line=original)
    if allocated_said is False:
        return _error(original, "SW", "UNALLOCATED cannot be followed by a worker's details.")
    if not open_:
        return _error(original, "SW", "A closed case has no allocated worker; leave the worker out.")
    name, phone, email, problem = _split_worker(" ".join(detail_words))
    if problem:
        return _error(original, "SW", problem)
    return SocialWorkCheck(code, known=True, open=True, worker_name=name, worker_phone=phone,
                           worker_email=email, line=original)


def _split_worker(detail: str) -> tuple[str | None, str | None, str | None, str | None]:
    """Split ``"Aoife Test" 087 123 4567 aoife.test@hse.example`` into name, phone, email."""
    detail = detail.strip()
    name = None
    m = re.match(r'^"([^"]+)"\s*(.*)$', detail)
    if m:
        name, detail = m.group(1).strip(), m.group(2)
    emails = _EMAIL_RE.findall(detail)
    if len(emails) > 1:
        return None, None, None, "Give one email address for the worker."
    email = emails[0].lower() if emails else None
    if email:
        detail = detail.replace(emails[0], " ")
    if "@" in detail:
        return None, None, None, "The worker's email address is not complete."
    # phone: the longest run of digits/spaces/+()-. that contains at least 7 digits
    phone = None
    pm = re.search(r"\+?\(?\d[\d ()./-]{5,}\d", detail)
    if pm and sum(c.isdigit() for c in pm.group(0)) >= 7:
        phone = re.sub(r"\s+", " ", pm.group(0)).strip()
        detail = detail[: pm.start()] + " " + detail[pm.end():]
    leftover = re.sub(r"[\s,;]+", " ", detail).strip()
    if name is None:
        name = leftover or None
    elif leftover:
        return None, None, None, f"I could not tell what '{leftover[:40]}' is."
    if not name:
        return None, None, None, "The worker's name is missing."
    if any(ch.isdigit() for ch in name):
        return None, None, None, "The worker's phone number should have at least 7 digits."
    if not phone and not email:
        return None, None, None, "Give the worker's phone number or email address (or both)."
    return name, phone, email, None


def _parse_member(kw: str, rest: list[str], original: str) -> Command | CommandError:
    if not rest:
        return _error(original, "MEMBER", "Say ADD, REMOVE or CHANGE.")
    sub = rest[0].upper()
    args = rest[1:]
    if sub == "ADD":
        idx = next((k for k, w in enumerate(args) if "@" in w), None)
        if idx is None:
            return _error(original, "MEMBER", "The member's email address is missing.")
        email = args[idx].strip("<>,;")
        if not _EMAIL_RE.fullmatch(email):
            return _error(original, "MEMBER", "The email address is not complete.")
        agency = " ".join(args[:idx]).strip().strip('"').strip()
        if not agency:
            return _error(original, "MEMBER", "The agency name must come before the email address.")
        social_work, may_submit = False, True
        for flag in args[idx + 1:]:
            f = flag.upper().strip(",;").replace("_", "-")
            if f in ("SOCIAL-WORK", "SOCIALWORK", "SW"):
                social_work = True
            elif f in ("NO-SUBMIT", "NOSUBMIT", "NO-REFERRALS"):
                may_submit = False
            else:
                return _error(original, "MEMBER", f"'{flag[:30]}' is not SOCIAL-WORK or NO-SUBMIT.")
        return MemberAdd(agency, email.lower(), social_work, may_submit, line=original)
    if sub in ("REMOVE", "DELETE"):
        if len(args) != 1 or not _EMAIL_RE.fullmatch(args[0].strip("<>,;")):
            return _error(original, "MEMBER", "Give exactly one email address to remove.")
        return MemberRemove(args[0].strip("<>,;").lower(), line=original)
    if sub in ("CHANGE", "UPDATE"):
        addrs = [a.strip("<>,;") for a in args if a.upper() not in ("TO", "->")]
        if len(addrs) != 2 or not all(_EMAIL_RE.fullmatch(a) for a in addrs):
            return _error(original, "MEMBER", "Give the old and the new email address.")
        if addrs[0].lower() == addrs[1].lower():
            return _error(original, "MEMBER", "The old and new email addresses are the same.")
        return MemberChange(addrs[0].lower(), addrs[1].lower(), line=original)
    return _error(original, "MEMBER", "After MEMBER write ADD, REMOVE or CHANGE.")


# -- the reply -----------------------------------------------------------------

def format_reply(results: list[tuple[str, str]]) -> str:
    """Plain-text reply to the coordinator: each command line quoted, then what was done or why not.

    ``results`` is ``[(original line, outcome sentence), ...]`` in command order.
    """
    if not results:
        return ("I found no commands in your email.\n\n" + HELP_TEXT + "\n")
    parts = []
    for line, outcome in results:
        quoted = "\n".join("> " + piece for piece in (line or "").splitlines() or [""])
        parts.append(f"{quoted}\n{outcome.strip()}")
    return "\n\n".join(parts) + "\n\n(Send HELP for the list of commands.)\n"


# -- CONSENT CN78 OVERRIDE <reason> | CONSENT CN78 WITHDRAW (mailbot.casework.consent) ------------

CONSENT_SYNTAX = "CONSENT CN78 OVERRIDE <reason> | CONSENT CN78 WITHDRAW"


def _parse_consent(kw: str, rest: list[str], original: str) -> Command | CommandError:
    """The words after CONSENT (codes already normalised by the command parser)."""
    if not rest or not _CODE_RE.fullmatch(rest[0]):
        return CommandError(original, f"The case code must follow CONSENT. Write it as: {CONSENT_SYNTAX}")
    code = rest[0]
    action = rest[1].upper().strip(":,.") if len(rest) > 1 else ""
    if action == "OVERRIDE":
        reason = " ".join(rest[2:]).strip(" -:")
        if not reason:
            return CommandError(original, f"Give the reason for sharing without consent (it is recorded). "
                                          f"Write it as: CONSENT {code} OVERRIDE <reason>")
        return ConsentOverride(code, reason, line=original)
    if action in ("WITHDRAW", "WITHDRAWN"):
        if len(rest) > 2:
            return CommandError(original, f"Nothing follows WITHDRAW. Write it as: CONSENT {code} WITHDRAW")
        return ConsentWithdraw(code, line=original)
    return CommandError(original, f"After the case code write OVERRIDE or WITHDRAW. Write it as: {CONSENT_SYNTAX}")


#: the reader of each keyword (the view and steering commands are mailbot.casework.control's)
_READERS: dict[str, Callable[[str, list[str], str], Command | CommandError | None]] = {
    "SW": _parse_sw, "SOCIALWORK": _parse_sw, "SOCIAL-WORK": _parse_sw, "SOCIAL": _parse_social_work,
    "EXIT": _parse_exit,
    "HANDOVER": _parse_handover,
    "DETAINED": _parse_detention, "DETENTION": _parse_detention, "RELEASED": _parse_detention,
    "MEMBER": _parse_member,
    "RESEND": _parse_resend,
    "HELP": _parse_help, "?": _parse_help,
    "STRIP": _parse_held, "RELEASE": _parse_held, "DISCARD": _parse_held, "HELD": _parse_list_held,
    "CONSENT": _parse_consent,  # the coordinator's consent decisions (mailbot.casework.consent)
}
