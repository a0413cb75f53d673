"""The store: one SQLite file (schema, migrations, cases, outbox queue, messages, audit) and the vault."""
