"""Reading Office files (any zip: .docx, .xlsx, ...) as the gate must: every part, every text in it.

Every part is read: XML text, attributes and names split across Word runs; embedded Office files
one level down; pictures searched for readable strings. Fail closed: a damaged or password
protected zip, XML with a DTD, an embedded OLE object or a thumbnail is refused as "cannot be
checked". Large parts (Word's style sheets) and whole files are read once (GateMemory)."""

from __future__ import annotations

import hashlib
import io
import re
import struct
import zipfile

from mailbot.gate.memory import PART_CACHE_ENTRIES, ZIP_CACHE_ENTRIES, GateMemory
from mailbot.gate.reader import Reader, Refuse
from mailbot.gate.views import decode_text, xml_views

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"
MAX_ZIP_TOTAL = 150 * 1024 * 1024
MAX_ZIP_PARTS = 3000
MAX_ZIP_DEPTH = 2
CACHE_MIN_BYTES = 32 * 1024

_PRINTABLE = re.compile(rb"[\x20-\x7e]{4,}")
_PRINTABLE16 = re.compile(rb"(?:[\x20-\x7e]\x00){4,}")
MASTER_LIST_NAME = re.compile(r"^master[-_ ]?list.*\.xlsx$", re.IGNORECASE)
_DTD = re.compile(r"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)
# parts whose element names are a fixed Office vocabulary (elsewhere, e.g. customXml/, they are read too)
_STANDARD_PART = re.compile(r"^(?:word|xl|ppt|docProps|_rels|\[Content_Types\]\.xml)(?:/|$)")
_DTD_BYTES = re.compile(rb"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)


def compressed_member(data: bytes, info: zipfile.ZipInfo) -> bytes | None:
    """The stored (compressed) bytes of one zip member, or None if the local header is odd."""
    off = info.header_offset
    head = data[off:off + 30]
    if len(head) < 30 or head[:4] != ZIP_MAGIC:
        return None
    name_len, extra_len = struct.unpack("<HH", head[26:30])
    start = off + 30 + name_len + extra_len
    raw = data[start:start + info.compress_size]
    return raw if len(raw) == info.compress_size else None


def is_encrypted_ole(data: bytes) -> bool:
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


def zip_key(data: bytes, depth: int) -> tuple:
    return hashlib.sha1(data).digest(), len(data), depth


class OfficeReader(Reader):
    """The zip files of a message (see the module doc); the MIME side is mime.MessageReader."""

    def zip(self, data: bytes, label: tuple, depth: int) -> None:
        key = None
        memory = self.memory
        if not self.keep and memory is not None:  # the same file read before (or by the helper process)
            key = zip_key(data, depth)
            known = memory.cached(memory.files, key)
            if known is not None:
                self.items.extend((kind, (*label, *where), prep) for kind, where, prep in known)
                return
        before = len(self.items)
        self._zip(data, label, depth)
        if key is not None:  # (a file that is refused raised before this: never kept)
            n = len(label)
            memory.store(memory.files, key, tuple((kind, where[n:], prep) for kind, where, prep in self.items[before:]),
                         ZIP_CACHE_ENTRIES)

    def _zip(self, data: bytes, label: tuple, depth: int) -> None:
        try:
            zf = zipfile.ZipFile(io.BytesIO(data))
            infos = zf.infolist()
        except (zipfile.BadZipFile, OSError, ValueError, EOFError):
            raise Refuse((*label, " cannot be checked (damaged file)")) from None
        if len(infos) > MAX_ZIP_PARTS or sum(i.file_size for i in infos) > MAX_ZIP_TOTAL:
            raise Refuse((*label, " cannot be checked (too large when unpacked)"))
        for n, info in enumerate(infos, 1):
            if info.is_dir():
                continue
            part_label = (*label, " part ", (info.filename, f"#{n}"))
            self.hit(info.filename, (*label, f" part #{n} name"))
            if info.flag_bits & 0x1:
                raise Refuse((*part_label, " cannot be checked (password protected)"))
            # large parts (Word's style sheets are 300-400 KB each, the same in every coded
            # document) are read once: recognised by their compressed bytes, which inflate to
            # the same part
            key = None
            memory = self.memory
            if info.file_size >= CACHE_MIN_BYTES and not self.keep and memory is not None:
                raw = compressed_member(data, info)
                if raw is not None:
                    key = (hashlib.sha1(raw).digest(), info.compress_type, info.file_size, info.filename, depth)
                    prep = memory.cached(memory.parts, key)
                    if prep is not None:
                        self.items.append(("text", part_label, prep))
                        continue
            try:
                with zf.open(info) as fh:
                    body = fh.read(info.file_size + 1)
            except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError):
                raise Refuse((*part_label, " cannot be checked (damaged file)")) from None
            if len(body) > info.file_size:
                raise Refuse((*part_label, " cannot be checked (damaged file)"))
            before = len(self.items)
            self.zip_part(info.filename, body, part_label, depth)
            # only a plain part (one text read from it, not a nested file) is kept for next time
            if key is not None and len(self.items) == before + 1 and self.items[-1][1] is part_label:
                memory.store(memory.parts, key, self.items[-1][2], PART_CACHE_ENTRIES)

    def zip_part(self, name: str, body: bytes, label: tuple, depth: int) -> None:
        lname = name.lower()
        if body.startswith(ZIP_MAGIC):
            if depth >= MAX_ZIP_DEPTH:
                raise Refuse((*label, " cannot be checked (files nested too deep)"))
            self.zip(body, label, depth + 1)
            return
        if body.startswith(OLE_MAGIC):
            raise Refuse((*label, " cannot be checked (an embedded object)"))
        if lname.startswith("docprops/thumbnail"):
            raise Refuse((*label, " cannot be checked (a picture of the first page)"))
        head = body[:200].lstrip(b"\xef\xbb\xbf\xff\xfe\x00 \t\r\n")
        if lname.endswith((".xml", ".rels", ".vml", ".xhtml", ".html", ".htm")) or head.startswith(b"<"):
            if (b"<!" in body and _DTD_BYTES.search(body)) or (
                    body.startswith((b"\xff\xfe", b"\xfe\xff")) and _DTD.search(decode_text(body))):
                raise Refuse((*label, " cannot be checked (XML with a DTD)"))
            self.hit_always(xml_views(body, element_names=not _STANDARD_PART.match(name)), label)
            return
        if lname.endswith((".txt", ".csv", ".json")):
            self.hit_always(decode_text(body), label)
            return
        # pictures and other binary parts: search the readable strings
        strings = [m.decode("ascii") for m in _PRINTABLE.findall(body)]
        strings += [m.decode("utf-16-le") for m in _PRINTABLE16.findall(body)]


def analyse_file_ahead(data: bytes, memory: GateMemory | None = None) -> tuple | None:
    """What the gate reads in an Office file, as GateMemory.prime_file takes it; None if it would refuse it.

    For the helper process (mailbot.speculate), which codes documents ahead: the gate of the
    process that sends them then reads each coded document without opening it again. What a
    file says does not depend on who is protected, so nothing here knows a name. ``memory``:
    the helper's own (its large parts are read once)."""
    reader = OfficeReader(True, False, memory)
    try:
        reader.zip(data, (), depth=1)
    except Refuse:  # the sending gate reads it itself and refuses it there
        return None
    return zip_key(data, 1), tuple(reader.items)
