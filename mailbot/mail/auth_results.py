"""Authentication-Results headers (RFC 8601): the SPF, DKIM and DMARC results a receiving server wrote.

Pure. Which of them may be trusted is decided in mailbot.mail.senders: only the results of the
top block (``AuthResult.top``), which the receiving server prepended."""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass
from email.message import Message


@dataclass
class AuthResult:
    method: str          # "spf" | "dkim" | "dmarc" | other method names, lowercased
    result: str          # "pass" | "fail" | "softfail" | "none" | ... lowercased
    domain: str          # spf: smtp.mailfrom domain; dkim: header.d; dmarc: header.from ("" if absent)
    authserv_id: str = ""
    index: int = 0       # which Authentication-Results header (0 = topmost, added last)
    top: bool = False    # in the first contiguous block of Authentication-Results headers at the top


def _strip_comments(text: str) -> str:
    """The value without its comments; quoted strings (with their backslash escapes) are kept whole."""
    out, depth, quoted, escaped = [], 0, False, False
    for ch in text:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(ch)
            continue
        if ch == "\\" and (quoted or depth):
            escaped = True
            if depth == 0:
                out.append(ch)
            continue
        if ch == '"' and depth == 0:
            quoted = not quoted
        if not quoted:
            if ch == "(":
                depth += 1
                continue
            if ch == ")" and depth:
                depth -= 1
                continue
        if depth == 0:
            out.append(ch)
    return "".join(out)


def _split_outside_quotes(text: str, sep: str = ";") -> list[str]:
    """``text`` split at ``sep`` where it is not inside a quoted string (RFC 8601: a ";" in a quoted
    value, such as an envelope sender's quoted local part, is part of that value)."""
    parts, buf, quoted, escaped = [], [], False, False
    for ch in text:
        if escaped:
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == sep and not quoted:
            parts.append("".join(buf))
            buf = []
            continue
        buf.append(ch)
    parts.append("".join(buf))
    return parts


def _unbalanced(text: str) -> bool:
    """Does a quoted string or a comment stay open at the end of ``text``?"""
    depth, quoted, escaped = 0, False, False
    for ch in text:
        if escaped:
            escaped = False
        elif ch == "\\" and (quoted or depth):
            escaped = True
        elif ch == '"' and depth == 0:
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")" and depth:
            depth -= 1
    return quoted or depth > 0


def _unquote(value: str) -> str:
    """A value that is one quoted string, unquoted; anything else (an address whose local part is quoted,
    ``"a@b"@example.org``) as it is, so that its domain is what follows its last "@"."""
    m = re.fullmatch(r'"((?:[^"\\]|\\.)*)"', value)
    return re.sub(r"\\(.)", r"\1", m.group(1)) if m else value


_RESINFO = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*(?:/\s*\d+\s*)?=\s*([A-Za-z0-9_-]+)")
# a property (ptype.property=value; the value runs to the next space or ";" outside quoted strings), or
# a quoted string that is no property's value (a reason="..."): skipped whole, never read for properties
_PROP = re.compile(r'([A-Za-z0-9_-]+)\.([A-Za-z0-9_.-]+)\s*=\s*((?:"(?:[^"\\]|\\.)*"|[^\s;"])+)'
                   r'|"(?:[^"\\]|\\.)*"')
#: a property given twice with different values: which one the MX meant cannot be told
_AMBIGUOUS = "\0ambiguous"


#: the result given for a header whose quoted strings or comments do not close: it cannot be told where
#: one value ends and the next result begins, so the header as a whole counts as a failure (fail closed)
UNREADABLE = "unreadable"


def parse_authentication_results(value: str, index: int = 0) -> list[AuthResult]:
    text = _strip_comments(value or "")
    segments = _split_outside_quotes(text)
    if _unbalanced(value or ""):
        head = segments[0].split()
        return [AuthResult(UNREADABLE, "fail", "", head[0].lower() if head else "", index)]
    head = segments[0].split()
    authserv = head[0].lower() if head else ""
    out = []
    for seg in segments[1:]:
        m = _RESINFO.match(seg)
        if not m:
            continue
        method, result = m.group(1).lower(), m.group(2).lower()
        props: dict[str, str] = {}
        for pm in _PROP.finditer(seg[m.end():]):
            if pm.group(1) is None:
                continue
            key, val = f"{pm.group(1).lower()}.{pm.group(2).lower()}", _unquote(pm.group(3))
            props[key] = val if props.get(key, val) == val else _AMBIGUOUS
        if _AMBIGUOUS in props.values():
            # no domain: it aligns with nothing, and a fail counts as about the From domain (fail closed)
            props = {}
        domain = ""
        if method == "dkim":
            domain = props.get("header.d", "") or props.get("header.i", "").rpartition("@")[2]
        elif method == "dmarc":
            domain = props.get("header.from", "")
        elif method == "spf":
            domain = props.get("smtp.mailfrom", "").rpartition("@")[2] or props.get("smtp.helo", "")
        else:
            domain = props.get("header.from", "") or props.get("header.d", "")
        out.append(AuthResult(method, result, domain.strip().lower().rstrip("."), authserv, index))
    return out


def authentication_results(msg: Message | bytes) -> list[AuthResult]:
    """All results from all Authentication-Results headers, topmost header first.

    Results of the first contiguous block of Authentication-Results headers at the top (the ones
    the receiving server prepended) have ``top`` set; any lower one could have been written by the
    sender and is never read by mailbot.mail.senders."""
    if isinstance(msg, (bytes, bytearray)):
        msg = email.message_from_bytes(bytes(msg), policy=email.policy.default)
    try:
        items = list(msg.raw_items())  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001
        items = [(k, str(v)) for k, v in msg.items()]
    out: list[AuthResult] = []
    index = 0
    block = "before"  # before the first A-R header, inside the top block, or after it
    for name, value in items:
        if name.strip().lower() != "authentication-results":
            if block == "in":
                block = "after"
            continue
        if block == "before":
            block = "in"
        text = " ".join(str(value).split())
        for r in parse_authentication_results(text, index):
            r.top = block == "in"
            out.append(r)
        index += 1
    return out

