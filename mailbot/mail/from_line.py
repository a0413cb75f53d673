"""The sender of an incoming email, read strictly from its From line (who is acting depends on it).

The sender is the addr-spec of the single mailbox in the From line (what DMARC and mail clients
use), never a display name. Anything that makes the sender ambiguous is one of the FROM_* lines,
recorded in ``IncomingEmail.from_problem`` and refused by mailbot.mail.senders."""

from __future__ import annotations

import email.header
import re
import unicodedata
from email.message import Message

from mailbot.mail.parts import raw_header_values

FROM_MISSING = "the email has no From line"
FROM_SEVERAL_HEADERS = "the email has more than one From line"
FROM_SEVERAL = "the From line names more than one sender"
FROM_GROUP = "the From line uses group syntax instead of one sender"
FROM_UNREADABLE = "the From line could not be read as one email address"
FROM_HIDDEN_ADDRESS = "the From line shows a different email address than the one it was sent from"
FROM_TOO_LONG = "the From line is too long to be one sender"

#: a From line longer than this is not read at all: no real one is (a line may hold 998 characters: a display
#: name, its encoded words, one address), and reading a longer, folded one costs time that grows faster than
#: its length (a 100,000-letter display name: over 30 s)
MAX_FROM_CHARS = 2000
_ADDR_LIKE = re.compile(r"[^\s<>\"'(),;:\[\]\\@]+@[^\s<>\"'(),;:\[\]\\@]+\.[^\s<>\"'(),;:\[\]\\@.]+")
_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+$")
_DOMAIN = re.compile(r"^[^\W_](?:[\w-]*[^\W_])?(?:\.[^\W_](?:[\w-]*[^\W_])?)+$")


def _split_from(value: str) -> tuple[list[tuple[str, str]], list[str]]:
    """Tokens of a From value: ("quoted"|"angle"|"text"|"special", text), plus the comments' texts.

    Raises ValueError on unbalanced quotes, angle brackets or comments."""
    tokens: list[tuple[str, str]] = []
    comments: list[str] = []
    i, n = 0, len(value)
    text = []

    def flush():
        if text:
            tokens.append(("text", "".join(text)))
            text.clear()

    while i < n:
        ch = value[i]
        if ch == '"':
            flush()
            j, buf = i + 1, []
            while j < n and value[j] != '"':
                if value[j] == "\\" and j + 1 < n:
                    j += 1
                buf.append(value[j])
                j += 1
            if j >= n:
                raise ValueError("unbalanced quote")
            tokens.append(("quoted", "".join(buf)))
            i = j + 1
        elif ch == "(":
            flush()
            depth, j, buf = 1, i + 1, []
            while j < n and depth:
                c = value[j]
                if c == "\\" and j + 1 < n:
                    buf.append(value[j + 1])
                    j += 2
                    continue
                depth += c == "("
                depth -= c == ")"
                if depth:
                    buf.append(c)
                j += 1
            if depth:
                raise ValueError("unbalanced comment")
            comments.append("".join(buf))
            tokens.append(("text", " "))
            i = j
        elif ch == "<":
            flush()
            j = value.find(">", i + 1)
            if j < 0 or "<" in value[i + 1:j]:
                raise ValueError("unbalanced angle bracket")
            tokens.append(("angle", value[i + 1:j]))
            i = j + 1
        elif ch in ">)":
            raise ValueError("stray bracket")
        elif ch in ",;:":
            flush()
            tokens.append(("special", ch))
            i += 1
        else:
            text.append(ch)
            i += 1
    flush()
    return tokens, comments


def _decode_words(text: str) -> str:
    try:
        return str(email.header.make_header(email.header.decode_header(text)))
    except Exception:  # noqa: BLE001
        return text


def _valid_addr_spec(addr: str) -> bool:
    local, at, domain = addr.rpartition("@")
    return bool(at and local and domain and _LOCAL.match(local) and ".." not in local
                and not local.startswith(".") and not local.endswith(".") and _DOMAIN.match(domain))


def parse_from(values: list[str]) -> tuple[str, str, str]:
    """(addr-spec lowercased, display name, problem) from the raw value(s) of the From header(s).

    ``problem`` is "" when the From line names exactly one mailbox unambiguously; otherwise it is
    one of the FROM_* lines, and the address is the one mailbox's addr-spec where there is one
    (``"coordinator@network.test" <evil@attacker.test>`` is evil@attacker.test), else "".
    """
    if not values:
        return "", "", FROM_MISSING
    if len(values) > 1:
        return "", "", FROM_SEVERAL_HEADERS
    value = values[0]
    if len(value) > MAX_FROM_CHARS:
        return "", "", FROM_TOO_LONG
    try:  # raw 8-bit header bytes arrive as surrogate escapes: read them as UTF-8
        value = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeError:
        pass
    value = " ".join(value.replace("\r", " ").replace("\n", " ").split())
    try:
        tokens, comments = _split_from(value)
    except ValueError:
        return "", "", FROM_UNREADABLE
    specials = [t for kind, t in tokens if kind == "special"]
    if ":" in specials or ";" in specials:
        return "", "", FROM_GROUP
    if "," in specials:
        return "", "", FROM_SEVERAL
    angles = [t for kind, t in tokens if kind == "angle"]
    if len(angles) > 1:
        return "", "", FROM_SEVERAL
    display = ""
    if angles:
        at = next(i for i, (kind, _t) in enumerate(tokens) if kind == "angle")
        if any(kind != "text" or t.strip() for kind, t in tokens[at + 1:]):
            return "", "", FROM_UNREADABLE  # something after <addr>: a second mailbox, or junk
        addr = angles[0].strip()
        parts = []
        for kind, t in tokens[:at]:
            parts.append(t if kind == "quoted" else _decode_words(t))
        display = " ".join("".join(parts).split())
    else:
        if any(kind == "quoted" for kind, _t in tokens):
            return "", "", FROM_UNREADABLE  # a quoted local part ("a@b"@c) or a bare phrase
        words = "".join(t for _kind, t in tokens).split()
        if len(words) != 1:
            return "", "", FROM_UNREADABLE if len(words) < 2 or not any("@" in w for w in words) else FROM_SEVERAL
        addr = words[0]
    if not _valid_addr_spec(addr):
        return "", display, FROM_UNREADABLE
    addr = addr.lower()
    # An address shown anywhere else in the line (display name, comment, an encoded-word) that is
    # not the sender's own is how a forger makes the coordinator's address appear on screen.
    shown = unicodedata.normalize("NFKC", " ".join([display] + [_decode_words(c) for c in comments]))
    for candidate in _ADDR_LIKE.findall(shown.replace("\uff20", "@")):
        if candidate.strip(".").lower() != addr:
            return addr, display, FROM_HIDDEN_ADDRESS
    return addr, display, ""


def read_from(msg: Message, defects: list[str]) -> tuple[str, str, str]:
    """The sender's (addr-spec, display name, problem): see :func:`parse_from`."""
    raw = raw_header_values(msg, "From")
    addr, display, problem = parse_from(raw)
    if problem:
        defects.append("From: " + problem)
        return addr, display, problem
    # a second opinion: the standard library's header parser must see the same single mailbox
    try:
        header = msg.get("From")
        addresses = list(getattr(header, "addresses", ()) or ())
        groups = [g for g in getattr(header, "groups", ()) or () if g.display_name is not None]
        if groups or len(addresses) != 1 or (addresses[0].addr_spec or "").strip().lower() != addr:
            defects.append("From: parsers disagree")
            return addr, display, FROM_UNREADABLE
    except Exception as exc:  # noqa: BLE001
        defects.append(f"header From: {type(exc).__name__}")
    return addr, display, ""
