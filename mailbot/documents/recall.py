"""The recall check: a second look at a coded document that knows nothing of what the reader found.

The stripper and its verifier remove and look for the names the reader found on the form (with
all their forms). Whatever the reader missed would go out unnoticed, so after coding this check
reads the coded document again and looks for anything that *looks like* a person's name:

* a capitalised word that a first-name or surname lexicon knows and that is not an ordinary
  lower-case English word (mailbot.words.vocabulary.looks_like_name);
* a word the text introduces as a name ("known as X", "goes by X", "friends call him 'X'",
  "née X", "her brother X");

unless it is a word of the form itself (its labels and headings), of the professionals and
organisations the form names (referrer, signatory, agencies), of the network's members and
contacts, or a case code or placeholder. A hit holds the referral for the coordinator: the
result names the section and paragraph, never the word.

Pure: bytes in, findings out.
"""

from __future__ import annotations

import io
import re
import tomllib
import zipfile
from dataclasses import dataclass
from functools import lru_cache

from mailbot.paths import shipped
from mailbot.documents.package import open_package, parse_xml
from mailbot.documents.xml_streams import as_shown
from mailbot.words.textnorm import fold, normalise

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_P = f"{{{W}}}p"
_T = f"{{{W}}}t"
_TAB = f"{{{W}}}tab"
_BR = f"{{{W}}}br"
_WORD = re.compile(r"[^\W\d_][^\W\d_'’\-]*(?:[-'’][^\W\d_]+)*")
_CODE = re.compile(r"^CN\d+[A-Z]?$")
_INTRO = re.compile(
    r"(?:known\s+(?:to\s+\w+\s+)?as|goes\s+by|nick-?named|calls?\s+(?:him|her|them)(?:self)?|called|"
    r"a\.?k\.?a\.?|n[ée]e|maiden\s+name|brother|sister|cousin|uncle|aunt|auntie|nan|gran|grandmother|"
    r"grandfather|mum|dad|mother|father|stepdad|stepmum|boyfriend|girlfriend)\s*+[:,]?+\s*+[‘'\"“]?+\s*+([A-Z][\w’'\-]+)")
# Never a hang on a long run of spaces or a long word (each was read again from every start: minutes).
# _INTRO's spaces and marks are possessive: nothing after them could take what they give back.
# _QUOTED starts once per word, at its first trigger (every trigger in a word reaches the same word's
# end, so the same quote): the same names as "(?:call|known|name|goes)\w*[^.]{0,30}?[‘'"“]...".
_QUOTED = re.compile(r"(?<!\w)(?>\w*?(?:call|known|name|goes))\w*+[^.]{0,30}?[‘'\"“]([A-Z][\w\-]+)[’'\"”]")


@dataclass(frozen=True)
class Finding:
    part: str
    section: str
    paragraph: int

    def where(self) -> str:
        where = f"paragraph {self.paragraph}"
        if self.section:
            where += f" of {self.section}"
        if self.part != "word/document.xml":
            where += f" ({_part_label(self.part)})"
        return where


def _part_label(part: str) -> str:
    base = part.rsplit("/", 1)[-1]
    for prefix, label in (("header", "a page header"), ("footer", "a page footer"), ("footnotes", "the footnotes"),
                          ("endnotes", "the endnotes"), ("comments", "the comments"), ("core", "the document properties"),
                          ("app", "the document properties")):
        if base.startswith(prefix):
            return label
    return "another part of the document"


@lru_cache(maxsize=1)
def form_words() -> frozenset[str]:
    """Words of the form's own text: the labels, section headings and column names of
    rules/form_labels.toml, and the text of the blank forms in templates/."""
    words: set[str] = set()

    def add(text: str) -> None:
        for w in _WORD.findall(text or ""):
            words.add(fold(w))

    try:
        data = tomllib.loads((shipped("rules") / "form_labels.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):  # pragma: no cover - shipped
        data = {}

    def walk(v) -> None:
        if isinstance(v, str):
            add(v)
        elif isinstance(v, list):
            for x in v:
                walk(x)
        elif isinstance(v, dict):
            for k, x in v.items():
                add(k.replace("_", " "))
                walk(x)

    walk(data)
    for name in ("referral-form.docx", "minutes-template.docx"):
        try:
            pkg = open_package((shipped("templates") / name).read_bytes())
            for part in pkg.parts:
                if part.startswith("word/") and part.endswith(".xml"):
                    add(" ".join(pkg.xml(part).itertext()))
        except Exception:  # noqa: BLE001 - a network may have replaced a blank form: no words from it
            continue
    words.update("section young person referral referrer agency network coordinator office use only".split())
    from mailbot.words.vocabulary import not_names
    words.update(not_names())
    # dates and the software that wrote the file (docProps/app.xml)
    words.update("january february march april may june july august september october november december "
                 "jan feb mar apr jun jul aug sep sept oct nov dec monday tuesday wednesday thursday friday "
                 "saturday sunday mon tue tues wed thu thur thurs fri sat sun microsoft macintosh windows word "
                 "office libreoffice openoffice google docs apple pages writer normal dotx dotm".split())
    return frozenset(words)


def allowed_words(*texts: str) -> frozenset[str]:
    """Folded words of these texts (names of professionals, agencies, members): never suspicious."""
    out: set[str] = set()
    for t in texts:
        for w in _WORD.findall(t or ""):
            out.add(fold(w))
        for w in re.split(r"[^a-z]+", (t or "").lower()):
            if len(w) >= 3:
                out.add(w)
    return frozenset(out)


def _suspicious(word: str, allowed: frozenset[str], text: str, start: int) -> bool:
    from mailbot.words.vocabulary import is_ordinary_word, looks_like_name

    if not word[:1].isupper() or _CODE.match(word):
        return False
    w = fold(word)
    for cut in ("'s", "’s", "s'"):
        if w.endswith(fold(cut)):
            w = w[: -len(cut)]
    if len(w) < 2 or w in allowed or w in form_words():
        return False
    if is_ordinary_word(w):
        # an ordinary word is a name only when the text introduces it as one
        return False
    return looks_like_name(w)


def _paragraph_texts(root) -> list[str]:
    out = []
    for p in root.iter(_P):
        pieces = []
        for el in p.iter(_T, _TAB, _BR):
            if el.tag == _T:
                pieces.append(as_shown(el))  # a run formatted all capitals, as shown
            else:
                pieces.append(" ")
        text = "".join(pieces).strip()
        if text:
            out.append(text)
    return out


# parts that hold no words a person wrote: layout, fonts, themes, relationships, data-store ids
_NO_TEXT_PARTS = re.compile(r"^(?:\[Content_Types\]\.xml|.*\.rels|word/(?:styles|stylesWithEffects|fontTable|"
                            r"webSettings)\.xml|word/theme/.*|customXml/itemProps\d*\.xml)$")
# attributes that hold words a person wrote (local names), and w:val of these elements
_TEXT_ATTRS = frozenset({"descr", "title", "string", "alt", "displayText", "tooltip"})
_TEXT_VALS = frozenset({"docVar", "tblCaption", "tblDescription", "lvlText", "default", "listEntry"})


def _attribute_texts(root) -> list[str]:
    out = []
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        local = el.tag.rsplit("}", 1)[-1]
        for key, value in el.attrib.items():
            name = key.rsplit("}", 1)[-1]
            if value and value.strip() and (name in _TEXT_ATTRS or (name == "val" and local in _TEXT_VALS)
                                            or (name == "name" and local == "property")):
                out.append(value.strip())
    return out


def check(data: bytes, *, allowed: frozenset[str] = frozenset()) -> list[Finding]:
    """Where a word that looks like a person's name remains in a coded document (empty: none)."""
    from mailbot.documents.form_labels import RULES, load_rules, section_of

    rules = load_rules(RULES)
    findings: list[Finding] = []
    # the coded document is mailbot's own output, already opened and verified: read only the
    # parts that hold text, with the same safe parser
    # every part a person's words can be in: not only the body, headers, notes and properties but
    # charts, SmartArt, the glossary, customXml data, custom properties, numbering and settings
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        parts = {n: zf.read(n) for n in zf.namelist() if n.endswith(".xml") and not _NO_TEXT_PARTS.match(n)}
    for part, raw in parts.items():
        try:
            root = parse_xml(raw)
        except Exception:  # noqa: BLE001 - the verifier has read every part already; skip
            continue
        texts = _paragraph_texts(root) if isinstance(root.tag, str) and root.tag.startswith(f"{{{W}}}") else \
            [t.strip() for t in root.itertext() if t and t.strip()]
        texts += _attribute_texts(root)  # alt text, titles, WordArt, list entries, captions, docVars
        section = ""
        for n, raw in enumerate(texts, 1):
            text = normalise(raw)
            sec = section_of(text, rules) if len(text) < 80 and text.lower().startswith("section") else None
            if sec:
                section = text if not any(_suspicious(w, allowed, text, 0) for w in _WORD.findall(text)) \
                    else "a section"
                continue
            hit = False
            for m in _WORD.finditer(text):
                if _suspicious(m.group(), allowed, text, m.start()):
                    hit = True
                    break
            if not hit:
                for m in list(_INTRO.finditer(text)) + list(_QUOTED.finditer(text)):
                    word = m.group(1).strip("’'-")
                    if _CODE.match(word) or fold(word) in allowed or fold(word) in form_words():
                        continue
                    from mailbot.words.vocabulary import is_ordinary_word
                    if not is_ordinary_word(word):
                        hit = True
                        break
            if hit:
                findings.append(Finding(part, section, n))
    return findings
