"""The sanitiser's work inside one XML part: remove the elements that are never kept and those that
use a relationship the sanitiser removed (pure).

mailbot.documents.sanitise decides which relationships and parts go; :class:`TreeCleaner` then
cleans each XML part's tree so that Word still opens the result: an altChunk, object, control or
sub-document element goes (an empty cell or header keeps its one paragraph), a hyperlink keeps its
visible text, a linked picture or a frame goes, a mail-merge source goes with its mailMerge. It
notes what it removed in the sanitiser's counter and answers the relationship ids the removed
elements used (their relationships may now go too).
"""

from __future__ import annotations

from collections import Counter

from lxml import etree

from mailbot.documents.ooxml import (ALWAYS_REMOVE, O_NS, R_NS, V_NS, W, W_NS, is_w, literal_external, local_name,
                                     ns_of)

__all__ = ["EXTERNAL_KIND", "TreeCleaner", "refs", "remove_keep_tail"]

_BLOCK_CONTAINERS = {"tc", "hdr", "ftr", "footnote", "endnote", "comment", "txbxContent", "sdtContent",
                     "body", "docPartBody"}
_CONTENT = {"p", "tbl", "sdt", "customXml"}

#: what an external relationship of each type is, as the coordinator is told
EXTERNAL_KIND = {
    "hyperlink": "a link to a web page or file share (the text is kept)",
    "image": "a linked picture from outside the document",
    "attachedtemplate": "the attached template from outside the document",
    "oleobject": "a linked object from outside the document",
    "subdocument": "a linked sub-document",
    "frame": "a frame showing an outside document",
    "mailmergesource": "a mail-merge data source",
    "recipientdata": "a mail-merge data source",
}


class TreeCleaner:
    """Cleans the trees of one sanitiser run; ``notes`` is the sanitiser's count of what went."""

    def __init__(self, notes: Counter[str]):
        self.notes = notes

    def clean(self, root, ids: set[str]) -> tuple[bool, set[str]]:
        """Clean ``root`` (``ids``: the relationship ids removed from its part): whether it changed,
        and the relationship ids the removed elements used."""
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
        return changed, orphans

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
                    self.notes[EXTERNAL_KIND["image" if loc in ("imagedata", "fill") else "hyperlink"]] += 1
                    changed = True
            if ids:
                for attr, value in el.attrib.items():
                    if attr.startswith("{") and attr[1:].split("}", 1)[0] in R_NS and value in ids:
                        targets.append((el, attr))
        return targets, changed

    def _remove_never_kept(self, el, ids: set[str], orphans: set[str]) -> None:
        """An altChunk, sub-document, object or control element."""
        loc = local_name(el)
        if not refs(el) & ids:  # not counted from its relationship already
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
        orphans |= refs(el)
        remove_keep_tail(el)

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


def refs(el) -> set[str]:
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


def remove_keep_tail(el) -> None:
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
    remove_keep_tail(el)
