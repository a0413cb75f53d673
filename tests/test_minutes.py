"""Minutes parser: the samples, the variants lead agencies produce, refusals. Names are fictional."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest
from docx import Document

from conftest import MINUTES_SAMPLES, ROOT, truth_for
from mailbot.errors import BadDocument, BadField, MailbotError
from mailbot.documents.minutes import NotMinutes, parse_minutes, read_minutes
from mailbot.documents.package import open_package

KEYS = ["case_code", "lead_agency", "date", "chair", "minutes_taker", "attendees", "apologies", "actions",
        "next_meeting", "exit_agreed", "handover_to"]


@pytest.mark.parametrize("path", MINUTES_SAMPLES, ids=lambda p: p.name)
def test_sample_minutes_match_truth(path):
    truth = truth_for(path)
    _pkg, minutes = read_minutes(path)
    got = minutes.to_json()
    for key in KEYS:
        assert got[key] == truth[key], key
    # bytes work as well as paths
    assert read_minutes(path.read_bytes())[1].to_json() == got


def test_samples_are_all_present():
    assert len(MINUTES_SAMPLES) >= 3


def test_cli_minutes_parse_prints_json():
    sample = ROOT / "tests" / "fixtures" / "samples" / "minutes-2.docx"
    out = subprocess.run([sys.executable, "-m", "mailbot.cli", "minutes", "parse", str(sample), "--json"],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["case_code"] == "CN15"
    assert data["next_meeting"] == "2027-03-01T15:30"
    assert [a["responsible"] for a in data["actions"]][0] == "Rory Threlfall"


def test_cli_refuses_a_referral_form_in_one_line():
    sample = ROOT / "tests" / "fixtures" / "samples" / "S01-table.docx"
    out = subprocess.run([sys.executable, "-m", "mailbot.cli", "minutes", "parse", str(sample)],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 1
    assert out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1
    assert "Referral Form" in out.stderr and "Traceback" not in out.stderr
    assert "Harvey" not in out.stderr and "Pemberton" not in out.stderr


# -- building variants ------------------------------------------------------------------

ATTENDEES = [
    ("Nora Quill", "Lisnavar Youth Café", "01 555 0101", "nora.quill@cafe.example.ie"),
    ("Oscar Brannock", "Lisnavar Community School", "", "o.brannock@school.example.ie"),
    ("Petra Lusk", "Lisnavar Family Support Service", "087 555 0199", "petra.lusk@fss.example.ie"),
]


def _doc_bytes(doc) -> bytes:
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def _minutes_doc(*, code="CN31", meeting_date="3 March 2027", header="line", actions="table", attendance=True, next_meeting="14/04/2027 at 2.30pm",
                 extra_discussion=(), extra_end=(), title="Network Case Meeting Minutes"):
    doc = Document()
    doc.add_paragraph(title, style="Title")
    if header == "line":
        doc.add_paragraph(f"Case Number: {code}   Lead Agency: Lisnavar Youth Café   Date: 3rd March 2027")
    elif header == "line-single-spaces":
        doc.add_paragraph("Case Number: CN31 Lead Agency: Lisnavar Youth Café Date: 03/03/2027")
    elif header == "table-pairs":
        t = doc.add_table(rows=3, cols=2)
        for row, (k, v) in zip(t.rows, [("Case Number", "CN31"), ("Lead Agency", "Lisnavar Youth Café"),
                                        ("Date", "3 March 2027")]):
            row.cells[0].text, row.cells[1].text = k, v
    elif header == "table-columns":
        t = doc.add_table(rows=2, cols=3)
        for cell, text in zip(t.rows[0].cells, ["Case Number", "Lead Agency", "Date"]):
            cell.text = text
        for cell, text in zip(t.rows[1].cells, ["CN31", "Lisnavar Youth Café", "2027-03-03"]):
            cell.text = text
    elif header == "lines":
        doc.add_paragraph(f"Case No.: {code.lower().replace('cn', 'cn ')}")
        doc.add_paragraph("Lead Agency: Lisnavar Youth Café")
        doc.add_paragraph(f"Date of meeting: Wednesday, {meeting_date}")
    doc.add_paragraph("Chair: Nora Quill (Lisnavar Youth Café)")
    doc.add_paragraph("Minutes taken by: Petra Lusk")
    doc.add_paragraph("In Attendance: " + ", ".join(f"{n} ({a})" for n, a, _p, _e in ATTENDEES))
    doc.add_paragraph("Apologies: Ruth Carbery (Lisnavar Education Welfare); Simon Dowd")
    doc.add_paragraph("1. Discussion of case", style="Heading 2")
    doc.add_paragraph("Nora Quill said CN31 has settled at the drop-in.")
    for line in extra_discussion:
        doc.add_paragraph(line)
    doc.add_paragraph("2. Actions decided and who is responsible", style="Heading 2")
    acts = [("Meet CN31 weekly", "Nora Quill"), ("Send attendance figures to the Chair", "Oscar Brannock")]
    if actions == "table":
        t = doc.add_table(rows=1, cols=3)
        for cell, text in zip(t.rows[0].cells, ["Action", "Person responsible", "By when"]):
            cell.text = text
        for a, who in acts:
            row = t.add_row().cells
            row[0].text, row[1].text, row[2].text = a, who, "April"
    elif actions == "bullets-hyphen":
        for a, who in acts:
            doc.add_paragraph(f"{a} - {who} (Agency)", style="List Bullet")
    elif actions == "bullets-tab":
        doc.add_paragraph("Action\tWho is responsible?")
        for a, who in acts:
            doc.add_paragraph(f"{a}\t{who}")
    elif actions == "bullets-parens":
        for a, who in acts:
            doc.add_paragraph(f"{a} ({who})", style="List Number")
    doc.add_paragraph("3. Monitor and review", style="Heading 2")
    doc.add_paragraph("Review at the next meeting.")
    if attendance:
        doc.add_paragraph("4. Attendance Sheet", style="Heading 2")
        t = doc.add_table(rows=1, cols=4)
        for cell, text in zip(t.rows[0].cells, ["Name", "Agency", "Tel", "E-mail"]):
            cell.text = text
        for person in ATTENDEES:
            row = t.add_row().cells
            for cell, text in zip(row, person):
                cell.text = text
        t.add_row()  # an empty row left in the template
    doc.add_paragraph("5. AOB", style="Heading 2")
    doc.add_paragraph("None.", style="List Bullet")
    for line in extra_end:
        doc.add_paragraph(line)
    if next_meeting is not None:
        doc.add_paragraph(f"Date for the next meeting: {next_meeting}")
    return _doc_bytes(doc)


def _parse(data: bytes) -> dict:
    return read_minutes(data)[1].to_json()


@pytest.mark.parametrize("header", ["line", "line-single-spaces", "table-pairs", "table-columns", "lines"])
def test_header_variants(header):
    got = _parse(_minutes_doc(header=header))
    assert got["case_code"] == "CN31"
    assert got["lead_agency"] == "Lisnavar Youth Café"
    assert got["date"] == "2027-03-03"
    assert got["chair"] == "Nora Quill"
    assert got["minutes_taker"] == "Petra Lusk"
    assert got["apologies"] == ["Ruth Carbery", "Simon Dowd"]


@pytest.mark.parametrize("style", ["table", "bullets-hyphen", "bullets-tab", "bullets-parens"])
def test_action_variants(style):
    got = _parse(_minutes_doc(actions=style))
    assert got["actions"] == [
        {"action": "Meet CN31 weekly", "responsible": "Nora Quill"},
        {"action": "Send attendance figures to the Chair", "responsible": "Oscar Brannock"},
    ]


def test_attendance_sheet_columns_and_empty_cells():
    got = _parse(_minutes_doc())
    assert got["attendees"] == [
        {"name": n, "agency": a, "phone": p or None, "email": e} for n, a, p, e in ATTENDEES
    ]


def test_attendees_from_in_attendance_line_when_there_is_no_sheet():
    got = _parse(_minutes_doc(attendance=False))
    assert got["attendees"] == [{"name": n, "agency": a, "phone": None, "email": None}
                                for n, a, _p, _e in ATTENDEES]


@pytest.mark.parametrize("text,expected", [
    ("14/04/2027 at 2.30pm", "2027-04-14T14:30"),
    ("Tuesday 4th May 2027, 10:00", "2027-05-04T10:00"),
    ("4 May 2027", "2027-05-04"),  # no time given: the date alone
    ("TBC", None),
    ("To be confirmed by the Chair", None),
    ("", None),
])
def test_next_meeting_variants(text, expected):
    assert _parse(_minutes_doc(next_meeting=text))["next_meeting"] == expected


def test_next_meeting_label_on_its_own_line():
    doc = Document()
    doc.add_paragraph("Network Case Meeting Minutes", style="Title")
    doc.add_paragraph("Case Number: CN44")
    doc.add_paragraph("Chair: Nora Quill")
    doc.add_paragraph("Apologies: none")
    doc.add_paragraph("1. Discussion of case", style="Heading 2")
    doc.add_paragraph("Date for the next meeting", style="Heading 2")
    doc.add_paragraph("21/06/2027 at 11am")
    got = _parse(_doc_bytes(doc))
    assert got["next_meeting"] == "2027-06-21T11:00"
    assert got["apologies"] == []
    assert got["date"] is None


def test_exit_and_handover_detection():
    got = _parse(_minutes_doc(extra_discussion=["All agencies agreed that CN31 will exit the network; "
                                                "the case will be removed from the Master List."]))
    assert got["exit_agreed"] is True and got["handover_to"] is None
    got = _parse(_minutes_doc(extra_discussion=["Exit was discussed but not agreed at this stage."]))
    assert got["exit_agreed"] is False
    got = _parse(_minutes_doc(extra_discussion=["There are no longer any concerns, so exit was agreed."]))
    assert got["exit_agreed"] is True
    got = _parse(_minutes_doc(title="Network Case Meeting Minutes – Exit Meeting",
                              extra_discussion=["CN31 is not ready to exit yet; review in May."]))
    assert got["exit_agreed"] is False
    got = _parse(_minutes_doc(title="Network Case Meeting Minutes – Exit Meeting"))
    assert got["exit_agreed"] is True
    got = _parse(_minutes_doc(extra_end=["Exit agreed: \u2612 Yes   \u2610 No"]))
    assert got["exit_agreed"] is True
    got = _parse(_minutes_doc(extra_end=["Exit agreed: \u2610 Yes   \u2612 No"],
                              title="Network Case Meeting Minutes (Exit Meeting)"))
    assert got["exit_agreed"] is False
    got = _parse(_minutes_doc(extra_discussion=[
        "Lead Agency transferred from Lisnavar Youth Café to Lisnavar Family Support Service."]))
    assert got["handover_to"] == "Lisnavar Family Support Service"
    got = _parse(_minutes_doc(extra_end=["New Lead Agency (handover only): Lisnavar Community School"]))
    assert got["handover_to"] == "Lisnavar Community School"
    got = _parse(_minutes_doc(extra_discussion=[
        "A handover to Lisnavar Community School was raised but it was not agreed."]))
    assert got["handover_to"] is None


def test_not_minutes_and_bad_fields_are_refused_with_one_plain_line():
    doc = Document()
    doc.add_paragraph("Shopping list for the summer camp: tents, rope, torches.")
    with pytest.raises(NotMinutes) as e1:
        _parse(_doc_bytes(doc))
    with pytest.raises(NotMinutes) as e2:
        read_minutes(ROOT / "tests" / "fixtures" / "samples" / "S02-paragraphs.docx")
    no_code = _minutes_doc(code="XX31")
    with pytest.raises(BadField) as e3:
        _parse(no_code)
    bad_date = _minutes_doc(header="lines", meeting_date="31 February 2027")
    with pytest.raises(BadField) as e4:
        _parse(bad_date)
    with pytest.raises(BadDocument):
        read_minutes(b"this is not a word document")
    for e in (e1, e2, e3, e4):
        msg = str(e.value)
        assert isinstance(e.value, MailbotError)
        assert "\n" not in msg and 10 < len(msg) < 200
        assert "31 February" not in msg  # the document is described, never quoted


def test_empty_document_is_not_minutes():
    with pytest.raises(NotMinutes):
        parse_minutes(open_package(_doc_bytes(Document())))


def test_recipients_are_attendees_and_apologies():
    _pkg, minutes = read_minutes(MINUTES_SAMPLES[0])
    assert minutes.recipients()[-1] == "Dervla Vesey"
    assert len(minutes.recipients()) == len(minutes.attendees) + 1


# -- hostile and odd input ---------------------------------------------------------------

from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

_texty = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=80)
_labelish = st.sampled_from(["Case Number: ", "Lead Agency: ", "Date: ", "Chair: ", "Minutes: ", "Apologies: ",
                             "In Attendance: ", "Date for the next meeting: ", "Exit agreed: ", "", "CN",
                             "2. Actions Decided", "4. Attendance Sheet", " – ", "(", ")", "\t"])


@settings(max_examples=int(__import__("os").environ.get("MINUTES_FUZZ", "40")), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(_labelish, _texty), min_size=1, max_size=12))
def test_any_text_gives_minutes_or_a_plain_refusal(lines):
    doc = Document()
    doc.add_paragraph("Network Case Meeting Minutes", style="Title")
    for label, text in lines:
        doc.add_paragraph(label + text)
    try:
        got = _parse(_doc_bytes(doc))
    except MailbotError as exc:
        assert "\n" not in str(exc)
    else:
        assert got["case_code"].startswith("CN")
        json.dumps(got)


def test_huge_paragraphs_are_read_quickly():
    import time

    run = " ".join(["Lisnavar Youth Café Family Support"] * 3000)  # ~100k characters, no full stop
    data = _minutes_doc(extra_discussion=[run, "Handover to " + run, "x" * 100_000])
    start = time.perf_counter()
    got = _parse(data)
    assert time.perf_counter() - start < 3.0
    assert got["case_code"] == "CN31"


def test_title_with_a_dash_is_not_the_minutes_taker():
    doc = Document()
    doc.add_paragraph("Minutes – Network Case Meeting CN58B", style="Title")
    doc.add_paragraph("Chair – Nora Quill")
    doc.add_paragraph("Apologies: None")
    doc.add_paragraph("1. Discussion of case", style="Heading 2")
    got = _parse(_doc_bytes(doc))
    assert got["case_code"] == "CN58B"
    assert got["minutes_taker"] is None and got["chair"] == "Nora Quill"


def test_attendance_sheet_with_a_title_row():
    doc = Document()
    doc.add_paragraph("Network Case Meeting Minutes", style="Title")
    doc.add_paragraph("Case Number: CN7")
    doc.add_paragraph("Chair: Nora Quill")
    t = doc.add_table(rows=3, cols=3)
    t.rows[0].cells[0].merge(t.rows[0].cells[2]).text = "Attendance Sheet"
    for cell, text in zip(t.rows[1].cells, ["Name", "Organisation", "Email"]):
        cell.text = text
    for cell, text in zip(t.rows[2].cells, ["Nora Quill", "Lisnavar Youth Café", "nq@cafe.example.ie"]):
        cell.text = text
    got = _parse(_doc_bytes(doc))
    assert got["attendees"] == [{"name": "Nora Quill", "agency": "Lisnavar Youth Café", "phone": None,
                                 "email": "nq@cafe.example.ie"}]


def test_case_number_in_the_page_header():
    doc = Document()
    doc.sections[0].header.paragraphs[0].text = "CN72 \u2013 Network Case Meeting Minutes \u2013 Confidential"
    doc.add_paragraph("Network Case Meeting Minutes", style="Title")
    doc.add_paragraph("Chair: Nora Quill")
    doc.add_paragraph("Apologies: None")
    doc.add_paragraph("1. Discussion of case", style="Heading 2")
    assert _parse(_doc_bytes(doc))["case_code"] == "CN72"
