"""Bad input through the CLI: one plain line on stderr, non-zero exit, nothing written, quickly.

Every input is built here. `mailbot referral code BAD.docx --code CN78 --out OUT` must end
within seconds, exit non-zero, print exactly one line on stderr (no traceback) and leave
no output file.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile

import pytest

from conftest import REFERRAL_SAMPLES, ROOT, SAMPLES

TIMEOUT = 30


def run_code(form, tmp_path, *, measure_memory=False):
    out = tmp_path / "out" / "CN78-coded-referral.docx"
    cmd = [sys.executable, "-m", "mailbot.cli", "referral", "code", str(form), "--code", "CN78", "--out", str(out)]
    if measure_memory:  # run through a wrapper that reports its child's peak memory
        wrapper = ("import json,resource,subprocess,sys;"
                   "r=subprocess.run(sys.argv[1:],capture_output=True,text=True);"
                   "print(json.dumps({'rc':r.returncode,'out':r.stdout,'err':r.stderr,"
                   "'kb':resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))")
        cmd = [sys.executable, "-c", wrapper, *cmd]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT)
    if measure_memory:
        info = json.loads(r.stdout)
        r = subprocess.CompletedProcess(cmd, info["rc"], info["out"], info["err"])
        r.peak_kb = info["kb"]
    assert r.returncode != 0, r.stdout
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert not out.exists()
    assert not out.parent.exists() or not any(out.parent.iterdir())
    return r, lines[0]


def sample_bytes(prefix="S01") -> bytes:
    return next(p for p in REFERRAL_SAMPLES if p.stem.startswith(prefix)).read_bytes()


def rebuild(data: bytes, replace: dict[str, bytes] | None = None, add: dict[str, bytes] | None = None) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for info in src.infolist():
            zf.writestr(info.filename, (replace or {}).get(info.filename, src.read(info)))
        for name, content in (add or {}).items():
            zf.writestr(name, content)
    return buf.getvalue()


def write(tmp_path, name, data: bytes):
    p = tmp_path / name
    p.write_bytes(data)
    return p


def test_empty_file(tmp_path):
    _r, line = run_code(write(tmp_path, "form.docx", b""), tmp_path)
    assert "empty" in line


def test_truncated_docx(tmp_path):
    data = sample_bytes()
    _r, line = run_code(write(tmp_path, "form.docx", data[: len(data) // 2]), tmp_path)
    assert "damaged" in line or "not a Word document" in line


def test_corrupt_docx(tmp_path):
    data = bytearray(sample_bytes())
    data[2000:6000] = os.urandom(4000)
    _r, line = run_code(write(tmp_path, "form.docx", bytes(data)), tmp_path)
    assert line.startswith("mailbot: ")


def test_pdf_named_docx(tmp_path):
    _r, line = run_code(write(tmp_path, "form.docx", b"%PDF-1.7\n1 0 obj<<>>endobj\n%%EOF\n"), tmp_path)
    assert "not a Word document" in line


def test_text_file_named_docx(tmp_path):
    _r, line = run_code(write(tmp_path, "form.docx", "Name: Jack Fennimore\n".encode()), tmp_path)
    assert "not a Word document" in line
    assert "Fennimore" not in line


def test_legacy_doc(tmp_path):
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504 + "WordDocument".encode("utf-16-le") + b"\x00" * 4000
    _r, line = run_code(write(tmp_path, "form.doc", ole), tmp_path)
    assert "old-style Word file" in line


def test_password_protected(tmp_path):
    from msoffcrypto.format.ooxml import OOXMLFile

    plain = write(tmp_path, "plain.docx", sample_bytes())
    enc = io.BytesIO()
    with open(plain, "rb") as fh:
        OOXMLFile(fh).encrypt("s3cret", enc)
    _r, line = run_code(write(tmp_path, "form.docx", enc.getvalue()), tmp_path)
    assert "password" in line


def test_macro_enabled(tmp_path):
    data = sample_bytes()
    ct = zipfile.ZipFile(io.BytesIO(data)).read("[Content_Types].xml").replace(
        b"</Types>", b'<Override PartName="/word/vbaProject.bin" '
                     b'ContentType="application/vnd.ms-office.vbaProject"/></Types>')
    bad = rebuild(data, replace={"[Content_Types].xml": ct}, add={"word/vbaProject.bin": b"\x00attribut VB"})
    _r, line = run_code(write(tmp_path, "form.docx", bad), tmp_path)
    assert "macros" in line


@pytest.mark.parametrize("part", ["word/document.xml", "[Content_Types].xml", "docProps/core.xml"])
def test_external_entity_never_resolved(tmp_path, part):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET-LINE")
    data = sample_bytes()
    original = zipfile.ZipFile(io.BytesIO(data)).read(part).decode()
    body = original.split("?>", 1)[1]
    root_tag = body.lstrip().split()[0].lstrip("<")
    evil = (f'<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE {root_tag} [<!ENTITY xxe SYSTEM '
            f'"file://{secret}">]>' + body.replace(">", ">&xxe;", 1))
    if part == "word/document.xml":
        evil = evil.replace("Multi-Agency Referral Form", "&xxe;", 1)
    bad = rebuild(data, replace={part: evil.encode()})
    r, line = run_code(write(tmp_path, "form.docx", bad), tmp_path)
    assert "TOPSECRET" not in r.stdout + r.stderr
    assert "entity" in line


def test_zip_bomb_bounded_memory(tmp_path):
    buf = io.BytesIO()
    data = sample_bytes()
    src = zipfile.ZipFile(io.BytesIO(data))
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for info in src.infolist():
            zf.writestr(info.filename, src.read(info))
        with zf.open("word/media/bomb.xml", "w", force_zip64=True) as fh:
            zero = bytes(1024 * 1024)
            for _ in range(200):
                fh.write(zero)
    bomb = write(tmp_path, "form.docx", buf.getvalue())
    assert bomb.stat().st_size < 1024 * 1024
    r, line = run_code(bomb, tmp_path, measure_memory=True)
    assert "unreasonable size" in line
    assert r.peak_kb < 300 * 1024, r.peak_kb


def test_zip_bomb_with_lying_sizes(tmp_path):
    """The central directory claims a small part; reading stops at the claimed size."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        src = zipfile.ZipFile(io.BytesIO(sample_bytes()))
        for info in src.infolist():
            zf.writestr(info.filename, src.read(info))
        zf.writestr("word/media/zeros.bin", bytes(50 * 1024 * 1024))
    data = bytearray(buf.getvalue())
    # patch the uncompressed size (offset 24 in the central directory entry) to 1000 bytes
    name = b"word/media/zeros.bin"
    cd = data.rfind(b"PK\x01\x02", 0, data.rfind(name))
    data[cd + 24:cd + 28] = (1000).to_bytes(4, "little")
    r, line = run_code(write(tmp_path, "form.docx", bytes(data)), tmp_path, measure_memory=True)
    assert "damaged" in line
    assert r.peak_kb < 300 * 1024


def test_very_large_document(tmp_path):
    big = rebuild(sample_bytes(), add={"word/media/image1.png": os.urandom(30 * 1024 * 1024)})
    _r, line = run_code(write(tmp_path, "form.docx", big), tmp_path)
    assert "too large" in line


def test_bad_case_code(tmp_path):
    form = write(tmp_path, "form.docx", sample_bytes())
    out = tmp_path / "out.docx"
    r = subprocess.run([sys.executable, "-m", "mailbot.cli", "referral", "code", str(form), "--code", "78",
                        "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1 and "case code" in r.stderr
    assert not out.exists()


# -- these need the referral reader ------------------------------------------------


def test_word_file_that_is_not_a_referral(tmp_path):
    pytest.importorskip("mailbot.documents.referral")
    import docx

    d = docx.Document()
    d.add_heading("Shopping list", 1)
    d.add_paragraph("Milk, bread, eggs")
    buf = io.BytesIO()
    d.save(buf)
    _r, line = run_code(write(tmp_path, "form.docx", buf.getvalue()), tmp_path)
    assert "referral" in line.lower() or "name" in line.lower()


def test_form_with_no_name(tmp_path):
    pytest.importorskip("mailbot.documents.referral")
    _r, line = run_code(SAMPLES / "blank-referral-form.docx", tmp_path)
    assert "name" in line.lower() or "referral" in line.lower()


def test_form_with_impossible_date_of_birth(tmp_path):
    pytest.importorskip("mailbot.documents.referral")
    data = sample_bytes("S02")
    doc = zipfile.ZipFile(io.BytesIO(data)).read("word/document.xml")
    assert b"10 May 2012" in doc
    bad = rebuild(data, replace={"word/document.xml": doc.replace(b"10 May 2012", b"10 May 2099")})
    _r, line = run_code(write(tmp_path, "form.docx", bad), tmp_path)
    assert "date of birth" in line.lower()
    assert "Isla" not in line and "Whitcombe" not in line
