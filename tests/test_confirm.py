"""Confirmation of coordinator commands: tokens, the rules, the registry, the store and the configuration.

(The end-to-end tests through Dovecot are in test_e2e_confirm.py.) Fictional names only.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest

from mailbot.casework import commands as C
from mailbot.casework.confirm import find_confirmation, load_confirm_rules, new_token, rule_covers, token_hash
from mailbot.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def test_tokens_are_random_128_bit_hex_and_only_their_hash_is_kept():
    tokens = {new_token() for _ in range(200)}
    assert len(tokens) == 200 and all(len(t) == 32 and int(t, 16) >= 0 for t in tokens)
    t = next(iter(tokens))
    assert token_hash(t) == token_hash(t.upper()) != t and len(token_hash(t)) == 64


@pytest.mark.parametrize("subject,body,expected", [
    ("Re: Please confirm your commands: CONFIRM 0123456789abcdef0123456789abcdef", "thanks", True),
    ("yes", "CONFIRM 0123456789ABCDEF0123456789ABCDEF\n", True),
    ("RE: fwd", "ok\n\n> CONFIRM 0123456789abcdef0123456789abcdef\n", True),
])
def test_a_token_is_found_in_the_subject_or_body(subject, body, expected):
    ok, token = find_confirmation(subject, body)
    assert ok and token == "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize("subject,body", [("confirm", "anything"), ("Re: CONFIRM 1234", ""),
                                          ("x", "CONFIRM\n"), ("x", "  confirm: abc\nEXIT CN1")])
def test_a_confirmation_without_a_good_token_is_still_a_confirmation(subject, body):
    assert find_confirmation(subject, body) == (True, None)


@pytest.mark.parametrize("subject,body", [("commands", "EXIT CN1 confirmed by the family\n"),
                                          ("commands", "MEMBER ADD Confirm Youth a@b.example\n"), ("", "")])
def test_commands_are_not_confirmations(subject, body):
    assert find_confirmation(subject, body) == (False, None)


def test_shipped_rules_and_prefixes():
    rules = load_confirm_rules(ROOT / "rules")
    assert "MEMBER" in rules and "SW" in rules and "RESEND MASTER LIST" in rules
    assert rule_covers("SW", "SW KNOWN OPEN WORKER") and rule_covers("MEMBER", "MEMBER ADD")
    assert not rule_covers("SW", "SWAP") and not rule_covers("EXIT", "HELP")


def test_damaged_rules_are_a_configuration_problem(tmp_path):
    (tmp_path / "commands.toml").write_text("[confirmation]\ncommands = 'EXIT'\n")
    with pytest.raises(ConfigError):
        load_confirm_rules(tmp_path)
    (tmp_path / "commands.toml").write_text("[confirmation\n")
    with pytest.raises(ConfigError):
        load_confirm_rules(tmp_path)
    (tmp_path / "commands.toml").unlink()
    assert "EXIT" in load_confirm_rules(tmp_path)  # no file: the shipped list


def _Ctx(rules_dir):
    """A Context with only a rules folder (what needs_confirmation reads)."""
    from mailbot.context import Context

    return Context(cfg=type("Cfg", (), {"rules_dir": rules_dir})(), store=None, templates=None, rules={})


def test_the_issue_list_is_confirmed_even_when_the_rules_list_nothing(tmp_path):
    from mailbot.handlers.commands import command_name, needs_confirmation

    (tmp_path / "commands.toml").write_text("[confirmation]\ncommands = []\n")
    ctx = _Ctx(tmp_path)
    always = ["MEMBER ADD Riverside a@riverside.example", "MEMBER REMOVE a@riverside.example",
              "MEMBER CHANGE a@riverside.example b@riverside.example", "RESEND MASTER LIST", "EXIT CN1 done",
              "HANDOVER CN1 TO Hebble Youth Service", 'SW CN1 known open worker "Aoife Test" 0871234567']
    for line in always:
        assert needs_confirmation(ctx, C.parse_command_line(line)), line
    for line in ["SW CN1 not-known", "DETAINED CN1", "RELEASED CN1", "HELP"]:
        assert not needs_confirmation(ctx, C.parse_command_line(line)), line
    assert command_name(C.parse_command_line("SW CN1 known open unallocated")) == "SW KNOWN OPEN UNALLOCATED"
    # the shipped rules confirm every state-changing command, only HELP is answered at once
    ctx = _Ctx(ROOT / "rules")
    for line in always + ["SW CN1 not-known", "SW CN1 known closed", "DETAINED CN1", "RELEASED CN1"]:
        assert needs_confirmation(ctx, C.parse_command_line(line)), line
    assert not needs_confirmation(ctx, C.parse_command_line("HELP"))


def test_register_a_further_confirmable_command(tmp_path):
    """How the held-form review's STRIP/RELEASE will be added: register the parsed type, list or force it."""
    from mailbot.handlers import commands as H

    @dataclass(frozen=True)
    class Strip:
        item: int
        line: str = ""

    ran = []
    H.register_command(Strip, lambda ctx, cmd, source: ran.append(cmd.item) or f"item {cmd.item} stripped.",
                       name="STRIP", always_confirm=True)
    try:
        (tmp_path / "commands.toml").write_text("[confirmation]\ncommands = []\n")
        ctx = _Ctx(tmp_path)
        assert H.needs_confirmation(ctx, Strip(3)) and H.command_name(Strip(3)) == "STRIP"
        assert H._carry_out(ctx, Strip(3), "test") == ("done: item 3 stripped.", True)
        assert ran == [3]
        H.register_command(Strip, lambda ctx, cmd, source: "x", name="STRIP")
        assert not H.needs_confirmation(ctx, Strip(3))
        (tmp_path / "other").mkdir()
        (tmp_path / "other" / "commands.toml").write_text("[confirmation]\ncommands = ['strip']\n")
        assert H.needs_confirmation(_Ctx(tmp_path / "other"), Strip(3))
    finally:
        H.COMMANDS.pop(Strip, None)

    @dataclass(frozen=True)
    class Unknown:
        line: str = ""

    assert H.needs_confirmation(_Ctx(tmp_path), Unknown())        # never registered: never runs
    assert H._carry_out(_Ctx(tmp_path), Unknown(), "t") == ("not done: not understood.", False)


def test_store_keeps_the_hash_and_encrypted_lines_and_a_request_is_finished_once(tmp_path):
    from mailbot.store import Store
    from mailbot.store.vault import Vault

    vault = Vault.load_or_create(tmp_path / "names.key")
    store = Store.open(tmp_path / "m.db", vault)
    token = new_token()
    line = "EXIT CN7 moved to adult services in Ballyvara"
    rid = store.add_pending_commands(token_hash=token_hash(token), coordinator="aine@network.example",
                                     lines=[line], summary="EXIT", source="k", expires_at=2e9, now=1e9)
    req = store.pending_commands(token_hash(token))
    assert req["lines"] == [line] and req["status"] == "pending" and req["coordinator"] == "aine@network.example"
    assert store.pending_commands(token_hash(new_token())) is None
    assert store.finish_pending_commands(rid, "done") is True
    assert store.finish_pending_commands(rid, "done") is False      # a token works once
    assert store.pending_commands(token_hash(token))["status"] == "done"
    store.close()
    for path in tmp_path.iterdir():
        data = path.read_bytes()
        assert token.encode() not in data and b"Ballyvara" not in data, path.name


def test_an_old_database_gets_the_new_tables(tmp_path):
    from mailbot.store import MIGRATIONS, Store
    from mailbot.store.vault import Vault

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    for statement in MIGRATIONS[0]:
        conn.execute(statement)
    conn.execute("INSERT INTO kv (name, value) VALUES ('x', '1')")
    conn.execute("PRAGMA user_version=1")
    conn.commit()
    conn.close()
    vault = Vault.load_or_create(tmp_path / "names.key")
    store = Store.open(path, vault)
    assert store.schema_version() == len(MIGRATIONS) and store.get_value("x") == "1"
    assert store.pending_command_requests(None) == [] and store.exit_reason("CN1") is None
    store.record_exit("CN1", reason="turned 19", closed_on="2027-01-10")
    assert store.exit_reason("CN1") == "turned 19"
    store.close()


@pytest.mark.parametrize("value,ok", [(24, True), (0.5, True), (720, True), (0, False), (-1, False),
                                      (721, False), ("24", False), (True, False)])
def test_confirmation_hours_is_validated(value, ok, tmp_path):
    from mailbot.config import parse_config

    raw = _raw_config(tmp_path)
    raw["commands"] = {"confirmation_hours": value}
    if ok:
        assert parse_config(raw, base=tmp_path).confirmation_hours == float(value)
    else:
        with pytest.raises(ConfigError, match="confirmation_hours"):
            parse_config(raw, base=tmp_path)


def test_confirmation_hours_defaults_to_24(tmp_path):
    from mailbot.config import parse_config

    assert parse_config(_raw_config(tmp_path), base=tmp_path).confirmation_hours == 24.0


def _raw_config(tmp_path) -> dict:
    pw = tmp_path / "ml"
    pw.write_text("correct-horse-battery")
    return {
        "network": {"name": "Thornfield Youth Network", "mailbox_address": "coordinator@network.example",
                    "coordinators": ["aine@network.example"]},
        "imap": {"host": "127.0.0.1", "tls": "none"},
        "smtp": {"host": "127.0.0.1", "tls": "none"},
        "paths": {"data_dir": str(tmp_path / "data")},
        "master_list": {"password_file": str(pw)},
        "members": [{"agency": "Hebble Youth Service", "contacts": ["youth.worker@hebble-ys.example.net"]}],
    }


def test_a_damaged_commands_toml_is_refused_when_the_configuration_is_read(tmp_path):
    from mailbot.config import parse_config

    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "commands.toml").write_text("[confirmation]\ncommands = [1, 2]\n")
    raw = _raw_config(tmp_path)
    raw["paths"]["rules_dir"] = str(rules)
    with pytest.raises(ConfigError, match="commands.toml"):
        parse_config(raw, base=tmp_path)
