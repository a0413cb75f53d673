"""Safe, fast access to the parts of a Word (.docx) package.

A .docx is a zip of XML parts. Reading one that came by email is reading
untrusted input, so this module is the only place that opens one, and it
checks before it trusts:

* size limits on the file, on each part and on the whole uncompressed
  package (a zip bomb is refused before it is inflated);
* legacy .doc files and password-protected documents (both OLE compound
  files) are recognised and refused with a plain explanation;
* macro-enabled documents (vbaProject parts, macro content types) are refused;
* XML is parsed with entity resolution, DTD loading and network access off,
  and any part that declares a DOCTYPE or ENTITY is refused outright.

Only the parts that hold text are parsed; everything else is copied through
byte for byte when the package is written again. That keeps coding a form
fast (no python-docx object model on the hot path).
"""

from __future__ import annotations

import io
import os
import posixpath
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from mailbot.errors import BadDocument

MAX_FILE_BYTES = 25 * 1024 * 1024
MAX_PART_BYTES = 60 * 1024 * 1024
MAX_TOTAL_UNCOMPRESSED = 150 * 1024 * 1024
MAX_PARTS = 3000
MAX_RATIO = 200  # uncompressed / compressed, per part over 1 MiB

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"

WORD_MAIN_TYPES = (
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml",
)
MACRO_TYPES = (
    "application/vnd.ms-word.document.macroEnabled.main+xml",
    "application/vnd.ms-word.template.macroEnabledTemplate.main+xml",
    "application/vnd.ms-office.vbaProject",
)

SEND_AS_DOCX = "Please save it as a Word document (.docx) and send it again."

_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_blank_text=False,
)


def _xml_entity() -> BadDocument:
    return BadDocument(
        "The document contains an XML entity declaration, which Word never writes; "
        "it was refused for safety. " + SEND_AS_DOCX,
        reason="xml-entity",
    )


def parse_xml(data: bytes) -> etree._Element:
    """Parse one XML part safely (no DTD, no entities, no network)."""
    head = data[:4096].lower()
    if b"<!doctype" in head or b"<!entity" in data.lower():
        raise _xml_entity()
    try:
        return etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:  # pragma: no cover - message varies
        raise BadDocument(
            "Part of the document is damaged and cannot be read. " + SEND_AS_DOCX,
            reason="corrupt",
        ) from exc


def serialize_xml(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)


def is_xml_part(name: str) -> bool:
    return name.endswith(".xml") or name.endswith(".rels")


@dataclass
class Package:
    """The parts of a .docx, in their original order, with lazily parsed XML."""

    parts: dict[str, bytes]
    compress: dict[str, int] = field(default_factory=dict)
    _trees: dict[str, etree._Element] = field(default_factory=dict, repr=False)

    # -- reading -------------------------------------------------------
    def names(self) -> list[str]:
        return list(self.parts)

    def xml(self, name: str) -> etree._Element:
        """The parsed tree of an XML part (parsed once, then cached)."""
        tree = self._trees.get(name)
        if tree is None:
            tree = parse_xml(self.parts[name])
            self._trees[name] = tree
        return tree

    def xml_names(self) -> list[str]:
        return [n for n in self.parts if is_xml_part(n)]

    @property
    def main_part(self) -> str:
        return "word/document.xml"

    # -- writing -------------------------------------------------------
    def mark_changed(self, name: str) -> None:
        """Re-serialise a parsed part into ``parts`` (call after editing its tree)."""
        self.parts[name] = serialize_xml(self._trees[name])

    def set_bytes(self, name: str, data: bytes) -> None:
        self.parts[name] = data
        self._trees.pop(name, None)

    def drop(self, name: str) -> None:
        self.parts.pop(name, None)
        self._trees.pop(name, None)

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for name, data in self.parts.items():
                method = self.compress.get(name, zipfile.ZIP_DEFLATED)
                info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = method
                # level 1: text parts compress well enough and it is much faster
                zf.writestr(info, data, compresslevel=1 if method == zipfile.ZIP_DEFLATED else None)
        return buf.getvalue()

    def save(self, path: str | os.PathLike) -> None:
        write_atomic(Path(path), self.to_bytes())


def write_atomic(path: Path, data: bytes) -> None:
    """Write a file so that it either appears whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


_DTD_MARKERS = tuple(
    m.encode(enc) for m in ("<!DOCTYPE", "<!doctype", "<!ENTITY", "<!entity")
    for enc in ("ascii", "utf-16-le", "utf-16-be")
)


def _declares_dtd(data: bytes) -> bool:
    """True if an XML-looking part declares a DOCTYPE or ENTITY (in UTF-8 or UTF-16)."""
    head = data[:4]
    if b"\x00" in head or head.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16
        return any(m in data for m in _DTD_MARKERS)
    # UTF-8 / ASCII: one search for "<!" first (CDATA and comments also start so)
    return b"<!" in data and any(m in data for m in _DTD_MARKERS[:: 3])


def _looks_encrypted_ole(data: bytes) -> bool:
    # An encrypted OOXML file is an OLE compound file holding these streams.
    probe = data[: 1024 * 1024]
    return "EncryptionInfo".encode("utf-16-le") in probe or "EncryptedPackage".encode("utf-16-le") in probe


def _altchunk_parts(parts: dict[str, bytes]) -> set[str]:
    """The non-XML parts that an aFChunk relationship imports (HTML, MHT, RTF, a .docx)."""
    found: set[str] = set()
    for name, data in parts.items():
        if not name.endswith(".rels") or b"afchunk" not in data.lower() or _declares_dtd(data):
            continue
        try:
            root = parse_xml(data)
        except BadDocument:
            continue
        folder = posixpath.dirname(posixpath.dirname(name))
        for rel in root:
            if not (rel.get("Type") or "").lower().endswith("/afchunk"):
                continue
            if (rel.get("TargetMode") or "").lower() == "external":
                continue
            target = rel.get("Target") or ""
            path = target.lstrip("/") if target.startswith("/") else posixpath.normpath(
                posixpath.join(folder, target))
            if path in parts and not is_xml_part(path):
                found.add(path)
    return found


def open_package(source: bytes | str | os.PathLike, *, max_file_bytes: int = MAX_FILE_BYTES) -> Package:
    """Open untrusted bytes (or a path) as a Word package, or raise BadDocument."""
    data = _read_source(source, max_file_bytes)
    _refuse_not_a_zip(data)
    zf, infos = _zip_entries(data)
    parts, compress = _read_parts(zf, infos)
    _refuse_not_word(parts)
    # A DOCTYPE or ENTITY declaration in ANY part (parsed now or later, or copied
    # through untouched into a coded document) is refused up front. Not in an
    # imported (altChunk) HTML/MHT/RTF part: never parsed as XML, removed by sanitise.
    chunks = _altchunk_parts(parts)
    for name, data in parts.items():
        if name not in chunks and _declares_dtd(data):
            raise _xml_entity()
    pkg = Package(parts=parts, compress=compress)
    # Parse the content types now so that a hostile DTD is refused up front.
    pkg.xml("[Content_Types].xml")
    return pkg


def _too_large(size: int, limit: int) -> BadDocument:
    return BadDocument(
        f"The document is too large ({size // (1024 * 1024)} MB; the limit is "
        f"{limit // (1024 * 1024)} MB). Please remove pictures or send the form on its own.",
        reason="too-large",
    )


def _corrupt() -> BadDocument:
    return BadDocument(
        "The document is damaged or incomplete and cannot be opened. "
        "Please check it opens in Word and send it again.",
        reason="corrupt",
    )


def _read_source(source: bytes | str | os.PathLike, max_file_bytes: int) -> bytes:
    """The bytes, within the size limit (a file too large is refused before it is read)."""
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    else:
        p = Path(source)
        try:
            size = p.stat().st_size
        except OSError as exc:
            raise BadDocument(f"The file {p.name} cannot be read.", reason="unreadable") from exc
        if size > max_file_bytes:
            raise _too_large(size, max_file_bytes)
        data = p.read_bytes()
    if len(data) > max_file_bytes:
        raise _too_large(len(data), max_file_bytes)
    if not data:
        raise BadDocument("The attached file is empty. Please attach the filled-in form and send it again.",
                          reason="empty")
    return data


def _refuse_not_a_zip(data: bytes) -> None:
    """A legacy .doc, a password-protected document (both OLE files), anything not a zip."""
    if data.startswith(OLE_MAGIC):
        if _looks_encrypted_ole(data):
            raise BadDocument(
                "The document is protected with a password, so it cannot be read. "
                "Please remove the password (File > Info > Protect Document) and send it again; "
                "share the password by phone, never by email.",
                reason="encrypted",
            )
        raise BadDocument(
            "This is an old-style Word file (.doc). " + SEND_AS_DOCX,
            reason="legacy-doc",
        )
    if not data.startswith(ZIP_MAGIC):
        raise BadDocument(
            "The attachment is not a Word document (it only has a .docx name). " + SEND_AS_DOCX,
            reason="not-docx",
        )


def _zip_entries(data: bytes) -> tuple[zipfile.ZipFile, list[zipfile.ZipInfo]]:
    """The zip's entries, refused before anything is inflated when too many, too large, too
    compressed (a zip bomb) or encrypted."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise _corrupt() from exc
    if len(infos) > MAX_PARTS:
        raise BadDocument("The document has too many parts to be a form. " + SEND_AS_DOCX, reason="zip-bomb")
    total = 0
    for info in infos:
        total += info.file_size
        ratio_suspect = info.file_size > 1024 * 1024 and info.file_size > MAX_RATIO * max(info.compress_size, 1)
        if info.file_size > MAX_PART_BYTES or total > MAX_TOTAL_UNCOMPRESSED or ratio_suspect:
            raise BadDocument(
                "The document expands to an unreasonable size and was refused for safety. " + SEND_AS_DOCX,
                reason="zip-bomb",
            )
        if info.flag_bits & 0x1:
            raise BadDocument(
                "The document is protected with a password, so it cannot be read. "
                "Please remove the password and send it again.",
                reason="encrypted",
            )
    return zf, infos


def _read_parts(zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo]) -> tuple[dict[str, bytes], dict[str, int]]:
    """Every part's bytes (read in bounded chunks: the declared size may lie) and compression."""
    parts: dict[str, bytes] = {}
    compress: dict[str, int] = {}
    try:
        for info in infos:
            if info.is_dir():
                continue
            with zf.open(info) as fh:
                chunk = fh.read(info.file_size + 1)
            if len(chunk) > info.file_size:
                raise BadDocument("The document is damaged (its sizes do not match). " + SEND_AS_DOCX,
                                  reason="corrupt")
            parts[info.filename] = chunk
            compress[info.filename] = info.compress_type
    except BadDocument:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError,
            zlib.error) as exc:  # zlib.error: a damaged deflate stream
        raise _corrupt() from exc
    return parts, compress


def _refuse_not_word(parts: dict[str, bytes]) -> None:
    """Not a Word document (another Office file, no content types), or one with macros."""
    ct = parts.get("[Content_Types].xml")
    if ct is None:
        raise BadDocument("The attachment is not a Word document. " + SEND_AS_DOCX, reason="not-docx")
    ct_text = ct.decode("utf-8", "replace")
    lowered = [n.lower() for n in parts]
    if any(m in ct_text for m in MACRO_TYPES) or any(n.endswith("vbaproject.bin") for n in lowered):
        raise BadDocument(
            "The document contains macros, which we do not accept for safety. "
            "Please save it as a plain Word document (.docx, not .docm) and send it again.",
            reason="macros",
        )
    if not any(t in ct_text for t in WORD_MAIN_TYPES) or "word/document.xml" not in parts:
        raise BadDocument(
            "The attachment is an Office file but not a Word document. " + SEND_AS_DOCX,
            reason="not-docx",
        )
