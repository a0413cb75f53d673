"""Assembling a :class:`~mailbot.documents.referral.result.Referral` from what the reader collected.

In order: the young people (:mod:`mailbot.documents.referral.children`; a document with no
young person's details is not a referral, one with no name is refused), the fields they share,
the family (tables, lines, siblings not referred; each name once), the referrer (the child's
own e-mail is never taken for the referrer's), the date of referral, concerns and suggested
agencies, the consent answers, and last the plausibility checks.
"""

from __future__ import annotations

import re

from mailbot.documents.dates import find_date
from mailbot.documents.form_labels import Rules, canon
from mailbot.documents.referral.children import first_hit, share_fields, text_of, young_people
from mailbot.documents.referral.plausible import check_plausible
from mailbot.documents.referral.reader import FormReader, Hit
from mailbot.documents.referral.result import FamilyMember, Referral
from mailbot.documents.referral.values import (EMAIL, clean_value, is_empty, is_instruction, parse_family_line,
                                               parse_yes_no, strip_bullet)
from mailbot.errors import BadField, NotAReferral
from mailbot.words.textnorm import fold

NOT_A_FORM = ("This Word document does not look like a Network Referral Form (it has no young person's "
              "details). Please use the referral form template, fill it in and send it again.")
NO_NAME = ("The Referral Form does not give the young person's name. Please fill in the name and send "
           "the form again.")

#: the fields that make a document a referral form even with few labels
_FORM_KEYS = {"dob", "known_as", "other_surnames", "former_address", "parental_consent",
              "young_person_informed", "known_to_social_work"}


def assemble(r: FormReader) -> Referral:
    """The Referral the collected fields make. Raises NotAReferral / BadField (plain, no names)."""
    rules, hits = r.rules, r.hits
    ref = Referral()
    children, sibling_family, main_name = young_people(r)
    keys = {h.key for h in hits if h.key != "ignore"}
    looks_like_form = bool(keys & _FORM_KEYS or any(t.kind in ("children", "siblings") for t in r.tables)
                           or len(keys) >= 3)
    if not looks_like_form:
        raise NotAReferral(NOT_A_FORM, reason="not-a-referral")
    if not children:
        raise NotAReferral(NO_NAME, reason="no-name")
    ref.young_people = children
    share_fields(children, hits, rules, main_name)
    ref.family = _family(r, sibling_family)
    _referrer(ref, r)
    ref.concerns = _list_field(hits, "concerns", r.section_lists["concerns"], r.section_text["concerns"], rules)
    ref.suggested_agencies = _list_field(hits, "suggested_agencies", r.section_lists["agencies"],
                                         r.section_text["agencies"], rules, split_inline=True)
    _consent(ref, hits, rules)
    _drop_childs_own_email(ref)
    check_plausible(ref, hits, rules)
    return ref


def _family(r: FormReader, sibling_family: list[FamilyMember]) -> list[FamilyMember]:
    """Family tables, family lines ("Mother: ...", "Siblings: Ivy (8), Rory and Jack"), then the
    siblings not referred; each name once."""
    rules, hits = r.rules, r.hits
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
    out = []
    for fm in family:
        k = canon(fm.name)
        if k in seen:
            continue
        seen.add(k)
        out.append(fm)
    return out


def _referrer(ref: Referral, r: FormReader) -> None:
    """The referring agency, the referrer's name, e-mail and phone, the date of referral."""
    rules, hits = r.rules, r.hits
    ref.referring_agency = text_of(hits, "referring_agency", rules)
    ref.referrer.name = text_of(hits, "referrer_name", rules)
    email_hits = sorted((h for h in hits if h.key == "referrer_email"), key=lambda h: h.section != "referrer")
    for email_hit in email_hits:
        m = EMAIL.search(email_hit.value)
        ref.referrer.email = m.group(0) if m else ""
        _drop_childs_own_email(ref)
        if ref.referrer.email:
            break
    if not ref.referrer.email:
        for h in hits:
            if h.section == "referrer":
                m = EMAIL.search(h.value)
                if m:
                    ref.referrer.email = m.group(0)
                    break
    phone_hit = first_hit(hits, "referrer_phone")
    if phone_hit:
        ref.referrer.phone = phone_hit.value.split("\n")[0]
    date_hit = first_hit(hits, "referral_date")
    candidates = ([date_hit.value] if date_hit else []) + r.signed_lines
    for cand in candidates:
        try:
            d = find_date(cand, what="date of referral")
        except BadField:
            d = None
        if d:
            ref.referral_date = d
            break


def _consent(ref: Referral, hits: list[Hit], rules: Rules) -> None:
    """Parental consent, the young person informed, known to Social Work: True, False or None."""
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


def _drop_childs_own_email(ref: Referral) -> None:
    """The child's own e-mail (rhodribeddoe2010@...) is not the referrer's."""
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



def _list_field(hits, key, section_list, section_text, rules, *, split_inline: bool = False) -> list[str]:
    out: list[str] = []
    for h in hits:
        if h.key == key and h.value and not is_empty(h.value, rules):
            lines = h.lines if len(h.lines) > 1 else h.value.split("\n")
            for line in lines:
                line = strip_bullet(clean_value(line))
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
        out.extend(x for x in section_text if x and not is_instruction(x, rules) and not is_empty(x, rules))
    dedup = []
    for x in out:
        if x not in dedup:
            dedup.append(x)
    return dedup
