"""docx_text: the visible text of a Word document, block by block. Names are fictional."""

from __future__ import annotations

import io
import time

import docx
import pytest

from mailbot.documents import text as dt
from mailbot.documents.package import open_package

from conftest import REFERRAL_SAMPLES, SAMPLES

W_NS = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" ' \
       'xmlns:w14="http://schemas.microsoft.com/office/word/2010/wordml" ' \
       'xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006"'


def _base_bytes() -> bytes:
    buf = io.BytesIO()
    d = docx.Document()
    d.sections[0].header.paragraphs[0].text = "Header for Wilbur Quennell"
    d.save(buf)
    return buf.getvalue()


_BASE = _base_bytes()


def pkg_with_body(body: str):
    pkg = open_package(_BASE)
    xml = f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document {W_NS}><w:body>{body}</w:body></w:document>'
    pkg.set_bytes("word/document.xml", xml.encode("utf-8"))
    return pkg


def only_paragraph(body: str) -> dt.Paragraph:
    bl = dt.blocks(pkg_with_body(body))
    assert len(bl) == 1 and isinstance(bl[0], dt.Paragraph)
    return bl[0]


def test_split_runs_with_marks_join_into_one_string():
    p = only_paragraph(
        '<w:p><w:r><w:t xml:space="preserve">Name:</w:t></w:r><w:r><w:tab/></w:r>'
        '<w:proofErr w:type="spellStart"/><w:r><w:rPr><w:b/></w:rPr><w:t>Wil</w:t></w:r>'
        '<w:bookmarkStart w:id="0" w:name="x"/><w:r><w:rPr><w:i/></w:rPr><w:t>bur</w:t></w:r>'
        '<w:bookmarkEnd w:id="0"/><w:proofErr w:type="spellEnd"/><w:r><w:t xml:space="preserve"> Quen</w:t></w:r>'
        '<w:r><w:t>nell</w:t></w:r></w:p>')
    assert p.text == "Name:\tWilbur Quennell"


def test_tab_break_insert_and_delete():
    p = only_paragraph(
        '<w:p><w:pPr><w:tabs><w:tab w:val="left" w:pos="720"/></w:tabs></w:pPr>'
        '<w:r><w:t>a</w:t><w:tab/><w:t>b</w:t><w:br/><w:t>c</w:t></w:r>'
        '<w:ins w:id="1" w:author="x"><w:r><w:t>NEW</w:t></w:r></w:ins>'
        '<w:del w:id="2" w:author="x"><w:r><w:delText>Wilbur</w:delText></w:r></w:del></w:p>')
    assert p.text == "a\tb\ncNEW"


def test_field_instruction_hidden_result_kept():
    p = only_paragraph(
        '<w:p><w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText> DATE \\@ "d MMM" </w:instrText></w:r>'
        '<w:r><w:fldChar w:fldCharType="separate"/></w:r><w:r><w:t>3 Mar</w:t></w:r>'
        '<w:r><w:fldChar w:fldCharType="end"/></w:r></w:p>')
    assert p.text == "3 Mar"


def test_legacy_form_fields_checkbox_text_dropdown():
    body = (
        '<w:p><w:r><w:t xml:space="preserve">Consent: </w:t></w:r>'
        '<w:r><w:fldChar w:fldCharType="begin"><w:ffData><w:name w:val="Check1"/><w:checkBox>'
        '<w:sizeAuto/><w:default w:val="0"/><w:checked/></w:checkBox></w:ffData></w:fldChar></w:r>'
        '<w:r><w:instrText xml:space="preserve"> FORMCHECKBOX </w:instrText></w:r>'
        '<w:r><w:fldChar w:fldCharType="end"/></w:r><w:r><w:t xml:space="preserve"> Yes </w:t></w:r>'
        '<w:r><w:fldChar w:fldCharType="begin"><w:ffData><w:name w:val="Check2"/><w:checkBox>'
        '<w:default w:val="0"/></w:checkBox></w:ffData></w:fldChar></w:r>'
        '<w:r><w:instrText xml:space="preserve"> FORMCHECKBOX </w:instrText></w:r>'
        '<w:r><w:fldChar w:fldCharType="end"/></w:r><w:r><w:t xml:space="preserve"> No</w:t></w:r></w:p>'
        '<w:p><w:r><w:t xml:space="preserve">Name: </w:t></w:r>'
        '<w:r><w:fldChar w:fldCharType="begin"><w:ffData><w:name w:val="Text1"/><w:textInput/></w:ffData></w:fldChar></w:r>'
        '<w:r><w:instrText xml:space="preserve"> FORMTEXT </w:instrText></w:r>'
        '<w:r><w:fldChar w:fldCharType="separate"/></w:r><w:r><w:t>Wilbur </w:t></w:r><w:r><w:t>Quennell</w:t></w:r>'
        '<w:r><w:fldChar w:fldCharType="end"/></w:r></w:p>'
        '<w:p><w:r><w:t xml:space="preserve">Gender: </w:t></w:r>'
        '<w:r><w:fldChar w:fldCharType="begin"><w:ffData><w:name w:val="Drop1"/><w:ddList><w:result w:val="1"/>'
        '<w:listEntry w:val="Female"/><w:listEntry w:val="Male"/></w:ddList></w:ffData></w:fldChar></w:r>'
        '<w:r><w:instrText xml:space="preserve"> FORMDROPDOWN </w:instrText></w:r>'
        '<w:r><w:fldChar w:fldCharType="end"/></w:r></w:p>')
    b = dt.blocks(pkg_with_body(body))
    assert b[0].text == "Consent: \u2612 Yes \u2610 No"
    assert [(f.name, f.kind, f.checked) for f in b[0].fields] == [("Check1", "checkbox", True), ("Check2", "checkbox", False)]
    assert b[1].text == "Name: Wilbur Quennell"
    assert b[1].fields[0].kind == "text" and b[1].fields[0].text == "Wilbur Quennell"
    assert b[2].text == "Gender: Male"


def test_content_controls_text_checkbox_placeholder_and_block():
    body = (
        '<w:p><w:r><w:t xml:space="preserve">Full name: </w:t></w:r><w:sdt><w:sdtPr><w:alias w:val="Young person\'s name"/>'
        '<w:tag w:val="yp_name"/><w:text/></w:sdtPr><w:sdtContent><w:r><w:t>Wilbur</w:t></w:r><w:proofErr w:type="spellStart"/>'
        '<w:r><w:t xml:space="preserve"> Quennell</w:t></w:r></w:sdtContent></w:sdt></w:p>'
        '<w:p><w:r><w:t xml:space="preserve">Yes </w:t></w:r><w:sdt><w:sdtPr><w:tag w:val="c_yes"/><w14:checkbox><w14:checked w14:val="1"/>'
        '</w14:checkbox></w:sdtPr><w:sdtContent><w:r><w:t>\u2610</w:t></w:r></w:sdtContent></w:sdt>'
        '<w:r><w:t xml:space="preserve"> No </w:t></w:r><w:sdt><w:sdtPr><w:tag w:val="c_no"/><w14:checkbox><w14:checked w14:val="0"/>'
        '</w14:checkbox></w:sdtPr><w:sdtContent><w:r><w:t>\u2610</w:t></w:r></w:sdtContent></w:sdt></w:p>'
        '<w:p><w:r><w:t xml:space="preserve">School: </w:t></w:r><w:sdt><w:sdtPr><w:tag w:val="school"/><w:showingPlcHdr/></w:sdtPr>'
        '<w:sdtContent><w:r><w:t>Click or tap here to enter text.</w:t></w:r></w:sdtContent></w:sdt></w:p>'
        '<w:sdt><w:sdtPr><w:alias w:val="Concerns"/><w:tag w:val="concerns"/><w:richText/></w:sdtPr><w:sdtContent>'
        '<w:p><w:r><w:t>First concern</w:t></w:r></w:p><w:p><w:r><w:t>Second concern</w:t></w:r></w:p></w:sdtContent></w:sdt>')
    pkg = pkg_with_body(body)
    b = dt.blocks(pkg)
    assert b[0].text == "Full name: Wilbur Quennell"
    assert (b[0].sdts[0].alias, b[0].sdts[0].tag, b[0].sdts[0].text) == ("Young person's name", "yp_name", "Wilbur Quennell")
    assert b[1].text == "Yes \u2612 No \u2610"  # state, not the stale glyph
    assert [c.checked for c in b[1].sdts] == [True, False]
    assert b[2].text == "School: " and b[2].sdts[0].placeholder
    assert [p.text for p in b[3:]] == ["First concern", "Second concern"]
    assert b[3].container is not None and b[3].container.tag == "concerns"
    ccs = dt.content_controls(pkg)
    assert [c.tag for c in ccs] == ["yp_name", "c_yes", "c_no", "school", "concerns"]
    assert ccs[-1].text == "First concern\nSecond concern"


def test_sym_glyphs_and_lists_and_nested_tables():
    body = (
        '<w:p><w:r><w:sym w:font="Wingdings" w:char="F0FE"/><w:t xml:space="preserve"> Yes </w:t>'
        '<w:sym w:font="Wingdings" w:char="F0A8"/><w:t xml:space="preserve"> No</w:t></w:r></w:p>'
        '<w:p><w:pPr><w:numPr><w:ilvl w:val="0"/><w:numId w:val="3"/></w:numPr></w:pPr><w:r><w:t>bullet</w:t></w:r></w:p>'
        '<w:tbl><w:tr><w:tc><w:p><w:r><w:t>outer</w:t></w:r></w:p></w:tc><w:tc>'
        '<w:tbl><w:tr><w:tc><w:p><w:r><w:t>in1</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>in2</w:t></w:r></w:p></w:tc></w:tr></w:tbl>'
        '<w:p/></w:tc></w:tr></w:tbl>')
    b = dt.blocks(pkg_with_body(body))
    assert b[0].text == "\u2612 Yes \u2610 No" and not b[0].is_list
    assert b[1].is_list and b[1].text == "bullet"
    tbl = b[2]
    assert isinstance(tbl, dt.Table) and tbl.rows[0][0].text == "outer"
    inner = tbl.rows[0][1]
    assert isinstance(inner.blocks[0], dt.Table) and inner.blocks[0].rows[0][1].text == "in2"
    assert [t.rows[0][0].text for t in dt.iter_tables(b)] == ["outer", "in1"]


def test_all_text_includes_header():
    pkg = pkg_with_body('<w:p><w:r><w:t>Body</w:t></w:r></w:p>')
    text = dt.all_text(pkg)
    assert "Body" in text and "Header for Wilbur Quennell" in text
    assert "Header" not in dt.all_text(pkg, include_headers=False)


def test_samples_s06_split_name_and_s01_ticks():
    s06 = open_package(SAMPLES / "S06-split-runs.docx")
    assert "Young person's name\tEvie Rafferty" in [p.text for p in dt.iter_paragraphs(dt.blocks(s06))]
    s01 = dt.blocks(open_package(SAMPLES / "S01-table.docx"))
    rows = [[c.text for c in r] for t in dt.iter_tables(s01) for r in t.rows]
    assert ["Has parental consent been obtained?", "\u2612 Yes  \u2610 No"] in rows


def test_fast_enough():
    pkgs = [open_package(p) for p in REFERRAL_SAMPLES]
    t0 = time.perf_counter()
    for pkg in pkgs:
        pkg._trees.clear()
        dt.blocks(pkg)
    per_form = (time.perf_counter() - t0) / len(pkgs)
    assert per_form < 0.05
