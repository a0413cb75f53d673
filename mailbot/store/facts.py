"""The facts of casework as rows: meetings and their notices, minutes received, actions, reminders sent,
changes to the member directory.

A part of :class:`mailbot.store.database.Store` (mixed in). Handlers write these as they act, in the
transaction of the message that caused them; the scheduler, the digest and the case views read them.
Nothing here holds a young person's name (actions are stored with every name on record replaced).
Times are ISO text: the network's local wall-clock time, or with an offset (older rows).
"""

from __future__ import annotations

import time


class FactsMixin:
    """Meetings, notices, minutes, actions, reminders sent and member changes."""

    # -- meetings: the calendar slot of each case's meetings ------------------------------------------

    def latest_meeting(self, case_code: str) -> dict | None:
        row = self._conn().execute(
            "SELECT number, sequence, starts_at, cancelled FROM meetings WHERE case_code = ? "
            "ORDER BY number DESC LIMIT 1", (case_code,)).fetchone()
        return None if row is None else {"no": row[0], "seq": row[1], "start": row[2], "cancelled": bool(row[3])}

    def save_meeting(self, case_code: str, number: int, sequence: int, starts_at: str, cancelled: bool) -> None:
        with self.transaction() as conn:
            conn.execute("INSERT INTO meetings (case_code, number, sequence, starts_at, cancelled) "
                         "VALUES (?, ?, ?, ?, ?) ON CONFLICT(case_code, number) DO UPDATE SET "
                         "sequence = excluded.sequence, starts_at = excluded.starts_at, "
                         "cancelled = excluded.cancelled", (case_code, number, sequence, starts_at, int(cancelled)))

    def record_meeting_notice(self, case_code: str, starts_at: str, venue: str, sent_at: str,
                              invitees: list[str], source: str) -> None:
        """A meeting notice sent on to ``invitees`` (once per source: a redo changes nothing)."""
        with self.transaction() as conn:
            cur = conn.execute("INSERT OR IGNORE INTO meeting_notices (case_code, starts_at, venue, sent_at, source) "
                               "VALUES (?, ?, ?, ?, ?)", (case_code, starts_at, venue or "", sent_at, source))
            if cur.rowcount:
                conn.executemany("INSERT OR IGNORE INTO meeting_invitees (notice_id, address) VALUES (?, ?)",
                                 [(cur.lastrowid, a) for a in dict.fromkeys(invitees)])

    def meeting_notices(self) -> list[dict]:
        """Every meeting notice sent on, oldest first, with its invitees."""
        conn = self._conn()
        invitees: dict[int, list[str]] = {}
        for notice_id, address in conn.execute("SELECT notice_id, address FROM meeting_invitees ORDER BY rowid"):
            invitees.setdefault(notice_id, []).append(address)
        return [{"case_code": r[1], "start": r[2], "venue": r[3], "sent_at": r[4], "invitees": invitees.get(r[0], [])}
                for r in conn.execute("SELECT id, case_code, starts_at, venue, sent_at FROM meeting_notices "
                                      "ORDER BY id")]

    # -- minutes and their actions ----------------------------------------------------------------------

    def record_minutes_received(self, case_code: str, received_at: str, source: str) -> None:
        with self.transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO minutes_received (case_code, received_at, source) VALUES (?, ?, ?)",
                         (case_code, received_at, source))

    def minutes_received(self) -> list[dict]:
        return [{"case_code": r[0], "received_at": r[1]} for r in self._conn().execute(
            "SELECT case_code, received_at FROM minutes_received ORDER BY id")]

    def set_actions(self, case_code: str, actions: list[dict]) -> None:
        """The actions of a case's latest minutes (they replace the previous minutes' actions)."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM actions WHERE case_code = ?", (case_code,))
            conn.executemany(
                "INSERT INTO actions (case_code, position, action, responsible, responsible_email) "
                "VALUES (?, ?, ?, ?, ?)",
                [(case_code, i, a.get("action") or "", a.get("responsible") or "", a.get("responsible_email"))
                 for i, a in enumerate(actions)])

    def actions(self, case_code: str) -> list[dict]:
        return [{"action": r[0], "responsible": r[1], "responsible_email": r[2]} for r in self._conn().execute(
            "SELECT action, responsible, responsible_email FROM actions WHERE case_code = ? ORDER BY position",
            (case_code,))]

    # -- reminders sent ---------------------------------------------------------------------------------

    def mark_reminder_sent(self, key: str, now: float | None = None) -> None:
        with self.transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO reminders_sent (key, sent_at) VALUES (?, ?)",
                         (key, time.time() if now is None else now))

    def reminder_sent_keys(self) -> set[str]:
        return {r[0] for r in self._conn().execute("SELECT key FROM reminders_sent")}

    # -- the member directory's changes (MEMBER commands), applied over the configuration ---------------

    def add_member_change(self, op: str, *, agency: str = "", email: str = "", new_email: str = "",
                          social_work: bool = False, may_submit: bool = True, now: float | None = None) -> None:
        with self.transaction() as conn:
            conn.execute("INSERT INTO member_changes (op, agency, email, new_email, social_work, may_submit, at) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?)", (op, agency, email, new_email, int(social_work),
                                                          int(may_submit), time.time() if now is None else now))

    def member_changes(self) -> list[dict]:
        return [{"op": r[0], "agency": r[1], "email": r[2], "new_email": r[3], "social_work": bool(r[4]),
                 "may_submit": bool(r[5])} for r in self._conn().execute(
            "SELECT op, agency, email, new_email, social_work, may_submit FROM member_changes ORDER BY id")]

    def member_changes_version(self) -> int:
        return self._conn().execute("SELECT coalesce(max(id), 0) FROM member_changes").fetchone()[0]
