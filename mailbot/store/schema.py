"""The database schema as a list of migrations (PRAGMA user_version counts those applied)."""

from __future__ import annotations

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
