"""The words every coordinator command shares, and how a wrong line is answered (pure).

Below both command parsers (mailbot.casework.commands and mailbot.casework.control), so that
each reads a case code, an email address and a held referral's id the same way, and answers a
line it cannot read with the same :class:`CommandError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["CODE_RE", "CODE_IN_TEXT_RE", "EMAIL_RE", "CommandError", "normalise_code", "normalise_codes",
           "parse_hold_id"]

#: an email address, as a command may give one
EMAIL_RE = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
#: a case code as a coordinator may write it (cn78, CN 78, cn-058a)
CODE_IN_TEXT_RE = re.compile(r"(?<![A-Za-z0-9])cn[ \t-]?0*(\d{1,6})([a-z])?(?![A-Za-z0-9])", re.I)
#: a case code once normalised (CN78, CN58A)
CODE_RE = re.compile(r"CN([1-9]\d{0,5})([A-Z]?)")
_HOLD_RE = re.compile(r"^H?(\d{1,9})$", re.I)


@dataclass(frozen=True)
class CommandError:
    """A line that is not a valid command; ``message`` says why and shows the right syntax."""

    line: str
    message: str


def normalise_code(text: str) -> str | None:
    """``cn78`` / ``CN 78`` / ``cn-058a`` -> ``CN78`` / ``CN78`` / ``CN58A``; None if not a case code."""
    m = CODE_IN_TEXT_RE.fullmatch(text.strip())
    if not m:
        return None
    return f"CN{int(m.group(1))}{(m.group(2) or '').upper()}"


def normalise_codes(line: str) -> str:
    """Every case code in ``line`` written the one way (CN78)."""
    return CODE_IN_TEXT_RE.sub(lambda m: f"CN{int(m.group(1))}{(m.group(2) or '').upper()}", line)


def parse_hold_id(text: str) -> int | None:
    """The number of a held referral ("H3" or "3"), or None."""
    m = _HOLD_RE.match((text or "").strip())
    return int(m.group(1)) if m else None
