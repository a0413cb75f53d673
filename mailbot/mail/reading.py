"""Reading one incoming email into data: headers, body text and attachments.

Pure functions on bytes: no network, no files. Incoming mail is untrusted, so
:func:`read_email` never raises on weird input; what it could not understand
is recorded in ``IncomingEmail.defects`` (technical, for logs) and
``IncomingEmail.problems`` (one plain line each, fit to send back to the
sender).

What is found as an attachment:

* ordinary attachments (anything with a file name, or any non-text part);
* the attachments inside a forwarded message (a ``message/rfc822`` part) and
  inside an attached ``.eml`` file, one level deep (``source="forwarded"``);
* the files inside ``winmail.dat`` (``application/ms-tnef``, Outlook's "Rich
  Text" format, read by mailbot.mail.tnef). Files found get
  ``source="winmail"``. When nothing can be read out of it, a plain problem is
  recorded instead (:data:`WINMAIL_PROBLEM`).

The sender comes from mailbot.mail.from_line, the Authentication-Results from
mailbot.mail.auth_results, an HTML body's visible text from
mailbot.mail.html_text, and each MIME part is read by mailbot.mail.parts.

When the raw message is larger than ``max_bytes`` only the headers are read,
``too_large`` is set and no attachment is decoded.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage, Message

from mailbot.mail.auth_results import AuthResult, authentication_results
from mailbot.mail.from_line import read_from
from mailbot.mail.html_text import html_to_text
from mailbot.mail.parts import header_value, is_attachment_part, leaves, part_bytes, part_filename, part_text
from mailbot.mail.tnef import is_tnef, read_tnef

MAX_BYTES = 30 * 1024 * 1024

WINMAIL_PROBLEM = (
    "Your email program sent the form inside winmail.dat, which we could not open; "
    "please send the form again as a normal attachment (in Outlook, choose HTML or plain text format)."
)
UNREADABLE_PROBLEM = "Part of your email could not be read; please send the form again as a normal attachment."
#: a header field longer than this is read only this far (the standard library's header parser takes
#: time that grows faster than the header: a From or Subject of a megabyte of encoded-words kept mailbot
#: busy for minutes). No genuine header comes near it; the From line has its own, smaller limit
#: (mailbot.mail.from_line.MAX_FROM_CHARS).
MAX_HEADER_CHARS = 16 * 1024


class _BoundedPolicy(email.policy.EmailPolicy):
    """email.policy.default, except that a header value is cut at MAX_HEADER_CHARS before it is parsed
    (in the message's own header and in every MIME part's)."""

    def header_fetch_parse(self, name, value):
        if len(value) > MAX_HEADER_CHARS:
            value = value[:MAX_HEADER_CHARS]
        return super().header_fetch_parse(name, value)


#: the policy every incoming message is read with
READ_POLICY = _BoundedPolicy()

TOO_LARGE_PROBLEM = "Your email is too large for us to accept ({mb} MB; the limit is {limit} MB). Please send the form on its own."


@dataclass
class Attachment:
    filename: str
    content_type: str
    data: bytes
    source: str = "direct"  # "direct" | "forwarded" | "winmail"


@dataclass
class IncomingEmail:
    message_id: str
    key: str
    from_address: str
    from_display: str
    subject: str
    date: datetime | None
    in_reply_to: str
    references: list[str]
    auto_submitted: bool
    is_bounce: bool
    text_body: str
    attachments: list[Attachment]
    too_large: bool = False
    size: int = 0
    auth_results: list[AuthResult] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    #: why the From line does not name exactly one sender unambiguously ("" when it does): see mailbot.mail.from_line.parse_from
    from_problem: str = ""

    @property
    def from_domain(self) -> str:
        return self.from_address.rpartition("@")[2]


# --------------------------------------------------------------------------
# headers

_MSGID = re.compile(r"<([^<>\s]+)>")


def _msg_ids(text: str) -> list[str]:
    ids = _MSGID.findall(text)
    if not ids and text.strip():
        ids = [t.strip("<>") for t in text.split() if t.strip("<>")]
    return ids


def normalize_message_id(text: str) -> str:
    ids = _msg_ids(text or "")
    return ids[0] if ids else ""


def _date(msg: Message, defects: list[str]) -> datetime | None:
    raw = header_value(msg, "Date", defects)
    if not raw:
        return None
    try:
        return email.utils.parsedate_to_datetime(raw)
    except Exception:  # noqa: BLE001
        defects.append("header Date: unparseable")
        return None


# --------------------------------------------------------------------------
# automatic mail

_AUTO_SUBJECT = re.compile(
    r"^\s*(out of (the )?office|automatic reply|auto[- ]?reply|autoreply|auto[- ]?response|"
    r"undeliverable|undelivered mail|delivery status notification|mail delivery (failed|failure|system)|"
    r"returned mail|failure notice)",
    re.IGNORECASE,
)
_DAEMON = re.compile(r"^(mailer-daemon|postmaster)@", re.IGNORECASE)


def _is_bounce(msg: Message, from_address: str) -> bool:
    ctype = msg.get_content_type()
    if ctype == "multipart/report":
        return True
    if _DAEMON.match(from_address or ""):
        return True
    if msg.is_multipart():
        for part in msg.iter_parts() if isinstance(msg, EmailMessage) else msg.get_payload():
            try:
                if part.get_content_type() in ("message/delivery-status", "message/global-delivery-status"):
                    return True
            except Exception:  # noqa: BLE001
                continue
    return False


def _is_auto(msg: Message, from_address: str, subject: str, bounce: bool, defects: list[str]) -> bool:
    if bounce:
        return True
    auto = header_value(msg, "Auto-Submitted", defects).lower()
    if auto and auto.split(";")[0].strip() != "no":
        return True
    for name in ("X-Autoreply", "X-Autorespond", "X-Autogenerated"):
        if header_value(msg, name, defects):
            return True
    if header_value(msg, "Precedence", defects).lower() in ("bulk", "junk", "auto_reply"):
        return True
    return_path = header_value(msg, "Return-Path", defects)
    if return_path and return_path.replace(" ", "") in ("<>", ""):
        return True
    if return_path and _DAEMON.match(return_path.strip("<> ")):
        return True
    if _DAEMON.match(from_address or ""):
        return True
    if _AUTO_SUBJECT.match(subject or ""):
        return True
    return False


# --------------------------------------------------------------------------
# attachments

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def kind_of_attachment(att: Attachment) -> str:
    """"docx" | "doc" | "docm" | "pdf" | "eml" | "other", by name and magic bytes."""
    name = (att.filename or "").lower().strip()
    data = att.data or b""
    ctype = (att.content_type or "").lower()
    if data.startswith(b"%PDF-") or (name.endswith(".pdf") and not data.startswith(b"PK")):
        return "pdf"
    if ctype == "message/rfc822" or name.endswith(".eml"):
        return "eml"
    if data.startswith(OLE_MAGIC):
        # old Word, or an encrypted/password-protected Office file
        return "doc" if name.endswith((".doc", ".docx", ".dot", ".rtf")) or not name else "other"
    if name.endswith(".doc") and not data.startswith(b"PK"):
        return "doc"
    if data.startswith(b"PK\x03\x04"):
        head = data[:65536]
        if name.endswith((".docm", ".dotm")) or b"vbaProject.bin" in head or b"macroEnabled" in head:
            return "docm"
        if name.endswith((".docx", ".dotx")) or b"word/document.xml" in head or b"word/" in head:
            return "docx"
        return "other"
    if name.endswith((".docm", ".dotm")):
        return "docm"
    if name.endswith(".docx"):
        return "docx"  # named docx but not a zip: the docx reader refuses it plainly
    return "other"


def _looks_like_message(data: bytes) -> bool:
    head = data[:2048].lstrip()
    return bool(re.match(rb"(?i)^(from|received|return-path|date|subject|message-id|to|mime-version|"
                         rb"delivered-to|x-[\w-]+|dkim-signature|arc-[\w-]+|authentication-results)\s*:", head))


def _collect(msg: Message, attachments: list[Attachment], problems: list[str], defects: list[str],
             *, base_depth: int = 0) -> None:
    for kind, part, inner, depth in leaves(msg, max_depth=1 - base_depth):
        depth += base_depth
        if kind == "message":
            if depth >= 1:
                # a message inside a forwarded message: kept whole, not opened
                try:
                    data = inner.as_bytes(policy=email.policy.default)
                except Exception:  # noqa: BLE001
                    data = b""
                attachments.append(Attachment(part_filename(part) or "forwarded.eml", "message/rfc822",
                                              data, "forwarded"))
            continue
        if not is_attachment_part(part):
            continue
        filename = part_filename(part)
        data = part_bytes(part)
        source = "forwarded" if depth >= 1 else "direct"
        ctype = part.get_content_type()
        if is_tnef(ctype, filename, data):
            files = read_tnef(data)
            if files is None or not files:
                problems.append(WINMAIL_PROBLEM)
                defects.append("winmail.dat unreadable" if files is None else "winmail.dat without files")
            for name, blob in files or []:
                attachments.append(Attachment(name, _guess_type(name), blob, "winmail"))
            continue
        is_eml = filename.lower().endswith(".eml") or ctype == "message/rfc822"
        if is_eml and depth == 0 and _looks_like_message(data):
            try:
                inner_msg = email.message_from_bytes(data, policy=READ_POLICY)
                _collect(inner_msg, attachments, problems, defects, base_depth=1)
                continue
            except Exception as exc:  # noqa: BLE001
                defects.append(f"attached .eml unreadable: {type(exc).__name__}")
        attachments.append(Attachment(filename, ctype, data, source))


_TYPES = {
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".doc": "application/msword",
    ".pdf": "application/pdf",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".txt": "text/plain",
}


def _guess_type(name: str) -> str:
    for ext, ctype in _TYPES.items():
        if name.lower().endswith(ext):
            return ctype
    return "application/octet-stream"


# --------------------------------------------------------------------------
# the whole email

def header_block(raw: bytes) -> bytes:
    for sep in (b"\r\n\r\n", b"\n\n"):
        idx = raw.find(sep)
        if idx >= 0:
            return raw[: idx + len(sep)]
    return raw[: 1024 * 1024]


def _text_body(msg: Message) -> str:
    plain = html = None
    fallback_plain = fallback_html = None
    for kind, part, _inner, depth in leaves(msg):
        if kind != "leaf":
            continue
        ctype = part.get_content_type()
        if ctype not in ("text/plain", "text/html"):
            continue
        if (part.get_content_disposition() or "") == "attachment" or part_filename(part):
            continue
        if depth == 0:
            if ctype == "text/plain" and plain is None:
                plain = part
            elif ctype == "text/html" and html is None:
                html = part
        else:
            if ctype == "text/plain" and fallback_plain is None:
                fallback_plain = part
            elif ctype == "text/html" and fallback_html is None:
                fallback_html = part
    if plain is not None:
        return part_text(plain)
    if html is not None:
        return html_to_text(part_text(html))
    if fallback_plain is not None:
        return part_text(fallback_plain)
    if fallback_html is not None:
        return html_to_text(part_text(fallback_html))
    return ""


def dedup_key(message_id: str, from_address: str, date: str, raw: bytes) -> str:
    if message_id:
        basis = "\n".join((message_id, from_address.lower(), " ".join(date.split()))).encode("utf-8", "replace")
        return hashlib.sha256(b"mid\n" + basis).hexdigest()
    return hashlib.sha256(b"raw\n" + raw).hexdigest()


#: a header field (of the email or of one of its parts) with more encoded words ("=?utf-8?b?...?=")
#: than this is not given to the standard library's parser, whose work grows with the square of their
#: number (20,000 in a Subject: over 10 s; in a part's Content-Type: over 30 s)
MAX_ENCODED_WORDS = 1_000
OVERLONG_HEADER_PROBLEM = ("A header line of your email is far too long for us to read, so it was left out. "
                           "Please send the email again from your usual email program.")


def _drop_overlong_headers(source: bytes, problems: list[str], defects: list[str]) -> bytes:
    """``source`` with every header field (or line) but From holding over MAX_ENCODED_WORDS encoded words
    replaced by a marker field, in one pass: the sender is told (a value READ_POLICY cuts is not)."""
    if source.count(b"=?") <= MAX_ENCODED_WORDS:
        return source
    out: list[bytes] = []
    field: list[bytes] = []
    dropped = 0

    def flush():
        nonlocal dropped
        # the From field stays: its value is cut (READ_POLICY) and refused as too long (mail.from_line)
        if field and not field[0][:5].lower() == b"from:" and \
                sum(line.count(b"=?") for line in field) > MAX_ENCODED_WORDS:
            out.append(b"X-Mailbot-Dropped: too many encoded words" + (b"\r" if field[0].endswith(b"\r") else b""))
            dropped += 1
        else:
            out.extend(field)
        field.clear()

    for line in source.split(b"\n"):
        if not (field and line[:1] in (b" ", b"\t")):
            flush()
        field.append(line)
    flush()
    if dropped:
        defects.append(f"{dropped} header field(s) with over {MAX_ENCODED_WORDS} encoded words left out")
        problems.append(OVERLONG_HEADER_PROBLEM)
    return b"\n".join(out)


def read_email(raw: bytes, *, max_bytes: int = MAX_BYTES) -> IncomingEmail:
    """Read raw RFC 5322 bytes into an :class:`IncomingEmail` (never raises on bad input)."""
    raw = bytes(raw or b"")
    defects: list[str] = []
    problems: list[str] = []
    too_large = len(raw) > max_bytes
    source = header_block(raw) if too_large else raw
    source = _drop_overlong_headers(source, problems, defects)
    unreadable = False
    try:
        msg = email.message_from_bytes(source, policy=READ_POLICY)
    except Exception as exc:  # noqa: BLE001 - the parser is lenient, but never crash
        # (parts nested thousands deep: RecursionError) the header block alone still says who sent it
        defects.append(f"unparseable message: {type(exc).__name__}")
        problems.append(UNREADABLE_PROBLEM)
        unreadable = True  # nothing below the header block is read
        try:
            msg = email.message_from_bytes(header_block(source), policy=READ_POLICY)
        except Exception:  # noqa: BLE001
            msg = email.message_from_bytes(b"\r\n", policy=READ_POLICY)
    for d in getattr(msg, "defects", []) or []:
        defects.append(type(d).__name__)

    message_id = normalize_message_id(header_value(msg, "Message-ID", defects))
    from_address, from_display, from_problem = read_from(msg, defects)
    subject = header_value(msg, "Subject", defects)
    date_raw = header_value(msg, "Date", defects)
    date = _date(msg, defects)
    in_reply_to = normalize_message_id(header_value(msg, "In-Reply-To", defects))
    references = _msg_ids(header_value(msg, "References", defects))
    try:
        bounce = _is_bounce(msg, from_address)
    except Exception:  # noqa: BLE001
        bounce = False
    auto = _is_auto(msg, from_address, subject, bounce, defects)
    try:
        auth = authentication_results(msg)
    except Exception:  # noqa: BLE001
        auth = []
        defects.append("Authentication-Results unparseable")

    attachments: list[Attachment] = []
    text = ""
    if too_large:
        limit = max(1, max_bytes // (1024 * 1024))
        problems.append(TOO_LARGE_PROBLEM.format(mb=len(raw) // (1024 * 1024), limit=limit))
    elif not unreadable:
        try:
            text = _text_body(msg)
        except Exception as exc:  # noqa: BLE001
            defects.append(f"body unreadable: {type(exc).__name__}")
        try:
            _collect(msg, attachments, problems, defects)
        except Exception as exc:  # noqa: BLE001
            defects.append(f"attachments unreadable: {type(exc).__name__}")
            problems.append(UNREADABLE_PROBLEM)

    return IncomingEmail(
        message_id=message_id,
        key=dedup_key(message_id, from_address, date_raw, raw),
        from_address=from_address,
        from_display=from_display,
        subject=subject,
        date=date,
        in_reply_to=in_reply_to,
        references=references,
        auto_submitted=auto,
        is_bounce=bounce,
        text_body=text,
        attachments=attachments,
        too_large=too_large,
        size=len(raw),
        auth_results=auth,
        defects=defects,
        problems=problems,
        from_problem=from_problem,
    )
