"""Database files as maintenance handles them: opening one outside the Store, its integrity, its row counts.

:class:`MaintenanceError` is the one-line refusal of a backup, restore or rotation that cannot go ahead.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

from mailbot.store.database import BUSY_TIMEOUT_MS
from mailbot.store.records import StoreError
from mailbot.store.schema import MIGRATIONS


class MaintenanceError(StoreError):
    """A backup, restore or rotation that cannot go ahead (one plain line)."""


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    return conn


def tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def row_counts(conn: sqlite3.Connection) -> dict[str, int]:
    return {t: conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0]
            for t in sorted(tables(conn)) if not t.startswith("sqlite_")}


def integrity(conn: sqlite3.Connection, what: str) -> int:
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


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
