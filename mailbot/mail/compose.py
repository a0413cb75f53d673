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
import re
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
#: the .ics file attached beside the calendar alternative (what Google Calendar sends)
ICS_FILE_TYPE = "application/ics"
_ADDR = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
#: RFC 5322 msg-id contents: printable ASCII, no space, no angle brackets
_MSG_ID = re.compile(r"[!-;=?-~]{1,250}")
#: References keeps the first id and the latest ones when the chain is long (RFC 5322 3.6.4)
MAX_REFERENCES = 20


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


#: a line at least this long that is followed by more of its paragraph was wrapped by its writer
SOFT_WRAP_MIN = 55
_FIELD_LINE = re.compile(r"^[A-Z][A-Za-z0-9'’ ()/&-]{0,40}:(?:\s|$)")
_LIST_LINE = re.compile(r"^(?:[-*•]|\d{1,2}[.)])\s")
_PRE_LINE = re.compile(r"^(?:[ \t]{2,}\S|\t|>)")
_P_STYLE = "margin: 0 0 1em 0;"
_PRE_STYLE = ("margin: 0 0 1em 0; padding: 6px 8px; background: #f4f4f4; white-space: pre; overflow-x: auto; "
              "font-family: Consolas, 'Courier New', monospace; font-size: 13px;")


def _soft_break(line: str, following: str) -> bool:
    """Whether the line break between these two lines of one paragraph is only the writer's wrapping
    (prose flows on) rather than a line of its own (a "Label: value" line, a list item, a short line)."""
    line = line.rstrip()
    return (len(line) >= SOFT_WRAP_MIN and not line.endswith(":") and not _FIELD_LINE.match(following)
            and not _LIST_LINE.match(following.lstrip()))


def _flow(lines: list[str]) -> str:
    out = html.escape(lines[0].strip())
    for prev, line in zip(lines, lines[1:]):
        out += (" " if _soft_break(prev, line) else "<br>\n") + html.escape(line.strip())
    return f'<p style="{_P_STYLE}">{out}</p>'


def _pre(lines: list[str]) -> str:
    indents = [len(line) - len(line.lstrip(" ")) for line in lines if line.strip() and not line.startswith(">")]
    cut = min(indents, default=0)
    kept = [line if line.startswith(">") else line[cut:] for line in lines]
    return f'<pre style="{_PRE_STYLE}"><code>' + "\n".join(html.escape(line.rstrip()) for line in kept) + "</code></pre>"


def text_to_html(text: str) -> str:
    """The HTML alternative of a plain-text email: each paragraph one flowing <p> (the text's own
    wrapping at ~72 columns dropped, so it wraps at the reader's window), "Label: value" lines and
    list items kept on lines of their own; indented lines (command examples) and quoted lines (> ...)
    in <pre><code>, exactly as written."""
    blocks = []
    for para in re.split(r"\n(?:[ \t]*\n)+", text.strip("\n")):
        lines = para.split("\n")
        if not any(line.strip() for line in lines):
            continue
        run: list[str] = []
        run_pre = None
        for line in lines + [None]:
            is_pre = line is not None and bool(_PRE_LINE.match(line))
            if line is None or (run and is_pre != run_pre):
                if run:
                    blocks.append(_pre(run) if run_pre else _flow(run))
                run = []
            if line is not None:
                run.append(line)
                run_pre = is_pre
    body = "\n".join(blocks)
    return (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"></head>\n"
        "<body style=\"font-family: Arial, sans-serif; font-size: 14px; line-height: 1.4; color: #222;\">\n"
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
    references=(),
    reply_to: str | None = None,
    list_id: str | None = None,
) -> bytes:
    """The email as bytes ("\n" line ends): text and HTML alternatives, then the attachments.

    Written directly rather than through email.message.EmailMessage, whose header objects were
    most of the cost of intake's mail (three messages per referral): the result is plain MIME
    (RFC 2045-2047, 2183, 2231) that any parser, and the leak gate, reads the same way; a test
    compares it with what EmailMessage makes of the same message.

    A reply threads: ``In-Reply-To: <id>`` and ``References:`` the incoming chain plus its
    Message-ID, each id in angle brackets (RFC 5322 3.6.4), however the ids were given. ``reply_to``
    (an address) is the Reply-To (a meeting notice: its organiser); ``list_id`` the List-Id value.
    A ``text/calendar`` attachment is also offered inside the multipart/alternative (method from its
    METHOD line), where Outlook and Gmail show Accept/Decline; the file itself stays attached as
    ``application/ics`` (so that no client sees two invitations)."""
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
    head += thread_headers(in_reply_to, references)
    if reply_to:
        if not _plain_header_value(reply_to) or not _ADDR.fullmatch(reply_to.strip()):
            raise ValueError("Reply-To must be one plain email address")
        head.append(("Reply-To", reply_to.strip()))
    if list_id:
        if "\r" in list_id or "\n" in list_id or not list_id.isascii():
            raise ValueError("List-Id must be ASCII on one line (see list_id_value)")
        head.append(("List-Id", list_id))
    head += [("Auto-Submitted", "auto-generated"), ("X-Auto-Response-Suppress", "All"), ("X-Mailbot-Kind", kind)]
    if case_code:
        head.append(("X-Mailbot-Case", case_code))
    texts = [_text_part("plain", rendered.text), _text_part("html", rendered.html)]
    calendars = [a for a in attachments if a.content_type.lower() == ICS_TYPE]
    if calendars:  # the first invitation, offered as a calendar alternative (RFC 6047 2.4)
        texts.append(_text_part("calendar", calendars[0].data.decode("utf-8"), _method_param(calendars[0].data)))
    body_type, body = _multipart("alternative", texts)
    if attachments:
        files = [Attachment(a.filename, ICS_FILE_TYPE, a.data) if a.content_type.lower() == ICS_TYPE else a
                 for a in attachments]
        body_type, body = _multipart("mixed", [(body_type + "\n", body)] + [_attachment_part(a) for a in files])
    lines = [f"{name}: {value}" for name, value in head]
    lines += ["MIME-Version: 1.0", body_type]
    return ("\n".join(lines) + "\n\n").encode("ascii") + body


def msg_id_token(value: str | None) -> str | None:
    """``<id>`` for a Message-ID given with or without its angle brackets; None when it is not one."""
    v = (value or "").strip()
    if v.startswith("<") and v.endswith(">"):
        v = v[1:-1].strip()
    return f"<{v}>" if _MSG_ID.fullmatch(v) and "@" in v else None


def thread_headers(in_reply_to: str | None, references=()) -> list[tuple[str, str]]:
    """In-Reply-To and References of a reply to the email with Message-ID ``in_reply_to`` whose own
    References were ``references``: ids in angle brackets, the chain kept (its first id and the
    latest), the parent last; none at all when the parent's id is missing or malformed."""
    parent = msg_id_token(in_reply_to)
    if parent is None:
        return []
    chain: list[str] = []
    for ref in references or ():
        token = msg_id_token(ref)
        if token and token != parent and token not in chain:
            chain.append(token)
    chain.append(parent)
    if len(chain) > MAX_REFERENCES:
        chain = chain[:1] + chain[-(MAX_REFERENCES - 1):]
    lines, line = [], ""
    for token in chain:  # folded between ids, never inside one, within 78 columns where an id allows
        room = 78 - (len("References: ") if not lines else 1)
        if line and len(line) + 1 + len(token) > room:
            lines.append(line)
            line = token
        else:
            line = f"{line} {token}" if line else token
    lines.append(line)
    return [("In-Reply-To", parent), ("References", "\n ".join(lines))]


def list_id_value(network_name: str, list_id: str = "", domain: str = "mailbot.invalid") -> str:
    """``"Network name" <list-id>`` (RFC 2919): the configured id, else the name as a label under the
    mailbox's domain (thornfield-youth-network.network.example)."""
    ident = (list_id or "").strip().lower()
    if not ident:
        slug = re.sub(r"[^a-z0-9]+", "-", (network_name or "").lower()).strip("-")[:63].strip("-") or "network"
        dom = re.sub(r"[^a-z0-9.-]", "", (domain or "").lower()).strip(".") or "mailbot.invalid"
        ident = f"{slug}.{dom}"
    name = " ".join((network_name or "").split())
    if not name:
        return f"<{ident}>"
    if name.isascii():
        phrase = _quoted(name)
    else:
        phrase = Header(name, "utf-8").encode()
    return f"{phrase} <{ident}>"


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


def _text_part(subtype: str, text: str, params: str = "", disposition: str = "", *,
               maintype: str | None = None) -> tuple[str, bytes]:
    cte, data = _text_body(text)
    ctype = maintype or f"text/{subtype}"
    head = f'Content-Type: {ctype}; charset="utf-8"{params}\nContent-Transfer-Encoding: {cte}\n'
    return head + disposition, data


def _method_param(ics: bytes) -> str:
    """The part's method must match the METHOD line of the .ics."""
    return "; method=" + ("CANCEL" if b"\r\nMETHOD:CANCEL\r\n" in ics else "REQUEST")


def _attachment_part(att: Attachment) -> tuple[str, bytes]:
    maintype, _, subtype = att.content_type.partition("/")
    disposition = f"Content-Disposition: attachment; {_filename_param(att.filename)}\n"
    if maintype == "text":
        params = _method_param(att.data) if subtype == "calendar" else ""
        return _text_part(subtype, att.data.decode("utf-8"), params, disposition)
    if att.content_type == ICS_FILE_TYPE:  # the invitation as a file: text, with its method
        return _text_part("calendar", att.data.decode("utf-8"), _method_param(att.data), disposition,
                          maintype="application/ics")
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
