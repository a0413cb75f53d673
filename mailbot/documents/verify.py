"""The verifier: reopen a coded document's bytes and raise if any protected name is in them.

:func:`verify_no_names` scans every part (its text streams, every element text, tail, comment
and attribute value, %-decoded too), the printable text inside binary parts (and the inflated
text chunks of a PNG), every part name and the file name. It fails closed: what it cannot
scan, it refuses. :func:`scan_bytes_for_names` lists the parts that still hold a name (for tests
and diagnostics). Independent of the stripper: it reads the written bytes, not the package
that was edited.
"""

from __future__ import annotations

import io
import itertools
import re
import urllib.parse
import zipfile
import zlib
from pathlib import PurePosixPath

from lxml import etree

from mailbot.documents.images import PNG_MAGIC, ImageUnreadable, png_chunks
from mailbot.documents.matcher import Matcher, build_matcher
from mailbot.documents.names import ProtectedName
from mailbot.documents.package import OLE_MAGIC, ZIP_MAGIC, open_package, parse_xml
from mailbot.documents.part_surface import SurfaceCache, clean_memo, may_hold_name
from mailbot.documents.xml_streams import looks_xml, package_caps_styles, streams, uses_styles
from mailbot.errors import BadDocument, LeakDetected

UNSCANNABLE_EXT = (".bin", ".docx", ".docm", ".xlsx", ".xlsm", ".pptx", ".doc", ".xls", ".ppt",
                   ".odt", ".ods", ".pdf", ".zip", ".msg", ".eml", ".ole")


def _leak(part: str, match, what: str = "a protected name") -> LeakDetected:
    code = match.name.replacement if match is not None else "?"
    return LeakDetected(
        f"Check failed: {what} for {code} is still in {part} of the coded document; nothing was sent.",
        reason="leak-detected",
    )


def _scan_tree(root: etree._Element, matcher: Matcher, part: str, caps_styles: frozenset[str] = frozenset()) -> None:
    for nodes in streams(root, caps_styles):
        m = matcher.search("".join(t for _el, t in nodes))
        if m:
            raise _leak(part, m)
    clean: set[str] = set()
    for el in root.iter():
        values = [el.text or "", el.tail or ""]
        if isinstance(el.tag, str):
            values.extend(el.attrib.values())
        else:  # comment / processing instruction
            values.append(getattr(el, "target", "") or "")
        for v in values:
            if not v or v in clean:
                continue
            clean.add(v)
            m = matcher.search(v)
            if m is None and "%" in v:
                m = matcher.search(urllib.parse.unquote(v))
            if m:
                raise _leak(part, m)
    # all text of the part as one (names split across elements of the same run)
    m = matcher.search("".join(root.itertext()))
    if m:
        raise _leak(part, m)


_PRINTABLE_8 = re.compile(rb"[\x20-\x7e\x09\x0a\x0d\xa0-\xff]{3,}")
_PRINTABLE_16 = re.compile(rb"(?:[\x20-\x7e\xa0-\xff]\x00){3,}")



def _binary_texts(data: bytes):
    for m in _PRINTABLE_8.finditer(data):
        chunk = m.group()
        try:
            yield chunk.decode("utf-8")
        except UnicodeDecodeError:
            yield chunk.decode("latin-1")
    for start in (0, 1):
        for m in _PRINTABLE_16.finditer(data, start):
            yield m.group().decode("utf-16-le", "replace")


MAX_INFLATED_TEXT = 1024 * 1024


def _unscannable(part: str) -> LeakDetected:
    return LeakDetected(
        f"The coded document holds an embedded file ({part}) that cannot be checked for names; "
        "nothing was sent. Please remove embedded objects from the form and send it again.",
        reason="unscannable",
    )


def _png_compressed_texts(data: bytes, part: str):
    """The inflated text of a PNG's compressed text chunks (zTXt, compressed iTXt)."""
    pos = len(PNG_MAGIC)
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        compressed = None
        if kind == b"zTXt":
            _kw, _, rest = body.partition(b"\x00")
            compressed = rest[1:]
        elif kind == b"iTXt":
            _kw, _, rest = body.partition(b"\x00")
            if rest[:1] == b"\x01":
                rest = rest[2:]
                _lang, _, rest = rest.partition(b"\x00")
                _tkw, _, compressed = rest.partition(b"\x00")
        if compressed is not None:
            try:
                d = zlib.decompressobj()
                text = d.decompress(compressed, MAX_INFLATED_TEXT)
            except zlib.error:
                raise _unscannable(part) from None
            if d.unconsumed_tail:
                raise _unscannable(part)
            yield text.decode("utf-8", "replace")
        if kind == b"IEND":
            break


def _readable_bytes(data: bytes) -> bytes:
    """The bytes of a picture that a reader could see as text: a PNG without its compressed
    pixel data (IDAT), a JPEG up to its compressed scan (SOS). Compressed pixels are noise in
    which any three letters occur by chance; the text a picture carries is in its other chunks
    and segments (and mailbot.documents.images strips those). Anything else: all of it."""
    if data.startswith(PNG_MAGIC):
        try:
            return data[:8] + b"".join(data[start:end] for kind, start, end in png_chunks(data) if kind != b"IDAT")
        except ImageUnreadable:
            return data  # a structure that cannot be followed: every byte is read
    if data.startswith(b"\xff\xd8"):
        sos = data.find(b"\xff\xda")
        if sos > 0:
            eoi = data.rfind(b"\xff\xd9")
            return data[:sos] + (data[eoi + 2:] if eoi > sos else b"")
    return data


def _scan_binary(data: bytes, matcher: Matcher, part: str) -> None:
    if data.startswith(ZIP_MAGIC) or data.startswith(OLE_MAGIC):
        raise _unscannable(part)
    texts = _binary_texts(_readable_bytes(data))
    if data.startswith(PNG_MAGIC):
        texts = itertools.chain(texts, _png_compressed_texts(data, part))
    for text in texts:
        if matcher.maybe_in(text):
            m = matcher.search(text)
            if m:
                raise _leak(part, m)


def verify_no_names(data: bytes, names: list[ProtectedName] | Matcher, filename: str | None = None,
                    surfaces: SurfaceCache | None = None) -> None:
    """Reopen ``data`` (a written .docx) and raise LeakDetected if any protected name is in it."""
    matcher = names if isinstance(names, Matcher) else build_matcher(names)
    if filename:
        m = matcher.search(PurePosixPath(str(filename).replace("\\", "/")).name)
        if m:
            raise _leak("the file name", m)
    try:
        pkg = open_package(bytes(data))
    except BadDocument as exc:
        raise LeakDetected(f"The coded document could not be checked ({exc.reason}); nothing was sent.",
                           reason="unscannable") from exc
    caps = package_caps_styles(pkg)
    for part, raw in pkg.parts.items():
        m = matcher.search(part)
        if m:
            raise _leak("a part name", m)
        if part.lower().endswith(UNSCANNABLE_EXT) or "/embeddings/" in part.lower():
            raise _unscannable(part)
        if looks_xml(part, raw):
            # the same cheap test on the same bytes gives the same answer: a large part
            # the stripper found clean and that was written unchanged is not tested twice
            if len(raw) > 65536 and clean_memo(matcher).get(part) == raw:
                continue
            if not may_hold_name(raw, matcher, surfaces) and not uses_styles(raw, caps):
                continue
            try:
                root = parse_xml(raw)
            except BadDocument:
                root = None
            if root is None:
                _scan_binary(raw, matcher, part)
                continue
            _scan_tree(root, matcher, part, caps)
        else:
            _scan_binary(raw, matcher, part)


def scan_bytes_for_names(data: bytes, names: list[ProtectedName] | Matcher) -> list[str]:
    """Parts of a .docx that still hold a name (for tests and diagnostics). Never raises LeakDetected."""
    matcher = names if isinstance(names, Matcher) else build_matcher(names)
    bad = []
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for info in zf.infolist():
            raw = zf.read(info)
            try:
                if looks_xml(info.filename, raw):
                    _scan_tree(parse_xml(raw), matcher, info.filename)
                else:
                    _scan_binary(raw, matcher, info.filename)
            except LeakDetected:
                bad.append(info.filename)
    return bad
