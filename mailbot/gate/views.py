"""Every way a file's bytes or markup can read: decoded text, calendar text unfolded, XML and HTML views.

What a reader might see is read in all its forms (Word runs joined and apart, attribute values,
comments, %-decoded links), so that no form hides a name from the gate. Pure."""

from __future__ import annotations

import html
import re
import urllib.parse

from mailbot.words.textnorm import DIGIT_LETTERS

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
    if b"aps" in data:
        blob += b"\n" + _caps_view(data)
    if b":sym" in data:
        blob += b"\n" + _sym_view(data)
    text = blob.decode("utf-8", "replace")
    if "&" in text:
        text = html.unescape(text)
    return _with_url_decoded(_shown_views(text))


# as Word shows a part: runs formatted all capitals, letters written as symbol characters, a word
# spelt letter by letter, text under a right-to-left override, the words of a camelCase identifier
_CAPS_RUN = re.compile(rb"<w:r\b[^>]*>(?:(?!</w:r>).)*?<w:(?:caps|smallCaps)\b(?![^>]*w:val=\"(?:0|false|off)\")[^>]*>"
                       rb"(?:(?!</w:r>).)*?</w:r>", re.S)
_W_T = re.compile(rb"<w:t\b[^>]*>([^<]*)</w:t>")
_SYM = re.compile(rb"<w:sym\b[^>]*>")
_SYM_CHAR = re.compile(rb"w:char=\"([0-9A-Fa-f]{1,6})\"")
_SYM_FONT = re.compile(rb"w:font=\"(?:Symbol|Wingdings[^\"]*|Webdings|Marlett|MT Extra|Zapf ?Dingbats)\"", re.I)
_SPELLED = re.compile(r"(?<![^\W\d_])(?:[^\W\d_][\s.\-_\u00b7\u2022\u2027*]{1,3}){2,}[^\W\d_]\.?(?![^\W\d_])")
_CAMEL = re.compile(r"(?<=[^\W\d_A-Z])(?=[A-Z])")
_RLO = re.compile("\u202e([^\u202c<\n]*)")
_WORD_RUN = re.compile(r"[\w.]+")
_ALNUM_RUN = re.compile(r"[^\W_]+")
_LETTER = re.compile(r"[^\W\d_]")
_DIGIT = re.compile(r"\d")
_CAMEL_PAIR = re.compile(r"[a-z][A-Z]")
_LEET = str.maketrans(DIGIT_LETTERS)


def _caps_view(data: bytes) -> bytes:
    return b" ".join(t.upper() for run in _CAPS_RUN.finditer(data) for t in _W_T.findall(run.group()))


def _sym_letter(m) -> bytes:
    tag = m.group()
    c = _SYM_CHAR.search(tag)
    if not c or _SYM_FONT.search(tag):
        return tag
    code = int(c.group(1), 16)
    code = code - 0xF000 if 0xF000 <= code <= 0xF0FF else code
    ch = chr(code) if 0 < code < 0x110000 else ""
    return ch.encode("utf-8") if ch.isalnum() else tag


def _sym_view(data: bytes) -> bytes:
    return _ANY_TAG_B.sub(b"", _SYM.sub(_sym_letter, data))


_ANY_TAG_B = re.compile(rb"<[^>]*>")


def _shown_views(text: str) -> str:
    extra = []
    if _SPELLED.search(text):
        extra.append(_SPELLED.sub(lambda m: re.sub(r"[\s.\-_\u00b7\u2022\u2027*]", "", m.group()), text))
    if "\u202e" in text:
        extra.append(" ".join(seg[::-1] for seg in _RLO.findall(text)))
    leet = _leet_tokens(text)
    if leet:  # digits written for letters in a handle (k4cper_n0wicki)
        extra.append(" ".join(leet).translate(_LEET))
    if _CAMEL.search(text):
        extra.append(" ".join(_CAMEL.sub(" ", tok) for tok in text.split() if _CAMEL_PAIR.search(tok)))
    return text if not extra else text + "\n" + "\n".join(extra)


def _leet_tokens(text: str) -> list[str]:
    """Each handle that mixes letters and digits, from its first run of letters and digits that holds
    both to the end of its run of word characters and dots (k4cper_n0wicki, kacper_n0wicki: n0wicki).

    Read once: as one pattern (letters, a digit, in either order) it read a long word again from each
    of its letters, and each of those again (200,000 capitals in a coded document: the gate hung)."""
    out = []
    for word in _WORD_RUN.finditer(text):
        token = word.group()
        for run in _ALNUM_RUN.finditer(token):
            if _LETTER.search(run.group()) and _DIGIT.search(run.group()):
                out.append(token[run.start():])
                break
    return out


def _with_url_decoded(text: str) -> str:
    """Add the %-decoded form (hyperlink targets: mailto:Grace%20Penhaligon@...)."""
    if "%" not in text:
        return text
    return text + "\n" + urllib.parse.unquote(text)
