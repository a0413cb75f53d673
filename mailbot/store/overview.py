"""What the coordinator's STATUS, HELD and REPROCESS need from the store: the quarantined emails, the
held outgoing ones, the last problems, the last contact with each mail server, and the requests to
handle a quarantined email again.

A part of :class:`mailbot.store.database.Store` (mixed in); it uses the base's connection and
transaction. No new table: the requests and contact times are small JSON values in ``kv``; a
quarantined email's id (Q<n>) is its row number in ``messages``, a held outgoing email's (O<n>) its
``outbox`` id. Nothing here holds a name: held outgoing email stays sealed (vault), a discarded or
purged one has its bytes removed.
"""

from __future__ import annotations

import json
import time

#: messages.outcome of an email the coordinator asked to have handled again (the pipeline handles a
#: message recorded with it afresh, instead of taking it for a duplicate)
REPROCESS_OUTCOME = "reprocess"
#: messages.outcome of a quarantined email the coordinator no longer wants listed (DISCARD Q<n>)
DISCARDED_OUTCOME = "discarded"
#: outbox.last_error of a held email that will never be sent (the status stays 'failed')
DISCARDED_PREFIX = "discarded: "
PURGED_PREFIX = "purged: "

REPROCESS_KEY = "reprocess_requests"
PURGED_KEY = "held_purged_unreported"
CONTACT_KEY = "server_contact"

_MESSAGE_COLUMNS = ("rowid", "key", "uid", "received_at", "sender", "kind", "outcome", "reason", "detail",
                    "case_codes", "processed_at")


class OverviewMixin:
    """Reads (and the few writes) of the coordinator's overview and steering commands."""

    # -- quarantined incoming email (Q<n>) ---------------------------------------------

    def _message_rows(self, where: str, params=()) -> list[dict]:
        sql = f"SELECT {', '.join(_MESSAGE_COLUMNS)} FROM messages {where} ORDER BY rowid"
        out = []
        for row in self._conn().execute(sql, params):
            d = dict(zip(_MESSAGE_COLUMNS, row))
            d["case_codes"] = json.loads(d["case_codes"] or "[]")
            out.append(d)
        return out

    def quarantined_messages(self) -> list[dict]:
        """Incoming email in Quarantine (outcome quarantined or held), oldest first; each with ``rowid``."""
        return self._message_rows("WHERE outcome IN ('quarantined', 'held')")

    def message_by_rowid(self, rowid: int) -> dict | None:
        rows = self._message_rows("WHERE rowid = ?", (int(rowid),))
        return rows[0] if rows else None

    def set_message_outcome(self, key: str, outcome: str) -> None:
        with self.transaction() as conn:
            conn.execute("UPDATE messages SET outcome = ? WHERE key = ?", (outcome, key))

    # -- requests to handle a quarantined email again ------------------------------------

    def reprocess_requests(self) -> dict[str, dict]:
        """message key -> {"q": n, "state": "pending" | "moving" | "moved", "prior": outcome, "at": t}."""
        return self._json_value(REPROCESS_KEY, dict)

    def _json_value(self, name: str, kind: type):
        """The JSON value stored under ``name`` if it is a ``kind`` (dict or list), else an empty one."""
        try:
            data = json.loads(self.get_value(name) or "null")
        except ValueError:
            return kind()
        return data if isinstance(data, kind) else kind()

    def _save_requests(self, requests: dict) -> None:
        self.set_value(REPROCESS_KEY, json.dumps(requests, sort_keys=True) if requests else None)

    def request_reprocess(self, rowid: int, now: float | None = None) -> dict:
        """Record the request (the email's outcome becomes 'reprocess'), in the caller's transaction."""
        with self.transaction():
            row = self.message_by_rowid(rowid)
            requests = self.reprocess_requests()
            requests[row["key"]] = {"q": int(rowid), "state": "pending", "prior": row["outcome"],
                                    "at": time.time() if now is None else now}
            self.set_message_outcome(row["key"], REPROCESS_OUTCOME)
            self._save_requests(requests)
            return requests[row["key"]]

    def set_reprocess_state(self, key: str, state: str) -> None:
        with self.transaction():
            requests = self.reprocess_requests()
            if key in requests:
                requests[key]["state"] = state
                self._save_requests(requests)

    def finish_reprocess(self, key: str, *, restore: bool = False) -> dict | None:
        """Forget a request; ``restore``: the email could not be found, so it is listed as before."""
        with self.transaction():
            requests = self.reprocess_requests()
            request = requests.pop(key, None)
            if request is not None:
                if restore:
                    row = self.get_message(key)
                    if row is not None and row["outcome"] == REPROCESS_OUTCOME:
                        self.set_message_outcome(key, request.get("prior") or "quarantined")
                self._save_requests(requests)
            return request

    # -- held outgoing email (O<n>) ------------------------------------------------------

    def discard_outgoing(self, item_id: int, why: str, *, prefix: str = DISCARDED_PREFIX) -> bool:
        """A held outgoing email will never be sent: its bytes are removed, the reason recorded. False
        when it is not held (any more)."""
        with self.transaction() as conn:
            cur = conn.execute("UPDATE outbox SET status = 'failed', raw = X'', last_error = ? "
                               "WHERE id = ? AND status = 'held'", (prefix + why, int(item_id)))
            if cur.rowcount != 1:
                return False
            self._audit_item(int(item_id), "discarded", prefix + why)
            return True

    def outbox_overview(self) -> dict[str, int]:
        """Outbox counts by status, with 'discarded' (held, then never sent) apart from 'failed'."""
        counts = self.outbox_counts()
        row = self._conn().execute(
            "SELECT COUNT(*) FROM outbox WHERE status = 'failed' AND (last_error LIKE ? OR last_error LIKE ?)",
            (DISCARDED_PREFIX + "%", PURGED_PREFIX + "%")).fetchone()
        counts["discarded"] = int(row[0] or 0)
        counts["failed"] -= counts["discarded"]
        return counts

    def outbox_retrying(self) -> list[tuple[int, str]]:
        """(id, last error) of pending email that has failed at least once (waiting for a retry)."""
        return [(int(r[0]), r[1]) for r in self._conn().execute(
            "SELECT id, last_error FROM outbox WHERE status = 'pending' AND last_error != '' ORDER BY id")]

    def outbox_summary(self, item_id: int) -> dict | None:
        """id, kind, case_code, recipients, status, created_at, last_error of one item (its bytes unread)."""
        names = ("id", "kind", "case_code", "recipients", "status", "created_at", "last_error")
        row = self._conn().execute(f"SELECT {', '.join(names)} FROM outbox WHERE id = ?",
                                   (int(item_id),)).fetchone()
        if row is None:
            return None
        d = dict(zip(names, row))
        d["recipients"] = json.loads(d["recipients"])
        return d

    def held_outbox_summaries(self) -> list[dict]:
        names = ("id", "kind", "case_code", "recipients", "status", "created_at", "last_error")
        out = []
        for row in self._conn().execute(f"SELECT {', '.join(names)} FROM outbox WHERE status = 'held' "
                                        "ORDER BY id"):
            d = dict(zip(names, row))
            d["recipients"] = json.loads(d["recipients"])
            out.append(d)
        return out

    # -- the last problems ----------------------------------------------------------------

    def last_outgoing_problem(self) -> dict | None:
        """The newest audit row of an outgoing email failed or held (id, at, event, kind, case_code, reason)."""
        row = self._conn().execute(
            "SELECT a.at, a.event, a.kind, a.case_code, a.reason, o.id FROM audit a "
            "LEFT JOIN outbox o ON o.message_id = a.message_id "
            "WHERE a.event IN ('failed', 'held') ORDER BY a.id DESC LIMIT 1").fetchone()
        if row is None:
            return None
        return dict(zip(("at", "event", "kind", "case_code", "reason", "item"), row))

    def last_incoming_problem(self) -> dict | None:
        """The newest incoming email that could not be handled (outcome 'held': the pipeline's shunt)."""
        rows = self._message_rows("WHERE rowid = (SELECT MAX(rowid) FROM messages WHERE outcome = 'held')")
        return rows[0] if rows else None

    # -- contact with the mail servers ------------------------------------------------------

    def note_contact(self, server: str, ok: bool, detail: str = "", now: float | None = None) -> None:
        """Record a successful contact with ``server`` ("imap" / "smtp"), or a failed one and why."""
        now = time.time() if now is None else now
        with self.transaction():
            data = self.server_contacts()
            entry = data.setdefault(server, {})
            if ok:
                entry["ok_at"] = now
                entry.pop("error", None)
                entry.pop("error_at", None)
            else:
                entry["error_at"] = now
                entry["error"] = str(detail)[:200]
            self.set_value(CONTACT_KEY, json.dumps(data, sort_keys=True))

    def server_contacts(self) -> dict[str, dict]:
        """server -> {"ok_at": t, "error_at": t, "error": why} (keys present when known)."""
        return self._json_value(CONTACT_KEY, dict)

    # -- purge of what has been held too long --------------------------------------------------

    def purge_held(self, older_than: float, days: float, now: float | None = None) -> list[str]:
        """Held outgoing email and held referral forms kept since before ``older_than`` (epoch seconds):
        their bytes are removed (they may hold a name), the decision recorded. Returns what was purged
        ("O7 (coded-referral, CN3)", "H2 (CN4)"), also appended to the list the next digest reports."""
        why = f"held more than {days:g} days, removed unsent"
        purged: list[str] = []
        with self.transaction():
            for item in self.held_outbox_summaries():
                if item["created_at"] < older_than and self.discard_outgoing(item["id"], why, prefix=PURGED_PREFIX):
                    purged.append(f"O{item['id']} ({item['kind']}{', ' + item['case_code'] if item['case_code'] else ''})")
            for form in self.held_forms("held"):
                if form["created"] < older_than:
                    self.decide_held_form(form["id"], "discarded", PURGED_PREFIX + why, now=now)
                    self.audit("held-form", None, (form["codes"] or [None])[0], [], "retention",
                               f"H{form['id']} purged: {why}", event="purged", now=now)
                    purged.append(f"H{form['id']} ({', '.join(form['codes'])})")
            if purged:
                earlier = self.purged_unreported()
                self.set_value(PURGED_KEY, json.dumps(earlier + purged))
        return purged

    def purged_unreported(self) -> list[str]:
        return [str(x) for x in self._json_value(PURGED_KEY, list)]

    def clear_purged_unreported(self) -> None:
        self.set_value(PURGED_KEY, None)
