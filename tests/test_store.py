"""Store: SQLite durability, counters, outbox queue, and no names at rest. Names are fictional."""

from __future__ import annotations

import sqlite3
import threading
from datetime import date

import pytest

from mailbot.store import MIGRATIONS, Case, OutboxItem, Store, StoreError
from mailbot.store.vault import Vault
from people import record

NAMES = ["Aoife Brennan", "Saoirse Ní Mhurchú", "Tadhg Ó Ceallaigh", "Dervla McGonigle"]


@pytest.fixture
def vault(tmp_path):
    return Vault.load_or_create(tmp_path / "vault.key")


@pytest.fixture
def store(tmp_path, vault):
    s = Store.open(tmp_path / "mailbot.db", vault)
    yield s
    s.close()


def mail(mid, code="CN1", to=("member@agency.example",)):
    return OutboxItem(message_id=mid, kind="coded-referral", case_code=code, sender="coord@network.example",
                        recipients=list(to), raw=b"Message-ID: " + mid.encode() + b"\r\n\r\nbody\r\n",
                        rule="all-members-except-sw", reason="case not known to Social Work")


def test_wal_and_migrations_idempotent(tmp_path, vault):
    path = tmp_path / "m.db"
    s = Store.open(path, vault)
    assert s.schema_version() == len(MIGRATIONS)
    assert s._conn().execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert s._conn().execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    s.set_value("x", "1")
    assert s.migrate() == len(MIGRATIONS)
    s.close()
    s = Store.open(path, vault)  # reopen: nothing re-applied, data kept
    assert s.schema_version() == len(MIGRATIONS) and s.get_value("x") == "1"
    s.close()
    assert (path.stat().st_mode & 0o077) == 0


def test_counter_never_reuses_numbers_across_reopen(tmp_path, vault):
    path = tmp_path / "c.db"
    s = Store.open(path, vault, first_case_number=78)
    with pytest.raises(RuntimeError):
        s.allocate_case_number()  # outside a transaction
    with s.transaction():
        n1 = s.allocate_case_number()
    with pytest.raises(ZeroDivisionError):
        with s.transaction():
            s.allocate_case_number()
            1 / 0  # rolled back: the number was never handed out
    with s.transaction():
        n2 = s.allocate_case_number()
        s.add_case(Case(code=f"CN{n2}", number=n2, person=record({"name": NAMES[0]})))
    s.close()
    s = Store.open(path, vault, first_case_number=78)
    with s.transaction():
        n3 = s.allocate_case_number()
    assert (n1, n2, n3) == (78, 79, 80)
    s.close()
    s = Store.open(path, vault, first_case_number=100)  # raised later: jumps, never goes back
    with s.transaction():
        assert s.allocate_case_number() == 100
    s.close()


def test_counter_is_unique_across_threads(store):
    got, lock = [], threading.Lock()

    def worker():
        for _ in range(20):
            with store.transaction():
                n = store.allocate_case_number()
            with lock:
                got.append(n)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == list(range(1, 81))


def test_nested_transaction_joins_and_rolls_back_inner(store):
    with store.transaction():
        store.set_value("a", "1")
        with pytest.raises(ValueError):
            with store.transaction():
                store.set_value("b", "1")
                raise ValueError
        store.set_value("c", "1")
    assert (store.get_value("a"), store.get_value("b"), store.get_value("c")) == ("1", None, "1")


def test_cases_round_trip_and_identity_lookup(store, vault):
    person = {"name": NAMES[1], "first_name": "Saoirse", "surname": "Ní Mhurchú", "known_as": ["Sersh"],
              "date_of_birth": "2011-02-03"}
    ident = vault.identity(NAMES[1], "2011-02-03")
    store.add_case(Case(code="CN58A", number=58, letter="A", lead_agency="Youth Service",
                        lead_contact="lead@youth.example", referred_on=date(2026, 1, 5), identity=ident,
                        person=record(person), source_message_key="msg-1", sw_known=True, sw_open=False,
                        sw_worker={"name": "Worker Fictional", "phone": "01 000"}))
    store.add_case(Case(code="CN58B", number=58, letter="B", person=record({"name": NAMES[2]}), source_message_key="msg-1"))
    with pytest.raises(StoreError):
        store.add_case(Case(code="CN58B", number=58, letter="B"))
    c = store.get_case("CN58A")
    assert c.person == record(person) and c.referred_on == "2026-01-05" and c.sw_known is True and c.sw_open is False
    assert c.sw_worker["name"] == "Worker Fictional"
    assert store.find_case_by_identity(vault.identity("SAOIRSE NI MHURCHU", "2011-02-03")).code == "CN58A"
    assert store.find_case_by_identity(vault.identity(NAMES[1], "2011-02-04")) is None
    assert [x.code for x in store.cases_for_message("msg-1")] == ["CN58A", "CN58B"]
    store.update_case("CN58A", status="closed", closed_on=date(2026, 6, 1), person=record({**person, "known_as": []}))
    assert [x.code for x in store.open_cases()] == ["CN58B"]
    assert store.find_case_by_identity(ident).status == "closed"  # closed cases are still found
    assert {p.name for p in store.protected_names()} == {NAMES[1], NAMES[2]}
    with pytest.raises(ValueError):
        store.update_case("CN58A", nickname="x")
    with pytest.raises(StoreError):
        store.update_case("CN999", status="open")


def test_no_clear_name_in_database_files(tmp_path, vault):
    path = tmp_path / "n.db"
    s = Store.open(path, vault)
    for i, name in enumerate(NAMES, start=1):
        first, surname = name.split(" ", 1)
        s.add_case(Case(code=f"CN{i}", number=i, identity=vault.identity(name, "2010-01-01"),
                        person=record({"name": name, "first_name": first, "surname": surname, "family": ["Mam " + surname]})))
    s.update_case("CN1", person=record({"name": NAMES[0], "known_as": ["Effie"]}))
    raw = b""
    for suffix in ("", "-wal", "-shm"):
        p = path.with_name(path.name + suffix)
        if p.exists():
            raw += p.read_bytes()
    assert len(raw) > 4096
    s.close()
    raw += path.read_bytes()  # after checkpoint too
    folded = raw.lower()
    for name in NAMES + ["Effie"]:
        for part in name.split():
            if len(part) < 4:
                continue
            for form in (part, part.casefold(), part.upper()):
                for enc in ("utf-8", "utf-16-le"):
                    assert form.encode(enc) not in raw
                    assert form.casefold().encode(enc) not in folded


def test_corrupted_file_gives_one_line_store_error(tmp_path, vault):
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not a database at all" * 200)
    before = bad.read_bytes()
    with pytest.raises(StoreError) as exc:
        Store.open(bad, vault)
    msg = str(exc.value)
    assert "damaged" in msg and "restore it from backup" in msg and "\n" not in msg
    assert bad.read_bytes() == before  # nothing was changed

    good = tmp_path / "good.db"
    s = Store.open(good, vault)
    for i in range(200):
        s.set_value(f"k{i}", "v" * 200)
    s.close()
    data = bytearray(good.read_bytes())
    data[4096:8192] = b"\xff" * 4096  # smash a page
    good.write_bytes(bytes(data))
    with pytest.raises(StoreError) as exc:
        Store.open(good, vault)
    assert "damaged" in str(exc.value) and "\n" not in str(exc.value)


def test_newer_schema_refused(tmp_path, vault):
    path = tmp_path / "new.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version=99")
    conn.close()
    with pytest.raises(StoreError, match="newer mailbot"):
        Store.open(path, vault)


def test_enqueue_idempotent_and_audited(store):
    assert store.enqueue(mail("<1@n>"), now=100.0) is True
    changed = mail("<1@n>", to=("someone-else@agency.example",))
    assert store.enqueue(changed, now=200.0) is False
    items = store.outbox_items()
    assert len(items) == 1 and items[0].recipients == ["member@agency.example"] and items[0].created_at == 100.0
    rows = store.audit_rows()
    assert len(rows) == 1
    assert rows[0]["event"] == "queued" and rows[0]["message_id"] == "<1@n>" and rows[0]["case_code"] == "CN1"
    assert rows[0]["recipients"] == ["member@agency.example"] and rows[0]["rule"] == "all-members-except-sw"
    with pytest.raises(ValueError):
        store.enqueue(mail("<2@n>", to=()))


def test_due_ordering_backoff_and_status_changes(store):
    for i in range(1, 5):
        store.enqueue(mail(f"<{i}@n>"), now=100.0 + i)
    assert store.due(100.0) == []
    assert [i.message_id for i in store.due(110.0)] == ["<1@n>", "<2@n>", "<3@n>", "<4@n>"]
    assert [i.message_id for i in store.due(110.0, limit=2)] == ["<1@n>", "<2@n>"]
    first, second, third, fourth = store.due(110.0)
    store.mark_sending(first.id)
    store.mark_retry(first.id, "451 try later", 150.0)
    store.mark_sending(second.id)
    store.mark_sent(second.id, now=111.0)
    store.mark_failed(third.id, "550 no such user")
    store.mark_held(fourth.id, "leak check: body")
    assert store.due(120.0) == []
    again = store.due(150.0)
    assert [i.message_id for i in again] == ["<1@n>"] and again[0].attempts == 1
    assert again[0].last_error == "451 try later"
    assert store.next_due_time() == 150.0
    assert store.outbox_counts() == {"pending": 1, "sending": 0, "sent": 1, "failed": 1, "held": 1}
    assert [i.message_id for i in store.outbox_items("sent")] == ["<2@n>"]
    assert store.get_outbox_item(second.id).delivered == ["member@agency.example"]
    events = [(r["event"], r["message_id"]) for r in store.audit_rows()]
    assert ("sent", "<2@n>") in events and ("failed", "<3@n>") in events and ("held", "<4@n>") in events


def test_partial_delivery_keeps_only_remaining(store):
    m = mail("<p@n>", to=("a@x.example", "b@x.example", "c@x.example"))
    store.enqueue(m, now=1.0)
    (item,) = store.due(2.0)
    store.mark_partial(item.id, ["a@x.example"], ["b@x.example", "c@x.example"], "451", 5.0)
    (again,) = store.due(5.0)
    assert again.recipients == ["b@x.example", "c@x.example"] and again.delivered == ["a@x.example"]
    store.mark_sent(again.id, now=6.0)
    assert store.get_outbox_item(item.id).delivered == ["a@x.example", "b@x.example", "c@x.example"]


def test_recover_in_flight(tmp_path, vault):
    path = tmp_path / "r.db"
    s = Store.open(path, vault)
    s.enqueue(mail("<r@n>"), now=1.0)
    (item,) = s.due(2.0)
    s.mark_sending(item.id)
    assert s.due(2.0) == []
    s.close()  # "crash" while sending
    s = Store.open(path, vault)
    assert s.outbox_counts()["sending"] == 1
    assert s.recover_in_flight() == 1
    assert [i.message_id for i in s.due(2.0)] == ["<r@n>"]
    assert s.recover_in_flight() == 0
    s.close()


def test_messages_imap_state_kv_master_list(store):
    assert store.get_message("k1") is None
    store.record_message("k1", uidvalidity=7, uid=3, sender="agency@example.org", kind="referral",
                         outcome="processed", case_codes=["CN1", "CN2"])
    m = store.get_message("k1")
    assert m["outcome"] == "processed" and m["case_codes"] == ["CN1", "CN2"] and m["uid"] == 3
    store.record_message("k1", uidvalidity=7, uid=3, sender="agency@example.org", kind="referral",
                         outcome="refused", reason="bad-document")
    assert store.get_message("k1")["outcome"] == "refused"

    assert store.get(7) == 0
    store.set(7, 5)
    store.set(7, 4)  # never goes backwards
    store.uid_state().set(8, 1)
    assert (store.get(7), store.uid_state().get(8)) == (5, 1)

    assert store.master_list_dirty() is False
    store.mark_master_list_dirty()
    assert store.master_list_dirty() is True
    with store.transaction():
        v1 = store.next_master_list_version()
        store.clear_master_list_dirty()
    assert (v1, store.next_master_list_version(), store.master_list_dirty()) == (1, 2, False)

    store.set_value("smtp_outage_alerted", "1")
    assert store.get_value("smtp_outage_alerted") == "1"
    store.set_value("smtp_outage_alerted", None)
    assert store.get_value("smtp_outage_alerted", "0") == "0"


def test_other_thread_sees_committed_data(store):
    store.enqueue(mail("<t@n>"), now=1.0)
    seen = []
    t = threading.Thread(target=lambda: seen.append(store.outbox_counts()["pending"]))
    t.start()
    t.join()
    assert seen == [1]


def test_database_in_use_is_a_clear_one_liner(tmp_path, vault, monkeypatch):
    import mailbot.store.database as store_module

    monkeypatch.setattr(store_module, "BUSY_TIMEOUT_MS", 200)
    path = tmp_path / "busy.db"
    Store.open(path, vault).close()
    other = sqlite3.connect(path)
    other.execute("PRAGMA locking_mode=EXCLUSIVE")
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError) as exc:
            Store.open(path, vault)
        assert "in use" in str(exc.value) and "damaged" not in str(exc.value)
    finally:
        other.rollback()
        other.close()


def test_a_version_1_database_is_migrated_keeping_its_messages(tmp_path, vault):
    """Issue 11 items 10, 11: the content fingerprint column and the attempts table are added to an
    existing database; messages recorded before keep no fingerprint (taken as the same email)."""
    import sqlite3

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in MIGRATIONS[0]:
        conn.execute(statement)
    conn.execute("PRAGMA user_version=1")
    conn.execute("INSERT INTO messages (key, sender, kind, outcome) VALUES ('k1', 'a@b.test', 'referral', 'accepted')")
    conn.close()
    s = Store.open(path, vault)
    try:
        assert s.schema_version() == len(MIGRATIONS)
        assert s.get_message("k1")["content_hash"] is None
        assert [s.begin_attempt("f") for _ in range(3)] == [1, 2, 3]
        with s.transaction():
            s.clear_attempts("f")
        assert s.attempts("f") == 0
        s.record_message("k1", uidvalidity=1, uid=2, sender="a@b.test", kind="referral", outcome="accepted",
                         content_hash="abc")
        assert s.get_message("k1")["content_hash"] == "abc"
    finally:
        s.close()
