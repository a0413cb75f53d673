"""An independent, tolerant oracle for "is any form of this name still in the document?".

Deliberately shares no code with mailbot's normaliser or matcher: the tests must not
trust the code under test. It reads every part of the zip (XML text with tags removed
and with tags as spaces, attribute values, entities and %-escapes decoded, printable
runs of binary parts), strips invisible characters, folds accents and look-alike
letters, and searches

* each token as a word (case-insensitive; initials case-sensitive; a token listed as an
  ordinary word - a name that is also a word, "Hope", "Will" - only Capitalised or UPPER,
  so "we hope" is not a leak but "Hope" and "HOPE" are),
* joined-up forms (letters only: "rhodribeddoe", "rbeddoe") anywhere in a letters-only
  view, which is how names hide in e-mail addresses, handles and URLs.
"""

from __future__ import annotations

import html
import io
import re
import unicodedata
import urllib.parse
import zipfile

# a few look-alikes from other scripts, written out by hand (Cyrillic, Greek, fullwidth
# are covered by NFKC for the latter)
_LOOKALIKE = str.maketrans({
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i", "ј": "j",
    "ѕ": "s", "һ": "h", "ԁ": "d", "ɡ": "g", "ո": "n", "ν": "v", "ο": "o", "α": "a", "ι": "i",
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C",
    "Т": "T", "Х": "X", "І": "I", "Ј": "J", "Ѕ": "S", "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z",
    "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y",
    "Χ": "X", "ı": "i", "ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "đ": "d", "Đ": "D",
})


_TABLES: list[dict] = []


def _tables() -> tuple[dict, dict]:
    """Deletion tables for format (Cf) characters and combining marks, built once."""
    if not _TABLES:
        cf, comb = {}, {}
        for cp in range(0x110000):
            ch = chr(cp)
            if unicodedata.category(ch) == "Cf":
                cf[cp] = None
            if unicodedata.combining(ch):
                comb[cp] = None
        _TABLES.extend([cf, comb])
    return _TABLES[0], _TABLES[1]


_NAMED_LETTER = re.compile(r"LATIN (?:CAPITAL |SMALL )?LETTER (?:SMALL CAPITAL |CAPITAL )?([A-Z])\b|"
                           r"REGIONAL INDICATOR SYMBOL LETTER ([A-Z])$")


def _named_letters(text: str) -> str:
    """Letters Unicode names as a form of a Latin letter (small capitals, hooks, parenthesized)."""
    if text.isascii():
        return text
    out = []
    for ch in text:
        if not ch.isascii() and (ch.isalpha() or unicodedata.category(ch) == "So"):
            m = _NAMED_LETTER.search(unicodedata.name(ch, ""))
            if m:
                letter = m.group(1) or m.group(2)
                ch = letter if "CAPITAL LETTER" in unicodedata.name(ch, "") and "SMALL CAPITAL" not in \
                    unicodedata.name(ch, "") else letter.lower()
        out.append(ch)
    return "".join(out)


def normalise(text: str) -> str:
    """Visible letters only as a reader sees them: no invisible characters, no accents."""
    cf, comb = _tables()
    text = html.unescape(text)
    text = text.translate(cf)
    text = _named_letters(text.replace("ß", "ss").replace("ẞ", "SS"))
    text = unicodedata.normalize("NFKC", text).translate(_LOOKALIKE)
    text = unicodedata.normalize("NFKD", text)
    return text.translate(comb)


def _unquote_all(text: str) -> str:
    for _ in range(3):
        new = urllib.parse.unquote(text)
        if new == text:
            break
        text = new
    return text


def document_views(data: bytes) -> list[tuple[str, str]]:
    """(part, text) views of every part of a .docx, each normalised."""
    views = []
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        caps_styles = _caps_styles(zf)
        for info in zf.infolist():
            raw = zf.read(info)
            views.append((info.filename + " (part name)", normalise(_unquote_all(info.filename))))
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = None
            if text is not None and "<" in text[:200]:
                text = _as_displayed(text, caps_styles)
                if "\u202e" in text:
                    text = text + " " + _reversed_overrides(text)
                joined = re.sub(r"<[^>]*>", "", re.sub(r"</(?:w|a):p>|<w:(?:br|tab|cr)\b[^>]*/>", " ", text))
                spaced = re.sub(r"<[^>]*>", " ", text)
                attrs = " ".join(m.group(1) for m in re.finditer(r'="([^"]*)"', text))
                for v in (joined, spaced, attrs):
                    v = normalise(_unquote_all(v))
                    views.append((info.filename, v))
                    views.append((info.filename, _spelled_out(v)))
                    views.append((info.filename, _leet(v)))
            else:
                for enc in ("latin-1", "utf-16-le"):
                    chunk = raw.decode(enc, "ignore")
                    printable = " ".join(re.findall(r"[^\x00-\x1f]{3,}", chunk))
                    views.append((info.filename, normalise(printable)))
    return views


_CAPS_RUN = re.compile(r"<w:r\b[^>]*>(?:(?!</w:r>).)*?<w:(?:caps|smallCaps)(?:\s+w:val=\"(?:1|true|on)\")?\s*/>"
                       r"(?:(?!</w:r>).)*?</w:r>", re.S)
_SYM = re.compile(r"<w:sym\b[^>]*w:char=\"([0-9A-Fa-f]{2,4})\"[^>]*/>")


_STYLE = re.compile(r"<w:style\b[^>]*w:styleId=\"([^\"]+)\"[^>]*>(.*?)</w:style>", re.S)
_CAPS_FLAG = re.compile(r"<w:(?:caps|smallCaps)(?:\s+w:val=\"(?:1|true|on)\")?\s*/>")


def _caps_styles(zf) -> frozenset:
    """Ids of the styles (paragraph or character) that show their text in capitals."""
    try:
        xml = zf.read("word/styles.xml").decode("utf-8", "ignore")
    except KeyError:
        return frozenset()
    return frozenset(m.group(1) for m in _STYLE.finditer(xml) if _CAPS_FLAG.search(m.group(2)))


def _upper_text(fragment: str) -> str:
    return re.sub(r">([^<]*)<", lambda t: ">" + t.group(1).upper() + "<", fragment)


def _as_displayed(xml: str, caps_styles: frozenset = frozenset()) -> str:
    """WordprocessingML as a reader sees it: runs formatted all caps (w:caps, w:smallCaps, or a
    paragraph or character style that is) in upper case, and symbol characters (w:sym) as the
    letters they show."""
    xml = _CAPS_RUN.sub(lambda m: _upper_text(m.group()), xml)
    for sid in caps_styles:
        q = re.escape(sid)
        xml = re.sub(r"<w:p\b(?:(?!</w:p>).)*?<w:pStyle w:val=\"" + q + r"\"/>.*?</w:p>",
                     lambda m: _upper_text(m.group()), xml, flags=re.S)
        xml = re.sub(r"<w:r\b(?:(?!</w:r>).)*?<w:rStyle w:val=\"" + q + r"\"/>.*?</w:r>",
                     lambda m: _upper_text(m.group()), xml, flags=re.S)
    return _SYM.sub(lambda m: chr(int(m.group(1), 16)), xml)


_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "$": "s"})


def _leet(text: str) -> str:
    """Words written with digits for letters (k4cper_n0wicki): the letters they stand for."""
    return re.sub(r"\S*[A-Za-z]\S*\d\S*|\S*\d\S*[A-Za-z]\S*", lambda m: m.group().translate(_LEET), text)


def _spelled_out(text: str) -> str:
    """Names written letter by letter ("F F I O N", "P-R-Y-D-D"): each such run joined up."""
    return re.sub(r"(?<![^\W\d_])(?:[^\W\d_][ .\-]{1,2}){2,}[^\W\d_](?![^\W\d_])",
                  lambda m: re.sub(r"[ .\-]", "", m.group()), text)


def _reversed_overrides(text: str) -> str:
    """Text under a right-to-left override (U+202E, up to U+202C or the end of the text node) as
    it is shown: reversed."""
    return re.sub("\u202e([^\u202c<]*)", lambda m: m.group(1)[::-1], text)


def _letters(text: str) -> str:
    return re.sub(r"[^a-z]", "", text.casefold())


def is_initials(token: str) -> bool:
    return bool(re.fullmatch(r"(?:[A-Z]\.?){2,3}", token))


def _ordinary_pattern(tok: str) -> re.Pattern:
    """A name that is also an ordinary word: only its Capitalised or UPPER form is the name."""
    words = [w for w in re.split(r"[\s_.@/-]+", tok) if w]
    cap = r"[\s._\-'’]*".join(re.escape(w[:1].upper() + w[1:].lower()) for w in words)
    up = r"[\s._\-'’]*".join(re.escape(w.upper()) for w in words)
    return re.compile(r"(?<![A-Za-z0-9])(?:" + cap + "|" + up + r")(?![A-Za-z])")


def find_leaks(data: bytes, tokens: list[str], *, filename: str = "",
               joined: list[str] = (), ordinary: list[str] = ()) -> list[tuple[str, str]]:
    """(part, token) for every protected token still present in any form.

    ``ordinary``: tokens that are also ordinary words (the truth's ordinary_word_tokens);
    those are matched only Capitalised or in upper case.
    """
    ordinary_set = {normalise(w).casefold() for w in ordinary}
    views = document_views(data)
    if filename:
        views.append(("file name", normalise(filename)))
    leaks = []
    for token in tokens:
        tok = normalise(token)
        case_sensitive = False
        if is_initials(tok):
            case_sensitive = True
            letters = tok.replace(".", "")
            pat = re.compile(r"(?<![A-Za-z])" + r"\.?\s?".join(letters) + r"\.?(?![A-Za-z])")
        elif tok.casefold() in ordinary_set:
            case_sensitive = True
            pat = _ordinary_pattern(tok)
        else:
            words = [re.escape(w) for w in re.split(r"[\s_.@/-]+", tok.casefold()) if w]
            if not words:
                continue
            pat = re.compile(r"(?<![a-z0-9])" + r"[\s._\-'’@/]*".join(words) + r"(?![a-z])", re.I)
        for part, text in views:
            hay = text if case_sensitive else text.casefold()
            if pat.search(hay):
                leaks.append((part, token))
                break
    letter_views = [(part, _letters(text)) for part, text in views] if joined else []
    for token in joined:
        tok = _letters(normalise(token))
        if len(tok) < 6:
            continue
        for part, letters in letter_views:
            if tok in letters:
                leaks.append((part, token + " (joined up)"))
                break
    return leaks


def joined_forms(people: list[dict]) -> list[str]:
    """Joined-up forms of each person's name: firstsurname, fsurname, first.surname."""
    out = []
    for p in people:
        words = [w for w in re.split(r"\s+", p.get("name", "")) if w]
        if len(words) >= 2:
            first, last = words[0], words[-1]
            out += [first + last, first[0] + last, last + first]
    return out


def lower_count(data: bytes, word: str) -> int:
    """How often ``word`` appears in lower case (as an ordinary word) in the document's text, as shown
    (a run formatted all capitals is not lower case)."""
    n = 0
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for name in zf.namelist():
            if not name.endswith(".xml"):
                continue
            text = normalise(re.sub(r"<[^>]*>", "", _as_displayed(zf.read(name).decode("utf-8", "ignore"))))
            n += len(re.findall(r"(?<![A-Za-z])" + re.escape(word.lower()) + r"(?![A-Za-z])", text))
    return n
