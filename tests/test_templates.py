"""The blank forms in templates/: what they contain, that they are up to date, and that
a filled-in copy reads back. Every name here is fictional."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest
from docx import Document

from conftest import ROOT
from mailbot.documents.minutes import read_minutes

TEMPLATES = ROOT / "templates"
REFERRAL_FORM = TEMPLATES / "referral-form.docx"
MINUTES_TEMPLATE = TEMPLATES / "minutes-template.docx"

YOUNG_PERSON_LABELS = [
    "Name of young person", "Known as / nicknames", "Other surnames known by", "Date of birth (DD/MM/YYYY)",
    "Gender", "Current address", "Former address", "School / college",
]
REFERRER_LABELS = ["Referring agency", "Referrer name", "Email", "Phone", "Date of referral"]
CONSENT_LABELS = ["Parental consent sought", "Parental consent obtained", "Young person informed",
                  "Known to Social Work"]


def _all_text(doc) -> str:
    parts = [p.text for p in doc.paragraphs]
    for t in doc.tables:
        for row in t.rows:
            parts.extend(c.text for c in row.cells)
    return "\n".join(parts)


def _label_rows(doc) -> dict[str, object]:
    """label -> the value cell, for every two-column label/value table."""
    out = {}
    for t in doc.tables:
        if len(t.columns) == 2:
            for row in t.rows:
                out[row.cells[0].text.strip()] = row.cells[1]
    return out


def _table_with_header(doc, first: str, second: str):
    return next(t for t in doc.tables if [c.text for c in t.rows[0].cells][:2] == [first, second])


def test_referral_form_has_every_field():
    doc = Document(str(REFERRAL_FORM))
    labels = _label_rows(doc)
    for label in YOUNG_PERSON_LABELS + REFERRER_LABELS + CONSENT_LABELS:
        assert label in labels, label
    for label in YOUNG_PERSON_LABELS + REFERRER_LABELS:
        assert labels[label].text == "", f"{label} should be blank"
    assert labels["Known to Social Work"].text.count("\u2610") == 3
    assert "Don't know" in labels["Known to Social Work"].text
    parents = _table_with_header(doc, "Name", "Relationship")
    assert [c.text for c in parents.rows[0].cells] == ["Name", "Relationship", "Phone"]
    siblings = _table_with_header(doc, "Name", "Known as")
    assert [c.text for c in siblings.rows[0].cells] == ["Name", "Known as", "Date of Birth", "Gender", "School"]
    assert len(siblings.rows) == 1 + 4
    text = _all_text(doc)
    for heading in ("Network Referral Form", "Guidance notes", "Concerns", "Agencies suggested", "Consent",
                    "Lead Agency", "extremely important"):
        assert heading in text, heading
    cp = doc.core_properties
    assert cp.author == "Network Coordinator" and cp.last_modified_by == "Network Coordinator"
    assert cp.created.year == 2027 and cp.modified == cp.created


def test_minutes_template_follows_the_guide():
    doc = Document(str(MINUTES_TEMPLATE))
    text = _all_text(doc)
    for label in ("Case Number:", "Lead Agency:", "Date:", "Chair:", "Minutes taker:", "In Attendance:",
                  "Apologies:", "1. Discussion of case", "2. Actions decided and who is responsible",
                  "3. Monitor and review", "4. Attendance Sheet", "5. AOB", "Date for the next meeting:"):
        assert label in text, label
    actions = _table_with_header(doc, "Action", "Who is responsible?")
    assert len(actions.rows) > 3
    sheet = _table_with_header(doc, "Name", "Agency")
    assert [c.text for c in sheet.rows[0].cells] == ["Name", "Agency", "Phone No", "Email"]
    assert doc.core_properties.author == "Network Coordinator"


def test_committed_templates_are_what_the_script_makes(tmp_path):
    """Deterministic output; fails if someone edits the script without regenerating."""
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_templates.py"), "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    for name in ("referral-form.docx", "minutes-template.docx"):
        assert (tmp_path / name).read_bytes() == (TEMPLATES / name).read_bytes(), name


def test_blank_minutes_template_is_refused_plainly():
    from mailbot.errors import BadField

    with pytest.raises(BadField, match="Case Number"):
        read_minutes(MINUTES_TEMPLATE)


# -- filled in copies read back ----------------------------------------------------------

def _tick(cell, answer: str) -> None:
    """Tick one answer in a '☐ Yes   ☐ No' cell, keeping the cell's runs."""
    for p in cell.paragraphs:
        for r in p.runs:
            r.text = r.text.replace(f"\u2610 {answer}", f"\u2612 {answer}")


def _fill_referral(siblings: bool = False) -> bytes:
    doc = Document(str(REFERRAL_FORM))
    labels = _label_rows(doc)
    values = {
        "Name of young person": "Tobias Wrenfield",
        "Known as / nicknames": "Toby",
        "Other surnames known by": "Marlow",
        "Date of birth (DD/MM/YYYY)": "14/05/2012",
        "Gender": "Male",
        "Current address": "12 Quarry Lane, Lisnavar",
        "Former address": "3 Mill Court, Lisnavar",
        "School / college": "Lisnavar Community School",
        "Referring agency": "Lisnavar Youth Café",
        "Referrer name": "Nora Quill",
        "Email": "nora.quill@cafe.example.ie",
        "Phone": "01 555 0101",
        "Date of referral": "02/03/2027",
    }
    for label, value in values.items():
        labels[label].text = value
    _tick(labels["Parental consent sought"], "Yes")
    _tick(labels["Parental consent obtained"], "Yes")
    _tick(labels["Young person informed"], "No")
    _tick(labels["Known to Social Work"], "No")
    parents = _table_with_header(doc, "Name", "Relationship")
    for cell, text in zip(parents.rows[1].cells, ["Irene Wrenfield", "mother", "087 555 0142"]):
        cell.text = text
    if siblings:
        sib = _table_with_header(doc, "Name", "Known as")
        for cell, text in zip(sib.rows[1].cells, ["Lottie Wrenfield", "Lot", "02/02/2014", "Female",
                                                  "Lisnavar National School"]):
            cell.text = text
    bullets = [p for p in doc.paragraphs if p.style.name == "List Bullet" and not p.text]
    bullets[0].text = "Missed nine days of school since January"
    bullets[1].text = "Out late with an older group most weekends"
    bullets[5].text = "Lisnavar Family Support Service"
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def _as_json(result) -> dict:
    if hasattr(result, "to_json"):
        return result.to_json()
    if isinstance(result, tuple):  # (package, referral)
        return _as_json(result[-1])
    import dataclasses

    return dataclasses.asdict(result) if dataclasses.is_dataclass(result) else dict(vars(result))


def _parse_referral(data: bytes) -> dict:
    referral = pytest.importorskip("mailbot.documents.referral")
    from mailbot.documents.package import open_package

    return _as_json(referral.parse_referral(open_package(data)))


def test_filled_referral_form_reads_back():
    data = _fill_referral()
    text = _all_text(Document(io.BytesIO(data)))
    assert "Tobias Wrenfield" in text and "\u2612 Yes" in text  # the fill itself worked
    got = _parse_referral(data)
    yp = got["young_people"][0]
    assert len(got["young_people"]) == 1  # empty sibling rows are not children
    assert yp["name"] == "Tobias Wrenfield"
    assert _pick(yp, "date_of_birth", "dob") == "2012-05-14"
    assert "Toby" in yp["known_as"]
    assert "Marlow" in yp["other_surnames"]
    assert yp["gender"] in ("Male", "M", "male")
    assert yp["school"] == "Lisnavar Community School"
    assert yp["address"] == "12 Quarry Lane, Lisnavar"
    assert yp["former_address"] == "3 Mill Court, Lisnavar"
    assert _pick(got, "referring_agency", "lead_agency") == "Lisnavar Youth Café"
    referrer = got.get("referrer") or {}
    assert (referrer.get("email") or got.get("referrer_email")) == "nora.quill@cafe.example.ie"
    assert got["parental_consent"] is True
    assert got["young_person_informed"] is False
    assert got["known_to_social_work"] is False
    assert got["concerns"] == ["Missed nine days of school since January",
                               "Out late with an older group most weekends"]
    assert _pick(got, "suggested_agencies", "agencies_suggested") == ["Lisnavar Family Support Service"]
    assert [f["name"] for f in got["family"]] == ["Irene Wrenfield"]
    assert "Lisnavar Family Support Service" not in json.dumps(got["concerns"])  # sections kept apart


def _pick(d: dict, *keys):
    for k in keys:
        if k in d:
            return d[k]
    raise AssertionError(f"none of {keys} in the parsed referral")


def test_filled_referral_form_with_a_sibling_keeps_the_sibling_protected():
    got = _parse_referral(_fill_referral(siblings=True))
    # the sibling's name is a name mailbot must protect: the parser must have seen it as a person
    people = [p["name"] for p in got["young_people"]] + [f["name"] for f in got["family"]]
    assert "Lottie Wrenfield" in people
    assert got["young_people"][0]["name"] == "Tobias Wrenfield"


def test_blank_referral_form_is_refused_not_coded():
    referral = pytest.importorskip("mailbot.documents.referral")
    from mailbot.errors import MailbotError

    with pytest.raises(MailbotError):
        referral.read_referral(REFERRAL_FORM)


def test_filled_minutes_template_reads_back():
    doc = Document(str(MINUTES_TEMPLATE))
    header = doc.tables[0]
    for cell, value in zip(header.rows[0].cells, ["CN64", "Lisnavar Youth Café", "05/03/2027"]):
        cell.paragraphs[0].add_run(value)
    fills = {
        "Chair:": "Nora Quill",
        "Minutes taker:": "Petra Lusk",
        "In Attendance:": "Nora Quill (Lisnavar Youth Café), Petra Lusk (Lisnavar Youth Café), "
                          "Oscar Brannock (Lisnavar Community School)",
        "Apologies:": "Ruth Carbery (Lisnavar Education Welfare)",
        "Exit agreed:": None,
        "Date for the next meeting:": "19/03/2027 at 10.30am",
    }
    for p in doc.paragraphs:
        for label, value in fills.items():
            if p.text.startswith(label) and value:
                p.add_run(value)
    actions = _table_with_header(doc, "Action", "Who is responsible?")
    for row, (a, who) in zip(actions.rows[1:], [("Meet CN64 weekly", "Nora Quill"),
                                                ("Send the attendance figures", "Oscar Brannock")]):
        row.cells[0].text, row.cells[1].text = a, who
    sheet = _table_with_header(doc, "Name", "Agency")
    people = [("Nora Quill", "Lisnavar Youth Café", "01 555 0101", "nora.quill@cafe.example.ie"),
              ("Petra Lusk", "Lisnavar Youth Café", "", "petra.lusk@cafe.example.ie"),
              ("Oscar Brannock", "Lisnavar Community School", "01 555 0177", "o.brannock@school.example.ie")]
    for row, person in zip(sheet.rows[1:], people):
        for cell, text in zip(row.cells, person):
            cell.text = text
    buf = io.BytesIO()
    doc.save(buf)
    _pkg, minutes = read_minutes(buf.getvalue())
    got = minutes.to_json()
    assert got == {
        "case_code": "CN64",
        "lead_agency": "Lisnavar Youth Café",
        "date": "2027-03-05",
        "chair": "Nora Quill",
        "minutes_taker": "Petra Lusk",
        "attendees": [{"name": n, "agency": a, "phone": p or None, "email": e} for n, a, p, e in people],
        "apologies": ["Ruth Carbery"],
        "actions": [{"action": "Meet CN64 weekly", "responsible": "Nora Quill"},
                    {"action": "Send the attendance figures", "responsible": "Oscar Brannock"}],
        "next_meeting": "2027-03-19T10:30",
        "exit_agreed": False,
        "handover_to": None,
    }


def test_minutes_template_help_text_never_reads_as_an_exit_or_handover():
    """With the Exit/New Lead Agency lines deleted, the template's notes must not trigger either."""
    doc = Document(str(MINUTES_TEMPLATE))
    for cell, value in zip(doc.tables[0].rows[0].cells, ["CN65", "Lisnavar Youth Café", "05/03/2027"]):
        cell.paragraphs[0].add_run(value)
    for p in doc.paragraphs:
        if p.text.startswith(("Exit agreed:", "New Lead Agency")):
            p._p.getparent().remove(p._p)
        elif p.text.startswith("Chair:"):
            p.add_run("Nora Quill")
    buf = io.BytesIO()
    doc.save(buf)
    got = read_minutes(buf.getvalue())[1].to_json()
    assert got["case_code"] == "CN65"
    assert got["exit_agreed"] is False and got["handover_to"] is None
    assert got["actions"] == [] and got["attendees"] == [] and got["next_meeting"] is None
