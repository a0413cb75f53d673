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
how it cleans pictures in :mod:`mailbot.documents.images`, how it cleans the elements of each XML
part in :mod:`mailbot.documents.sanitise_elements`.

Pure: no I/O, no logging of content.
"""

from __future__ import annotations

import posixpath
from collections import Counter

from mailbot.documents.images import STRIP, ImageUnreadable, image_kind
from mailbot.documents.ooxml import (ALTCHUNK_TYPES, MARKUP, OBJECT_TYPES, THUMBNAIL_TYPES, as_utf8, inert_parts,
                                     is_external, is_rels, local_name, rel_type, rels_name_of, rels_source,
                                     resolve_in)
from mailbot.documents.package import Package
from mailbot.documents.sanitise_elements import (EXTERNAL_KIND as _EXTERNAL_KIND, TreeCleaner, refs as _refs,
                                                 remove_keep_tail as _remove_keep_tail)
from mailbot.documents.unverifiable import assert_no_unverifiable
from mailbot.errors import BadDocument, LeakDetected

# -- the sanitiser ------------------------------------------------------------------

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
        changed, orphans = TreeCleaner(self.notes).clean(root, ids)
        if orphans:
            self._drop_orphans(root, part, orphans)
        return changed

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


