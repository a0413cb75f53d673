"""Content that cannot be verified is removed from coded documents (issue 10 item 11).

altChunks (HTML, MHT, RTF, a nested .docx), OLE objects, external relationships
(linked pictures, hyperlinks to file shares, a remote template, linked objects,
sub-documents, frames) and text inside pictures (PNG text chunks, JPEG COM/APPn,
the thumbnail) are gone from the bytes written, the rest of the document still
opens with python-docx, and the verifier refuses a document that still has any.
Every fixture is built here (python-docx + lxml) with fictional names.
"""

from __future__ import annotations

import io
import json
import re
import struct
import zipfile
import zlib
from pathlib import Path

import docx
import pytest
from lxml import etree

from leakcheck import find_leaks, joined_forms
from mailbot.casework.code_file import code_referral_file
from mailbot.documents.coding import code_document
from mailbot.documents.package import open_package
from mailbot.errors import LeakDetected
from mailbot.documents.images import (gif_strip_text, gif_text_blocks, jpeg_strip_text, jpeg_text_segments,
                                      png_strip_text, png_text_chunks)
from mailbot.documents.sanitise import sanitise, sanitised_bytes
from mailbot.documents.unverifiable import assert_no_unverifiable
from people import relatives, young

SAMPLES = Path(__file__).parent / "fixtures" / "samples"
P10 = SAMPLES / "P10-altchunk-external.docx"

CHILDREN = [{"name": "Tamsin Oakhollow", "first": "Tamsin", "surname": "Oakhollow",
             "dob": "2013-04-02"}]
FAMILY = [{"name": "Perpetua Oakhollow", "relationship": "mother"},
          {"name": "Lorcan Brightwater", "relationship": "stepfather"}]
TOKENS = ["Tamsin", "Oakhollow", "Perpetua", "Lorcan", "Brightwater"]
JOINED = ["tamsinoakhollow", "toakhollow"]

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PR = "http://schemas.openxmlformats.org/package/2006/relationships"
CT = "http://schemas.openxmlformats.org/package/2006/content-types"
RT = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"
NSDECL = (f'xmlns:w="{W}" xmlns:r="{R}" xmlns:v="urn:schemas-microsoft-com:vml" '
          'xmlns:o="urn:schemas-microsoft-com:office:office" '
          'xmlns:wp="http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing" '
          'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" '
          'xmlns:pic="http://schemas.openxmlformats.org/drawingml/2006/picture"')


# -- building fixtures -------------------------------------------------------------

def png(width=2, height=2, chunks: list[tuple[bytes, bytes]] = ()) -> bytes:
    """A real RGB PNG with extra chunks after IHDR."""
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + bytes([200, 30, 30]) * width for _ in range(height))
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    for t, d in chunks:
        out += chunk(t, d)
    return out + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def jpeg_with_text() -> bytes:
    """A real JPEG (the P10 thumbnail) with a comment, EXIF and XMP naming a person."""
    base = zipfile.ZipFile(P10).read("docProps/thumbnail.jpeg")
    com = "Photo of Tamsin Oakhollow".encode()
    artist = b"Perpetua Oakhollow\x00"  # a real TIFF IFD with one Artist (0x013B) tag
    exif = (b"Exif\x00\x00" + b"MM\x00*\x00\x00\x00\x08" + struct.pack(">H", 1)
            + struct.pack(">HHII", 0x013B, 2, len(artist), 26) + b"\x00\x00\x00\x00" + artist)
    xmp = b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta><dc:creator>Lorcan Brightwater</dc:creator></x:xmpmeta>"
    segs = b"".join(b"\xff" + bytes([m]) + struct.pack(">H", len(p) + 2) + p
                    for m, p in ((0xFE, com), (0xE1, exif), (0xE1, xmp)))
    # after SOI + APP0 JFIF (18 bytes), before the rest
    return base[:20] + segs + base[20:] + b"trailing: tamsinoakhollow"


def gif_with_text() -> bytes:
    """A real 1x1 GIF with a comment and an XMP application block naming a person."""
    g = b"GIF89a" + struct.pack("<HHBBB", 1, 1, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    g += b"\x21\xfe" + bytes([16]) + b"Tamsin Oakhollow" + b"\x00"
    g += b"\x21\xff\x0bXMP DataXMP" + bytes([18]) + b"Lorcan Brightwater" + b"\x00"
    g += b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    g += b"\x21\xf9\x04\x00\x00\x00\x00\x00"
    g += b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00" + b"\x3b"
    return g


def base_form(extra_paragraphs=()) -> docx.Document:
    d = docx.Document()
    d.add_paragraph("Referral Form")
    d.add_paragraph("Young person: Tamsin Oakhollow")
    d.add_paragraph("Mother: Perpetua Oakhollow; stepfather Lorcan Brightwater")
    for text in extra_paragraphs:
        d.add_paragraph(text)
    return d


def save(d: docx.Document) -> bytes:
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def patch(data: bytes, *, body: str = "", rels: dict[str, list[tuple]] | None = None,
          parts: dict[str, bytes] | None = None, overrides: dict[str, str] | None = None,
          defaults: dict[str, str] | None = None, append: dict[str, str] | None = None) -> bytes:
    """Add XML, relationships, parts and content types to a .docx.

    ``body``: WordprocessingML appended to the body (before sectPr); ``append``: part -> XML
    appended to that part's root; ``rels``: part -> [(Id, type, target, external?)].
    """
    zin = zipfile.ZipFile(io.BytesIO(data))
    out = {n: zin.read(n) for n in zin.namelist()}
    if body:
        append = dict(append or {})
        append["word/document.xml#body"] = body
    for key, frag in (append or {}).items():
        name, _, where = key.partition("#")
        root = etree.fromstring(out[name])
        target = root.find(f"{{{W}}}body") if where == "body" else root
        nodes = etree.fromstring(f"<x {NSDECL}>{frag}</x>")
        sect = target.find(f"{{{W}}}sectPr")
        for node in list(nodes):
            if sect is not None:
                sect.addprevious(node)
            else:
                target.append(node)
        out[name] = etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)
    for part, entries in (rels or {}).items():
        folder, base = part.rsplit("/", 1) if "/" in part else ("", part)
        rname = f"{folder}/_rels/{base}.rels" if folder else f"_rels/{base}.rels"
        root = etree.fromstring(out[rname]) if rname in out else etree.Element(f"{{{PR}}}Relationships",
                                                                                  nsmap={None: PR})
        for rid, rtype, target, external in entries:
            el = etree.SubElement(root, f"{{{PR}}}Relationship", Id=rid,
                                  Type=rtype if "/" in rtype else RT + rtype, Target=target)
            if external:
                el.set("TargetMode", "External")
        out[rname] = etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)
    out.update(parts or {})
    ct = etree.fromstring(out["[Content_Types].xml"])
    for ext, ctype in (defaults or {}).items():
        if not any(e.get("Extension") == ext for e in ct):
            ct.insert(0, etree.Element(f"{{{CT}}}Default", Extension=ext, ContentType=ctype))
    for part, ctype in (overrides or {}).items():
        etree.SubElement(ct, f"{{{CT}}}Override", PartName="/" + part, ContentType=ctype)
    out["[Content_Types].xml"] = etree.tostring(ct, xml_declaration=True, encoding="UTF-8", standalone=True)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for n, b in out.items():
            zf.writestr(n, b)
    return buf.getvalue()


def code(data: bytes, stats: dict | None = None) -> bytes:
    return code_document(open_package(data), young(CHILDREN), relatives(FAMILY), ["CN90"], stats=stats)


# -- checking outputs ----------------------------------------------------------------

def parts_of(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def assert_clean(data: bytes) -> dict[str, bytes]:
    """No external relationship, altChunk, object, embedding, thumbnail or picture text;
    every r:id resolves, every internal target and content-type override exists;
    no name in any form; python-docx opens it."""
    parts = parts_of(data)
    assert find_leaks(data, TOKENS, joined=JOINED) == []
    ct = etree.fromstring(parts["[Content_Types].xml"])
    for el in ct:
        if el.get("PartName"):
            assert el.get("PartName").lstrip("/") in parts, el.get("PartName")
    for name, raw in parts.items():
        low = name.lower()
        assert "embeddings/" not in low and "activex" not in low and not low.endswith(".bin"), name
        assert not low.startswith("docprops/thumbnail"), name
        if raw.startswith(b"\x89PNG"):
            assert png_text_chunks(raw) == [], name
        if raw.startswith(b"\xff\xd8"):
            assert jpeg_text_segments(raw) == [], name
        if not name.endswith(".rels"):
            continue
        src_folder = name.rsplit("_rels/", 1)[0]
        src = src_folder + name.rsplit("/", 1)[1][:-5]
        ids = set()
        for rel in etree.fromstring(raw):
            assert rel.get("TargetMode") != "External", (name, rel.get("Type"))
            assert "afchunk" not in rel.get("Type").lower()
            assert not re.match(r"^[a-z]+:", rel.get("Target"), re.I), rel.get("Target")
            target = rel.get("Target")
            path = target.lstrip("/") if target.startswith("/") else _norm(src_folder + target)
            assert path in parts, (name, target)
            ids.add(rel.get("Id"))
        if src in parts:
            root = etree.fromstring(parts[src])
            for el in root.iter():
                for attr, value in el.attrib.items():
                    if attr.startswith(f"{{{R}}}"):
                        assert value in ids, (src, attr, value)
    for name, raw in parts.items():
        if name.endswith(".xml"):
            text = raw.decode("utf-8")
            assert "altChunk" not in text and "<w:object" not in text and "OLEObject" not in text, name
            assert "subDoc" not in text and "attachedTemplate" not in text, name
    docx.Document(io.BytesIO(data))  # still opens
    assert_no_unverifiable(data)
    return parts


def _norm(path: str) -> str:
    out: list[str] = []
    for seg in path.split("/"):
        if seg == "..":
            out.pop()
        elif seg and seg != ".":
            out.append(seg)
    return "/".join(out)


def body_text(data: bytes) -> str:
    return "\n".join(p.text for p in docx.Document(io.BytesIO(data)).paragraphs)


# -- P10 ----------------------------------------------------------------------------

def test_p10_codes_without_its_altchunk_or_external_targets(tmp_path):
    truth = json.loads(P10.with_suffix("").with_suffix(".truth.json").read_text())
    out = tmp_path / "CN78.docx"
    code_referral_file(P10, "CN78", out)
    data = out.read_bytes()
    parts = parts_of(data)
    blob = b"".join(parts.values())
    for target in truth["expected"]["external_targets"]:
        assert target.encode() not in blob
        assert target.split("/")[2].encode() not in blob  # not even the host
    assert b"altChunk" not in blob and b"aFChunk" not in blob and b'TargetMode="External"' not in blob
    assert "word/afchunk1.htm" not in parts
    # nothing of the imported behaviour log, names included
    assert b"Behaviour log extract" not in blob and b"library" not in blob
    assert find_leaks(data, truth["protected_tokens"], joined=joined_forms(truth["young_people"])) == []
    for sentinel in truth["sentinels"]:
        assert sentinel in body_text(data) or sentinel.encode() in blob
    assert_no_unverifiable(data)
    docx.Document(io.BytesIO(data))


def test_p10_reports_what_was_removed_without_names():
    truth = json.loads(P10.with_suffix("").with_suffix(".truth.json").read_text())
    stats: dict = {}
    code_document(open_package(P10), young(truth["young_people"]), relatives(truth["family"]), ["CN78"], stats=stats)
    removed = stats["removed"]
    text = " ".join(removed).lower()
    assert "html" in text and "template" in text and "picture" in text
    for token in truth["protected_tokens"]:
        assert token.lower() not in text
    assert "example.org" not in text and "afchunk" not in text


def test_p10_opens_even_when_its_html_declares_a_doctype():
    """A real pasted HTML part starts with <!DOCTYPE html>: opened, then removed (XML parts still refused)."""
    src = parts_of(P10.read_bytes())
    src["word/afchunk1.htm"] = b"<!DOCTYPE html>\n" + src["word/afchunk1.htm"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for n, b in src.items():
            zf.writestr(n, b)
    truth = json.loads(P10.with_suffix("").with_suffix(".truth.json").read_text())
    data = code_document(open_package(buf.getvalue()), young(truth["young_people"]), relatives(truth["family"]), ["CN78"])
    assert "word/afchunk1.htm" not in parts_of(data)
    # the protection stays for XML parts
    src["word/settings.xml"] = src["word/settings.xml"].replace(b"?>", b'?><!DOCTYPE x [<!ENTITY e "y">]>', 1)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for n, b in src.items():
            zf.writestr(n, b)
    from mailbot.errors import BadDocument
    with pytest.raises(BadDocument) as exc:
        open_package(buf.getvalue())
    assert exc.value.reason == "xml-entity"


# -- altChunks of each kind -------------------------------------------------------------

MHT = ("MIME-Version: 1.0\r\nContent-Type: multipart/related; boundary=\"b1\"\r\n\r\n--b1\r\n"
       "Content-Type: text/html; charset=\"utf-8\"\r\n\r\n<html><body><p>Tamsin Oakhollow at home</p>"
       "</body></html>\r\n--b1--\r\n").encode()
RTF = rb"{\rtf1\ansi\deff0 {\fonttbl {\f0 Calibri;}}\f0 Visit to Perpetua Oakhollow\par}"
HTML = (b"<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Transitional//EN\">\n<html><head>"
        b"<meta charset='utf-8'></head><body><p>Lorcan Brightwater called</p></body></html>")


def nested_docx() -> bytes:
    d = docx.Document()
    d.add_paragraph("Pasted from the school file: Tamsin Oakhollow, Year 7")
    return save(d)


@pytest.mark.parametrize("ext,ctype,content", [
    ("html", "text/html", HTML),
    ("mht", "message/rfc822", MHT),
    ("rtf", "application/rtf", RTF),
    ("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", None),
])
def test_altchunk_of_each_kind_is_removed(ext, ctype, content):
    content = content if content is not None else nested_docx()
    part = f"word/import-{ext}.{ext}"
    data = patch(save(base_form(["Before the import", "After the import"])),
                 body='<w:altChunk r:id="rIdAC1"/>'
                      '<w:tbl><w:tblPr/><w:tblGrid><w:gridCol w:w="2000"/></w:tblGrid><w:tr><w:tc>'
                      '<w:tcPr><w:tcW w:w="2000" w:type="dxa"/></w:tcPr><w:altChunk r:id="rIdAC2"/></w:tc></w:tr>'
                      '</w:tbl><w:p/>',
                 rels={"word/document.xml": [("rIdAC1", "aFChunk", f"import-{ext}.{ext}", False),
                                             ("rIdAC2", "aFChunk", f"import2.{ext}", False)]},
                 parts={part: content, f"word/import2.{ext}": content},
                 overrides={part: ctype, f"word/import2.{ext}": ctype})
    stats: dict = {}
    out = code(data, stats)
    parts = assert_clean(out)
    assert part not in parts and f"word/import2.{ext}" not in parts
    assert {"html": "HTML", "mht": "MHT", "rtf": "RTF", "docx": "Word"}[ext] in " ".join(stats["removed"])
    text = body_text(out)
    assert "Before the import" in text and "After the import" in text and "CN90" in text
    # the table cell that held only the altChunk still has a paragraph
    tc = etree.fromstring(parts["word/document.xml"]).find(f".//{{{W}}}tc")
    assert tc.find(f"{{{W}}}p") is not None


# -- OLE objects -----------------------------------------------------------------------

OLE_BIN = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + "Tamsin Oakhollow".encode("utf-16-le") + b"\x00" * 64


def ole_object(img_rid: str, ole_rid: str, kind: str = "Embed", prog: str = "Word.Document.12") -> str:
    return ('<w:p><w:r><w:t xml:space="preserve">See object: </w:t></w:r><w:r><w:object w:dxaOrig="1440" '
            'w:dyaOrig="1440"><v:shape id="_x0000_i1025" type="#_x0000_t75" style="width:72pt;height:72pt">'
            f'<v:imagedata r:id="{img_rid}" o:title=""/></v:shape>'
            f'<o:OLEObject Type="{kind}" ProgID="{prog}" ShapeID="_x0000_i1025" DrawAspect="Icon" '
            f'ObjectID="_1234567890" r:id="{ole_rid}"/></w:object></w:r>'
            '<w:r><w:t xml:space="preserve"> (end)</w:t></w:r></w:p>')


def test_embedded_and_linked_ole_objects_are_removed():
    body = (ole_object("rIdP1", "rIdO1") +
            ole_object("rIdP2", "rIdO2", prog="Excel.Sheet.12") +
            ole_object("rIdP3", "rIdO3", kind="Link", prog="Excel.Sheet.12"))
    data = patch(save(base_form()), body=body,
                 rels={"word/document.xml": [
                     ("rIdP1", "image", "media/ole-preview1.png", False),
                     ("rIdO1", "oleObject", "embeddings/oleObject1.bin", False),
                     ("rIdP2", "image", "media/ole-preview2.png", False),
                     ("rIdO2", "package", "embeddings/Microsoft_Excel_Worksheet.xlsx", False),
                     ("rIdP3", "image", "media/ole-preview3.png", False),
                     ("rIdO3", "oleObject", "file://fileserver/cases/Tamsin%20Oakhollow.xlsx", True)]},
                 parts={"word/media/ole-preview1.png": png(chunks=[(b"tEXt", b"Title\x00Tamsin Oakhollow")]),
                        "word/media/ole-preview2.png": png(),
                        "word/media/ole-preview3.png": png(),
                        "word/embeddings/oleObject1.bin": OLE_BIN,
                        "word/embeddings/Microsoft_Excel_Worksheet.xlsx": nested_docx()},
                 defaults={"bin": "application/vnd.openxmlformats-officedocument.oleObject", "png": "image/png"},
                 overrides={"word/embeddings/Microsoft_Excel_Worksheet.xlsx":
                            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"})
    stats: dict = {}
    out = code(data, stats)
    parts = assert_clean(out)
    assert not any("embeddings" in n or "ole-preview" in n for n in parts)
    assert "object" in " ".join(stats["removed"])
    text = body_text(out)
    assert text.count("See object:") == 3 and text.count("(end)") == 3


def test_activex_control_is_removed():
    body = ('<w:p><w:r><w:object><w:control r:id="rIdX1" w:name="TextBox1" w:shapeid="_x0000_i1026"/>'
            '</w:object></w:r></w:p>')
    data = patch(save(base_form()), body=body,
                 rels={"word/document.xml": [("rIdX1", "control", "activeX/activeX1.xml", False)],
                       "word/activeX/activeX1.xml": [
                           ("rId1", "http://schemas.microsoft.com/office/2006/relationships/activeXControlBinary",
                            "activeX1.bin", False)]},
                 parts={"word/activeX/activeX1.xml":
                        b'<?xml version="1.0" encoding="UTF-8"?><ax:ocx '
                        b'xmlns:ax="http://schemas.microsoft.com/office/2006/activeX" ax:classid="{8BD21D10}" '
                        b'ax:persistence="persistStreamInit" xmlns:r="' + R.encode() + b'" r:id="rId1"/>',
                        "word/activeX/activeX1.bin": OLE_BIN},
                 overrides={"word/activeX/activeX1.xml": "application/vnd.ms-office.activeX+xml"},
                 defaults={"bin": "application/vnd.ms-office.activeX"})
    parts = assert_clean(code(data))
    assert not any("activeX" in n for n in parts)


# -- external relationships ----------------------------------------------------------------

def test_linked_image_is_removed_and_a_linked_copy_of_an_embedded_one_loses_its_link():
    d = base_form()
    d.add_picture(io.BytesIO(png()))
    data = save(d)
    linked_only = ('<w:p><w:r><w:drawing><wp:inline><wp:extent cx="914400" cy="914400"/>'
                   '<wp:docPr id="77" name="Picture 77" descr="photo"/><a:graphic><a:graphicData '
                   'uri="http://schemas.openxmlformats.org/drawingml/2006/picture"><pic:pic><pic:nvPicPr>'
                   '<pic:cNvPr id="0" name="photo.jpg"/><pic:cNvPicPr/></pic:nvPicPr><pic:blipFill>'
                   '<a:blip r:link="rIdL1"/><a:stretch><a:fillRect/></a:stretch></pic:blipFill><pic:spPr/>'
                   '</pic:pic></a:graphicData></a:graphic></wp:inline></w:drawing></w:r>'
                   '<w:r><w:t>Caption kept</w:t></w:r></w:p>')
    # give the embedded picture a link as well (Word's "insert and link")
    root = etree.fromstring(parts_of(data)["word/document.xml"])
    blip = root.find(".//{http://schemas.openxmlformats.org/drawingml/2006/main}blip")
    embed_id = blip.get(f"{{{R}}}embed")
    blip.set(f"{{{R}}}link", "rIdL2")
    src = parts_of(data)
    src["word/document.xml"] = etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for n, b in src.items():
            zf.writestr(n, b)
    data = patch(buf.getvalue(), body=linked_only,
                 rels={"word/document.xml": [
                     ("rIdL1", "image", "https://photos.school.example.org/tamsin-oakhollow.jpg", True),
                     ("rIdL2", "image", "file:///\\\\fileserver\\photos\\toakhollow.jpg", True)]})
    stats: dict = {}
    out = code(data, stats)
    parts = assert_clean(out)
    doc = etree.fromstring(parts["word/document.xml"])
    blips = doc.findall(".//{http://schemas.openxmlformats.org/drawingml/2006/main}blip")
    assert len(blips) == 1 and blips[0].get(f"{{{R}}}embed") == embed_id  # the embedded picture stays
    assert "Caption kept" in body_text(out)
    assert "picture" in " ".join(stats["removed"])


def test_hyperlinks_to_file_shares_and_urls_keep_their_text_and_lose_the_link():
    d = base_form()
    d.sections[0].header.paragraphs[0].text = "Network referral"
    data = save(d)
    link = ('<w:p><w:r><w:t xml:space="preserve">Report: </w:t></w:r><w:hyperlink r:id="{rid}" w:history="1">'
            '<w:r><w:rPr><w:rStyle w:val="Hyperlink"/></w:rPr><w:t>{text}</w:t></w:r></w:hyperlink>'
            '<w:r><w:t xml:space="preserve"> (shared drive)</w:t></w:r></w:p>')
    internal = ('<w:p><w:hyperlink w:anchor="sectionB"><w:r><w:t>see section B</w:t></w:r></w:hyperlink></w:p>')
    data = patch(data,
                 body=link.format(rid="rIdH1", text="the school report") +
                 link.format(rid="rIdH2", text="the GP letter") + internal,
                 append={"word/header1.xml": link.format(rid="rIdH3", text="case folder")},
                 rels={"word/document.xml": [
                     ("rIdH1", "hyperlink", "file://server/share/Tamsin%20Oakhollow/report.docx", True),
                     ("rIdH2", "hyperlink", "https://portal.example.org/cases?child=tamsinoakhollow", True)],
                     "word/header1.xml": [
                     ("rIdH3", "hyperlink", "\\\\server\\share\\Oakhollow", True)]})
    stats: dict = {}
    out = code(data, stats)
    parts = assert_clean(out)
    text = body_text(out)
    for kept in ("the school report", "the GP letter", "see section B", " (shared drive)"):
        assert kept in text
    assert b"case folder" in parts["word/header1.xml"]
    doc = etree.fromstring(parts["word/document.xml"])
    links = doc.findall(f".//{{{W}}}hyperlink")
    assert [h.get(f"{{{W}}}anchor") for h in links] == ["sectionB"]  # the internal link stays
    assert b"server" not in b"".join(parts.values()) and b"portal.example.org" not in b"".join(parts.values())
    assert any("link" in r for r in stats["removed"])


def test_remote_attached_template_is_removed():
    data = patch(save(base_form()),
                 append={"word/settings.xml": '<w:attachedTemplate r:id="rIdT1"/>'},
                 rels={"word/settings.xml": [
                     ("rIdT1", "attachedTemplate", "https://templates.example.org/oakhollow-referral.dotm", True)]})
    stats: dict = {}
    parts = assert_clean(code(data, stats))
    assert b"templates.example.org" not in b"".join(parts.values())
    assert any("template" in r for r in stats["removed"])


def test_subdocument_and_frame_are_removed():
    data = patch(save(base_form(["Master document"])),
                 body='<w:p><w:subDoc r:id="rIdS1"/></w:p><w:p><w:subDoc r:id="rIdS2"/></w:p>',
                 append={"word/webSettings.xml": '<w:frameset><w:frame><w:name w:val="left"/>'
                                                 '<w:sourceFileName r:id="rIdF1"/></w:frame></w:frameset>'},
                 rels={"word/document.xml": [
                     ("rIdS1", "subDocument", "file://server/share/oakhollow-history.docx", True),
                     ("rIdS2", "subDocument", "sub/part2.docx", False)],
                     "word/webSettings.xml": [
                     ("rIdF1", "frame", "file://server/share/Perpetua.htm", True)]},
                 parts={"word/sub/part2.docx": nested_docx()},
                 defaults={"docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document"})
    stats: dict = {}
    parts = assert_clean(code(data, stats))
    assert "word/sub/part2.docx" not in parts
    assert b"frame" not in parts["word/webSettings.xml"].replace(b"Frame", b"")
    assert "Master document" in body_text(code(data))
    assert any("sub-document" in r for r in stats["removed"])


def test_package_level_external_relationship_and_link_list_in_properties_are_removed():
    d = base_form()
    data = save(d)
    app = parts_of(data)["docProps/app.xml"].replace(
        b"</Properties>",
        b"<HyperlinkBase>file://server/share/Oakhollow/</HyperlinkBase>"
        b"<HLinks><vt:vector size=\"1\" baseType=\"variant\"><vt:variant><vt:lpwstr>"
        b"file://server/share/tamsinoakhollow.docx</vt:lpwstr></vt:variant></vt:vector></HLinks></Properties>")
    if b"xmlns:vt" not in app:
        app = app.replace(b"<Properties ", b'<Properties xmlns:vt="http://schemas.openxmlformats.org/'
                                           b'officeDocument/2006/docPropsVTypes" ', 1)
    data = patch(data, parts={"docProps/app.xml": app},
                 rels={".rels": [("rIdE1", "hyperlink", "https://tracker.example.org/p.gif", True)]})
    parts = assert_clean(code(data))
    assert b"HLinks" not in parts["docProps/app.xml"] and b"server" not in parts["docProps/app.xml"]


# -- text inside pictures ------------------------------------------------------------------

def test_png_text_chunks_are_stripped_and_pixels_kept():
    named = png(chunks=[(b"tEXt", b"Author\x00Tamsin Oakhollow"),
                        (b"zTXt", b"Comment\x00\x00" + zlib.compress(b"Perpetua Oakhollow")),
                        (b"iTXt", b"Description\x00\x00\x00en\x00\x00Lorcan Brightwater"),
                        (b"eXIf", b"MM\x00*Tamsin"), (b"pHYs", struct.pack(">IIB", 2835, 2835, 1))])
    d = base_form()
    d.add_picture(io.BytesIO(named))
    stats: dict = {}
    out = code(save(d), stats)
    parts = assert_clean(out)
    pngs = [b for n, b in parts.items() if b.startswith(b"\x89PNG")]
    assert len(pngs) == 1
    assert pngs[0] == png(chunks=[(b"pHYs", struct.pack(">IIB", 2835, 2835, 1))])  # pixels and density kept
    assert any("picture" in r for r in stats["removed"])
    assert len(docx.Document(io.BytesIO(out)).inline_shapes) == 1


def test_jpeg_comment_exif_xmp_are_stripped_and_scan_kept():
    named = jpeg_with_text()
    assert set(jpeg_text_segments(named)) >= {"COM", "APP1", "APP2", "trailing data"}
    d = base_form()
    d.add_picture(io.BytesIO(named))
    out = code(save(d))
    parts = assert_clean(out)
    jpegs = [b for n, b in parts.items() if b.startswith(b"\xff\xd8")]
    assert len(jpegs) == 1
    sos = named.index(b"\xff\xda")
    assert jpegs[0].endswith(named[sos:named.rindex(b"\xff\xd9") + 2])  # the image data unchanged
    assert jpegs[0][2:6] == b"\xff\xe0\x00\x10"  # JFIF kept
    assert len(docx.Document(io.BytesIO(out)).inline_shapes) == 1


def test_gif_comment_and_application_text_are_stripped():
    d = base_form()
    d.add_picture(io.BytesIO(gif_with_text()))
    out = code(save(d))
    parts = assert_clean(out)
    gifs = [b for b in parts.values() if b.startswith(b"GIF89a")]
    assert len(gifs) == 1 and gif_text_blocks(gifs[0]) == 0
    assert b"NETSCAPE2.0" in gifs[0] and gifs[0].endswith(b"\x02\x02\x44\x01\x00\x3b")  # loop and pixels kept
    assert len(docx.Document(io.BytesIO(out)).inline_shapes) == 1


def test_vml_literal_addresses_are_removed():
    """VML can hold a linked picture or a shape's link as a plain address, with no relationship."""
    body = ('<w:p><w:r><w:pict><v:shape id="s1" style="width:50pt;height:20pt" '
            'href="file://server/share/oakhollow.docx" o:button="t"><v:imagedata '
            'src="https://photos.example.org/tamsinoakhollow.jpg" o:href="file:///\\\\server\\photos\\x.jpg"/>'
            '</v:shape></w:pict></w:r><w:r><w:t>Shape text kept</w:t></w:r></w:p>')
    data = patch(save(base_form()), body=body)
    with pytest.raises(LeakDetected):
        assert_no_unverifiable(data)
    parts = assert_clean(code(data))
    assert b"server" not in parts["word/document.xml"] and b"photos.example.org" not in parts["word/document.xml"]
    assert b"<v:shape" in parts["word/document.xml"]
    assert "Shape text kept" in body_text(code(data))


def test_image_functions_are_pure_and_idempotent():
    named = png(chunks=[(b"tEXt", b"k\x00Tamsin")])
    once = png_strip_text(named)
    assert png_strip_text(once) == once and png_text_chunks(once) == []
    j = jpeg_strip_text(jpeg_with_text())
    assert jpeg_strip_text(j) == j and jpeg_text_segments(j) == []
    g = gif_strip_text(gif_with_text())
    assert gif_strip_text(g) == g and gif_text_blocks(g) == 0


def test_thumbnail_is_removed():
    d = base_form()
    data = patch(save(d), parts={"docProps/thumbnail.jpeg": jpeg_with_text()},
                 rels={".rels": [("rIdTh", "http://schemas.openxmlformats.org/package/2006/relationships/"
                                           "metadata/thumbnail", "docProps/thumbnail.jpeg", False)]})
    assert "docProps/thumbnail.jpeg" in parts_of(data)
    pkg = open_package(data)
    removed = sanitise(pkg)
    assert any("thumbnail" in r for r in removed)
    assert "docProps/thumbnail.jpeg" not in pkg.parts
    assert_clean(code(data))


# -- the verifier ----------------------------------------------------------------------------

def _with(data: bytes, **kw) -> bytes:
    return patch(data, **kw)


@pytest.mark.parametrize("case,reason", [
    ("external-hyperlink", "external-link"),
    ("external-template", "external-link"),
    ("url-target-without-mode", "external-link"),
    ("altchunk-element", "alt-chunk"),
    ("altchunk-rel", "alt-chunk"),
    ("ole-part", "embedded-object"),
    ("object-element", "embedded-object"),
    ("png-text", "image-text"),
    ("jpeg-text", "image-text"),
    ("gif-text", "image-text"),
    ("damaged-png", "image-unreadable"),
    ("vml-literal-link", "external-link"),
    ("styles-part-also-a-header", "embedded-object"),
    ("thumbnail", "thumbnail"),
])
def test_verifier_refuses_what_is_left(case, reason):
    clean = code(save(base_form()))
    assert_no_unverifiable(clean)
    kw = {
        "external-hyperlink": dict(rels={"word/document.xml": [("rIdZ", "hyperlink", "file://srv/x", True)]}),
        "external-template": dict(rels={"word/settings.xml": [("rIdZ", "attachedTemplate", "https://t/x.dotm", True)]}),
        "url-target-without-mode": dict(rels={"word/document.xml": [("rIdZ", "image", "http://x/y.png", False)]}),
        "altchunk-element": dict(body='<w:altChunk r:id="rId1"/>'),
        "altchunk-rel": dict(rels={"word/document.xml": [("rIdZ", "aFChunk", "a.htm", False)]},
                             parts={"word/a.htm": b"<html/>"}),
        "ole-part": dict(parts={"word/embeddings/oleObject1.bin": OLE_BIN}),
        "object-element": dict(body='<w:p><w:r><w:object/></w:r></w:p>'),
        "png-text": dict(parts={"word/media/image9.png": png(chunks=[(b"tEXt", b"a\x00b")])}),
        "jpeg-text": dict(parts={"word/media/image9.jpeg": jpeg_with_text()}),
        "gif-text": dict(parts={"word/media/image9.gif": gif_with_text()}),
        "damaged-png": dict(parts={"word/media/image9.png": png()[:-20]}),
        "styles-part-also-a-header": dict(
            rels={"word/document.xml": [("rIdZ", "header", "styles.xml", False)]},
            append={"word/styles.xml": '<w:p><w:r><w:object/></w:r></w:p>'}),
        "vml-literal-link": dict(body='<w:p><w:r><w:pict><v:shape href="https://x.example.org/"/></w:pict></w:r></w:p>'),
        "thumbnail": dict(parts={"docProps/thumbnail.png": png()}),
    }[case]
    bad = _with(clean, **kw)
    with pytest.raises(LeakDetected) as exc:
        assert_no_unverifiable(bad)
    assert exc.value.reason == reason
    assert "nothing was sent" in str(exc.value)
    for token in TOKENS:
        assert token not in str(exc.value)


def test_code_document_fails_closed_if_sanitise_misses_something(monkeypatch):
    import mailbot.documents.coding as coding

    monkeypatch.setattr(coding, "sanitise", lambda pkg: [])
    data = patch(save(base_form()),
                 rels={"word/settings.xml": [("rIdT1", "attachedTemplate", "https://t.example.org/x.dotm", True)]},
                 append={"word/settings.xml": '<w:attachedTemplate r:id="rIdT1"/>'})
    with pytest.raises(LeakDetected) as exc:
        code(data)
    assert exc.value.reason == "external-link"


# -- the same for minutes --------------------------------------------------------------------

def test_minutes_are_sanitised_too():
    from mailbot.documents.minutes import parse_minutes

    src = (SAMPLES / "minutes-1.docx").read_bytes()
    data = patch(src, body='<w:altChunk r:id="rIdAC1"/><w:p><w:hyperlink r:id="rIdH1"><w:r><w:t>notes'
                           '</w:t></w:r></w:hyperlink></w:p>',
                 rels={"word/document.xml": [("rIdAC1", "aFChunk", "chunk.htm", False),
                                             ("rIdH1", "hyperlink", "file://srv/share/Oakhollow.docx", True)]},
                 parts={"word/chunk.htm": HTML}, overrides={"word/chunk.htm": "text/html"})
    before = parse_minutes(open_package(data)).to_json()
    out = sanitised_bytes(open_package(data))  # minutes with no case names on record
    parts = assert_clean(out)
    assert "word/chunk.htm" not in parts
    assert parse_minutes(open_package(out)).to_json()["case_code"] == before["case_code"]
    # and through code_document (the usual path, names on record)
    out = code_document(open_package(data), young(CHILDREN), relatives(FAMILY), ["CN90"])
    assert_clean(out)


def test_clean_samples_lose_nothing_but_links():
    """The shared samples (no unverifiable content but P03's links and P10) are unchanged by sanitise
    apart from links; their text parts are untouched."""
    for path in sorted(SAMPLES.glob("[SP]*.docx")):
        pkg = open_package(path)
        before = dict(pkg.parts)
        removed = sanitise(pkg)
        if path.name.startswith(("P10",)):
            continue
        for note in removed:
            assert "link" in note or "thumbnail" in note or "picture" in note, (path.name, note)
        changed = {n for n in before if pkg.parts.get(n) != before[n]}
        assert changed <= {"word/document.xml", "word/_rels/document.xml.rels", "[Content_Types].xml",
                           "_rels/.rels", "docProps/app.xml"} | {n for n in before if "thumbnail" in n
                                                                 or n.startswith("word/media/")}, path.name
