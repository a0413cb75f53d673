"""Red-team Referral Forms (tests/fixtures/redteam, built by make_redteam.py): names in other
document parts and other forms than the adversarial corpus. Each form goes through what intake does
with it: the reader, the coding with the recall check (``code_referral_file``), then the last gate
(``build_gate`` over the people the reader found, as a case keeps them: ``ProtectedPerson``) on an e-mail
carrying the Coded Referral.

Acceptable: a refusal or hold (a MailbotError with a plain, name-free, one-line message; or the
gate refusing the e-mail), or a Coded Referral in which the independent oracle (tests/leakcheck.py)
finds no form of any protected name in any part. A coded form must also keep its sentinels and
the lower-case ordinary words of its truth.

All people in the fixtures are fictional.
"""

from __future__ import annotations

import functools
import json
import re
import tempfile
from email.message import EmailMessage
from pathlib import Path

import pytest

from mailbot.casework.code_file import code_referral_file
from mailbot.documents.referral import read_referral
from mailbot.errors import MailbotError
from mailbot.gate import build_gate
from mailbot.people import ProtectedPerson

from leakcheck import find_leaks, joined_forms, lower_count, normalise

ROOT = Path(__file__).resolve().parent.parent
RED = ROOT / "tests" / "fixtures" / "redteam"
CODE = "CN90"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
FORMS = [p.with_name(p.name.replace(".truth.json", ".docx")) for p in sorted(RED.glob("*.truth.json"))]
_TMP = Path(tempfile.mkdtemp(prefix="mailbot-redteam-"))


def truth(form: Path) -> dict:
    return json.loads(form.with_name(form.stem + ".truth.json").read_text(encoding="utf-8"))


def _message(data: bytes) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Network Coordinator <coordinator@network.example.org>"
    msg["To"] = "Youth Hub <hub@youthhub.example.net>"
    msg["Subject"] = f"{CODE} coded referral"
    msg.set_content("Please find the coded referral attached.")
    msg.add_attachment(data, maintype="application", subtype=DOCX.split("/")[1],
                       filename=f"{CODE}-coded-referral.docx")
    return bytes(msg)


@functools.lru_cache(maxsize=None)
def outcome(form: Path):
    """("coded", bytes, gate verdict) or ("refused", MailbotError, None); once per run."""
    out = _TMP / form.stem / f"{CODE}-coded-referral.docx"
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        code_referral_file(form, CODE, out)
    except MailbotError as exc:
        return "refused", exc, None
    data = out.read_bytes()
    _pkg, ref = read_referral(form)
    gate = build_gate([ProtectedPerson.of(c, ref.protected_family()) for c in ref.young_people])
    return "coded", data, gate.check_message(_message(data))


def _secret_words(t: dict) -> list[str]:
    return [tok for tok in t["protected_tokens"] if len(tok) > 2]


@pytest.mark.parametrize("form", FORMS, ids=lambda p: p.stem)
def test_no_name_leaves_in_any_part(form):
    t = truth(form)
    kind, result, verdict = outcome(form)
    if kind == "refused":
        msg = str(result).strip()
        assert msg and "\n" not in msg and "Traceback" not in msg, f"{form.name}: not a plain refusal: {msg!r}"
        named = [w for w in _secret_words(t) if re.search(
            r"(?<![A-Za-z])" + re.escape(normalise(w)) + r"(?![A-Za-z])", normalise(msg), re.I)]
        assert not named, f"{form.name}: the refusal names {named}"
        return
    tokens = list(t["protected_tokens"]) + list(t.get("initials_tokens") or [])
    people = list(t["young_people"]) + list(t.get("family") or [])
    leaks = find_leaks(result, tokens, filename=f"{CODE}-coded-referral.docx", joined=joined_forms(people),
                       ordinary=list(t.get("ordinary_word_tokens") or []))
    assert not leaks, f"{form.name}: coded (gate: {verdict or 'passed'}) and names left: {leaks}"
    if verdict is not None:
        assert not any(normalise(w).casefold() in normalise(verdict).casefold()
                       for w in _secret_words(t)), f"{form.name}: the gate's reason names someone: {verdict}"


@pytest.mark.parametrize("form", FORMS, ids=lambda p: p.stem)
def test_coded_form_keeps_what_must_survive(form):
    t = truth(form)
    kind, data, _verdict = outcome(form)
    if kind != "coded":
        pytest.skip("refused or held (fail-closed)")
    import io
    import zipfile
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        text = " ".join(re.sub(r"<[^>]*>", "", zf.read(n).decode("utf-8", "ignore"))
                        for n in zf.namelist() if n.endswith(".xml"))
    text = re.sub(r"\s+", " ", normalise(text))
    lost = [s for s in t.get("sentinels", []) if re.sub(r"\s+", " ", normalise(s)) not in text]
    assert not lost, f"{form.name}: text that must survive was removed: {lost}"
    raw = form.read_bytes()
    changed = {w: (lower_count(raw, w), lower_count(data, w)) for w in sorted({w.lower() for w in t.get("ordinary_word_tokens") or []})
               if lower_count(raw, w) != lower_count(data, w)}
    assert not changed, f"{form.name}: ordinary words lost (before, after): {changed}"


def test_the_corpus_is_built():
    assert len(FORMS) >= 30
