"""Property: a name, in any of its forms, put into any part of a real form, is removed or refused.

Hypothesis draws a fictional first name + surname (from the lists below, or random letter
strings with a capital initial), a form of it (full, first, surname, joined-up e-mail with
digits, @handle with underscore, URL path, initials, with an invisible character, a combining
accent or a Cyrillic look-alike inserted, upper case, possessive), and the test puts it into
one document part of a real .docx whose young-person field is that name. Coding must either
raise a MailbotError (refused / held) or leave no form of the name by the independent oracle
(tests/leakcheck.py). Parametrised by part, so a failure names the part; no shrinking (each
step codes a document), derandomised so a run is repeatable.

Every name here is invented for the test.
"""

from __future__ import annotations

import os
import functools
import sys
import tempfile
import urllib.parse
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st

from mailbot.casework.code_file import code_referral_file
from mailbot.errors import MailbotError

from leakcheck import find_leaks, joined_forms

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures" / "adversarial"))
from docxkit import (add_footnote, add_hyperlink, add_picture_alt, add_textbox, fill, finish,  # noqa: E402
                     heading, new_document, table, tick)

FIRSTS = ["Orla", "Cadoc", "Eluned", "Tadhg", "Ailsa", "Kwabena", "Bogdan", "Radu", "Simran", "Emeka",
          "Saoirse", "Gwenllian", "Lachlan", "Wiktoria", "Farhiya", "Jasleen", "Chidera", "Florentina",
          "Cormac", "Morwenna", "Eilidh", "Oksana", "Yetunde", "Rhun"]
SURNAMES = ["Tregenza", "Ferriday", "Mulqueen", "Vasilescu", "Nwachukwu", "Grzybowski", "Oyelaran",
            "Macaskill", "Pencarrow", "Bhogal", "Cheruiyot", "Ua Bhriain", "Abernathy", "Dragomir",
            "Kilcoyne", "Ysbyty", "Mabuza", "Wojtczak", "Penhallow", "Athwal"]
MOTHERS = ["Annwen", "Dervla", "Halszka", "Ifunanya", "Ramona"]
CONS, VOWELS = "bcdfghjklmnprstvwz", "aeiou"

INVISIBLE = ["\u200b", "\u00ad", "\u200d", "\u200c", "\u2060", "\ufeff", "\u202e", "\u2066"]
CYRILLIC = {"a": "\u0430", "e": "\u0435", "o": "\u043e", "p": "\u0440", "c": "\u0441", "y": "\u0443",
            "x": "\u0445", "i": "\u0456"}


@st.composite
def random_word(draw):
    n = draw(st.integers(min_value=2, max_value=4))
    s = "".join(draw(st.sampled_from(CONS)) + draw(st.sampled_from(VOWELS)) for _ in range(n))
    if draw(st.booleans()):
        s += draw(st.sampled_from("nrsl"))
    return s[0].upper() + s[1:]


names = st.tuples(st.one_of(st.sampled_from(FIRSTS), random_word()),
                  st.one_of(st.sampled_from(SURNAMES), random_word()))


def _insert(word: str, ch: str) -> str:
    i = max(1, len(word) // 2)
    return word[:i] + ch + word[i:]


def _cyr(word: str) -> str:
    for i, c in enumerate(word):
        if i and c in CYRILLIC:
            return word[:i] + CYRILLIC[c] + word[i + 1:]
    return _insert(word, "\u0301")


def _last(surname: str) -> str:
    return surname.split()[-1]


FORMS = {
    "full": lambda f, s, d: f"{f} {s}",
    "first": lambda f, s, d: f,
    "surname": lambda f, s, d: s,
    "email": lambda f, s, d: f"{f.lower()}{_last(s).lower()}{d}@mailbox.test",
    "handle": lambda f, s, d: f"@{f[0].lower()}{_last(s).lower()}_{d % 100:02d}",
    "url": lambda f, s, d: f"https://clipshare.example.org/u/{f.lower()}.{_last(s).lower()}",
    "initials": lambda f, s, d: f"{f[0]}.{_last(s)[0]}.",
    "invisible": lambda f, s, d: f"{f} {_insert(_last(s), INVISIBLE[d % len(INVISIBLE)])}",
    "combining": lambda f, s, d: _insert(f, "\u0301"),
    "cyrillic": lambda f, s, d: f"{f} {_cyr(_last(s))}",
    "upper": lambda f, s, d: f"{f} {s}".upper(),
    "possessive": lambda f, s, d: f"{f}\u2019s",
}

PARTS = ["body", "table_cell", "header", "footer", "footnote", "comment", "text_box",
         "hyperlink_target", "core_property", "alt_text"]


def build_form(first: str, surname: str, mother: str, text: str, part: str) -> bytes:
    full = f"{first} {surname}"
    header = "OFFICIAL-SENSITIVE \u2013 Ardmorran Early Help Network"
    footer = "Ardmorran Youth Project \u2013 network referral form"
    if part == "header":
        header += f" \u2013 re {text}"
    if part == "footer":
        footer = f"Notes on {text} \u2013 " + footer
    d = new_document("Rowena Ashgrove", "2025-05-05", header, footer,
                     keywords=text if part == "core_property" else "referral")
    t = d.add_paragraph()
    t.add_run("Ardmorran Youth Project \u2013 Network Referral Form").bold = True
    heading(d, "Section A \u2013 About the young person")
    table(d, [["Name of young person", full], ["Known as", "None"], ["Other surnames used", "None"],
              ["Date of birth", "14/03/2012"], ["Gender", "Female"],
              ["Current address", "12 Larch Grove, Dunreath, Ardmorran"],
              ["Former address", "3 Kiln Lane, Strathlevan, Ardmorran"], ["School", "Dunreath High School"]])
    heading(d, "Section B \u2013 Parents / carers and household")
    table(d, [["Name", "Relationship to young person", "Contact number"],
              [f"{mother} {surname}", "mother", "07700 900555"]], header=True)
    heading(d, "Section C \u2013 Referrer")
    table(d, [["Referring agency", "Ardmorran Youth Project"], ["Referrer name", "Rowena Ashgrove"],
              ["Role", "Youth Worker"], ["Email", "rowena.ashgrove@ardmorran-yp.example.org"],
              ["Phone", "01632 960999"], ["Date of referral", "05/05/2025"]])
    heading(d, "Section D \u2013 Reasons for referral")
    bullets = []
    for line in ["The young person has been missing from school on Mondays",
                 "Staff are worried about contact with older youths at the retail park",
                 "The family have asked for support with routines"]:
        p = d.add_paragraph(style="List Bullet")
        fill(p, line)
        bullets.append(p)
    if part == "body":
        p = d.add_paragraph(style="List Bullet")
        fill(p, f"A friend said {text} was seen at the bus station late at night")
    if part == "footnote":
        add_footnote(d, bullets[0], f"Reported by a neighbour about {text}.")
    if part == "comment":
        d.add_comment(bullets[1].runs[0], text=f"Spoke to {text} about this today.",
                      author="Rowena Ashgrove", initials="RA")
    if part == "hyperlink_target":
        p = d.add_paragraph("Public profile: ")
        add_hyperlink(p, "https://clipshare.example.org/u/" + urllib.parse.quote(text, safe="@./:"),
                      "open the profile")
    heading(d, "Section E \u2013 Agencies suggested")
    d.add_paragraph("Ardmorran CAMHS", style="List Bullet")
    heading(d, "Section F \u2013 Consent and Social Work")
    table(d, [["Has parental consent been obtained?", tick(True)],
              ["Has the young person been informed of this referral?", tick(True)],
              ["Is the young person known to Social Work?", tick(False, unknown=True)]])
    if part == "table_cell":
        table(d, [["Additional information", f"Older youths call out to {text} on the way home"]])
    if part == "text_box":
        add_textbox(d, ["Notes", f"Seen with {text} at the park"], name="Notes box")
    if part == "alt_text":
        p = d.add_paragraph("Photograph: ")
        add_picture_alt(p, f"Photo of {text}")
    d.add_paragraph("Signed: Rowena Ashgrove    Date: 05/05/2025")
    return finish(d, "2025-05-05T10:15:00Z")


_TMP = Path(tempfile.mkdtemp(prefix="mailbot-props-"))


@functools.lru_cache(maxsize=None)
def _twin(part: str, form: str, digits: int) -> bytes:
    """The same form with other (nonsense) names, to see what the form's own wording holds."""
    return build_form("Qzxvy", "Vqzxw", "Xqvzy", FORMS[form]("Qzxvy", "Vqzxw", digits), part)


def _code(data: bytes, tag: str):
    src = _TMP / f"{tag}.docx"
    out = _TMP / f"{tag}-CN90.docx"
    src.write_bytes(data)
    try:
        code_referral_file(src, "CN90", out)
    except MailbotError as exc:
        return None, exc
    return out.read_bytes(), None


def _tokens(first, surname, mother, form):
    toks = [first, surname, f"{first} {surname}", mother, f"{mother} {surname}"]
    if form == "initials":
        toks.append(f"{first[0]}.{_last(surname)[0]}.")
    return toks


def test_base_form_codes_clean():
    """The form the properties use is well made: coded, and nothing of the name left."""
    data, err = _code(build_form("Morwenna", "Tregenza", "Annwen", "nothing", "body"), "base")
    assert err is None, err
    assert not find_leaks(data, _tokens("Morwenna", "Tregenza", "Annwen", "full"),
                          joined=joined_forms([{"name": "Morwenna Tregenza"}]))


FORM_NAMES = sorted(FORMS)


@pytest.mark.parametrize("part", PARTS)
def test_name_in_any_form_in_any_part_is_removed_or_refused(part):
    """For each part, hypothesis draws names and forms (the form list is rotated per part so the
    parts together cover every form); every drawn case that is coded must leave no form of the
    name. All failing cases of the part are reported together."""
    failures: list[str] = []
    shift = PARTS.index(part) * 5

    # two drawn cases a part in the suite (the parts together cover every form); PROP_PARTS_EXAMPLES=20
    # for a deeper run
    @settings(max_examples=int(os.environ.get("PROP_PARTS_EXAMPLES", "2")), deadline=None, derandomize=True,
              database=None,
              phases=(Phase.explicit, Phase.generate),
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    @given(name=names, mother=st.sampled_from(MOTHERS), k=st.integers(min_value=0, max_value=len(FORMS) - 1),
           digits=st.integers(min_value=2005, max_value=2014))
    def case(name, mother, k, digits):
        form = FORM_NAMES[(k + shift) % len(FORM_NAMES)]
        first, surname = name
        if first == surname or first == mother:
            return
        if form == "initials" and (first[0] + _last(surname)[0]) == "CN":   # the case code itself
            return
        text = FORMS[form](first, surname, digits)
        tokens = _tokens(first, surname, mother, form)
        joined = joined_forms([{"name": f"{first} {surname}"}, {"name": f"{mother} {surname}"}])
        # the drawn name must not occur in the form's own wording (checked on a twin with other names)
        if find_leaks(_twin(part, form, digits), tokens, joined=joined):
            return
        tag = f"{part}-{form}-{len(failures)}-{digits}"
        note(f"part={part} form={form} text={text!r}")
        data, err = _code(build_form(first, surname, mother, text, part), tag)
        if err is not None:
            if not str(err).strip():
                failures.append(f"{form} {text!r}: refused with an empty message")
            return
        leaks = find_leaks(data, tokens, filename=f"{tag}-CN90.docx", joined=joined)
        if leaks:
            failures.append(f"{form} form {text!r} ({first} {surname}): left {leaks}")

    case()
    assert not failures, f"in the {part}: " + "; ".join(failures)
