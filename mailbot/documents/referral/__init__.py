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

The package, in the order a form is read: :mod:`.reader` collects the labelled values
(:mod:`.values` reads each one), :mod:`.children` and :mod:`.assemble` make the
:class:`Referral` (:mod:`.result`), :mod:`.plausible` refuses a reading that cannot be right;
:mod:`.professionals` gives the words of the professionals a form names. This module is the
public face: the names below are what the rest of mailbot imports.
"""

from __future__ import annotations

import logging
import os
import re

from mailbot.documents import text as dt
from mailbot.documents.discover import discover
from mailbot.documents.form_labels import RULES, load_rules
from mailbot.documents.package import Package, open_package
from mailbot.documents.referral.assemble import NO_NAME, NOT_A_FORM, assemble
from mailbot.documents.referral.plausible import IMPLAUSIBLE, check_plausible
from mailbot.documents.referral.professionals import professional_words, recall_allowed
from mailbot.documents.referral.reader import FormReader
from mailbot.documents.referral.result import FamilyMember, Referral, Referrer, YoungPerson
from mailbot.documents.referral.values import (clean_value, is_empty, normalise_gender, parse_family_line, parse_yes_no,
                                               split_list, split_name)
from mailbot.words.textnorm import fold

__all__ = [
    "read_referral", "parse_referral", "Referral", "YoungPerson", "FamilyMember", "Referrer",
    "recall_allowed", "professional_words", "check_plausible", "NOT_A_FORM", "NO_NAME", "IMPLAUSIBLE",
    "clean_value", "is_empty", "split_list", "split_name", "parse_yes_no", "normalise_gender", "parse_family_line",
]

log = logging.getLogger("mailbot.referral")


def parse_referral(pkg: Package, *, rules_path: str | os.PathLike | None = None) -> Referral:
    """The fields of a filled Referral Form. Raises NotAReferral / BadField (plain, no names)."""
    rules = load_rules(rules_path or RULES)
    reader = FormReader(rules)
    reader.read(dt.blocks(pkg))
    ref = assemble(reader)
    _discover_names(pkg, ref)
    log.info("referral read: %d young person(s), %d family member(s)", len(ref.young_people), len(ref.family))
    return ref


def _discover_names(pkg: Package, ref: Referral) -> None:
    """Add the names the form's own text introduces (mailbot.documents.discover) to the reading."""
    texts = dt.all_text(pkg).split("\n")
    texts += [t for t in dt.property_texts(pkg) if t]
    texts += dt.deleted_texts(pkg)  # tracked deletions are still in the file the members get
    signed = [m.group(1) for t in texts for m in re.finditer(r"(?i)\bsigned\s*[:\-–]?\s*([^\t\n]{2,40}?)(?:\s{2,}|\t|date|$)", t)]
    ref.signatories = [n.strip() for n in signed if n.strip()]
    allowed = set(professional_words(ref))
    for name in signed:
        allowed.update(fold(w) for w in re.findall(r"[^\W\d_]+", name))
    child_aliases, family_aliases, relatives = discover(texts, ref.young_people, ref.family, allowed=frozenset(allowed))
    for person, aliases in zip(ref.young_people, child_aliases):
        person.aliases.extend(a for a in aliases if a not in person.aliases)
    for member, aliases in zip(ref.family, family_aliases):
        member.aliases.extend(a for a in aliases if a not in member.aliases)
    ref.named_in_text = relatives


def read_referral(source: bytes | str | os.PathLike) -> tuple[Package, Referral]:
    """Open an untrusted .docx (bytes or path) and read it as a Referral Form."""
    pkg = open_package(source)
    return pkg, parse_referral(pkg)
