"""Collecting a Referral Form's fields from its blocks, whatever the layout.

:class:`FormReader` walks the blocks of :mod:`mailbot.documents.text` and records a :class:`Hit`
for each labelled value (labels are data: rules/form_labels.toml, matched by
:mod:`mailbot.documents.form_labels`) and a :class:`PeopleTable` for each table of people. It
reads two-column label/value tables (and four-column ones), "Label: value" or
"Label<TAB>value" paragraphs, a label paragraph followed by its value, content controls (alias
or tag as label), one row or one column per child, Name/Relationship tables, Yes/No option
tables, sections started by headings, and bulleted or free text under a section.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mailbot.documents import text as dt
from mailbot.documents.form_labels import Rules, _canon_tag, canon, match_label, section_of
from mailbot.documents.referral.values import UNTICKED, clean_value, is_empty, strip_bullet
from mailbot.documents.text_blocks import CHECKED, UNCHECKED

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


class FormReader:
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
                    self.hit(key, CHECKED if cc.checked else UNCHECKED, checked=cc.checked)
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
                self.section_lists[self.section].append(strip_bullet(stripped))
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
                self.section_text[self.section].append(strip_bullet(stripped))
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

    # starts only at a run of spaces' start (or off spaces): a start inside the run finds nothing the
    # run's start did not, and read from each space a run of 100,000 took over 60 s
    _SEP = re.compile(r"(?:(?<!\s)|(?!\s))\s*(?::|\?|\t| [-–—] | = )\s*")

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
                      and r[i].text.strip()[:1] not in UNTICKED]
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
            sub = FormReader(self.rules)
            sub.section = self.section
            sub.read(cell.blocks)
            self._absorb(sub)

    def _absorb(self, sub: "FormReader") -> None:
        self.hits.extend(sub.hits)
        self.tables.extend(sub.tables)
        for k in self.section_lists:
            self.section_lists[k].extend(sub.section_lists[k])
            self.section_text[k].extend(sub.section_text[k])
        self.yp_evidence += sub.yp_evidence
        self.signed_lines.extend(sub.signed_lines)
        if sub.section != self.section and sub.section is not None:
            self.section = sub.section

