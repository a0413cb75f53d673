"""Operations (issue 13 item 7): backup while mailbot writes, restore, key rotation killed at every step,
the Master List export, and a daemon that boots while its mail servers are down.

Every person here is fictional.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailbot.casework.master_list import WorkbookPasswordError, decrypt_workbook
from mailbot.errors import ConfigError
from mailbot.sandbox.network import MASTER_LIST_PASSWORD, _to_toml
from mailbot.store import Case, OutboxItem, Store
from mailbot.store import maintenance
from mailbot.store.vault import Vault
from people import record

ROOT = Path(__file__).resolve().parent.parent

PEOPLE = [
    ("CN1", {"name": "Orla Fenwick-Daly", "first_name": "Orla", "surname": "Fenwick-Daly", "known_as": ["Orlie"],
             "other_surnames": [], "date_of_birth": "2011-04-02", "family": ["Brendan Daly"]}),
    ("CN2A", {"name": "Tadhg Ó Murchú", "first_name": "Tadhg", "surname": "Ó Murchú", "known_as": [],
              "other_surnames": ["Murphy"], "date_of_birth": "2012-07-19", "family": []}),
    ("CN2B", {"name": "Saoirse Ó Murchú", "first_name": "Saoirse", "surname": "Ó Murchú", "known_as": [],
              "other_surnames": [], "date_of_birth": "2014-01-30", "family": []}),
]
WORKER = {"name": "Aoife Test", "phone": "087 123 4567", "email": "aoife.test@hse.example"}
HELD_RAW = b"Subject: held\r\n\r\nA held message that names Orla Fenwick-Daly.\r\n"
CONFIRM_RAW = b"Subject: confirm\r\n\r\nCONFIRM 0123456789abcdef0123456789abcdef\r\n"


def write_config(tmp: Path, data_dir: Path | None = None, *, extra: dict | None = None) -> Path:
    """A configuration for operations that never reach a mail server (nothing listens on port 9)."""
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "mail-password").write_text("secret")
    (tmp / "ml-password").write_text(MASTER_LIST_PASSWORD)
    raw = {
        "network": {"name": "Thornfield Youth Network", "timezone": "Europe/Dublin",
                    "mailbox_address": "coordinator@network.test", "coordinators": ["aine@network.test"]},
        "imap": {"host": "127.0.0.1", "port": 9, "tls": "none", "username": "coordinator@network.test",
                 "password_file": str(tmp / "mail-password")},
        "smtp": {"host": "127.0.0.1", "port": 9, "tls": "none"},
        "paths": {"data_dir": str(data_dir or tmp / "data")},
        "master_list": {"password_file": str(tmp / "ml-password")},
        "members": [{"agency": "Marsden Vale Children's Services", "contacts": ["priya@mv.example.net"]},
                    {"agency": "Lisnavar Social Work Team", "contacts": ["sw@lisnavar-sw.ie"],
                     "social_work": True}],
    }
    for k, v in (extra or {}).items():
        raw.setdefault(k, {}).update(v)
    path = tmp / "config.toml"
    path.write_text(_to_toml(raw), encoding="utf-8")
    return path


def populate(data_dir: Path) -> dict:
    """A store with something sealed in every sealed column: people, a worker, a pending command, a held form,
    a held outbox item and a sealed confirmation request."""
    data_dir.mkdir(parents=True, exist_ok=True)
    vault = Vault.load_or_create(data_dir / "names.key")
    with Store.open(data_dir / "mailbot.db", vault) as store:
        for i, (code, person) in enumerate(PEOPLE):
            number = int(code[2:].rstrip("AB"))
            store.add_case(Case(code=code, number=number, letter=code[2 + len(str(number)):],
                                lead_agency="Marsden Vale Children's Services", lead_contact="priya@mv.example.net",
                                referred_on="2026-11-23", identity=vault.identity(person["name"], person["date_of_birth"]),
                                person=record(person), sw_worker=WORKER if i == 0 else None))
        store.add_pending_commands(token_hash="ab" * 32, coordinator="aine@network.test",
                                   lines=["SW CN1 known open worker \"Aoife Test\""], summary="1 command",
                                   source="test", expires_at=time.time() + 3600)
        hold = store.add_held_form(["CN3"], "looks like a name", "Concerns, paragraph 2",
                                   {"form": "UEsDBA==", "sender": "priya@mv.example.net", "note": "Orla"})
        for mid, raw in (("<held@t>", HELD_RAW), ("<confirm@t>", CONFIRM_RAW)):
            store.enqueue(OutboxItem(message_id=mid, kind="test", case_code="CN1", sender="coordinator@network.test",
                                       recipients=["priya@mv.example.net"], raw=raw))
        store.mark_held(store.outbox_items("pending")[0].id, "test")
        store.seal_outgoing("<confirm@t>")
    return {"hold": hold}


def assert_every_name_readable(data_dir: Path, hold: int) -> bytes:
    """Every sealed value opens with the one key in the folder; the blind index fits that key. Returns the key."""
    names = sorted(p.name for p in data_dir.iterdir() if p.name.startswith("names.key") or ".names.key" in p.name)
    assert names == ["names.key"], names
    vault = maintenance.load_vault(data_dir / "names.key")
    with Store.open(data_dir / "mailbot.db", vault) as store:
        cases = {c.code: c for c in store.all_cases()}
        assert sorted(cases) == sorted(code for code, _ in PEOPLE)
        for code, person in PEOPLE:
            assert cases[code].person == record(person)
            assert store.find_case_by_identity(vault.identity(person["name"], person["date_of_birth"])).code == code
        assert cases["CN1"].sw_worker == WORKER
        assert store.pending_commands("ab" * 32)["lines"] == ["SW CN1 known open worker \"Aoife Test\""]
        assert store.held_form(hold)[1]["note"] == "Orla"
        raws = {i.message_id: i.raw for i in store.outbox_items()}
        assert raws == {"<held@t>": HELD_RAW, "<confirm@t>": CONFIRM_RAW}
    return maintenance.read_key(data_dir / "names.key")


def cli(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mailbot.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """One populated data folder, copied by each test that changes it."""
    base = tmp_path_factory.mktemp("prepared")
    info = populate(base / "data")
    return base / "data", info


def copy_of(prepared, tmp_path: Path) -> tuple[Path, Path, int]:
    src, info = prepared
    data = tmp_path / "data"
    shutil.copytree(src, data)
    return write_config(tmp_path, data), data, info["hold"]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- backup ---------------------------------------------------------------------------------------------------

def test_backup_while_mailbot_writes_is_consistent_and_complete(tmp_path, prepared):
    cfg_path, data, hold = copy_of(prepared, tmp_path)
    vault = maintenance.load_vault(data / "names.key")
    stop = threading.Event()
    written = [0]

    def writer():  # a second connection committing cases (sealed names) as fast as it can, as intake does
        with Store.open(data / "mailbot.db", vault) as store:
            n = 100
            while not stop.is_set():
                n += 1
                with store.transaction():
                    store.add_case(Case(code=f"CN{n}", number=n, person=record({"name": f"Child Number{n}",
                                                                         "date_of_birth": "2012-01-01"})))
                    store.set_value("written", n - 100)
                written[0] = n - 100

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while written[0] < 20:
            time.sleep(0.01)
        results = []
        for i in range(3):
            before = written[0]
            out = cli("backup", "-c", str(cfg_path), str(tmp_path / f"backup{i}"))
            assert out.returncode == 0, out.stderr
            results.append((before, tmp_path / f"backup{i}"))
    finally:
        stop.set()
        thread.join()
    assert written[0] > results[-1][0]  # the writer really wrote during the backups
    for before, dest in results:
        assert mode(dest) == 0o700
        for name in ("mailbot.db", "names.key", "manifest.json"):
            assert mode(dest / name) == 0o600, name
        manifest = json.loads((dest / "manifest.json").read_text())
        assert manifest["schema_version"] == Store.open(data / "mailbot.db", vault).schema_version()
        assert manifest["database"]["sha256"] == hashlib.sha256((dest / "mailbot.db").read_bytes()).hexdigest()
        assert manifest["key"]["sha256"] == hashlib.sha256((dest / "names.key").read_bytes()).hexdigest()
        assert not Path(str(dest / "mailbot.db") + "-wal").exists()  # one self-contained file
        copy = tmp_path / f"open-{dest.name}"
        copy.mkdir()
        shutil.copy(dest / "mailbot.db", copy / "mailbot.db")
        with Store.open(copy / "mailbot.db", maintenance.load_vault(dest / "names.key")) as store:
            n = int(store.get_value("written"))
            cases = store.all_cases()
            assert n >= before  # every row committed before the backup started is in it
            assert len(cases) == len(PEOPLE) + n  # and no half of a transaction
            assert all(c.person.name for c in cases)  # every name opens with the backed-up key
            assert manifest["rows"]["cases"] == len(cases)


def test_backup_refuses_a_used_folder_and_can_put_the_key_apart(tmp_path, prepared):
    cfg_path, data, _ = copy_of(prepared, tmp_path)
    keys = tmp_path / "usb" / "names.key"
    out = cli("backup", "-c", str(cfg_path), str(tmp_path / "b"), "--key-out", str(keys))
    assert out.returncode == 0, out.stderr
    assert not (tmp_path / "b" / "names.key").exists() and mode(keys) == 0o600
    again = cli("backup", "-c", str(cfg_path), str(tmp_path / "b"))
    assert again.returncode == 1 and "already exists" in again.stderr and "Traceback" not in again.stderr


# -- restore --------------------------------------------------------------------------------------------------

def test_restore_round_trip_and_refusals(tmp_path, prepared):
    from mailbot.store.lock import take_lock as _take_lock
    from mailbot.operations import restore

    cfg_path, data, hold = copy_of(prepared, tmp_path)
    original_key = maintenance.read_key(data / "names.key")
    assert cli("backup", "-c", str(cfg_path), str(tmp_path / "b")).returncode == 0
    # afterwards the live database changes and its key is rotated
    with Store.open(data / "mailbot.db", maintenance.load_vault(data / "names.key")) as store:
        store.add_case(Case(code="CN9", number=9, person=record({"name": "Later Child"})))
    assert cli("rotate-key", "-c", str(cfg_path)).returncode == 0
    assert maintenance.read_key(data / "names.key") != original_key

    lock = _take_lock(data / "mailbot.lock")  # a running daemon holds it
    try:
        with pytest.raises(ConfigError, match="mailbot is running"):
            restore(cfg_path, tmp_path / "b")
    finally:
        lock.close()

    out = cli("restore", "-c", str(cfg_path), str(tmp_path / "b"))
    assert out.returncode == 0, out.stderr
    assert "key was replaced" in out.stdout
    assert assert_every_name_readable(data, hold) == original_key  # the backup's state, with its own key
    kept = [p for p in data.iterdir() if p.name.startswith("before-restore-")]
    assert len(kept) == 1 and mode(kept[0]) == 0o700
    with Store.open(kept[0] / "mailbot.db", maintenance.load_vault(kept[0] / "names.key")) as store:
        assert store.get_case("CN9").person.name == "Later Child"  # the replaced state is kept, readable

    # a damaged backup, or a key that is not the backup's, is refused and changes nothing
    shutil.copytree(tmp_path / "b", tmp_path / "bad")
    with open(tmp_path / "bad" / "mailbot.db", "r+b") as fh:
        fh.seek(200)
        fh.write(b"\x00garbage")
    out = cli("restore", "-c", str(cfg_path), str(tmp_path / "bad"))
    assert out.returncode == 1 and "does not match its manifest" in out.stderr
    other = tmp_path / "other.key"
    maintenance.write_private(other, maintenance.key_file_text(os.urandom(32)))
    out = cli("restore", "-c", str(cfg_path), str(tmp_path / "b"), "--key", str(other))
    assert out.returncode == 1 and "not the one this backup was taken with" in out.stderr
    assert "Traceback" not in out.stderr
    assert assert_every_name_readable(data, hold) == original_key


@pytest.mark.parametrize("point", ["restore-key-staged", "restore-db-replaced"])
def test_restore_killed_midway_ends_in_one_readable_state(tmp_path, prepared, point):
    from mailbot.daemon import Bot
    from mailbot.config import load_config

    cfg_path, data, hold = copy_of(prepared, tmp_path)
    assert cli("backup", "-c", str(cfg_path), str(tmp_path / "b")).returncode == 0
    backup_key = maintenance.read_key(data / "names.key")
    assert cli("rotate-key", "-c", str(cfg_path)).returncode == 0
    rotated = maintenance.read_key(data / "names.key")
    out = cli("restore", "-c", str(cfg_path), str(tmp_path / "b"), env={maintenance.CRASH_ENV: point})
    assert out.returncode == -signal.SIGKILL
    Bot(load_config(cfg_path), work_ahead=False).close()  # mailbot starting again finishes or undoes it
    key = assert_every_name_readable(data, hold)
    assert key == (rotated if point == "restore-key-staged" else backup_key)


# -- key rotation ---------------------------------------------------------------------------------------------

CRASH_POINTS = ["new-key-written", "rows-half-done", "before-commit", "db-committed", "old-key-kept", "key-swapped"]


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_rotate_key_killed_at_each_step_leaves_every_name_readable(tmp_path, prepared, point):
    from mailbot.config import load_config
    from mailbot.daemon import Bot

    cfg_path, data, hold = copy_of(prepared, tmp_path)
    before = maintenance.read_key(data / "names.key")
    out = cli("rotate-key", "-c", str(cfg_path), env={maintenance.CRASH_ENV: point})
    assert out.returncode == -signal.SIGKILL, out.stderr
    # the restart: mailbot itself, as systemd would start it again
    bot = Bot(load_config(cfg_path), work_ahead=False)
    try:
        assert bot.store.get_case("CN1").person.name == "Orla Fenwick-Daly"
    finally:
        bot.close()
    key = assert_every_name_readable(data, hold)
    committed = CRASH_POINTS.index(point) >= CRASH_POINTS.index("db-committed")
    assert (key != before) == committed
    # and a rotation run again after the crash completes
    out = cli("rotate-key", "-c", str(cfg_path))
    assert out.returncode == 0, out.stderr
    assert "re-encrypted" in out.stdout and "Orla" not in out.stdout
    assert assert_every_name_readable(data, hold) not in (before, key)


def test_rotate_key_refuses_while_mailbot_runs_and_with_the_wrong_key(tmp_path, prepared):
    from mailbot.store.lock import take_lock as _take_lock
    from mailbot.operations import rotate_key

    cfg_path, data, hold = copy_of(prepared, tmp_path)
    lock = _take_lock(data / "mailbot.lock")
    try:
        with pytest.raises(ConfigError, match="stop it first"):
            rotate_key(cfg_path)
    finally:
        lock.close()
    good = maintenance.read_key(data / "names.key")
    maintenance.write_private(data / "names.key", maintenance.key_file_text(os.urandom(32)))
    out = cli("rotate-key", "-c", str(cfg_path))
    assert out.returncode == 1 and "does not open the database" in out.stderr
    maintenance.write_private(data / "names.key", maintenance.key_file_text(good))
    assert assert_every_name_readable(data, hold) == good


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(st.text(st.characters(codec="utf-8", categories=("L", "Zs", "Pd")), min_size=1, max_size=30),
                      min_size=1, max_size=4))
def test_rotation_keeps_any_name_and_its_duplicate_check(tmp_path_factory, names):
    data = tmp_path_factory.mktemp("rot")
    vault = Vault.load_or_create(data / "names.key")
    with Store.open(data / "mailbot.db", vault) as store:
        for i, name in enumerate(names, 1):
            store.add_case(Case(code=f"CN{i}", number=i, identity=vault.identity(name, "2012-02-02"),
                                person=record({"name": name, "date_of_birth": "2012-02-02"})))
    report = maintenance.rotate_key(data / "names.key", data / "mailbot.db")
    assert report.sealed == {"cases": len(names)}
    new = maintenance.load_vault(data / "names.key")
    with Store.open(data / "mailbot.db", new) as store:
        for i, name in enumerate(names, 1):
            assert store.get_case(f"CN{i}").person.name == name
            assert store.find_case_by_identity(new.identity(name, "2012-02-02")) is not None
        assert store.find_case_by_identity(vault.identity(names[0], "2012-02-02")) is None


# -- export ---------------------------------------------------------------------------------------------------

def test_export_master_list_is_encrypted_and_lists_the_open_cases(tmp_path, prepared):
    import openpyxl

    cfg_path, data, _ = copy_of(prepared, tmp_path)
    with Store.open(data / "mailbot.db", maintenance.load_vault(data / "names.key")) as store:
        store.update_case("CN2B", status="closed")
    out_file = tmp_path / "master.xlsx"
    out = cli("export-master-list", "-c", str(cfg_path), "--out", str(out_file))
    assert out.returncode == 0, out.stderr
    assert "CN1, CN2A" in out.stdout and "Orla" not in out.stdout
    data_bytes = out_file.read_bytes()
    assert data_bytes[:8] == bytes.fromhex("D0CF11E0A1B11AE1") and mode(out_file) == 0o600  # Office encryption
    with pytest.raises(WorkbookPasswordError):
        decrypt_workbook(data_bytes, "not-the-password")
    wb = openpyxl.load_workbook(io.BytesIO(decrypt_workbook(data_bytes, MASTER_LIST_PASSWORD)))
    cells = [str(c.value) for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.value is not None]
    assert "CN1" in cells and "CN2A" in cells and "CN2B" not in cells
    assert "Orla Fenwick-Daly" in cells
    again = cli("export-master-list", "-c", str(cfg_path), "--out", str(out_file))
    assert again.returncode == 3 and "already exists" in again.stderr


# -- boot while the mail servers are down -----------------------------------------------------------------------

@pytest.mark.mailserver
def test_mailbot_starts_and_queues_with_the_servers_down_then_delivers(private_mailserver, tmp_path):
    from conftest import SAMPLES
    from mailbot.sandbox.network import TestNetwork

    server = private_mailserver
    net = TestNetwork(server, tmp_path, extra={"imap": {"backoff_max": 0.5},
                                               "smtp": {"retry_base_seconds": 0.2, "retry_max_seconds": 0.5}})
    cfg_path = net.write_config()
    data = net.config.data_dir
    data.mkdir(parents=True)
    vault = Vault.load_or_create(net.config.key_file)
    with Store.open(net.config.store_path, vault) as store:
        store.add_case(Case(code="CN7", number=7, lead_agency=net.members[0][0], lead_contact=net.members[0][1],
                            referred_on="2026-11-23", person=record({"name": "Orla Fenwick-Daly"})))
    server.stop_smtp()
    server.stop_imap()
    # mail queued before the start (as `mailbot command` queues it beside the daemon), with both servers down
    first = cli("command", "-c", str(cfg_path), "RESEND MASTER LIST")
    assert first.returncode == 0, first.stderr
    proc = subprocess.Popen([sys.executable, "-m", "mailbot.cli", "run", "-c", str(cfg_path)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        time.sleep(1.5)
        assert proc.poll() is None, proc.stderr.read()  # it did not exit with both servers unreachable
        queued = cli("command", "-c", str(cfg_path), "RESEND MASTER LIST")  # and more queued during the outage
        assert queued.returncode == 0, queued.stderr
        time.sleep(0.3)
        assert proc.poll() is None
        with Store.open(net.config.store_path, vault) as store:
            waiting = store.outbox_items("pending")
            lists = [i for i in waiting if i.kind == "master-list"]
            # every member, Social Work, the coordinator: the newer list; the older one still waiting was
            # superseded by it (never sent: issue 13 item 1)
            assert len(lists) == len(net.members) + 2
            superseded = [i for i in store.outbox_items("superseded") if i.kind == "master-list"]
            assert len(superseded) == len(net.members) + 2
        deadline = time.monotonic() + 15  # the outbox tries the newer list, fails, keeps it
        while time.monotonic() < deadline:
            with Store.open(net.config.store_path, vault) as store:
                if any("cannot reach the mail server" in i.last_error for i in store.outbox_items("pending")):
                    break
            time.sleep(0.3)
        else:
            pytest.fail("the outbox did not try the queued Master List while the server was down")
        server.start_imap()
        server.start_smtp()
        member = net.members[3][1]
        lists = [m for m in server.wait_for(member, 1, timeout=20) if m["X-Mailbot-Kind"] == "master-list"]
        assert len(lists) == 1
        # and the inbox is watched again: a referral sent now is coded and delivered
        net.send_referral(net.members[0][1], SAMPLES / "S01-table.docx")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if any(m["X-Mailbot-Kind"] == "coded-referral" for m in server.fetch_all(member)):
                break
            time.sleep(0.2)
        else:
            pytest.fail("the coded referral did not arrive after the servers came back")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            _out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            _out, err = proc.communicate()
    assert proc.returncode == 0, err[-2000:]
    assert "Traceback" not in err
    assert "IMAP connection" in err and "refused" in err  # a warning, and it kept trying
    assert "Orla" not in err and "Fenwick" not in err
