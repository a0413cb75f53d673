"""Strip protected names from a Word package, and verify that none is left.

:func:`strip_names` works on the raw XML parts of the zip. Every XML part is
considered (body, headers, footers, footnotes, comments, glossary, text boxes,
properties, customXml data, settings, relationships...): a cheap test on the
raw bytes decides whether a part can hold a name at all; parts that cannot are
copied through untouched.

Inside a part, the text of a paragraph is the concatenation of its text nodes
(w:t, a:t, m:t; deleted text and field instructions as their own streams), so
a name split over runs with different formatting, spell-check or bookmark
marks between them is found; the replacement goes into the first node and the
rest of the name is removed from the others, so the formatting of untouched
text is kept. Every other element text, tail, comment and attribute value
(alt text, content-control alias/tag, docVars, hyperlink targets) is replaced
in place. The thumbnail (a picture of page 1) is dropped.

:func:`verify_no_names` reopens the written bytes and scans every part, text
and attributes, plus the printable text inside binary parts, and the file
name. It fails closed: what it cannot scan, it refuses.
"""

from __future__ import annotations

import hashlib
import html
import io
import itertools
import logging
import re
import urllib.parse
import zipfile
import zlib
from pathlib import PurePosixPath

from lxml import etree

from mailbot.documents.package import OLE_MAGIC, ZIP_MAGIC, Package, open_package, parse_xml
from mailbot.errors import BadDocument, LeakDetected
from mailbot.documents.images import PNG_MAGIC, ImageUnreadable, png_chunks
from mailbot.documents.matcher import Matcher, address_letters, build_matcher
from mailbot.documents.names import ProtectedName
from mailbot.words.textnorm import normalise

log = logging.getLogger("mailbot.redact")

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
A = "http://schemas.openxmlformats.org/drawingml/2006/main"
M = "http://schemas.openxmlformats.org/officeDocument/2006/math"
PKG_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
CT = "http://schemas.openxmlformats.org/package/2006/content-types"

# text-node tag -> stream kind (streams are matched separately inside a paragraph)
_TEXT_TAGS = {
    f"{{{W}}}t": "t", f"{{{A}}}t": "t", f"{{{M}}}t": "t",
    f"{{{W}}}delText": "del",
    f"{{{W}}}instrText": "instr", f"{{{W}}}delInstrText": "delinstr",
}
# elements that separate words inside a paragraph
_SEP_TAGS = {f"{{{W}}}tab": "\t", f"{{{W}}}br": "\n", f"{{{W}}}cr": "\n", f"{{{W}}}ptab": "\t",
             f"{{{A}}}br": "\n", f"{{{W}}}noBreakHyphen": "-"}
_PARA_TAGS = {f"{{{W}}}p", f"{{{A}}}p", f"{{{M}}}oMathPara"}
_SCAN_TAGS = tuple(_TEXT_TAGS) + tuple(_SEP_TAGS)
_XML_SPACE = "{http://www.w3.org/XML/1998/namespace}space"

_TAG_RE = re.compile(r"<[^>]*>")
_TAG_BYTES_RE = re.compile(rb"<[^>]*>")
_ENC_RE = re.compile(rb"^\s*<\?xml[^>]*encoding\s*=\s*[\"']([A-Za-z0-9_.\-]+)", re.I)

THUMBNAIL_PREFIX = "docProps/thumbnail."
UNSCANNABLE_EXT = (".bin", ".docx", ".docm", ".xlsx", ".xlsm", ".pptx", ".doc", ".xls", ".ppt",
                   ".odt", ".ods", ".pdf", ".zip", ".msg", ".eml", ".ole")


# -- shared helpers -----------------------------------------------------------

def coded_filename(codes: list[str]) -> str:
    """File name of a Coded Referral: CN78-coded-referral.docx (siblings: CN58A-CN58B-...)."""
    if not codes:
        raise ValueError("at least one case code is needed")
    return "-".join(codes) + "-coded-referral.docx"


def _looks_xml(name: str, data: bytes) -> bool:
    if name.endswith((".xml", ".rels", ".vml")):
        return True
    head = data[:64].lstrip()
    return head.startswith(b"<") or head.startswith(b"\xef\xbb\xbf<")


def _decoded_for_test(data: bytes) -> str | bytes | None:
    """The part for the cheap test (bytes when ASCII), or None when the cheap test is not safe."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or b"&#" in data:
        return None
    m = _ENC_RE.match(data[:200])
    if m and m.group(1).lower().replace(b"_", b"-") not in (b"utf-8", b"utf8"):
        return None
    if data.isascii():
        return data.lower()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _clean_memo(matcher: Matcher) -> dict:
    """Large XML parts (name -> bytes) this matcher's cheap test found free of any name."""
    memo = getattr(matcher, "_clean_parts", None)
    if memo is None:
        memo = {}
        matcher._clean_parts = memo
    return memo


_BOUNDARY_RE = re.compile(
    r"</?(?:[\w.-]+:)?(?:p|tc|tr|td|th|si|br|tab|cr|txbxContent|row|c|li|div|table)\b[^>]*>", re.IGNORECASE)
_ATTR_VALUE_RE = re.compile(r"=\s*\"([^\"]*)\"|=\s*'([^']*)'")
_COMMENT_RE = re.compile(r"<!--(.*?)-->|<\?(.*?)\?>", re.S)
_SURFACE_CACHE: "dict[tuple, str]" = {}
_SURFACE_CACHE_MAX = 256
_SURFACE_CACHE_BUDGET = 24 * 1024 * 1024  # about this much memory, then it starts again
_SURFACE_CACHE_BYTES = 0


_NOT_LETTERS_RE = re.compile(r"[^a-z]+")
_WORDS_RE = re.compile(r"[^\W\d_]+")
_WORDS_APART_RE = re.compile(r"(?<![0-9])[^\W\d_]+(?![0-9])")


def _surface(data: bytes) -> tuple[str, ...] | None:
    """Everything of an XML part a name could be in, as one folded text: the text nodes (joined
    as they are read, with a line break at each paragraph, cell, tab and line break), every
    attribute value, comments and processing instructions, entities resolved. None when the
    part must be parsed to be read (character references, another encoding).

    Parts are read twice (strip, then verify) and large ones (styles, themes) are the same in many
    forms: surfaces are cached on the bytes' digest, in memory only (a surface can hold a name, as
    the parsed document does; nothing of it is written)."""
    key = None
    if len(data) > 1024:  # the verifier reads again what the stripper left unchanged
        key = (len(data), hashlib.blake2b(data, digest_size=16).digest())
        hit = _SURFACE_CACHE.get(key)
        if hit is not None:
            return hit
    if _decoded_for_test(data) is None:
        return None
    text = data.decode("utf-8")  # as written: the case decides for names that are also words
    # the text as the streams read it (runs of a paragraph joined), and each element's text on
    # its own (a property, a cell of another table), so that neither view hides a name
    joined = _TAG_RE.sub("", _BOUNDARY_RE.sub("\n", text))
    apart = _TAG_RE.sub("\n", text)
    attrs = "\n".join(a or b for a, b in _ATTR_VALUE_RE.findall(text))
    notes = "\n".join(a or b for a, b in _COMMENT_RE.findall(text))
    surface = normalise(html.unescape(joined + "\n" + apart + "\n" + attrs + "\n" + notes))
    if "%" in surface:  # %-escaped text (links): read decoded too
        decoded = normalise(urllib.parse.unquote(surface))
        if decoded != surface:
            surface += "\n" + decoded
    low = surface.lower()
    words = frozenset(_WORDS_RE.findall(low))
    caps = frozenset(w.lower() for w in _WORDS_RE.findall(surface) if w[0].isupper())
    surface = (surface, address_letters(surface), words, low, frozenset(_WORDS_APART_RE.findall(low)), caps,
               "\n".join(w[::-1] for w in words))
    if key is not None:
        global _SURFACE_CACHE_BYTES
        size = 3 * len(data)
        if len(_SURFACE_CACHE) >= _SURFACE_CACHE_MAX or _SURFACE_CACHE_BYTES + size > _SURFACE_CACHE_BUDGET:
            _SURFACE_CACHE.clear()
            _SURFACE_CACHE_BYTES = 0
        _SURFACE_CACHE[key] = surface
        _SURFACE_CACHE_BYTES += size
    return surface


def _may_hold_name(data: bytes, matcher: Matcher) -> bool:
    """Sound superset test: False only if no name can be in this XML part.

    The matcher's own expression (without its case rules) runs over the part's surface
    (:func:`_surface`): what the stripper and the verifier read, as one text. A part that
    cannot be read that way (character references, another encoding) is always parsed.
    """
    got = _surface(data)
    if got is None:
        return True
    return matcher.may_match(*got)


def _owner(el: etree._Element) -> etree._Element | None:
    p = el.getparent()
    while p is not None:
        if p.tag in _PARA_TAGS:
            return p
        p = p.getparent()
    return None


def _streams(root: etree._Element):
    """Yield lists of (element or None, text) per paragraph and stream kind, in document order.

    An entry with element None is a separator (tab, line break) that belongs to no node.
    """
    groups: dict[tuple[int, str], list] = {}
    order: list[tuple[int, str]] = []
    owners: dict[int, etree._Element] = {}
    for el in root.iter(_SCAN_TAGS):
        owner = _owner(el)
        oid = id(owner) if owner is not None else id(el)
        owners[oid] = owner if owner is not None else el
        if el.tag in _SEP_TAGS:
            for kind in ("t", "del", "instr", "delinstr"):
                key = (oid, kind)
                if key in groups:
                    groups[key].append((None, _SEP_TAGS[el.tag]))
            continue
        key = (oid, _TEXT_TAGS[el.tag])
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append((el, el.text or ""))
    for key in order:
        yield groups[key]


def _replace_in_stream(nodes: list, matcher: Matcher) -> int:
    """Replace names in one concatenated stream of text nodes; returns the count."""
    text = "".join(t for _el, t in nodes)
    matches = matcher.edits(text)
    if not matches:
        return 0
    edits: dict[int, list] = {}  # node index -> [(local_start, local_end, replacement)]
    spans = []
    pos = 0
    for _el, t in nodes:
        spans.append((pos, pos + len(t)))
        pos += len(t)
    for m_start, m_end, replacement in matches:
        first = True
        for i, (s, e) in enumerate(spans):
            if e <= m_start or s >= m_end or nodes[i][0] is None:
                continue  # outside the name, or a separator inside it: nothing to edit
            ls, le = max(m_start, s) - s, min(m_end, e) - s
            edits.setdefault(i, []).append((ls, le, replacement if first else ""))
            first = False
    for i, changes in edits.items():
        el, t = nodes[i]
        for ls, le, rep in sorted(changes, reverse=True):
            t = t[:ls] + rep + t[le:]
        el.text = t
        if el.tag == f"{{{W}}}t" and (t != t.strip() or not t):
            el.set(_XML_SPACE, "preserve")
    return len(matches)


def _sub_value(value: str, matcher: Matcher) -> tuple[str, int]:
    new, n = matcher.sub(value)
    if "%" in new:
        unq = urllib.parse.unquote(new)
        if unq != new:
            sub2, n2 = matcher.sub(unq)
            if n2:
                new = urllib.parse.quote(sub2, safe=":/?#[]@!$&'()*+,;=~")
                n += n2
    return new, n


def _strip_tree(root: etree._Element, matcher: Matcher) -> int:
    count = 0
    for nodes in _streams(root):
        count += _replace_in_stream(nodes, matcher)
    clean: set[str] = set()  # values already found clean in this part ("0", "single", "auto"...)
    for el in root.iter():
        if el.tag not in _TEXT_TAGS and el.text and el.text not in clean:
            new, n = _sub_value(el.text, matcher)
            if n:
                el.text, count = new, count + n
            else:
                clean.add(el.text)
        if el.tail and el.tail not in clean:
            new, n = _sub_value(el.tail, matcher)
            if n:
                el.tail, count = new, count + n
            else:
                clean.add(el.tail)
        if isinstance(el.tag, str):
            for attr, value in el.attrib.items():
                if value in clean:
                    continue
                new, n = _sub_value(value, matcher)
                if n:
                    el.set(attr, new)
                    count += n
                else:
                    clean.add(value)
    return count


def _drop_thumbnail(pkg: Package) -> None:
    thumbs = [n for n in pkg.parts if n.startswith(THUMBNAIL_PREFIX)]
    if not thumbs:
        return
    for name in thumbs:
        pkg.drop(name)
    if "_rels/.rels" in pkg.parts:
        rels = pkg.xml("_rels/.rels")
        for rel in list(rels):
            target = (rel.get("Target") or "").lstrip("/")
            if target.startswith(THUMBNAIL_PREFIX):
                rels.remove(rel)
        pkg.mark_changed("_rels/.rels")
    ct = pkg.xml("[Content_Types].xml")
    for ov in list(ct):
        if (ov.get("PartName") or "").lstrip("/").startswith(THUMBNAIL_PREFIX):
            ct.remove(ov)
    pkg.mark_changed("[Content_Types].xml")


def strip_names(pkg: Package, names: list[ProtectedName] | Matcher, stats: dict | None = None) -> Package:
    """Replace every protected name in every text-holding part of ``pkg`` (in place; returned).

    ``stats`` (optional dict) receives ``replaced`` (number of names replaced) and
    ``parts`` (names of the parts changed).
    """
    matcher = names if isinstance(names, Matcher) else build_matcher(names)
    _drop_thumbnail(pkg)
    total, changed = 0, []
    for name in list(pkg.parts):
        data = pkg.parts[name]
        if not _looks_xml(name, data):
            continue
        if not _may_hold_name(data, matcher):
            if len(data) > 65536:
                _clean_memo(matcher)[name] = data
            continue
        root = pkg.xml(name)
        n = _strip_tree(root, matcher)
        if n:
            pkg.mark_changed(name)
            total += n
            changed.append(name)
    if stats is not None:
        stats["replaced"] = stats.get("replaced", 0) + total
        stats["parts"] = changed
    log.debug("replaced %d name(s) in %d part(s)", total, len(changed))
    return pkg


# -- verification -----------------------------------------------------------

def _leak(part: str, match, what: str = "a protected name") -> LeakDetected:
    code = match.name.replacement if match is not None else "?"
    return LeakDetected(
        f"Check failed: {what} for {code} is still in {part} of the coded document; nothing was sent.",
        reason="leak-detected",
    )


def _scan_tree(root: etree._Element, matcher: Matcher, part: str) -> None:
    for nodes in _streams(root):
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


def verify_no_names(data: bytes, names: list[ProtectedName] | Matcher, filename: str | None = None) -> None:
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
    for part, raw in pkg.parts.items():
        m = matcher.search(part)
        if m:
            raise _leak("a part name", m)
        if part.lower().endswith(UNSCANNABLE_EXT) or "/embeddings/" in part.lower():
            raise LeakDetected(
                f"The coded document holds an embedded file ({part}) that cannot be checked for names; "
                "nothing was sent. Please remove embedded objects from the form and send it again.",
                reason="unscannable",
            )
        if _looks_xml(part, raw):
            # the same cheap test on the same bytes gives the same answer: a large part
            # the stripper found clean and that was written unchanged is not tested twice
            if len(raw) > 65536 and _clean_memo(matcher).get(part) == raw:
                continue
            if not _may_hold_name(raw, matcher):
                continue
            try:
                root = parse_xml(raw)
            except BadDocument:
                root = None
            if root is None:
                _scan_binary(raw, matcher, part)
                continue
            _scan_tree(root, matcher, part)
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
                if _looks_xml(info.filename, raw):
                    _scan_tree(parse_xml(raw), matcher, info.filename)
                else:
                    _scan_binary(raw, matcher, info.filename)
            except LeakDetected:
                bad.append(info.filename)
    return bad
