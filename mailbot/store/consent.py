"""Consent holds, what each case's form said about consent, and the purge of closed cases' records.

A part of :class:`mailbot.store.database.Store` (mixed in); it uses the base's connection and
transaction."""

from __future__ import annotations

import re
import time

_CONSENT_HOLD_CTX = b"consent-hold"
_CODE_IN_TEXT = re.compile(r"(?<![A-Za-z0-9])cn[ \t-]?0*(\d{1,6})([a-z])?(?![A-Za-z0-9])", re.I)


class ConsentMixin:
    """Referrals waiting for a consent decision; case consent facts; purging closed cases' records."""

    # -- consent holds ---------------------------------------------------------------

    def add_consent_hold(self, number: int, codes: list[str], reason: str, payload: dict,
                         now: float | None = None) -> int:
        """Keep a coded referral until the coordinator decides (its payload sealed with the vault key)."""
        sealed = self.vault.encrypt_json(payload, _CONSENT_HOLD_CTX)
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO consent_holds (number, codes, created, reason, sealed) VALUES (?, ?, ?, ?, ?)",
                (int(number), ",".join(codes), time.time() if now is None else now, reason, sealed))
            return int(cur.lastrowid)

    def consent_hold_for(self, number: int) -> tuple[dict, dict | None] | None:
        """(row, payload or None when decided) of the latest consent hold of case number ``number``."""
        row = self._conn().execute(
            "SELECT id, number, codes, created, status, reason, sealed, decision FROM consent_holds "
            "WHERE number = ? ORDER BY id DESC LIMIT 1", (int(number),)).fetchone()
        if row is None:
            return None
        info = {"id": row[0], "number": row[1], "codes": row[2].split(",") if row[2] else [],
                "created": row[3], "status": row[4], "reason": row[5], "decision": row[7]}
        sealed = bytes(row[6] or b"")
        return info, (self.vault.decrypt_json(sealed, _CONSENT_HOLD_CTX) if sealed else None)

    def consent_holds(self, status: str = "waiting") -> list[dict]:
        rows = self._conn().execute(
            "SELECT id, number, codes, created, reason FROM consent_holds WHERE status = ? ORDER BY id",
            (status,)).fetchall()
        return [{"id": r[0], "number": r[1], "codes": r[2].split(","), "created": r[3], "reason": r[4]}
                for r in rows]

    def decide_consent_hold(self, hold_id: int, status: str, decision: str, now: float | None = None) -> bool:
        """Record the decision and drop the sealed referral (the case has its own record). False when it
        was already decided (a decision runs once)."""
        with self.transaction() as conn:
            cur = conn.execute(
                "UPDATE consent_holds SET status = ?, decision = ?, decided = ?, sealed = X'' "
                "WHERE id = ? AND status = 'waiting'",
                (status, decision, time.time() if now is None else now, int(hold_id)))
            return cur.rowcount == 1

    # -- consent facts of a case ---------------------------------------------------------

    def set_case_consent(self, code: str, *, parental: str, sensitive: bool, decision: str = "") -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO case_consent (code, parental, sensitive, decision) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(code) DO UPDATE SET parental = excluded.parental, sensitive = excluded.sensitive, "
                "decision = excluded.decision", (code, parental, 1 if sensitive else 0, decision))

    def case_consent(self, code: str) -> dict | None:
        row = self._conn().execute("SELECT parental, sensitive, decision FROM case_consent WHERE code = ?",
                                   (code,)).fetchone()
        return None if row is None else {"parental": row[0], "sensitive": bool(row[1]), "decision": row[2]}

    def sensitive_consent(self, code: str) -> bool:
        """Consent to share with sensitive services is on record for this case (unknown: no)."""
        got = self.case_consent(code)
        return bool(got and got["sensitive"])

    # -- retention -----------------------------------------------------------------------

    def closed_cases_to_purge(self, closed_before: str) -> list[tuple[str, str]]:
        """(code, closed_on) of closed cases closed before this ISO date whose record is not yet purged."""
        rows = self._conn().execute(
            "SELECT code, closed_on FROM cases WHERE status = 'closed' AND closed_on IS NOT NULL "
            "AND closed_on < ? AND code NOT IN (SELECT code FROM purged_cases) ORDER BY number, letter",
            (closed_before,)).fetchall()
        return [(r[0], r[1]) for r in rows]

    def purged_closed_on(self, code: str) -> str | None:
        row = self._conn().execute("SELECT closed_on FROM purged_cases WHERE code = ?", (code,)).fetchone()
        return None if row is None else (row[0] or "")

    def purged_case_codes(self) -> set[str]:
        return {r[0] for r in self._conn().execute("SELECT code FROM purged_cases")}

    def purge_case(self, code: str, *, now: float | None = None) -> bool:
        """Remove every name and identity kept for a closed case, in one transaction; the case row keeps
        its code, status and dates, the audit trail its code. False when it was purged already."""
        now = time.time() if now is None else now
        with self.transaction() as conn:
            row = conn.execute("SELECT number, status, closed_on FROM cases WHERE code = ?", (code,)).fetchone()
            if row is None or row[1] != "closed":
                return False
            if conn.execute("SELECT 1 FROM purged_cases WHERE code = ?", (code,)).fetchone():
                return False
            number, closed_on = row[0], row[2]
            conn.execute("UPDATE cases SET person_enc = NULL, sw_worker_enc = NULL, identity = '' "
                         "WHERE code = ?", (code,))
            # held forms and consent holds that carried this case's form
            for table in ("held_forms", "consent_holds"):
                for hid, codes in conn.execute(f"SELECT id, codes FROM {table} WHERE length(sealed) > 0"):
                    if code in (codes or "").split(","):
                        conn.execute(f"UPDATE {table} SET sealed = X'' WHERE id = ?", (hid,))
            # command lines that name the case (kept encrypted: a line could hold a name by mistake)
            for rid, th, enc in conn.execute("SELECT id, token_hash, commands_enc FROM pending_commands").fetchall():
                ctx = self._PENDING_CTX + b":" + th.encode()
                try:
                    lines = self.vault.decrypt_json(bytes(enc), ctx)
                except Exception:  # already unreadable: nothing of it can be read back
                    continue
                kept = [ln if not _names_code(ln, code, number) else f"(removed: the record of {code} was purged)"
                        for ln in lines]
                if kept != lines:
                    conn.execute("UPDATE pending_commands SET commands_enc = ? WHERE id = ?",
                                 (self.vault.encrypt_json(kept, ctx), rid))
            # sealed copies of messages about the case (a message the gate held), and the Master Lists
            # already sent while the case was on them (encrypted workbooks that hold the name)
            conn.execute("UPDATE outbox SET raw = X'' WHERE case_code IN (?, ?) AND status = 'held'",
                         (code, f"CN{number}"))
            until = _day_after(closed_on)
            conn.execute("UPDATE outbox SET raw = X'' WHERE kind = 'master-list' AND status IN ('sent', 'failed') "
                         "AND created_at < ?", (until,))
            conn.execute("INSERT INTO purged_cases (code, closed_on, purged_at) VALUES (?, ?, ?)",
                         (code, closed_on, now))
            self._people_changed()
            return True


def _names_code(line: str, code: str, number: int) -> bool:
    for m in _CODE_IN_TEXT.finditer(line or ""):
        found = f"CN{int(m.group(1))}{(m.group(2) or '').upper()}"
        if found == code or found == f"CN{number}":
            return True
    return False


def _day_after(closed_on: str | None) -> float:
    """Epoch seconds of the day after the case closed (a Master List of that day may still hold it)."""
    from datetime import date, datetime, timedelta, timezone

    try:
        day = date.fromisoformat(str(closed_on)[:10])
    except (TypeError, ValueError):
        return time.time()
    return datetime.combine(day + timedelta(days=2), datetime.min.time(), timezone.utc).timestamp()
