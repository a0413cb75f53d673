"""The parts of an incoming email, read tolerantly: header values, a part's text, bytes and file name, the leaves.

Pure functions on :class:`email.message.Message` objects; none raises on malformed input (incoming
mail is untrusted)."""

from __future__ import annotations

import email.header
import email.utils
from email.message import Message


def raw_header_values(msg: Message, name: str) -> list[str]:
    out = []
    lname = name.lower()
    try:
        items = msg.raw_items()  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001
        items = []
    for k, v in items:
        if k.lower() == lname:
            out.append(str(v))
    return out


def header_value(msg: Message, name: str, defects: list[str] | None = None) -> str:
    """A header's decoded value as a single line, or "" (never raises)."""
    try:
        value = msg.get(name)
        if value is None:
            return ""
        text = str(value)
    except Exception as exc:  # noqa: BLE001 - malformed header
        if defects is not None:
            defects.append(f"header {name}: {type(exc).__name__}")
        raw = raw_header_values(msg, name)
        if not raw:
            return ""
        try:
            text = str(email.header.make_header(email.header.decode_header(raw[0])))
        except Exception:  # noqa: BLE001
            text = raw[0]
    return " ".join(text.split())


def part_text(part: Message) -> str:
    """Decoded text of a text/* part, tolerant of bad charsets and encodings."""
    try:
        content = part.get_content()  # type: ignore[attr-defined]
        if isinstance(content, str):
            return content
        if isinstance(content, bytes):
            return content.decode("utf-8", "replace")
    except Exception:  # noqa: BLE001
        pass
    try:
        payload = part.get_payload(decode=True) or b""
    except Exception:  # noqa: BLE001
        payload = b""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, "replace")
    except LookupError:
        return payload.decode("utf-8", "replace")


def part_bytes(part: Message) -> bytes:
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001
        payload = None
    if payload is None:
        raw = part.get_payload()
        if isinstance(raw, str):
            return raw.encode("utf-8", "replace")
        return b""
    return payload


def part_filename(part: Message) -> str:
    try:
        name = part.get_filename()
    except Exception:  # noqa: BLE001
        name = None
    if not name:
        try:
            name = part.get_param("name")
            if isinstance(name, tuple):
                name = email.utils.collapse_rfc2231_value(name)
        except Exception:  # noqa: BLE001
            name = None
    return " ".join(str(name).split()) if name else ""


def is_attachment_part(part: Message) -> bool:
    disposition = (part.get_content_disposition() or "").lower()
    if disposition == "attachment" or part_filename(part):
        return True
    return part.get_content_type() not in ("text/plain", "text/html")


def leaves(msg: Message, max_depth: int = 1):
    """Yield (kind, part, inner, depth): leaf parts, and message/rfc822 parts (kind "message").

    A forwarded message's parts count one level deeper; messages deeper than
    ``max_depth`` are yielded but not opened."""
    stack = [(msg, 0)]
    while stack:
        part, depth = stack.pop(0)
        ctype = part.get_content_type()
        if ctype in ("message/rfc822", "message/global"):
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else None
            if isinstance(inner, Message):
                yield ("message", part, inner, depth)
                if depth < max_depth:
                    stack[0:0] = [(inner, depth + 1)]
            continue
        if ctype.startswith("message/"):
            continue  # delivery-status and the like: no files in there
        if part.is_multipart():
            payload = part.get_payload()
            if isinstance(payload, list):
                stack[0:0] = [(p, depth) for p in payload if isinstance(p, Message)]
            continue
        yield ("leaf", part, None, depth)

