"""The outbox queue: every outgoing email, its status, attempts and next try.

A part of :class:`mailbot.store.database.Store` (mixed in); it uses the base's connection and
transaction."""

from __future__ import annotations

import logging
import json
import time

from mailbot.store.records import OutboxItem, _HELD_CONTEXT, _HELD_PREFIX


log = logging.getLogger("mailbot.store")


class OutboxQueueMixin:
    """The outbox queue: every outgoing email, its status, attempts and next try."""

    def enqueue(self, mail: OutboxItem, *, now: float | None = None) -> bool:
        """Queue one email. False (and nothing changes) if message_id is already queued."""
        recipients = list(mail.recipients)
        if not recipients or not all(isinstance(r, str) and r for r in recipients):
            raise ValueError("an outgoing mail needs at least one recipient address")
        if not mail.message_id:
            raise ValueError("an outgoing mail needs a message_id")
        now = time.time() if now is None else now
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO outbox (message_id, kind, case_code, sender, recipients, raw, status, "
                "attempts, next_try, created_at, rule, reason) VALUES (?,?,?,?,?,?,'pending',0,?,?,?,?)",
                (mail.message_id, mail.kind or "", mail.case_code, mail.sender, json.dumps(recipients),
                 bytes(mail.raw), now, now, mail.rule or "", mail.reason or ""))
            if cur.rowcount == 0:
                return False
            self.audit(mail.kind, mail.message_id, mail.case_code, recipients, mail.rule, mail.reason,
                       event="queued", now=now)
            return True

    def _items(self, where: str, params=(), limit: int | None = None) -> list[OutboxItem]:
        sql = f"SELECT {', '.join(self._OUTBOX_COLUMNS)} FROM outbox {where} ORDER BY id"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        out = []
        for row in self._conn().execute(sql, params).fetchall():
            d = dict(zip(self._OUTBOX_COLUMNS, row))
            d["recipients"] = json.loads(d["recipients"])
            d["delivered"] = json.loads(d["delivered"] or "[]")
            d["raw"] = bytes(d["raw"])
            if d["raw"].startswith(_HELD_PREFIX):
                d["raw"] = self.vault.decrypt(d["raw"][len(_HELD_PREFIX):], _HELD_CONTEXT)
            out.append(OutboxItem(**d))
        return out

    def due(self, now: float, limit: int = 100) -> list[OutboxItem]:
        """Pending items whose next try is due, oldest first."""
        return self._items("WHERE status = 'pending' AND next_try <= ?", (now,), limit)

    def get_outbox_item(self, item_id: int) -> OutboxItem | None:
        found = self._items("WHERE id = ?", (item_id,))
        return found[0] if found else None

    def next_due_time(self) -> float | None:
        row = self._conn().execute("SELECT MIN(next_try) FROM outbox WHERE status = 'pending'").fetchone()
        return row[0] if row else None

    def _update_item(self, item_id: int, sql: str, params=()) -> None:
        with self.transaction() as conn:
            conn.execute(f"UPDATE outbox SET {sql} WHERE id = ?", (*params, item_id))

    def _audit_item(self, item_id: int, event: str, reason: str, recipients=None, now=None) -> None:
        row = self._conn().execute(
            "SELECT kind, message_id, case_code, recipients, rule FROM outbox WHERE id = ?", (item_id,)).fetchone()
        if row:
            kind, message_id, case_code, rcpts, rule = row
            self.audit(kind, message_id, case_code, json.loads(rcpts) if recipients is None else recipients,
                       rule, reason, event=event, now=now)

    def mark_sending(self, item_id: int) -> bool:
        """'sending', only if the item is still pending: False when it was superseded (or held) meanwhile."""
        with self.transaction() as conn:
            cur = conn.execute("UPDATE outbox SET status = 'sending', attempts = attempts + 1 "
                               "WHERE id = ? AND status = 'pending'", (item_id,))
            return cur.rowcount == 1

    def waiting_reasons(self, kind: str, statuses=("pending", "held", "sending")) -> list[str]:
        """The distinct audit reasons of the items of this kind in these states (default: not yet sent)."""
        statuses = tuple(statuses)
        rows = self._conn().execute(f"SELECT DISTINCT reason FROM outbox WHERE kind = ? AND status IN "
                                    f"({', '.join('?' * len(statuses))})", (kind, *statuses)).fetchall()
        return [r[0] for r in rows]

    def supersede(self, kind: str, reason: str, *, now: float | None = None) -> int:
        """Every item of this kind not yet sent (pending, held, or in flight) becomes 'superseded': it is
        never sent (mark_sending refuses it, a retry does not bring it back). In the caller's transaction,
        with the newer version's own items. Returns how many were superseded."""
        now = time.time() if now is None else now
        with self.transaction() as conn:
            ids = [r[0] for r in conn.execute(
                "SELECT id FROM outbox WHERE kind = ? AND status IN ('pending', 'held', 'sending') ORDER BY id",
                (kind,)).fetchall()]
            for item_id in ids:
                conn.execute("UPDATE outbox SET status = 'superseded', last_error = ? WHERE id = ?",
                             (reason, item_id))
                self._audit_item(item_id, "superseded", reason, now=now)
            return len(ids)

    def mark_sent(self, item_id: int, *, note: str = "", now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self.transaction() as conn:
            row = conn.execute("SELECT recipients, delivered FROM outbox WHERE id = ?", (item_id,)).fetchone()
            done = json.loads(row[1] or "[]") if row else []
            done += [r for r in (json.loads(row[0]) if row else []) if r not in done]
            self._update_item(item_id, "status = 'sent', sent_at = ?, last_error = ?, delivered = ?",
                              (now, note, json.dumps(done)))
            self._audit_item(item_id, "sent", note, now=now)

    def mark_retry(self, item_id: int, error: str, next_try: float) -> None:
        with self.transaction() as conn:  # a superseded item is never brought back
            conn.execute("UPDATE outbox SET status = 'pending', last_error = ?, next_try = ? "
                         "WHERE id = ? AND status != 'superseded'", (error, next_try, item_id))

    def mark_partial(self, item_id: int, delivered: list[str], remaining: list[str], error: str,
                     next_try: float) -> None:
        """Some recipients accepted the mail: remember them, retry only the rest."""
        with self.transaction() as conn:
            row = conn.execute("SELECT delivered FROM outbox WHERE id = ?", (item_id,)).fetchone()
            done = json.loads(row[0] or "[]") if row else []
            done += [r for r in delivered if r not in done]
            self._audit_item(item_id, "sent", "partial delivery", recipients=list(delivered))
            conn.execute("UPDATE outbox SET status = CASE status WHEN 'superseded' THEN status ELSE 'pending' END, "
                         "recipients = ?, delivered = ?, last_error = ?, next_try = ? WHERE id = ?",
                         (json.dumps(list(remaining)), json.dumps(done), error, next_try, item_id))

    def mark_failed(self, item_id: int, error: str) -> None:
        with self.transaction():
            self._update_item(item_id, "status = 'failed', last_error = ?", (error,))
            self._audit_item(item_id, "failed", error)

    def mark_held(self, item_id: int, reason: str) -> None:
        """Hold an item for a person. Its bytes may hold a name (the leak gate stopped it), so they are
        encrypted with the vault key before anything else: the database never keeps them in clear."""
        with self.transaction() as conn:
            row = conn.execute("SELECT raw FROM outbox WHERE id = ?", (item_id,)).fetchone()
            if row is not None and not bytes(row[0]).startswith(_HELD_PREFIX):
                sealed = _HELD_PREFIX + self.vault.encrypt(bytes(row[0]), _HELD_CONTEXT)
                conn.execute("UPDATE outbox SET raw = ? WHERE id = ?", (sealed, item_id))
            self._update_item(item_id, "status = 'held', last_error = ?", (reason,))
            self._audit_item(item_id, "held", reason)

    def release_held(self, item_id: int, now: float | None = None) -> None:
        """Coordinator decision: send a held item after all (it passes the gate again)."""
        now = time.time() if now is None else now
        self._update_item(item_id, "status = 'pending', next_try = ? ", (now,))

    def recover_in_flight(self) -> int:
        """At start-up: items left 'sending' by a crash go back to 'pending'.

        (If the crash came after the server's 250 but before mark_sent, the
        mail is sent again with the same Message-ID: SMTP cannot do better.)"""
        with self.transaction() as conn:
            cur = conn.execute("UPDATE outbox SET status = 'pending' WHERE status = 'sending'")
            if cur.rowcount:
                log.warning("%d outgoing mail(s) were in flight at the last stop; they will be retried",
                            cur.rowcount)
            return cur.rowcount

    def outbox_counts(self) -> dict[str, int]:
        counts = {s: 0 for s in ("pending", "sending", "sent", "failed", "held")}  # (+ "superseded" when any)
        for status, n in self._conn().execute("SELECT status, COUNT(*) FROM outbox GROUP BY status"):
            counts[status] = n
        return counts

    def outbox_items(self, status: str | None = None) -> list[OutboxItem]:
        if status is None:
            return self._items("")
        return self._items("WHERE status = ?", (status,))

    def outbox_items_of_kind(self, kind: str, case_code: str | None = None) -> list[OutboxItem]:
        """Read-only: every outbox item of one kind (optionally for one case), oldest first."""
        if case_code is None:
            return self._items("WHERE kind = ?", (kind,))
        return self._items("WHERE kind = ? AND case_code = ?", (kind, case_code))

    def outbox_heads(self, kind: str, head_bytes: int = 4096) -> list[dict]:
        """Read-only: id, message_id, case_code, recipients, status and the first ``head_bytes`` of the raw
        message (its headers) of every outbox item of one kind, oldest first. Cheap: no attachments read."""
        names = ("id", "message_id", "case_code", "recipients", "status", "head")
        rows = self._conn().execute(
            "SELECT id, message_id, case_code, recipients, status, substr(raw, 1, ?) FROM outbox "
            "WHERE kind = ? ORDER BY id", (int(head_bytes), kind)).fetchall()
        out = []
        for row in rows:
            d = dict(zip(names, row))
            d["recipients"] = json.loads(d["recipients"])
            d["head"] = bytes(d["head"])
            out.append(d)
        return out

    def seal_outgoing(self, message_id: str) -> bool:
        """Encrypt a queued message's bytes in place with the vault key (as a held one is sealed).

        For a message that carries a secret (a confirmation token): the database then holds it no more
        readably than a name. Reading the item back (due, get_outbox_item) decrypts it as before."""
        with self.transaction() as conn:
            row = conn.execute("SELECT raw FROM outbox WHERE message_id = ?", (message_id,)).fetchone()
            if row is None:
                return False
            if not bytes(row[0]).startswith(_HELD_PREFIX):
                sealed = _HELD_PREFIX + self.vault.encrypt(bytes(row[0]), _HELD_CONTEXT)
                conn.execute("UPDATE outbox SET raw = ? WHERE message_id = ?", (sealed, message_id))
            return True
