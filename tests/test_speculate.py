"""Work ahead in a helper process during a backlog (mailbot.speculate).

The helper's answers are used only when made from exactly the inputs the pipeline has; otherwise,
or when the helper is slow or dead, the pipeline does the work itself. Every person is fictional.
"""

from __future__ import annotations

import concurrent.futures
import io
import os
import re
import signal
import time
import zipfile

import pytest

from conftest import ROOT, SAMPLES, run_bot_until_idle, truth_for
from mailbot import speculate
from people import relatives, young


def _docx_text(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return "\n".join(zf.read(n).decode("utf-8", "replace") for n in zf.namelist() if n.endswith(".xml"))


def _code_here(form: bytes, codes: list[str]) -> bytes:
    """What the pipeline itself would make of this form with these codes."""
    from mailbot.documents.coding import code_document
    from mailbot.documents.package import open_package
    from mailbot.documents.redaction_rules import field_protections, load_redaction_rules
    from mailbot.documents.referral import parse_referral

    pkg = open_package(form)
    data = parse_referral(pkg).to_json()
    extra = field_protections(young(data["young_people"]), load_redaction_rules(ROOT / "rules"))
    return code_document(open_package(form), young(data["young_people"]), relatives(data["family"]), codes,
                         extra=extra)


def _email(forms: list[tuple[str, bytes]]) -> bytes:
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"] = "referrer@agency.test"
    msg["To"] = "coordinator@net.test"
    msg["Subject"] = "Referral"
    msg["Message-ID"] = "<ahead-1@agency.test>"
    msg.set_content("Please find attached.")
    for name, data in forms:
        msg.add_attachment(data, maintype="application",
                           subtype="vnd.openxmlformats-officedocument.wordprocessingml.document", filename=name)
    return msg.as_bytes()


def test_work_ahead_codes_each_form_with_the_next_numbers_exactly_as_the_pipeline_would():
    s01, s04 = (SAMPLES / "S01-table.docx").read_bytes(), (SAMPLES / "S04-siblings-table.docx").read_bytes()
    minutes = (SAMPLES / "minutes-1.docx").read_bytes()
    email, coded = speculate.work_ahead(_email([("a.docx", s01), ("m.docx", minutes), ("b.docx", s04)]), 7,
                                        str(ROOT / "rules"), 10_000_000)
    assert [a.filename for a in email.attachments] == ["a.docx", "m.docx", "b.docx"]
    # minutes are not referrals: two forms coded, numbered 7 and 8 (siblings share theirs)
    assert [c.codes for c in coded] == [("CN7",), ("CN8A", "CN8B")]
    assert coded[0].coded == _code_here(s01, ["CN7"])
    assert coded[1].coded == _code_here(s04, ["CN8A", "CN8B"])
    # the count carries on to the next message of the run
    # the form as read, which intake takes instead of reading it again
    assert coded[1].reading.young_people[0].surname == truth_for(SAMPLES / "S04-siblings-table.docx")[
        "young_people"][0]["surname"]
    _, more = speculate.work_ahead(_email([("c.docx", s01)]), None, str(ROOT / "rules"), 10_000_000)
    assert [c.codes for c in more] == [("CN9",)]
    for token in truth_for(SAMPLES / "S04-siblings-table.docx")["protected_tokens"]:
        assert not re.search(rf"\b{re.escape(token.lower())}\b", _docx_text(coded[1].coded).lower()), token


def test_work_ahead_passes_over_a_form_it_cannot_read():
    email, coded = speculate.work_ahead(_email([("bad.docx", b"PK\x03\x04 not really a zip")]), 1,
                                        str(ROOT / "rules"), 10_000_000)
    assert len(email.attachments) == 1 and coded == []


# -- in the running bot, against the real mail server -------------------------------------------

@pytest.fixture
def helper_waited_for(monkeypatch):
    """Make the helper's answers ready before intake asks (in production intake never waits for it)."""
    started = []
    original = speculate.Ahead.run

    def run(self, raws, next_number):
        original(self, raws, next_number)
        if self._pool is not None:
            started.append(list(self._pool._processes))
            concurrent.futures.wait(list(self._jobs.values()), timeout=120)

    monkeypatch.setattr(speculate.Ahead, "run", run)
    return started


def _coded_subjects(server, address):
    return sorted(m["Subject"] for m in server.fetch_all(address) if m["X-Mailbot-Kind"] == "coded-referral")


@pytest.mark.mailserver
def test_a_backlog_is_coded_ahead_and_a_duplicate_shifting_the_numbers_falls_back(
        network, bot, mailserver, helper_waited_for):
    sender = network.members[0][1]
    forms = ["S01-table", "S02-paragraphs", "S03-content-controls", "S01-table",  # the same form again
             "S04-siblings-table", "S05-header-footer", "S06-split-runs"]
    for f in forms:
        network.send_referral(sender, SAMPLES / f"{f}.docx")

    run_bot_until_idle(bot)

    ahead = bot.ctx.ahead
    assert helper_waited_for, "a run of 7 messages starts the helper"
    assert ahead.emails_used == 7
    # The helper counted number 4 for the repeated form, which got none: what it had made for the
    # next messages (one number too high) is dropped, and it starts again from the store's number.
    assert ahead.forms_used == 6 and ahead.wasted >= 2
    member = network.members[3][1]
    assert _coded_subjects(mailserver, member) == [
        "[CN1] Coded referral", "[CN2] Coded referral", "[CN3] Coded referral",
        "[CN4A, CN4B] Coded referral", "[CN5] Coded referral", "[CN6] Coded referral"]
    dup = [m for m in mailserver.fetch_all(sender) if m["X-Mailbot-Kind"] == "duplicate-referral"]
    assert len(dup) == 1 and "CN1" in dup[0]["Subject"]
    # What members received is byte for byte what intake makes on its own, and names none
    for msg in mailserver.fetch_all(member):
        if msg["X-Mailbot-Kind"] != "coded-referral":
            continue
        (part,) = list(msg.iter_attachments())
        data = part.get_content()
        if msg["Subject"] == "[CN1] Coded referral":
            assert data == _code_here((SAMPLES / "S01-table.docx").read_bytes(), ["CN1"])
        if msg["Subject"] == "[CN5] Coded referral":
            assert data == _code_here((SAMPLES / "S05-header-footer.docx").read_bytes(), ["CN5"])
    text = "\n".join(_docx_text(p.get_content()).lower() for m in mailserver.fetch_all(member)
                     if m["X-Mailbot-Kind"] == "coded-referral" for p in m.iter_attachments())
    for f in set(forms):
        for token in truth_for(SAMPLES / f"{f}.docx")["protected_tokens"]:
            assert not re.search(rf"\b{re.escape(token.lower())}\b", text), (f, token)
    # The helper ends with the pass: an idle mailbot is one process
    assert ahead._pool is None
    (pids,) = helper_waited_for
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.05)
    assert not any(_alive(p) for p in pids)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie not yet reaped counts as gone
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


@pytest.mark.mailserver
def test_a_helper_killed_midway_changes_nothing_for_the_members(network, bot, mailserver, monkeypatch):
    original = speculate.Ahead.run

    def run_then_kill(self, raws, next_number):
        original(self, raws, next_number)
        first = next(iter(self._jobs.values()))
        concurrent.futures.wait([first], timeout=120)
        for pid in list(self._pool._processes):
            os.kill(pid, signal.SIGKILL)

    monkeypatch.setattr(speculate.Ahead, "run", run_then_kill)
    sender = network.members[1][1]
    forms = ["S02-paragraphs", "S03-content-controls", "S04-siblings-table", "S06-split-runs", "S07-possessives"]
    for f in forms:
        network.send_referral(sender, SAMPLES / f"{f}.docx")

    run_bot_until_idle(bot)

    assert bot.ctx.ahead.emails_used <= 1
    assert _coded_subjects(mailserver, network.members[2][1]) == [
        "[CN1] Coded referral", "[CN2] Coded referral", "[CN3A, CN3B] Coded referral",
        "[CN4] Coded referral", "[CN5] Coded referral"]
    assert mailserver.count(network.mailbox, "Processed") == 5
    assert bot.ctx.ahead._pool is None


@pytest.mark.mailserver
def test_a_few_messages_are_handled_without_starting_a_helper(network, bot, mailserver, monkeypatch):
    made = []

    class Counting(speculate.HelperProcess):
        def __init__(self, *a, **kw):
            made.append(1)
            super().__init__(*a, **kw)

    monkeypatch.setattr(speculate.ahead, "HelperProcess", Counting)
    sender = network.members[1][1]
    for f in ["S02-paragraphs", "S07-possessives"]:
        network.send_referral(sender, SAMPLES / f"{f}.docx")

    run_bot_until_idle(bot)

    assert made == [] and bot.ctx.ahead.emails_used == 0
    assert _coded_subjects(mailserver, network.members[2][1]) == ["[CN1] Coded referral", "[CN2] Coded referral"]


@pytest.mark.mailserver
def test_intake_going_past_a_slow_helper_restarts_it_from_the_exact_next_number(network, bot):
    import email as email_lib
    import email.policy
    import multiprocessing

    from mailbot.pipeline import process_message

    ahead = bot.ctx.ahead
    sender = network.members[0][1]
    names = ["S01-table", "S02-paragraphs", "S03-content-controls", "S04-siblings-table", "S05-header-footer",
             "S06-split-runs", "S07-possessives", "S08-ordinary-word-name"]
    raws = [network.received(network.email_with(sender, "Referral",
                                                attachments=[("referral.docx", (SAMPLES / f"{n}.docx").read_bytes())]))
            for n in names]
    # A helper busy with something else for a while: the three messages it is given wait behind it.
    ahead._pool = concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    ahead._pool.submit(time.sleep, 4)
    ahead.run(raws, bot.store.next_case_number)
    try:
        for raw in raws[:5]:  # intake does not wait for a helper that has not answered yet
            assert process_message(bot.ctx, raw) == "processed"
        assert ahead.emails_used == 0 and ahead.wasted == 3
        concurrent.futures.wait(list(ahead._stale), timeout=120)  # it did the first three, in vain
        assert ahead._answering
        for raw in raws[5:]:  # the sixth still here; then the helper gets the next ones
            assert process_message(bot.ctx, raw) == "processed"
        # Given the seventh message with the store's next number (7), not the count it carried from
        # the first three (4): both documents it coded are used.
        assert ahead.emails_used == 2 and ahead.forms_used == 2
    finally:
        ahead.stop()
    codes = [c.code for c in bot.store.open_cases()]
    assert codes == ["CN1", "CN2", "CN3", "CN4A", "CN4B", "CN5", "CN6", "CN7", "CN8"]
    coded = {item.case_code: item for item in bot.store.outbox_items() if item.kind == "coded-referral"}
    msg = email_lib.message_from_bytes(coded["CN7"].raw, policy=email.policy.default)
    (part,) = list(msg.iter_attachments())
    assert part.get_content() == _code_here((SAMPLES / "S07-possessives.docx").read_bytes(), ["CN7"])
