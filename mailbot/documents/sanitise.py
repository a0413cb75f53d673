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
coordinator. :func:`~mailbot.documents.unverifiable.assert_no_unverifiable`
checks the bytes written afterwards and raises
:class:`~mailbot.errors.LeakDetected` if any of it is still there (fail closed).
What it knows of the package's structure is in :mod:`mailbot.documents.ooxml`,
how it cleans pictures in :mod:`mailbot.documents.images`.

Pure: no I/O, no logging of content.
"""

from __future__ import annotations

import posixpath
from collections import Counter

from lxml import etree

from mailbot.documents.images import STRIP, ImageUnreadable, image_kind
from mailbot.documents.ooxml import (ALTCHUNK_TYPES, ALWAYS_REMOVE, MARKUP, O_NS, OBJECT_TYPES, R_NS, THUMBNAIL_TYPES,
                                     V_NS, W, W_NS, as_utf8, inert_parts, is_external, is_rels, is_w,
                                     literal_external, local_name, ns_of, rel_type, rels_name_of, rels_source,
                                     resolve_in)
from mailbot.documents.package import Package
from mailbot.documents.unverifiable import assert_no_unverifiable
from mailbot.errors import BadDocument, LeakDetected

# -- the sanitiser ------------------------------------------------------------------

_BLOCK_CONTAINERS = {"tc", "hdr", "ftr", "footnote", "endnote", "comment", "txbxContent", "sdtContent",
                     "body", "docPartBody"}
_CONTENT = {"p", "tbl", "sdt", "customXml"}

def _resolve(pkg: Package, source: str, target: str) -> str | None:
    return resolve_in(pkg.parts, source, target)


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
                    if local_name(el) == "Override":
                        self._ct_types[(el.get("PartName") or "").lstrip("/").lower()] = el.get("ContentType") or ""
                    elif local_name(el) == "Default":
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
        for rels in [n for n in self.pkg.parts if is_rels(n)]:
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
        removed_ids, to_drop, incoming = self._drop_relationships()
        self._unlinked_thumbnails(to_drop)
        self._clean_elements(removed_ids, to_drop, inert_parts(incoming))
        for part in to_drop:  # parts pointed at only by what was removed
            self.drop_part(part)
        self._clean_properties()
        self._clean_pictures()
        self._drop_content_types()
        return [f"{what} ({count})" if count > 1 else what for what, count in self.notes.items()]

    # -- 1. relationships ---------------------------------------------------------
    def _drop_relationships(self) -> tuple[dict[str, set[str]], list[str], dict[str, set[str]]]:
        """Remove the relationships to what cannot be verified; returns (removed ids per source
        part, parts to drop, the types of the internal relationships into each part)."""
        pkg = self.pkg
        removed_ids: dict[str, set[str]] = {}
        to_drop: list[str] = []
        incoming: dict[str, set[str]] = {}
        for rels in [n for n in pkg.parts if is_rels(n)]:
            src = rels_source(rels)
            tree = pkg.xml(rels)
            hit = False
            for rel in list(tree):
                rtype, target = rel_type(rel), rel.get("Target") or ""
                if not is_external(rel):
                    incoming.setdefault(_resolve(pkg, src, target) or "", set()).add(rtype)
                if is_external(rel):
                    self.notes[_EXTERNAL_KIND.get(rtype, "a reference to something outside the document")] += 1
                else:
                    part = _resolve(pkg, src, target)
                    if not self._note_internal(rtype, part, target):
                        continue
                    if part:
                        to_drop.append(part)
                tree.remove(rel)
                removed_ids.setdefault(src, set()).add(rel.get("Id") or "")
                hit = True
            if hit:
                pkg.mark_changed(rels)
        return removed_ids, to_drop, incoming

    def _note_internal(self, rtype: str, part: str | None, target: str) -> bool:
        """Note an internal relationship that goes (an altChunk, thumbnail, printer settings,
        object, control or sub-document); False for one that stays."""
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
            return False
        return True

    def _unlinked_thumbnails(self, to_drop: list[str]) -> None:
        """Thumbnails with no relationship go too."""
        for name in list(self.pkg.parts):
            if name.lower().startswith("docprops/thumbnail.") and name not in to_drop:
                self.notes["the preview picture (thumbnail)"] += 1
                to_drop.append(name)

    # -- 2. the elements that point at them, and the elements never kept ---------
    def _clean_elements(self, removed_ids: dict[str, set[str]], to_drop: list[str], inert: set[str]) -> None:
        pkg = self.pkg
        for name in list(pkg.parts):
            if name in to_drop or name not in pkg.parts or is_rels(name) or not self._xmlish(name):
                continue
            if name in inert and name not in removed_ids:
                continue
            ids = removed_ids.get(name, set())
            raw = pkg.parts[name]
            if not ids and not MARKUP.search(as_utf8(raw)):
                continue
            try:
                root = pkg.xml(name)
            except BadDocument:
                continue  # not XML after all (a stray part): the verifier judges it
            if self._clean_tree(root, ids, name):
                pkg.mark_changed(name)

    # -- 5. text inside pictures ----------------------------------------------------
    def _clean_pictures(self) -> None:
        pkg = self.pkg
        n_img = 0
        for name in list(pkg.parts):
            data = pkg.parts[name]
            kind = image_kind(data)
            if kind is None:
                continue
            try:
                new = STRIP[kind](data)
            except ImageUnreadable:
                continue  # left for the verifier, which refuses it
            if new != data:
                pkg.set_bytes(name, new)
                n_img += 1
        if n_img:
            self.notes["text stored inside a picture (its details, not the picture)"] += n_img

    # -- 6. content types of dropped parts --------------------------------------------
    def _drop_content_types(self) -> None:
        pkg = self.pkg
        if self.dropped and "[Content_Types].xml" in pkg.parts:
            ct = pkg.xml("[Content_Types].xml")
            gone = {p.lower() for p in self.dropped}
            n = 0
            for el in list(ct):
                if local_name(el) == "Override" and (el.get("PartName") or "").lstrip("/").lower() in gone:
                    ct.remove(el)
                    n += 1
            if n:
                pkg.mark_changed("[Content_Types].xml")

    def _xmlish(self, name: str) -> bool:
        if name.endswith((".xml", ".vml")):
            return True
        head = self.pkg.parts[name][:64].lstrip()
        return head.startswith((b"<", b"\xef\xbb\xbf<"))

    # -- elements ----------------------------------------------------------------
    def _clean_tree(self, root, ids: set[str], part: str) -> bool:
        targets, changed = self._targets(root, ids)
        orphans: set[str] = set()
        for el, attr in targets:
            if _detached(el, root):
                continue
            if attr is None:
                self._remove_never_kept(el, ids, orphans)
            else:
                self._remove_reference(el, attr, orphans)
            changed = True
        if orphans:
            self._drop_orphans(root, part, orphans)
        return changed

    def _targets(self, root, ids: set[str]) -> tuple[list, bool]:
        """The elements never kept (attribute None) and the (element, attribute) pairs that use
        a removed relationship id; VML literal addresses are removed on the way (then True)."""
        changed = False
        targets = []
        for el in root.iter():
            if not isinstance(el.tag, str):
                continue
            loc = local_name(el)
            if loc in ALWAYS_REMOVE and (ns_of(el) in W_NS or ns_of(el) == O_NS):
                targets.append((el, None))
                continue
            if ns_of(el) in (V_NS, O_NS):  # VML writes some links as literal addresses, not relationships
                for attr in [a for a in el.attrib if literal_external(el, a)]:
                    del el.attrib[attr]
                    self.notes[_EXTERNAL_KIND["image" if loc in ("imagedata", "fill") else "hyperlink"]] += 1
                    changed = True
            if ids:
                for attr, value in el.attrib.items():
                    if attr.startswith("{") and attr[1:].split("}", 1)[0] in R_NS and value in ids:
                        targets.append((el, attr))
        return targets, changed

    def _remove_never_kept(self, el, ids: set[str], orphans: set[str]) -> None:
        """An altChunk, sub-document, object or control element."""
        loc = local_name(el)
        if not _refs(el) & ids:  # not counted from its relationship already
            self.notes[{"altChunk": "an imported section", "subDoc": "a sub-document"}.get(
                loc, "an embedded object or file")] += 1
        if loc == "altChunk":
            self._remove_block(el, orphans)
        elif loc == "subDoc":
            self._remove(el, orphans)
        else:  # object, OLEObject, control: the whole run content
            self._remove_run_child(el, orphans)

    def _remove_reference(self, el, attr: str, orphans: set[str]) -> None:
        """An element whose attribute ``attr`` uses a removed relationship: the link goes, and
        the element where it is nothing without it."""
        loc = local_name(el)
        attr_local = attr.rsplit("}", 1)[-1]
        if loc == "hyperlink" and is_w(el):
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
            self._remove_frame(el, orphans)
        elif loc == "blip" and attr_local == "link":
            del el.attrib[attr]
            if not any(a.rsplit("}", 1)[-1] == "embed" for a in el.attrib):
                self._remove_run_child(el, orphans)
        elif loc in ("imagedata", "fill", "OLEObject", "control", "blip", "object"):
            self._remove_run_child(el, orphans)
        else:
            del el.attrib[attr]

    def _remove_frame(self, el, orphans: set[str]) -> None:
        """A frame showing an outside document, and the framesets it leaves empty."""
        frame = el.getparent()
        if frame is not None and local_name(frame) == "frame":
            parent = frame.getparent()
            self._remove(frame, orphans)
            while parent is not None and local_name(parent) == "frameset" and \
                    not any(local_name(c) in ("frame", "frameset") for c in parent):
                nxt = parent.getparent()
                if nxt is None:
                    break
                self._remove(parent, orphans)
                parent = nxt
        else:
            self._remove(el, orphans)

    def _remove(self, el, orphans: set[str]) -> None:
        if el.getparent() is None:
            return
        orphans |= _refs(el)
        _remove_keep_tail(el)

    def _remove_block(self, el, orphans: set[str]) -> None:
        parent = el.getparent()
        self._remove(el, orphans)
        if parent is None or local_name(parent) not in _BLOCK_CONTAINERS:
            return
        if any(local_name(c) in _CONTENT for c in parent):
            return
        p = etree.Element("{%s}p" % (ns_of(parent) if ns_of(parent) in W_NS else W_NS[0]))
        last = parent[-1] if len(parent) else None
        if last is not None and local_name(last) == "sectPr":
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
            if local_name(parent) == "r" and is_w(parent):
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
            if rid in candidates and rid not in still and rel_type(rel) in (
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
        """The lists of links the document properties keep (HLinks, HyperlinkBase, _PID_HLINKS)."""
        pkg = self.pkg
        name = "docProps/app.xml"
        if name in pkg.parts and (b"HLinks" in pkg.parts[name] or b"HyperlinkBase" in pkg.parts[name]):
            root = pkg.xml(name)
            self._drop_link_list(name, [el for el in root if local_name(el) == "HLinks"
                                        or (local_name(el) == "HyperlinkBase" and (el.text or "").strip())])
        name = "docProps/custom.xml"
        if name in pkg.parts and b"_PID_" in pkg.parts[name]:
            root = pkg.xml(name)
            self._drop_link_list(name, [el for el in root if (el.get("name") or "").upper().startswith(
                ("_PID_HLINKS", "_PID_LINKBASE"))])

    def _drop_link_list(self, name: str, gone: list) -> None:
        for el in gone:
            _remove_keep_tail(el)
        if gone:
            self.pkg.mark_changed(name)
            self.notes["the list of links in the document properties"] += 1


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
        if local_name(node) == local:
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


