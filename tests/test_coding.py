"""Case codes and the Coded Referral (pure functions and the CLI command)."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile

import pytest

from conftest import REFERRAL_SAMPLES, ROOT, truth_for
from mailbot.documents.coding import code_document, codes_for, format_code, parse_code, sibling_codes
from mailbot.documents.package import open_package
from mailbot.errors import BadField, LeakDetected, NotAReferral
from test_redact import leaked

from mailbot.documents.matcher import build_matcher
from mailbot.documents.names import PLACEHOLDER_FAMILY, PLACEHOLDER_PARENT, protected_names
from people import relatives, young


def test_format_and_parse_codes():
    assert format_code(78) == "CN78"
    assert format_code(58, "b") == "CN58B"
    assert parse_code("CN58B") == (58, "B")
    assert parse_code(" cn78 ") == (78, None)
    assert parse_code(format_code(1234, "C")) == (1234, "C")
    for bad in ("", "78", "CN", "CNX", "CN0", "CN78AB", "XY78"):
        with pytest.raises(BadField):
            parse_code(bad)
    for bad in (0, -1, "7", True):
        with pytest.raises(BadField):
            format_code(bad)
    with pytest.raises(BadField):
        format_code(5, "AB")


def test_sibling_codes():
    assert sibling_codes(78, 1) == ["CN78"]
    assert sibling_codes(58, 2) == ["CN58A", "CN58B"]
    assert sibling_codes(9, 4)[-1] == "CN9D"
    with pytest.raises(BadField):
        sibling_codes(9, 0)
    with pytest.raises(BadField):
        sibling_codes(9, 27)
    assert codes_for("CN78", 3) == ["CN78A", "CN78B", "CN78C"]
    assert codes_for("CN78B", 1) == ["CN78B"]
    with pytest.raises(BadField):
        codes_for("CN78B", 2)


def test_protected_names_variants_and_replacements():
    children = [{"name": "Siobhán Ní Bhriain-Kowalski", "first_name": "Siobhán",
                 "surname": "Ní Bhriain-Kowalski", "known_as": ["Shiv", "None"], "other_surnames": ["O'Neill"]},
                {"name": "Will Kowalski", "first_name": "Will", "surname": "Kowalski", "known_as": []}]
    family = [{"name": "Grace Kowalski", "relationship": "Mother"},
              {"name": "Tomasz Nowak", "relationship": "uncle"}]
    names = {n.text: n for n in protected_names(young(children), relatives(family), ["CN5A", "CN5B"])}
    for text in ("Siobhán Ní Bhriain-Kowalski", "Siobhán", "Ní Bhriain-Kowalski", "Bhriain", "Kowalski",
                 "Shiv", "O'Neill", "Will Kowalski", "Will", "Siobhán O'Neill"):
        assert names[text].replacement in ("CN5A", "CN5B"), text
    assert names["Kowalski"].replacement == "CN5A"  # a shared surname: the first child
    assert names["Will"].replacement == "CN5B" and names["Will"].ordinary
    assert "None" not in names and "Ní" not in names
    assert names["Grace Kowalski"].replacement == PLACEHOLDER_PARENT
    assert names["Grace"].replacement == PLACEHOLDER_PARENT and names["Grace"].ordinary
    assert names["Tomasz Nowak"].replacement == PLACEHOLDER_FAMILY
    assert names["Nowak"].replacement == PLACEHOLDER_FAMILY


@pytest.mark.parametrize("text,expected", [
    ("Seán and SEAN and sean", "CN1 and CN1 and CN1"),
    ("O’Neill, O'Neill, O`Neill, ONeill, o neill", "CN1, CN1, CN1, CN1, CN1"),
    ("Seán O’Neill’s bag", "CN1’s bag"),
    ("SEÁN O'NEILL'S BAG", "CN1'S BAG"),
    ("mail sean.oneill@school.example or @seanoneill", "mail [e-mail removed] or [handle removed]"),
    ("see instagram.com/sean.oneill09 or https://x.example/u/seanoneill", "see [link removed] or [link removed]"),
    # a diminutive (Seán -> Seánie) is protected; a name run into digits goes with them
    ("Seánie and Oneills and Sean2", "CN1 and Oneills and CN1"),
    ("The school will review; attendance rose; Will said", "The school will review; attendance rose; CN1 said"),
    ("ROSE agreed", "[parent/carer] agreed"),
])
def test_matcher_variants(text, expected):
    names = protected_names(young({"name": "Seán O'Neill", "known_as": ["Will"]}),
                            relatives({"name": "Rose Byrne", "relationship": "grandmother"}), ["CN1"])
    assert build_matcher(names).sub(text)[0] == expected


@pytest.mark.parametrize("text,expected", [
    ("Born 10 May 2012; May said on 3rd of May, May 2024 and May 5", "Born 10 May 2012; CN4 said on 3rd of May, May 2024 and May 5"),
    ("May Quinlan and MAY", "CN4 and CN4"),
])
def test_month_names_in_dates_are_kept(text, expected):
    names = protected_names(young({"name": "May Quinlan"}), [], ["CN4"])
    assert build_matcher(names).sub(text)[0] == expected



def test_code_document_siblings_from_truth():
    path = next(p for p in REFERRAL_SAMPLES if p.stem.startswith("S04"))
    truth = truth_for(path)
    stats = {}
    data = code_document(open_package(path), young(truth["young_people"]), relatives(truth["family"]), ["CN58A", "CN58B"],
                         stats=stats)
    doc = zipfile.ZipFile(io.BytesIO(data)).read("word/document.xml").decode()
    assert "CN58A" in doc and "CN58B" in doc
    assert "Dunmore" not in doc and "Maisie" not in doc and "Archie" not in doc
    assert stats["replaced"] >= 8


def test_code_document_refuses_without_children():
    path = REFERRAL_SAMPLES[0]
    with pytest.raises(NotAReferral):
        code_document(open_package(path), [], [], [])


def test_code_document_refuses_leaky_filename():
    path = REFERRAL_SAMPLES[0]
    truth = truth_for(path)
    with pytest.raises(LeakDetected):
        code_document(open_package(path), young(truth["young_people"]), relatives(truth["family"]), ["CN78"],
                      filename="Harvey-Pemberton-coded.docx")


# -- the CLI (needs the referral reader) ---------------------------------------------


def run_cli(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "mailbot.cli", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("path", REFERRAL_SAMPLES, ids=lambda p: p.stem)
def test_cli_codes_every_sample(path, tmp_path):
    pytest.importorskip("mailbot.documents.referral")
    truth = truth_for(path)
    out = tmp_path / "CN78-coded-referral.docx"
    r = run_cli("referral", "code", path, "--code", "CN78", "--out", out)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("Coded referral CN78 written to")
    n = len(truth["young_people"])
    if n > 1:
        assert "CN78A" in r.stdout and "CN78B" in r.stdout
    data = out.read_bytes()
    assert leaked(data, truth["protected_tokens"], truth["ordinary_word_tokens"]) == []
    body = zipfile.ZipFile(io.BytesIO(data)).read("word/document.xml").decode()
    for sentinel in truth["sentinels"]:
        assert sentinel.replace("'", "&apos;") in body or sentinel in body, sentinel
    assert list(tmp_path.iterdir()) == [out]  # no temp files left behind


def test_cli_unwritable_output_is_one_plain_line(tmp_path):
    pytest.importorskip("mailbot.documents.referral")
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    r = run_cli("referral", "code", REFERRAL_SAMPLES[0], "--code", "CN78", "--out", blocker / "CN78.docx")
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1].startswith("mailbot: The coded referral could not be written")
    assert "Traceback" not in r.stderr
