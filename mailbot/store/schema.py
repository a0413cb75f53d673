"""The database schema as a list of migrations (PRAGMA user_version counts those applied).

A migration is a list of steps run in one transaction: an SQL statement, or a function of the
connection for what SQL alone cannot do (store.backfill)."""

from __future__ import annotations

from mailbot.store.backfill import notices_and_minutes_from_the_outbox

# Each migration is a list of statements, applied in one transaction, after
# which PRAGMA user_version is the migration's 1-based index. Never edit a
# released migration: append a new one.
MIGRATIONS: list[list[str]] = [
    [
        """CREATE TABLE messages (
            key TEXT PRIMARY KEY,
            uidvalidity INTEGER,
            uid INTEGER,
            received_at TEXT,
            sender TEXT,
            kind TEXT,
            outcome TEXT,
            reason TEXT NOT NULL DEFAULT '',
            detail TEXT NOT NULL DEFAULT '',
            case_codes TEXT NOT NULL DEFAULT '[]',
            processed_at TEXT
        )""",
        """CREATE TABLE counters (
            name TEXT PRIMARY KEY,
            value INTEGER NOT NULL
        )""",
        """CREATE TABLE cases (
            code TEXT PRIMARY KEY,
            number INTEGER NOT NULL,
            letter TEXT NOT NULL DEFAULT '',
            lead_agency TEXT NOT NULL DEFAULT '',
            lead_contact TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
            referred_on TEXT,
            closed_on TEXT,
            sw_known INTEGER,
            sw_open INTEGER,
            sw_worker_enc BLOB,
            next_meeting TEXT,
            identity TEXT NOT NULL DEFAULT '',
            person_enc BLOB,
            source_message_key TEXT,
            detained INTEGER NOT NULL DEFAULT 0
        )""",
        "CREATE INDEX cases_identity ON cases(identity)",
        "CREATE INDEX cases_source ON cases(source_message_key)",
        "CREATE INDEX cases_number ON cases(number, letter)",
        """CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            message_id TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL DEFAULT '',
            case_code TEXT,
            sender TEXT NOT NULL,
            recipients TEXT NOT NULL,
            raw BLOB NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'held')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_try REAL NOT NULL,
            last_error TEXT NOT NULL DEFAULT '',
            created_at REAL NOT NULL,
            sent_at REAL,
            rule TEXT NOT NULL DEFAULT '',
            reason TEXT NOT NULL DEFAULT '',
            delivered TEXT NOT NULL DEFAULT '[]'
        )""",
        "CREATE INDEX outbox_due ON outbox(status, next_try, id)",
        """CREATE TABLE audit (
            id INTEGER PRIMARY KEY,
            at REAL NOT NULL,
            event TEXT NOT NULL DEFAULT '',
            kind TEXT NOT NULL DEFAULT '',
            message_id TEXT,
            case_code TEXT,
            recipients TEXT NOT NULL DEFAULT '[]',
            rule TEXT NOT NULL DEFAULT '',
            reason TEXT NOT NULL DEFAULT ''
        )""",
        """CREATE TABLE imap_state (
            uidvalidity INTEGER PRIMARY KEY,
            last_uid INTEGER NOT NULL
        )""",
        """CREATE TABLE kv (
            name TEXT PRIMARY KEY,
            value TEXT
        )""",
    ],
    # Coordinator commands waiting for the coordinator's confirmation (mailbot.casework.confirm), and the
    # recorded reasons of exits. IF NOT EXISTS: safe whatever order migrations of parallel work take.
    [
        """CREATE TABLE IF NOT EXISTS pending_commands (
            id INTEGER PRIMARY KEY,
            token_hash TEXT NOT NULL UNIQUE,
            coordinator TEXT NOT NULL,
            created_at REAL NOT NULL,
            expires_at REAL NOT NULL,
            commands_enc BLOB NOT NULL,
            summary TEXT NOT NULL DEFAULT '',
            source TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'done', 'cancelled')),
            finished_at REAL,
            finish_reason TEXT NOT NULL DEFAULT ''
        )""",
        """CREATE TABLE IF NOT EXISTS case_exits (
            id INTEGER PRIMARY KEY,
            code TEXT NOT NULL,
            closed_on TEXT,
            reason TEXT NOT NULL DEFAULT '',
            actor TEXT NOT NULL DEFAULT '',
            at REAL NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS case_exits_code ON case_exits(code, id)",
    ],
    [
        # referral forms held for the coordinator's review (the recall check saw a word that looks
        # like a name): everything needed to finish them, sealed with the vault key
        """CREATE TABLE IF NOT EXISTS held_forms (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            created REAL NOT NULL,
            codes TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'held'
                CHECK (status IN ('held', 'stripped', 'released', 'discarded')),
            reason TEXT NOT NULL DEFAULT '',
            location TEXT NOT NULL DEFAULT '',
            sealed BLOB NOT NULL,
            decided REAL,
            decision TEXT NOT NULL DEFAULT ''
        )""",
    ],
    [
        # issue 11 item 10: what an email said, so that a second email under the same Message-ID
        # with other content is not taken for the first (NULL: recorded before this column)
        "ALTER TABLE messages ADD COLUMN content_hash TEXT",
        # issue 11 item 11: attempts at handling a message, counted (and committed) before each
        # attempt starts, so that one that kills mailbot every time is quarantined after a few
        """CREATE TABLE IF NOT EXISTS attempts (
            fingerprint TEXT PRIMARY KEY,
            count INTEGER NOT NULL,
            first_at TEXT NOT NULL,
            last_at TEXT NOT NULL
        )""",
    ],
    [
        # issue 14 item 4: facts as rows, not key/value blobs or mailbot's own sent mail re-parsed.
        # A case's meetings (their number is the calendar UID; a new notice for a meeting still to
        # come moves it: SEQUENCE + 1), the notices sent on, who was invited, minutes received,
        # the actions of the latest minutes, reminders sent, changes to the member directory.
        """CREATE TABLE meetings (
            case_code TEXT NOT NULL,
            number INTEGER NOT NULL,
            sequence INTEGER NOT NULL DEFAULT 0,
            starts_at TEXT NOT NULL,
            cancelled INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (case_code, number)
        )""",
        """CREATE TABLE meeting_notices (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            case_code TEXT NOT NULL,
            starts_at TEXT NOT NULL,
            venue TEXT NOT NULL DEFAULT '',
            sent_at TEXT NOT NULL,
            source TEXT NOT NULL UNIQUE
        )""",
        """CREATE TABLE meeting_invitees (
            notice_id INTEGER NOT NULL REFERENCES meeting_notices(id),
            address TEXT NOT NULL,
            PRIMARY KEY (notice_id, address)
        )""",
        """CREATE TABLE minutes_received (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            case_code TEXT NOT NULL,
            received_at TEXT NOT NULL,
            source TEXT NOT NULL,
            UNIQUE (case_code, source)
        )""",
        """CREATE TABLE actions (
            case_code TEXT NOT NULL,
            position INTEGER NOT NULL,
            action TEXT NOT NULL,
            responsible TEXT NOT NULL DEFAULT '',
            responsible_email TEXT,
            PRIMARY KEY (case_code, position)
        )""",
        """CREATE TABLE reminders_sent (
            key TEXT PRIMARY KEY,
            sent_at REAL NOT NULL DEFAULT 0
        )""",
        """CREATE TABLE member_changes (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            op TEXT NOT NULL CHECK (op IN ('add', 'remove', 'change')),
            agency TEXT NOT NULL DEFAULT '',
            email TEXT NOT NULL DEFAULT '',
            new_email TEXT NOT NULL DEFAULT '',
            social_work INTEGER NOT NULL DEFAULT 0,
            may_submit INTEGER NOT NULL DEFAULT 1,
            at REAL NOT NULL DEFAULT 0
        )""",
        # what schema 4 kept in key/value blobs, moved into the rows
        """INSERT INTO meetings (case_code, number, sequence, starts_at, cancelled)
           SELECT substr(name, 16), json_extract(value, '$.no'), json_extract(value, '$.seq'),
                  json_extract(value, '$.start'), coalesce(json_extract(value, '$.cancelled'), 0)
           FROM kv WHERE substr(name, 1, 15) = 'meeting_notice:' AND json_valid(value)""",
        """INSERT INTO actions (case_code, position, action, responsible, responsible_email)
           SELECT substr(kv.name, 9), CAST(j.key AS INTEGER), coalesce(json_extract(j.value, '$.action'), ''),
                  coalesce(json_extract(j.value, '$.responsible'), ''), json_extract(j.value, '$.responsible_email')
           FROM kv, json_each(kv.value) AS j WHERE substr(kv.name, 1, 8) = 'actions:' AND json_valid(kv.value)""",
        """INSERT OR IGNORE INTO reminders_sent (key)
           SELECT j.value FROM kv, json_each(kv.value) AS j
           WHERE kv.name = 'reminders_sent' AND json_valid(kv.value) AND j.type = 'text'""",
        """INSERT INTO member_changes (op, agency, email, new_email, social_work, may_submit)
           SELECT json_extract(j.value, '$.op'), coalesce(json_extract(j.value, '$.agency'), ''),
                  coalesce(json_extract(j.value, '$.email'), json_extract(j.value, '$.old'), ''),
                  coalesce(json_extract(j.value, '$.new'), ''), coalesce(json_extract(j.value, '$.social_work'), 0),
                  coalesce(json_extract(j.value, '$.may_submit'), 1)
           FROM kv, json_each(kv.value) AS j WHERE kv.name = 'member_overrides' AND json_valid(kv.value)
           ORDER BY CAST(j.key AS INTEGER)""",
        notices_and_minutes_from_the_outbox,
        """DELETE FROM kv WHERE name IN ('reminders_sent', 'member_overrides') OR substr(name, 1, 8) = 'actions:'
           OR substr(name, 1, 15) = 'meeting_notice:'""",
    ],
    [
        # issue 12 item 3: referrals waiting for the coordinator's consent decision (CONSENT CN78 OVERRIDE
        # / WITHDRAW): everything needed to finish them, sealed with the vault key; no case row meanwhile
        """CREATE TABLE IF NOT EXISTS consent_holds (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            number INTEGER NOT NULL,
            codes TEXT NOT NULL,
            created REAL NOT NULL,
            status TEXT NOT NULL DEFAULT 'waiting'
                CHECK (status IN ('waiting', 'overridden', 'withdrawn')),
            reason TEXT NOT NULL DEFAULT '',
            sealed BLOB NOT NULL,
            decided REAL,
            decision TEXT NOT NULL DEFAULT ''
        )""",
        "CREATE INDEX IF NOT EXISTS consent_holds_number ON consent_holds(number, status)",
        # issue 12 items 3 and 5: what the form said about consent, per case (no words of the form)
        """CREATE TABLE IF NOT EXISTS case_consent (
            code TEXT PRIMARY KEY,
            parental TEXT NOT NULL DEFAULT '',
            sensitive INTEGER NOT NULL DEFAULT 0,
            decision TEXT NOT NULL DEFAULT ''
        )""",
        # issue 12 item 4: closed cases whose record was purged after the retention period
        """CREATE TABLE IF NOT EXISTS purged_cases (
            code TEXT PRIMARY KEY,
            closed_on TEXT,
            purged_at REAL NOT NULL
        )""",
    ],
    [
        # issue 13: what changed on the Master List since the last version built, one row per change
        # (version NULL until a built version carries it), so that the members' email says what changed
        # and a crash between building and sending neither loses a change nor sends it twice
        """CREATE TABLE IF NOT EXISTS master_list_changes (
            id INTEGER PRIMARY KEY,
            at REAL NOT NULL,
            code TEXT NOT NULL DEFAULT '',
            change TEXT NOT NULL,
            version INTEGER
        )""",
        "CREATE INDEX IF NOT EXISTS master_list_changes_version ON master_list_changes(version, id)",
        # issue 13: an outgoing item can be 'superseded' (a Master List replaced by a newer version
        # before it went out: never sent). SQLite cannot change a CHECK: the table is rebuilt with the
        # same columns, in the same order, and its index made again.
        """CREATE TABLE outbox_rebuilt (
            id INTEGER PRIMARY KEY,
            message_id TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL DEFAULT '',
            case_code TEXT,
            sender TEXT NOT NULL,
            recipients TEXT NOT NULL,
            raw BLOB NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'held', 'superseded')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_try REAL NOT NULL,
            last_error TEXT NOT NULL DEFAULT '',
            created_at REAL NOT NULL,
            sent_at REAL,
            rule TEXT NOT NULL DEFAULT '',
            reason TEXT NOT NULL DEFAULT '',
            delivered TEXT NOT NULL DEFAULT '[]'
        )""",
        """INSERT INTO outbox_rebuilt (id, message_id, kind, case_code, sender, recipients, raw, status, attempts,
            next_try, last_error, created_at, sent_at, rule, reason, delivered)
           SELECT id, message_id, kind, case_code, sender, recipients, raw, status, attempts, next_try,
            last_error, created_at, sent_at, rule, reason, delivered FROM outbox""",
        "DROP TABLE outbox",
        "ALTER TABLE outbox_rebuilt RENAME TO outbox",
        "CREATE INDEX IF NOT EXISTS outbox_due ON outbox(status, next_try, id)",
    ],
]
