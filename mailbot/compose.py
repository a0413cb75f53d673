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

import hashlib
import html
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from datetime import datetime, timezone
from pathlib import Path
from string import Template

from .errors import ConfigError


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
    msg = EmailMessage()
    msg["From"] = formataddr((sender_name, sender))
    msg["To"] = ", ".join(to)
    msg["Subject"] = rendered.subject
    msg["Date"] = format_datetime(date or datetime.now(timezone.utc))
    msg["Message-ID"] = msg_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    msg["X-Mailbot-Kind"] = kind
    if case_code:
        msg["X-Mailbot-Case"] = case_code
    msg.set_content(rendered.text)
    msg.add_alternative(rendered.html, subtype="html")
    for att in attachments:
        maintype, _, subtype = att.content_type.partition("/")
        if maintype == "text":
            params = {}
            if subtype == "calendar":  # the part's method must match the METHOD line of the .ics
                params = {"method": "CANCEL" if b"\r\nMETHOD:CANCEL\r\n" in att.data else "REQUEST"}
            msg.add_attachment(att.data.decode("utf-8"), subtype=subtype, filename=att.filename, params=params)
        else:
            msg.add_attachment(att.data, maintype=maintype, subtype=subtype, filename=att.filename)
    return msg.as_bytes()


#: stand-ins written once into a shared message, replaced per recipient (fast: one MIME build per mailing)
TO_PLACEHOLDER = "recipient.placeholder@mailbot.invalid"
ID_PLACEHOLDER = "<message-id.placeholder@mailbot.invalid>"


def personalise(shared: bytes, *, to: str, msg_id: str) -> bytes:
    """The shared message with this recipient's To and Message-ID (both ASCII, both header-only)."""
    head, sep, body = shared.partition(b"\n\n")
    head = head.replace(TO_PLACEHOLDER.encode("ascii"), to.encode("ascii"), 1)
    head = head.replace(ID_PLACEHOLDER.encode("ascii"), msg_id.encode("ascii"), 1)
    return head + sep + body
