"""Protected names: every way a young person's or family member's name can be written.

Pure functions. :func:`protected_names` turns the people on a Referral Form into the list of
texts to replace (full name, first name, surname, known-as, other surnames, parts of
double-barrelled surnames, family names, the aliases the text introduced, and the derived
forms: pet names and diminutives, joined-up initial + surname, initials) with what replaces
each (the child's case code, or a neutral placeholder for family). :func:`discover` finds the
names the form's own text introduces (nicknames, née, relatives in the prose, typos).
:func:`build_matcher` compiles them into ONE trie-shaped regular expression that runs on a
*folded* form of the text (mailbot.words.textnorm: lower case, accents and invisible characters off,
look-alike letters Latin, one apostrophe/dash/space style); a match maps back to the text as
written through the fold's index map. A name inside an e-mail address, handle or link takes the
whole address.

Names that are also ordinary words (rules/ordinary_words.txt: Grace, Will, Rose...) and every
derived form are matched only when written Capitalised or in CAPITALS; initials only in CAPITALS.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from mailbot.paths import shipped

RULES_DIR = shipped("rules")

#: name particles that are never protected on their own ("Ní", "van", "de")
PARTICLES = frozenset(
    "ni nic mac mc o ui uí van von der den de la le du da di del della dos das bin ben al el st ap".split()
)
#: placeholder texts that are not names (a form's "None", "N/A" answers)
NOT_A_NAME = frozenset(
    "none n/a na nil no - -- unknown not known tbc tba n.a. not applicable".split()
)

PARENT_WORDS = ("mother", "father", "mum", "dad", "parent", "carer", "guardian", "step", "foster",
                "stepmother", "stepfather", "grandparent", "grandmother", "grandfather", "kinship")
PLACEHOLDER_PARENT = "[parent/carer]"
PLACEHOLDER_FAMILY = "[family member]"

from mailbot.words.textnorm import DASHES as _DASHES  # noqa: E402
from mailbot.words.textnorm import fold, fold_map, span_back  # noqa: E402,F401  (fold is part of this module's API)


@dataclass(frozen=True)
class ProtectedName:
    text: str          # the name as written on the form
    replacement: str   # case code (CN78) or placeholder ([parent/carer])
    kind: str          # child-full, child-first, child-surname, known-as, other-surname,
                       # surname-part, family-full, family-part, alias, derived, initials,
                       # initials-dotted, field
    ordinary: bool = False  # also an ordinary word: match Capitalised/UPPER only
    upper: bool = False     # initials: match only when every letter is a capital

    @property
    def key(self) -> str:
        return _key(self.text)


def _key(text: str) -> str:
    """The identity of a name or a matched text: folded, separators and apostrophes removed."""
    return re.sub(r"[\s._'\-,]+", "", fold(text))


def ordinary_words() -> frozenset[str]:
    from mailbot.words.vocabulary import ordinary_words as words
    return words()


def _clean(text) -> str:
    if not text:
        return ""
    text = re.sub(r"\s+", " ", str(text)).strip().strip(",;:")
    if fold(text).strip(" .") in NOT_A_NAME or len(_key(text)) < 2:
        return ""
    return text


def _as_list(value) -> list[str]:
    if not value:
        return []
    if isinstance(value, str):
        value = re.split(r"[,;/]| and ", value)
    return [v for v in (_clean(x) for x in value) if v]


def _words(name: str) -> list[str]:
    return [w for w in re.split(r"[\s]+", name) if w]


def _parts(name: str) -> list[str]:
    """Single words and the pieces of hyphenated words, without particles."""
    out = []
    for w in _words(name):
        out.append(w)
        pieces = [p for p in re.split("[" + _DASHES + "]", w) if p]
        if len(pieces) > 1:
            out.extend(pieces)
    return [p for p in (_clean(x) for x in out) if p and fold(p).strip(".'") not in PARTICLES]


def _split_person(person: dict) -> tuple[str, str, str]:
    full = _clean(person.get("name") or "")
    first = _clean(person.get("first_name") or person.get("first") or "")
    surname = _clean(person.get("surname") or person.get("last_name") or "")
    if full and not (first or surname):
        words = _words(full)
        if len(words) >= 2:
            first, surname = words[0], " ".join(words[1:])
        else:
            first = full
    if not full:
        full = " ".join(x for x in (first, surname) if x)
    return full, first, surname


def _family_placeholder(relationship: str) -> str:
    rel = fold(relationship or "")
    return PLACEHOLDER_PARENT if any(w in rel for w in PARENT_WORDS) else PLACEHOLDER_FAMILY


def _initials(words: list[str]) -> str:
    letters = [w[0] for w in words if w and w[0].isalpha() and fold(w).strip(".'") not in PARTICLES]
    return "".join(letters).upper()


def protected_names(children: list[dict], family: list[dict], codes: list[str], *,
                    derive: bool = True, exclude: frozenset[str] | set[str] = frozenset()) -> list[ProtectedName]:
    """Every variant of every protected name, with its replacement. Children come first.

    ``children`` are dicts with name / first_name (or first) / surname / known_as /
    other_surnames / aliases; ``family`` dicts have name, relationship and aliases;
    ``codes[i]`` is the case code of ``children[i]``.

    With ``derive`` (the default), each first name also brings its pet names and diminutives
    (the nickname table, suffix forms: protected when Capitalised), each person their
    joined-up forms (initial + surname: "rbeddoe") and their initials (B.L., BL; with dots
    only where the letters are a common abbreviation). ``exclude``: folded words never
    derived (the professionals named on the form).
    """
    from mailbot.words.vocabulary import acronyms, nicknames_of, suffix_forms

    if len(codes) < len(children):
        raise ValueError("one case code is needed per young person")
    ordinary = ordinary_words()
    seen: dict[str, ProtectedName] = {}
    derived: list[tuple[str, str]] = []

    def add(text: str, replacement: str, kind: str, *, ordinary_word: bool | None = None) -> None:
        text = _clean(text)
        if not text:
            return
        key = _key(text)
        if key in seen:  # first (child, then earlier child) wins
            return
        single = len(_words(text)) == 1 and not re.search("[" + _DASHES + "]", text)
        if ordinary_word is None:
            ordinary_word = single and fold(text) in ordinary
        seen[key] = ProtectedName(text, replacement, kind, ordinary_word)

    def add_initials(words: list[str], replacement: str) -> None:
        ini = _initials(words)
        if len(ini) < 2 or len(ini) > 4:
            return
        dotted = ".".join(ini) + "."
        if ini not in acronyms():
            k = _key(ini)
            if k not in seen:
                seen[k] = ProtectedName(ini, replacement, "initials", upper=True)
        k = "." + _key(ini)  # its own key: the dotted pattern differs from the plain one
        if k not in seen:
            seen[k] = ProtectedName(dotted, replacement, "initials-dotted", upper=True)

    child_surnames: list[tuple[str, str]] = []
    firsts: list[tuple[str, str]] = []
    for child, code in zip(children, codes):
        full, first, surname = _split_person(child)
        add(full, code, "child-full")
        if first and surname:
            add(f"{first} {surname}", code, "child-full")
        for k in _as_list(child.get("known_as")):
            if surname:
                add(f"{k} {surname}", code, "child-full")
        for other in _as_list(child.get("other_surnames")):
            if first:
                add(f"{first} {other}", code, "child-full")
        if first:
            add(first, code, "child-first")
            for part in _parts(first):
                add(part, code, "child-first")
                firsts.append((part, code))
        if surname:
            add(surname, code, "child-surname")
            child_surnames.append((surname, code))
        for k in _as_list(child.get("known_as")):
            add(k, code, "known-as")
            firsts.append((k, code))
        for other in _as_list(child.get("other_surnames")):
            add(other, code, "other-surname")
            for part in _parts(other):
                add(part, code, "surname-part")
        for a in _as_list(child.get("aliases")):
            add(a, code, "alias")
            if surname and len(_words(a)) == 1:
                add(f"{a} {surname}", code, "child-full")
        for w in _words(full)[1:-1]:  # middle names
            if fold(w).strip(".'") not in PARTICLES:
                add(w, code, "child-first")
        for part in _parts(surname or ""):
            add(part, code, "surname-part")
        for part in _parts(full):
            add(part, code, "surname-part")
        if derive:
            words = _words(full)
            if first and surname:
                derived.append((f"{first[0]} {surname}", code))      # rbeddoe, r.beddoe
                derived.append((f"{surname} {first}", code))         # beddoe.rhodri
                add_initials(_words(first) + _words(surname), code)
                if len(words) > 2:
                    add_initials([words[0], words[-1]], code)
            elif len(words) >= 2:
                add_initials(words, code)
    for member in family:
        full, first, surname = _split_person(member)
        placeholder = _family_placeholder(member.get("relationship") or "")
        add(full, placeholder, "family-full")
        if first and surname:
            add(f"{first} {surname}", placeholder, "family-full")
        for part in [first, surname] + _parts(full):
            if part:
                add(part, placeholder, "family-part")
        for a in _as_list(member.get("aliases")):
            add(a, placeholder, "alias")
            for part in _parts(a):
                add(part, placeholder, "alias")
        if derive and first:
            firsts.append((first, placeholder))
            if surname:
                derived.append((f"{first[0]} {surname}", placeholder))
                add_initials(_words(first) + _words(surname), placeholder)
    if derive:
        for first, replacement in firsts:
            nicks = set(nicknames_of(first))
            forms = nicks | suffix_forms(first)
            for nick in nicks:  # Libby -> Libs, Peggy -> Peggo
                if len(nick) >= 4:
                    forms |= suffix_forms(nick)
            for form in sorted(forms):
                if form in exclude or len(form) < 2:
                    continue
                derived.append((form, replacement))
        for text, replacement in derived:
            text = _clean(text)
            if not text or _key(text) in seen:
                continue
            single = len(_words(text)) == 1
            # a derived single word is protected when Capitalised: "Peg", "Will" stay words
            seen[_key(text)] = ProtectedName(text, replacement, "derived", ordinary=single)
    return list(seen.values())


# -- names the text itself introduces -------------------------------------------

_CAP = r"[A-Z\u00c0-\u024f\u0400-\u04ff][\w’'\-\u00ad\u200b-\u200d\u2060]*"
_Q_OPEN = "‘'\"“«„"
_Q_CLOSE = "’'\"”»“"
_INTRO = re.compile(
    r"(?:(?:also\s+)?known\s+(?:to\s+\w+\s+)?as|goes\s+by|go\s+by|going\s+by|nick-?named|nickname\s+(?:is\s+)?|"
    r"a\.?k\.?a\.?|calls?\s+(?:him|her|them)(?:self|selves)?|called|prefers?\s+(?:to\s+be\s+called\s+)?|"
    r"answers\s+to|likes\s+to\s+be\s+called|referred\s+to\s+as)\s*[:,]?\s*[" + _Q_OPEN + r"]?\s*(" + _CAP + r")",
)
_MAIDEN = re.compile(
    r"(?:n[ée]e|maiden\s+name(?:\s+(?:is|was|of))?|formerly|previously|birth\s+name(?:\s+(?:is|was))?|"
    r"born|also\s+uses(?:\s+the\s+surname)?|surname\s+(?:was|used\s+to\s+be))\s*[:,]?\s*[" + _Q_OPEN
    + r"]?(" + _CAP + r"(?:[\s\-]" + _CAP + r")?)",
    re.IGNORECASE,
)
_RELATIVE_WORDS = (
    r"(?:half[\s-]|step[\s-]?|twin\s+|older\s+|younger\s+|big\s+|little\s+|baby\s+|eldest\s+|elder\s+)*"
    r"(?:brother|sister|sibling|cousin|uncle|aunt|auntie|aunty|nan|nana|nanna|gran|granny|grandma|grandmother|"
    r"grandad|granddad|grandpa|grandfather|nephew|niece|mum|mom|mam|mother|dad|father|stepdad|stepmum|"
    r"step-?father|step-?mother|partner|boyfriend|girlfriend|son|daughter|carer|guardian|godmother|godfather)"
)
_RELATIVE_BEFORE = re.compile(
    r"(?i:\b(?:his|her|their|the|a|an|whose|and|with|my|your|'s|’s)\s+" + _RELATIVE_WORDS
    + r"(?:'s|’s)?\s*,?\s*(?:(?:called|named|is|was)\s+)?)(" + _CAP + r"(?:\s+" + _CAP + r")?)",
)
_RELATIVE_AFTER = re.compile(
    r"(" + _CAP + r")\s*(?:\([^)]*\))?\s*,\s*(?i:(?:his|her|their|the)\s+" + _RELATIVE_WORDS + r")\b",
)
_QUOTED = re.compile(r"[" + _Q_OPEN + r"](" + _CAP + r")[" + _Q_CLOSE + r"]")


def _name_words(text: str) -> list[str]:
    return [w for w in re.split(r"[\s]+", text.strip(" .,;:")) if w]


def discover(texts: list[str], children: list[dict], family: list[dict], *,
             allowed: frozenset[str] | set[str] = frozenset()) -> tuple[list[list[str]], list[list[str]], list[dict]]:
    """Names the form's own text introduces, beyond its fields.

    Returns (aliases per child, aliases per family member, relatives named only in the text):
    nicknames introduced ("known as Robbie", "friends call him 'Twm'", a quoted word beside a
    name), maiden and former names ("née Eynon", "maiden name Eynon"), relatives named in the
    prose ("her older brother Emrys"), and one-letter typos of a name of five letters or more
    ("Padriag" for Pádraig). ``allowed``: folded words that are never taken (professionals,
    agencies, places). Pure; the texts are not kept.
    """
    from mailbot.words.vocabulary import is_ordinary_word

    child_aliases: list[list[str]] = [[] for _ in children]
    family_aliases: list[list[str]] = [[] for _ in family]
    relatives: list[dict] = []
    known: dict[str, tuple[str, int]] = {}  # folded word -> ("child"|"family", index)
    owners: dict[str, set] = {}               # folded word -> everyone it names
    firsts: list[tuple[str, tuple[str, int]]] = []
    for i, c in enumerate(children):
        for n in [c.get("name"), c.get("first_name"), c.get("surname")] + list(c.get("known_as") or []) + \
                list(c.get("other_surnames") or []) + list(c.get("aliases") or []):
            for w in _name_words(n or ""):
                known.setdefault(fold(w), ("child", i))
                owners.setdefault(fold(w), set()).add(("child", i))
        words = _name_words(c.get("first_name") or c.get("name") or "")
        if words:
            firsts.append((fold(words[0]), ("child", i)))
    for i, f in enumerate(family):
        words = _name_words(f.get("name") or "")
        for w in words:
            known.setdefault(fold(w), ("family", i))
            owners.setdefault(fold(w), set()).add(("family", i))
        if words:
            firsts.append((fold(words[0]), ("family", i)))
    from mailbot.words.vocabulary import nicknames_of, suffix_forms

    def derived_owner(word: str) -> tuple[str, int] | None:
        w = fold(word)
        for first, owner in firsts:
            if w in nicknames_of(first) or w in suffix_forms(first) or (len(w) >= 3 and first.startswith(w)):
                return owner
        return None

    def relative_owner(text: str, pos: int) -> tuple[str, int] | None:
        m = re.search(_RELATIVE_WORDS + r"\W{0,3}$", text[max(0, pos - 40):pos], re.I)
        if not m:
            return None
        rel = m.group(0).lower()
        for i, f in enumerate(family):
            frel = fold(f.get("relationship") or "")
            if frel and any(k in rel for k in re.findall(r"[a-z]+", frel)):
                return ("family", i)
        return None

    def plausible(word: str) -> bool:
        w = fold(word).strip("'’-")
        if len(w) < 2 or w in allowed or w in known or w in NOT_A_NAME or not any(ch.isalpha() for ch in w):
            return False
        return not is_ordinary_word(w)

    def owner_near(text: str, pos: int) -> tuple[str, int]:
        """The person whose name is nearest before ``pos`` in this text (else the first child)."""
        best, best_pos = ("child", 0), -1
        for m in re.finditer(r"[^\W\d_][\w’'\-]*", text[:pos]):
            w = fold(m.group())
            who = owners.get(w) or owners.get(w.rstrip("s").rstrip("'’")) or set()
            if len(who) == 1 and m.start() > best_pos:  # a shared surname names no one in particular
                best, best_pos = next(iter(who)), m.start()
        return best

    def owner_of(word: str, text: str, pos: int) -> tuple[str, int]:
        return derived_owner(word) or relative_owner(text, pos) or owner_near(text, pos)

    def give(owner: tuple[str, int], word: str) -> None:
        target = child_aliases if owner[0] == "child" or not family else family_aliases
        idx = owner[1] if owner[0] == "child" or not family else min(owner[1], len(family) - 1)
        if owner[0] == "child" and not children:
            return
        if word not in target[idx]:
            target[idx].append(word)
        known.setdefault(fold(word), owner)

    for text in texts:
        if not text:
            continue
        for m in _INTRO.finditer(text):
            word = m.group(1).strip("’'-")
            if plausible(word):
                give(owner_of(word, text, m.start(1)), word)
        for m in _QUOTED.finditer(text):
            word = m.group(1).strip("’'-")
            window = text[max(0, m.start() - 60):m.start()]
            if plausible(word) and (re.search(r"call|known|name|goes|nick|sister|brother|mum|dad|mother|father",
                                              window, re.I) or owner_near(text, m.start()) != ("child", 0)
                                    or any(fold(w) in known for w in re.findall(r"\w+", window))):
                give(owner_of(word, text, m.start()), word)
        for m in _MAIDEN.finditer(text):
            for word in _name_words(m.group(1)):
                if plausible(word) and word[0].isupper():
                    give(owner_near(text, m.start()), word)  # née X: the person named just before
        for rx in (_RELATIVE_BEFORE, _RELATIVE_AFTER):
            for m in rx.finditer(text):
                name = m.group(1)
                words = [w for w in _name_words(name) if plausible(w)]
                if not words:
                    continue
                if any(fold(w) in known for w in _name_words(name)):
                    continue
                rel = re.search(_RELATIVE_WORDS, m.group(0), re.I)
                relatives.append({"name": " ".join(words), "relationship":
                                  (rel.group(0).lower() if rel else "relative") + " (named in the text)"})
                for w in words:
                    known.setdefault(fold(w), ("family", len(family) + len(relatives) - 1))
    # one-letter typos of a name of five letters or more
    try:
        from rapidfuzz.distance import DamerauLevenshtein
    except ImportError:  # pragma: no cover - a dependency
        DamerauLevenshtein = None
    if DamerauLevenshtein is not None:
        long_names = [(w, owner) for w, owner in known.items() if len(w) >= 5 and w.isalpha()]
        seen_words: set[str] = set()
        for text in texts:
            for m in re.finditer(r"(?<!\w)([A-Z\u00c0-\u024f][^\W\d_]{4,})(?!\w)", text or ""):
                word = m.group(1)
                w = fold(word)
                if w in seen_words or w in known or w in allowed:
                    continue
                seen_words.add(w)
                if is_ordinary_word(w):
                    continue
                for name, owner in long_names:
                    if abs(len(name) - len(w)) <= 1 and name[0] == w[0] and \
                            DamerauLevenshtein.distance(name, w, score_cutoff=1) <= 1:
                        if owner[0] == "child" or owner[1] < len(family):
                            give(owner, word)
                        break
    return child_aliases, family_aliases, relatives


# -- matching --------------------------------------------------------------

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
_ADDRESS = re.compile(
    r"(?:mailto:)?[^\s<>\"'()\[\],;:@]+@[^\s<>\"'()\[\],;:@]*[^\s<>\"'()\[\],;:@.]"
    r"|(?:https?://|ftp://|file:/*|www\.|\\\\)[^\s<>\"']*[^\s<>\"'.,;:)\]]"
    r"|(?<![\w@.])@[A-Za-z0-9_.]*[A-Za-z0-9_]"
    r"|(?<![\w@/])[\w\-]+(?:\.[\w\-]+)+/[^\s<>\"']*[^\s<>\"'.,;:)\]]"
)


_NOT_LETTER = re.compile(r"[^a-z]+")


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
                initials.add(_key(n.text))
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
        inner = {tuple(re.escape(c) for c in _key(n.text)) for n in self.names
                 if len(_key(n.text)) >= 4 and _key(n.text).isalpha() and not n.ordinary
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
        return self.by_key.get(_key(m.group())) or ProtectedName(m.group(), "[name removed]", "unknown")

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

    def search(self, text: str) -> Match | None:
        for m in self.finditer(text):
            return m
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
        for m in self.finditer(text):
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
                  apart=None, caps=None, backwards: str | None = None) -> bool:
        """Superset test: a name, or a name inside an address. ``folded``: normalised text
        (mailbot.words.textnorm.normalise: case kept, so that a name that is also a word counts only
        when capitalised, as in :meth:`finditer`). From a cached surface, for a fast first test:
        ``letters``: the letters of its addresses (:func:`address_letters`); ``words``: its
        distinct words in lower case (a set); ``apart``: those that touch no digit; ``caps``: those
        written with a capital; ``backwards``: each word reversed, one per line."""
        if low is None:
            low = folded.lower()
        if words is None or (
                not self.whole_words.isdisjoint(words)
                or not self.cap_whole_words.isdisjoint(caps)
                or not self.initial_words.isdisjoint(apart)
                or (self.last_words is not None and self.last_words.search(backwards))
                or (self.dotted is not None and self.dotted.search(low))):
            same = len(low) == len(folded)  # lower() kept every position: spans map back
            for m in (self.regex if same else self.regex_i).finditer(low if same else folded):
                name = self.by_key.get(_key(m.group()))
                text = folded[m.start():m.end()] if same else m.group()
                if name is None or not (name.ordinary or name.upper):
                    return True
                if name.upper and all(c.isupper() for c in text if c.isalpha()):
                    return True
                if name.ordinary and not name.upper and text[:1].isupper():
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
