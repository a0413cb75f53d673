"""The last gate on the way out: no outgoing message may carry a young person's name.

:func:`build_gate` turns the protected people (young people of every open
case, with their nicknames, other surnames and family) into a :class:`Gate`;
:meth:`Gate.check_message` reads a whole outgoing message (raw bytes, as it
will be sent) and returns ``None`` when it is clean, or a one-line reason
saying WHERE a name was found (never the name itself).

What is read: every header that carries text (Subject, display names,
file names, ...), the multipart preamble/epilogue, every text part (plain and
HTML, decoded, with HTML entities resolved), every attachment's file name and
contents. Office files (.docx, .xlsx, ... any zip) are unzipped and every part
is read: text, attributes, and names split across Word runs; embedded Office
files are opened one level down; pictures are searched for readable strings.
Text files (.txt, .csv, .ics with its folded lines, .vcf, .html, .json...)
are read as text.

Fail closed: an attachment that cannot be read (PDF, picture, legacy .doc,
unknown binary, damaged zip, XML with a DTD) is refused as "cannot be
checked". The only exception is the encrypted Master List: an OLE compound
file holding EncryptionInfo and EncryptedPackage streams, named
``master-list*.xlsx``; its bytes are opaque and allowed (when
``encrypted_master_list_ok``).

Matching (the same rules as the redaction engine, kept here on purpose so
that a change there cannot weaken this gate): NFKD with accents stripped
(Seán = Sean), casefold, the apostrophes ’ ‘ ` ´ ʼ folded to ', whole words
only. First names that are ordinary English words (Will, Rose, Grace,
Mark...) match only when written Capitalised or in CAPITALS. Tokens shorter
than three letters are never checked alone, only within the full name.

Speed: the text is normalised and tokenised once with C-level regexes and the
tokens are intersected with a set of protected words; per-name regexes only
run for the rare candidates (ordinary words, multi-word names).
"""

from __future__ import annotations

import email
import email.header
import email.policy
import hashlib
import html
import io
import json
import logging
import re
import struct
import sys
import threading
import unicodedata
import urllib.parse
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from email.message import Message

from mailbot.words import textnorm as _textnorm

log = logging.getLogger("mailbot.gate")

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"
MIN_TOKEN = 3
MAX_ZIP_TOTAL = 150 * 1024 * 1024
MAX_ZIP_PARTS = 3000
MAX_ZIP_DEPTH = 2
CACHE_MIN_BYTES = 32 * 1024

#: first names (and a few surnames) that are also ordinary English words: the one list of
#: rules/ordinary_words.txt, shared with the stripper and the verifier (mailbot.words.vocabulary)
from mailbot.words.vocabulary import ordinary_words as _ordinary_words  # noqa: E402

ORDINARY_WORDS = _ordinary_words()

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'", "\u00b4": "'", "\u02bc": "'",
                              "\u2032": "'", "\uff07": "'"})
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
_WORD = re.compile(r"[^\W\d_]+")  # letters only: digits separate words (rhodribeddoe2010)
_B = r"(?<![^\W_])"
_E = r"(?![^\W_])"


def normalise(text: str) -> str:
    """Accents and invisible characters stripped, look-alike letters Latin, apostrophes folded,
    case kept: the same normaliser as the stripper's (mailbot.words.textnorm)."""
    return _textnorm.normalise(text) if not text.isascii() else text.translate(_APOSTROPHES)


def fold(text: str) -> str:
    return normalise(text).casefold()


def _tokens(name: str) -> list[str]:
    return _WORD.findall(fold(name))


@dataclass(frozen=True)
class Prepared:
    """A text ready to be matched against any gate: normalised and tokenised once.

    Which words a text holds does not depend on who is protected, so a prepared text can be
    checked again, in microseconds, after the set of names has changed. The text itself is
    kept only when it is short (``norm``). For a long text the capitalised words are kept
    instead (``caps``: the ASCII ones folded, ``odd``: the others as written), which is what
    the rule for ordinary-word names needs; the rare checks that need a long text itself (a
    multi-word name, an allowed staff name, an ordinary word that is not ASCII) make the gate
    read the whole message again from its bytes."""

    toks: tuple  # the folded words, each once, interned (shared by the many texts that hold them)
    norm: str | None
    caps: tuple = ()
    odd: tuple = ()


PREPARED_KEEP_CHARS = 512


def prepare(text: str, *, keep: bool = False) -> Prepared:
    norm = normalise(text) if text else ""
    if not norm:
        return Prepared((), norm)
    toks = tuple(map(sys.intern, set(_WORD.findall(norm.casefold()))))
    if keep or len(norm) <= PREPARED_KEEP_CHARS:
        return Prepared(toks, norm)
    capitalised = {w for w in _WORD.findall(norm) if w[0].isupper()}
    return Prepared(toks, None, tuple(sys.intern(w.casefold()) for w in capitalised if w.isascii()),
                    tuple(w for w in capitalised if not w.isascii()))


class _NeedText(Exception):
    """A cached check needs a long text that was not kept: read the message again."""


@dataclass
class Gate:
    singles: frozenset[str]
    ordinary: frozenset[str]
    sequences: tuple[tuple[str, ...], ...]
    _seq_re: dict = field(default_factory=dict, repr=False)
    _ord_re: dict = field(default_factory=dict, repr=False)

    #: full names and addresses of network people (member staff, coordinator) that are
    #: not protected: their exact occurrences are masked before a hit is confirmed
    allowed: re.Pattern | None = None

    # -- matching ------------------------------------------------------
    def text_has_name(self, text: str) -> bool:
        """True when the text contains a protected name (by the rules in the module doc)."""
        if not text:
            return False
        return self.prepared_has_name(prepare(text, keep=True))

    def prepared_has_name(self, prep: Prepared) -> bool:
        """As text_has_name; raises _NeedText when the answer needs a long text that was not kept."""
        if not self._hit(prep):
            return False
        if self.allowed is None:
            return True
        if prep.norm is None:
            raise _NeedText
        return self._hit(prepare(self.allowed.sub(" ", prep.norm), keep=True))

    def _hit(self, prep: Prepared) -> bool:
        toks = prep.toks
        if not toks:
            return False
        if not self.singles.isdisjoint(toks):
            return True
        words = self.ordinary.intersection(toks)
        if words:
            norm = prep.norm
            for word in words:
                rx = self._ord_re.get(word)
                if rx is None:
                    rx = self._ord_re[word] = re.compile(_B + re.escape(word) + _E, re.IGNORECASE)
                if norm is not None:
                    if any(m.group()[0].isupper() for m in rx.finditer(norm)):
                        return True
                    continue
                # a match is a whole word written with a capital: one of the capitalised words
                if not word.isascii():
                    raise _NeedText
                if word in prep.caps or any(rx.fullmatch(w) for w in prep.odd):
                    return True
        if not self.sequences:
            return False
        folded = None
        tokset = set(toks)
        for seq in self.sequences:
            if tokset.issuperset(seq):
                if prep.norm is None:
                    raise _NeedText
                if folded is None:
                    folded = prep.norm.casefold()
                rx = self._seq_re.get(seq)
                if rx is None:
                    rx = self._seq_re[seq] = re.compile(_B + r"[\W_]+".join(map(re.escape, seq)) + _E)
                if rx.search(folded):
                    return True
        return False

    # -- the message ---------------------------------------------------
    def check_message(self, raw: bytes, *, encrypted_master_list_ok: bool = True) -> str | None:
        """None when the message is clean; else one plain line saying where (never what).

        What a message says is read once (:func:`analyse_message`, cached on its bytes apart
        from To and Message-ID, which differ in each recipient's copy) and matched against
        this gate's names: the copies of one mailing, and a message checked when it was
        queued and again before SMTP, are read once even if names were added in between."""
        try:
            raw = bytes(raw)
            try:
                return self._verdict(analyse_message(raw, encrypted_master_list_ok))
            except _NeedText:
                return self._verdict(analyse_message(raw, encrypted_master_list_ok, keep_text=True))
        except Exception as exc:  # noqa: BLE001 - fail closed on anything unexpected
            log.warning("gate error %s", type(exc).__name__)
            return f"the message cannot be checked (unexpected {type(exc).__name__})"

    def _verdict(self, items) -> str | None:
        for kind, label, prep in items:
            if kind == "refuse":
                return "the " + self.render_label(label)
            if self.prepared_has_name(prep):
                return "a protected name appears in the " + self.render_label(label)
        return None

    def render_label(self, label: tuple) -> str:
        """A label's file and part names are shown only when they hold no protected name."""
        return "".join(seg if isinstance(seg, str) else self.safe_label(*seg) for seg in label)

    def safe_label(self, name: str, fallback: str) -> str:
        if not name or self.text_has_name(name):
            return fallback
        return " ".join(name.split())[:120]

    def check_text(self, text: str, where: str) -> str | None:
        return f"a protected name appears in the {where}" if self.text_has_name(text) else None


class _Refuse(Exception):
    """The message cannot be checked; args[0] is the label of the refusal (without "the ")."""


# headers whose values are machine tokens, added in transit or signed blobs
_SKIP_HEADERS = {"dkim-signature", "arc-seal", "arc-message-signature", "arc-authentication-results",
                 "received", "content-transfer-encoding", "mime-version", "x-mailbot-signature"}
_TEXT_EXT = (".txt", ".csv", ".tsv", ".ics", ".vcs", ".vcf", ".html", ".htm", ".xml", ".json", ".md",
             ".rtf", ".log", ".eml")
_BOUNDARY_TAGS = re.compile(
    r"</?(?:[\w.-]+:)?(?:p|tc|tr|td|th|si|br|tab|cr|txbxContent|row|c|li|div|table)\b[^>]*>", re.IGNORECASE)
_ANY_TAG = re.compile(r"<[^>]*>")
_ATTR = re.compile(r"=\s*\"([^\"]*)\"|=\s*'([^']*)'")
_PRINTABLE = re.compile(rb"[\x20-\x7e]{4,}")
_PRINTABLE16 = re.compile(rb"(?:[\x20-\x7e]\x00){4,}")
_MASTER_LIST_NAME = re.compile(r"^master[-_ ]?list.*\.xlsx$", re.IGNORECASE)
_DTD = re.compile(r"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)
# parts whose element names are a fixed Office vocabulary (elsewhere, e.g. customXml/, they are read too)
_STANDARD_PART = re.compile(r"^(?:word|xl|ppt|docProps|_rels|\[Content_Types\]\.xml)(?:/|$)")
_DTD_BYTES = re.compile(rb"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)


def _decode_text(data: bytes, charset: str | None = None) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", "replace")
    if charset:
        try:
            return data.decode(charset, "replace")
        except LookupError:
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


def _ics_text(text: str) -> str:
    # RFC 5545: unfold lines, then undo the text escapes
    text = re.sub(r"\r?\n[ \t]", "", text)
    return text.replace("\\n", "\n").replace("\\N", "\n").replace("\\,", ",").replace("\\;", ";").replace("\\\\", "\\")


def markup_views(text: str) -> str:
    """Every way the visible text of XML/HTML can read: split runs joined, tags as spaces, attributes."""
    attrs = " ".join(a or b for a, b in _ATTR.findall(text))
    joined = _ANY_TAG.sub("", _BOUNDARY_TAGS.sub(" ", text))
    spaced = _ANY_TAG.sub(" ", text)
    return _with_url_decoded(html.unescape("\n".join((joined, spaced, attrs))))


_XML_TEXT = re.compile(rb">\s*([^\s<][^<]*)<")
_XML_ATTR = re.compile(rb"=\s*\"([^\"]*)\"")
_XML_ATTR1 = re.compile(rb"=\s*'([^']*)'")
_XML_TAGNAME = re.compile(rb"<([^\s<>/!?]+)")
_XML_SPECIAL = re.compile(rb"<!--(.*?)-->|<!\[CDATA\[(.*?)\]\]>|<\?(.*?)\?>", re.DOTALL)
_XML_BOUNDARY = re.compile(
    rb"</?(?:[\w.-]+:)?(?:p|tc|tr|td|th|si|br|tab|cr|txbxContent|row|c|li|div|table)[\s/>]", re.IGNORECASE)


def xml_views(data: bytes, *, element_names: bool = False) -> str:
    """The text of one XML part as it may read, fast even for 400 KB style parts.

    Text nodes are joined as Word shows them (runs glued, paragraphs, cells
    and breaks apart) and also one by one; unique attribute values, element
    names, comments, CDATA and processing instructions are added."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        data = data.decode("utf-16", "replace").encode("utf-8")
    joined: list[bytes] = []
    spaced: list[bytes] = []
    prev = 0
    for m in _XML_TEXT.finditer(data):
        gap = data[prev:m.start()]
        if joined and _XML_BOUNDARY.search(gap):
            joined.append(b" ")
        joined.append(m.group(1))
        spaced.append(m.group(1))
        prev = m.end()
    extra = set(_XML_ATTR.findall(data))
    if b"='" in data or b"= '" in data:
        extra.update(_XML_ATTR1.findall(data))
    if element_names:  # custom XML: element names are free text there
        extra.update(_XML_TAGNAME.findall(data))
    if b"<!" in data or data.count(b"<?") > 1:
        for m in _XML_SPECIAL.finditer(data):
            extra.add(m.group(1) or m.group(2) or m.group(3) or b"")
    blob = b"".join(joined) + b"\n" + b" ".join(spaced) + b"\n" + b" ".join(extra)
    text = blob.decode("utf-8", "replace")
    if "&" in text:
        text = html.unescape(text)
    return _with_url_decoded(text)


def _with_url_decoded(text: str) -> str:
    """Add the %-decoded form (hyperlink targets: mailto:Grace%20Penhaligon@...)."""
    if "%" not in text:
        return text
    return text + "\n" + urllib.parse.unquote(text)


def _compressed_member(data: bytes, info: zipfile.ZipInfo) -> bytes | None:
    """The stored (compressed) bytes of one zip member, or None if the local header is odd."""
    off = info.header_offset
    head = data[off:off + 30]
    if len(head) < 30 or head[:4] != ZIP_MAGIC:
        return None
    name_len, extra_len = struct.unpack("<HH", head[26:30])
    start = off + 30 + name_len + extra_len
    raw = data[start:start + info.compress_size]
    return raw if len(raw) == info.compress_size else None


def _is_encrypted_ole(data: bytes) -> bool:
    if not data.startswith(OLE_MAGIC):
        return False
    try:
        import olefile

        ole = olefile.OleFileIO(io.BytesIO(data))
        try:
            return bool(ole.exists("EncryptionInfo") and ole.exists("EncryptedPackage"))
        finally:
            ole.close()
    except Exception:  # noqa: BLE001
        return False


# --------------------------------------------------------------------------
# reading a message: what it says, independent of who is protected

#: (kind, label, Prepared|None): kind "text" (to match) or "refuse" (cannot be checked; the last item)
Item = tuple

_MESSAGE_CACHE: "OrderedDict[tuple, tuple]" = OrderedDict()
MESSAGE_CACHE_ENTRIES = 256
_PART_CACHE: "OrderedDict[tuple, Prepared]" = OrderedDict()
PART_CACHE_ENTRIES = 512
#: a whole Office file (zip) as read: its items with labels relative to the attachment; primed by
#: the helper process for the documents it coded (:func:`analyse_file_ahead`, :func:`prime_file`)
_ZIP_CACHE: "OrderedDict[tuple, tuple]" = OrderedDict()
ZIP_CACHE_ENTRIES = 64
_CACHE_LOCK = threading.Lock()

# a header block as we write it: "\n" line endings, every line a header or a continuation
_HEADER_LINE = re.compile(rb"(?:[\x21-\x39\x3b-\x7e]+:|[ \t])[^\r\n]*")
_PERSONAL = re.compile(rb"^(?:to|message-id):[^\n]*(?:\n[ \t][^\n]*)*", re.IGNORECASE | re.MULTILINE)
_PERSONAL_STANDIN = b"X-Mailbot-Personal: -"


def _split_personal(raw: bytes) -> tuple[bytes, bytes] | None:
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


def _cached(cache: OrderedDict, key):
    with _CACHE_LOCK:
        hit = cache.get(key)
        if hit is not None:
            cache.move_to_end(key)
        return hit


def _store(cache: OrderedDict, key, value, limit: int) -> None:
    with _CACHE_LOCK:
        cache[key] = value
        cache.move_to_end(key)
        while len(cache) > limit:
            cache.popitem(last=False)


def _zip_key(data: bytes, depth: int) -> tuple:
    return hashlib.sha1(data).digest(), len(data), depth


def analyse_file_ahead(data: bytes) -> tuple | None:
    """What the gate reads in an Office file, as :func:`prime_file` takes it; None if it would refuse it.

    For the helper process (mailbot.speculate), which codes documents ahead: the gate of the
    process that sends them then reads each coded document without opening it again. What a
    file says does not depend on who is protected, so nothing here knows a name."""
    reader = _Reader(True, False)
    try:
        reader.zip(data, (), depth=1)
    except _Refuse:  # the sending gate reads it itself and refuses it there
        return None
    return _zip_key(data, 1), tuple(reader.items)


def prime_file(analysis: tuple) -> None:
    """Take a file's reading made by :func:`analyse_file_ahead` (in another process, on the same bytes)."""
    key, items = analysis
    items = tuple((kind, where, Prepared(tuple(map(sys.intern, prep.toks)), prep.norm, prep.caps, prep.odd))
                  for kind, where, prep in items)
    _store(_ZIP_CACHE, key, items, ZIP_CACHE_ENTRIES)


def analyse_message(raw: bytes, master_ok: bool = True, *, keep_text: bool = False) -> tuple:
    """Every text a message shows, in reading order, ending with a refusal if part of it cannot be read.

    Cached (unless keep_text) on the message's bytes with To and Message-ID set aside; those two
    headers are read on their own and come first."""
    if keep_text:
        return _read_message(raw, master_ok, keep_text=True)
    shared, personal = _split_personal(raw) or (raw, None)
    key = (hashlib.sha1(shared).digest(), len(shared), master_ok)
    items = _cached(_MESSAGE_CACHE, key)
    if items is None:
        items = _read_message(shared, master_ok)
        _store(_MESSAGE_CACHE, key, items, MESSAGE_CACHE_ENTRIES)
    return items if personal is None else _read_headers_only(personal) + items


#: the structure is read with the plain (compat32) parser: the modern one parses each header
#: again on every look (a dozen times per part), which was most of the gate's time. Encoded
#: header values are also decoded as a modern client shows them (see _Reader.headers); text
#: parts are decoded from their bytes and charset.
_PARSE_POLICY = email.policy.compat32


def _read_message(raw: bytes, master_ok: bool, *, keep_text: bool = False) -> tuple:
    reader = _Reader(master_ok, keep_text)
    try:
        msg = email.message_from_bytes(raw, policy=_PARSE_POLICY)
    except Exception:  # noqa: BLE001
        return (("refuse", ("message cannot be checked (it cannot be parsed)",), None),)
    try:
        reader.message(msg)
    except _Refuse as refusal:
        reader.items.append(("refuse", refusal.args[0], None))
    except Exception as exc:  # noqa: BLE001 - fail closed on anything unexpected
        log.warning("gate error %s", type(exc).__name__)
        reader.items.append(("refuse", (f"message cannot be checked (unexpected {type(exc).__name__})",), None))
    return tuple(reader.items)


def _read_headers_only(block: bytes) -> tuple:
    reader = _Reader(True, True)
    try:
        reader.headers(email.message_from_bytes(block, policy=_PARSE_POLICY), ())
    except _Refuse as refusal:
        reader.items.append(("refuse", refusal.args[0], None))
    return tuple(reader.items)


class _Reader:
    def __init__(self, master_ok: bool, keep_text: bool) -> None:
        self.master_ok = master_ok
        self.keep = keep_text
        self.items: list[Item] = []
        self.n_attachment = 0

    def hit(self, text: str, where: tuple) -> None:
        if text:
            self.items.append(("text", where, prepare(text, keep=self.keep)))

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
            raise _Refuse((*prefix, "headers cannot be checked")) from None
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
                self.hit(_decode_text(value.encode("utf-8", "surrogateescape")), where)
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
                    raise _Refuse((*prefix, f"header {key} cannot be checked")) from None
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
            raise _Refuse((*label, " cannot be checked (it cannot be decoded)"))
        self.attachment(filename, ctype, data, label, part.get_content_charset())

    def part_text(self, part: Message) -> str:
        try:
            content = part.get_content()
            if isinstance(content, str):
                return content
        except Exception:  # noqa: BLE001
            pass
        data = part.get_payload(decode=True) or b""
        return _decode_text(data, part.get_content_charset())

    # -- attachments ---------------------------------------------------
    def attachment(self, filename: str, ctype: str, data: bytes, label: tuple, charset: str | None = None) -> None:
        lname = filename.lower()
        if data.startswith(OLE_MAGIC):
            if self.master_ok and _MASTER_LIST_NAME.match(filename.strip()) and _is_encrypted_ole(data):
                return  # the encrypted Master List: opaque by design
            raise _Refuse((*label, " cannot be checked (a protected or old-style Office file)"))
        if data.startswith(ZIP_MAGIC) or lname.endswith((".docx", ".xlsx", ".pptx", ".docm", ".xlsm", ".zip")):
            self.zip(data, label, depth=1)
            return
        if data.startswith(b"%PDF") or lname.endswith(".pdf"):
            raise _Refuse((*label, " cannot be checked (PDF)"))
        if ctype.startswith(("image/", "audio/", "video/")):
            raise _Refuse((*label, " cannot be checked (a picture or media file)"))
        if ctype.startswith("text/") or lname.endswith(_TEXT_EXT) or ctype in (
                "application/json", "application/xml", "application/ics", "message/rfc822"):
            if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
                raise _Refuse((*label, " cannot be checked (binary content)"))
            self.text_file(data, lname, ctype, label, charset)
            return
        raise _Refuse((*label, " cannot be checked (unknown file type)"))

    def text_file(self, data: bytes, lname: str, ctype: str, label: tuple, charset: str | None) -> None:
        text = _decode_text(data, charset)
        if lname.endswith((".ics", ".vcs", ".vcf")) or ctype in ("text/calendar", "text/vcard", "text/x-vcard"):
            text = text + "\n" + _ics_text(text)
        if lname.endswith(".eml") or ctype == "message/rfc822":
            inner = email.message_from_bytes(data, policy=_PARSE_POLICY)
            self.message(inner, (*label, " "))
            self.hit(text, label)
            return
        if lname.endswith((".html", ".htm", ".xml", ".rtf")) or ctype in ("text/html", "text/xml", "application/xml"):
            text = text + "\n" + markup_views(text)
        self.hit(text, label)

    def zip(self, data: bytes, label: tuple, depth: int) -> None:
        key = None
        if not self.keep:  # the same file read before (or by the helper process): its items again
            key = _zip_key(data, depth)
            known = _cached(_ZIP_CACHE, key)
            if known is not None:
                self.items.extend((kind, (*label, *where), prep) for kind, where, prep in known)
                return
        before = len(self.items)
        self._zip(data, label, depth)
        if key is not None:  # (a file that is refused raised before this: never kept)
            n = len(label)
            _store(_ZIP_CACHE, key, tuple((kind, where[n:], prep) for kind, where, prep in self.items[before:]),
                   ZIP_CACHE_ENTRIES)

    def _zip(self, data: bytes, label: tuple, depth: int) -> None:
        try:
            zf = zipfile.ZipFile(io.BytesIO(data))
            infos = zf.infolist()
        except (zipfile.BadZipFile, OSError, ValueError, EOFError):
            raise _Refuse((*label, " cannot be checked (damaged file)")) from None
        if len(infos) > MAX_ZIP_PARTS or sum(i.file_size for i in infos) > MAX_ZIP_TOTAL:
            raise _Refuse((*label, " cannot be checked (too large when unpacked)"))
        for n, info in enumerate(infos, 1):
            if info.is_dir():
                continue
            part_label = (*label, " part ", (info.filename, f"#{n}"))
            self.hit(info.filename, (*label, f" part #{n} name"))
            if info.flag_bits & 0x1:
                raise _Refuse((*part_label, " cannot be checked (password protected)"))
            # large parts (Word's style sheets are 300-400 KB each, the same in every coded
            # document) are read once: recognised by their compressed bytes, which inflate to
            # the same part
            key = None
            if info.file_size >= CACHE_MIN_BYTES and not self.keep:
                raw = _compressed_member(data, info)
                if raw is not None:
                    key = (hashlib.sha1(raw).digest(), info.compress_type, info.file_size, info.filename, depth)
                    prep = _cached(_PART_CACHE, key)
                    if prep is not None:
                        self.items.append(("text", part_label, prep))
                        continue
            try:
                with zf.open(info) as fh:
                    body = fh.read(info.file_size + 1)
            except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError):
                raise _Refuse((*part_label, " cannot be checked (damaged file)")) from None
            if len(body) > info.file_size:
                raise _Refuse((*part_label, " cannot be checked (damaged file)"))
            before = len(self.items)
            self.zip_part(info.filename, body, part_label, depth)
            # only a plain part (one text read from it, not a nested file) is kept for next time
            if key is not None and len(self.items) == before + 1 and self.items[-1][1] is part_label:
                _store(_PART_CACHE, key, self.items[-1][2], PART_CACHE_ENTRIES)

    def zip_part(self, name: str, body: bytes, label: tuple, depth: int) -> None:
        lname = name.lower()
        if body.startswith(ZIP_MAGIC):
            if depth >= MAX_ZIP_DEPTH:
                raise _Refuse((*label, " cannot be checked (files nested too deep)"))
            self.zip(body, label, depth + 1)
            return
        if body.startswith(OLE_MAGIC):
            raise _Refuse((*label, " cannot be checked (an embedded object)"))
        if lname.startswith("docprops/thumbnail"):
            raise _Refuse((*label, " cannot be checked (a picture of the first page)"))
        head = body[:200].lstrip(b"\xef\xbb\xbf\xff\xfe\x00 \t\r\n")
        if lname.endswith((".xml", ".rels", ".vml", ".xhtml", ".html", ".htm")) or head.startswith(b"<"):
            if (b"<!" in body and _DTD_BYTES.search(body)) or (
                    body.startswith((b"\xff\xfe", b"\xfe\xff")) and _DTD.search(_decode_text(body))):
                raise _Refuse((*label, " cannot be checked (XML with a DTD)"))
            self.hit_always(xml_views(body, element_names=not _STANDARD_PART.match(name)), label)
            return
        if lname.endswith((".txt", ".csv", ".json")):
            self.hit_always(_decode_text(body), label)
            return
        # pictures and other binary parts: search the readable strings
        strings = [m.decode("ascii") for m in _PRINTABLE.findall(body)]
        strings += [m.decode("utf-16-le") for m in _PRINTABLE16.findall(body)]
        self.hit_always("\n".join(strings), label)

    def hit_always(self, text: str, where: tuple) -> None:
        """As hit, but an item even for an empty text (a part read is one item, for the part cache)."""
        self.items.append(("text", where, prepare(text, keep=self.keep)))


# --------------------------------------------------------------------------
# building

def _names(value) -> list[str]:
    if not value:
        return []
    if isinstance(value, str):
        return [value]
    out = []
    for v in value:
        if isinstance(v, dict):
            v = v.get("name") or " ".join(x for x in (v.get("first_name"), v.get("surname")) if x)
        if v:
            out.append(str(v))
    return out


_DEFAULT_ORDINARY = frozenset(w.casefold() for w in ORDINARY_WORDS)
#: (the person as written, ordinary words) -> the words they contribute: a gate rebuilt after
#: one new case reads only that case's names (in memory only, like the gate itself)
_PERSON_WORDS: dict[tuple, tuple] = {}
_PERSON_WORDS_MAX = 20000


def _person_words(person: dict, ordinary_set: frozenset) -> tuple[frozenset, frozenset, frozenset]:
    key = (repr(person), ordinary_set)
    words = _PERSON_WORDS.get(key)
    if words is None:
        words = _read_person(person, ordinary_set)
        if len(_PERSON_WORDS) >= _PERSON_WORDS_MAX:
            _PERSON_WORDS.clear()
        _PERSON_WORDS[key] = words
    return words


def _read_person(person: dict, ordinary_set: frozenset) -> tuple[frozenset, frozenset, frozenset]:
    """The words one person contributes: protected alone, ordinary words, multi-word names."""
    singles: set[str] = set()
    ordinary: set[str] = set()
    sequences: set[tuple[str, ...]] = set()

    def add_token(tok: str) -> None:
        if len(tok) < MIN_TOKEN:
            return
        (ordinary if tok in ordinary_set else singles).add(tok)

    def add_name(name: str, *, alone: str) -> None:
        """alone: "all" tokens protected alone, "last" only the surname, "none"."""
        toks = _tokens(name)
        if not toks:
            return
        if len(toks) > 1:
            sequences.add(tuple(toks))
        chosen = toks if alone == "all" else toks[-1:] if alone == "last" else []
        for tok in chosen:
            add_token(tok)
        if alone != "none" and "'" in normalise(name):
            # O'Neill is also written ONeill
            for word in normalise(name).split():
                if "'" in word:
                    add_token("".join(_tokens(word)))

    for key in ("name", "first_name", "first", "surname", "middle_names"):
        for n in _names(person.get(key)):
            add_name(n, alone="all")
    first = " ".join(_names(person.get("first_name") or person.get("first")))
    surname = " ".join(_names(person.get("surname")))
    if first and surname:
        add_name(f"{first} {surname}", alone="all")
    for n in _names(person.get("known_as")) + _names(person.get("aliases")):
        add_name(n, alone="all")
    for n in _names(person.get("other_surnames")):
        add_name(n, alone="all")
        if first:
            add_name(f"{first} {n}", alone="none")
    for n in _names(person.get("family")):
        add_name(n, alone="all")
    # joined up, as in e-mail addresses and handles: rhodribeddoe, rbeddoe, beddoerhodri
    people = [(first, surname)] + [(" ".join(_tokens(n)[:1]), " ".join(_tokens(n)[1:])) for n in
                                   _names(person.get("family"))]
    for f, sname in people:
        ft, st = _tokens(f), _tokens(sname)
        if ft and st:
            for joined in ("".join(ft + st), ft[0][0] + "".join(st), "".join(st + ft)):
                if len(joined) >= 5:
                    singles.add(joined)
    return frozenset(singles), frozenset(ordinary), frozenset(sequences)


def build_gate(people: list[dict], *, ordinary_words: frozenset[str] | set[str] | None = None,
               allowed_names: list[str] | tuple[str, ...] = ()) -> Gate:
    """A gate protecting these people (young people and their family).

    ``allowed_names``: full names (two words or more) and email addresses of network
    people, e.g. member staff who share a first name with a young person ("Harvey
    Smith <harvey.smith@school.example>" while a Harvey is protected). Only their
    exact full occurrence is allowed; the protected word alone is still refused. An
    allowed name that is itself a protected full name is ignored.

    Each person: name, first_name, surname, known_as[], other_surnames[],
    family[] (names, or dicts with a "name"). A young person's every name
    token is protected alone (if long enough); a family member's full name and
    surname are protected, not their first name alone.
    """
    ordinary_set = (_DEFAULT_ORDINARY if ordinary_words is None
                    else frozenset(w.casefold() for w in ordinary_words))
    singles: set[str] = set()
    ordinary: set[str] = set()
    sequences: set[tuple[str, ...]] = set()
    for person in people:
        p_singles, p_ordinary, p_sequences = _person_words(person, ordinary_set)
        singles |= p_singles
        ordinary |= p_ordinary
        sequences |= p_sequences
    # a multi-word name holding a word protected alone is found through that word
    needed = tuple(sorted(seq for seq in sequences if singles.isdisjoint(seq)))
    return Gate(frozenset(singles), frozenset(ordinary), needed,
                allowed=_allowed_pattern(allowed_names, sequences))


def _allowed_pattern(allowed_names, protected: set[tuple[str, ...]]) -> re.Pattern | None:
    phrases = []
    for name in allowed_names or ():
        name = normalise(str(name)).strip()
        toks = _tokens(name)
        if "@" in name:
            if len(toks) >= 2:
                phrases.append(re.escape(name))
            continue
        if len(toks) < 2 or tuple(toks) in protected:
            continue  # a single word is never allowed; a protected full name neither
        phrases.append(r"[\W_]+".join(map(re.escape, toks)))
    if not phrases:
        return None
    phrases.sort(key=len, reverse=True)
    return re.compile(_B + "(?:" + "|".join(phrases) + ")" + _E, re.IGNORECASE)


_CACHE: dict[str, Gate] = {}


def gate_for(people: list[dict], *, allowed_names: list[str] | tuple[str, ...] = ()) -> Gate:
    """build_gate, cached on the content of the people list (rebuilt when anything in it changes)."""
    key = hashlib.sha256(json.dumps([people, list(allowed_names)], sort_keys=True, ensure_ascii=False,
                                    default=str).encode()).hexdigest()
    gate = _CACHE.get(key)
    if gate is None:
        _CACHE.clear()
        gate = _CACHE[key] = build_gate(people, allowed_names=allowed_names)
    return gate
