"""What waits for the coordinator: held referral forms and commands awaiting confirmation.

A part of :class:`mailbot.store.database.Store` (mixed in); it uses the base's connection and
transaction."""

from __future__ import annotations

import time


class ReviewsMixin:
    """What waits for the coordinator: held referral forms and commands awaiting confirmation."""

    def add_held_form(self, codes: list[str], reason: str, location: str, payload: dict,
                      now: float | None = None) -> int:
        """Keep a referral form for the coordinator's review; its payload (the form, the reading,
        who sent it) is sealed with the vault key. Returns the hold's number (H<n>)."""
        sealed = self.vault.encrypt_json(payload, self._HELD_FORM_CONTEXT)
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO held_forms (created, codes, reason, location, sealed) VALUES (?, ?, ?, ?, ?)",
                (time.time() if now is None else now, ",".join(codes), reason, location, sealed))
            return int(cur.lastrowid)

    def held_form(self, hold_id: int) -> tuple[dict, dict] | None:
        """(row, payload) of a held form, or None."""
        row = self._conn().execute(
            "SELECT id, created, codes, status, reason, location, sealed, decision FROM held_forms WHERE id = ?",
            (int(hold_id),)).fetchone()
        if row is None:
            return None
        info = {"id": row[0], "created": row[1], "codes": row[2].split(",") if row[2] else [],
                "status": row[3], "reason": row[4], "location": row[5], "decision": row[7]}
        return info, self.vault.decrypt_json(bytes(row[6]), self._HELD_FORM_CONTEXT)

    def held_forms(self, status: str = "held") -> list[dict]:
        rows = self._conn().execute(
            "SELECT id, created, codes, reason, location FROM held_forms WHERE status = ? ORDER BY id",
            (status,)).fetchall()
        return [{"id": r[0], "created": r[1], "codes": r[2].split(","), "reason": r[3], "location": r[4]}
                for r in rows]

    def decide_held_form(self, hold_id: int, status: str, decision: str, now: float | None = None) -> None:
        """Record the coordinator's decision; the sealed form is dropped (the case has its own record)."""
        with self.transaction() as conn:
            conn.execute("UPDATE held_forms SET status = ?, decision = ?, decided = ?, sealed = X'' "
                         "WHERE id = ?", (status, decision, time.time() if now is None else now, int(hold_id)))

    def add_pending_commands(self, *, token_hash: str, coordinator: str, lines: list[str], summary: str,
                             source: str, expires_at: float, now: float | None = None) -> int:
        """Keep command lines until their coordinator confirms them. Only the token's hash is stored,
        and the lines are encrypted with the vault key (a line could hold a name written by mistake)."""
        now = time.time() if now is None else now
        enc = self.vault.encrypt_json(list(lines), self._PENDING_CTX + b":" + token_hash.encode())
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO pending_commands (token_hash, coordinator, created_at, expires_at, commands_enc, "
                "summary, source) VALUES (?,?,?,?,?,?,?)",
                (token_hash, coordinator, now, float(expires_at), enc, summary, source))
            return int(cur.lastrowid)

    def pending_commands(self, token_hash: str) -> dict | None:
        """The request for this token hash (any status), with its decrypted ``lines``; None if unknown."""
        row = self._conn().execute(
            f"SELECT {', '.join(self._PENDING_COLUMNS)} FROM pending_commands WHERE token_hash = ?",
            (token_hash,)).fetchone()
        if row is None:
            return None
        d = dict(zip(self._PENDING_COLUMNS, row))
        d["lines"] = self.vault.decrypt_json(bytes(d.pop("commands_enc")),
                                             self._PENDING_CTX + b":" + d["token_hash"].encode())
        return d

    def pending_command_requests(self, status: str | None = "pending") -> list[dict]:
        """Read-only: id, coordinator, created_at, expires_at, summary, status of every request (no lines)."""
        names = ("id", "coordinator", "created_at", "expires_at", "summary", "status", "finished_at",
                 "finish_reason")
        sql = f"SELECT {', '.join(names)} FROM pending_commands"
        params: tuple = ()
        if status is not None:
            sql += " WHERE status = ?"
            params = (status,)
        return [dict(zip(names, r)) for r in self._conn().execute(sql + " ORDER BY id", params)]

    def finish_pending_commands(self, request_id: int, status: str, reason: str = "",
                                now: float | None = None) -> bool:
        """Mark a pending request done or cancelled; False when it was no longer pending (used once)."""
        if status not in ("done", "cancelled"):
            raise ValueError("status must be done or cancelled")
        now = time.time() if now is None else now
        with self.transaction() as conn:
            cur = conn.execute(
                "UPDATE pending_commands SET status = ?, finished_at = ?, finish_reason = ? "
                "WHERE id = ? AND status = 'pending'", (status, now, reason, int(request_id)))
            return cur.rowcount == 1
