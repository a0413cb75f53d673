"""What a coordinator's command is, once read: one frozen dataclass a command (pure).

mailbot.casework.commands reads a line into one of these (or a CommandError); the handlers
(mailbot.handlers.commands) carry them out. Each keeps the ``line`` it was read from, to quote it
back in the reply (:func:`display_line`: a line that holds a name is not repeated).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from mailbot.casework.command_syntax import EMAIL_RE as _EMAIL_RE

__all__ = ["Command", "SocialWorkCheck", "ExitCase", "Handover", "Detained", "Released", "MemberAdd",
           "MemberRemove", "MemberChange", "ResendMasterList", "Help", "StripHeld", "ReleaseHeld",
           "DiscardHeld", "ListHeld", "display_line"]


@dataclass(frozen=True)
class SocialWorkCheck:
    code: str
    known: bool
    open: bool | None  # None when not known
    worker_name: str | None = None
    worker_phone: str | None = None
    worker_email: str | None = None
    line: str = ""

    @property
    def allocated(self) -> bool:
        return bool(self.known and self.open and self.worker_name)


@dataclass(frozen=True)
class ExitCase:
    code: str
    reason: str = ""
    line: str = ""


@dataclass(frozen=True)
class Handover:
    code: str
    to: str  # agency name or member email address
    line: str = ""

    @property
    def to_is_email(self) -> bool:
        return bool(_EMAIL_RE.fullmatch(self.to))


@dataclass(frozen=True)
class Detained:
    code: str
    line: str = ""


@dataclass(frozen=True)
class Released:
    code: str
    line: str = ""


@dataclass(frozen=True)
class MemberAdd:
    agency: str
    email: str
    social_work: bool = False
    may_submit: bool = True
    line: str = ""


@dataclass(frozen=True)
class MemberRemove:
    email: str
    line: str = ""


@dataclass(frozen=True)
class MemberChange:
    old_email: str
    new_email: str
    line: str = ""


@dataclass(frozen=True)
class ResendMasterList:
    line: str = ""


@dataclass(frozen=True)
class StripHeld:
    """STRIP H3 <word>...: the words are names; they are never repeated in a reply (``display``)."""
    hold: int
    words: tuple[str, ...]
    line: str = ""

    @property
    def display(self) -> str:
        return f"STRIP H{self.hold} ({len(self.words)} word(s), not repeated here)"


@dataclass(frozen=True)
class ReleaseHeld:
    hold: int
    reason: str
    line: str = ""


@dataclass(frozen=True)
class DiscardHeld:
    hold: int
    line: str = ""


@dataclass(frozen=True)
class ListHeld:
    line: str = ""


def display_line(cmd) -> str:
    """How a command line is quoted back (a line that holds a name is not repeated)."""
    return getattr(cmd, "display", None) or getattr(cmd, "line", "")


@dataclass(frozen=True)
class Help:
    line: str = ""



Command = Union[SocialWorkCheck, ExitCase, Handover, Detained, Released, MemberAdd,
                MemberRemove, MemberChange, ResendMasterList, Help]
