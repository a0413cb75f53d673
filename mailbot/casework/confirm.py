"""Confirmation of coordinator commands by a one-time token (as Mailman confirms a subscription).

A coordinator command that changes who receives names or a case's standing is not carried out when
it arrives by email: anyone can make an email *look* as if it came from the coordinator. Instead
mailbot sends a one-time token to the coordinator's own configured address (never to the From or
Reply-To of the command email), and the command runs when an email carrying ``CONFIRM <token>``
(in the subject or the body: replying to the request is enough) comes back from that same
configured address before the token expires. A token works once. ``mailbot command`` on the
server's shell needs no token.

This module is pure: tokens, their hash, finding a token in an email, and which command names need
confirmation (rules/commands.toml). The store keeps only the token's SHA-256 and the command lines
encrypted (Store.add_pending_commands); the handler is mailbot.handlers.commands, where a command
is registered (``register_command``).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import tomllib
from pathlib import Path

from mailbot.paths import shipped
from mailbot.errors import ConfigError

__all__ = ["new_token", "token_hash", "find_confirmation", "load_confirm_rules", "rule_covers",
           "TOKEN_BYTES"]

#: 128 random bits from the operating system's CSPRNG, written as 32 hex digits
TOKEN_BYTES = 16
_TOKEN_RE = re.compile(r"(?<![A-Za-z0-9])confirm\W{1,5}([0-9a-f]{%d})(?![0-9a-z])" % (2 * TOKEN_BYTES), re.I)
_CONFIRM_LINE_RE = re.compile(r"^\W{0,3}confirm(?:\s|:|$)", re.I)


def new_token() -> str:
    return secrets.token_hex(TOKEN_BYTES)


def token_hash(token: str) -> str:
    """What the store keeps of a token. The token is 128 random bits, so a plain SHA-256 is enough."""
    return hashlib.sha256(token.strip().lower().encode("ascii", "replace")).hexdigest()


def find_confirmation(subject: str, body: str) -> tuple[bool, str | None]:
    """(is this a confirmation?, the token or None).

    A token is looked for in the subject first, then anywhere in the body (a reply quotes the
    request). An email whose subject or first non-blank body line starts with CONFIRM but carries
    no well-formed token is still a confirmation (of an unknown token): it gets a plain answer and
    is never read as commands."""
    for text in (subject or "", body or ""):
        m = _TOKEN_RE.search(text)
        if m:
            return True, m.group(1).lower()
    subj = re.sub(r"^(?:\s*(?:re|aw|sv|fwd?)\s*:\s*)+", "", subject or "", flags=re.I)
    if _CONFIRM_LINE_RE.match(subj.strip()):
        return True, None
    for line in (body or "").splitlines():
        line = line.strip()
        if line:
            return (True, None) if _CONFIRM_LINE_RE.match(line) else (False, None)
    return False, None


def load_confirm_rules(rules_dir: Path) -> tuple[str, ...]:
    """The command names of rules/commands.toml [confirmation] commands (upper case, single spaces).

    A missing file means the shipped default list; a damaged one is a configuration problem."""
    path = Path(rules_dir) / "commands.toml"
    if not path.exists():
        path = shipped("rules") / "commands.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path} cannot be read ({exc}).") from exc
    names = (data.get("confirmation") or {}).get("commands", [])
    if not isinstance(names, list) or not all(isinstance(n, str) and n.strip() for n in names):
        raise ConfigError(f"{path}: [confirmation] commands must be a list of command names.")
    return tuple(" ".join(n.upper().split()) for n in names)


def rule_covers(rule: str, name: str) -> bool:
    """True when the rule's words start the command name: "SW" covers "SW KNOWN OPEN WORKER"."""
    r, n = rule.split(), name.upper().split()
    return bool(r) and n[:len(r)] == r
