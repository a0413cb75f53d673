"""Case numbers, cases and their encrypted people, the Master List's change flag, case exits.

A part of :class:`mailbot.store.database.Store` (mixed in); it uses the base's connection and
transaction."""

from __future__ import annotations

import sqlite3
import time
import uuid

from mailbot.people import ProtectedPerson
from mailbot.store.records import Case, StoreError, _CASE_COLUMNS, _UPDATABLE, _bool_or_none, _iso


class CasesMixin:
    """Case numbers, cases and their encrypted people, the Master List's change flag, case exits."""

    def allocate_case_number(self) -> int:
        """Next case number: monotonic, never reused. Call inside transaction()."""
        if not self.in_transaction():
            raise RuntimeError("allocate_case_number() must be called inside store.transaction()")
        number = self.next_case_number()
        self._conn().execute("INSERT INTO counters (name, value) VALUES ('case_number', ?) "
                             "ON CONFLICT(name) DO UPDATE SET value = excluded.value", (number,))
        return number

    def next_case_number(self) -> int:
        """The number allocate_case_number() would give next (a forecast: nothing is reserved)."""
        row = self._conn().execute("SELECT value FROM counters WHERE name = 'case_number'").fetchone()
        last = row[0] if row else self.first_case_number - 1
        return max(last + 1, self.first_case_number)

    def _person_ctx(self, code: str) -> bytes:
        return b"person:" + code.encode("utf-8")

    def _sw_ctx(self, code: str) -> bytes:
        return b"sw_worker:" + code.encode("utf-8")

    def add_case(self, case: Case) -> None:
        if case.status not in ("open", "closed"):
            raise ValueError(f"bad case status {case.status!r}")
        values = (
            case.code, int(case.number), case.letter or "", case.lead_agency or "", case.lead_contact or "",
            case.status, _iso(case.referred_on), _iso(case.closed_on), _bool_or_none(case.sw_known),
            _bool_or_none(case.sw_open),
            None if case.sw_worker is None else self.vault.encrypt_json(case.sw_worker, self._sw_ctx(case.code)),
            _iso(case.next_meeting), case.identity or "",
            self.vault.encrypt_json(case.person.to_json() if case.person else {}, self._person_ctx(case.code)),
            case.source_message_key, 1 if case.detained else 0,
        )
        with self.transaction() as conn:
            try:
                conn.execute(f"INSERT INTO cases ({', '.join(_CASE_COLUMNS)}) VALUES "
                             f"({', '.join('?' * len(_CASE_COLUMNS))})", values)
            except sqlite3.IntegrityError:
                raise StoreError(f"Case {case.code} already exists.") from None
            self._people_changed()

    def _case_from_row(self, row) -> Case:
        d = dict(zip(_CASE_COLUMNS, row))
        code = d["code"]
        return Case(
            code=code, number=d["number"], letter=d["letter"], lead_agency=d["lead_agency"],
            lead_contact=d["lead_contact"], status=d["status"], referred_on=d["referred_on"],
            closed_on=d["closed_on"],
            sw_known=None if d["sw_known"] is None else bool(d["sw_known"]),
            sw_open=None if d["sw_open"] is None else bool(d["sw_open"]),
            sw_worker=None if d["sw_worker_enc"] is None else self.vault.decrypt_json(d["sw_worker_enc"], self._sw_ctx(code)),
            next_meeting=d["next_meeting"], identity=d["identity"],
            person=(None if d["person_enc"] is None else
                    ProtectedPerson.from_json(self.vault.decrypt_json(d["person_enc"], self._person_ctx(code)))),
            source_message_key=d["source_message_key"], detained=bool(d["detained"]),
        )

    def _cases(self, where: str = "", params=()) -> list[Case]:
        rows = self._conn().execute(
            f"SELECT {', '.join(_CASE_COLUMNS)} FROM cases {where} ORDER BY number, letter", params).fetchall()
        return [self._case_from_row(r) for r in rows]

    def get_case(self, code: str) -> Case | None:
        found = self._cases("WHERE code = ?", (code,))
        return found[0] if found else None

    def find_case_by_identity(self, identity: str) -> Case | None:
        """The case (open or closed) with this blind index; open ones first, then the newest."""
        if not identity:
            return None
        rows = self._conn().execute(
            f"SELECT {', '.join(_CASE_COLUMNS)} FROM cases WHERE identity = ? "
            "ORDER BY status = 'open' DESC, number DESC, letter LIMIT 1", (identity,)).fetchall()
        return self._case_from_row(rows[0]) if rows else None

    def cases_for_message(self, key: str) -> list[Case]:
        return self._cases("WHERE source_message_key = ?", (key,))

    def open_cases(self) -> list[Case]:
        return self._cases("WHERE status = 'open'")

    def all_cases(self) -> list[Case]:
        return self._cases()

    def update_case(self, code: str, **fields) -> None:
        unknown = set(fields) - _UPDATABLE
        if unknown:
            raise ValueError(f"unknown case field(s): {', '.join(sorted(unknown))}")
        if not fields:
            return
        sets, params = [], []
        for name, value in fields.items():
            if name == "person":
                sets.append("person_enc = ?")
                params.append(self.vault.encrypt_json(value.to_json() if value else {}, self._person_ctx(code)))
            elif name == "sw_worker":
                sets.append("sw_worker_enc = ?")
                params.append(None if value is None else self.vault.encrypt_json(value, self._sw_ctx(code)))
            elif name in ("sw_known", "sw_open"):
                sets.append(f"{name} = ?")
                params.append(_bool_or_none(value))
            elif name == "detained":
                sets.append("detained = ?")
                params.append(1 if value else 0)
            elif name in ("referred_on", "closed_on", "next_meeting"):
                sets.append(f"{name} = ?")
                params.append(_iso(value))
            elif name == "status":
                if value not in ("open", "closed"):
                    raise ValueError(f"bad case status {value!r}")
                sets.append("status = ?")
                params.append(value)
            else:
                sets.append(f"{name} = ?")
                params.append(value)
        with self.transaction() as conn:
            cur = conn.execute(f"UPDATE cases SET {', '.join(sets)} WHERE code = ?", (*params, code))
            if cur.rowcount == 0:
                raise StoreError(f"There is no case {code}.")
            if "person" in fields:
                self._people_changed()

    def _people_changed(self) -> None:
        # A fresh random token in the same transaction as the change: a rolled-back change leaves the
        # old token, and a token is never reused, so a cache keyed on it is never stale.
        self.set_value("people_version", uuid.uuid4().hex)

    def people_version(self) -> str:
        """Changes whenever any case's names change (as this thread's connection sees the database)."""
        return self.get_value("people_version") or ""

    def protected_names(self) -> list[ProtectedPerson]:
        """Every case's protected person (open and closed), for the outbound leak gate.

        Decrypting every case for every outgoing message would make a backlog quadratic, so the list
        is cached on people_version (read first: a change committed in between only adds names)."""
        version = self.people_version()
        with self._lock:
            hit = self._people_cache.get(version)
        if hit is not None:
            return hit
        rows = self._conn().execute("SELECT code, person_enc FROM cases ORDER BY number, letter").fetchall()
        # a case whose sealed record is unchanged is not decrypted again (a backlog adds one case at a time)
        with self._lock:
            known = dict(self._person_plain)
        people = []
        fresh = {}
        for code, enc in rows:
            if enc is None:
                continue
            hit = known.get(code)
            if hit is None or hit[0] != enc:
                hit = (enc, ProtectedPerson.from_json(self.vault.decrypt_json(enc, self._person_ctx(code))))
            fresh[code] = hit
            people.append(hit[1])
        with self._lock:
            self._people_cache = {version: people}
            self._person_plain = fresh
        return people

    def mark_master_list_dirty(self, codes=(), change: str = "updated", *, now: float | None = None) -> None:
        """The Master List changed: one row per case code (``change``: added, closed, lead, social-work,
        meeting, detained, released, updated) in the caller's transaction, carried by the next version
        built (mailbot.jobs.master_list). Codes only, never a name."""
        now = time.time() if now is None else now
        if isinstance(codes, str):
            codes = (codes,)
        with self.transaction() as conn:
            conn.executemany("INSERT INTO master_list_changes (at, code, change) VALUES (?,?,?)",
                             [(now, str(c or ""), change) for c in (tuple(codes) or ("",))])
            self.set_value("master_list_dirty", "1")

    def master_list_dirty(self) -> bool:
        return self.get_value("master_list_dirty") == "1"

    def master_list_changes(self, version: int | None = None) -> list[tuple[str, str]]:
        """(code, change) of the changes not yet in a built version (None), or carried by ``version``."""
        where = "version IS NULL" if version is None else "version = ?"
        rows = self._conn().execute(f"SELECT code, change FROM master_list_changes WHERE {where} ORDER BY id",
                                    () if version is None else (int(version),)).fetchall()
        return [(r[0], r[1]) for r in rows]

    def carry_master_list_changes(self, versions, version: int) -> None:
        """The changes of versions that were never sent (superseded) become ``version``'s."""
        versions = sorted({int(v) for v in versions if int(v) != int(version)})
        if versions:
            self._conn().execute(f"UPDATE master_list_changes SET version = ? WHERE version IN "
                                 f"({', '.join('?' * len(versions))})", (int(version), *versions))

    def take_master_list_changes(self, version: int) -> list[tuple[str, str]]:
        """The changes not yet in a version, now carried by ``version`` (inside the caller's transaction)."""
        if not self.in_transaction():
            raise RuntimeError("take_master_list_changes() must be called inside store.transaction()")
        changes = self.master_list_changes()
        self._conn().execute("UPDATE master_list_changes SET version = ? WHERE version IS NULL", (int(version),))
        return changes

    def clear_master_list_dirty(self) -> None:
        self.set_value("master_list_dirty", "0")

    def next_master_list_version(self) -> int:
        with self.transaction():
            version = int(self.get_value("master_list_version") or 0) + 1
            self.set_value("master_list_version", str(version))
            return version

    def record_exit(self, code: str, *, reason: str, closed_on: str | None, actor: str = "",
                    now: float | None = None) -> None:
        """The reason given for a case's exit (EXIT CN78 reason), kept with the case code."""
        now = time.time() if now is None else now
        with self.transaction() as conn:
            conn.execute("INSERT INTO case_exits (code, closed_on, reason, actor, at) VALUES (?,?,?,?,?)",
                         (code, closed_on, reason or "", actor or "", now))

    def exit_reason(self, code: str) -> str | None:
        """The reason recorded with the latest exit of this case, or None when none was recorded."""
        row = self._conn().execute("SELECT reason FROM case_exits WHERE code = ? ORDER BY id DESC LIMIT 1",
                                   (code,)).fetchone()
        return None if row is None else row[0]
