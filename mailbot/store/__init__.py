"""The store: mailbot's memory, one SQLite file, and the vault that keeps names encrypted in it.

- database: the Store (connections, transactions, migrations, IMAP position, key/value state),
  made of the parts below;
- schema: the migrations; records: the rows as dataclasses;
- messages: inbound messages handled once, attempts, audit; cases: case numbers, cases and
  their people, the Master List flag, exits; outbox_queue: every outgoing email;
  reviews: held forms and commands awaiting confirmation;
- vault: encryption of names at rest and the blind index;
- maintenance: backup, restore and key rotation, one entry point for key_files, sealed (every sealed
  column is listed in its sealed_fields), db_files, key_rotation, backup and restore.
"""

from mailbot.store.database import BUSY_TIMEOUT_MS, Store
from mailbot.store.records import Case, OutboxItem, StoreError, storage_failure
from mailbot.store.schema import MIGRATIONS

__all__ = ["BUSY_TIMEOUT_MS", "Case", "MIGRATIONS", "OutboxItem", "Store", "StoreError",
           "storage_failure"]
