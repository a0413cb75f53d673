"""Members' inboxes, the pure parts and the store (issue 13): change lines, threading headers, List-Id,
the Master List window's configuration, superseding in the outbox. Names are fictional."""

from __future__ import annotations

import copy
import email
import email.policy
import re
import sqlite3

import pytest
from hypothesis import given, settings, strategies as st

from mailbot.casework.list_changes import KINDS, change_line, group_codes, keep_line
from mailbot.config import parse_config
from mailbot.errors import ConfigError
from mailbot.mail.compose import (MAX_REFERENCES, Rendered, build_message, list_id_value, msg_id_token,
                                  thread_headers)
from mailbot.store import MIGRATIONS, OutboxItem, Store
from mailbot.store.vault import Vault

# -- the change line ---------------------------------------------------------------------------------

def test_change_line_groups_siblings_and_orders_kinds():
    changes = [("CN82B", "added"), ("CN64", "closed"), ("CN81", "added"), ("CN82A", "added"), ("CN81", "added"),
               ("CN70", "lead"), ("", "updated")]
    assert change_line(changes) == "added CN81, CN82A/B; closed CN64; new lead agency CN70; updated"
    assert change_line([]) == ""
    assert group_codes(["CN9", "CN10", "CN9A", "CN9B", "CN100C"]) == ["CN9", "CN9A/B", "CN10", "CN100C"]


def _expand(line: str) -> dict[str, set[str]]:
    """The change line read back: kind words -> codes (CN82A/B -> CN82A, CN82B)."""
    words = {w: k for k, w in KINDS}
    out: dict[str, set[str]] = {}
    for part in line.split("; "):
        for w in sorted(words, key=len, reverse=True):
            if part == w or part.startswith(w + " "):
                codes = set()
                for token in part[len(w):].strip().split(", ") if part != w else []:
                    m = re.fullmatch(r"CN(\d+)([A-Z](?:/[A-Z])*)?", token)
                    assert m, token
                    letters = (m.group(2) or "").split("/")
                    codes |= {f"CN{m.group(1)}{x}" for x in letters}
                out[words[w]] = codes
                break
        else:
            raise AssertionError(part)
    return out


codes = st.builds(lambda n, letter: f"CN{n}{letter}", st.integers(1, 400), st.sampled_from(["", "A", "B", "C"]))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(codes, st.sampled_from([k for k, _ in KINDS] + ["something-new"])), max_size=30))
def test_change_line_names_every_change_once_and_nothing_else(changes):
    line = change_line(changes)
    want: dict[str, set[str]] = {}
    for code, kind in changes:
        want.setdefault(kind if kind in dict(KINDS) else "updated", set()).add(code)
    assert (line == "") == (not changes)
    if changes:
        assert _expand(line) == want
        assert re.fullmatch(r"[a-zA-Z ;,/0-9]+", line)  # codes and fixed words only


def test_keep_line():
    assert keep_line(0) == "" and "keep only this one" in keep_line(1) and "latest 3 versions" in keep_line(3)


# -- threading headers -------------------------------------------------------------------------------

def test_reply_ids_get_angle_brackets_and_the_chain_is_kept():
    head = dict(thread_headers("abc@agency.example", ["<root@x.example>", "mid@y.example"]))
    assert head["In-Reply-To"] == "<abc@agency.example>"
    assert head["References"].split() == ["<root@x.example>", "<mid@y.example>", "<abc@agency.example>"]
    assert thread_headers("", ["<root@x.example>"]) == [] and thread_headers("no id here", []) == []
    assert msg_id_token("<a b@c>") is None and msg_id_token("<a@b>") == "<a@b>"


msg_ids = st.builds(lambda a, b: f"{a}@{b}.example", st.text("AZaz09.$%_+-", min_size=1, max_size=30),
                    st.text("abcz09-", min_size=1, max_size=12))


@settings(max_examples=80, deadline=None)
@given(msg_ids, st.lists(msg_ids, max_size=40), st.booleans())
def test_a_client_reads_the_thread_back(parent, refs, brackets):
    given_refs = [f"<{r}>" if brackets else r for r in refs]
    raw = build_message(sender="c@net.example", sender_name="Net", to=["m@agency.example"],
                        rendered=Rendered("Re: x", "Hello.\n", "<p>Hello.</p>"), msg_id="<me@net.example>",
                        kind="command-reply", in_reply_to=parent, references=given_refs)
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    irt = " ".join(str(msg["In-Reply-To"]).split())
    chain = re.findall(r"<([^<>]+)>", " ".join(str(msg["References"]).split()))
    assert irt == f"<{parent}>"
    expected = list(dict.fromkeys(r for r in refs if r != parent)) + [parent]
    if len(expected) > MAX_REFERENCES:
        expected = expected[:1] + expected[-(MAX_REFERENCES - 1):]
    assert chain == expected
    assert all(len(line) <= 78 for line in raw.split(b"\n\n", 1)[0].split(b"\n") if line.startswith((b"References", b" <")))


def test_list_id_and_reply_to_headers():
    assert list_id_value("Thornfield Youth Network", "", "network.test") == \
        '"Thornfield Youth Network" <thornfield-youth-network.network.test>'
    assert list_id_value("Líonra Óige", "members.lionra.example", "x.test").endswith("<members.lionra.example>")
    raw = build_message(sender="c@net.example", sender_name="Net", to=["m@agency.example"],
                        rendered=Rendered("[CN1] Meeting", "Hello.\n", "<p>Hello.</p>"), msg_id="<me@net.example>",
                        kind="meeting-notice", reply_to="sam.lead@youth.example",
                        list_id=list_id_value("Net", "", "net.example"))
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Reply-To"] == "sam.lead@youth.example" and msg["List-Id"] == '"Net" <net.net.example>'
    with pytest.raises(ValueError):
        build_message(sender="c@net.example", sender_name="Net", to=["m@agency.example"],
                      rendered=Rendered("x", "y\n", "<p>y</p>"), msg_id="<me@net.example>", kind="k",
                      reply_to="a@b.example\nBcc: evil@x.example")


# -- configuration -----------------------------------------------------------------------------------

@pytest.fixture
def base(tmp_path):
    (tmp_path / "pw").write_text("a-long-password")
    return {
        "network": {"name": "Test Network", "mailbox_address": "coord@net.example", "coordinators": ["c@net.example"]},
        "imap": {"host": "127.0.0.1", "port": 1, "tls": "none"},
        "smtp": {"host": "127.0.0.1", "port": 2, "tls": "none"},
        "paths": {"data_dir": str(tmp_path / "data")},
        "master_list": {"password_file": str(tmp_path / "pw")},
        "members": [{"agency": "A School", "contacts": ["a@school.example"]}],
    }


def test_master_list_window_and_list_id_configuration(base):
    cfg = parse_config(copy.deepcopy(base))
    assert (cfg.master_list_interval_minutes, cfg.master_list_keep_copies, cfg.list_id) == (60.0, 1, "")
    data = copy.deepcopy(base)
    data["master_list"].update(interval_minutes=0, keep_copies=3)
    data["network"]["list_id"] = "Members.Net.Example"
    cfg = parse_config(data)
    assert (cfg.master_list_interval_minutes, cfg.master_list_keep_copies, cfg.list_id) == (0.0, 3, "members.net.example")
    for section, key, value, words in [("master_list", "interval_minutes", -1, "interval_minutes"),
                                       ("master_list", "interval_minutes", "hourly", "interval_minutes"),
                                       ("master_list", "keep_copies", 1.5, "keep_copies"),
                                       ("master_list", "keep_copies", True, "keep_copies"),
                                       ("network", "list_id", "not a domain", "list_id")]:
        data = copy.deepcopy(base)
        data[section][key] = value
        with pytest.raises(ConfigError, match=words):
            parse_config(data)


# -- the store: superseding is atomic and final ------------------------------------------------------

@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path / "mailbot.db", Vault.load_or_create(tmp_path / "vault.key"))
    yield s
    s.close()


def _ml(mid: str, version: int) -> OutboxItem:
    return OutboxItem(message_id=mid, kind="master-list", case_code=None, sender="c@net.example",
                        recipients=["m@agency.example"], raw=b"Message-ID: " + mid.encode() + b"\r\n\r\nx\r\n",
                        rule="master_list", reason=f"all members [Master List version {version}]")


def test_a_superseded_item_is_never_sent_nor_brought_back(store):
    store.enqueue(_ml("<v1@n>", 1), now=1.0)
    item, = store.due(10.0)
    with store.transaction():
        store.enqueue(_ml("<v2@n>", 2), now=2.0)
        assert store.supersede("master-list", "superseded by version 2") == 2  # v1, and v2 as queued here
    assert store.mark_sending(item.id) is False  # read as due before, superseded since: not sent
    store.mark_retry(item.id, "timeout", 0.0)
    assert store.get_outbox_item(item.id).status == "superseded"
    assert [i.message_id for i in store.due(10.0)] == []  # v2 was superseded too (same kind, not yet sent)


def test_superseding_rolls_back_with_the_build(store):
    store.enqueue(_ml("<v1@n>", 1), now=1.0)
    store.mark_master_list_dirty(["CN1"], "added")
    with pytest.raises(RuntimeError):
        with store.transaction():
            version = store.next_master_list_version()
            store.take_master_list_changes(version)
            store.supersede("master-list", "superseded")
            raise RuntimeError("crash between building and queueing")
    assert store.outbox_items("pending")[0].message_id == "<v1@n>"
    assert store.master_list_changes() == [("CN1", "added")] and store.get_value("master_list_version") is None


def test_migration_keeps_the_outbox_and_allows_superseded(tmp_path):
    db = tmp_path / "old.db"
    conn = sqlite3.connect(db)
    for version, statements in enumerate(MIGRATIONS[:-1], 1):
        for s in statements:
            s(conn) if callable(s) else conn.execute(s)
    conn.execute("INSERT INTO outbox (message_id, kind, sender, recipients, raw, status, next_try, created_at) "
                 "VALUES ('<old@n>', 'master-list', 'c@n', '[\"m@a\"]', x'00', 'pending', 1, 1)")
    conn.execute(f"PRAGMA user_version={len(MIGRATIONS) - 1}")
    conn.commit()
    conn.close()
    s = Store.open(db, Vault.load_or_create(tmp_path / "k"))
    try:
        assert s.schema_version() == len(MIGRATIONS)
        assert [i.message_id for i in s.outbox_items("pending")] == ["<old@n>"]
        with s.transaction():
            assert s.supersede("master-list", "newer") == 1
        assert s.outbox_counts()["superseded"] == 1
        assert s._conn().execute("SELECT name FROM sqlite_master WHERE name = 'outbox_due'").fetchone()
    finally:
        s.close()
