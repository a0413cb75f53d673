"""Inbound messages handled once, their attempts, and the audit trail.

A part of :class:`mailbot.store.database.Store` (mixed in); it uses the base's connection and
transaction."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone

from mailbot.store.records import _iso


class MessagesMixin:
    """Inbound messages handled once, their attempts, and the audit trail."""

    def get_message(self, key: str) -> dict | None:
        row = self._conn().execute(
            "SELECT key, uidvalidity, uid, received_at, sender, kind, outcome, reason, detail, "
            "case_codes, processed_at, content_hash FROM messages WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        names = ("key", "uidvalidity", "uid", "received_at", "sender", "kind", "outcome", "reason",
                 "detail", "case_codes", "processed_at", "content_hash")
        out = dict(zip(names, row))
        out["case_codes"] = json.loads(out["case_codes"] or "[]")
        return out

    def messages_after(self, rowid: int = 0, outcomes=None) -> list[dict]:
        """Recorded messages with a row number above ``rowid`` (optionally only these outcomes), oldest first.

        Read-only; used by the digest ("quarantined since the last digest"). Each dict has a ``rowid``."""
        names = ("rowid", "key", "received_at", "sender", "kind", "outcome", "reason", "processed_at")
        return self._rows_after("messages", names, "rowid", rowid, "outcome", outcomes)

    def last_message_rowid(self) -> int:
        row = self._conn().execute("SELECT MAX(rowid) FROM messages").fetchone()
        return int(row[0] or 0)

    def record_message(self, key: str, *, uidvalidity, uid, sender, kind, outcome, reason: str = "",
                       detail: str = "", case_codes=(), received_at=None, content_hash: str | None = None) -> None:
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO messages (key, uidvalidity, uid, received_at, sender, kind, outcome, reason, "
                "detail, case_codes, processed_at, content_hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) "
                "ON CONFLICT(key) DO UPDATE SET uidvalidity=excluded.uidvalidity, uid=excluded.uid, "
                "received_at=COALESCE(excluded.received_at, messages.received_at), sender=excluded.sender, "
                "kind=excluded.kind, outcome=excluded.outcome, reason=excluded.reason, "
                "detail=excluded.detail, case_codes=excluded.case_codes, processed_at=excluded.processed_at, "
                "content_hash=COALESCE(excluded.content_hash, messages.content_hash)",
                (key, uidvalidity, uid, _iso(received_at), sender, kind, outcome, reason or "", detail or "",
                 json.dumps(list(case_codes)), now, content_hash))

    def begin_attempt(self, fingerprint: str) -> int:
        """Count one more attempt at handling this message, committed BEFORE the work starts.

        Returns the attempt's number (1 for the first). A message whose handling kills mailbot is
        counted each time, although nothing else of that attempt is kept (Mailman's switchboard)."""
        if self.in_transaction():
            raise RuntimeError("begin_attempt() must be committed on its own, outside a transaction")
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO attempts (fingerprint, count, first_at, last_at) VALUES (?, 1, ?, ?) "
                "ON CONFLICT(fingerprint) DO UPDATE SET count = attempts.count + 1, last_at = excluded.last_at",
                (fingerprint, now, now))
            return int(conn.execute("SELECT count FROM attempts WHERE fingerprint = ?",
                                    (fingerprint,)).fetchone()[0])

    def clear_attempts(self, fingerprint: str) -> None:
        """The message was handled (or found handled): forget its attempts (inside the caller's transaction)."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM attempts WHERE fingerprint = ?", (fingerprint,))

    def attempts(self, fingerprint: str) -> int:
        row = self._conn().execute("SELECT count FROM attempts WHERE fingerprint = ?", (fingerprint,)).fetchone()
        return int(row[0]) if row else 0

    def audit(self, kind, message_id, case_code, recipients, rule, reason, *, event: str = "note",
              now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO audit (at, event, kind, message_id, case_code, recipients, rule, reason) "
                "VALUES (?,?,?,?,?,?,?,?)",
                (now, event, kind or "", message_id, case_code, json.dumps(list(recipients or [])),
                 rule or "", reason or ""))

    def audit_rows(self, case_code: str | None = None) -> list[dict]:
        names = ("id", "at", "event", "kind", "message_id", "case_code", "recipients", "rule", "reason")
        sql = f"SELECT {', '.join(names)} FROM audit"
        params: tuple = ()
        if case_code is not None:
            sql += " WHERE case_code = ?"
            params = (case_code,)
        rows = []
        for row in self._conn().execute(sql + " ORDER BY id", params):
            d = dict(zip(names, row))
            d["recipients"] = json.loads(d["recipients"])
            rows.append(d)
        return rows

    def audit_rows_after(self, after_id: int = 0, events=None) -> list[dict]:
        """Read-only: audit rows with id above ``after_id`` (optionally only these events), oldest first."""
        names = ("id", "at", "event", "kind", "message_id", "case_code", "recipients", "rule", "reason")
        rows = self._rows_after("audit", names, "id", after_id, "event", events)
        for d in rows:
            d["recipients"] = json.loads(d["recipients"])
        return rows

    def _rows_after(self, table: str, names: tuple, order: str, after: int, column: str, values) -> list[dict]:
        """Rows of ``table`` with ``order`` above ``after`` (and ``column`` among ``values`` unless None),
        oldest first, as dicts of ``names``. Table and column names are this module's own, never input."""
        sql = f"SELECT {', '.join(names)} FROM {table} WHERE {order} > ?"
        params: list = [int(after)]
        if values is not None:
            values = list(values)
            sql += f" AND {column} IN ({', '.join('?' * len(values))})"
            params += values
        return [dict(zip(names, row)) for row in self._conn().execute(f"{sql} ORDER BY {order}", params)]

    def last_audit_id(self) -> int:
        row = self._conn().execute("SELECT MAX(id) FROM audit").fetchone()
        return int(row[0] or 0)
