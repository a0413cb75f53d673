"""One vocabulary for every check on names (stripper, verifier, recall check, gates, minutes).

Each list is loaded once per process (lazily) from maintained packages and from ``rules/``:

* :func:`ordinary_words`: first names that are also ordinary words (rules/ordinary_words.txt):
  protected only when written Capitalised or in CAPITALS;
* :func:`is_ordinary_word`: a word an English dictionary lists in lower case (``english-words``:
  web2 + GCIDE), with plurals: "grace", "summer", "miles" are words, "Rhodri", "Jason" are not;
* :func:`nicknames_of`: pet names and diminutives of a first name, both ways (the maintained
  ``nicknames`` dataset of English names, plus the Welsh and Irish forms of rules/nicknames.toml);
* :func:`first_names` / :func:`surnames`: name lexicons for the recall check
  (``gender-guesser``'s international first names, the ``names`` package's census lists,
  ``nicknames``, and rules/names_extra.txt);
* :func:`acronyms`: letter pairs that forms use as abbreviations (GP, SW): initials that
  collide with one are matched only when written with dots (S.W.).
"""

from __future__ import annotations

import logging
import re
import tomllib
from functools import lru_cache
from pathlib import Path

from mailbot.paths import shipped
from mailbot.words.textnorm import fold

log = logging.getLogger("mailbot.vocabulary")

RULES_DIR = shipped("rules")


def _lines(name: str) -> list[str]:
    try:
        text = (RULES_DIR / name).read_text(encoding="utf-8")
    except OSError:  # pragma: no cover - shipped with the package
        return []
    return [l.strip() for l in text.splitlines() if l.strip() and not l.lstrip().startswith("#")]


@lru_cache(maxsize=1)
def ordinary_words() -> frozenset[str]:
    """Names that are also ordinary words: matched only when Capitalised (folded)."""
    return frozenset(fold(l) for l in _lines("ordinary_words.txt"))


@lru_cache(maxsize=1)
def _dictionary() -> frozenset[str]:
    try:
        from english_words import get_english_words_set
        words = get_english_words_set(["web2", "gcide"], lower=False, alpha=True)
    except Exception:  # pragma: no cover - a dependency; without it nothing counts as a word
        log.warning("english word list not available")
        return frozenset()
    return frozenset(w for w in words if w.islower())


def is_ordinary_word(word: str) -> bool:
    """True when ``word`` (any case) is an English word written in lower case in a dictionary."""
    w = fold(word)
    if not w.isalpha():
        return False
    d = _dictionary()
    if w in d or w in ordinary_words():
        return True
    if w.endswith("ies") and w[:-3] + "y" in d:
        return True
    if w.endswith("es") and w[:-2] in d:
        return True
    if w.endswith("s") and w[:-1] in d:
        return True
    if w.endswith(("'s", "s'")) and w[:-2] in d:
        return True
    for suffix, repl in (("ed", ""), ("ed", "e"), ("ing", ""), ("ing", "e"), ("ly", ""), ("er", ""), ("est", ""),
                         ("ied", "y"), ("ier", "y"), ("iest", "y")):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            stem = w[: -len(suffix)] + repl
            if stem in d or (len(stem) > 3 and stem[-1] == stem[-2] and stem[:-1] in d):
                return True
    return False


@lru_cache(maxsize=1)
def _nickname_table() -> dict[str, frozenset[str]]:
    table: dict[str, set[str]] = {}

    def link(a: str, b: str) -> None:
        a, b = fold(a), fold(b)
        if a and b and a != b:
            table.setdefault(a, set()).add(b)
            table.setdefault(b, set()).add(a)

    try:
        from nicknames import NickNamer
        nn = NickNamer()
        for canonical, nicks in (getattr(nn, "nickname_lookup", None) or {}).items():
            for n in nicks:
                link(canonical, n)
    except Exception:  # pragma: no cover - a dependency
        log.warning("nicknames dataset not available")
    try:
        data = tomllib.loads((RULES_DIR / "nicknames.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):  # pragma: no cover - shipped
        data = {}
    for canonical, nicks in (data.get("nicknames") or {}).items():
        for n in nicks:
            link(canonical, n)
            for other in nicks:
                link(n, other)
    return {k: frozenset(v) for k, v in table.items()}


def nicknames_of(first_name: str) -> frozenset[str]:
    """Folded pet names and diminutives of ``first_name`` (and the names they are short for)."""
    return _nickname_table().get(fold(first_name), frozenset())


@lru_cache(maxsize=1)
def _mutation_tables() -> tuple[tuple[tuple[str, str], ...], ...]:
    try:
        data = tomllib.loads((RULES_DIR / "welsh_mutations.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):  # pragma: no cover - shipped
        return ()
    # longest first letters first (ll before l, rh before r)
    return tuple(tuple(sorted(((fold(k), fold(v)) for k, v in table.items()), key=lambda kv: -len(kv[0])))
                 for table in data.values() if isinstance(table, dict))


def mutated_forms(name: str) -> set[str]:
    """Folded Welsh mutations of a one-word name (rules/welsh_mutations.toml): Gwenllian -> wenllian,
    ngwenllian; Tomos -> domos, nhomos, thomos. Empty for names under four letters."""
    w = fold(name)
    if len(w) < 4 or not w.isalpha():
        return set()
    out = set()
    for table in _mutation_tables():
        for start, becomes in table:
            if w.startswith(start):
                form = becomes + w[len(start):]
                if len(form) >= 3 and form != w:
                    out.add(form)
                break
    return out


SUFFIXES = ("y", "ie", "o", "sy", "ey", "i", "s")


def suffix_forms(first_name: str) -> set[str]:
    """The diminutives made by a suffix: Gwen -> Gwenny, Gwennie, Gwenno; Rob -> Robbie."""
    w = fold(first_name)
    if len(w) < 3 or not w.isalpha():
        return set()
    stems = {w}
    if w[-1] in "aeiouy":
        stems.add(w[:-1])
    else:
        stems.add(w + w[-1])
    if len(w) >= 5:
        for n in (3, 4):
            stem = w[:n]
            stems.add(stem)
            if stem[-1] not in "aeiouy":
                stems.add(stem + stem[-1])  # Robert -> Robb-ie, Thomas -> Tomm-y
    out = set()
    for stem in stems:
        if len(stem) < 3:
            continue
        for suf in SUFFIXES:
            form = stem + suf
            if form != w:
                out.add(form)
    return out


@lru_cache(maxsize=1)
def first_names() -> frozenset[str]:
    names: set[str] = set()
    try:
        import gender_guesser
        path = Path(gender_guesser.__file__).parent / "data" / "nam_dict.txt"
        with open(path, encoding="iso-8859-1") as fh:
            for line in fh:
                if line.startswith("#") or len(line) < 30:
                    continue
                name = line[3:29].strip()
                if name and "+" not in name:
                    for part in re.split(r"[\s-]+", name):
                        if len(part) >= 2:
                            names.add(fold(part))
    except Exception:  # pragma: no cover
        log.warning("first-name lexicon not available")
    try:
        import names as census
        base = Path(census.__file__).parent
        for fname in ("dist.male.first", "dist.female.first"):
            with open(base / fname, encoding="ascii", errors="ignore") as fh:
                names.update(fold(l.split()[0]) for l in fh if l.strip())
    except Exception:  # pragma: no cover
        pass
    names.update(_nickname_table())
    names.update(fold(l) for l in _lines("names_extra.txt"))
    return frozenset(names)


@lru_cache(maxsize=1)
def surnames() -> frozenset[str]:
    out: set[str] = set()
    try:
        import names as census
        with open(Path(census.__file__).parent / "dist.all.last", encoding="ascii", errors="ignore") as fh:
            out.update(fold(l.split()[0]) for l in fh if l.strip())
    except Exception:  # pragma: no cover
        log.warning("surname lexicon not available")
    out.update(fold(l) for l in _lines("names_extra.txt"))
    return frozenset(out)


@lru_cache(maxsize=1)
def not_names() -> frozenset[str]:
    """Capitalised words of forms that are not people's names (rules/not_names.txt)."""
    return frozenset(fold(l) for l in _lines("not_names.txt"))


@lru_cache(maxsize=1)
def acronyms() -> frozenset[str]:
    return frozenset(l.upper() for l in _lines("acronyms.txt"))


def looks_like_name(word: str) -> bool:
    """A word a name lexicon knows that is not an ordinary lower-case English word."""
    w = fold(word)
    if len(w) < 2 or is_ordinary_word(w):
        return False
    return w in first_names() or w in surnames()
