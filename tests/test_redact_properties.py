"""Property tests: generated names, written every way, in generated paragraphs and tables.

No name may survive coding; ordinary words in lower case must survive for names that
are also ordinary words. The leak check is independent of the matcher under test.
"""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from test_redact import leaked, make_docx

from mailbot.documents.coding import code_document
from mailbot.documents.package import open_package
from mailbot.documents.names import NOT_A_NAME
from people import relatives, young

FILLER = ("the school has agreed a plan for attendance and review of support at home with "
          "the family worker who visited on monday after the meeting in the hall").split()
ONSETS = ["b", "br", "c", "d", "dr", "f", "g", "gr", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "sh"]
VOWELS = ["a", "e", "i", "o", "u", "á", "é", "í", "ó", "ú", "ë", "ø"]
SETTINGS = settings(max_examples=int(__import__("os").environ.get("PROP_EXAMPLES", "60")), deadline=None, suppress_health_check=[HealthCheck.too_slow])


def plain(s: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c)).lower()


@st.composite
def word(draw, min_syl=2, max_syl=3):
    syl = draw(st.lists(st.tuples(st.sampled_from(ONSETS), st.sampled_from(VOWELS)), min_size=min_syl,
                        max_size=max_syl))
    w = "".join(a + b for a, b in syl)
    return w[0].upper() + w[1:]


@st.composite
def person(draw):
    first = draw(word())
    kind = draw(st.sampled_from(["plain", "apostrophe", "hyphen"]))
    if kind == "apostrophe":
        surname = "O'" + draw(word())
    elif kind == "hyphen":
        surname = draw(word()) + "-" + draw(word())
    else:
        surname = draw(word(2, 4))
    known_as = draw(st.lists(word(2, 2), max_size=1))
    return {"name": f"{first} {surname}", "first_name": first, "surname": surname, "known_as": known_as}


def variants(p: dict) -> list[str]:
    first, surname = p["first_name"], p["surname"]
    out = [p["name"], first, surname, f"{first}’s", f"{surname.upper()}’S", p["name"].upper(),
           first.lower(), f"{first}'s", surname.replace("'", "’"), f"{first}.{surname.replace(chr(39), '')}@x.org"]
    out += p["known_as"]
    return out


def split_runs(text: str, cuts: list[int]) -> str:
    """The text as runs cut at the given points, with spell-check and bookmark marks between."""
    points = sorted({c % (len(text) + 1) for c in cuts} | {0, len(text)})
    runs = []
    for i, (a, b) in enumerate(zip(points, points[1:])):
        rpr = ["<w:b/>", "<w:i/>", '<w:u w:val="single"/>', ""][i % 4]
        runs.append(f'<w:r><w:rPr>{rpr}</w:rPr><w:t xml:space="preserve">{escape(text[a:b])}</w:t></w:r>')
        runs.append(['<w:proofErr w:type="spellStart"/>', f'<w:bookmarkStart w:id="{i}" w:name="b{i}"/>',
                     "", f'<w:bookmarkEnd w:id="{i}"/>'][i % 4])
    return "<w:p>" + "".join(runs) + "</w:p>"


def escape(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@st.composite
def document(draw):
    child = draw(person())
    mother = {"name": f"{draw(word())} {child['surname']}", "relationship": "mother"}
    names_plain = [plain(x) for x in (child["first_name"], child["surname"], *child["known_as"],
                                       mother["name"].split()[0])]
    assume(len({n.replace("'", "").replace("-", "") for n in names_plain}) == len(names_plain))
    assume(not any(n in NOT_A_NAME for n in names_plain))  # "None" is a form's answer, not a name
    filler_joined = "".join(FILLER)
    assume(not any(re.sub(r"[^a-z]", "", n) in filler_joined for n in names_plain))
    paras, texts = [], []
    for _ in range(draw(st.integers(1, 5))):
        words = draw(st.lists(st.sampled_from(FILLER), min_size=2, max_size=10))
        pos = draw(st.integers(0, len(words)))
        v = draw(st.sampled_from(variants(child) + [mother["name"], mother["name"].split()[0]]))
        text = " ".join(words[:pos] + [v] + words[pos:])
        texts.append(" ".join(words))
        cuts = draw(st.lists(st.integers(0, 200), max_size=5))
        p = split_runs(text, cuts)
        if draw(st.booleans()):  # inside a table cell
            p = f"<w:tbl><w:tr><w:tc>{p}</w:tc><w:tc>{split_runs('Name', [])}</w:tc></w:tr></w:tbl>"
        paras.append(p)
    return child, mother, "".join(paras), texts


def body_words(data: bytes) -> list[str]:
    xml = zipfile.ZipFile(io.BytesIO(data)).read("word/document.xml").decode()
    xml = re.sub(r"</w:p>", "\n", xml)
    return re.findall(r"[a-z]+", re.sub(r"<[^>]+>", "", xml))


@SETTINGS
@given(document())
def test_no_generated_name_survives(doc):
    child, mother, body, texts = doc
    data = make_docx(body)
    tokens = [child["name"], child["first_name"], child["surname"], *child["known_as"], mother["name"],
              mother["name"].split()[0]]
    tokens += [p for p in re.split(r"[-']", child["surname"]) if len(p) > 2]
    assert leaked(data, tokens), "the generated document must hold a name"
    out = code_document(open_package(data), young(child), relatives(mother), ["CN7"])
    assert leaked(out, tokens) == []
    # every filler word is still there, as often as before
    words = body_words(out)
    for w in set(FILLER):
        before = sum(t.split().count(w) for t in texts)
        assert words.count(w) >= before, w


ORDINARY = ["Grace", "Will", "Rose", "Hope", "Faith", "May", "Mark", "Summer"]


@SETTINGS
@given(first=st.sampled_from(ORDINARY), surname=word(2, 3), n_lower=st.integers(1, 3),
       upper=st.booleans(), cuts=st.lists(st.integers(0, 80), max_size=4))
def test_ordinary_word_names_keep_lowercase_words(first, surname, n_lower, upper, cuts):
    assume(plain(surname) not in "".join(FILLER))
    child = {"name": f"{first} {surname}", "first_name": first, "surname": surname}
    lower = first.lower()
    sentence = " ".join([f"the {lower} word"] * n_lower)
    capital = first.upper() if upper else first
    body = split_runs(f"{capital} said {sentence}.", cuts) + split_runs(f"{first} {surname}’s plan", cuts)
    out = code_document(open_package(make_docx(body)), young(child), [], ["CN3"])
    assert leaked(out, [first, surname, child["name"]], case_sensitive_ok=[first]) == []
    words = body_words(out)
    assert words.count(lower) == n_lower
