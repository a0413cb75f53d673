"""Name stripping and the verifier, on the samples and on synthetic documents.

Every person named here is fictional. The checks of the output are independent
of the matcher under test: they fold the raw bytes of every part (lower case,
accents off, entities decoded) and look for the names as plain words.
"""

from __future__ import annotations

import html
import io
import re
import unicodedata
import zipfile

import pytest

from conftest import REFERRAL_SAMPLES, truth_for
from mailbot.documents.coding import code_document, sibling_codes
from mailbot.documents.package import open_package
from mailbot.errors import LeakDetected
from mailbot.documents.matcher import build_matcher
from mailbot.documents.names import protected_names
from mailbot.documents.redact import coded_filename, strip_names
from mailbot.documents.verify import scan_bytes_for_names, verify_no_names
from people import relatives, young

# -- independent checks --------------------------------------------------------


def plain(text: str) -> str:
    text = html.unescape(text)
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return text.lower().replace("’", "'").replace("‘", "'").replace("`", "'")


def parts_of(data: bytes) -> dict[str, str]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {n: zf.read(n).decode("utf-8", "replace") for n in zf.namelist()}


def visible_text(xml: str) -> str:
    """Text of a part with tags removed, paragraph/cell ends as newlines (for sentinels)."""
    xml = re.sub(r"</w:p>|</w:tc>|<w:tab/>|<w:br/>", "\n", xml)
    return html.unescape(re.sub(r"<[^>]+>", "", xml))


def leaked(data: bytes, tokens: list[str], case_sensitive_ok: list[str] = ()) -> list[tuple[str, str]]:
    """(part, token) for every protected token found as a word anywhere in any part.

    Tokens listed in ``case_sensitive_ok`` are ordinary words: only their
    Capitalised/UPPER forms count as leaks.
    """
    found = []
    for name, raw in parts_of(data).items():
        # also names split over runs: the text with tags removed, paragraph ends as newlines
        joined_raw = raw + "\n" + re.sub(r"<[^>]+>", "", re.sub(r"</w:p>|</w:tc>|<w:tab/>|<w:br/>", "\n", raw))
        folded = plain(joined_raw)
        for tok in tokens:
            t = plain(tok)
            pattern = r"(?<![a-z0-9])" + re.escape(t).replace(r"\ ", r"[\s._-]*").replace("'", "'?") + r"(?![a-z0-9])"
            if tok in case_sensitive_ok:
                for m in re.finditer(pattern, folded):
                    if joined_raw[m.start()].isupper():
                        found.append((name, tok))
                        break
            elif re.search(pattern, folded):
                found.append((name, tok))
    return found


def code_sample(path):
    truth = truth_for(path)
    codes = sibling_codes(78, len(truth["young_people"]))
    stats = {}
    data = code_document(open_package(path), young(truth["young_people"]), relatives(truth["family"]), codes,
                         stats=stats)
    return truth, codes, data, stats


# -- samples -------------------------------------------------------------------


@pytest.mark.parametrize("path", REFERRAL_SAMPLES, ids=lambda p: p.stem)
def test_sample_coded_without_any_protected_token(path):
    truth, codes, data, stats = code_sample(path)
    assert leaked(data, truth["protected_tokens"], truth["ordinary_word_tokens"]) == []
    parts = parts_of(data)
    body = visible_text(parts["word/document.xml"])
    for sentinel in truth["sentinels"]:
        assert sentinel in body, sentinel
    for code in codes:
        assert code in body
    assert stats["replaced"] >= 3
    assert not any(n.startswith("docProps/thumbnail") for n in parts)
    assert "thumbnail" not in parts["_rels/.rels"] and "thumbnail" not in parts["[Content_Types].xml"]
    # the output is a package we can open again, and python-docx can read it
    import docx

    docx.Document(io.BytesIO(data))


def test_ordinary_word_name_keeps_lowercase_word():
    path = next(p for p in REFERRAL_SAMPLES if p.stem.startswith("S08"))
    _truth, _codes, data, _ = code_sample(path)
    body = visible_text(parts_of(data)["word/document.xml"])
    assert "a short grace period for CN78’s coursework" in body
    assert "Grace" not in body


def test_header_and_upper_case_footer():
    path = next(p for p in REFERRAL_SAMPLES if p.stem.startswith("S05"))
    _truth, _codes, data, _ = code_sample(path)
    parts = parts_of(data)
    assert "re: CN78" in visible_text(parts["word/header1.xml"])
    footer = visible_text(parts["word/footer1.xml"])
    assert footer.strip().startswith("CN78 – Hollinsworth Early Help Team")


def test_split_runs_keep_formatting_of_first_run():
    path = next(p for p in REFERRAL_SAMPLES if p.stem.startswith("S06"))
    _truth, _codes, data, _ = code_sample(path)
    doc = parts_of(data)["word/document.xml"]
    # the bold run that held "Ev" now holds the code; the other pieces are empty
    assert re.search(r"<w:b/></w:rPr><w:t[^>]*>CN78</w:t>", doc)
    assert "aff" not in visible_text(doc).split("Also known as")[0].split("Young person's name")[1]
    assert "_ypname700" in doc  # bookmark kept


def test_possessives_keep_their_apostrophes():
    path = next(p for p in REFERRAL_SAMPLES if p.stem.startswith("S07"))
    _truth, _codes, data, _ = code_sample(path)
    body = visible_text(parts_of(data)["word/document.xml"])
    assert "CN78's and CN78’s sister’s" in body
    assert "CN78’S PASTORAL LEAD" in body
    assert "duty call: CN78 said" in body  # lower-case "mason"


def test_siblings_get_their_own_codes_and_shared_surname_the_first():
    path = next(p for p in REFERRAL_SAMPLES if p.stem.startswith("S04"))
    _truth, codes, data, _ = code_sample(path)
    assert codes == ["CN78A", "CN78B"]
    body = visible_text(parts_of(data)["word/document.xml"])
    assert "CN78A is spending time" in body and "CN78B has been missing" in body


def test_family_names_become_placeholders():
    path = next(p for p in REFERRAL_SAMPLES if p.stem.startswith("S01"))
    _truth, _codes, data, _ = code_sample(path)
    body = visible_text(parts_of(data)["word/document.xml"])
    assert "[parent/carer]" in body


def test_coded_filename():
    assert coded_filename(["CN78"]) == "CN78-coded-referral.docx"
    assert coded_filename(["CN58A", "CN58B"]) == "CN58A-CN58B-coded-referral.docx"


# -- synthetic documents -------------------------------------------------------

NS = ('xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" '
      'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" '
      'xmlns:wp="http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing" '
      'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" '
      'xmlns:pic="http://schemas.openxmlformats.org/drawingml/2006/picture" '
      'xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" '
      'xmlns:wps="http://schemas.microsoft.com/office/word/2010/wordprocessingShape" '
      'xmlns:v="urn:schemas-microsoft-com:vml" '
      'xmlns:w15="http://schemas.microsoft.com/office/word/2012/wordml"')
MAIN_CT = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"

CHILD = {"name": "Jack Fennimore", "first_name": "Jack", "surname": "Fennimore",
         "known_as": ["Jacko"], "other_surnames": ["Ó Súilleabháin"]}
FAMILY = [{"name": "Bríd Fennimore", "relationship": "mother"}]
TOKENS = ["Jack", "Fennimore", "Jacko", "Súilleabháin", "Bríd"]


def make_docx(body: str, parts: dict[str, str] | None = None, rels: str = "", overrides: str = "",
              root_rels: str = "") -> bytes:
    """A minimal, valid .docx from raw XML pieces."""
    ct = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
          '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
          '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
          '<Default Extension="xml" ContentType="application/xml"/>'
          '<Default Extension="png" ContentType="image/png"/>'
          f'<Override PartName="/word/document.xml" ContentType="{MAIN_CT}"/>{overrides}</Types>')
    root = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
            f'relationships/officeDocument" Target="word/document.xml"/>{root_rels}</Relationships>')
    doc = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document {NS}><w:body>'
           f'<w:p><w:r><w:t>Referral form</w:t></w:r></w:p>{body}</w:body></w:document>')
    drels = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
             f'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{rels}'
             '</Relationships>')
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", ct)
        zf.writestr("_rels/.rels", root)
        zf.writestr("word/document.xml", doc)
        zf.writestr("word/_rels/document.xml.rels", drels)
        for name, text in (parts or {}).items():
            zf.writestr(name, text)
    return buf.getvalue()


def para(text: str) -> str:
    return f'<w:p><w:r><w:t xml:space="preserve">{text}</w:t></w:r></w:p>'


def xml_part(root: str, inner: str, ns: str = NS) -> str:
    return f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><{root} {ns}>{inner}</{root.split()[0]}>'


HL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/hyperlink"
CP = ('xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
      'xmlns:dc="http://purl.org/dc/elements/1.1/"')

LOCATIONS = {
    "body": dict(body=para("Jack has missed school. JACK’S brother says jacko is fine.")),
    "comment": dict(
        body=para("See comment"),
        parts={"word/comments.xml": xml_part("w:comments", '<w:comment w:id="0" w:author="Jack Fennimore" '
                                              'w:initials="JF"><w:p><w:r><w:t>Ask Fennimore family</w:t>'
                                              '</w:r></w:p></w:comment>')}),
    "footnote": dict(
        body=para("Footnote follows"),
        parts={"word/footnotes.xml": xml_part("w:footnotes", '<w:footnote w:id="1"><w:p><w:r><w:t>'
                                               'Per Bríd Fennimore</w:t></w:r></w:p></w:footnote>')}),
    "text box + VML fallback": dict(body=(
        '<w:p><w:r><mc:AlternateContent><mc:Choice Requires="wps"><w:drawing><wps:txbx><w:txbxContent>'
        '<w:p><w:r><w:t>Jack Fennimore</w:t></w:r></w:p></w:txbxContent></wps:txbx></w:drawing></mc:Choice>'
        '<mc:Fallback><w:pict><v:shape alt="Jacko"><v:textbox><w:txbxContent><w:p><w:r><w:t>Jack '
        'Fennimore</w:t></w:r></w:p></w:txbxContent></v:textbox></v:shape></w:pict></mc:Fallback>'
        '</mc:AlternateContent></w:r></w:p>')),
    "tracked insertion and deletion": dict(body=(
        '<w:p><w:del w:id="1" w:author="A. Worker"><w:r><w:delText>Jack</w:delText></w:r></w:del>'
        '<w:ins w:id="2" w:author="A. Worker"><w:r><w:t>Jacko</w:t></w:r></w:ins>'
        '<w:r><w:t xml:space="preserve"> </w:t></w:r><w:del w:id="3" w:author="A. Worker"><w:r>'
        '<w:delText>Fenni</w:delText></w:r><w:r><w:delText>more</w:delText></w:r></w:del></w:p>')),
    "hidden text": dict(body='<w:p><w:r><w:rPr><w:vanish/></w:rPr><w:t>Fennimore</w:t></w:r></w:p>'),
    "mailto hyperlink": dict(
        body=('<w:p><w:hyperlink r:id="rId9"><w:r><w:t>email</w:t></w:r></w:hyperlink>'
              '<w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText xml:space="preserve"> HYPERLINK '
              '"mailto:jack.fennimore@example.org" </w:instrText></w:r><w:r><w:fldChar w:fldCharType="end"/>'
              '</w:r></w:p>'),
        rels=f'<Relationship Id="rId9" Type="{HL}" Target="mailto:jack.fennimore@example.org" '
             'TargetMode="External"/>'
             f'<Relationship Id="rId10" Type="{HL}" Target="https://example.org/@jackfennimore/'
             'Jack%20Fennimore.pdf" TargetMode="External"/>'),
    "mergefield": dict(body=(
        '<w:p><w:fldSimple w:instr=" MERGEFIELD Fennimore_Jack "><w:r><w:t>«x»</w:t></w:r></w:fldSimple>'
        '<w:r><w:instrText> MERGEFIELD Jack</w:instrText></w:r><w:r><w:instrText>_Fennimore </w:instrText>'
        '</w:r></w:p>')),
    "image alt text": dict(body=(
        '<w:p><w:r><w:drawing><wp:inline><wp:docPr id="1" name="Photo of Jack" descr="Jack Fennimore at '
        'school" title="Fennimore"/><a:graphic><a:graphicData><pic:pic><pic:nvPicPr><pic:cNvPr id="2" '
        'name="jacko.png" descr="Jacko"/></pic:nvPicPr></pic:pic></a:graphicData></a:graphic></wp:inline>'
        '</w:drawing></w:r></w:p>')),
    "core, app and custom properties": dict(
        body=para("x"),
        parts={
            "docProps/core.xml": xml_part("cp:coreProperties", '<dc:title>Referral Jack Fennimore</dc:title>'
                                          '<dc:subject>Jacko</dc:subject><dc:creator>A. Worker</dc:creator>'
                                          '<cp:keywords>FENNIMORE</cp:keywords><dc:description>re Bríd'
                                          '</dc:description><cp:lastModifiedBy>Jack</cp:lastModifiedBy>', CP),
            "docProps/app.xml": '<?xml version="1.0"?><Properties xmlns="http://schemas.openxmlformats.org/'
                                'officeDocument/2006/extended-properties"><Company>Fennimore</Company>'
                                '</Properties>',
            "docProps/custom.xml": '<?xml version="1.0"?><Properties xmlns="http://schemas.openxmlformats.org/'
                                   'officeDocument/2006/custom-properties" xmlns:vt="http://schemas.'
                                   'openxmlformats.org/officeDocument/2006/docPropsVTypes"><property fmtid="'
                                   '{D5CDD505-2E9C-101B-9397-08002B2CF9AE}" pid="2" name="Child"><vt:lpwstr>'
                                   'Jack Fennimore</vt:lpwstr></property></Properties>',
        }),
    "customXml data binding": dict(
        body=('<w:sdt><w:sdtPr><w:alias w:val="Jack"/><w:tag w:val="Fennimore"/><w:placeholder><w:docPart '
              'w:val="Jacko"/></w:placeholder><w:dataBinding w:xpath="/r/name" w:storeItemID="{1}"/></w:sdtPr>'
              '<w:sdtContent><w:p><w:r><w:t>J</w:t></w:r><w:r><w:t>ack</w:t></w:r></w:p></w:sdtContent></w:sdt>'),
        parts={"customXml/item1.xml": '<?xml version="1.0"?><r><name>Jack Fennimore</name><nick>Jacko</nick>'
                                      '<other>O Suilleabhain</other></r>'}),
    "docVar and attached template": dict(
        body=para("x"),
        parts={"word/settings.xml": xml_part("w:settings", '<w:attachedTemplate r:id="rId1"/><w:docVars>'
                                             '<w:docVar w:name="child" w:val="Jack Fennimore"/></w:docVars>'),
               "word/_rels/settings.xml.rels": '<?xml version="1.0"?><Relationships xmlns="http://schemas.'
                                               'openxmlformats.org/package/2006/relationships"><Relationship '
                                               'Id="rId1" Type="x" Target="file:///C:/Forms/Jack%20Fennimore'
                                               '.dotx" TargetMode="External"/></Relationships>'}),
    "people (comment authors)": dict(
        body=para("x"),
        parts={"word/people.xml": xml_part("w15:people", '<w15:person w15:author="Bríd Fennimore">'
                                           '<w15:presenceInfo w15:providerId="None" w15:userId="Bríd"/>'
                                           '</w15:person>')}),
    "glossary, header and endnotes": dict(
        body=para("x"),
        parts={"word/glossary/document.xml": xml_part("w:glossaryDocument", '<w:docParts><w:docPart><w:docPartBody>'
                                                      + para("Jacko") + '</w:docPartBody></w:docPart></w:docParts>'),
               "word/header2.xml": xml_part("w:hdr", para("FENNIMORE, JACK")),
               "word/endnotes.xml": xml_part("w:endnotes", '<w:endnote w:id="1">' + para("Súilleabháin")
                                             + '</w:endnote>')}),
    "accents, apostrophes, entities, XML comment": dict(body=(
        para("Contact: O&apos;Suilleabhain; &#74;ack; jacko@example.org; @jackfennimore; Brid")
        + "<!-- Jack Fennimore -->")),
}


@pytest.mark.parametrize("where", list(LOCATIONS))
def test_name_stripped_everywhere(where):
    data = make_docx(**LOCATIONS[where])
    assert leaked(data, TOKENS), "the synthetic document must hold a name to begin with"
    out = code_document(open_package(data), young(CHILD), relatives(FAMILY), ["CN12"])
    assert leaked(out, TOKENS) == []
    everything = "".join(parts_of(out).values())
    assert "CN12" in everything or "[parent/carer]" in everything or " removed]" in everything


def test_verifier_catches_what_the_stripper_missed():
    data = make_docx(para("Jack Fennimore"), parts={"docProps/custom.xml": "<p><v>Fennimore</v></p>"})
    names = protected_names(young(CHILD), relatives(FAMILY), ["CN12"])
    with pytest.raises(LeakDetected) as exc:
        verify_no_names(data, names)
    msg = str(exc.value)
    assert "CN12" in msg and "nothing was sent" in msg and "\n" not in msg
    assert not any(t.lower() in msg.lower() for t in TOKENS)
    # strip only the body (simulating a stripper that forgot a part): still refused
    pkg = open_package(data)
    matcher = build_matcher(names)
    root = pkg.xml("word/document.xml")
    for t in root.iter("{http://schemas.openxmlformats.org/wordprocessingml/2006/main}t"):
        t.text = matcher.sub(t.text)[0]
    pkg.mark_changed("word/document.xml")
    with pytest.raises(LeakDetected, match="docProps/custom.xml"):
        verify_no_names(pkg.to_bytes(), names)


def test_verifier_checks_binary_parts_and_file_name():
    names = protected_names(young(CHILD), relatives(FAMILY), ["CN12"])
    png = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x10tEXtAuthor\x00Jack Fennimore" + b"\x00" * 40
    data = make_docx(para("x"), parts={"word/media/image1.png": png})
    with pytest.raises(LeakDetected, match="image1.png"):
        verify_no_names(data, names)
    utf16 = b"\x00\x01" + "Fennimore".encode("utf-16-le") + b"\x00\x00"
    with pytest.raises(LeakDetected):
        verify_no_names(make_docx(para("x"), parts={"word/media/image2.png": utf16}), names)
    clean = make_docx(para("CN12"))
    verify_no_names(clean, names)  # passes
    with pytest.raises(LeakDetected, match="file name"):
        verify_no_names(clean, names, filename="/tmp/Jack-Fennimore.docx")


def png_with_text(kind: bytes, text: bytes) -> bytes:
    import struct
    import zlib

    def chunk(k, body):
        return struct.pack(">I", len(body)) + k + body + struct.pack(">I", zlib.crc32(k + body))

    if kind == b"zTXt":
        body = b"Comment\x00\x00" + zlib.compress(text)
    else:  # compressed iTXt
        body = b"Comment\x00\x01\x00en\x00\x00" + zlib.compress(text)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", bytes(13)) + chunk(kind, body) + chunk(b"IEND", b""))


@pytest.mark.parametrize("kind", [b"zTXt", b"iTXt"])
def test_verifier_reads_compressed_png_text(kind):
    names = protected_names(young(CHILD), relatives(FAMILY), ["CN12"])
    leaky = make_docx(para("x"), parts={"word/media/image1.png": png_with_text(kind, b"Photo of Jack at home")})
    with pytest.raises(LeakDetected, match="image1.png"):
        verify_no_names(leaky, names)
    verify_no_names(make_docx(para("x"), parts={"word/media/image1.png": png_with_text(kind, b"Photo")}), names)


def test_verifier_refuses_embedded_documents():
    names = protected_names(young(CHILD), relatives(FAMILY), ["CN12"])
    inner = make_docx(para("nothing to see"))
    data = make_docx(para("x"), parts={"word/embeddings/Microsoft_Word_Document1.docx": inner.decode("latin-1")})
    with pytest.raises(LeakDetected, match="embedded"):
        code_document(open_package(data), young(CHILD), relatives(FAMILY), ["CN12"])
    with pytest.raises(LeakDetected, match="embedded"):
        verify_no_names(make_docx(para("x"), parts={"word/media/x.png": "PK\x03\x04rest"}), names)


def test_strip_keeps_untouched_parts_byte_for_byte():
    path = next(p for p in REFERRAL_SAMPLES if p.stem.startswith("S01"))
    before = open_package(path)
    styles = before.parts["word/styles.xml"]
    truth = truth_for(path)
    stats = {}
    after = strip_names(before, protected_names(young(truth["young_people"]), relatives(truth["family"]), ["CN78"]), stats)
    assert after.parts["word/styles.xml"] is styles
    assert stats["parts"] == ["word/document.xml"]


def test_scan_helper_reports_parts():
    names = protected_names(young(CHILD), relatives(FAMILY), ["CN12"])
    data = make_docx(para("Jacko"))
    assert scan_bytes_for_names(data, names) == ["word/document.xml"]
