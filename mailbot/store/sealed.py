"""Everything sealed with the vault key (:func:`sealed_fields`) and the checks that a key opens a database.

A new encrypted column must be added to :func:`sealed_fields`, or key rotation and these checks would miss
it. The database records the key it was last sealed with (``kv.vault_key_check``, a keyed hash that
reveals nothing); where it has no record every sealed row is tried. Errors name tables and rows, never
content.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Iterator

from mailbot.store.database import Store
from mailbot.store.db_files import tables
from mailbot.store.records import _HELD_CONTEXT, _HELD_PREFIX
from mailbot.store.vault import Vault, VaultError

KEY_CHECK = "vault_key_check"          # kv: fingerprint of the key the database is sealed with


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


def fingerprint(vault: Vault) -> str:
    """A keyed hash that tells keys apart and reveals nothing of the key (the blind index of a fixed text)."""
    return vault.identity("mailbot vault key check")[:32]


def sealed_fields(conn: sqlite3.Connection) -> Iterator[Sealed]:
    """Every value sealed with the vault key, with the context it was sealed under (see the Store's parts)."""
    present = tables(conn)
    person_ctx = lambda code: b"person:" + code.encode("utf-8")  # noqa: E731 - as CasesMixin._person_ctx
    sw_ctx = lambda code: b"sw_worker:" + code.encode("utf-8")  # noqa: E731 - as CasesMixin._sw_ctx
    if "cases" in present:
        for code, person, worker in conn.execute("SELECT code, person_enc, sw_worker_enc FROM cases ORDER BY code"):
            if person is not None:
                yield Sealed("cases", "code", code, "person_enc", bytes(person), person_ctx(code), person_of=code)
            if worker is not None:
                yield Sealed("cases", "code", code, "sw_worker_enc", bytes(worker), sw_ctx(code))
    if "pending_commands" in present:
        for rid, token_hash, enc in conn.execute(
                "SELECT id, token_hash, commands_enc FROM pending_commands ORDER BY id"):
            if enc is not None and len(enc):
                yield Sealed("pending_commands", "id", rid, "commands_enc", bytes(enc),
                             Store._PENDING_CTX + b":" + token_hash.encode())
    if "held_forms" in present:
        for rid, enc in conn.execute("SELECT id, sealed FROM held_forms WHERE length(sealed) > 0 ORDER BY id"):
            yield Sealed("held_forms", "id", rid, "sealed", bytes(enc), Store._HELD_FORM_CONTEXT)
    if "consent_holds" in present:
        from mailbot.store.consent import _CONSENT_HOLD_CTX

        for rid, enc in conn.execute("SELECT id, sealed FROM consent_holds WHERE length(sealed) > 0 ORDER BY id"):
            yield Sealed("consent_holds", "id", rid, "sealed", bytes(enc), _CONSENT_HOLD_CTX)
    if "outbox" in present:
        n = len(_HELD_PREFIX)
        for rid, raw in conn.execute("SELECT id, raw FROM outbox WHERE substr(raw, 1, ?) = ? ORDER BY id",
                                     (n, _HELD_PREFIX)):
            yield Sealed("outbox", "id", rid, "raw", bytes(raw)[n:], _HELD_CONTEXT, prefix=_HELD_PREFIX)


def kv_value(conn: sqlite3.Connection, name: str) -> str | None:
    if "kv" not in tables(conn):
        return None
    row = conn.execute("SELECT value FROM kv WHERE name = ?", (name,)).fetchone()
    return None if row is None else row[0]


def record_key(conn: sqlite3.Connection, vault: Vault) -> None:
    """The database records ``vault`` as the key it is sealed with (kv.vault_key_check)."""
    conn.execute("INSERT INTO kv (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET "
                 "value = excluded.value", (KEY_CHECK, fingerprint(vault)))


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
    recorded = kv_value(conn, KEY_CHECK)
    if recorded:
        return recorded == fingerprint(vault)
    try:
        check_key_opens(conn, vault)
    except VaultError:
        return False
    return True
