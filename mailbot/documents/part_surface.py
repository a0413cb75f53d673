"""The cheap first test of the name stripper and its verifier: can a name be in this XML part?

:func:`may_hold_name` is a sound superset test: False only if no protected name can be in the
part. It reads the part's *surface* (every text node, attribute value, comment and processing
instruction, as one normalised text, plus the word sets the matcher's fast test takes) without
parsing it; surfaces may be kept in a :class:`SurfaceCache` (on the bytes' digest, in memory only),
which its owner passes down: one coding (the stripper, then the verifier), or the daemon's Context
for the life of the mailbot. :func:`clean_memo` keeps the large parts a matcher found clean, so that
the verifier does not test the same bytes twice.
"""

from __future__ import annotations

import hashlib
import html
import re
import urllib.parse

from mailbot.documents.matcher import Matcher, address_letters, identifier_letters, spelled_runs
from mailbot.words.textnorm import normalise

_TAG_RE = re.compile(r"<[^>]*>")
_ENC_RE = re.compile(rb"^\s*<\?xml[^>]*encoding\s*=\s*[\"']([A-Za-z0-9_.\-]+)", re.I)


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


def clean_memo(matcher: Matcher) -> dict:
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


class SurfaceCache:
    """The surfaces of large parts (over 1 KiB), on the bytes' digest, in memory only: parts are read
    twice (strip, then verify) and large ones (styles, themes) are the same in many forms.

    At most ``entries`` surfaces and about ``budget`` bytes (three times a part's size a surface);
    then it starts again. A surface can hold a name, as the parsed document does; nothing of it is
    written. Each of its steps is one dict operation: threads that share it race at worst into
    starting it again early."""

    def __init__(self, entries: int = 256, budget: int = 24 * 1024 * 1024):
        self.entries, self.budget = entries, budget
        self._surfaces: dict[tuple, tuple] = {}
        self._bytes = 0

    def get(self, key: tuple) -> tuple | None:
        return self._surfaces.get(key)

    def put(self, key: tuple, surface: tuple, size: int) -> None:
        cost = 3 * size
        if len(self._surfaces) >= self.entries or self._bytes + cost > self.budget:
            self.clear()
        self._surfaces[key] = surface
        self._bytes += cost

    def clear(self) -> None:
        self._surfaces.clear()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._surfaces)


_SYM_RE = re.compile(r"<(?:[\w.-]+:)?sym\b[^>]*>")
_CHAR_RE = re.compile(r"char\s*=\s*[\"']([0-9A-Fa-f]{1,6})[\"']")


def _sym_letter(m) -> str:
    """The letter of a w:sym tag (any font: a superset), else the tag unchanged."""
    c = _CHAR_RE.search(m.group())
    if not c:
        return m.group()
    code = int(c.group(1), 16)
    code = code - 0xF000 if 0xF000 <= code <= 0xF0FF else code
    ch = chr(code) if 0 < code < 0x110000 else ""
    return m.group() + ch if ch.isalnum() else m.group()


_CAPS_RE = re.compile(r"<(?:[\w.-]+:)?(?:caps|smallCaps)\b")
_WORDS_RE = re.compile(r"[^\W\d_]+")
_WORDS_APART_RE = re.compile(r"(?<![0-9])[^\W\d_]+(?![0-9])")


def _notes(text: str) -> list[str]:
    """``[a or b for a, b in _COMMENT_RE.findall(text)]`` in one pass: the pattern read the rest of the
    text again from each "<?" or "<!--" with no closer after it (50,000 "<?" in a CDATA section: over 20 s)."""
    out: list[str] = []
    closer = {"<!--": "-->", "<?": "?>"}
    nxt = {"<!--": -1, "<?": -1}  # the next opener of each kind at or after i (-1: look again; n: none left)
    i, n = 0, len(text)
    while True:
        for o in nxt:
            if nxt[o] < i and nxt[o] != n:
                f = text.find(o, i)
                nxt[o] = f if f >= 0 else n
        o = min(nxt, key=nxt.get)
        p = nxt[o]
        if p >= n:
            return out
        q = text.find(closer[o], p + len(o))
        if q < 0:  # no closer after p: neither this opener nor any later one of its kind matches
            nxt[o] = n
            continue
        out.append(text[p + len(o):q])
        i = q + len(closer[o])


def _surface(data: bytes, cache: SurfaceCache | None = None) -> tuple[str, ...] | None:
    """Everything of an XML part a name could be in, as one folded text: the text nodes (joined
    as they are read, with a line break at each paragraph, cell, tab and line break), every
    attribute value, comments and processing instructions, entities resolved. None when the
    part must be parsed to be read (character references, another encoding).

    With ``cache``, the surface of a large part is kept there and taken from there."""
    key = None
    if cache is not None and len(data) > 1024:  # the verifier reads again what the stripper left unchanged
        key = (len(data), hashlib.blake2b(data, digest_size=16).digest())
        hit = cache.get(key)
        if hit is not None:
            return hit
    if _decoded_for_test(data) is None:
        return None
    text = data.decode("utf-8")  # as written: the case decides for names that are also words
    # the text as the streams read it (runs of a paragraph joined), and each element's text on
    # its own (a property, a cell of another table), so that neither view hides a name
    if ":sym" in text:  # letters written as symbol characters (w:sym w:char="0054"), as shown
        text = _SYM_RE.sub(_sym_letter, text)
    joined = _TAG_RE.sub("", _BOUNDARY_RE.sub("\n", text))
    if "aps" in text and _CAPS_RE.search(text):  # runs shown in capitals (w:caps): read as shown too
        joined += "\n" + joined.upper()
    apart = _TAG_RE.sub("\n", text)
    attrs = "\n".join(a or b for a, b in _ATTR_VALUE_RE.findall(text))
    notes = "\n".join(_notes(text))
    surface = normalise(html.unescape(joined + "\n" + apart + "\n" + attrs + "\n" + notes))
    if "\u202e" in text:  # text under a right-to-left override is shown backwards: read it so too
        surface += "\n" + normalise("\n".join(seg[::-1] for seg in re.findall("\u202e([^\u202c<]*)", text)))
    if "%" in surface:  # %-escaped text (links): read decoded too
        decoded = normalise(urllib.parse.unquote(surface))
        if decoded != surface:
            surface += "\n" + decoded
    low = surface.lower()
    words = frozenset(_WORDS_RE.findall(low))
    caps = frozenset(w.lower() for w in _WORDS_RE.findall(surface) if w[0].isupper())
    surface = (surface, address_letters(surface), words, low, frozenset(_WORDS_APART_RE.findall(low)), caps,
               "\n".join(w[::-1] for w in words), identifier_letters(surface), spelled_runs(surface))
    if key is not None:
        cache.put(key, surface, len(data))
    return surface


def may_hold_name(data: bytes, matcher: Matcher, surfaces: SurfaceCache | None = None) -> bool:
    """Sound superset test: False only if no name can be in this XML part.

    The matcher's own expression (without its case rules) runs over the part's surface
    (:func:`_surface`): what the stripper and the verifier read, as one text. A part that
    cannot be read that way (character references, another encoding) is always parsed.
    ``surfaces``: where the surfaces of large parts are kept (none when None).
    """
    got = _surface(data, surfaces)
    if got is None:
        return True
    return matcher.may_match(*got)

