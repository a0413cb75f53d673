"""Remove what cannot be verified from a Word package before it is coded.

The name stripper and the verifier read the text of a document's XML parts.
Some content of a .docx is not such text, or is not in the document at all:

* altChunk parts: HTML, MHT, RTF or a whole .docx pasted in and imported by
  Word when it opens the file;
* embedded or linked OLE objects (w:object, o:OLEObject, ActiveX controls,
  the files under ``embeddings/``), sub-documents;
* external relationships (``TargetMode="External"``): a remote attached
  template, linked pictures (``r:link``), hyperlinks to web pages or file
  shares, linked objects, frames, mail-merge sources;
* text inside pictures (PNG text chunks, JPEG comments and APPn segments
  such as EXIF and XMP) and the preview picture ``docProps/thumbnail.*``.

:func:`sanitise` removes all of it from a :class:`~mailbot.documents.package.Package`
in place, together with the XML elements that point at it (so Word still
opens the result: a hyperlink keeps its visible text, an altChunk or an
object goes, its parts, relationships and content-type entries go), and
returns plain, name-free descriptions of what it removed for the
coordinator. :func:`assert_no_unverifiable` checks the bytes written
afterwards and raises :class:`~mailbot.errors.LeakDetected` if any of it is
still there (fail closed).

Pure: no I/O, no logging of content.
"""

from __future__ import annotations

import io
import posixpath
import re
import struct
import urllib.parse
import zipfile
from collections import Counter

from lxml import etree

from mailbot.documents.package import Package, parse_xml
from mailbot.errors import BadDocument, LeakDetected

# -- namespaces ----------------------------------------------------------------

W_NS = ("http://schemas.openxmlformats.org/wordprocessingml/2006/main",
        "http://purl.oclc.org/ooxml/wordprocessingml/main")
R_NS = ("http://schemas.openxmlformats.org/officeDocument/2006/relationships",
        "http://purl.oclc.org/ooxml/officeDocument/relationships")
O_NS = "urn:schemas-microsoft-com:office:office"
PR_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
W = "{%s}" % W_NS[0]

# relationship types (the last segment of the Type URI, lower case)
ALTCHUNK_TYPES = {"afchunk"}
OBJECT_TYPES = {"oleobject", "package", "activex", "activexbinary", "control", "subdocument",
                "printersettings"}
THUMBNAIL_TYPES = {"thumbnail"}
# parts Word only reads as styles, theme or font table (no runs, so no object, altChunk or VML
# in them; their links are relationships, checked like any other): the markup scan skips them
INERT_TYPES = {"styles", "styleswitheffects", "theme", "fonttable"}


def _inert(incoming: dict[str, set[str]]) -> set[str]:
    """Parts every relationship to which is a styles/theme/font-table one (and there is one)."""
    return {part for part, types in incoming.items() if types and types <= INERT_TYPES}

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
# elements that are never kept, whatever they point at (local names; namespace checked)
_ALWAYS_REMOVE = {"altChunk", "object", "OLEObject", "control", "subDoc"}
_ELEMENTS = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(?:altChunk|object|OLEObject|control|subDoc)[\s/>]")
_LITERAL = re.compile(rb"[\s:](?:href|src|althref)\s*=\s*[\"'](?:[A-Za-z][\w+.-]*:|\\\\|//)")


class _Markup:
    """One cheap test for the markup sanitise acts on (a regex with a literal start, then
    the VML address attributes only where the bytes say "href" or "src")."""

    @staticmethod
    def search(data: bytes) -> bool:
        if _ELEMENTS.search(data):
            return True
        return (b"href" in data or b"src=" in data or b"src =" in data) and bool(_LITERAL.search(data))


_MARKUP = _Markup()
V_NS = "urn:schemas-microsoft-com:vml"
_LITERAL_ATTRS = {"href", "src", "althref"}
_BLOCK_CONTAINERS = {"tc", "hdr", "ftr", "footnote", "endnote", "comment", "txbxContent", "sdtContent",
                     "body", "docPartBody"}
_CONTENT = {"p", "tbl", "sdt", "customXml"}

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# PNG chunks that carry pixels or how to show them, never text
PNG_KEEP = {b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"sBIT", b"pHYs",
            b"bKGD", b"hIST", b"acTL", b"fcTL", b"fdAT"}
# JPEG markers kept: SOFn, DHT, DAC, DQT, DRI, DNL, DHP, EXP, RSTn, SOS; APP0 only JFIF/JFXX, APP14 only Adobe
_JPEG_STANDALONE = set(range(0xD0, 0xD8)) | {0x01}


class ImageUnreadable(ValueError):
    """A PNG or JPEG whose structure could not be followed to the end."""


# -- image metadata --------------------------------------------------------------

def png_chunks(data: bytes):
    """Yield (type, start, end) for each chunk of a PNG, up to and including IEND; then
    (b"", end of IEND, len(data)) for anything after it. Raises ImageUnreadable on a damaged
    structure (the one walk over a PNG: the cleaner, its check, and the verifier use it)."""
    if not data.startswith(PNG_MAGIC):
        raise ImageUnreadable("not a PNG")
    pos, n = len(PNG_MAGIC), len(data)
    while True:
        if pos + 8 > n:
            raise ImageUnreadable("PNG ends before IEND")
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        end = pos + 12 + length
        if end > n:
            raise ImageUnreadable("PNG chunk runs past the end")
        yield ctype, pos, end
        pos = end
        if ctype == b"IEND":
            yield b"", pos, n
            return


def png_strip_text(data: bytes) -> bytes:
    """The PNG with only pixel and colour chunks kept (no tEXt, zTXt, iTXt, eXIf, iCCP, ...).

    Anything after IEND is dropped. Raises ImageUnreadable on a damaged structure.
    """
    return PNG_MAGIC + b"".join(data[start:end] for ctype, start, end in png_chunks(data) if ctype in PNG_KEEP)


def png_text_chunks(data: bytes) -> list[bytes]:
    """The chunk types of a PNG that are not in the kept set (empty: nothing but pixels)."""
    bad = []
    for ctype, start, end in png_chunks(data):
        if ctype == b"":
            if data[start:end].strip(b"\x00"):
                bad.append(b"trailing data")
        elif ctype not in PNG_KEEP:
            bad.append(ctype)
    return bad


def _jpeg_keep(marker: int, payload: bytes) -> bool:
    if marker == 0xFE:  # COM
        return False
    if marker == 0xE0:
        return payload.startswith((b"JFIF\x00", b"JFXX\x00"))
    if marker == 0xEE:
        return payload.startswith(b"Adobe")
    return not (0xE1 <= marker <= 0xEF)


def _jpeg_segments(data: bytes):
    """Yield (start, end, marker, payload) for every segment; entropy-coded data as marker None."""
    if not data.startswith(b"\xff\xd8"):
        raise ImageUnreadable("not a JPEG")
    yield 0, 2, 0xD8, b""
    pos, n = 2, len(data)
    while pos < n:
        if data[pos] != 0xFF:
            raise ImageUnreadable("JPEG marker expected")
        # fill bytes
        while pos < n and data[pos] == 0xFF:
            pos += 1
        if pos >= n:
            raise ImageUnreadable("JPEG ends inside a marker")
        marker = data[pos]
        start = pos - 1
        pos += 1
        if marker == 0xD9:  # EOI
            yield start, pos, marker, b""
            return
        if marker in _JPEG_STANDALONE:
            yield start, pos, marker, b""
            continue
        if pos + 2 > n:
            raise ImageUnreadable("JPEG segment length missing")
        (length,) = struct.unpack(">H", data[pos:pos + 2])
        if length < 2 or pos + length > n:
            raise ImageUnreadable("JPEG segment runs past the end")
        end = pos + length
        yield start, end, marker, data[pos + 2:end]
        pos = end
        if marker == 0xDA:  # SOS: entropy-coded data up to the next marker that is not RSTn or stuffing
            scan = pos
            while True:
                scan = data.find(b"\xff", scan)
                if scan < 0 or scan + 1 >= n:
                    raise ImageUnreadable("JPEG scan data has no end")
                nxt = data[scan + 1]
                if nxt == 0x00 or 0xD0 <= nxt <= 0xD7 or nxt == 0xFF:
                    scan += 1 if nxt == 0xFF else 2
                    continue
                break
            yield pos, scan, None, b""
            pos = scan
    raise ImageUnreadable("JPEG ends before EOI")


def jpeg_strip_text(data: bytes) -> bytes:
    """The JPEG without COM and APP1-APP15 segments (APP0 JFIF and APP14 Adobe kept), nothing after EOI."""
    out = []
    for start, end, marker, payload in _jpeg_segments(data):
        if marker is None or _jpeg_keep(marker, payload):
            out.append(data[start:end])
    return b"".join(out)


def jpeg_text_segments(data: bytes) -> list[str]:
    """The metadata segments still in a JPEG (COM, APPn other than JFIF/Adobe, trailing data)."""
    bad, last = [], 0
    for _start, end, marker, payload in _jpeg_segments(data):
        last = end
        if marker is not None and not _jpeg_keep(marker, payload):
            bad.append("COM" if marker == 0xFE else f"APP{marker - 0xE0}")
    if data[last:].strip(b"\x00"):
        bad.append("trailing data")
    return bad


def _gif_blocks(data: bytes):
    """Yield (start, end, keep) for the parts of a GIF; keep is False for text (comments, plain
    text, application data other than the animation loop)."""
    if not data.startswith((b"GIF87a", b"GIF89a")) or len(data) < 13:
        raise ImageUnreadable("not a GIF")
    pos = 13
    flags = data[10]
    if flags & 0x80:
        pos += 3 * (2 << (flags & 7))
    yield 0, pos, True
    n = len(data)

    def sub_blocks(p: int) -> int:
        while True:
            if p >= n:
                raise ImageUnreadable("GIF ends inside a block")
            size = data[p]
            p += 1 + size
            if size == 0:
                return p
    while pos < n:
        kind = data[pos]
        if kind == 0x3B:  # trailer
            yield pos, pos + 1, True
            return
        if kind == 0x2C:  # image: descriptor, local colour table, LZW code size, data
            if pos + 10 > n:
                raise ImageUnreadable("GIF image descriptor cut")
            f = data[pos + 9]
            end = pos + 10 + (3 * (2 << (f & 7)) if f & 0x80 else 0) + 1
            end = sub_blocks(end)
            yield pos, end, True
            pos = end
        elif kind == 0x21:
            if pos + 2 > n:
                raise ImageUnreadable("GIF extension cut")
            label = data[pos + 1]
            end = sub_blocks(pos + 2)
            keep = label == 0xF9 or (label == 0xFF and data[pos + 2:pos + 14] in (
                b"\x0bNETSCAPE2.0", b"\x0bANIMEXTS1.0"))
            yield pos, end, keep
            pos = end
        else:
            raise ImageUnreadable("GIF block unknown")
    raise ImageUnreadable("GIF ends before its trailer")


def gif_strip_text(data: bytes) -> bytes:
    """The GIF without comment, plain-text and application extensions (the animation loop kept)."""
    return b"".join(data[a:b] for a, b, keep in _gif_blocks(data) if keep)


def gif_text_blocks(data: bytes) -> int:
    """How many text-carrying blocks (and trailing data) a GIF still has."""
    bad, last = 0, 0
    for _a, b, keep in _gif_blocks(data):
        bad += not keep
        last = b
    return bad + bool(data[last:].strip(b"\x00"))


def image_kind(data: bytes) -> str | None:
    if data.startswith(PNG_MAGIC):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    return None


_STRIP = {"png": png_strip_text, "jpeg": jpeg_strip_text, "gif": gif_strip_text}
_TEXT_LEFT = {"png": png_text_chunks, "jpeg": jpeg_text_segments, "gif": gif_text_blocks}


# -- the package ------------------------------------------------------------------

def _local(el) -> str:
    tag = el.tag
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def _ns(el) -> str:
    tag = el.tag
    return tag[1:].split("}", 1)[0] if isinstance(tag, str) and tag.startswith("{") else ""


def _is_w(el) -> bool:
    return _ns(el) in W_NS


def _rel_type(rel) -> str:
    return (rel.get("Type") or "").rstrip("/").rsplit("/", 1)[-1].lower()


def is_external(rel) -> bool:
    """A relationship that points outside the package (or a target written as a URL or UNC path)."""
    if (rel.get("TargetMode") or "").strip().lower() == "external":
        return True
    target = (rel.get("Target") or "").strip()
    return bool(_SCHEME.match(target)) or target.startswith(("\\\\", "//"))


def rels_source(rels_name: str) -> str:
    """'word/_rels/document.xml.rels' -> 'word/document.xml'; '_rels/.rels' -> '' (the package)."""
    folder, base = posixpath.split(rels_name)
    parent = posixpath.dirname(folder)
    src = base[:-len(".rels")]
    return posixpath.join(parent, src) if src else ""


def rels_name_of(part: str) -> str:
    folder, base = posixpath.split(part)
    return posixpath.join(folder, "_rels", base + ".rels")


def _is_rels(name: str) -> bool:
    return name.endswith(".rels") and ("/_rels/" in "/" + name)


def _resolve(pkg: Package, source: str, target: str) -> str | None:
    return _resolve_in(pkg.parts, source, target)


def _resolve_in(parts, source: str, target: str) -> str | None:
    """The part name a relationship's internal target points at, if that part exists."""
    target = target.strip()
    if target.startswith("/"):
        path = target.lstrip("/")
    else:
        path = posixpath.normpath(posixpath.join(posixpath.dirname(source), target))
    if path in parts:
        return path
    unq = urllib.parse.unquote(path)
    if unq in parts:
        return unq
    low = {n.lower(): n for n in parts}
    return low.get(path.lower()) or low.get(unq.lower())


def _chunk_kind(part: str | None, ctype: str) -> str:
    ext = posixpath.splitext(part or "")[1].lower()
    ctype = ctype.lower()
    if ext in (".htm", ".html", ".xhtml") or "html" in ctype:
        return "an imported web (HTML) section"
    if ext in (".mht", ".mhtml") or "rfc822" in ctype or "multipart" in ctype:
        return "an imported web archive (MHT) section"
    if ext == ".rtf" or "rtf" in ctype:
        return "an imported RTF section"
    if ext in (".docx", ".docm", ".dotx", ".dotm") or "wordprocessingml" in ctype:
        return "an imported Word document section"
    if ext == ".txt" or "text/plain" in ctype:
        return "an imported text section"
    return "an imported section"


_EXTERNAL_KIND = {
    "hyperlink": "a link to a web page or file share (the text is kept)",
    "image": "a linked picture from outside the document",
    "attachedtemplate": "the attached template from outside the document",
    "oleobject": "a linked object from outside the document",
    "subdocument": "a linked sub-document",
    "frame": "a frame showing an outside document",
    "mailmergesource": "a mail-merge data source",
    "recipientdata": "a mail-merge data source",
}


class _Sanitiser:
    def __init__(self, pkg: Package):
        self.pkg = pkg
        self.notes: Counter[str] = Counter()
        self.dropped: set[str] = set()
        self.changed: set[str] = set()
        self._ct_types: dict[str, str] | None = None

    # -- content types ---------------------------------------------------------
    def content_type(self, part: str) -> str:
        if self._ct_types is None:
            self._ct_types = {}
            if "[Content_Types].xml" in self.pkg.parts:
                for el in self.pkg.xml("[Content_Types].xml"):
                    if _local(el) == "Override":
                        self._ct_types[(el.get("PartName") or "").lstrip("/").lower()] = el.get("ContentType") or ""
                    elif _local(el) == "Default":
                        self._ct_types["*." + (el.get("Extension") or "").lower()] = el.get("ContentType") or ""
        p = part.lower()
        return self._ct_types.get(p) or self._ct_types.get("*." + posixpath.splitext(p)[1][1:], "")

    # -- parts -----------------------------------------------------------------
    def drop_part(self, part: str) -> None:
        """Drop a part, its own relationships and the parts only they point at."""
        if part in self.dropped or part not in self.pkg.parts:
            return
        self.pkg.drop(part)
        self.dropped.add(part)
        rels = rels_name_of(part)
        if rels in self.pkg.parts:
            try:
                tree = self.pkg.xml(rels)
            except BadDocument:
                tree = None
            self.pkg.drop(rels)
            self.dropped.add(rels)
            for rel in (list(tree) if tree is not None else []):
                if is_external(rel):
                    continue
                target = _resolve(self.pkg, part, rel.get("Target") or "")
                if target and not self.targeted(target):
                    self.drop_part(target)

    def targeted(self, part: str) -> bool:
        """Whether any remaining relationship points at ``part``."""
        for rels in [n for n in self.pkg.parts if _is_rels(n)]:
            src = rels_source(rels)
            try:
                tree = self.pkg.xml(rels)
            except BadDocument:
                continue
            for rel in tree:
                if not is_external(rel) and _resolve(self.pkg, src, rel.get("Target") or "") == part:
                    return True
        return False

    # -- the run ---------------------------------------------------------------
    def run(self) -> list[str]:
        pkg = self.pkg
        # 1. relationships to remove, per source part
        removed_ids: dict[str, set[str]] = {}
        to_drop: list[str] = []
        incoming: dict[str, set[str]] = {}
        for rels in [n for n in pkg.parts if _is_rels(n)]:
            src = rels_source(rels)
            tree = pkg.xml(rels)
            hit = False
            for rel in list(tree):
                rtype, target = _rel_type(rel), rel.get("Target") or ""
                if not is_external(rel):
                    incoming.setdefault(_resolve(pkg, src, target) or "", set()).add(rtype)
                if is_external(rel):
                    self.notes[_EXTERNAL_KIND.get(rtype, "a reference to something outside the document")] += 1
                else:
                    part = _resolve(pkg, src, target)
                    tl = (part or target).lower()
                    if rtype in ALTCHUNK_TYPES:
                        self.notes[_chunk_kind(part, self.content_type(part or target))] += 1
                    elif rtype in THUMBNAIL_TYPES or tl.startswith("docprops/thumbnail."):
                        self.notes["the preview picture (thumbnail)"] += 1
                    elif rtype == "printersettings":
                        self.notes["the printer settings"] += 1
                    elif rtype in OBJECT_TYPES or "/embeddings/" in "/" + tl or "/activex/" in "/" + tl:
                        if rtype == "subdocument":
                            self.notes["a sub-document"] += 1
                        elif rtype in ("activex", "activexbinary", "control") or "activex" in tl:
                            self.notes["a form control (ActiveX)"] += 1
                        else:
                            self.notes["an embedded object or file"] += 1
                    else:
                        continue
                    if part:
                        to_drop.append(part)
                tree.remove(rel)
                removed_ids.setdefault(src, set()).add(rel.get("Id") or "")
                hit = True
            if hit:
                pkg.mark_changed(rels)
        # thumbnails with no relationship
        for name in list(pkg.parts):
            if name.lower().startswith("docprops/thumbnail.") and name not in to_drop:
                self.notes["the preview picture (thumbnail)"] += 1
                to_drop.append(name)
        # 2. the elements that point at them, and the elements never kept
        inert = _inert(incoming)
        for name in list(pkg.parts):
            if name in to_drop or name not in pkg.parts or _is_rels(name) or not self._xmlish(name):
                continue
            if name in inert and name not in removed_ids:
                continue
            ids = removed_ids.get(name, set())
            raw = pkg.parts[name]
            if not ids and not _MARKUP.search(_as_utf8(raw)):
                continue
            try:
                root = pkg.xml(name)
            except BadDocument:
                continue  # not XML after all (a stray part): the verifier judges it
            if self._clean_tree(root, ids, name):
                pkg.mark_changed(name)
        # 3. parts pointed at only by what was removed
        for part in to_drop:
            self.drop_part(part)
        # 4. document properties that list links
        self._clean_properties()
        # 5. text inside pictures
        n_img = 0
        for name in list(pkg.parts):
            data = pkg.parts[name]
            kind = image_kind(data)
            if kind is None:
                continue
            try:
                new = _STRIP[kind](data)
            except ImageUnreadable:
                continue  # left for the verifier, which refuses it
            if new != data:
                pkg.set_bytes(name, new)
                n_img += 1
        if n_img:
            self.notes["text stored inside a picture (its details, not the picture)"] += n_img
        # 6. content types of dropped parts
        if self.dropped and "[Content_Types].xml" in pkg.parts:
            ct = pkg.xml("[Content_Types].xml")
            gone = {p.lower() for p in self.dropped}
            n = 0
            for el in list(ct):
                if _local(el) == "Override" and (el.get("PartName") or "").lstrip("/").lower() in gone:
                    ct.remove(el)
                    n += 1
            if n:
                pkg.mark_changed("[Content_Types].xml")
        return [f"{what} ({count})" if count > 1 else what for what, count in self.notes.items()]

    def _xmlish(self, name: str) -> bool:
        if name.endswith((".xml", ".vml")):
            return True
        head = self.pkg.parts[name][:64].lstrip()
        return head.startswith((b"<", b"\xef\xbb\xbf<"))

    # -- elements ----------------------------------------------------------------
    def _clean_tree(self, root, ids: set[str], part: str) -> bool:
        changed = False
        targets = []
        for el in root.iter():
            if not isinstance(el.tag, str):
                continue
            loc = _local(el)
            if loc in _ALWAYS_REMOVE and (_ns(el) in W_NS or _ns(el) == O_NS):
                targets.append((el, None))
                continue
            if _ns(el) in (V_NS, O_NS):  # VML writes some links as literal addresses, not relationships
                for attr in [a for a in el.attrib if _literal_external(el, a)]:
                    del el.attrib[attr]
                    self.notes[_EXTERNAL_KIND["image" if loc in ("imagedata", "fill") else "hyperlink"]] += 1
                    changed = True
            if ids:
                for attr, value in el.attrib.items():
                    if attr.startswith("{") and attr[1:].split("}", 1)[0] in R_NS and value in ids:
                        targets.append((el, attr))
        orphans: set[str] = set()
        for el, attr in targets:
            if _detached(el, root):
                continue
            loc = _local(el)
            if attr is None:
                if not _refs(el) & ids:  # not counted from its relationship already
                    self.notes[{"altChunk": "an imported section", "subDoc": "a sub-document"}.get(
                        loc, "an embedded object or file")] += 1
                if loc == "altChunk":
                    self._remove_block(el, orphans)
                elif loc == "subDoc":
                    self._remove(el, orphans)
                else:  # object, OLEObject, control: the whole run content
                    self._remove_run_child(el, orphans)
                changed = True
                continue
            attr_local = attr.rsplit("}", 1)[-1]
            if loc == "hyperlink" and _is_w(el):
                if el.get(W + "anchor") is not None or el.get("{%s}anchor" % W_NS[1]) is not None:
                    del el.attrib[attr]
                else:
                    _unwrap(el)
            elif loc in ("hlinkClick", "hlinkHover", "hlinkMouseOver", "attachedTemplate", "externalData",
                         "subDoc", "altChunk", "headerSource", "dataSource", "recipientData"):
                if loc in ("headerSource", "dataSource", "recipientData"):
                    mm = _ancestor(el, "mailMerge")
                    self._remove(mm if mm is not None else el, orphans)
                elif loc == "altChunk":
                    self._remove_block(el, orphans)
                else:
                    self._remove(el, orphans)
            elif loc == "sourceFileName":
                frame = el.getparent()
                if frame is not None and _local(frame) == "frame":
                    parent = frame.getparent()
                    self._remove(frame, orphans)
                    while parent is not None and _local(parent) == "frameset" and \
                            not any(_local(c) in ("frame", "frameset") for c in parent):
                        nxt = parent.getparent()
                        if nxt is None:
                            break
                        self._remove(parent, orphans)
                        parent = nxt
                else:
                    self._remove(el, orphans)
            elif loc == "blip" and attr_local == "link":
                del el.attrib[attr]
                if not any(a.rsplit("}", 1)[-1] == "embed" for a in el.attrib):
                    self._remove_run_child(el, orphans)
            elif loc in ("imagedata", "fill", "OLEObject", "control", "blip", "object"):
                self._remove_run_child(el, orphans)
            else:
                del el.attrib[attr]
            changed = True
        if orphans:
            self._drop_orphans(root, part, orphans)
        return changed

    def _remove(self, el, orphans: set[str]) -> None:
        if el.getparent() is None:
            return
        orphans |= _refs(el)
        _remove_keep_tail(el)

    def _remove_block(self, el, orphans: set[str]) -> None:
        parent = el.getparent()
        self._remove(el, orphans)
        if parent is None or _local(parent) not in _BLOCK_CONTAINERS:
            return
        if any(_local(c) in _CONTENT for c in parent):
            return
        p = etree.Element("{%s}p" % (_ns(parent) if _ns(parent) in W_NS else W_NS[0]))
        last = parent[-1] if len(parent) else None
        if last is not None and _local(last) == "sectPr":
            last.addprevious(p)
        else:
            parent.append(p)

    def _remove_run_child(self, el, orphans: set[str]) -> None:
        """Remove the child of the run (w:r) that holds ``el`` (a drawing, picture, object...)."""
        node = el
        while True:
            parent = node.getparent()
            if parent is None:
                self._remove(el, orphans)
                return
            if _local(parent) == "r" and _is_w(parent):
                self._remove(node, orphans)
                return
            node = parent

    def _drop_orphans(self, root, part: str, candidates: set[str]) -> None:
        """Relationships (and their parts) only the removed elements used: images, objects, links."""
        still = _refs(root)
        rels = rels_name_of(part)
        if rels not in self.pkg.parts:
            return
        tree = self.pkg.xml(rels)
        hit = False
        parts = []
        for rel in list(tree):
            rid = rel.get("Id") or ""
            if rid in candidates and rid not in still and _rel_type(rel) in (
                    "image", "oleobject", "package", "hyperlink", "control", "activex", "afchunk",
                    "subdocument", "attachedtemplate", "frame", "chart", "diagramdata"):
                tree.remove(rel)
                hit = True
                if not is_external(rel):
                    target = _resolve(self.pkg, part, rel.get("Target") or "")
                    if target:
                        parts.append(target)
        if hit:
            self.pkg.mark_changed(rels)
        for target in parts:
            if not self.targeted(target):
                self.drop_part(target)

    def _clean_properties(self) -> None:
        pkg = self.pkg
        name = "docProps/app.xml"
        if name in pkg.parts and (b"HLinks" in pkg.parts[name] or b"HyperlinkBase" in pkg.parts[name]):
            root = pkg.xml(name)
            gone = [el for el in root if _local(el) == "HLinks"
                    or (_local(el) == "HyperlinkBase" and (el.text or "").strip())]
            for el in gone:
                _remove_keep_tail(el)
            if gone:
                pkg.mark_changed(name)
                self.notes["the list of links in the document properties"] += 1
        name = "docProps/custom.xml"
        if name in pkg.parts and b"_PID_" in pkg.parts[name]:
            root = pkg.xml(name)
            gone = [el for el in root if (el.get("name") or "").upper().startswith(("_PID_HLINKS", "_PID_LINKBASE"))]
            for el in gone:
                _remove_keep_tail(el)
            if gone:
                pkg.mark_changed(name)
                self.notes["the list of links in the document properties"] += 1


def _literal_external(el, attr: str) -> bool:
    """A VML attribute (href, o:href, src, althref) holding a URL, UNC or absolute file address."""
    if attr.startswith("{") and attr[1:].split("}", 1)[0] not in (V_NS, O_NS):
        return False
    if attr.rsplit("}", 1)[-1] not in _LITERAL_ATTRS:
        return False
    value = (el.get(attr) or "").strip()
    return bool(_SCHEME.match(value)) or value.startswith(("\\\\", "//"))


def _refs(el) -> set[str]:
    """The relationship ids used anywhere in ``el``'s subtree."""
    out = set()
    for sub in el.iter():
        if isinstance(sub.tag, str):
            for attr, value in sub.attrib.items():
                if attr.startswith("{") and attr[1:].split("}", 1)[0] in R_NS:
                    out.add(value)
    return out


def _detached(el, root) -> bool:
    node = el
    while node is not None:
        if node is root:
            return False
        node = node.getparent()
    return True


def _ancestor(el, local: str):
    node = el.getparent()
    while node is not None:
        if _local(node) == local:
            return node
        node = node.getparent()
    return None


def _remove_keep_tail(el) -> None:
    parent = el.getparent()
    if parent is None:
        return
    if el.tail:
        prev = el.getprevious()
        if prev is not None:
            prev.tail = (prev.tail or "") + el.tail
        else:
            parent.text = (parent.text or "") + el.tail
    parent.remove(el)


def _unwrap(el) -> None:
    """Replace ``el`` by its children (a hyperlink loses its link, keeps its runs)."""
    parent = el.getparent()
    if parent is None:
        return
    idx = parent.index(el)
    for child in list(el):
        parent.insert(idx, child)
        idx += 1
    _remove_keep_tail(el)


def _as_utf8(data: bytes) -> bytes:
    head = data[:4]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in head:
        for enc in ("utf-16", "utf-16-le", "utf-16-be"):
            try:
                return data.decode(enc).encode("utf-8")
            except UnicodeDecodeError:
                continue
    return data


def sanitise(pkg: Package) -> list[str]:
    """Remove unverifiable content from ``pkg`` in place; plain, name-free notes of what went.

    A damaged part raises BadDocument (as reading it would); anything else unexpected
    raises LeakDetected: nothing is coded from a document that could not be cleaned.
    """
    try:
        return _Sanitiser(pkg).run()
    except (BadDocument, LeakDetected):
        raise
    except Exception as exc:  # noqa: BLE001 - fail closed, with a plain reason
        raise LeakDetected("The form has embedded or linked content that could not be removed safely; "
                           "nothing was sent.", reason="unsanitisable") from exc


def sanitised_bytes(pkg: Package) -> bytes:
    """Sanitise ``pkg``, write it and verify the bytes (for documents coded without names: minutes)."""
    sanitise(pkg)
    data = pkg.to_bytes()
    assert_no_unverifiable(data)
    return data


# -- the verifier ------------------------------------------------------------------

def _refuse(what: str, reason: str) -> LeakDetected:
    return LeakDetected(f"Check failed: the coded document still has {what}, which cannot be checked for "
                        "names; nothing was sent.", reason=reason)


def assert_no_unverifiable(data: bytes) -> None:
    """Raise LeakDetected if the written .docx still has anything :func:`sanitise` removes.

    External relationships, altChunks, OLE objects and controls, embedded files,
    sub-documents, a thumbnail, text inside a PNG/JPEG/GIF picture, or a picture that
    cannot be followed: fail closed. Only the styles, theme and font table are not
    scanned for markup (their relationships are, like every other).
    """
    try:
        zf = zipfile.ZipFile(io.BytesIO(bytes(data)))
        infos = [i for i in zf.infolist() if not i.is_dir()]
        names = {i.filename for i in infos}
        rels_raw = {i.filename: zf.read(i) for i in infos if _is_rels(i.filename)}
    except Exception as exc:  # noqa: BLE001 - whatever it is, it was not checked
        raise LeakDetected("The coded document could not be checked for hidden content; nothing was sent.",
                           reason="unscannable") from exc
    incoming: dict[str, set[str]] = {}
    for name, raw in rels_raw.items():
        try:
            tree = parse_xml(raw)
        except BadDocument as exc:
            raise _refuse("a damaged list of links", "unscannable") from exc
        src = rels_source(name)
        for rel in tree:
            if isinstance(rel.tag, str) and not is_external(rel):
                incoming.setdefault(_resolve_in(names, src, rel.get("Target") or "") or "", set()).add(
                    _rel_type(rel))
    inert = _inert(incoming)
    for info in infos:
        name = info.filename
        low = "/" + name.lower()
        if "/embeddings/" in low or "/activex/" in low or low.endswith(".bin"):
            raise _refuse("an embedded object or file", "embedded-object")
        if low.startswith("/docprops/thumbnail."):
            raise _refuse("a preview picture (thumbnail)", "thumbnail")
        if name in inert and not _is_rels(name):
            continue
        if _is_rels(name):
            tree = parse_xml(rels_raw[name])
            for rel in tree:
                if not isinstance(rel.tag, str):
                    continue
                rtype = _rel_type(rel)
                if is_external(rel):
                    raise _refuse("a link to something outside the document (a web address, file share "
                                  "or remote template)", "external-link")
                if rtype in ALTCHUNK_TYPES:
                    raise _refuse("an imported section (HTML, MHT, RTF or Word)", "alt-chunk")
                if rtype in OBJECT_TYPES - {"printersettings"}:
                    raise _refuse("an embedded object, control or sub-document", "embedded-object")
                if rtype in THUMBNAIL_TYPES:
                    raise _refuse("a preview picture (thumbnail)", "thumbnail")
            continue
        try:
            raw = zf.read(info)
        except Exception as exc:  # noqa: BLE001
            raise LeakDetected("The coded document could not be checked for hidden content; nothing was sent.",
                               reason="unscannable") from exc
        kind = image_kind(raw)
        if kind is not None:
            try:
                bad = _TEXT_LEFT[kind](raw)
            except ImageUnreadable as exc:
                raise _refuse("a picture whose contents could not be read", "image-unreadable") from exc
            if bad:
                raise _refuse("text stored inside a picture", "image-text")
            continue
        head = raw[:64].lstrip()
        if name.endswith((".xml", ".vml")) or head.startswith((b"<", b"\xef\xbb\xbf<")) or \
                head.startswith((b"\xff\xfe", b"\xfe\xff")):
            text = _as_utf8(raw)
            if _MARKUP.search(text):
                try:
                    root = parse_xml(text)
                except BadDocument as exc:
                    raise _refuse("a part that could not be read", "unscannable") from exc
                for el in root.iter():
                    if _ns(el) in (V_NS, O_NS) and any(_literal_external(el, a) for a in el.attrib):
                        raise _refuse("a link to something outside the document (a web address, file share "
                                      "or remote template)", "external-link")
                    if _local(el) in _ALWAYS_REMOVE and (_ns(el) in W_NS or _ns(el) == O_NS):
                        if _local(el) == "altChunk":
                            raise _refuse("an imported section (HTML, MHT, RTF or Word)", "alt-chunk")
                        raise _refuse("an embedded object, control or sub-document", "embedded-object")


__all__ = ["sanitise", "sanitised_bytes", "assert_no_unverifiable", "png_strip_text", "jpeg_strip_text", "png_text_chunks",
           "jpeg_text_segments", "gif_strip_text", "gif_text_blocks", "is_external", "ImageUnreadable"]
