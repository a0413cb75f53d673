"""Finding protected names in a text: one trie-shaped regular expression over folded text.

:func:`build_matcher` compiles a list of :class:`~mailbot.documents.names.ProtectedName` into a
:class:`Matcher`. It runs on a *folded* form of the text (mailbot.words.textnorm: lower case,
accents and invisible characters off, look-alike letters Latin, one apostrophe/dash/space
style); a match maps back to the text as written through the fold's index map. A name inside
an e-mail address, handle or link takes the whole address. A name that is also an ordinary
word counts only when Capitalised, initials only in CAPITALS, a month not inside a date.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from mailbot.documents.names import ProtectedName, name_key
from mailbot.words.textnorm import DIGIT_LETTERS, fold, fold_map, span_back

_SEP = r"[\s._\-',]*"
_BEFORE = r"(?<![^\W\d_])"   # not preceded by a letter (digits may touch: 2010rhodri)
_AFTER = r"(?![^\W\d_])"     # not followed by a letter (rhodribeddoe2010 is a name)


@lru_cache(maxsize=65536)
def _atoms(name: str) -> tuple[str, ...]:
    """A name as regex atoms over folded text: one per letter, _SEP between words."""
    out: list[str] = []
    for chunk in re.split(r"([\s._\-,]+|')", fold(name)):
        if not chunk:
            continue
        if chunk == "'" or re.fullmatch(r"[\s._\-,]+", chunk):
            if out and out[-1] != _SEP:
                out.append(_SEP)
        else:
            out.extend(re.escape(ch) for ch in chunk)
    while out and out[-1] == _SEP:
        out.pop()
    return tuple(out)


def _atoms_for(n: ProtectedName) -> tuple[str, ...]:
    if n.kind == "initials-dotted":
        letters = [re.escape(c) for c in fold(n.text) if c.isalpha()]
        out: list[str] = []
        for ch in letters:
            if out:
                out.append(r"\.\s?")
            out.append(ch)
        return tuple(out) + (r"\.",)
    if n.kind == "initials":
        # initials never touch a digit: "FC" is not in the hex of w:rsidR="00FC1A2B"
        atoms = [re.escape(c) for c in fold(n.text)]
        atoms[0] = r"(?<!\d)" + atoms[0]
        atoms[-1] = atoms[-1] + r"(?!\d)"
        return tuple(atoms)
    return _atoms(n.text)


def _trie_regex(sequences) -> str:
    """One alternation of many atom sequences, as a trie: the engine tries a handful of branches
    at each position instead of every name (hundreds with the derived forms)."""
    trie: dict = {}
    for seq in sequences:
        node = trie
        for atom in seq:
            node = node.setdefault(atom, {})
        node[""] = {}

    def emit(node: dict) -> str:
        end = "" in node
        branches = [atom + emit(child) for atom, child in sorted(node.items(), key=lambda kv: (-len(kv[0]), kv[0]))
                    if atom != ""]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if end:
            # longest first, as the alternation of whole names did: a possessive is matched by the
            # name before it, "rhodribeddoe" by the joined full name before its first name
            body = "(?:" + body + ")?" if len(branches) == 1 and not body.startswith("(?:") else "(?:" + body + ")?"
        return body

    return emit(trie)


MONTHS = frozenset("january february march april may june july august september october november december".split())
_DAY_BEFORE = re.compile(r"\d{1,2}(?:st|nd|rd|th)?(?: of)? $")
_DAY_OR_YEAR_AFTER = re.compile(r"^,? \d{1,4}(?!\d)")


def _in_date(folded: str, start: int, end: int) -> bool:
    return bool(_DAY_BEFORE.search(folded[max(0, start - 12):start])
                or _DAY_OR_YEAR_AFTER.match(folded[end:end + 8]))


@dataclass(frozen=True)
class Match:
    start: int
    end: int
    name: ProtectedName


#: e-mail addresses, @handles and links: a name inside one takes the whole of it
#: (each part is bounded, a run of letters no address has is never read again from every letter: a long
#: run without an @ or a / would make that quadratic and let a crafted form hang intake. Every address
#: that can be written, local part up to 256 characters, domain up to 255, is found as it was.)
_LOCAL = r"[^\s<>\"'()\[\],;:@]"
_ADDRESS = re.compile(
    r"(?:mailto:)?" + _LOCAL + r"{1,256}+@" + _LOCAL + r"{0,254}[^\s<>\"'()\[\],;:@.]"
    r"|(?:https?://|ftp://|file:/*|www\.|\\\\)[^\s<>\"']*[^\s<>\"'.,;:)\]]"
    r"|(?<![\w@.])@[A-Za-z0-9_.]*[A-Za-z0-9_]"
    r"|(?<![\w@/])[\w\-]{1,256}+(?:\.[\w\-]{1,256}+){1,32}+/[^\s<>\"']*[^\s<>\"'.,;:)\]]"
)


_NOT_LETTER = re.compile(r"[^a-z]+")

#: identifiers: a value with no space (a style or bookmark id, a file or field name), a #hashtag
#: or a camelCase word ("JusticeForNiall", "NiallGarveynotes"): a name inside one is found anywhere
#: in its letters, as in an address
_IDENT_TOKEN = re.compile(r"[^\s<>\"'()\[\],;]+")
_HEXISH = re.compile(r"[{(]?[0-9A-Fa-f\-]+[})]?")
_CAMEL = re.compile(r"[^\W\d_A-Z][A-Z]")


_LETTER = re.compile(r"[^\W\d_]")
_DIGIT = re.compile(r"\d")


def _letters_and_digits(text: str) -> bool:
    """A line of ``text`` holds a letter and a digit (read once a line: as one pattern, a letter then
    anything then a digit, a long line without a digit was read again from each of its letters; a name
    woven with zero-width spaces, 60,000 letters: 40 s to code the form)."""
    return any(_LETTER.search(line) and _DIGIT.search(line) for line in text.split("\n"))

#: digits written for letters in handles ("k4cper_n0wicki")
_LEET = DIGIT_LETTERS


def _identifier_tokens(text: str):
    """(start, token) of each identifier in ``text`` (all of it when it has no space): a token with
    letters and digits ("k4cper_n0wicki") is one too."""
    whole = not any(ch.isspace() for ch in text)
    if not whole and "#" not in text and _CAMEL.search(text) is None and not _letters_and_digits(text):
        return
    for t in _IDENT_TOKEN.finditer(text):
        tok = t.group()
        if len(tok) < 4 or len(tok) > 200 or _HEXISH.fullmatch(tok):
            continue
        if whole or tok.startswith("#") or _CAMEL.search(tok) or _letters_and_digits(tok):
            yield t.start(), tok


def _letters_of(token: str) -> tuple[str, list[int]]:
    """The letters of a token (digits read as the letters they stand for when the token has
    letters too), and the index in the token of each."""
    letters, pos = [], []
    leet = _letters_and_digits(token)
    for i, ch in enumerate(token):
        for c in (_LEET.get(ch, ch) if leet else fold(ch)) if ch.isdigit() else fold(ch):
            if "a" <= c <= "z":
                letters.append(c)
                pos.append(i)
    return "".join(letters), pos


def identifier_letters(text: str) -> str:
    """The letters of each identifier of each line of ``text``, one per line (for a cheap test)."""
    out = []
    for line in text.split("\n"):
        for _start, tok in _identifier_tokens(line):
            out.append(_letters_of(tok)[0])
    return "\n".join(out)


def spelled_runs(text: str) -> str:
    """Each run of ``text`` written letter by letter ("F F I O N"), one per line: what
    :meth:`Matcher.spelled` can find in ``text``, for a surface kept across forms (the pattern over a
    whole style part cost more than the rest of the cheap test)."""
    return "\n".join(m.group() for m in _SPELLED.finditer(text))


_RLO = re.compile("\u202e([^\u202c\n]*)\u202c?")

#: a word written letter by letter: "F F I O N", "P-R-Y-D-D-E-R-C-H", "R. H. O. D. R. I."
_SPELLED = re.compile(r"(?<![^\W\d_])(?:[^\W\d_][\s.\-_\u00b7\u2022\u2027*]{1,3}){2,}[^\W\d_]\.?(?![^\W\d_])")
_SPELLED_SEP = re.compile(r"[\s.\-_\u00b7\u2022\u2027*]")


def address_letters(text: str) -> str:
    """The letters of each e-mail address, handle and link in ``text``, one per line."""
    return "\n".join(_NOT_LETTER.sub("", a.group().lower()) for a in _ADDRESS.finditer(text))


def _address_placeholder(token: str) -> str:
    if token.startswith("@"):
        return "[handle removed]"
    if "@" in token and not token.lower().startswith(("http", "www", "ftp", "file")):
        return "[e-mail removed]"
    return "[link removed]"


class Matcher:
    """One compiled regular expression over folded text for a list of protected names."""

    def __init__(self, names: list[ProtectedName]):
        self.names = list(names)
        self.by_key = {}
        for n in self.names:
            self.by_key.setdefault(n.key, n)
        sequences = {_atoms_for(n) for n in self.names}
        sequences.discard(())
        if sequences:
            body = f"{_BEFORE}(?:{_trie_regex(sequences)}){_AFTER}"
            self.regex = re.compile(body)
            self.regex_i = re.compile(body, re.IGNORECASE)  # on normalised text that keeps its case
        else:
            self.regex = self.regex_i = re.compile(r"(?!x)x")
        # the letters each name starts with (up to its first separator): a name can only be in a text
        # where one of its words starts with them; dotted initials are looked for as they are
        # Which words of a text a name can be in, for a fast first test on a part's surface: a
        # one-word name is a whole word; a name of several words ends a word with its last word
        # (nothing follows it but a non-letter); initials are whole words that touch no digit;
        # dotted initials are looked for as they are.
        whole: set[str] = set()
        cap_whole: set[str] = set()
        lasts: set[tuple[str, ...]] = set()
        dotted: set[tuple[str, ...]] = set()
        initials: set[str] = set()
        for n, seq in ((n, _atoms_for(n)) for n in self.names):
            if not seq:
                continue
            if n.kind == "initials-dotted":
                dotted.add(seq)
                continue
            if n.kind == "initials":
                initials.add(name_key(n.text))
                continue
            chunks: list[list[str]] = [[]]
            for atom in seq:
                if atom == _SEP:
                    chunks.append([])
                else:
                    chunks[-1].append(atom)
            if len(chunks) == 1:
                (cap_whole if n.ordinary else whole).add("".join(a.replace("\\", "") for a in chunks[0]))
            else:
                lasts.add(tuple(reversed(chunks[-1])))
        self.whole_words = frozenset(whole)
        self.cap_whole_words = frozenset(cap_whole)
        self.last_words = re.compile("(?m)^(?:" + _trie_regex(lasts) + ")") if lasts else None  # on reversed words
        self.initial_words = frozenset(initials)
        self.dotted = re.compile(_trie_regex(dotted)) if dotted else None  # on lower-case text
        # inside an e-mail address, handle or link, a name of four letters or more is found anywhere
        # in its letters ("chiokonkwo09" holds Okonkwo): no word boundaries there
        inner = {tuple(re.escape(c) for c in name_key(n.text)) for n in self.names
                 if len(name_key(n.text)) >= 4 and name_key(n.text).isalpha() and not n.ordinary
                 and n.kind not in ("initials", "initials-dotted")}
        self.inner = re.compile(_trie_regex(inner)) if inner else None
        # For each name, its longest run of letters/digits (folded): a name can only
        # be in a text whose folded form contains that run.
        anchors = set()
        for n in self.names:
            runs = re.findall(r"[^\W_]+", fold(n.text))
            if runs:
                anchors.add(max(runs, key=len))
        self.anchors = tuple(sorted(anchors, key=len))

    def _name_for(self, m) -> ProtectedName:
        return self.by_key.get(name_key(m.group())) or ProtectedName(m.group(), "[name removed]", "unknown")

    def finditer(self, text: str):
        """Matches in ``text`` (spans of the original text; folding is done here)."""
        if not self.names or not text:
            return
        if text.isascii():  # the common case: one C-level search decides most texts
            folded, index = text.lower(), None
            if "`" in folded or "\t" in folded:
                folded = fold(text)
            if self.regex.search(folded) is None:
                return
        else:
            folded, index = fold_map(text)
        for m in self.regex.finditer(folded):
            name = self._name_for(m)
            start, end = span_back(index, m.start(), m.end())
            original = text[start:end]
            if name.upper:
                if not all(c.isupper() for c in original if c.isalpha()):
                    continue
            elif name.ordinary:
                if not original[:1].isupper():
                    continue
                if m.group() in MONTHS and _in_date(folded, m.start(), m.end()):
                    continue  # "10 May 2012", "May 10th": a date, not a person
            yield Match(start, end, name)

    def in_identifiers(self, text: str):
        """(start, end, replacement) of each name inside an identifier of ``text`` (see _IDENT_TOKEN);
        the replacement has no spaces or brackets, so that an id stays one word."""
        if self.inner is None or not text:
            return
        for start, tok in _identifier_tokens(text):
            letters, pos = _letters_of(tok)
            for m in self.inner.finditer(letters):
                name = self.by_key.get(m.group())
                rep = re.sub(r"\W", "", name.replacement if name else "") or "X"
                yield start + pos[m.start()], start + pos[m.end() - 1] + 1, rep

    def reversed_overrides(self, text: str):
        """Names written backwards under a right-to-left override (U+202E), which shows them forwards:
        a Match over the whole overridden text."""
        if "\u202e" not in text or not self.names:
            return
        for seg in _RLO.finditer(text):
            shown = seg.group(1)[::-1]
            for m in self.finditer(shown):
                yield Match(seg.start(), seg.end(), m.name)  # the override goes too: the code reads forwards
                break

    def spelled(self, text: str):
        """Names written letter by letter ("F F I O N", "a T E G A N fan"): a Match over the letters
        of the name, the separators between them included."""
        if not self.names or not text:
            return
        for sp in _SPELLED.finditer(text):
            pos = [sp.start() + i for i, ch in enumerate(sp.group()) if not _SPELLED_SEP.match(ch)][:40]
            letters = "".join(text[p] for p in pos)
            i = 0
            while i <= len(letters) - 3:
                for j in range(len(letters), i + 2, -1):  # the longest name starting at letter i
                    m = self.regex.fullmatch(fold(letters[i:j]))
                    if m is None:
                        continue
                    name = self._name_for(m)
                    if name.kind in ("initials", "initials-dotted") or \
                            ((name.ordinary or name.upper) and not letters[i].isupper()):
                        continue
                    yield Match(pos[i], pos[j - 1] + 1, name)
                    i = j - 1
                    break
                i += 1

    def search(self, text: str) -> Match | None:
        for m in self.finditer(text):
            return m
        for m in self.spelled(text):
            return m
        for m in self.reversed_overrides(text):
            return m
        for start, end, _rep in self.in_identifiers(text):
            return Match(start, end, ProtectedName(text[start:end], "[name removed]", "identifier"))
        if self.inner is not None and text and ("@" in text or "/" in text or "www" in text.lower()):
            for a in _ADDRESS.finditer(text):
                if self.inner.search(re.sub(r"[^a-z]", "", fold(a.group()))):
                    return Match(a.start(), a.end(), ProtectedName(a.group(), "[link removed]", "address"))
        return None

    def edits(self, text: str) -> list[tuple[int, int, str]]:
        """(start, end, replacement) for every match, in order, not overlapping; a name inside
        an e-mail address, handle or link takes the whole address."""
        out: list[tuple[int, int, str]] = []
        addresses = None
        if self.inner is not None and ("@" in text or "/" in text or "www" in text.lower()):
            for a in _ADDRESS.finditer(text):
                if self.inner.search(re.sub(r"[^a-z]", "", fold(a.group()))):
                    out.append((a.start(), a.end(), _address_placeholder(a.group())))
        for m in list(self.finditer(text)) + list(self.spelled(text)) + list(self.reversed_overrides(text)):
            start, end, rep = m.start, m.end, m.name.replacement
            if addresses is None:
                addresses = [(a.start(), a.end(), a.group()) for a in _ADDRESS.finditer(text)] \
                    if ("@" in text or "/" in text or "www" in text.lower() or "\\\\" in text) else []
            for s, e, tok in addresses:
                if s <= start and end <= e:
                    start, end, rep = s, e, _address_placeholder(tok)
                    break
            else:
                while end < len(text) and (text[end].isdigit() or text[end] == "_"):
                    end += 1  # "Sean2", "rbeddoe_10": the digits go with the name (no "CN12")
            out.append((start, end, rep))
        # a name inside an identifier, where no address or name already covers it
        out.extend(e for e in self.in_identifiers(text) if not any(s < e[1] and e[0] < t for s, t, _r in out))
        out.sort()
        merged: list[tuple[int, int, str]] = []
        for start, end, rep in out:
            if merged and start < merged[-1][1]:
                ps, pe, prep = merged[-1]
                if end > pe:
                    merged[-1] = (ps, end, prep)
                continue
            merged.append((start, end, rep))
        return merged

    def sub(self, text: str) -> tuple[str, int]:
        """Replace every match; returns (new text, number replaced)."""
        edits = self.edits(text)
        if not edits:
            return text, 0
        pieces, last = [], 0
        for start, end, rep in edits:
            pieces.append(text[last:start])
            pieces.append(rep)
            last = end
        pieces.append(text[last:])
        return "".join(pieces), len(edits)

    def may_match(self, folded: str, letters: str | None = None, words=None, low: str | None = None,
                  apart=None, caps=None, backwards: str | None = None, idents: str | None = None,
                  spelled: str | None = None) -> bool:
        """Superset test: a name, or a name inside an address. ``folded``: normalised text
        (mailbot.words.textnorm.normalise: case kept, so that a name that is also a word counts only
        when capitalised, as in :meth:`finditer`). From a cached surface, for a fast first test:
        ``letters``: the letters of its addresses (:func:`address_letters`); ``words``: its
        distinct words in lower case (a set); ``apart``: those that touch no digit; ``caps``: those
        written with a capital; ``backwards``: each word reversed, one per line; ``spelled``: the
        text's words written letter by letter (:func:`spelled_runs`), read instead of the whole text."""
        if low is None:
            low = folded.lower()
        if next(self.spelled(folded if spelled is None else spelled), None) is not None:
            return True
        if words is None or (
                not self.whole_words.isdisjoint(words)
                or not self.cap_whole_words.isdisjoint(caps)
                or not self.initial_words.isdisjoint(apart)
                or (self.last_words is not None and self.last_words.search(backwards))
                or (self.dotted is not None and self.dotted.search(low))):
            same = len(low) == len(folded)  # lower() kept every position: spans map back
            for m in (self.regex if same else self.regex_i).finditer(low if same else folded):
                name = self.by_key.get(name_key(m.group()))
                text = folded[m.start():m.end()] if same else m.group()
                if name is None or not (name.ordinary or name.upper):
                    return True
                if name.upper and all(c.isupper() for c in text if c.isalpha()):
                    return True
                if name.ordinary and not name.upper and text[:1].isupper():
                    return True
        if self.inner is not None:
            if idents is None:
                idents = identifier_letters(folded)
            if self.inner.search(idents):
                return True
        if self.inner is not None and ("@" in folded or "/" in folded or "www" in folded.lower()):
            if letters is None:
                letters = address_letters(folded)
            return self.inner.search(letters) is not None
        return False

    def maybe_in(self, text: str) -> bool:
        """Cheap superset test: could ``text`` contain a name anywhere (no boundaries, any case)?"""
        if not self.anchors:
            return False
        folded = fold(text)
        return any(a in folded for a in self.anchors)


def build_matcher(names: list[ProtectedName]) -> Matcher:
    return Matcher(names)
