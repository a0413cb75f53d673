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
    out, depth, quoted = [], 0, False
    for ch in text:
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


_RESINFO = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*(?:/\s*\d+\s*)?=\s*([A-Za-z0-9_-]+)")
_PROP = re.compile(r"([A-Za-z0-9_-]+)\.([A-Za-z0-9_.-]+)\s*=\s*(\"[^\"]*\"|[^\s;]+)")


def parse_authentication_results(value: str, index: int = 0) -> list[AuthResult]:
    text = _strip_comments(value or "")
    segments = text.split(";")
    head = segments[0].split()
    authserv = head[0].lower() if head else ""
    out = []
    for seg in segments[1:]:
        m = _RESINFO.match(seg)
        if not m:
            continue
        method, result = m.group(1).lower(), m.group(2).lower()
        props = {}
        for pm in _PROP.finditer(seg[m.end():]):
            props[f"{pm.group(1).lower()}.{pm.group(2).lower()}"] = pm.group(3).strip('"')
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

