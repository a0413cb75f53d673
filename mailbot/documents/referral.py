"""Reading a filled Referral Form, whatever layout the agency used.

``read_referral(source) -> (Package, Referral)`` and ``parse_referral(pkg)``.
The form is read through :mod:`mailbot.documents.text` (lxml only). Fields are
found by their labels, which are data (rules/form_labels.toml), in every
layout agencies use: two-column label/value tables, "Label: value" or
"Label<TAB>value" paragraphs, a label paragraph followed by its value,
content controls (alias or tag as label), legacy form fields, one table row
per child for siblings, a Name/Relationship table for the family, tick boxes
(☒/☐, X, Yes/No, check-box controls).

Errors are plain one-liners that never quote a young person's name:
NotAReferral when the document is not a referral form or names no young
person; BadField for an impossible date of birth.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from mailbot.documents import text as dt
from mailbot.documents.dates import parse_date
from mailbot.documents.package import Package, open_package
from mailbot.errors import BadField, NotAReferral
from mailbot.documents.form_labels import RULES, Rules, _canon_tag, canon, load_rules, match_label, section_of  # noqa: F401

log = logging.getLogger("mailbot.referral")


NOT_A_FORM = ("This Word document does not look like a Network Referral Form (it has no young person's "
              "details). Please use the referral form template, fill it in and send it again.")
NO_NAME = ("The Referral Form does not give the young person's name. Please fill in the name and send "
           "the form again.")

# -- the result ---------------------------------------------------------------


@dataclass
class YoungPerson:
    name: str = ""
    first_name: str = ""
    surname: str = ""
    known_as: list[str] = field(default_factory=list)
    other_surnames: list[str] = field(default_factory=list)
    date_of_birth: _dt.date | None = None
    gender: str = ""
    address: str = ""
    former_address: str = ""
    school: str = ""
    aliases: list[str] = field(default_factory=list)  # names the text introduces (pet names, typos)

    def to_json(self) -> dict:
        return {
            "name": self.name, "first_name": self.first_name, "surname": self.surname,
            "known_as": list(self.known_as), "other_surnames": list(self.other_surnames),
            "date_of_birth": self.date_of_birth.isoformat() if self.date_of_birth else None,
            "gender": self.gender, "address": self.address, "former_address": self.former_address,
            "school": self.school, "aliases": list(self.aliases),
        }


@dataclass
class FamilyMember:
    name: str
    relationship: str = ""
    aliases: list[str] = field(default_factory=list)  # maiden names, pet names the text gives

    def to_json(self) -> dict:
        out = {"name": self.name, "relationship": self.relationship}
        if self.aliases:
            out["aliases"] = list(self.aliases)
        return out


@dataclass
class Referrer:
    name: str = ""
    email: str = ""
    phone: str = ""

    def to_json(self) -> dict:
        return {"name": self.name, "email": self.email, "phone": self.phone}


@dataclass
class Referral:
    young_people: list[YoungPerson] = field(default_factory=list)
    family: list[FamilyMember] = field(default_factory=list)
    referring_agency: str = ""
    referrer: Referrer = field(default_factory=Referrer)
    referral_date: _dt.date | None = None
    concerns: list[str] = field(default_factory=list)
    suggested_agencies: list[str] = field(default_factory=list)
    parental_consent: bool | None = None
    young_person_informed: bool | None = None
    known_to_social_work: bool | None = None
    #: consent to share with sensitive services (sexual health, mental health, substance misuse)
    sensitive_consent: bool | None = None
    #: the consent questions as the form answers them: {field: {"answer": words, "value": bool|None}}
    #: (read by the rules of rules/consent.toml, mailbot.casework.consent); a question not asked is absent
    consent_answers: dict = field(default_factory=dict)
    #: relatives named only in the text ("her older brother Emrys"): protected like the family
    named_in_text: list[FamilyMember] = field(default_factory=list)
    #: who signed the form (professionals: never taken for a protected name)
    signatories: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "young_people": [y.to_json() for y in self.young_people],
            "family": [f.to_json() for f in self.family],
            "referring_agency": self.referring_agency,
            "referrer": self.referrer.to_json(),
            "referral_date": self.referral_date.isoformat() if self.referral_date else None,
            "concerns": list(self.concerns),
            "suggested_agencies": list(self.suggested_agencies),
            "parental_consent": self.parental_consent,
            "young_person_informed": self.young_person_informed,
            "known_to_social_work": self.known_to_social_work,
            "sensitive_consent": self.sensitive_consent,
            "consent_answers": {k: dict(v) for k, v in self.consent_answers.items()},
            "named_in_text": [f.to_json() for f in self.named_in_text],
            "signatories": list(self.signatories),
        }

    def protected_family(self) -> list[dict]:
        return [f.to_json() for f in self.family + self.named_in_text]


# -- value helpers ------------------------------------------------------------

_EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"(?:\+?\d[\d ()-]{6,}\d)")
_TICKED = "☒☑✓✔✗✘■●⊠"
_UNTICKED = "☐□○❏"


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
    tokens = re.findall(rf"[{_TICKED}{_UNTICKED}]|[^\W\d_]+(?:['’][^\W\d_]+)?", s)
    has_glyph = any(t in _TICKED or t in _UNTICKED for t in tokens)
    lowered = [t.lower() for t in tokens]
    if not has_glyph and "x" in lowered and any(t in ("yes", "no") for t in lowered):
        tokens = ["☒" if t.lower() == "x" else t for t in tokens]
        has_glyph = True
    if has_glyph:
        glyph_first = tokens[0] in _TICKED or tokens[0] in _UNTICKED
        chosen = []
        words = []
        for i, t in enumerate(tokens):
            if t in _TICKED:
                j = i + 1 if glyph_first else i - 1
                if 0 <= j < len(tokens) and tokens[j] not in _TICKED and tokens[j] not in _UNTICKED:
                    chosen.append(tokens[j].lower())
                elif not glyph_first and j < 0 and i + 1 < len(tokens):
                    chosen.append(tokens[i + 1].lower())
            elif t not in _UNTICKED:
                words.append(t.lower())
        if not chosen:
            # one box alone (a check-box control next to its question): ticked or not
            if not words:
                return tokens[0] in _TICKED if len(tokens) == 1 else None
            return None if any(t in _UNTICKED for t in tokens) and words else None
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


# -- collecting fields ----------------------------------------------------------


@dataclass
class Hit:
    key: str
    value: str
    section: str | None
    lines: list[str] = field(default_factory=list)  # the value as separate lines (cells, controls)
    checked: bool | None = None


@dataclass
class PeopleTable:
    kind: str  # "children" | "family" | "siblings"
    rows: list[dict]


class _Reader:
    def __init__(self, rules: Rules):
        self.rules = rules
        self.section: str | None = None
        self.hits: list[Hit] = []
        self.tables: list[PeopleTable] = []
        self.section_lists: dict[str, list[str]] = {"concerns": [], "agencies": []}
        self.section_text: dict[str, list[str]] = {"concerns": [], "agencies": []}
        self.pending: str | None = None
        self.yp_evidence = 0
        self.signed_lines: list[str] = []
        self.all_lines: list[str] = []

    # blocks ----------------------------------------------------------------
    def read(self, blocks: list[dt.Block]) -> None:
        for b in blocks:
            if isinstance(b, dt.Table):
                self.pending = None
                self.table(b)
            else:
                self.paragraph(b)

    def hit(self, key: str, value: str, lines: list[str] | None = None, checked: bool | None = None) -> None:
        if key == "ignore":
            return
        if key.startswith("yp_") or key in ("dob", "known_as", "other_surnames"):
            self.yp_evidence += 1
        value = clean_value(value)
        self.hits.append(Hit(key, value, self.section, [clean_value(x) for x in (lines or []) if clean_value(x)],
                             checked))
        if key in ("concerns", "suggested_agencies"):
            self.section = "concerns" if key == "concerns" else "agencies"

    def set_section(self, sec: str) -> None:
        self.section = sec
        self.pending = None

    def paragraph(self, p: dt.Paragraph) -> None:
        text = p.text
        stripped = re.sub(r"[ \u00a0\u2002\u2003]+", " ", text).strip()
        self.all_lines.append(stripped)
        # content controls carry their own labels
        used_control = False
        for cc in p.sdts:
            key = self.rules.tags.get(_canon_tag(cc.tag)) or (match_label(cc.alias, self.section, self.rules, loose=False)
                                                              if cc.alias else None)
            if key and key != "ignore":
                if cc.kind == "checkbox":
                    self.hit(key, dt.CHECKED if cc.checked else dt.UNCHECKED, checked=cc.checked)
                else:
                    self.hit(key, cc.text, cc.text.split("\n"))
                used_control = True
        if p.container is not None and p.container.kind != "checkbox":
            cc = p.container
            key = self.rules.tags.get(_canon_tag(cc.tag)) or (match_label(cc.alias, self.section, self.rules, loose=False)
                                                              if cc.alias else None)
            if key in ("concerns", "suggested_agencies"):
                sec = "concerns" if key == "concerns" else "agencies"
                if self.section != sec:
                    self.set_section(sec)
        if not stripped:
            return
        if p.is_list:
            if self.section in self.section_lists:
                self.section_lists[self.section].append(_strip_bullet(stripped))
            self.pending = None
            return
        # a heading starts a section
        if self._is_heading(p, stripped) and not any(v for _k, v in (self.label_value(stripped) or [])):
            sec = section_of(stripped, self.rules)
            if sec and re.search(r"(?i)\b(?:referral|form|request)\b", stripped) and \
                    not re.match(r"(?i)(?:section|part)\s", stripped):
                sec = None  # the form's title ("Penmorfa Family Centre – Network Referral"), not a section
            if sec:
                self.set_section(sec)
                return
        if stripped.lower().startswith(("signed", "signature")):
            self.signed_lines.append(stripped)
        if used_control:
            self.pending = None
            return
        found = self.label_value(stripped)
        if found is None:
            if self.pending:
                key = self.pending
                self.pending = None
                if match_label(stripped, self.section, self.rules) is None:
                    self.hit(key, stripped, [stripped])
                    return
            if self.section in self.section_text:
                self.section_text[self.section].append(_strip_bullet(stripped))
            else:
                sec = section_of(stripped, self.rules) if self._short(stripped) else None
                if sec:
                    self.set_section(sec)
            return
        self.pending = None
        for key, value in found:
            if value:
                self.hit(key, value, [value])
            elif key in ("concerns", "suggested_agencies"):
                self.hit(key, "")
            else:
                self.pending = key
                self.hit(key, "")

    def _short(self, text: str) -> bool:
        return len(text.split()) <= 5 and not text.endswith(("?", ".", ":"))

    def _is_heading(self, p: dt.Paragraph, text: str) -> bool:
        if p.is_heading:
            return True
        if re.match(r"(?i)(?:section|part)\s+[a-z0-9]{1,3}\b", text) and len(text.split()) <= 14:
            return True  # "Section A – About the young person"
        return len(text.split()) <= 6 and not text.endswith(("?", ".", ":")) and "\t" not in p.text \
            and ":" not in text and match_label(text, self.section, self.rules) is None

    _SEP = re.compile(r"\s*(?::|\?|\t| [-–—] | = )\s*")

    def label_value(self, text: str) -> list[tuple[str, str]] | None:
        """Split 'Label: value' / 'Label<TAB>value' / 'Question? answer' (several pairs allowed)."""
        raw = text.replace("\u2003", "  ").replace("\u2002", "  ")
        first = self._first_pair(raw)
        if first is None:
            key = match_label(raw.strip().rstrip(":"), self.section, self.rules, loose=False) \
                if len(raw) < 80 else None
            return [(key, "")] if key else None
        key, value = first
        pairs = [(key, value)]
        # "Young person: A. Name – DOB 03/09/2010": a second label after a dash
        for m in re.finditer(r"\s[-–—]\s", value):
            more = self._first_pair(value[m.end():]) or self._label_then_value(value[m.end():])
            if more:
                pairs[0] = (key, value[:m.start()].strip())
                pairs.append(more)
                return pairs
        # "Signed: A. Person    Date: 25 Jul 2025": a second label after a wide gap
        parts = re.split(r"\s{2,}|\t", value)
        if len(parts) > 1:
            for i in range(1, len(parts)):
                more = self._first_pair(parts[i])
                if more:
                    pairs[0] = (key, " ".join(parts[:i]).strip())
                    pairs.append(more)
                    break
        return pairs

    def _label_then_value(self, raw: str) -> tuple[str, str] | None:
        """"DOB 03/09/2010": a short label, a space, then a value with a digit."""
        words = raw.split()
        for n in (1, 2, 3):
            if len(words) > n and re.search(r"\d", " ".join(words[n:])):
                key = match_label(" ".join(words[:n]), self.section, self.rules, loose=False)
                if key:
                    return key, " ".join(words[n:])
        return None

    def _first_pair(self, raw: str) -> tuple[str, str] | None:
        for m in self._SEP.finditer(raw):
            label = raw[: m.start()]
            if not label.strip() or len(label) > 120:
                continue
            key = match_label(label, self.section, self.rules)
            if key:
                return key, raw[m.end():].strip()
            if m.group(0).strip() == ":":
                # "Signed: ..." lines: label not ours, stop at the first colon
                if re.match(r"\s*sign", label, re.I):
                    return "ignore", raw[m.end():].strip()
        return None

    # tables ------------------------------------------------------------------
    def table(self, t: dt.Table) -> None:
        rows = [r for r in t.rows if any(c.text.strip() for c in r)]
        if not rows:
            return
        header = [canon(c.text) for c in rows[0]]
        cols = self._columns(header)
        if self._label_value_rows(rows):
            # | label | value | label | value |: pairs, not a header over people rows
            for r in rows:
                self.row(r)
            return
        if "name" in cols or ("first_name" in cols and "surname" in cols):
            kind = None
            if "relationship" in cols and not ({"dob", "known_as", "school"} & set(cols)):
                kind = "family"
            elif "also_referred" in cols or ("relationship" in cols and self._sibling_rows(rows, cols)):
                kind = "siblings"
            elif {"dob", "known_as", "gender", "school", "also_referred", "other_surnames"} & set(cols):
                kind = "siblings" if self.section == "siblings" else "children"
            elif self.section == "family" or "relationship" in cols:
                kind = "family"
            elif self.section == "siblings":
                kind = "siblings"
            if kind:
                out = []
                for r in rows[1:]:
                    rec = {}
                    for col, idx in cols.items():
                        if idx < len(r):
                            rec[col] = clean_value(r[idx].text)
                    if any(rec.values()):
                        out.append(rec)
                self.tables.append(PeopleTable(kind, out))
                if kind == "children":
                    self.yp_evidence += 2
                return
        if self._options_table(rows) or self._children_in_columns(rows):
            return
        for r in rows:
            self.row(r)

    def _label_value_rows(self, rows) -> bool:
        """Every row is label | value (| label | value ...): the even cells are labels, the odd
        cells are not (P01's four-column layout)."""
        labels = cells = 0
        for n, r in enumerate(rows):
            texts = [clean_value(c.text) for c in r]
            if len(texts) < 4 or len(texts) % 2:
                return False
            for i in range(0, len(texts), 2):
                label, value = texts[i], texts[i + 1]
                if value and match_label(value, self.section, self.rules, loose=False) is not None:
                    return False  # a label in a value column: a header row over people
                if not label:
                    continue
                cells += 1
                if match_label(label, self.section, self.rules) is not None:
                    labels += 1
                elif n == 0:
                    return False
        return cells > 0 and labels * 4 >= cells * 3

    def _sibling_rows(self, rows, cols) -> bool:
        idx = cols["relationship"]
        rels = [canon(r[idx].text) for r in rows[1:] if idx < len(r) and r[idx].text.strip()]
        return bool(rels) and all(re.search(r"brother|sister|sibling|twin", x) for x in rels)

    _YP_COLUMN = {"yp_name": "name", "yp_first_name": "first_name", "yp_surname": "surname", "dob": "dob",
                  "known_as": "known_as", "other_surnames": "other_surnames", "gender": "gender",
                  "school": "school", "address": "address"}

    def _children_in_columns(self, rows) -> bool:
        """| Name of young person | Maisie Dunmore | Archie Dunmore |: one column per child."""
        labels = [match_label(r[0].text, self.section, self.rules) if r else None for r in rows]
        name_rows = [i for i, k in enumerate(labels) if k == "yp_name"]
        if not name_rows or not set(labels) & {"dob", "known_as", "gender", "school", "other_surnames"}:
            return False
        nr = rows[name_rows[0]]
        if sum(1 for c in nr[1:] if clean_value(c.text) and not is_empty(c.text, self.rules)) < 2:
            return False
        width = max(len(r) for r in rows)
        records = [dict() for _ in range(1, width)]
        for r, key in zip(rows, labels):
            col = self._YP_COLUMN.get(key or "")
            if col not in (None, "name") and not any(clean_value(c.text) for c in r[2:]):
                col = None  # written once for all the children
            if col is None:
                if key:
                    self.row(r[:2])  # a shared field (address...) written once
                continue
            for j in range(1, len(r)):
                records[j - 1][col] = clean_value(r[j].text)
        self.tables.append(PeopleTable("children", [rec for rec in records if any(rec.values())]))
        self.yp_evidence += 2
        return True

    def _columns(self, header: list[str]) -> dict[str, int]:
        cols: dict[str, int] = {}
        for i, h in enumerate(header):
            for key, names in self.rules.columns.items():
                if h in names and key not in cols:
                    cols[key] = i
                    break
        return cols

    def _options_table(self, rows) -> bool:
        """| question | Yes | No | with the answer ticked in a column."""
        header = [canon(c.text) for c in rows[0]]
        opts = {i: h for i, h in enumerate(header) if h in ("yes", "no", "unknown", "not known", "dont know")}
        if len(opts) < 2 or 0 in opts:
            return False
        for r in rows[1:]:
            if not r:
                continue
            key = match_label(r[0].text, self.section, self.rules)
            if not key:
                continue
            chosen = [opts[i] for i in opts if i < len(r) and r[i].text.strip()
                      and r[i].text.strip()[:1] not in _UNTICKED]
            answer = chosen[0] if len(chosen) == 1 else ""
            self.hit(key, {"yes": "Yes", "no": "No"}.get(answer, "Not known"))
        return True

    def row(self, cells: list[dt.Cell]) -> None:
        texts = [clean_value(c.text) for c in cells]
        nonempty = [t for t in texts if t]
        # a row with one text (often merged across the table) can be a section heading
        if len(set(nonempty)) == 1 and len(nonempty[0]) < 80:
            t = nonempty[0]
            found = self.label_value(t)
            if found and any(v for _k, v in found):
                for k, v in found:
                    self.hit(k, v, [v])
                return
            sec = section_of(t, self.rules)
            if sec and not found:
                self.set_section(sec)
                return
            if found:
                for k, _v in found:
                    self.hit(k, "")
                return
        i = 0
        consumed = False
        while i < len(cells):
            cell = cells[i]
            label = texts[i]
            key = match_label(label, self.section, self.rules) if label and len(label) < 150 else None
            if key and i + 1 < len(cells) and match_label(texts[i + 1], self.section, self.rules, loose=False) is None:
                value_cell = cells[i + 1]
                lines = [b.text for b in dt.iter_paragraphs(value_cell.blocks)]
                self.hit(key, value_cell.text, lines)
                i += 2
                consumed = True
                continue
            if key and i + 1 >= len(cells):
                self.hit(key, "")
                consumed = True
            i += 1
        if consumed:
            return
        # cells holding "Label: value" paragraphs, nested tables
        for cell in cells:
            sub = _Reader(self.rules)
            sub.section = self.section
            sub.read(cell.blocks)
            self._absorb(sub)

    def _absorb(self, sub: "_Reader") -> None:
        self.hits.extend(sub.hits)
        self.tables.extend(sub.tables)
        for k in self.section_lists:
            self.section_lists[k].extend(sub.section_lists[k])
            self.section_text[k].extend(sub.section_text[k])
        self.yp_evidence += sub.yp_evidence
        self.signed_lines.extend(sub.signed_lines)
        if sub.section != self.section and sub.section is not None:
            self.section = sub.section


def _strip_bullet(text: str) -> str:
    return re.sub(r"^\s*(?:[•·▪●◦‣∙*\-–]|\d{1,2}[.)]|[a-z][.)])\s+", "", text).strip()


# -- assembling the referral -------------------------------------------------------


def _first(hits: list[Hit], key: str) -> Hit | None:
    for h in hits:
        if h.key == key and h.value:
            return h
    return None


def _any(hits: list[Hit], key: str) -> bool:
    return any(h.key == key for h in hits)


_REL_WORDS = ("mother", "father", "stepmother", "stepfather", "step-mother", "step-father", "grandmother",
              "grandfather", "grandparent", "aunt", "uncle", "brother", "sister", "sibling", "carer",
              "foster carer", "guardian", "mum", "dad", "parent", "partner", "cousin", "half-brother",
              "half-sister", "stepbrother", "stepsister", "kinship carer")


def parse_family_line(text: str, relationship: str = "") -> FamilyMember | None:
    """'Nigel Lockhart (father), tel. 07700 900237' -> FamilyMember('Nigel Lockhart', 'father')."""
    s = _EMAIL.sub(" ", text)
    m = re.search(r"\(([^)]*)\)", s)
    rel = relationship
    if m:
        inner = m.group(1).strip()
        if not _PHONE.fullmatch(inner.replace(" ", "")):
            rel = rel or inner
        s = s[: m.start()] + " " + s[m.end():]
    s = re.split(r",|;|\s[-–—]\s|\btel\b|\bphone\b|\bmob(?:ile)?\b|\bt:|\bm:|\d", s, maxsplit=1, flags=re.I)[0]
    name = _TITLE.sub("", clean_value(s).strip(" ,."))
    if not rel:
        rest = text[len(name):].lower()
        for w in _REL_WORDS:
            if re.search(rf"\b{re.escape(w)}\b", rest):
                rel = w
                break
    if not name:
        return None
    return FamilyMember(name, rel.strip().lower() if rel else "")


def _per_child(value: str, firsts: list[str], rules: Rules) -> dict[str, str] | None:
    """'Maisie: None; Archie: Gaskell' -> {'maisie': 'None', 'archie': 'Gaskell'}."""
    if len(firsts) < 2 or ":" not in value:
        return None
    out = {}
    for part in re.split(r"[;\n]", value):
        if ":" in part:
            who, _, what = part.partition(":")
            out[canon(who).split(" ")[0] if canon(who) else ""] = what.strip()
    if any(f.lower() in out for f in firsts):
        return out
    return None


MORE_THAN_ONE = ("The young person's name box seems to hold more than one name. For brothers and sisters, "
                 "please give one row per child (name, date of birth) and send the form again.")


NOT_JUST_A_NAME = ("The young person's name box holds more than a name (numbers or other details). Please "
                   "give only the name there, put other details in their own boxes, and send the form again.")
_TITLE = re.compile(r"^(?:mr|mrs|ms|miss|mx|dr|master)\.?\s+", re.I)


def _make_child(name: str, rules: Rules, *, first: str = "", surname: str = "") -> YoungPerson:
    name = clean_value(name)
    lines = [x for x in name.split("\n") if x.strip() and not is_empty(x, rules)]
    if 1 < len(lines) <= 3 and sum(len(x.split()) for x in lines) <= 4 and \
            sum(1 for x in lines if len(x.split()) == 1) >= len(lines) - 1:
        lines = [" ".join(x.strip() for x in lines)]  # "Dylan<br/>Rowlands": one name on two lines
        name = lines[0]
    if len(lines) > 1 or re.search(r"\s(?:and|&|\+)\s|;|/", name, re.I):
        # fail closed: never code one child and leave a sibling's name behind
        raise BadField(MORE_THAN_ONE, reason="several-names")
    name = lines[0] if lines else ""
    known = []
    m = re.search(r"\s+(?:a\.?k\.?a\.?|also known as|known as)\s+(.+)$", name, re.I)
    if m:
        known.extend(split_list(m.group(1), rules))
        name = name[: m.start()]
    m = re.fullmatch(r"\s*([^,\s][^,]*?)\s*,\s*([^,]+?)\s*", name)
    if m and len(m.group(1).split()) <= 3:
        # "QUENNELL, Wilbur": surname first
        name = f"{m.group(2)} {m.group(1)}"
        surname = surname or m.group(1)
    # nicknames written into the name: Wilbur "Billy" Quennell / Wilbur Quennell (Billy)
    for m in re.finditer(r"[\"“”]([^\"“”]{1,30})[\"“”]|(?:^|(?<=\s))[‘']([^‘’']{1,30})[’'](?=\s|$)|\(([^)]{1,40})\)", name):
        nick = (m.group(1) or m.group(2) or m.group(3) or "").strip()
        if nick and not re.search(r"\d", nick):
            known.extend(split_list(re.sub(r"^(?:known as|aka|nee|née)\s+", "", nick, flags=re.I), rules))
    name = re.sub(r"[\"“”][^\"“”]{1,30}[\"“”]|(?:^|(?<=\s))[‘'][^‘’']{1,30}[’'](?=\s|$)|\([^)]{1,40}\)", " ", name)
    name = re.sub(r"\s+", " ", name).strip(" ,")
    name = _TITLE.sub("", name)
    if re.search(r"[\d@:<>{}\[\]=]", name) or len(name.split()) > 6:
        # fail closed: something other than a name is in the box, so the surname cannot be trusted
        raise BadField(NOT_JUST_A_NAME, reason="bad-name")
    if not name and (first or surname):
        name = " ".join(x for x in (first, surname) if x)
    f, s = split_name(name)
    yp = YoungPerson(name=name, first_name=first or f, surname=surname or s)
    yp.known_as = known
    return yp


_DATE_WORDS = re.compile(
    r"(?:\d+(?:st|nd|rd|th)?|jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?|of|[/.,\-\s])*", re.I)


def _dob(value: str, rules: Rules) -> _dt.date | None:
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


def _text(hits, key, rules) -> str:
    h = _first(hits, key)
    if h is None or is_empty(h.value, rules):
        return ""
    return h.value.replace("\n", ", ")


def _assemble(r: _Reader) -> Referral:
    rules = r.rules
    hits = r.hits
    ref = Referral()

    # -- young people --------------------------------------------------------------
    children: list[YoungPerson] = []
    h_name = _first(hits, "yp_name")
    first = _text(hits, "yp_first_name", rules)
    sur = _text(hits, "yp_surname", rules)
    main_name = h_name.value if h_name and not is_empty(h_name.value, rules) else ""
    if main_name or first or sur:
        children.append(_make_child(main_name, rules, first=first, surname=sur))
    sibling_family: list[FamilyMember] = []
    child_rows: list[dict] = []
    for t in r.tables:
        if t.kind == "children":
            child_rows.extend(t.rows)
        elif t.kind == "siblings":
            for rec in t.rows:
                referred = rec.get("also_referred")
                if referred is not None and parse_yes_no(referred, rules) is True:
                    child_rows.append(rec)
                else:
                    nm = rec.get("name") or " ".join(x for x in (rec.get("first_name"), rec.get("surname")) if x)
                    if nm and not is_empty(nm, rules):
                        sibling_family.append(FamilyMember(nm, "sibling"))
    for rec in child_rows:
        nm = rec.get("name", "")
        if is_empty(nm, rules) and not (rec.get("first_name") or rec.get("surname")):
            continue
        yp = _make_child("" if is_empty(nm, rules) else nm, rules,
                         first=rec.get("first_name", ""), surname=rec.get("surname", ""))
        if not yp.surname and children and children[0].surname:
            pass  # a sibling's first name alone: do not guess a surname
        yp.known_as += [k for k in split_list(rec.get("known_as", ""), rules) if k not in yp.known_as]
        yp.other_surnames = split_list(rec.get("other_surnames", ""), rules)
        if rec.get("dob"):
            yp.date_of_birth = _dob(rec["dob"], rules)
        yp.gender = normalise_gender(rec.get("gender", ""), rules)
        yp.school = "" if is_empty(rec.get("school", ""), rules) else rec.get("school", "")
        yp.address = "" if is_empty(rec.get("address", ""), rules) else rec.get("address", "")
        if any(canon(c.name) == canon(yp.name) for c in children) and not main_name:
            # the same name in two rows: refused by check_plausible below, never merged silently
            pass
        elif any(canon(c.name) == canon(yp.name) for c in children):
            continue  # the main name box and the children table name the same child
        children.append(yp)

    keys = {h.key for h in hits if h.key != "ignore"}
    looks_like_form = bool(
        keys & {"dob", "known_as", "other_surnames", "former_address", "parental_consent",
                "young_person_informed", "known_to_social_work"}
        or any(t.kind in ("children", "siblings") for t in r.tables)
        or len(keys) >= 3
    )
    if not looks_like_form:
        raise NotAReferral(NOT_A_FORM, reason="not-a-referral")
    if not children:
        raise NotAReferral(NO_NAME, reason="no-name")
    ref.young_people = children
    firsts = [c.first_name for c in children]

    # shared fields: apply to the main child, or to every child listed in rows
    def shared(key: str) -> str:
        return _text(hits, key, rules)

    known = _first(hits, "known_as")
    others = _first(hits, "other_surnames")
    for idx, c in enumerate(children):
        for hit, attr in ((known, "known_as"), (others, "other_surnames")):
            if hit is None:
                continue
            per = _per_child(hit.value, firsts, rules)
            if per is not None:
                vals = split_list(per.get(c.first_name.lower(), ""), rules)
            elif idx == 0 or len(children) > 1 and not main_name:
                vals = split_list(hit.value, rules) if idx == 0 or attr == "other_surnames" else []
            else:
                vals = []
            cur = getattr(c, attr)
            cur.extend(v for v in vals if v not in cur)
        if not c.address:
            c.address = shared("address")
        if not c.former_address:
            c.former_address = shared("former_address")
        if not c.school:
            c.school = shared("school")
        if not c.gender and (idx == 0 or not main_name):
            c.gender = normalise_gender(shared("gender"), rules) if idx == 0 else ""
        if c.date_of_birth is None and idx == 0:
            h = _first(hits, "dob")
            if h is not None:
                c.date_of_birth = _dob(h.value.split("\n")[0], rules)

    # -- family ------------------------------------------------------------------
    family: list[FamilyMember] = []
    for t in r.tables:
        if t.kind == "family":
            for rec in t.rows:
                nm = rec.get("name") or " ".join(x for x in (rec.get("first_name"), rec.get("surname")) if x)
                if not nm or is_empty(nm, rules):
                    continue
                fm = parse_family_line(nm, rec.get("relationship", ""))
                if fm:
                    family.append(fm)
    for h in hits:
        is_rel = h.key.startswith("relative:")
        if (h.key in ("family_member", "mother", "father") or is_rel) and h.value and not is_empty(h.value, rules):
            rel = h.key[len("relative:"):] if is_rel else ("" if h.key == "family_member" else h.key)
            lines = h.lines or [h.value]
            if is_rel:
                # "Siblings: Ivy (8), Rory and Jack Marchbank": several people on one line
                lines = [x for line in lines for x in re.split(r"\s*(?:[,;]|\band\b|&)\s*", line)
                         if x.strip() and not re.fullmatch(r"[\d\s()]*(?:years?|yrs?)?[\s)]*", x.strip())]
            for line in lines:
                fm = parse_family_line(line, rel)
                if fm and not is_empty(fm.name, rules):
                    family.append(fm)
    family.extend(sibling_family)
    seen = set()
    ref.family = []
    for fm in family:
        k = canon(fm.name)
        if k in seen:
            continue
        seen.add(k)
        ref.family.append(fm)

    # -- referrer ------------------------------------------------------------------
    ref.referring_agency = _text(hits, "referring_agency", rules)
    ref.referrer.name = _text(hits, "referrer_name", rules)
    email_hits = sorted((h for h in hits if h.key == "referrer_email"), key=lambda h: h.section != "referrer")
    for email_hit in email_hits:
        m = _EMAIL.search(email_hit.value)
        ref.referrer.email = m.group(0) if m else ""
        _drop_childs_own_email(ref)
        if ref.referrer.email:
            break
    if not ref.referrer.email:
        for h in hits:
            if h.section == "referrer":
                m = _EMAIL.search(h.value)
                if m:
                    ref.referrer.email = m.group(0)
                    break
    phone_hit = _first(hits, "referrer_phone")
    if phone_hit:
        ref.referrer.phone = phone_hit.value.split("\n")[0]
    date_hit = _first(hits, "referral_date")
    candidates = ([date_hit.value] if date_hit else []) + r.signed_lines
    for cand in candidates:
        try:
            from mailbot.documents.dates import find_date
            d = find_date(cand, what="date of referral")
        except BadField:
            d = None
        if d:
            ref.referral_date = d
            break

    # -- concerns and agencies ---------------------------------------------------------
    ref.concerns = _list_field(hits, "concerns", r.section_lists["concerns"], r.section_text["concerns"], rules)
    ref.suggested_agencies = _list_field(hits, "suggested_agencies", r.section_lists["agencies"],
                                         r.section_text["agencies"], rules, split_inline=True)

    # -- consent -----------------------------------------------------------------------
    for key in ("parental_consent", "young_person_informed", "known_to_social_work", "sensitive_consent"):
        val = None
        asked = False
        answer = ""
        for h in hits:
            if h.key != key:
                continue
            asked = True
            if h.checked is not None:
                val = h.checked
            else:
                val = parse_yes_no(h.value, rules)
            answer = (h.value or "").strip()
            if h.value:
                break
        setattr(ref, key, val)
        if asked and key != "known_to_social_work":
            ref.consent_answers[key] = {"answer": answer[:300], "value": val}
    _drop_childs_own_email(ref)
    check_plausible(ref, hits, rules)
    return ref


IMPLAUSIBLE = ("The form could not be read with confidence: {why}. Nothing was shared with the network. "
               "Please check the form and send it again.")


def _implausible(why: str, reason: str) -> BadField:
    return BadField(IMPLAUSIBLE.format(why=why), reason=reason)


def _drop_childs_own_email(ref: Referral) -> None:
    """The child's own e-mail (rhodribeddoe2010@...) is not the referrer's."""
    from mailbot.words.textnorm import fold

    email = ref.referrer.email
    if not email:
        return
    local = re.sub(r"[^a-z]", "", fold(email.split("@")[0]))
    for y in ref.young_people:
        first = re.sub(r"[^a-z]", "", fold(y.first_name or ""))
        sur = re.sub(r"[^a-z]", "", fold(y.surname or ""))
        if first and sur and (first in local and sur in local or (first[:1] + sur) in local
                              and not fold(ref.referrer.name or "").endswith(fold(y.surname))):
            ref.referrer.email = ""
            return


def _answered(h) -> bool:
    """A question's answer is there: a ticked box, a checked control, or words ("Not known")."""
    if h.checked is not None:
        return True
    value = (h.value or "").strip()
    if not value:
        return False
    if any(ch in value for ch in _UNTICKED + _TICKED):
        return any(ch in value for ch in _TICKED)
    return True


def check_plausible(ref: Referral, hits: list, rules: Rules) -> None:
    """Refuse a reading that cannot be right (issue 10 item 2): it is never coded."""
    from mailbot.documents.recall import form_words
    from mailbot.words.textnorm import fold

    words = form_words()
    names = []
    for i, y in enumerate(ref.young_people, 1):
        name = y.name or " ".join(x for x in (y.first_name, y.surname) if x)
        if not re.search(r"[^\W\d_]", name):
            raise _implausible(f"the name of young person {i} has no letters", "implausible-name")
        parts = [fold(w) for w in re.findall(r"[^\W\d_][\w'’\-]*", name)]
        if match_label(name, None, rules, loose=False) is not None or (parts and all(p in words for p in parts)):
            raise _implausible(f"the name of young person {i} is a label or a word of the form itself",
                               "implausible-name")
        names.append(canon(name))
    if len(set(names)) < len(names):
        raise _implausible("the form lists more young people than distinct names", "implausible-children")
    if len(ref.young_people) > 1:
        with_dob = [y.date_of_birth is not None for y in ref.young_people]
        if any(with_dob) and not all(with_dob):
            raise _implausible("one young person has a date of birth and another has none", "implausible-dob")
    for key, what in (("parental_consent", "whether parental consent was obtained"),
                      ("young_person_informed", "whether the young person was informed")):
        asked = [h for h in hits if h.key == key]
        if asked and getattr(ref, key) is None and not any(_answered(h) for h in asked):
            raise _implausible(f"the form asks {what} but no answer could be read", "implausible-consent")


def _is_instruction(line: str, rules: Rules) -> bool:
    c = f" {canon(line)} "
    return any(f" {p} " in c for p in rules.values["instructions"])


def _list_field(hits, key, section_list, section_text, rules, *, split_inline: bool = False) -> list[str]:
    out: list[str] = []
    for h in hits:
        if h.key == key and h.value and not is_empty(h.value, rules):
            lines = h.lines if len(h.lines) > 1 else h.value.split("\n")
            for line in lines:
                line = _strip_bullet(clean_value(line))
                if not line or is_empty(line, rules):
                    continue
                if split_inline and ";" in line:
                    out.extend(p.strip() for p in line.split(";") if p.strip())
                elif split_inline and "," in line and len(lines) == 1:
                    out.extend(p.strip() for p in line.split(",") if p.strip())
                else:
                    out.append(line)
    out.extend(x for x in section_list if x and not is_empty(x, rules))
    if not out:
        out.extend(x for x in section_text if x and not _is_instruction(x, rules) and not is_empty(x, rules))
    dedup = []
    for x in out:
        if x not in dedup:
            dedup.append(x)
    return dedup


# -- public API -------------------------------------------------------------------------


def parse_referral(pkg: Package, *, rules_path: str | os.PathLike | None = None) -> Referral:
    """The fields of a filled Referral Form. Raises NotAReferral / BadField (plain, no names)."""
    rules = load_rules(rules_path or RULES)
    reader = _Reader(rules)
    reader.read(dt.blocks(pkg))
    ref = _assemble(reader)
    _discover_names(pkg, ref)
    log.info("referral read: %d young person(s), %d family member(s)", len(ref.young_people), len(ref.family))
    return ref


def professional_words(ref: "Referral") -> frozenset[str]:
    """Folded words of the professionals and organisations a form names (never protected as
    derived or discovered names): the referrer, the referring and suggested agencies."""
    from mailbot.words.textnorm import fold

    words: set[str] = set()
    for text in [ref.referrer.name, ref.referring_agency, *ref.suggested_agencies]:
        for w in re.findall(r"[^\W\d_][\w'’\-]*", text or ""):
            words.add(fold(w))
    if ref.referrer.email:
        for w in re.split(r"[^a-z]+", ref.referrer.email.split("@")[0].lower()):
            if len(w) >= 3:
                words.add(w)
    return frozenset(words)


def recall_allowed(ref: "Referral | dict", *more: str) -> frozenset[str]:
    """Folded words the recall check never holds on for this form: its professionals and
    organisations (the referrer, the referring and suggested agencies), its signatories, its
    places (the addresses and schools given in their own fields), and ``more`` (the network's
    member agencies and contacts)."""
    from mailbot.documents.recall import allowed_words

    data = ref.to_json() if isinstance(ref, Referral) else ref
    people = data.get("young_people") or []
    referrer = data.get("referrer") or {}
    texts = [referrer.get("name", ""), referrer.get("email", ""), data.get("referring_agency", ""),
             *(data.get("suggested_agencies") or []), *(data.get("signatories") or []),
             *(y.get("school", "") for y in people), *(y.get("address", "") for y in people),
             *(y.get("former_address", "") for y in people), *more]
    return allowed_words(*texts)


def _discover_names(pkg: Package, ref: "Referral") -> None:
    """Add the names the form's own text introduces (mailbot.documents.names.discover) to the reading."""
    from mailbot.documents.names import discover
    from mailbot.words.textnorm import fold

    texts = dt.all_text(pkg).split("\n")
    texts += [t for t in dt.property_texts(pkg) if t]
    texts += dt.deleted_texts(pkg)  # tracked deletions are still in the file the members get
    children = [y.to_json() for y in ref.young_people]
    family = [f.to_json() for f in ref.family]
    signed = [m.group(1) for t in texts for m in re.finditer(r"(?i)\bsigned\s*[:\-–]?\s*([^\t\n]{2,40}?)(?:\s{2,}|\t|date|$)", t)]
    ref.signatories = [n.strip() for n in signed if n.strip()]
    allowed = set(professional_words(ref))
    for name in signed:
        allowed.update(fold(w) for w in re.findall(r"[^\W\d_]+", name))
    child_aliases, family_aliases, relatives = discover(texts, children, family, allowed=frozenset(allowed))
    for person, aliases in zip(ref.young_people, child_aliases):
        person.aliases.extend(a for a in aliases if a not in person.aliases)
    for member, aliases in zip(ref.family, family_aliases):
        member.aliases.extend(a for a in aliases if a not in member.aliases)
    ref.named_in_text = [FamilyMember(r["name"], r["relationship"]) for r in relatives]


def read_referral(source: bytes | str | os.PathLike) -> tuple[Package, Referral]:
    """Open an untrusted .docx (bytes or path) and read it as a Referral Form."""
    pkg = open_package(source)
    return pkg, parse_referral(pkg)
