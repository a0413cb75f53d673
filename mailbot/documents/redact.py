"""Strip protected names from a Word package.

:func:`strip_names` works on the raw XML parts of the zip. Every XML part is
considered (body, headers, footers, footnotes, comments, glossary, text boxes,
properties, customXml data, settings, relationships...): a cheap test on the
raw bytes (:mod:`mailbot.documents.part_surface`) decides whether a part can hold a
name at all; parts that cannot are copied through untouched.

Inside a part, the text of a paragraph is read as streams
(:mod:`mailbot.documents.xml_streams`), so a name split over runs with different
formatting, spell-check or bookmark marks between them is found; the replacement
goes into the first node and the rest of the name is removed from the others, so
the formatting of untouched text is kept. Every other element text, tail, comment
and attribute value (alt text, content-control alias/tag, docVars, hyperlink
targets) is replaced in place. The thumbnail (a picture of page 1) is dropped.

The written bytes are checked by :mod:`mailbot.documents.verify`, which fails closed.
"""

from __future__ import annotations

import logging
import posixpath
import urllib.parse

from lxml import etree

from mailbot.documents.matcher import Matcher, build_matcher
from mailbot.documents.names import ProtectedName
from mailbot.documents.ooxml import is_rels, rels_name_of, rels_source, resolve_in
from mailbot.documents.package import Package
from mailbot.documents.part_surface import SurfaceCache, clean_memo, may_hold_name
from mailbot.documents.xml_streams import (SYM, TEXT_TAGS, W, looks_xml, package_caps_styles, streams,
                                          uses_styles)

log = logging.getLogger("mailbot.redact")

_XML_SPACE = "{http://www.w3.org/XML/1998/namespace}space"

THUMBNAIL_PREFIX = "docProps/thumbnail."


def coded_filename(codes: list[str]) -> str:
    """File name of a Coded Referral: CN78-coded-referral.docx (siblings: CN58A-CN58B-...)."""
    if not codes:
        raise ValueError("at least one case code is needed")
    return "-".join(codes) + "-coded-referral.docx"


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
        if el.tag == SYM:  # a letter of a name written as a symbol character becomes plain text
            el.tag = f"{{{W}}}t"
            el.attrib.clear()
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


def _strip_tree(root: etree._Element, matcher: Matcher, caps_styles: frozenset[str] = frozenset()) -> int:
    count = 0
    for nodes in streams(root, caps_styles):
        count += _replace_in_stream(nodes, matcher)
    clean: set[str] = set()  # values already found clean in this part ("0", "single", "auto"...)
    for el in root.iter():
        if el.tag not in TEXT_TAGS and el.text and el.text not in clean:
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


def _rename_named_parts(pkg: Package, matcher: Matcher) -> None:
    """A part whose name holds a protected name (word/media/oluwaseun_bakare_photo.png) gets a
    neutral name (word/media/renamed1.png); the relationships and content types that point at it
    follow it."""
    renames: dict[str, str] = {}
    for name in list(pkg.parts):
        if is_rels(name) or name == "[Content_Types].xml" or matcher.search(name) is None:
            continue
        folder, base = posixpath.split(name)
        ext = posixpath.splitext(base)[1]
        if matcher.search(ext):
            ext = ""
        n = len(renames) + 1
        while posixpath.join(folder, f"renamed{n}{ext}") in pkg.parts:
            n += 1
        renames[name] = posixpath.join(folder, f"renamed{n}{ext}")
    if not renames:
        return
    for rels in [n for n in pkg.parts if is_rels(n)]:
        root, changed, source = pkg.xml(rels), False, rels_source(rels)
        for rel in root:
            if (rel.get("TargetMode") or "").lower() == "external":
                continue
            target = resolve_in(pkg.parts, source, rel.get("Target") or "")
            if target in renames:
                rel.set("Target", "/" + renames[target])
                changed = True
        if changed:
            pkg.mark_changed(rels)
    if "[Content_Types].xml" in pkg.parts:
        ct = pkg.xml("[Content_Types].xml")
        for ov in ct:
            old = (ov.get("PartName") or "").lstrip("/")
            if old in renames:
                ov.set("PartName", "/" + renames[old])
        pkg.mark_changed("[Content_Types].xml")
    for old, new in renames.items():
        for a, b in ((old, new), (rels_name_of(old), rels_name_of(new))):
            if a in pkg.parts:
                pkg.parts[b] = pkg.parts.pop(a)
                if a in pkg._trees:
                    pkg._trees[b] = pkg._trees.pop(a)
                if a in pkg.compress:
                    pkg.compress[b] = pkg.compress.pop(a)


def strip_names(pkg: Package, names: list[ProtectedName] | Matcher, stats: dict | None = None,
                surfaces: SurfaceCache | None = None) -> Package:
    """Replace every protected name in every text-holding part of ``pkg`` (in place; returned).

    ``stats`` (optional dict) receives ``replaced`` (number of names replaced) and
    ``parts`` (names of the parts changed).
    """
    matcher = names if isinstance(names, Matcher) else build_matcher(names)
    _drop_thumbnail(pkg)
    _rename_named_parts(pkg, matcher)
    total, changed = 0, []
    caps = package_caps_styles(pkg)
    for name in list(pkg.parts):
        data = pkg.parts[name]
        if not looks_xml(name, data):
            continue
        if not may_hold_name(data, matcher, surfaces) and not uses_styles(data, caps):
            if len(data) > 65536:
                clean_memo(matcher)[name] = data
            continue
        root = pkg.xml(name)
        n = _strip_tree(root, matcher, caps)
        if n:
            pkg.mark_changed(name)
            total += n
            changed.append(name)
    if stats is not None:
        stats["replaced"] = stats.get("replaced", 0) + total
        stats["parts"] = changed
    log.debug("replaced %d name(s) in %d part(s)", total, len(changed))
    return pkg
