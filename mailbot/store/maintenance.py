"""Operations on the store and its key: backup, restore, key rotation, and the check that a key opens a database.

Everything sealed with the vault key is listed once, in :func:`sealed_fields`: a new encrypted column must be
added there, or rotation and the checks would miss it.

Key files in the data folder (``names.key`` is the configured key file):

- ``names.key``: the key in use. It is never missing: it is only ever replaced by an atomic rename.
- ``names.key.new``: a key waiting to be put in place (a rotation or a restore under way).
- ``names.key.old``: the previous key, kept until the new one is in place.

After a crash at any point, :func:`recover_key_files` (run by ``mailbot run`` at start, and by
``rotate-key``/``restore``) looks at which key opens the database: the database records the key it was last
sealed with (``kv.vault_key_check``, a keyed hash that reveals nothing), and where it has no record every
sealed row is tried. The key that opens it ends as ``names.key``, the other one is removed: one key, every
row readable.

Nothing here logs or prints a name: messages carry table names, row numbers and counts.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import shutil
import signal
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from mailbot.errors import ConfigError
from mailbot.store.database import BUSY_TIMEOUT_MS, Store
from mailbot.store.records import _HELD_CONTEXT, _HELD_PREFIX, StoreError
from mailbot.store.schema import MIGRATIONS
from mailbot.store.vault import _KEY_HEADER, Vault, VaultError

log = logging.getLogger("mailbot.maintenance")

KEY_CHECK = "vault_key_check"          # kv: fingerprint of the key the database is sealed with
BACKUP_FORMAT = "mailbot-backup-1"
MANIFEST = "manifest.json"
BACKUP_DB = "mailbot.db"
BACKUP_KEY = "names.key"

#: test hook: ``MAILBOT_CRASH_AT=<point>`` kills the process (SIGKILL) at that point of a rotation or restore
CRASH_ENV = "MAILBOT_CRASH_AT"


def _crash_point(name: str) -> None:
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


class MaintenanceError(StoreError):
    """A backup, restore or rotation that cannot go ahead (one plain line)."""


# -- key files -------------------------------------------------------------------------------------------

def read_key(path: Path) -> bytes:
    """The 32-byte master key of a key file (its mode checked as when mailbot starts)."""
    return Vault._read_key_file(Path(path))


def load_vault(path: Path) -> Vault:
    """The vault of an existing key file (never creates one, unlike Vault.load_or_create)."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"The mailbot key file {path} does not exist.")
    return Vault(read_key(path))


def fingerprint(vault: Vault) -> str:
    """A keyed hash that tells keys apart and reveals nothing of the key (the blind index of a fixed text)."""
    return vault.identity("mailbot vault key check")[:32]


def new_key_path(key_path: Path) -> Path:
    return Path(key_path).with_name(Path(key_path).name + ".new")


def old_key_path(key_path: Path) -> Path:
    return Path(key_path).with_name(Path(key_path).name + ".old")


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - a platform without directory fsync
        pass
    finally:
        os.close(fd)


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` (mode 0600 whatever the umask) through a temporary file and an atomic rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def key_file_text(master: bytes) -> bytes:
    return (_KEY_HEADER + base64.b64encode(master).decode("ascii") + "\n").encode("ascii")


def _remove(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _put_new_key_in_place(key_path: Path) -> None:
    """names.key.new becomes names.key; the previous key is kept as names.key.old until then, then removed.

    names.key exists at every instant (os.replace is atomic), so a crash never leaves mailbot to create a
    fresh key beside a sealed database."""
    new, old = new_key_path(key_path), old_key_path(key_path)
    _remove(old)
    os.link(key_path, old)
    _fsync_dir(key_path.parent)
    _crash_point("old-key-kept")
    os.replace(new, key_path)
    _fsync_dir(key_path.parent)
    _crash_point("key-swapped")
    _remove(old)
    _fsync_dir(key_path.parent)


def rotation_pending(key_path: Path) -> bool:
    return new_key_path(key_path).exists() or old_key_path(key_path).exists()


def refuse_if_rotation_pending(key_path: Path) -> None:
    """For what runs beside the daemon without its lock (mailbot command, backup)."""
    if rotation_pending(key_path):
        raise ConfigError("A key rotation or restore was interrupted; start mailbot (or run `mailbot rotate-key` "
                          "again) to finish it first.")


# -- what is sealed ----------------------------------------------------------------------------------------

@dataclass
class Sealed:
    table: str
    key_column: str
    key: object
    column: str
    blob: bytes
    context: bytes
    prefix: bytes = b""        # kept in front of the ciphertext (a sealed outbox item)
    person_of: str | None = None  # cases.person_enc: the case code (its blind index is recomputed)


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def sealed_fields(conn: sqlite3.Connection) -> Iterator[Sealed]:
    """Every value sealed with the vault key, with the context it was sealed under (see the Store's parts)."""
    tables = _tables(conn)
    person_ctx = lambda code: b"person:" + code.encode("utf-8")  # noqa: E731 - as CasesMixin._person_ctx
    sw_ctx = lambda code: b"sw_worker:" + code.encode("utf-8")  # noqa: E731 - as CasesMixin._sw_ctx
    if "cases" in tables:
        for code, person, worker in conn.execute("SELECT code, person_enc, sw_worker_enc FROM cases ORDER BY code"):
            if person is not None:
                yield Sealed("cases", "code", code, "person_enc", bytes(person), person_ctx(code), person_of=code)
            if worker is not None:
                yield Sealed("cases", "code", code, "sw_worker_enc", bytes(worker), sw_ctx(code))
    if "pending_commands" in tables:
        for rid, token_hash, enc in conn.execute(
                "SELECT id, token_hash, commands_enc FROM pending_commands ORDER BY id"):
            if enc is not None and len(enc):
                yield Sealed("pending_commands", "id", rid, "commands_enc", bytes(enc),
                             Store._PENDING_CTX + b":" + token_hash.encode())
    if "held_forms" in tables:
        for rid, enc in conn.execute("SELECT id, sealed FROM held_forms WHERE length(sealed) > 0 ORDER BY id"):
            yield Sealed("held_forms", "id", rid, "sealed", bytes(enc), Store._HELD_FORM_CONTEXT)
    if "consent_holds" in tables:
        from mailbot.store.consent import _CONSENT_HOLD_CTX

        for rid, enc in conn.execute("SELECT id, sealed FROM consent_holds WHERE length(sealed) > 0 ORDER BY id"):
            yield Sealed("consent_holds", "id", rid, "sealed", bytes(enc), _CONSENT_HOLD_CTX)
    if "outbox" in tables:
        n = len(_HELD_PREFIX)
        for rid, raw in conn.execute("SELECT id, raw FROM outbox WHERE substr(raw, 1, ?) = ? ORDER BY id",
                                     (n, _HELD_PREFIX)):
            yield Sealed("outbox", "id", rid, "raw", bytes(raw)[n:], _HELD_CONTEXT, prefix=_HELD_PREFIX)


def _kv(conn: sqlite3.Connection, name: str) -> str | None:
    if "kv" not in _tables(conn):
        return None
    row = conn.execute("SELECT value FROM kv WHERE name = ?", (name,)).fetchone()
    return None if row is None else row[0]


def check_key_opens(conn: sqlite3.Connection, vault: Vault) -> dict[str, int]:
    """Decrypt every sealed value with ``vault``; the number per table. Raises VaultError naming the first
    table and row that does not open (no content)."""
    counts: dict[str, int] = {}
    for item in sealed_fields(conn):
        try:
            vault.decrypt(item.blob, item.context)
        except VaultError:
            raise VaultError(f"The key does not open the database: {item.table} {item.key_column} {item.key} "
                             f"({item.column}) cannot be decrypted with it.") from None
        counts[item.table] = counts.get(item.table, 0) + 1
    return counts


def key_fits(conn: sqlite3.Connection, vault: Vault) -> bool:
    """Whether ``vault`` is the key this database is sealed with (its record of the key, else every row tried)."""
    recorded = _kv(conn, KEY_CHECK)
    if recorded:
        return recorded == fingerprint(vault)
    try:
        check_key_opens(conn, vault)
    except VaultError:
        return False
    return True


def row_counts(conn: sqlite3.Connection) -> dict[str, int]:
    return {t: conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0]
            for t in sorted(_tables(conn)) if not t.startswith("sqlite_")}


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    return conn


def _integrity(conn: sqlite3.Connection, what: str) -> int:
    """quick_check and the schema version (refused when newer than this mailbot)."""
    try:
        check = [r[0] for r in conn.execute("PRAGMA quick_check").fetchall()]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise MaintenanceError(f"{what} is not a readable mailbot database ({' '.join(str(exc).split())}).") from None
    if check != ["ok"]:
        raise MaintenanceError(f"{what} is damaged (integrity check: {check[0][:120]}).")
    if version > len(MIGRATIONS):
        raise MaintenanceError(f"{what} was written by a newer mailbot (schema {version}); upgrade mailbot first.")
    return int(version)


# -- recovery after a crash -----------------------------------------------------------------------------------

def recover_key_files(key_path: Path, db_path: Path) -> str | None:
    """Finish or undo an interrupted rotation or restore (the caller holds the daemon's lock).

    Returns what was done (a line for the log), or None when there was nothing to do."""
    key_path, db_path = Path(key_path), Path(db_path)
    new, old = new_key_path(key_path), old_key_path(key_path)
    for leftover in key_path.parent.glob(f".{key_path.name}*.tmp"):  # a key file half written
        _remove(leftover)
    if not new.exists() and not old.exists():
        return None
    if not key_path.exists():  # not by our hand (we never remove it); the kept key is the one to use
        os.replace(old if old.exists() else new, key_path)
        _fsync_dir(key_path.parent)
    current = load_vault(key_path)
    conn = _connect(db_path) if db_path.exists() else None
    try:
        if new.exists():
            candidate = load_vault(new)
            if conn is not None and key_fits(conn, candidate) and not key_fits(conn, current):
                _put_new_key_in_place(key_path)
                return "an interrupted key change was finished: the new key is in place"
            _remove(new)
            _fsync_dir(key_path.parent)
            done = "an interrupted key change had not reached the database: the new key was discarded"
        else:
            done = "the previous key, kept during a key change, was removed"
        if old.exists():
            previous = load_vault(old)
            if conn is not None and key_fits(conn, previous) and not key_fits(conn, current):  # pragma: no cover
                os.replace(old, key_path)  # cannot happen in our order of steps; never lose the key that opens it
                done = "the key that opens the database was put back"
            else:
                _remove(old)
            _fsync_dir(key_path.parent)
        return done
    finally:
        if conn is not None:
            conn.close()


# -- key rotation ---------------------------------------------------------------------------------------------

@dataclass
class RotationReport:
    sealed: dict[str, int] = field(default_factory=dict)
    identities: int = 0
    seconds: float = 0.0


def rotate_key(key_path: Path, db_path: Path, *, new_master: bytes | None = None) -> RotationReport:
    """Re-encrypt every sealed value (and recompute the blind index) with a new key; the caller holds the lock.

    1. the new key is written beside the old one as names.key.new (0600, fsync);
    2. one transaction re-seals every value, recomputes every case's blind index and records the new key's
       fingerprint (all or nothing);
    3. names.key.new replaces names.key (the old one kept as names.key.old until then, then removed).
    A crash anywhere is finished or undone by recover_key_files()."""
    key_path, db_path = Path(key_path), Path(db_path)
    started = time.monotonic()
    recover_key_files(key_path, db_path)
    old = load_vault(key_path)
    if not db_path.exists():
        raise MaintenanceError(f"There is no mailbot database at {db_path}.")
    master = new_master if new_master is not None else os.urandom(32)
    new = Vault(master)
    report = RotationReport()
    conn = _connect(db_path)
    try:
        _integrity(conn, f"The mailbot database at {db_path}")
        if not key_fits(conn, old):
            raise VaultError(f"The key file {key_path} does not open the database at {db_path}; nothing was changed.")
        write_private(new_key_path(key_path), key_file_text(master))
        _crash_point("new-key-written")
        conn.execute("PRAGMA secure_delete=ON")  # the old ciphertexts' pages are zeroed
        conn.execute("BEGIN IMMEDIATE")
        try:
            items = list(sealed_fields(conn))
            for i, item in enumerate(items):
                plain = old.decrypt(item.blob, item.context)
                conn.execute(f'UPDATE "{item.table}" SET "{item.column}" = ? WHERE "{item.key_column}" = ?',
                             (item.prefix + new.encrypt(plain, item.context), item.key))
                report.sealed[item.table] = report.sealed.get(item.table, 0) + 1
                if item.person_of is not None:
                    person = json.loads(plain.decode("utf-8")) or {}
                    if person.get("name"):
                        conn.execute("UPDATE cases SET identity = ? WHERE code = ? AND identity != ''",
                                     (new.identity(person["name"], person.get("date_of_birth")), item.person_of))
                        report.identities += 1
                if i == len(items) // 2:
                    _crash_point("rows-half-done")
            conn.execute("INSERT INTO kv (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET "
                         "value = excluded.value", (KEY_CHECK, fingerprint(new)))
            # the Store's cache of decrypted names is keyed on people_version: a new one after the re-seal
            conn.execute("INSERT INTO kv (name, value) VALUES ('people_version', ?) ON CONFLICT(name) DO UPDATE "
                         "SET value = excluded.value", (os.urandom(16).hex(),))
            _crash_point("before-commit")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            _remove(new_key_path(key_path))
            raise
        _crash_point("db-committed")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the old ciphertexts leave the WAL too
    finally:
        conn.close()
    _put_new_key_in_place(key_path)
    report.seconds = time.monotonic() - started
    return report


# -- backup -----------------------------------------------------------------------------------------------------

def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class BackupReport:
    dest: Path
    db: Path
    key: Path
    manifest: Path
    schema_version: int
    rows: dict[str, int]
    sealed: dict[str, int]
    seconds: float


def backup(db_path: Path, key_path: Path, dest: Path, *, key_out: Path | None = None,
           now: float | None = None) -> BackupReport:
    """A consistent copy of the live database (SQLite's online backup: safe while mailbot writes), the key
    file beside it or at ``key_out``, and a manifest; every file 0600, the folder 0700.

    The copy is checked before it is kept: integrity, and every sealed value opens with the copied key."""
    started = time.monotonic()
    db_path, key_path, dest = Path(db_path), Path(key_path), Path(dest)
    refuse_if_rotation_pending(key_path)
    if not db_path.exists():
        raise MaintenanceError(f"There is no mailbot database at {db_path}.")
    key_bytes = key_path.read_bytes() if key_path.exists() else b""
    vault = load_vault(key_path)
    dest.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(dest, 0o700)
    target = dest / BACKUP_DB
    key_target = Path(key_out) if key_out else dest / BACKUP_KEY
    for existing in (target, key_target, dest / MANIFEST):
        if existing.exists():
            raise MaintenanceError(f"{existing} already exists; choose an empty folder for the backup.")
    tmp = dest / f".{BACKUP_DB}.{os.getpid()}.tmp"
    _remove(tmp)
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        src = _connect(db_path)
        dst = sqlite3.connect(tmp, isolation_level=None)
        try:
            src.backup(dst)  # all pages in one step: one read transaction, so one consistent state
        finally:
            src.close()
        try:
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            version = _integrity(dst, "The copy of the database")
            sealed = check_key_opens(dst, vault)
            rows = row_counts(dst)
        finally:
            dst.close()
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
        _fsync_dir(dest)
    except BaseException:
        _remove(tmp)
        raise
    key_target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_private(key_target, key_bytes)
    manifest = {
        "format": BACKUP_FORMAT,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if now is None else now)),
        "schema_version": version,
        "mailbot_version": _version(),
        "database": {"file": BACKUP_DB, "sha256": sha256_file(target), "bytes": target.stat().st_size},
        "key": {"file": str(key_target) if key_out else BACKUP_KEY, "sha256": hashlib.sha256(key_bytes).hexdigest(),
                "check": fingerprint(vault)},
        "rows": rows,
        "sealed": sealed,
    }
    write_private(dest / MANIFEST, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8"))
    return BackupReport(dest, target, key_target, dest / MANIFEST, version, rows, sealed,
                        time.monotonic() - started)


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("mailbot")
    except Exception:  # pragma: no cover - not installed
        return "unknown"


# -- restore -----------------------------------------------------------------------------------------------------

@dataclass
class RestoreReport:
    db: Path
    schema_version: int
    rows: dict[str, int]
    key_changed: bool
    kept: Path | None
    created: str


def read_backup(src: Path, *, key_file: Path | None = None) -> tuple[dict, Path, Path]:
    """The manifest, database and key file of a backup folder, checked against the manifest's sha256."""
    src = Path(src)
    try:
        manifest = json.loads((src / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise MaintenanceError(f"{src} is not a mailbot backup (no readable {MANIFEST}).") from None
    if manifest.get("format") != BACKUP_FORMAT:
        raise MaintenanceError(f"{src / MANIFEST} is not a manifest of a mailbot backup.")
    db = src / manifest["database"]["file"]
    if not db.is_file():
        raise MaintenanceError(f"The backup's database {db} is missing.")
    if sha256_file(db) != manifest["database"]["sha256"]:
        raise MaintenanceError(f"The backup's database {db} does not match its manifest (changed or damaged).")
    key = Path(key_file) if key_file else Path(manifest["key"]["file"])
    if not key.is_absolute():
        key = src / key
    if not key.is_file():
        raise MaintenanceError(f"The backup's key file {key} is missing (give it with --key).")
    if hashlib.sha256(key.read_bytes()).hexdigest() != manifest["key"]["sha256"]:
        raise MaintenanceError(f"The key file {key} is not the one this backup was taken with.")
    return manifest, db, key


def restore(src: Path, db_path: Path, key_path: Path, *, key_file: Path | None = None,
            now: float | None = None) -> RestoreReport:
    """Put a backup in place of the database (the caller holds the daemon's lock, so no mailbot runs).

    The backup is checked (manifest, integrity, every sealed value opens with its key) on a copy in the data
    folder; the current database and key are kept in ``before-restore-<time>/``; then the copy replaces the
    database by an atomic rename, and the backup's key replaces the key the same way (through names.key.new,
    so that a crash in between is finished by recover_key_files)."""
    db_path, key_path = Path(db_path), Path(key_path)
    manifest, db, key = read_backup(src, key_file=key_file)
    recover_key_files(key_path, db_path)
    backup_master = read_key(key)
    vault = Vault(backup_master)
    data_dir = db_path.parent
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = data_dir / f".{db_path.name}.restore.tmp"
    _remove(tmp)
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out, open(db, "rb") as fh:
        shutil.copyfileobj(fh, out, 1 << 20)
        out.flush()
        os.fsync(out.fileno())
    try:
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            version = _integrity(conn, f"The backup in {src}")
            try:
                check_key_opens(conn, vault)
            except VaultError as exc:
                raise MaintenanceError(f"The backup does not open with its key: {exc}") from None
            rows = row_counts(conn)
            if "kv" in _tables(conn):  # the database now records which key it is sealed with
                conn.execute("INSERT INTO kv (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET "
                             "value = excluded.value", (KEY_CHECK, fingerprint(vault)))
        finally:
            conn.close()
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        key_changed = not key_path.exists() or read_key(key_path) != backup_master
        kept = None
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(time.time() if now is None else now))
        if db_path.exists() or key_path.exists():
            kept = data_dir / f"before-restore-{stamp}"
            kept.mkdir(mode=0o700)
            if db_path.exists():
                old = _connect(db_path)
                try:
                    old.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the main file
                finally:
                    old.close()
                os.link(db_path, kept / db_path.name)
            if key_path.exists():
                os.link(key_path, kept / key_path.name)
            _fsync_dir(kept)
        if key_changed:
            if key_path.exists():
                write_private(new_key_path(key_path), key_file_text(backup_master))
            else:
                write_private(key_path, key_file_text(backup_master))
        _crash_point("restore-key-staged")
        for suffix in ("-wal", "-shm"):  # the old database's WAL must never be applied to the restored one
            _remove(db_path.with_name(db_path.name + suffix))
        os.replace(tmp, db_path)
        _fsync_dir(data_dir)
        _crash_point("restore-db-replaced")
    except BaseException:
        _remove(tmp)
        raise
    if new_key_path(key_path).exists():
        _put_new_key_in_place(key_path)
    return RestoreReport(db_path, version, rows, key_changed, kept, str(manifest.get("created", "")))
