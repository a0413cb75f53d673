"""Backups of the store: a consistent, checked copy of the live database with its key and a manifest.

:func:`backup` writes a folder (every file 0600, the folder 0700); :func:`read_backup` reads one back,
checked against its manifest (what :func:`mailbot.store.restore.restore` puts in place). The manifest holds
counts and hashes, never content.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from mailbot.store.db_files import MaintenanceError, connect, integrity, row_counts, sha256_file
from mailbot.store.key_files import (fsync_dir, fsync_file, load_vault, refuse_if_rotation_pending, remove,
                                     write_private)
from mailbot.store.sealed import check_key_opens, fingerprint
from mailbot.store.vault import Vault

BACKUP_FORMAT = "mailbot-backup-1"
MANIFEST = "manifest.json"
BACKUP_DB = "mailbot.db"
BACKUP_KEY = "names.key"


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
    version, sealed, rows = _copy_database(db_path, dest, target, vault)
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


def _copy_database(db_path: Path, dest: Path, target: Path, vault: Vault) -> tuple[int, dict[str, int], dict[str, int]]:
    """The live database copied to ``target`` through a temporary file, checked first: its schema version,
    the sealed values per table (each opened with ``vault``) and the rows per table."""
    tmp = dest / f".{BACKUP_DB}.{os.getpid()}.tmp"
    remove(tmp)
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        src = connect(db_path)
        dst = sqlite3.connect(tmp, isolation_level=None)
        try:
            src.backup(dst)  # all pages in one step: one read transaction, so one consistent state
        finally:
            src.close()
        try:
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            version = integrity(dst, "The copy of the database")
            sealed = check_key_opens(dst, vault)
            rows = row_counts(dst)
        finally:
            dst.close()
        fsync_file(tmp)
        os.replace(tmp, target)
        fsync_dir(dest)
    except BaseException:
        remove(tmp)
        raise
    return version, sealed, rows


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("mailbot")
    except Exception:  # pragma: no cover - not installed
        return "unknown"


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
