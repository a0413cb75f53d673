#!/usr/bin/env python3
"""Generate the blank Word forms a network circulates.

    python3 scripts/make_templates.py            # writes templates/*.docx
    python3 scripts/make_templates.py --out DIR  # writes elsewhere (tests)

* templates/referral-form.docx: the blank Network Referral Form.
* templates/minutes-template.docx: the blank Network Case Meeting Minutes,
  following the Guide's minutes template.

The field labels are the wording the referral parser (rules/form_labels.toml)
and the minutes parser (mailbot/documents/minutes/) read, so change them together.
The output is deterministic: fixed core properties, author "Network
Coordinator", no personal data, fixed zip timestamps (re-packed through
mailbot.documents.package), so regenerating gives the same bytes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import sys
from pathlib import Path

from docx import Document
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt, RGBColor

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mailbot.documents.package import open_package, write_atomic  # noqa: E402

AUTHOR = "Network Coordinator"
FIXED_TIME = dt.datetime(2027, 1, 4, 9, 0, 0)
BOX = "\u2610"  # ☐ (a tick box; ☒ when ticked)

# -- the Referral Form --------------------------------------------------------

YOUNG_PERSON_LABELS = [
    "Name of young person",
    "Known as / nicknames",
    "Other surnames known by",
    "Date of birth (DD/MM/YYYY)",
    "Gender",
    "Current address",
    "Former address",
    "School / college",
]
PARENT_HEADERS = ["Name", "Relationship", "Phone"]
PARENT_ROWS = 3
SIBLING_HEADERS = ["Name", "Known as", "Date of Birth", "Gender", "School"]
SIBLING_ROWS = 4
REFERRER_LABELS = ["Referring agency", "Referrer name", "Email", "Phone", "Date of referral"]
CONSENT_ROWS = [
    ("Parental consent sought", f"{BOX} Yes   {BOX} No"),
    ("Parental consent obtained", f"{BOX} Yes   {BOX} No"),
    ("Young person informed", f"{BOX} Yes   {BOX} No"),
    ("Known to Social Work", f"{BOX} Yes   {BOX} No   {BOX} Don't know"),
]
REFERRAL_GUIDANCE = [
    "Fill in as much information as is available to you; check with your colleagues and with any "
    "case files your agency holds, so that the information is as accurate as possible.",
    "Include any nicknames or other surnames the young person is known by.",
    "Give the current address and any former address other agencies may have on their files.",
    "The date of birth is extremely important: write it as DD/MM/YYYY.",
    "Concerns: use short bullet points (for example non-attendance, negative peer group, concerns "
    "regarding mental health). Do not give a full case history; this can be discussed at the first "
    "Network Case Meeting.",
    "Agencies suggested: name the agencies you think could make a useful input for the young person, "
    "their siblings or their family.",
    "Record whether parental consent was sought or obtained and whether the young person was told "
    "about this referral.",
    "Email the completed form to the Network Coordinator as a Word document (.docx). Do not protect "
    "it with a password and do not send it as a PDF or a scan.",
    "Your agency becomes the Lead Agency and calls the first Network Case Meeting within two weeks.",
    "The young person's name is replaced by a case code (for example CN78; siblings CN58A, CN58B) on "
    "all documents except the Master List. Use the code, never the name, in meeting notices and minutes.",
]

# -- the Minutes template -------------------------------------------------------

MINUTES_HEADER = [("Case Number", "Lead Agency", "Date")]
MINUTES_LINES = ["Chair", "Minutes taker", "In Attendance", "Apologies"]
ACTION_HEADERS = ["Action", "Who is responsible?"]
ACTION_ROWS = 5
ATTENDANCE_HEADERS = ["Name", "Agency", "Phone No", "Email"]
ATTENDANCE_ROWS = 8
MINUTES_GUIDANCE = [
    "Use the Case Number (for example CN78), never the young person's name, anywhere in the minutes.",
    "The first meeting is always an assessment meeting. Always set a date for the next meeting "
    "(write TBC only if it truly cannot be set yet).",
    "Exit meeting: tick Yes on the exit line above; the case then leaves the Master List. Handover "
    "meeting: write the agency taking over on the line above; all agencies that attended meetings on "
    "the case must be told.",
    "Email the minutes as a Word document to the attendees, those who sent apologies and the "
    "Network Coordinator.",
]


# -- helpers ---------------------------------------------------------------------

def _base_document(title: str, subject: str) -> Document:
    doc = Document()
    section = doc.sections[0]
    section.page_height, section.page_width = Cm(29.7), Cm(21.0)  # A4
    section.left_margin = section.right_margin = Cm(2.0)
    section.top_margin = section.bottom_margin = Cm(2.0)
    normal = doc.styles["Normal"]
    normal.font.name = "Calibri"
    normal.font.size = Pt(11)
    for name in ("Title", "Heading 2"):
        doc.styles[name].font.color.rgb = RGBColor(0x1F, 0x3A, 0x5F)
    cp = doc.core_properties
    cp.author = AUTHOR
    cp.last_modified_by = AUTHOR
    cp.title = title
    cp.subject = subject
    cp.keywords = ""
    cp.comments = ""
    cp.category = ""
    cp.created = FIXED_TIME
    cp.modified = FIXED_TIME
    cp.last_printed = FIXED_TIME
    cp.revision = 1
    footer = section.footer.paragraphs[0]
    footer.text = f"{title} – use the case code, never the young person's name, outside the Master List."
    footer.runs[0].font.size = Pt(8)
    return doc


def _shade(cell, fill: str = "E7EEF6") -> None:
    tc_pr = cell._tc.get_or_add_tcPr()
    shd = OxmlElement("w:shd")
    shd.set(qn("w:val"), "clear")
    shd.set(qn("w:color"), "auto")
    shd.set(qn("w:fill"), fill)
    tc_pr.append(shd)


def _bold_cell(cell, text: str) -> None:
    cell.text = ""
    run = cell.paragraphs[0].add_run(text)
    run.bold = True
    _shade(cell)


def _label_table(doc, labels, width_label=Cm(6.0), width_value=Cm(11.0)):
    """Two columns: label (shaded, bold) | empty value cell to type into."""
    table = doc.add_table(rows=len(labels), cols=2)
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    for row, label in zip(table.rows, labels):
        label_text, value = (label if isinstance(label, tuple) else (label, ""))
        _bold_cell(row.cells[0], label_text)
        row.cells[1].text = value
        row.cells[0].width, row.cells[1].width = width_label, width_value
    return table


def _grid_table(doc, headers, rows, filler=None):
    table = doc.add_table(rows=rows + 1, cols=len(headers))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    for cell, header in zip(table.rows[0].cells, headers):
        _bold_cell(cell, header)
    # repeat the header row on each page
    tr_pr = table.rows[0]._tr.get_or_add_trPr()
    tbl_header = OxmlElement("w:tblHeader")
    tr_pr.append(tbl_header)
    if filler:
        for row in table.rows[1:]:
            for i, text in filler.items():
                row.cells[i].text = text
    return table


def _note(doc, text: str) -> None:
    p = doc.add_paragraph()
    run = p.add_run(text)
    run.italic = True
    run.font.size = Pt(9)


def _deterministic_bytes(doc: Document) -> bytes:
    buf = io.BytesIO()
    doc.save(buf)
    pkg = open_package(buf.getvalue())
    # python-docx's default template carries a thumbnail of an empty page: drop it.
    thumb = "docProps/thumbnail.jpeg"
    if thumb in pkg.parts:
        pkg.drop(thumb)
        rels = pkg.parts["_rels/.rels"].decode("utf-8")
        from lxml import etree

        root = etree.fromstring(rels.encode("utf-8"))
        for rel in list(root):
            if rel.get("Target", "").endswith("thumbnail.jpeg"):
                root.remove(rel)
        pkg.set_bytes("_rels/.rels", etree.tostring(root, xml_declaration=True, encoding="UTF-8",
                                                    standalone=True))
    return pkg.to_bytes()  # fixed zip timestamps


# -- the two forms -----------------------------------------------------------------

def build_referral_form() -> bytes:
    doc = _base_document("Network Referral Form", "Network referral")
    doc.add_paragraph("Network Referral Form", style="Title")
    doc.add_paragraph(
        "Please complete every section you can and email this form, as a Word document, to the "
        "Network Coordinator. Type in the empty boxes; tick a box by replacing \u2610 with \u2612."
    )

    doc.add_paragraph("Guidance notes", style="Heading 2")
    for line in REFERRAL_GUIDANCE:
        doc.add_paragraph(line, style="List Bullet")

    doc.add_paragraph("1. Young person", style="Heading 2")
    _label_table(doc, YOUNG_PERSON_LABELS)

    doc.add_paragraph("2. Parents / carers", style="Heading 2")
    _grid_table(doc, PARENT_HEADERS, PARENT_ROWS)

    doc.add_paragraph("3. Siblings", style="Heading 2")
    _note(doc, "Up to four brothers or sisters, one row each. Siblings referred together each get "
               "their own case code (CN58A, CN58B).")
    _grid_table(doc, SIBLING_HEADERS, SIBLING_ROWS)

    doc.add_paragraph("4. Referring agency", style="Heading 2")
    _note(doc, "Your agency becomes the Lead Agency for this case.")
    _label_table(doc, REFERRER_LABELS)

    doc.add_paragraph("5. Concerns", style="Heading 2")
    _note(doc, "Short bullet points only (for example non-attendance, negative peer group, concerns "
               "regarding mental health). This is not a case history.")
    for _ in range(5):
        doc.add_paragraph("", style="List Bullet")

    doc.add_paragraph("6. Agencies suggested", style="Heading 2")
    _note(doc, "Agencies that could make a useful input for the young person, siblings or family.")
    for _ in range(3):
        doc.add_paragraph("", style="List Bullet")

    doc.add_paragraph("7. Consent", style="Heading 2")
    _label_table(doc, CONSENT_ROWS)
    _note(doc, "If the young person is known to Social Work, the Coded Referral is also sent to Social Work.")
    return _deterministic_bytes(doc)


def build_minutes_template() -> bytes:
    doc = _base_document("Network Case Meeting Minutes", "Network Case Meeting")
    doc.add_paragraph("Network Case Meeting Minutes", style="Title")
    # Header in a table: "Case Number:" | "Lead Agency:" | "Date:" (type after the colon)
    header = doc.add_table(rows=1, cols=3)
    header.style = "Table Grid"
    for cell, label in zip(header.rows[0].cells, MINUTES_HEADER[0]):
        cell.text = ""
        run = cell.paragraphs[0].add_run(f"{label}: ")
        run.bold = True
    doc.add_paragraph("")
    for label in MINUTES_LINES:
        p = doc.add_paragraph()
        p.add_run(f"{label}: ").bold = True

    doc.add_paragraph("1. Discussion of case", style="Heading 2")
    doc.add_paragraph("")
    doc.add_paragraph("")

    doc.add_paragraph("2. Actions decided and who is responsible", style="Heading 2")
    _grid_table(doc, ACTION_HEADERS, ACTION_ROWS)

    doc.add_paragraph("3. Monitor and review", style="Heading 2")
    doc.add_paragraph("")

    doc.add_paragraph("4. Attendance Sheet", style="Heading 2")
    _grid_table(doc, ATTENDANCE_HEADERS, ATTENDANCE_ROWS)

    doc.add_paragraph("5. AOB", style="Heading 2")
    doc.add_paragraph("", style="List Bullet")
    doc.add_paragraph("", style="List Bullet")

    p = doc.add_paragraph()
    p.add_run("Exit agreed: ").bold = True
    p.add_run(f"{BOX} Yes   {BOX} No")
    p = doc.add_paragraph()
    p.add_run("New Lead Agency (handover only): ").bold = True
    p = doc.add_paragraph()
    p.add_run("Date for the next meeting: ").bold = True

    doc.add_paragraph("Notes for the Lead Agency", style="Heading 2")
    for line in MINUTES_GUIDANCE:
        _note(doc, line)
    return _deterministic_bytes(doc)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "templates"), help="output folder (default: templates/)")
    args = ap.parse_args(argv)
    out = Path(args.out)
    write_atomic(out / "referral-form.docx", build_referral_form())
    write_atomic(out / "minutes-template.docx", build_minutes_template())
    print(f"wrote {out / 'referral-form.docx'} and {out / 'minutes-template.docx'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
