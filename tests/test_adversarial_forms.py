"""Adversarial Referral Forms (issue 10): every form of every name stripped, or the form refused/held.

Parametrised over tests/fixtures/adversarial/*.truth.json (built by
tests/fixtures/adversarial/build.py) and the shared samples P01-P12, S01-S08 in
tests/fixtures/samples. Each form is coded once with
``mailbot.casework.code_file.code_referral_file(form, "CN90", out)``; the output is checked by the
independent oracle in tests/leakcheck.py, which shares no code with mailbot.

expect == "code_clean": coding must succeed, leave no form of any protected name, keep every
sentinel and every lower-case ordinary word, and the reader's fields must match the truth.
expect == "refuse_or_hold" (or P10's "refuse_or_strip"): either a MailbotError with a plain,
name-free message, or an output with no leak (and for unverifiable content, none of it left).

All people in the fixtures are fictional.
"""

from __future__ import annotations

import functools
import io
import json
import re
import tempfile
import unicodedata
import zipfile
from pathlib import Path

import pytest

from mailbot.casework.code_file import code_referral_file
from mailbot.errors import MailbotError
from mailbot.documents.part_surface import SurfaceCache
from mailbot.documents.referral import read_referral

from leakcheck import document_views, find_leaks, joined_forms, lower_count, normalise

ROOT = Path(__file__).resolve().parent.parent
ADV = ROOT / "tests" / "fixtures" / "adversarial"
SAMPLES = ROOT / "tests" / "fixtures" / "samples"
CODE = "CN90"


def _forms() -> list[Path]:
    out = sorted(ADV.glob("*.truth.json"))
    out += sorted(SAMPLES.glob("P*.truth.json")) + sorted(SAMPLES.glob("S*.truth.json"))
    return [p.with_name(p.name.replace(".truth.json", ".docx")) for p in out]


FORMS = _forms()


def truth(form: Path) -> dict:
    return json.loads(form.with_name(form.stem + ".truth.json").read_text(encoding="utf-8"))


def expect_of(t: dict) -> str:
    return "code_clean" if t.get("expect", "code_clean") == "code_clean" else "refuse_or_hold"


CLEAN = [f for f in FORMS if expect_of(truth(f)) == "code_clean"]
HOLD = [f for f in FORMS if expect_of(truth(f)) == "refuse_or_hold"]
_TMP = Path(tempfile.mkdtemp(prefix="mailbot-adversarial-"))
_SURFACES = SurfaceCache()  # the forms share their style parts: read once, as the daemon's Context does


@functools.lru_cache(maxsize=None)
def coded(form: Path):
    """(bytes of the Coded Referral, None) or (None, the MailbotError); coded once per run."""
    out = _TMP / form.stem / f"{CODE}-coded-referral.docx"
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        code_referral_file(form, CODE, out, surfaces=_SURFACES)
    except MailbotError as exc:
        return None, exc
    return out.read_bytes(), None


def leaks_of(data: bytes, t: dict, filename: str) -> list[tuple[str, str]]:
    tokens = list(t["protected_tokens"]) + list(t.get("initials_tokens") or [])
    people = list(t["young_people"]) + list(t.get("family") or [])
    return find_leaks(data, tokens, filename=filename, joined=joined_forms(people),
                      ordinary=list(t.get("ordinary_word_tokens") or []))


def _plain(text: str) -> str:
    return re.sub(r"\s+", " ", normalise(text)).strip()


def document_text(data: bytes) -> str:
    """All text of the XML parts (tags removed, runs joined), normalised."""
    parts = []
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for name in zf.namelist():
            if name.endswith(".xml"):
                xml = zf.read(name).decode("utf-8", "ignore")
                xml = re.sub(r"<w:(?:tab|br)\b[^>]*/>", " ", xml)
                parts.append(re.sub(r"<[^>]*>", "", xml))
    return _plain(" ".join(parts))


def _ids(p: Path) -> str:
    return p.stem


def _unverifiable(t: dict) -> bool:
    return t.get("expect") == "refuse_or_strip" or any(
        k.startswith(("altchunk", "external")) for k in t.get("stress", []))


def _no_unverifiable_content(data: bytes) -> list[str]:
    bad = []
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for name in zf.namelist():
            raw = zf.read(name)
            if name.endswith(".rels") and b'TargetMode="External"' in raw:
                bad.append(f"external relationship in {name}")
            if name.endswith(".xml") and b"altChunk" in raw:
                bad.append(f"altChunk in {name}")
            if name.lower().endswith((".htm", ".html", ".mht", ".rtf")) or "afchunk" in name.lower():
                bad.append(f"imported part {name}")
    return bad


# --------------------------------------------------------------------------- code_clean

@pytest.mark.parametrize("form", CLEAN, ids=_ids)
def test_clean_form_codes_without_leak(form):
    t = truth(form)
    data, err = coded(form)
    assert err is None, f"{form.name}: a well-made form was refused: {err}"
    leaks = leaks_of(data, t, f"{CODE}-coded-referral.docx")
    assert not leaks, f"{form.name}: names left in the Coded Referral: {leaks}"


@pytest.mark.parametrize("form", CLEAN, ids=_ids)
def test_clean_form_keeps_sentinels_and_words(form):
    t = truth(form)
    data, err = coded(form)
    assert err is None, f"{form.name}: a well-made form was refused: {err}"
    text = document_text(data)
    lost = [s for s in t.get("sentinels", []) if _plain(s) not in text]
    assert not lost, f"{form.name}: text that must survive was removed: {lost}"
    raw = form.read_bytes()
    words = {w.lower() for w in t.get("ordinary_word_tokens") or []}
    changed = {w: (lower_count(raw, w), lower_count(data, w)) for w in sorted(words)
               if lower_count(raw, w) != lower_count(data, w)}
    assert not changed, f"{form.name}: ordinary words lost (before, after): {changed}"
    if _unverifiable(t):
        assert not _no_unverifiable_content(data), _no_unverifiable_content(data)


def _nfc(s):
    return re.sub(r"\s+", " ", unicodedata.normalize("NFC", s or "")).strip()


@pytest.mark.parametrize("form", CLEAN, ids=_ids)
def test_clean_form_fields_match_truth(form):
    t = truth(form)
    try:
        _pkg, ref = read_referral(form)
    except MailbotError as exc:
        pytest.fail(f"{form.name}: the reader refused a well-made form: {exc}")
    got = ref.to_json()
    want_yp = [(_nfc(y["name"]), y.get("dob")) for y in t["young_people"]]
    got_yp = [(_nfc(y["name"]), y["date_of_birth"]) for y in got["young_people"]]
    assert got_yp == want_yp, f"{form.name}: young people read as {got_yp}, not {want_yp}"
    want_fam = sorted(_nfc(m["name"]) for m in t.get("family") or [])
    got_fam = sorted(_nfc(m["name"]) for m in got["family"])
    assert got_fam == want_fam, f"{form.name}: family read as {got_fam}, not {want_fam}"
    want_email = (t.get("referrer") or {}).get("email") or t.get("referrer_email")
    assert got["referrer"]["email"] == want_email, f"{form.name}: referrer e-mail read as {got['referrer']['email']!r}"
    for k in ("parental_consent", "young_person_informed", "known_to_social_work"):
        assert got[k] == t[k], f"{form.name}: {k} read as {got[k]!r}, not {t[k]!r}"


# --------------------------------------------------------------------------- refuse_or_hold

@pytest.mark.parametrize("form", HOLD, ids=_ids)
def test_implausible_form_refused_or_clean(form):
    t = truth(form)
    data, err = coded(form)
    if err is not None:
        msg = str(err).strip()
        assert msg, f"{form.name}: refused with an empty message"
        assert "Traceback" not in msg and "\n" not in msg, f"{form.name}: message is not one plain line: {msg!r}"
        named = [tok for tok in t["protected_tokens"] if len(tok) > 2 and
                 re.search(r"(?<![A-Za-z])" + re.escape(normalise(tok)) + r"(?![A-Za-z])", normalise(msg))]
        assert not named, f"{form.name}: the refusal message names {named}"
        if _unverifiable(t):
            assert re.search(r"embedded|linked|external|imported|pasted|remote|attached|cannot be checked",
                             msg, re.I), f"{form.name}: the refusal does not name the problem: {msg!r}"
        return
    leaks = leaks_of(data, t, f"{CODE}-coded-referral.docx")
    assert not leaks, f"{form.name}: coded (not refused/held) and names left: {leaks}"
    if _unverifiable(t):
        bad = _no_unverifiable_content(data)
        assert not bad, f"{form.name}: coded with unverifiable content left: {bad}"


MUST_REFUSE = [f for f in HOLD if truth(f).get("expected", {}).get("must_refuse")]


@pytest.mark.parametrize("form", MUST_REFUSE, ids=_ids)
def test_implausible_reading_is_refused(form):
    """Issue 10.2: an implausible reading is refused with a plain reason, never coded."""
    t = truth(form)
    data, err = coded(form)
    assert err is not None, (f"{form.name}: coded although the reading is implausible "
                             f"({t['expected']['stress_note']})")


def test_corpus_is_there():
    assert len([f for f in FORMS if f.parent == ADV]) >= 30
    for f in FORMS:
        assert f.exists(), f
