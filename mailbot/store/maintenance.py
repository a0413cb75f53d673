"""Operations on the store and its key: backup, restore, key rotation, and the check that a key opens a database.

This module is their one entry point (what mailbot.operations and the tests call); the work is in
:mod:`~mailbot.store.key_files` (the key files, atomic writes), :mod:`~mailbot.store.sealed` (what is sealed,
whether a key opens it), :mod:`~mailbot.store.db_files` (opening and checking a database file),
:mod:`~mailbot.store.key_rotation` (rotation and crash recovery), :mod:`~mailbot.store.backup` and
:mod:`~mailbot.store.restore`.

Everything sealed with the vault key is listed once, in :func:`sealed_fields`: a new encrypted column must be
added there, or rotation and the checks would miss it.

Key files in the data folder (``names.key`` is the configured key file):

- ``names.key``: the key in use. It is never missing: it is only ever replaced by an atomic rename.
- ``names.key.new``: a key waiting to be put in place (a rotation or a restore under way).
- ``names.key.old``: the previous key, kept until the new one is in place.

After a crash at any point, :func:`recover_key_files` (run by ``mailbot run`` at start, and by
``rotate-key``/``restore``) looks at which key opens the database: the database records the key it was last
sealed with (``kv.vault_key_check``, a keyed hash that reveals nothing), and where it has no record every
sealed row is tried. The key that opens it ends as ``names.key``, the other one is removed: one key, every
row readable.

Nothing here logs or prints a name: messages carry table names, row numbers and counts.
"""

from mailbot.store.backup import (BACKUP_DB, BACKUP_FORMAT, BACKUP_KEY, MANIFEST, BackupReport, backup,
                                  read_backup)
from mailbot.store.db_files import MaintenanceError, row_counts, sha256_file
from mailbot.store.key_files import (CRASH_ENV, key_file_text, load_vault, new_key_path, old_key_path, read_key,
                                     refuse_if_rotation_pending, rotation_pending, write_private)
from mailbot.store.key_rotation import RotationReport, recover_key_files, rotate_key
from mailbot.store.restore import RestoreReport, restore
from mailbot.store.sealed import KEY_CHECK, Sealed, check_key_opens, fingerprint, key_fits, sealed_fields

__all__ = ["BACKUP_DB", "BACKUP_FORMAT", "BACKUP_KEY", "BackupReport", "CRASH_ENV", "KEY_CHECK", "MANIFEST",
           "MaintenanceError", "RestoreReport", "RotationReport", "Sealed", "backup", "check_key_opens",
           "fingerprint", "key_file_text", "key_fits", "load_vault", "new_key_path", "old_key_path", "read_backup",
           "read_key", "recover_key_files", "refuse_if_rotation_pending", "restore", "rotate_key", "rotation_pending",
           "row_counts", "sealed_fields", "sha256_file", "write_private"]
