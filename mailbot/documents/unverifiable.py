"""The verifier of :mod:`mailbot.documents.sanitise`: nothing it removes is in the written bytes.

:func:`assert_no_unverifiable` reopens a written .docx and raises
:class:`~mailbot.errors.LeakDetected` if anything that cannot be checked for names is still in
it (fail closed). Pure.
"""

from __future__ import annotations

import io
import zipfile

from mailbot.documents.images import TEXT_LEFT, ImageUnreadable, image_kind
from mailbot.documents.ooxml import (ALTCHUNK_TYPES, ALWAYS_REMOVE, MARKUP, O_NS, OBJECT_TYPES, THUMBNAIL_TYPES, V_NS,
                                     W_NS, as_utf8, inert_parts, is_external, is_rels, literal_external, local_name,
                                     ns_of, rel_type, rels_source, resolve_in)
from mailbot.documents.package import parse_xml
from mailbot.errors import BadDocument, LeakDetected

_UNCHECKED = "The coded document could not be checked for hidden content; nothing was sent."
_OUTSIDE = "a link to something outside the document (a web address, file share or remote template)"
_IMPORTED = "an imported section (HTML, MHT, RTF or Word)"
_OBJECT = "an embedded object, control or sub-document"
_THUMBNAIL = "a preview picture (thumbnail)"


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
        rels_raw = {i.filename: zf.read(i) for i in infos if is_rels(i.filename)}
    except Exception as exc:  # noqa: BLE001 - whatever it is, it was not checked
        raise LeakDetected(_UNCHECKED, reason="unscannable") from exc
    inert = inert_parts(_incoming(rels_raw, names))
    for info in infos:
        name = info.filename
        _check_name(name)
        if name in inert and not is_rels(name):
            continue
        if is_rels(name):
            _check_relationships(parse_xml(rels_raw[name]))
            continue
        try:
            raw = zf.read(info)
        except Exception as exc:  # noqa: BLE001
            raise LeakDetected(_UNCHECKED, reason="unscannable") from exc
        kind = image_kind(raw)
        if kind is not None:
            _check_picture(kind, raw)
            continue
        head = raw[:64].lstrip()
        if name.endswith((".xml", ".vml")) or head.startswith((b"<", b"\xef\xbb\xbf<")) or \
                head.startswith((b"\xff\xfe", b"\xfe\xff")):
            _check_markup(as_utf8(raw))


def _incoming(rels_raw: dict[str, bytes], names: set[str]) -> dict[str, set[str]]:
    """For each part, the types of the internal relationships that point at it."""
    incoming: dict[str, set[str]] = {}
    for name, raw in rels_raw.items():
        try:
            tree = parse_xml(raw)
        except BadDocument as exc:
            raise _refuse("a damaged list of links", "unscannable") from exc
        src = rels_source(name)
        for rel in tree:
            if isinstance(rel.tag, str) and not is_external(rel):
                incoming.setdefault(resolve_in(names, src, rel.get("Target") or "") or "", set()).add(
                    rel_type(rel))
    return incoming


def _check_name(name: str) -> None:
    """Embedded files and the thumbnail, known by where they stand in the package."""
    low = "/" + name.lower()
    if "/embeddings/" in low or "/activex/" in low or low.endswith(".bin"):
        raise _refuse("an embedded object or file", "embedded-object")
    if low.startswith("/docprops/thumbnail."):
        raise _refuse(_THUMBNAIL, "thumbnail")


def _check_relationships(tree) -> None:
    for rel in tree:
        if not isinstance(rel.tag, str):
            continue
        rtype = rel_type(rel)
        if is_external(rel):
            raise _refuse(_OUTSIDE, "external-link")
        if rtype in ALTCHUNK_TYPES:
            raise _refuse(_IMPORTED, "alt-chunk")
        if rtype in OBJECT_TYPES - {"printersettings"}:
            raise _refuse(_OBJECT, "embedded-object")
        if rtype in THUMBNAIL_TYPES:
            raise _refuse(_THUMBNAIL, "thumbnail")


def _check_picture(kind: str, raw: bytes) -> None:
    try:
        bad = TEXT_LEFT[kind](raw)
    except ImageUnreadable as exc:
        raise _refuse("a picture whose contents could not be read", "image-unreadable") from exc
    if bad:
        raise _refuse("text stored inside a picture", "image-text")


def _check_markup(text: bytes) -> None:
    """VML literal addresses, altChunks, objects, controls and sub-documents in an XML part."""
    if not MARKUP.search(text):
        return
    try:
        root = parse_xml(text)
    except BadDocument as exc:
        raise _refuse("a part that could not be read", "unscannable") from exc
    for el in root.iter():
        if ns_of(el) in (V_NS, O_NS) and any(literal_external(el, a) for a in el.attrib):
            raise _refuse(_OUTSIDE, "external-link")
        if local_name(el) in ALWAYS_REMOVE and (ns_of(el) in W_NS or ns_of(el) == O_NS):
            if local_name(el) == "altChunk":
                raise _refuse(_IMPORTED, "alt-chunk")
            raise _refuse(_OBJECT, "embedded-object")
