"""A reading that cannot be right is refused with a plain reason, never coded (issue 10 items 1-3)."""

from __future__ import annotations

import io

import pytest
from docx import Document

from mailbot.errors import BadField, MailbotError
from mailbot.documents.referral import read_referral


def form(rows, *, siblings=None, consent=("☒ Yes ☐ No", "☒ Yes ☐ No")) -> bytes:
    doc = Document()
    doc.add_paragraph("Network Referral Form")
    doc.add_paragraph("Section A – About the young person")
    t = doc.add_table(rows=0, cols=2)
    for label, value in rows:
        cells = t.add_row().cells
        cells[0].text, cells[1].text = label, value
    if siblings:
        doc.add_paragraph("Brothers and sisters")
        s = doc.add_table(rows=1, cols=3)
        for c, h in zip(s.rows[0].cells, ("Name of child", "Date of birth", "Also referred")):
            c.text = h
        for row in siblings:
            cells = s.add_row().cells
            for c, v in zip(cells, row):
                c.text = v
    doc.add_paragraph("Section C – Referrer")
    r = doc.add_table(rows=0, cols=2)
    for label, value in (("Referring agency", "Harbourside Youth Project"), ("Referrer name", "Ines Varga"),
                         ("Email", "ines.varga@harbourside.example.org"), ("Date of referral", "3 March 2025")):
        cells = r.add_row().cells
        cells[0].text, cells[1].text = label, value
    doc.add_paragraph("Section F – Consent and Social Work")
    c = doc.add_table(rows=0, cols=2)
    for label, value in (("Has parental consent been obtained?", consent[0]),
                         ("Has the young person been informed of this referral?", consent[1])):
        cells = c.add_row().cells
        cells[0].text, cells[1].text = label, value
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


BASE = [("Name of young person", "Oisín Mac Giolla"), ("Date of birth", "04/07/2012"), ("Gender", "Male")]


def test_a_plain_form_reads():
    ref = read_referral(form(BASE))[1]
    assert [y.name for y in ref.young_people] == ["Oisín Mac Giolla"]
    assert ref.parental_consent is True and ref.referrer.email == "ines.varga@harbourside.example.org"


@pytest.mark.parametrize("name,why", [
    ("Other surnames", "a label"),
    ("Known as", "a label"),
    ("1234 5678", "no letters"),
])
def test_a_name_that_cannot_be_a_name_is_refused(name, why):
    with pytest.raises(MailbotError) as exc:
        read_referral(form([("Name of young person", name)] + BASE[1:]))
    assert "Nothing was shared" in str(exc.value) or "name" in str(exc.value).lower()


def test_two_rows_with_the_same_child_are_refused():
    with pytest.raises(BadField) as exc:
        read_referral(form([("Date of birth", "04/07/2012")],
                           siblings=[("Aoife Kearney", "01/02/2013", "Yes"), ("Aoife Kearney", "01/02/2013", "Yes")]))
    assert exc.value.reason == "implausible-children"


def test_a_sibling_without_a_date_of_birth_while_the_other_has_one_is_refused():
    with pytest.raises(BadField) as exc:
        read_referral(form([("Date of birth", "")],
                           siblings=[("Aoife Kearney", "01/02/2013", "Yes"), ("Cian Kearney", "", "Yes")]))
    assert exc.value.reason == "implausible-dob"


def test_consent_questions_left_unanswered_are_refused():
    with pytest.raises(BadField) as exc:
        read_referral(form(BASE, consent=("☐ Yes ☐ No", "☒ Yes ☐ No")))
    assert exc.value.reason == "implausible-consent"
    # "Not known" is an answer
    assert read_referral(form(BASE, consent=("Not known", "Yes")))[1].parental_consent is None


def test_the_childs_own_email_is_not_the_referrers():
    rows = BASE + [("Young person's e-mail", "oisinmacgiolla2012@mailbox.test")]
    data = form(rows)
    ref = read_referral(data)[1]
    assert ref.referrer.email == "ines.varga@harbourside.example.org"
