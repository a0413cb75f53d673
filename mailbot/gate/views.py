"""Every way a file's bytes or markup can read: decoded text, calendar text unfolded, XML and HTML views.

What a reader might see is read in all its forms (Word runs joined and apart, attribute values,
comments, %-decoded links), so that no form hides a name from the gate. Pure."""

from __future__ import annotations

import html
import re
import urllib.parse

_BOUNDARY_TAGS = re.compile(
    r"</?(?:[\w.-]+:)?(?:p|tc|tr|td|th|si|br|tab|cr|txbxContent|row|c|li|div|table)\b[^>]*>", re.IGNORECASE)
_ANY_TAG = re.compile(r"<[^>]*>")
_ATTR = re.compile(r"=\s*\"([^\"]*)\"|=\s*'([^']*)'")


def decode_text(data: bytes, charset: str | None = None) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", "replace")
    if charset:
        try:
            return data.decode(charset, "replace")
        except LookupError:
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


def ics_text(text: str) -> str:
    # RFC 5545: unfold lines, then undo the text escapes
    text = re.sub(r"\r?\n[ \t]", "", text)
    return text.replace("\\n", "\n").replace("\\N", "\n").replace("\\,", ",").replace("\\;", ";").replace("\\\\", "\\")


def _tags_sub(repl: str, text: str) -> str:
    """``_ANY_TAG.sub(repl, text)`` read once: no "<" after the last ">" starts a tag, and the pattern
    read the rest of the text again from each of them (100,000 "<" in an HTML body: over 6 s)."""
    end = text.rfind(">") + 1
    return _ANY_TAG.sub(repl, text[:end]) + text[end:]


def markup_views(text: str) -> str:
    """Every way the visible text of XML/HTML can read: split runs joined, tags as spaces, attributes."""
    attrs = " ".join(a or b for a, b in _ATTR.findall(text))
    joined = _tags_sub("", _BOUNDARY_TAGS.sub(" ", text))
    spaced = _tags_sub(" ", text)
    return _with_url_decoded(html.unescape("\n".join((joined, spaced, attrs))))


_XML_TEXT = re.compile(rb">\s*([^\s<][^<]*)<")
_XML_ATTR = re.compile(rb"=\s*\"([^\"]*)\"")
_XML_ATTR1 = re.compile(rb"=\s*'([^']*)'")
_XML_TAGNAME = re.compile(rb"<([^\s<>/!?]+)")
_XML_SPECIAL = re.compile(rb"<!--(.*?)-->|<!\[CDATA\[(.*?)\]\]>|<\?(.*?)\?>", re.DOTALL)
_XML_BOUNDARY = re.compile(
    rb"</?(?:[\w.-]+:)?(?:p|tc|tr|td|th|si|br|tab|cr|txbxContent|row|c|li|div|table)[\s/>]", re.IGNORECASE)


def xml_views(data: bytes, *, element_names: bool = False) -> str:
    """The text of one XML part as it may read, fast even for 400 KB style parts.

    Text nodes are joined as Word shows them (runs glued, paragraphs, cells
    and breaks apart) and also one by one; unique attribute values, element
    names, comments, CDATA and processing instructions are added."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        data = data.decode("utf-16", "replace").encode("utf-8")
    joined: list[bytes] = []
    spaced: list[bytes] = []
    prev = 0
    for m in _XML_TEXT.finditer(data):
        gap = data[prev:m.start()]
        if joined and _XML_BOUNDARY.search(gap):
            joined.append(b" ")
        joined.append(m.group(1))
        spaced.append(m.group(1))
        prev = m.end()
    extra = set(_XML_ATTR.findall(data))
    if b"='" in data or b"= '" in data:
        extra.update(_XML_ATTR1.findall(data))
    if element_names:  # custom XML: element names are free text there
        extra.update(_XML_TAGNAME.findall(data))
    if b"<!" in data or data.count(b"<?") > 1:
        for m in _XML_SPECIAL.finditer(data):
            extra.add(m.group(1) or m.group(2) or m.group(3) or b"")
    blob = b"".join(joined) + b"\n" + b" ".join(spaced) + b"\n" + b" ".join(extra)
    text = blob.decode("utf-8", "replace")
    if "&" in text:
        text = html.unescape(text)
    return _with_url_decoded(text)


def _with_url_decoded(text: str) -> str:
    """Add the %-decoded form (hyperlink targets: mailto:Grace%20Penhaligon@...)."""
    if "%" not in text:
        return text
    return text + "\n" + urllib.parse.unquote(text)
