"""What the sanitiser and its verifier both know of a Word package's structure.

Namespaces, relationship types, where a relationship points (inside the package or outside
it), part-name arithmetic for ``_rels`` files, and the one cheap test for the markup they act
on (altChunks, objects, controls, sub-documents, VML literal addresses). Pure.
"""

from __future__ import annotations

import posixpath
import re
import urllib.parse

# -- namespaces ----------------------------------------------------------------

W_NS = ("http://schemas.openxmlformats.org/wordprocessingml/2006/main",
        "http://purl.oclc.org/ooxml/wordprocessingml/main")
R_NS = ("http://schemas.openxmlformats.org/officeDocument/2006/relationships",
        "http://purl.oclc.org/ooxml/officeDocument/relationships")
O_NS = "urn:schemas-microsoft-com:office:office"
V_NS = "urn:schemas-microsoft-com:vml"
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


def inert_parts(incoming: dict[str, set[str]]) -> set[str]:
    """Parts every relationship to which is a styles/theme/font-table one (and there is one)."""
    return {part for part, types in incoming.items() if types and types <= INERT_TYPES}


# -- the markup acted on ------------------------------------------------------------

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
# elements that are never kept, whatever they point at (local names; namespace checked)
ALWAYS_REMOVE = {"altChunk", "object", "OLEObject", "control", "subDoc"}
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


MARKUP = _Markup()
_LITERAL_ATTRS = {"href", "src", "althref"}


# -- elements, relationships and part names --------------------------------------

def local_name(el) -> str:
    tag = el.tag
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def ns_of(el) -> str:
    tag = el.tag
    return tag[1:].split("}", 1)[0] if isinstance(tag, str) and tag.startswith("{") else ""


def is_w(el) -> bool:
    return ns_of(el) in W_NS


def rel_type(rel) -> str:
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


def is_rels(name: str) -> bool:
    return name.endswith(".rels") and ("/_rels/" in "/" + name)


def resolve_in(parts, source: str, target: str) -> str | None:
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


def literal_external(el, attr: str) -> bool:
    """A VML attribute (href, o:href, src, althref) holding a URL, UNC or absolute file address."""
    if attr.startswith("{") and attr[1:].split("}", 1)[0] not in (V_NS, O_NS):
        return False
    if attr.rsplit("}", 1)[-1] not in _LITERAL_ATTRS:
        return False
    value = (el.get(attr) or "").strip()
    return bool(_SCHEME.match(value)) or value.startswith(("\\\\", "//"))


def as_utf8(data: bytes) -> bytes:
    """A UTF-16 part as UTF-8 (for the byte-level markup test); anything else as it is."""
    head = data[:4]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in head:
        for enc in ("utf-16", "utf-16-le", "utf-16-be"):
            try:
                return data.decode(enc).encode("utf-8")
            except UnicodeDecodeError:
                continue
    return data

