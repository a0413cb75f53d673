"""Outgoing emails: templates rendered into MIME messages. Pure.

Templates are files in templates/email/NAME.txt: a ``Subject:`` line, a blank
line, then the plain-text body, with ``$placeholders`` (string.Template). An
HTML alternative comes from NAME.html when a network provides one, otherwise
from the text (escaped, paragraphs kept). A missing placeholder is an error
at render time, never a silently empty field.

Every message carries a deterministic Message-ID (so a retry after a crash is
recognisably the same message) and ``Auto-Submitted: auto-generated`` (RFC
3834) so that auto-responders do not answer it and no mail loop starts.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
import secrets
from dataclasses import dataclass
from email.header import Header
from email.utils import encode_rfc2231, format_datetime, formataddr
from datetime import datetime, timezone
from pathlib import Path
from string import Template

from mailbot.errors import ConfigError


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str  # "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    data: bytes


DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ICS_TYPE = "text/calendar"


class Templates:
    """The email texts of templates/email/, loaded once and cached."""

    def __init__(self, templates_dir: Path, *, network: str):
        self.dir = Path(templates_dir) / "email"
        self.network = network
        self._cache: dict[str, tuple[str, str, str | None]] = {}

    def _load(self, name: str) -> tuple[str, str, str | None]:
        hit = self._cache.get(name)
        if hit:
            return hit
        path = self.dir / f"{name}.txt"
        try:
            raw = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"the email template {path} is missing.") from exc
        head, _, body = raw.partition("\n\n")
        if not head.startswith("Subject:"):
            raise ConfigError(f"the email template {path} must start with a 'Subject:' line.")
        html_path = self.dir / f"{name}.html"
        html_src = html_path.read_text(encoding="utf-8") if html_path.exists() else None
        entry = (head[len("Subject:"):].strip(), body.rstrip() + "\n", html_src)
        self._cache[name] = entry
        return entry

    def render(self, name: str, **values) -> Rendered:
        subject_t, body_t, html_t = self._load(name)
        values = {k: ("" if v is None else str(v)) for k, v in values.items()}
        values.setdefault("network", self.network)
        if "signature" not in values:
            sig = self._signature()
            values["signature"] = Template(sig).safe_substitute(values)
        try:
            subject = Template(subject_t).substitute(values)
            text = Template(body_t).substitute(values)
            if html_t is not None:
                esc = {k: html.escape(v) for k, v in values.items()}
                html_body = Template(html_t).substitute(esc)
            else:
                html_body = text_to_html(text)
        except (KeyError, ValueError) as exc:
            raise ConfigError(f"the email template {name} uses a placeholder that was not provided: {exc}") from exc
        return Rendered(subject=" ".join(subject.split()), text=text, html=html_body)

    def _signature(self) -> str:
        """templates/email/_signature.txt, read once (like the templates)."""
        sig = self._cache.get("_signature")
        if sig is None:
            path = self.dir / "_signature.txt"
            sig = (path.read_text(encoding="utf-8").rstrip() if path.exists() else "$network", "", None)
            self._cache["_signature"] = sig
        return sig[0]


def text_to_html(text: str) -> str:
    paras = [p for p in text.strip().split("\n\n")]
    body = "\n".join(
        "<p>" + "<br>\n".join(html.escape(line) for line in p.splitlines()) + "</p>" for p in paras
    )
    return (
        "<!DOCTYPE html><html><body style=\"font-family: Arial, sans-serif; font-size: 14px; color: #222;\">\n"
        f"{body}\n</body></html>\n"
    )


def message_id(kind: str, *parts: str, domain: str) -> str:
    """A Message-ID that is the same every time for the same message to the same recipient."""
    digest = hashlib.sha256("\x1f".join((kind, *parts)).encode("utf-8")).hexdigest()[:24]
    return f"<{kind}.{digest}@{domain}>"


def build_message(
    *,
    sender: str,
    sender_name: str,
    to: list[str],
    rendered: Rendered,
    msg_id: str,
    kind: str,
    case_code: str | None = None,
    attachments: list[Attachment] = (),
    in_reply_to: str | None = None,
    date: datetime | None = None,
) -> bytes:
    """The email as bytes ("\n" line ends): text and HTML alternatives, then the attachments.

    Written directly rather than through email.message.EmailMessage, whose header objects were
    most of the cost of intake's mail (three messages per referral): the result is plain MIME
    (RFC 2045-2047, 2183, 2231) that any parser, and the leak gate, reads the same way; a test
    compares it with what EmailMessage makes of the same message."""
    for name, value in (("From", sender_name), ("From", sender), ("To", ", ".join(to)),
                        ("Subject", rendered.subject), ("Message-ID", msg_id), ("X-Mailbot-Kind", kind),
                        ("X-Mailbot-Case", case_code or "")):
        if "\r" in value or "\n" in value:
            raise ValueError(f"header {name} may not contain a line break")
    head = [
        ("From", formataddr((sender_name, sender), charset="utf-8")),
        ("To", ", ".join(to)),
        ("Subject", _header_value(rendered.subject, "Subject")),
        ("Date", format_datetime(date or datetime.now(timezone.utc))),
        ("Message-ID", msg_id),
    ]
    if in_reply_to and _plain_header_value(in_reply_to):
        head += [("In-Reply-To", in_reply_to), ("References", in_reply_to)]
    head += [("Auto-Submitted", "auto-generated"), ("X-Auto-Response-Suppress", "All"), ("X-Mailbot-Kind", kind)]
    if case_code:
        head.append(("X-Mailbot-Case", case_code))
    texts = [_text_part("plain", rendered.text), _text_part("html", rendered.html)]
    body_type, body = _multipart("alternative", texts)
    if attachments:
        body_type, body = _multipart("mixed", [(body_type + "\n", body)] + [_attachment_part(a) for a in attachments])
    lines = [f"{name}: {value}" for name, value in head]
    lines += ["MIME-Version: 1.0", body_type]
    return ("\n".join(lines) + "\n\n").encode("ascii") + body


def _plain_header_value(value: str) -> bool:
    return value.isascii() and value.isprintable() and len(value) < 900


def _header_value(value: str, name: str) -> str:
    """Unchanged when plain ASCII and short; else RFC 2047 encoded words, folded."""
    if _plain_header_value(value) and len(name) + 2 + len(value) <= 78:
        return value
    return Header(value, "utf-8" if not value.isascii() else "us-ascii", header_name=name).encode(linesep="\n")


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _filename_param(filename: str) -> str:
    if _plain_header_value(filename):
        return "filename=" + _quoted(filename)
    return "filename*=" + encode_rfc2231(filename, "utf-8")


def _text_body(text: str) -> tuple[str, bytes]:
    """(Content-Transfer-Encoding, body): 7bit when plain ASCII in short lines, else quoted-printable."""
    data = text.encode("utf-8")
    if not text.endswith("\n"):
        data += b"\n"
    if text.isascii() and "\r" not in text and all(len(line) <= 998 for line in text.split("\n")):
        return "7bit", data
    return "quoted-printable", binascii.b2a_qp(data)


def _text_part(subtype: str, text: str, params: str = "", disposition: str = "") -> tuple[str, bytes]:
    cte, data = _text_body(text)
    head = f'Content-Type: text/{subtype}; charset="utf-8"{params}\nContent-Transfer-Encoding: {cte}\n'
    return head + disposition, data


def _attachment_part(att: Attachment) -> tuple[str, bytes]:
    maintype, _, subtype = att.content_type.partition("/")
    disposition = f"Content-Disposition: attachment; {_filename_param(att.filename)}\n"
    if maintype == "text":
        params = ""
        if subtype == "calendar":  # the part's method must match the METHOD line of the .ics
            params = "; method=" + ("CANCEL" if b"\r\nMETHOD:CANCEL\r\n" in att.data else "REQUEST")
        return _text_part(subtype, att.data.decode("utf-8"), params, disposition)
    head = f"Content-Type: {maintype}/{subtype}\nContent-Transfer-Encoding: base64\n" + disposition
    return head, base64.encodebytes(att.data)


def _multipart(subtype: str, parts: list[tuple[str, bytes]]) -> tuple[str, bytes]:
    """(its Content-Type header line, its body) for parts given as (header lines, body)."""
    while True:
        boundary = "=_mailbot_" + secrets.token_hex(12)
        # "=_" never occurs in base64 or quoted-printable; a 7bit text is checked
        marker = boundary.encode("ascii")
        if not any(marker in body for _, body in parts):
            break
    out = []
    for head, body in parts:  # (the line break before a boundary belongs to the boundary)
        out.append(b"--" + marker + b"\n" + head.encode("ascii") + b"\n" + body + b"\n")
    out.append(b"--" + marker + b"--\n")
    return f'Content-Type: multipart/{subtype}; boundary="{boundary}"', b"".join(out)


#: stand-ins written once into a shared message, replaced per recipient (fast: one MIME build per mailing)
TO_PLACEHOLDER = "recipient.placeholder@mailbot.invalid"
ID_PLACEHOLDER = "<message-id.placeholder@mailbot.invalid>"


def personalise(shared: bytes, *, to: str, msg_id: str) -> bytes:
    """The shared message with this recipient's To and Message-ID (both ASCII, both header-only)."""
    head, sep, body = shared.partition(b"\n\n")
    head = head.replace(TO_PLACEHOLDER.encode("ascii"), to.encode("ascii"), 1)
    head = head.replace(ID_PLACEHOLDER.encode("ascii"), msg_id.encode("ascii"), 1)
    return head + sep + body
