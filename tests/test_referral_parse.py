"""Reading filled Referral Forms: the samples, and synthetic layouts built here. All names are fictional."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time

import docx
import pytest

from mailbot.errors import BadField, MailbotError, NotAReferral
from mailbot.documents.form_labels import load_rules
from mailbot.documents.referral import parse_yes_no, read_referral, split_list, split_name

from conftest import REFERRAL_SAMPLES, ROOT, SAMPLES, truth_for

KEYMAP = [("name", "name"), ("first", "first_name"), ("surname", "surname"), ("known_as", "known_as"),
          ("other_surnames", "other_surnames"), ("dob", "date_of_birth"), ("gender", "gender"),
          ("address", "address"), ("former_address", "former_address"), ("school", "school")]


@pytest.mark.parametrize("form", REFERRAL_SAMPLES, ids=lambda p: p.stem)
def test_sample_matches_truth(form):
    truth = truth_for(form)
    _pkg, ref = read_referral(form)
    data = ref.to_json()
    assert len(data["young_people"]) == len(truth["young_people"])
    for want, got in zip(truth["young_people"], data["young_people"]):
        for tk, jk in KEYMAP:
            assert got[jk] == want[tk], (form.name, tk)
    assert data["family"] == truth["family"]
    assert data["referring_agency"] == truth["lead_agency"]
    assert data["referrer"]["email"] == truth["referrer_email"]
    assert data["concerns"] == truth["concerns"]
    for k in ("parental_consent", "young_person_informed", "known_to_social_work"):
        assert data[k] == truth[k], k
    assert set(data) == {"young_people", "family", "referring_agency", "referrer", "referral_date", "concerns",
                         "suggested_agencies", "parental_consent", "young_person_informed",
                         "known_to_social_work", "sensitive_consent", "consent_answers", "named_in_text",
                         "signatories"}


def test_cli_referral_parse_json():
    form = SAMPLES / "S04-siblings-table.docx"
    out = subprocess.run([sys.executable, "-m", "mailbot.cli", "referral", "parse", str(form), "--json"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert [c["date_of_birth"] for c in data["young_people"]] == ["2013-03-08", "2014-08-07"]
    assert data["referring_agency"] == "Westbury Young People's Drug Service"


# -- small pure helpers --------------------------------------------------------------

@pytest.mark.parametrize("full, first, surname", [
    ("Wilbur Quennell", "Wilbur", "Quennell"),
    ("Saoirse Ní Bhriain", "Saoirse", "Ní Bhriain"),
    ("Conor O'Neill", "Conor", "O'Neill"),
    ("Tamsin Rook Smith-Jones", "Tamsin", "Smith-Jones"),
    ("Lucia de la Fuente", "Lucia", "de la Fuente"),
    ("Oisín Ó Briain", "Oisín", "Ó Briain"),
    ("Wilbur", "Wilbur", ""),
])
def test_split_name(full, first, surname):
    assert split_name(full) == (first, surname)


@pytest.mark.parametrize("text, expected", [
    ("Billy, Will and Bill", ["Billy", "Will", "Bill"]),
    ("Fenwick / Haldane; Orr", ["Fenwick", "Haldane", "Orr"]),
    ("N/A", []), ("None", []), ("", []), ("Not known", []),
    ('"Wib"', ["Wib"]),
])
def test_split_list(text, expected):
    assert split_list(text, load_rules()) == expected


@pytest.mark.parametrize("text, expected", [
    ("\u2612 Yes  \u2610 No", True), ("\u2610 Yes  \u2612 No", False), ("Yes \u2612   No \u2610", True),
    ("Yes \u2610   No \u2612", False), ("\u2610 Yes \u2610 No \u2612 Unknown", None), ("\u2612 Yes \u2612 No", None),
    ("[X] Yes [ ] No", True), ("[ ] Yes [x] No", False), ("Yes X  No", True), ("Yes  No X", False),
    ("Yes", True), ("No", False), ("Not known", None), ("", None), ("Y", True), ("N", False),
    ("Yes - mother agreed on the phone", True), ("No, father refused", False), ("\u2610 Yes \u2610 No", None),
    ("\u2612", True), ("\u2610", False),  # a lone box: ticked or not
])
def test_yes_no(text, expected):
    assert parse_yes_no(text, load_rules()) is expected


# -- synthetic forms in other layouts ---------------------------------------------------

def _save(d: docx.Document) -> bytes:
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def _table(d, rows):
    t = d.add_table(rows=len(rows), cols=max(len(r) for r in rows))
    for i, r in enumerate(rows):
        for j, v in enumerate(r):
            t.cell(i, j).text = v
    return t


def test_other_wording_and_x_tick_table():
    d = docx.Document()
    d.add_heading("Request for Network Support", 1)
    d.add_heading("About the child", 2)
    _table(d, [
        ["Child's name", 'Wilbur "Billy" Quennell'],
        ["Date of birth (DD/MM/YYYY)", "1/2/2012"],
        ["Nickname(s)", "Wib and Bill"],
        ["Previous surname(s)", "Fenwick / Haldane"],
        ["Sex", "m"],
        ["Home address", "4 Quarry Lane, Brackenford"],
        ["Previous address", "N/A"],
        ["School attended", "Brackenford Community College"],
    ])
    d.add_heading("Parents / carers", 2)
    d.add_paragraph("Mother's name: Orla Quennell")
    d.add_paragraph("Father: Desmond Fenwick (lives apart), 0871234567")
    d.add_heading("Referrer details", 2)
    _table(d, [["Organisation", "Brackenford Youth Project"], ["Name", "Ada Kestrel"],
               ["Email address", "Ada Kestrel <ada.kestrel@byp.example.org>"], ["Telephone", "01 555 0101"],
               ["Date", "3rd March 2026"]])
    t = _table(d, [["Reasons for referral", ""]])
    cell = t.cell(0, 1)
    cell.paragraphs[0].text = "Poor attendance since September"
    cell.add_paragraph("Negative peer group")
    d.add_heading("Consent", 2)
    _table(d, [["", "Yes", "No"], ["Parental consent sought", "X", ""],
               ["Young person aware of this referral?", "", "X"], ["Known to Social Work", "X", ""]])
    _pkg, ref = read_referral(_save(d))
    data = ref.to_json()
    yp = data["young_people"][0]
    assert yp["name"] == "Wilbur Quennell"
    assert (yp["first_name"], yp["surname"]) == ("Wilbur", "Quennell")
    assert yp["known_as"] == ["Billy", "Wib", "Bill"]
    assert yp["other_surnames"] == ["Fenwick", "Haldane"]
    assert yp["date_of_birth"] == "2012-02-01"
    assert yp["gender"] == "Male"
    assert yp["address"] == "4 Quarry Lane, Brackenford"
    assert yp["former_address"] == ""
    assert yp["school"] == "Brackenford Community College"
    assert data["family"] == [{"name": "Orla Quennell", "relationship": "mother"},
                              {"name": "Desmond Fenwick", "relationship": "father"}]
    assert data["referring_agency"] == "Brackenford Youth Project"
    assert data["referrer"] == {"name": "Ada Kestrel", "email": "ada.kestrel@byp.example.org",
                                "phone": "01 555 0101"}
    assert data["referral_date"] == "2026-03-03"
    assert data["concerns"] == ["Poor attendance since September", "Negative peer group"]
    assert (data["parental_consent"], data["young_person_informed"], data["known_to_social_work"]) == \
        (True, False, True)


LEGACY_CHECKBOX = (
    '<w:r><w:fldChar w:fldCharType="begin"><w:ffData><w:name w:val="{name}"/><w:checkBox><w:sizeAuto/>'
    '<w:default w:val="{val}"/></w:checkBox></w:ffData></w:fldChar></w:r>'
    '<w:r><w:instrText xml:space="preserve"> FORMCHECKBOX </w:instrText></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r>')
LEGACY_TEXT = (
    '<w:r><w:fldChar w:fldCharType="begin"><w:ffData><w:name w:val="Text1"/><w:textInput/></w:ffData></w:fldChar></w:r>'
    '<w:r><w:instrText xml:space="preserve"> FORMTEXT </w:instrText></w:r><w:r><w:fldChar w:fldCharType="separate"/></w:r>'
    '<w:r><w:t>{value}</w:t></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r>')


def _raw_paragraph(d, inner_xml: str):
    from lxml import etree
    ns = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    p = etree.fromstring(f"<w:p {ns}>{inner_xml}</w:p>")
    d.element.body.insert(len(d.element.body) - 1, p)


def test_paragraph_layout_label_then_value_and_legacy_form_fields():
    d = docx.Document()
    d.add_paragraph("NETWORK REFERRAL")
    d.add_paragraph("Name of young person:")
    d.add_paragraph("Saoirse Ní Bhriain")
    d.add_paragraph("D.O.B.:")
    d.add_paragraph("29th February 2012")
    _raw_paragraph(d, '<w:r><w:t xml:space="preserve">School: </w:t></w:r>' + LEGACY_TEXT.format(value="Scoil Bhríde"))
    _raw_paragraph(d, '<w:r><w:t xml:space="preserve">Parental consent: </w:t></w:r>'
                   + LEGACY_CHECKBOX.format(name="c1", val="1") + '<w:r><w:t xml:space="preserve"> Yes  </w:t></w:r>'
                   + LEGACY_CHECKBOX.format(name="c2", val="0") + '<w:r><w:t xml:space="preserve"> No</w:t></w:r>')
    d.add_paragraph("Has the young person been informed? [ ] Yes [x] No")
    d.add_paragraph("Known to Social Work?\tNot known")
    d.add_paragraph("Referring agency – Ardcarne Family Resource Centre")
    d.add_paragraph("Concerns:")
    d.add_paragraph("Use brief bullet points please.")
    d.add_paragraph("Low mood reported by school", style="List Bullet")
    d.add_paragraph("Missing from home overnight", style="List Bullet")
    _pkg, ref = read_referral(_save(d))
    data = ref.to_json()
    yp = data["young_people"][0]
    assert (yp["name"], yp["first_name"], yp["surname"]) == ("Saoirse Ní Bhriain", "Saoirse", "Ní Bhriain")
    assert yp["date_of_birth"] == "2012-02-29"
    assert yp["school"] == "Scoil Bhríde"
    assert data["parental_consent"] is True
    assert data["young_person_informed"] is False
    assert data["known_to_social_work"] is None
    assert data["referring_agency"] == "Ardcarne Family Resource Centre"
    assert data["concerns"] == ["Low mood reported by school", "Missing from home overnight"]


def test_separate_first_and_surname_fields():
    d = docx.Document()
    d.add_heading("Young person", 2)
    _table(d, [["First name", "Conor"], ["Surname", "O'Neill"], ["DOB", "2013-11-05"]])
    _pkg, ref = read_referral(_save(d))
    yp = ref.to_json()["young_people"][0]
    assert (yp["name"], yp["first_name"], yp["surname"], yp["date_of_birth"]) == \
        ("Conor O'Neill", "Conor", "O'Neill", "2013-11-05")


def test_siblings_section_only_referred_ones_are_young_people():
    d = docx.Document()
    d.add_heading("1. Young person", 2)
    _table(d, [["Young person's name", "Tilly Marchbank"], ["Date of birth", "04/04/2011"],
               ["Current address", "2 Mill Row, Fennick"]])
    d.add_heading("3. Siblings", 2)
    _table(d, [["Name", "Known as", "Date of birth", "School", "Also referred?"],
               ["Rory Marchbank", "Ro", "09/09/2013", "Fennick NS", "\u2612 Yes \u2610 No"],
               ["Ivy Marchbank", "", "01/01/2016", "Fennick NS", "\u2610 Yes \u2612 No"],
               ["", "", "", "", "\u2610 Yes \u2610 No"]])
    _pkg, ref = read_referral(_save(d))
    data = ref.to_json()
    assert [c["name"] for c in data["young_people"]] == ["Tilly Marchbank", "Rory Marchbank"]
    rory = data["young_people"][1]
    assert rory["known_as"] == ["Ro"] and rory["date_of_birth"] == "2013-09-09"
    assert rory["address"] == "2 Mill Row, Fennick"  # shared address
    assert {"name": "Ivy Marchbank", "relationship": "sibling"} in data["family"]


def test_impossible_dob_refused_without_the_name():
    d = docx.Document()
    d.add_paragraph("Young person's name: Petra Vantongeren")
    d.add_paragraph("Date of birth: 31/02/2012")
    with pytest.raises(BadField) as exc:
        read_referral(_save(d))
    msg = str(exc.value)
    assert "31/02/2012" in msg and "not a real date" in msg
    assert "Petra" not in msg and "Vantongeren" not in msg and "\n" not in msg


def test_future_dob_refused():
    d = docx.Document()
    d.add_paragraph("Young person's name: Petra Vantongeren")
    d.add_paragraph("Date of birth: 01/01/2099")
    with pytest.raises(BadField) as exc:
        read_referral(_save(d))
    assert "future" in str(exc.value) and "Petra" not in str(exc.value)


def test_a_letter_is_not_a_referral():
    d = docx.Document()
    d.add_paragraph("Dear colleague,")
    d.add_paragraph("Please find attached the agenda for the network meeting on Tuesday.")
    d.add_paragraph("Kind regards, Ada Kestrel")
    with pytest.raises(NotAReferral) as exc:
        read_referral(_save(d))
    assert "does not look like a Network Referral Form" in str(exc.value)
    assert "referral form template" in str(exc.value)


@pytest.mark.parametrize("name", ["minutes-1.docx", "blank-minutes-template.docx"])
def test_minutes_are_not_a_referral(name):
    with pytest.raises(NotAReferral):
        read_referral(SAMPLES / name)


def test_blank_form_has_no_name():
    with pytest.raises(NotAReferral) as exc:
        read_referral(SAMPLES / "blank-referral-form.docx")
    assert exc.value.reason == "no-name"
    assert "name" in str(exc.value)


def test_garbage_is_a_plain_error():
    with pytest.raises(MailbotError):
        read_referral(b"this is not a word file")


def test_parsing_is_fast():
    from mailbot.documents.package import open_package
    from mailbot.documents.referral import parse_referral
    pkgs = [open_package(p) for p in REFERRAL_SAMPLES]
    for pkg in pkgs:
        parse_referral(pkg)  # warm the rules cache
    t0 = time.perf_counter()
    for pkg in pkgs:
        pkg._trees.clear()
        parse_referral(pkg)
    assert (time.perf_counter() - t0) / len(pkgs) < 0.05


@pytest.mark.parametrize("value", ["Maisie and Archie Fairweather", "Maisie Fairweather / Archie Fairweather"])
def test_two_names_in_one_box_refused(value):
    d = docx.Document()
    d.add_paragraph(f"Young person's name: {value}")
    d.add_paragraph("Date of birth: 01/01/2012")
    with pytest.raises(BadField) as exc:
        read_referral(_save(d))
    assert "more than one name" in str(exc.value) and "Fairweather" not in str(exc.value)


def test_surname_first_aka_and_relatives_by_label():
    d = docx.Document()
    d.add_heading("Young person", 2)
    d.add_paragraph("Name: QUENNELL, Wilbur")
    d.add_paragraph("Also known as: Wib")
    d.add_heading("Family", 2)
    d.add_paragraph("Stepfather: Kevin Aldous, 087 000 0000")
    d.add_paragraph("Siblings: Ivy (8), Rory and Jack Quennell")
    _pkg, ref = read_referral(_save(d))
    data = ref.to_json()
    yp = data["young_people"][0]
    assert (yp["name"], yp["first_name"], yp["surname"], yp["known_as"]) == \
        ("Wilbur QUENNELL", "Wilbur", "QUENNELL", ["Wib"])
    assert data["family"] == [{"name": "Kevin Aldous", "relationship": "stepfather"},
                              {"name": "Ivy", "relationship": "sibling"},
                              {"name": "Rory", "relationship": "sibling"},
                              {"name": "Jack Quennell", "relationship": "sibling"}]


def test_name_with_aka_inside():
    d = docx.Document()
    d.add_paragraph("Full name: Wilbur Quennell aka Billy")
    d.add_paragraph("DOB: 2 Feb 2012")
    _pkg, ref = read_referral(_save(d))
    yp = ref.to_json()["young_people"][0]
    assert (yp["name"], yp["known_as"]) == ("Wilbur Quennell", ["Billy"])


def test_children_one_column_each():
    d = docx.Document()
    _table(d, [["Name of young person", "Maisie Fairweather", "Archie Fairweather"],
               ["Date of birth", "08/03/2013", "07/08/2014"],
               ["Known as", "", "Arch"],
               ["Current address", "5 Loom Street, Harrowgate", ""]])
    _pkg, ref = read_referral(_save(d))
    kids = ref.to_json()["young_people"]
    assert [(k["name"], k["date_of_birth"], k["known_as"]) for k in kids] == [
        ("Maisie Fairweather", "2013-03-08", []), ("Archie Fairweather", "2014-08-07", ["Arch"])]
    assert {k["address"] for k in kids} == {"5 Loom Street, Harrowgate"}


def test_a_name_alone_is_not_a_form():
    d = docx.Document()
    d.add_paragraph("Name: Ada Kestrel")
    d.add_paragraph("Re: the meeting next week")
    with pytest.raises(NotAReferral) as exc:
        read_referral(_save(d))
    assert exc.value.reason == "not-a-referral" and "Kestrel" not in str(exc.value)


def test_dob_box_with_words_is_not_quoted():
    d = docx.Document()
    d.add_paragraph("Young person's name: Petra Vantongeren")
    d.add_paragraph("Date of birth: Petra is about 12")
    with pytest.raises(BadField) as exc:
        read_referral(_save(d))
    assert "Petra" not in str(exc.value) and "day/month/year" in str(exc.value)


# -- any input: a Referral or a plain MailbotError, never a traceback ---------------------

from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

_LABELS = ["Name", "Young person's name", "DOB", "Date of birth", "Known as", "Other surnames", "Gender",
           "School", "Address", "Parent/carer 1", "Siblings", "Referring agency", "Email", "Concerns",
           "Has parental consent been obtained?", "Known to Social Work", "Section B – Family", "Signed"]
_VALUES = st.one_of(
    st.sampled_from(["Wilbur Quennell", "31/02/2012", "1/2/2012", "N/A", "\u2612 Yes \u2610 No", "X",
                     "Ivy and Rory Quennell", "QUENNELL, Wilbur", "a@b.example", "", "()", "((", "’", "\t"]),
    st.text(max_size=40),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(_LABELS), st.sampled_from([": ", "\t", "? ", " "]), _VALUES),
                min_size=0, max_size=10),
       st.booleans())
def test_any_form_gives_a_referral_or_a_plain_error(lines, as_table):
    d = docx.Document()
    if as_table and lines:
        _table(d, [[lab, _clean_xml(val)] for lab, _sep, val in lines])
    else:
        for lab, sep, val in lines:
            d.add_paragraph(_clean_xml(f"{lab}{sep}{val}"))
    try:
        _pkg, ref = read_referral(_save(d))
    except MailbotError as exc:
        assert "\n" not in str(exc)
        assert "Quennell" not in str(exc) and "Wilbur" not in str(exc)
        return
    data = ref.to_json()
    assert data["young_people"] and all(c["name"] for c in data["young_people"])


def _clean_xml(s: str) -> str:
    return "".join(ch for ch in s if ch in "\t\n" or (ord(ch) >= 32 and not 0xD800 <= ord(ch) <= 0xDFFF
                                                      and ch not in "\ufffe\uffff"))


@pytest.mark.parametrize("value", ["Wilbur Quennell DOB 01/02/2012", "Wilbur Quennell, wq@example.org"])
def test_more_than_a_name_in_the_name_box_refused(value):
    d = docx.Document()
    d.add_paragraph(f"Young person's name: {value}")
    d.add_paragraph("Date of birth: 01/02/2012")
    with pytest.raises(BadField) as exc:
        read_referral(_save(d))
    assert "Wilbur" not in str(exc.value) and "Quennell" not in str(exc.value)


def test_titles_dropped_from_family_names():
    d = docx.Document()
    d.add_paragraph("Young person's name: Wilbur Quennell")
    d.add_paragraph("Date of birth: 01/02/2012")
    d.add_paragraph("Parent/carer 1: Mrs Orla Quennell (mother)")
    _pkg, ref = read_referral(_save(d))
    assert ref.to_json()["family"] == [{"name": "Orla Quennell", "relationship": "mother"}]
