"""The coordinator's view and steering commands: parsing (pure), the one help table, the store's part
(discard, purge, reprocess requests) and the texts. Every person here is fictional."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
from hypothesis import given, settings, strategies as st

from mailbot.casework import commands as C
from mailbot.casework import control as K
from mailbot.casework.command_help import HELP_TABLE, help_text
from mailbot.casework.commands import CommandError, parse_command_line, parse_commands


@pytest.mark.parametrize("line, expected", [
    ("STATUS", K.ShowStatus(line="STATUS")),
    ("status", K.ShowStatus(line="status")),
    ("- STATUS", K.ShowStatus(line="- STATUS")),
    ("CASE CN78", K.ShowCase("CN78", line="CASE CN78")),
    ("case cn-078", K.ShowCase("CN78", line="case cn-078")),
    ("CASE CN58B", K.ShowCase("CN58B", line="CASE CN58B")),
    ("LIST OPEN", K.ListOpen(line="LIST OPEN")),
    ("list open cases", K.ListOpen(line="list open cases")),
    ("OPEN CASES", K.ListOpen(line="OPEN CASES")),
    ("MEMBERS", K.ListMembers(line="MEMBERS")),
    ("LIST MEMBERS", K.ListMembers(line="LIST MEMBERS")),
    ("HELD", C.ListHeld(line="HELD")),
    ("RELEASE O7 the gate was down", K.ReleaseOutgoing(7, "the gate was down", line="RELEASE O7 the gate was down")),
    ("release o12 - checked", K.ReleaseOutgoing(12, "checked", line="release o12 - checked")),
    ("DISCARD O7", K.DiscardItem("O", 7, line="DISCARD O7")),
    ("DISCARD Q5", K.DiscardItem("Q", 5, line="DISCARD Q5")),
    ("REPROCESS Q5", K.Reprocess(5, line="REPROCESS Q5")),
    ("reprocess q-5", K.Reprocess(5, line="reprocess q-5")),
    # the held referral forms, read as before
    ("RELEASE H3 checked", C.ReleaseHeld(3, "checked", line="RELEASE H3 checked")),
    ("DISCARD H3", C.DiscardHeld(3, line="DISCARD H3")),
    ("DISCARD 3", C.DiscardHeld(3, line="DISCARD 3")),
])
def test_each_new_command_is_read(line, expected):
    assert parse_command_line(line) == expected


@pytest.mark.parametrize("line, says", [
    ("STATUS please", "STATUS takes nothing after it"),
    ("CASE", "The case code is missing"),
    ("CASE CN78 CN79", "Only the case code follows CASE"),
    ("LIST", "LIST OPEN"),
    ("LIST CLOSED", "LIST OPEN"),
    ("MEMBERS all", "MEMBERS takes nothing after it"),
    ("RELEASE O7", "Give a reason: RELEASE O7 <reason>"),
    ("RELEASE Q5 because", "REPROCESS Q5 handles it again"),
    ("RELEASE X9 reason", "needs the id of a held item"),
    ("RELEASE", "needs the id of a held item"),
    ("DISCARD O7 now", "Only the id follows DISCARD"),
    ("DISCARD", "needs the id of a held item"),
    ("DISCARD Z1", "needs the id of a held item"),
    ("REPROCESS", "needs the id of a quarantined email"),
    ("REPROCESS O7", "needs the id of a quarantined email"),
    ("REPROCESS H3", "needs the id of a quarantined email"),
    ("REPROCESS Q5 Q6", "Only the id follows REPROCESS"),
    ("REPROCESS 5", "needs the id of a quarantined email"),
])
def test_malformed_lines_get_a_plain_answer(line, says):
    got = parse_command_line(line)
    assert isinstance(got, CommandError), got
    assert says in got.message


def test_a_case_line_with_a_name_does_not_quote_the_name():
    got = parse_command_line("CASE Harvey Pemberton")
    assert isinstance(got, CommandError)
    assert "Harvey" not in C.display_line(got) and "Pemberton" not in got.message


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["STATUS", "CASE", "LIST", "MEMBERS", "RELEASE", "DISCARD", "REPROCESS", "HELD"]),
       st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12), max_size=4))
def test_the_parser_never_raises_and_answers_a_command_or_a_plain_error(keyword, words):
    line = " ".join([keyword, *words])
    for cmd in parse_commands(line):
        assert cmd is not None
        if isinstance(cmd, CommandError):
            assert cmd.message and "Traceback" not in cmd.message


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", min_size=2, max_size=15))
def test_case_never_quotes_back_a_word_that_is_not_a_code(word):
    got = parse_command_line(f"CASE {word}")
    assert isinstance(got, CommandError)
    assert word not in C.display_line(got).split()


def test_every_registered_command_has_a_row_of_the_help_table_and_each_example_reads_as_its_command():
    from mailbot.handlers.commands import COMMANDS, command_name

    parsed = [parse_command_line(row.example) for row in HELP_TABLE]
    assert not [p for p in parsed if isinstance(p, CommandError)], parsed
    assert set(COMMANDS) <= {type(p) for p in parsed}, set(COMMANDS) - {type(p) for p in parsed}
    for row, cmd in zip(HELP_TABLE, parsed):
        assert type(cmd) in COMMANDS, row  # no row for a command nobody runs
        assert command_name(cmd).split()[0] == row.syntax.split()[0]
    assert C.HELP_TEXT == help_text()


def test_mailbot_command_help_lists_every_command(capsys):
    from mailbot.cli import main
    from mailbot.handlers.commands import COMMANDS, command_name

    with pytest.raises(SystemExit) as done:
        main(["command", "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    for row in HELP_TABLE:
        assert row.syntax in out and row.description in out
    for row in HELP_TABLE:  # every registered command, by its name as rules/commands.toml knows it
        name = command_name(parse_command_line(row.example))
        assert all(word in out for word in name.split())
    assert len({type(parse_command_line(r.example)) for r in HELP_TABLE}) >= len(COMMANDS)


def test_read_only_commands_need_no_confirmation_and_the_others_always_do(tmp_path):
    from types import SimpleNamespace

    from mailbot.config import DEFAULT_RULES_DIR
    from mailbot.context import Context
    from mailbot.handlers.commands import needs_confirmation

    ctx = Context(cfg=SimpleNamespace(rules_dir=DEFAULT_RULES_DIR), store=None, templates=None, rules={})
    for line in ("STATUS", "CASE CN1", "LIST OPEN", "MEMBERS", "HELD"):
        assert not needs_confirmation(ctx, parse_command_line(line)), line
    empty = tmp_path / "rules"
    empty.mkdir()
    (empty / "commands.toml").write_text("[confirmation]\ncommands = []\n")
    ctx = Context(cfg=SimpleNamespace(rules_dir=empty), store=None, templates=None, rules={})
    for line in ("RELEASE O7 ok", "DISCARD O7", "DISCARD Q5", "REPROCESS Q5"):
        assert needs_confirmation(ctx, parse_command_line(line)), line


# -- the store's part -------------------------------------------------------------------------------

@pytest.fixture
def store(tmp_path):
    from mailbot.store import Store
    from mailbot.store.vault import Vault

    s = Store.open(tmp_path / "mailbot.db", Vault.load_or_create(tmp_path / "names.key"))
    yield s
    s.close()


def _held_item(store, mid: str, created: float) -> int:
    from mailbot.store import OutboxItem

    store.enqueue(OutboxItem(message_id=mid, kind="coded-referral", case_code="CN3", sender="bot@net.test",
                               recipients=["member@agency.test"], raw=b"Subject: x\r\n\r\nAbout Tobias Quennell"),
                  now=created)
    (item,) = [i for i in store.outbox_items() if i.message_id == mid]
    store.mark_held(item.id, "a protected name appears in the body")
    return item.id


def test_discard_and_purge_remove_the_held_bytes_and_the_digest_is_told(store):
    old = _held_item(store, "<old@net.test>", time.time() - 40 * 86400)
    new = _held_item(store, "<new@net.test>", time.time())
    form = store.add_held_form(["CN4"], "recall", "paragraph 2 of Section D", {"form": "x"},
                               now=time.time() - 40 * 86400)
    assert store.outbox_overview()["held"] == 2
    purged = store.purge_held(time.time() - 30 * 86400, 30)
    assert purged == [f"O{old} (coded-referral, CN3)", f"H{form} (CN4)"]
    assert store.get_outbox_item(old).raw == b"" and store.get_outbox_item(old).status == "failed"
    assert store.held_forms("held") == []
    assert store.purged_unreported() == purged
    counts = store.outbox_overview()
    assert counts["held"] == 1 and counts["discarded"] == 1 and counts["failed"] == 0
    assert store.purge_held(time.time() - 30 * 86400, 30) == []  # once
    assert store.discard_outgoing(new, "by the coordinator")
    assert not store.discard_outgoing(new, "again")
    assert [r["event"] for r in store.audit_rows() if r["event"] in ("discarded", "purged")] == \
        ["discarded", "purged", "discarded"]

    from mailbot.casework.digest import DigestSnapshot, build_digest

    _subject, text, page = build_digest(DigestSnapshot(held_purged=purged), datetime(2027, 1, 10, 7, 30))
    assert f"O{old} (coded-referral, CN3)" in text and f"H{form} (CN4)" in page


def test_a_reprocess_request_changes_the_outcome_and_a_missing_email_is_listed_again(store):
    store.record_message("k1", uidvalidity=1, uid=4, sender="x@y.test", kind="refused", outcome="quarantined",
                         reason="the sender is not in the member directory")
    (row,) = store.quarantined_messages()
    request = store.request_reprocess(row["rowid"])
    assert request["state"] == "pending" and store.get_message("k1")["outcome"] == "reprocess"
    assert store.quarantined_messages() == []
    store.set_reprocess_state("k1", "moving")
    assert store.reprocess_requests()["k1"]["state"] == "moving"
    store.finish_reprocess("k1", restore=True)
    assert store.get_message("k1")["outcome"] == "quarantined" and store.reprocess_requests() == {}


def test_contact_times_keep_the_last_success_and_the_failure_after_it(store):
    store.note_contact("imap", True, now=100.0)
    store.note_contact("imap", False, "connection refused", now=200.0)
    assert store.server_contacts()["imap"] == {"ok_at": 100.0, "error_at": 200.0, "error": "connection refused"}
    store.note_contact("imap", True, now=300.0)
    assert store.server_contacts()["imap"] == {"ok_at": 300.0}


def test_status_text_says_plainly_what_is_waiting():
    from mailbot.casework.status import Overview, ServerContact, build_status

    text = build_status(Overview(
        open_codes=["CN1", "CN2A"], outbox={"pending": 2, "sending": 0, "held": 1, "failed": 0, "discarded": 0,
                                            "sent": 9},
        held_outgoing=["O7"], quarantined=["Q3"],
        servers=[ServerContact("the outgoing mail server (SMTP)", datetime(2027, 1, 9, 8, 0),
                               datetime(2027, 1, 10, 8, 0), "connection refused")],
        next_digest=datetime(2027, 1, 11, 7, 30)))
    assert "Open cases: 2 (CN1, CN2A)" in text
    assert "Emails waiting to be sent: 2 (pending 2, sending 0); held 1" in text
    assert "1 outgoing email (O7); 1 quarantined email (Q3)" in text
    assert "failing since Sun 10/01/2027 08:00: connection refused" in text
    assert "Next digest: Mon 11/01/2027 07:30" in text
