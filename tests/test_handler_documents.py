"""handlers.documents and handlers.intake, in the middle layer: a member's referral against a temporary store.

What is asserted is what the outbox holds for each address and what the store recorded; no mail server.
"""

from __future__ import annotations

import io
import zipfile

from conftest import truth_for
from desk import SAMPLES, text_of


def docx_text(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return "\n".join(zf.read(n).decode("utf-8", "replace") for n in zf.namelist() if n.endswith(".xml"))


def test_a_referral_becomes_a_case_and_a_coded_referral_for_the_members_without_the_name(desk):
    assert desk.referral(desk.lead, "S01-table.docx") == "processed"
    assert [c.code for c in desk.store.open_cases()] == ["CN1"]
    protected = [t.lower() for t in truth_for(SAMPLES / "S01-table.docx")["protected_tokens"]]
    coded = desk.outgoing("coded-referral")
    assert coded, "no coded referral queued"
    for msg in coded:
        (att,) = list(msg.iter_attachments())
        assert att.get_filename().startswith("CN1")
        everything = (str(msg["Subject"]) + text_of(msg) + docx_text(att.get_content())).lower()
        assert not [t for t in protected if t in everything]
    # the referrer is acknowledged, the coordinator told; Social Work gets nothing before the SW check
    assert "acknowledgement" in desk.kinds_to(desk.lead)
    assert desk.outgoing("coordinator-new-case", to=desk.coordinator)
    assert "coded-referral" not in desk.kinds_to(desk.net.social_work[1])
    msg = desk.last_message()
    assert (msg["kind"], msg["outcome"]) == ("referral", "accepted")


def test_the_same_email_twice_is_handled_once(desk):
    raw = desk.email(desk.lead, "Referral", attachments=[("r.docx", (SAMPLES / "S02-paragraphs.docx").read_bytes())])
    desk.handle(raw)
    before = len(desk.store.outbox_items())
    assert desk.handle(raw) == "processed"
    assert len(desk.store.outbox_items()) == before
    assert len(desk.store.open_cases()) == 1


def test_an_email_without_a_word_document_is_answered_and_quarantined(desk):
    raw = desk.email(desk.lead, "Referral", attachments=[("scan.pdf", b"%PDF-1.4 fictional")])
    assert desk.handle(raw) == "quarantined"
    (reply,) = desk.outgoing("form-problem", to=desk.lead)
    assert "Word document" in text_of(reply)
    assert desk.outgoing("coordinator-alert", to=desk.coordinator)
    assert not desk.store.open_cases()


def test_a_damaged_form_gets_a_plain_reply_never_a_traceback(desk):
    raw = desk.email(desk.lead, "Referral", attachments=[("r.docx", b"PK\x03\x04 not really a zip")])
    assert desk.handle(raw) == "quarantined"
    (reply,) = desk.outgoing("form-problem", to=desk.lead)
    assert "Traceback" not in text_of(reply) and text_of(reply).strip()
    assert not desk.store.open_cases()


def test_siblings_on_one_form_get_lettered_codes(desk):
    desk.referral(desk.lead, "S04-siblings-table.docx")
    codes = sorted(c.code for c in desk.store.open_cases())
    assert len(codes) >= 2 and all(c.startswith("CN1") and c[-1].isalpha() for c in codes)
