"""The young people a Referral Form names: the name box, the rows or columns of children.

:func:`young_people` reads the main name box (or first name and surname boxes) and every row
of a children or siblings table (a sibling not also referred is family), refusing in plain
words a name box that holds more than one name or more than a name; :func:`share_fields` gives
each child the fields written once for all (known as, other surnames, address, school, gender,
date of birth), or per child ("Maisie: None; Archie: Gaskell").
"""

from __future__ import annotations

import re

from mailbot.documents.form_labels import Rules, canon
from mailbot.documents.referral.reader import FormReader, Hit
from mailbot.documents.referral.result import FamilyMember, YoungPerson
from mailbot.documents.referral.values import (TITLE, clean_value, date_of_birth, is_empty, normalise_gender, parse_yes_no,
                                               split_list, split_name)
from mailbot.errors import BadField

MORE_THAN_ONE = ("The young person's name box seems to hold more than one name. For brothers and sisters, "
                 "please give one row per child (name, date of birth) and send the form again.")


NOT_JUST_A_NAME = ("The young person's name box holds more than a name (numbers or other details). Please "
                   "give only the name there, put other details in their own boxes, and send the form again.")

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
    # (both patterns read a run of spaces once; read from each of its spaces, 40,000 took 20 s and 2.8 s)
    m = re.search(r"(?<!\s)\s+(?:a\.?k\.?a\.?|also known as|known as)\s+(.+)$", name, re.I)
    if m:
        known.extend(split_list(m.group(1), rules))
        name = name[: m.start()]
    m = re.fullmatch(r"\s*([^,\s](?:[^,]*[^,\s])?)\s*,\s*([^,\s](?:[^,]*[^,\s])?|\s)\s*", name)
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
    name = TITLE.sub("", name)
    if re.search(r"[\d@:<>{}\[\]=]", name) or len(name.split()) > 6:
        # fail closed: something other than a name is in the box, so the surname cannot be trusted
        raise BadField(NOT_JUST_A_NAME, reason="bad-name")
    if not name and (first or surname):
        name = " ".join(x for x in (first, surname) if x)
    f, s = split_name(name)
    yp = YoungPerson(name=name, first_name=first or f, surname=surname or s)
    yp.known_as = known
    return yp



def first_hit(hits: list[Hit], key: str) -> Hit | None:
    """The first hit for ``key`` that has a value."""
    for h in hits:
        if h.key == key and h.value:
            return h
    return None


def text_of(hits: list[Hit], key: str, rules: Rules) -> str:
    """The value of ``key`` on one line ("" when empty)."""
    h = first_hit(hits, key)
    if h is None or is_empty(h.value, rules):
        return ""
    return h.value.replace("\n", ", ")


def young_people(r: FormReader) -> tuple[list[YoungPerson], list[FamilyMember], str]:
    """(the children, the siblings not referred, what the main name box holds)."""
    rules, hits = r.rules, r.hits
    children: list[YoungPerson] = []
    h_name = first_hit(hits, "yp_name")
    first = text_of(hits, "yp_first_name", rules)
    sur = text_of(hits, "yp_surname", rules)
    main_name = h_name.value if h_name and not is_empty(h_name.value, rules) else ""
    if main_name or first or sur:
        children.append(_make_child(main_name, rules, first=first, surname=sur))
    child_rows, sibling_family = _child_rows(r)
    for rec in child_rows:
        nm = rec.get("name", "")
        if is_empty(nm, rules) and not (rec.get("first_name") or rec.get("surname")):
            continue
        yp = _child_of_row(rec, rules)  # a sibling's first name alone: no surname is guessed
        if main_name and any(canon(c.name) == canon(yp.name) for c in children):
            continue  # the main name box and the children table name the same child
        # (the same name in two rows is refused by check_plausible, never merged silently)
        children.append(yp)
    return children, sibling_family, main_name


def _child_rows(r: FormReader) -> tuple[list[dict], list[FamilyMember]]:
    """The rows of the children tables and of the siblings also referred; the other siblings."""
    rules = r.rules
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
    return child_rows, sibling_family


def _child_of_row(rec: dict, rules: Rules) -> YoungPerson:
    nm = rec.get("name", "")
    yp = _make_child("" if is_empty(nm, rules) else nm, rules,
                     first=rec.get("first_name", ""), surname=rec.get("surname", ""))
    yp.known_as += [k for k in split_list(rec.get("known_as", ""), rules) if k not in yp.known_as]
    yp.other_surnames = split_list(rec.get("other_surnames", ""), rules)
    if rec.get("dob"):
        yp.date_of_birth = date_of_birth(rec["dob"], rules)
    yp.gender = normalise_gender(rec.get("gender", ""), rules)
    yp.school = "" if is_empty(rec.get("school", ""), rules) else rec.get("school", "")
    yp.address = "" if is_empty(rec.get("address", ""), rules) else rec.get("address", "")
    return yp


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



def share_fields(children: list[YoungPerson], hits: list[Hit], rules: Rules, main_name: str) -> None:
    """Shared fields: they apply to the main child, or to every child listed in rows."""
    firsts = [c.first_name for c in children]

    def shared(key: str) -> str:
        return text_of(hits, key, rules)

    known = first_hit(hits, "known_as")
    others = first_hit(hits, "other_surnames")
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
            h = first_hit(hits, "dob")
            if h is not None:
                c.date_of_birth = date_of_birth(h.value.split("\n")[0], rules)
