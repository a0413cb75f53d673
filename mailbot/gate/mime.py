"""Reading a whole outgoing message as the gate must: every header, body and attachment, in order.

What is read: every header that carries text (Subject, display names, file names, ...), the
multipart preamble/epilogue, every text part (plain and HTML, decoded, with HTML entities
resolved), every attachment's file name and contents (Office files by mailbot.gate.office; text
files, .ics with its folded lines, .vcf, .html, .json..., as text). Fail closed: an attachment that
cannot be read (PDF, picture, legacy .doc, unknown binary) is refused as "cannot be checked";
the only exception is the encrypted Master List (see :meth:`MessageReader.attachment`).

A reading does not depend on who is protected: it is cached in the GateMemory on the message's
bytes with To and Message-ID set aside (they differ in each recipient's copy)."""

from __future__ import annotations

import email
import email.header
import email.policy
import hashlib
import logging
import re
from email.message import Message

from mailbot.gate.memory import MESSAGE_CACHE_ENTRIES, GateMemory
from mailbot.gate.office import MASTER_LIST_NAME, OLE_MAGIC, ZIP_MAGIC, OfficeReader, is_encrypted_ole
from mailbot.gate.reader import Refuse
from mailbot.gate.views import decode_text, ics_text, markup_views

log = logging.getLogger("mailbot.gate")

# headers whose values are machine tokens, added in transit or signed blobs
_SKIP_HEADERS = {"dkim-signature", "arc-seal", "arc-message-signature", "arc-authentication-results",
                 "received", "content-transfer-encoding", "mime-version", "x-mailbot-signature"}
_TEXT_EXT = (".txt", ".csv", ".tsv", ".ics", ".vcs", ".vcf", ".html", ".htm", ".xml", ".json", ".md",
             ".rtf", ".log", ".eml")

# a header block as we write it: "\n" line endings, every line a header or a continuation
_HEADER_LINE = re.compile(rb"(?:[\x21-\x39\x3b-\x7e]+:|[ \t])[^\r\n]*")
_PERSONAL = re.compile(rb"^(?:to|message-id):[^\n]*(?:\n[ \t][^\n]*)*", re.IGNORECASE | re.MULTILINE)
_PERSONAL_STANDIN = b"X-Mailbot-Personal: -"


def split_personal(raw: bytes) -> tuple[bytes, bytes] | None:
    """(the message with its To and Message-ID headers replaced by a fixed line, those headers), or None.

    Only for a plain header block (every line a header or a continuation, no CR), where the
    email parser reads exactly these lines as headers: nothing in the body is touched."""
    end = raw.find(b"\n\n")
    if end <= 0:
        return None
    head = raw[:end]
    if b"\r" in head or not all(_HEADER_LINE.fullmatch(line) for line in head.split(b"\n")):
        return None
    personal = _PERSONAL.findall(head)
    if not personal:
        return None
    return _PERSONAL.sub(_PERSONAL_STANDIN, head) + raw[end:], b"\n".join(personal) + b"\n\n"


def analyse_message(raw: bytes, master_ok: bool = True, *, keep_text: bool = False,
                    memory: GateMemory | None = None) -> tuple:
    """Every text a message shows, in reading order, ending with a refusal if part of it cannot be read.

    Cached in ``memory`` (unless keep_text) on the message's bytes with To and Message-ID set
    aside; those two headers are read on their own and come first."""
    if keep_text or memory is None:
        return read_message(raw, master_ok, keep_text=keep_text, memory=memory)
    shared, personal = split_personal(raw) or (raw, None)
    key = (hashlib.sha1(shared).digest(), len(shared), master_ok)
    items = memory.cached(memory.messages, key)
    if items is None:
        items = read_message(shared, master_ok, memory=memory)
        memory.store(memory.messages, key, items, MESSAGE_CACHE_ENTRIES)
    return items if personal is None else read_headers_only(personal) + items


#: the structure is read with the plain (compat32) parser: the modern one parses each header
#: again on every look (a dozen times per part), which was most of the gate's time. Encoded
#: header values are also decoded as a modern client shows them (see MessageReader.headers); text
#: parts are decoded from their bytes and charset.
_PARSE_POLICY = email.policy.compat32


def read_message(raw: bytes, master_ok: bool, *, keep_text: bool = False, memory: GateMemory | None = None) -> tuple:
    reader = MessageReader(master_ok, keep_text, memory)
    try:
        msg = email.message_from_bytes(raw, policy=_PARSE_POLICY)
    except Exception:  # noqa: BLE001
        return (("refuse", ("message cannot be checked (it cannot be parsed)",), None),)
    try:
        reader.message(msg)
    except Refuse as refusal:
        reader.items.append(("refuse", refusal.args[0], None))
    except Exception as exc:  # noqa: BLE001 - fail closed on anything unexpected
        log.warning("gate error %s", type(exc).__name__)
        reader.items.append(("refuse", (f"message cannot be checked (unexpected {type(exc).__name__})",), None))
    return tuple(reader.items)


def read_headers_only(block: bytes) -> tuple:
    reader = MessageReader(True, True)
    try:
        reader.headers(email.message_from_bytes(block, policy=_PARSE_POLICY), ())
    except Refuse as refusal:
        reader.items.append(("refuse", refusal.args[0], None))
    return tuple(reader.items)


class MessageReader(OfficeReader):
    """Reads one message's headers, bodies and attachments into items."""

    # -- message -------------------------------------------------------
    def message(self, msg: Message, prefix: tuple = ()) -> None:
        self.headers(msg, prefix)
        for attr in ("preamble", "epilogue"):
            value = getattr(msg, attr, None)
            if value:
                self.hit(value, (*prefix, f"message {attr}"))
        ctype = msg.get_content_type()
        if msg.is_multipart():
            payload = msg.get_payload()
            parts = [p for p in payload if isinstance(p, Message)] if isinstance(payload, list) else []
            inner_prefix = (*prefix, "attached message ") if ctype in ("message/rfc822", "message/global") else prefix
            for part in parts:
                self.message(part, inner_prefix)
            return
        self.leaf(msg, prefix)

    def headers(self, msg: Message, prefix: tuple) -> None:
        # raw values (cheap), plus RFC 2047 / RFC 2231 decoded forms where encoded
        try:
            items = list(msg.raw_items())  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001
            raise Refuse((*prefix, "headers cannot be checked")) from None
        for key, value in items:
            lkey = key.lower()
            if lkey in _SKIP_HEADERS:
                continue
            value = str(value)
            if lkey == "subject":
                where = (*prefix, "subject")
            elif lkey in ("content-disposition", "content-type", "content-description"):
                where = (*prefix, "attachment file name or description")
            else:
                where = (*prefix, f"header {key}")
            self.hit(value, where)
            if not value.isascii():  # raw 8-bit bytes in a header: read them as UTF-8 (or Windows-1252)
                self.hit(decode_text(value.encode("utf-8", "surrogateescape")), where)
            if "=?" in value:
                try:
                    decoded = str(email.header.make_header(email.header.decode_header(" ".join(value.split()))))
                except Exception:  # noqa: BLE001
                    decoded = ""
                self.hit(decoded, where)
                try:  # as a modern mail client decodes it
                    self.hit(str(email.policy.default.header_fetch_parse(key, value)), where)
                except Exception:  # noqa: BLE001
                    pass
            if "*=" in value or "*0" in value:
                try:
                    name = msg.get_filename() or ""
                except Exception:  # noqa: BLE001
                    raise Refuse((*prefix, f"header {key} cannot be checked")) from None
                self.hit(name, (*prefix, "attachment file name"))

    def leaf(self, part: Message, prefix: tuple) -> None:
        ctype = part.get_content_type()
        disposition = (part.get_content_disposition() or "").lower()
        try:
            filename = part.get_filename() or ""
        except Exception:  # noqa: BLE001
            filename = ""
        if ctype in ("text/plain", "text/html") and disposition != "attachment" and not filename:
            text = self.part_text(part)
            if ctype == "text/html":
                self.hit(markup_views(text), (*prefix, "HTML body"))
            else:
                self.hit(text, (*prefix, "body"))
            return
        self.n_attachment += 1
        label = (*prefix, "attachment ", (filename, f"#{self.n_attachment}"))
        try:
            data = part.get_payload(decode=True)
        except Exception:  # noqa: BLE001
            data = None
        if data is None:
            raise Refuse((*label, " cannot be checked (it cannot be decoded)"))
        self.attachment(filename, ctype, data, label, part.get_content_charset())

    def part_text(self, part: Message) -> str:
        try:
            content = part.get_content()
            if isinstance(content, str):
                return content
        except Exception:  # noqa: BLE001
            pass
        data = part.get_payload(decode=True) or b""
        return decode_text(data, part.get_content_charset())

    # -- attachments ---------------------------------------------------
    def attachment(self, filename: str, ctype: str, data: bytes, label: tuple, charset: str | None = None) -> None:
        lname = filename.lower()
        if data.startswith(OLE_MAGIC):
            if self.master_ok and MASTER_LIST_NAME.match(filename.strip()) and is_encrypted_ole(data):
                return  # the encrypted Master List: opaque by design
            raise Refuse((*label, " cannot be checked (a protected or old-style Office file)"))
        if data.startswith(ZIP_MAGIC) or lname.endswith((".docx", ".xlsx", ".pptx", ".docm", ".xlsm", ".zip")):
            self.zip(data, label, depth=1)
            return
        if data.startswith(b"%PDF") or lname.endswith(".pdf"):
            raise Refuse((*label, " cannot be checked (PDF)"))
        if ctype.startswith(("image/", "audio/", "video/")):
            raise Refuse((*label, " cannot be checked (a picture or media file)"))
        if ctype.startswith("text/") or lname.endswith(_TEXT_EXT) or ctype in (
                "application/json", "application/xml", "application/ics", "message/rfc822"):
            if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
                raise Refuse((*label, " cannot be checked (binary content)"))
            self.text_file(data, lname, ctype, label, charset)
            return
        raise Refuse((*label, " cannot be checked (unknown file type)"))

    def text_file(self, data: bytes, lname: str, ctype: str, label: tuple, charset: str | None) -> None:
        text = decode_text(data, charset)
        if lname.endswith((".ics", ".vcs", ".vcf")) or ctype in ("text/calendar", "text/vcard", "text/x-vcard"):
            text = text + "\n" + ics_text(text)
        if lname.endswith(".eml") or ctype == "message/rfc822":
            inner = email.message_from_bytes(data, policy=_PARSE_POLICY)
            self.message(inner, (*label, " "))
            self.hit(text, label)
            return
        if lname.endswith((".html", ".htm", ".xml", ".rtf")) or ctype in ("text/html", "text/xml", "application/xml"):
            text = text + "\n" + markup_views(text)
        self.hit(text, label)
