"""The values a Referral Form's boxes hold, read one at a time.

Cleaning a box's text, empty answers ("None", "N/A"), lists ("Billy, Will and Bill"), a name
split into first name and surname (particles kept: "Ní Bhriain", "de la Cruz"), tick boxes and
Yes/No answers, gender, a family line ("Nigel Lockhart (father), tel. ..."), a date of birth
(refused in plain words when impossible), bullets and instructions. The words that mean each
answer are data (rules/form_labels.toml).
"""

from __future__ import annotations

import datetime as _dt
import re

from mailbot.documents.dates import parse_date
from mailbot.documents.form_labels import Rules, canon
from mailbot.documents.referral.result import FamilyMember
from mailbot.errors import BadField

# the local part bounded and possessive: read from each letter of a long word (200,000 letters: 90 s); every
# address with a local part up to 256 characters is found as before
EMAIL = re.compile(r"[\w.+'-]{1,256}+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"(?:\+?\d[\d ()-]{6,}\d)")
TICKED = "☒☑✓✔✗✘■●⊠"
UNTICKED = "☐□○❏"


def clean_value(text: str) -> str:
    s = (text or "").replace("\u00a0", " ").replace("\u2003", " ").replace("\u2002", " ")
    s = re.sub(r"_{2,}|\.{4,}", " ", s)
    s = re.sub(r"[ \t]+", " ", s)
    s = "\n".join(line.strip() for line in s.split("\n"))
    return s.strip(" \t\n:-–")


def is_empty(text: str, rules: Rules) -> bool:
    return canon(text) in rules.values["empty"]


def split_list(text: str, rules: Rules) -> list[str]:
    """'Billy, Will and Bill' -> ['Billy', 'Will', 'Bill'] (empty answers dropped)."""
    if is_empty(text, rules):
        return []
    parts = re.split(r"\s*(?:[,;/\n|&]|\band\b|\bor\b)\s*", text)
    out = []
    for p in parts:
        p = p.strip(" \t\"'“”‘’.-–")
        if p and not is_empty(p, rules) and p not in out:
            out.append(p)
    return out


_PARTICLES = frozenset("ní nic ó o ui uí mac mc van von der den de la le du da di del della dos das bin ben al el st ap ua".split())


def split_name(full: str) -> tuple[str, str]:
    """('First Middle', 'Surname'), keeping 'Ní Bhriain', 'de la Cruz', 'Smith-Jones', "O'Neill" whole."""
    tokens = full.split()
    if not tokens:
        return "", ""
    if len(tokens) == 1:
        return tokens[0], ""
    i = len(tokens) - 1
    while i > 1 and tokens[i - 1].lower().strip(".") in _PARTICLES:
        i -= 1
    first = tokens[0]
    return first, " ".join(tokens[i:])


def parse_yes_no(text: str, rules: Rules) -> bool | None:
    """☒ Yes ☐ No / Yes ☒ No ☐ / [X] Yes / Yes X No / 'Yes' / 'No' / 'Not known' -> True/False/None."""
    s = (text or "").strip()
    if not s:
        return None
    s = re.sub(r"[\[(]\s*[xX✓✔]\s*[\])]", "☒", s)
    s = re.sub(r"[\[(]\s*[\])]", "☐", s)
    tokens = re.findall(rf"[{TICKED}{UNTICKED}]|[^\W\d_]+(?:['’][^\W\d_]+)?", s)
    has_glyph = any(t in TICKED or t in UNTICKED for t in tokens)
    lowered = [t.lower() for t in tokens]
    if not has_glyph and "x" in lowered and any(t in ("yes", "no") for t in lowered):
        tokens = ["☒" if t.lower() == "x" else t for t in tokens]
        has_glyph = True
    if has_glyph:
        glyph_first = tokens[0] in TICKED or tokens[0] in UNTICKED
        chosen = []
        words = []
        for i, t in enumerate(tokens):
            if t in TICKED:
                j = i + 1 if glyph_first else i - 1
                if 0 <= j < len(tokens) and tokens[j] not in TICKED and tokens[j] not in UNTICKED:
                    chosen.append(tokens[j].lower())
                elif not glyph_first and j < 0 and i + 1 < len(tokens):
                    chosen.append(tokens[i + 1].lower())
            elif t not in UNTICKED:
                words.append(t.lower())
        if not chosen:
            # one box alone (a check-box control next to its question): ticked or not
            if not words:
                return tokens[0] in TICKED if len(tokens) == 1 else None
            return None if any(t in UNTICKED for t in tokens) and words else None
        vals = {_word_answer(w) for w in chosen}
        vals.discard("skip")
        if len(vals) == 1:
            return vals.pop()
        return None  # both ticked, or an answer we cannot read: not a guess
    c = canon(s)
    if c in rules.values["unknown"]:
        return None
    if c in rules.values["no"]:
        return False
    if c in rules.values["yes"]:
        return True
    first = c.split(" ", 1)[0] if c else ""
    if first in ("no", "not", "n"):
        return False
    if first in ("yes", "y"):
        return True
    return None


def _word_answer(w: str):
    if w in ("yes", "y", "true"):
        return True
    if w in ("no", "n", "false"):
        return False
    if w in ("unknown", "not", "don't", "dont", "unsure", "n/a"):
        return None
    return "skip"


def normalise_gender(text: str, rules: Rules) -> str:
    c = canon(text)
    if c in rules.values["female"]:
        return "Female"
    if c in rules.values["male"]:
        return "Male"
    if is_empty(text, rules):
        return ""
    return text.strip()


def strip_bullet(text: str) -> str:
    return re.sub(r"^\s*(?:[•·▪●◦‣∙*\-–]|\d{1,2}[.)]|[a-z][.)])\s+", "", text).strip()


def is_instruction(line: str, rules: Rules) -> bool:
    c = f" {canon(line)} "
    return any(f" {p} " in c for p in rules.values["instructions"])


_REL_WORDS = ("mother", "father", "stepmother", "stepfather", "step-mother", "step-father", "grandmother",
              "grandfather", "grandparent", "aunt", "uncle", "brother", "sister", "sibling", "carer",
              "foster carer", "guardian", "mum", "dad", "parent", "partner", "cousin", "half-brother",
              "half-sister", "stepbrother", "stepsister", "kinship carer")


def parse_family_line(text: str, relationship: str = "") -> FamilyMember | None:
    """'Nigel Lockhart (father), tel. 07700 900237' -> FamilyMember('Nigel Lockhart', 'father')."""
    s = EMAIL.sub(" ", text)
    # no closer after the first opener: nothing to find, and the search read the rest from every "("
    m = re.search(r"\(([^)]*)\)", s) if ")" in s.partition("(")[2] else None
    rel = relationship
    if m:
        inner = m.group(1).strip()
        if not _PHONE.fullmatch(inner.replace(" ", "")):
            rel = rel or inner
        s = s[: m.start()] + " " + s[m.end():]
    s = re.split(r",|;|\s[-–—]\s|\btel\b|\bphone\b|\bmob(?:ile)?\b|\bt:|\bm:|\d", s, maxsplit=1, flags=re.I)[0]
    name = TITLE.sub("", clean_value(s).strip(" ,."))
    if not rel:
        rest = text[len(name):].lower()
        for w in _REL_WORDS:
            if re.search(rf"\b{re.escape(w)}\b", rest):
                rel = w
                break
    if not name:
        return None
    return FamilyMember(name, rel.strip().lower() if rel else "")


TITLE = re.compile(r"^(?:mr|mrs|ms|miss|mx|dr|master)\.?\s+", re.I)


# \d++: a run of digits is one step (read as every split of it, a date of birth of 30 digits and a letter
# took over 40 s: the splits double with each digit)
_DATE_WORDS = re.compile(
    r"(?:\d++(?:st|nd|rd|th)?|jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?|of|[/.,\-\s])*", re.I)


def date_of_birth(value: str, rules: Rules) -> _dt.date | None:
    if is_empty(value, rules):
        return None
    try:
        d = parse_date(value, what="date of birth")
    except BadField:
        if _DATE_WORDS.fullmatch(value.strip()):
            raise
        # the box holds other words (perhaps a name): say so without quoting it
        raise BadField("The date of birth on the form cannot be read as a date. Please write it as "
                       "day/month/year (for example 31/01/2012) and send the form again.",
                       reason="bad-date") from None
    today = _dt.date.today()
    if d > today:
        raise BadField(f"The date of birth '{value.strip()}' is in the future. Please correct it and send the "
                       f"form again.", reason="bad-date")
    if (today.year - d.year) > 26:
        raise BadField(f"The date of birth '{value.strip()}' would make the young person over 25. Please check "
                       f"it and send the form again.", reason="bad-date")
    return d

