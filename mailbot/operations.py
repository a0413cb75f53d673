"""Operations for the person who runs mailbot: `mailbot backup`, `restore`, `rotate-key`, `export-master-list`.

The command line (mailbot.cli) only parses arguments; the work is here and in mailbot.store.maintenance.
Each prints a few plain lines (paths, counts, codes), never a name.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path

from mailbot.config import Config, load_config
from mailbot.errors import ConfigError
from mailbot.store import maintenance

log = logging.getLogger("mailbot.operations")


def _lock(cfg: Config, doing: str):
    """The daemon's lock: what replaces the database or its key must not run beside mailbot."""
    from mailbot.store.lock import take_lock as _take_lock

    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        return _take_lock(cfg.data_dir / "mailbot.lock")
    except ConfigError:
        raise ConfigError(f"mailbot is running with the data folder {cfg.data_dir}: stop it first "
                          f"(systemctl stop mailbot), then {doing} again.") from None


def _plural(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} in {table}" for table, n in sorted(counts.items()) if n) or "none"


def backup(config_path: Path, dest: Path, *, key_out: Path | None = None) -> int:
    cfg = load_config(config_path)
    report = maintenance.backup(cfg.store_path, cfg.key_file, Path(dest), key_out=key_out)
    print(f"Backup written to {report.dest} in {report.seconds:.1f} s (schema version {report.schema_version}):")
    print(f"  database: {report.db} ({report.rows.get('cases', 0)} cases, {report.rows.get('outbox', 0)} "
          f"outgoing emails; sealed values checked: {_plural(report.sealed)})")
    print(f"  key:      {report.key}")
    print(f"  manifest: {report.manifest}")
    print("Keep the key apart from the database (another medium or place): together they reveal every name.")
    return 0


def restore(config_path: Path, src: Path, *, key_file: Path | None = None) -> int:
    cfg = load_config(config_path)
    lock = _lock(cfg, "restore")
    try:
        report = maintenance.restore(Path(src), cfg.store_path, cfg.key_file, key_file=key_file)
    finally:
        lock.close()
    print(f"Restored the backup of {report.created or 'unknown date'} to {report.db} "
          f"(schema version {report.schema_version}, {report.rows.get('cases', 0)} cases)"
          + ("; the key was replaced by the backup's." if report.key_changed else "; the key is unchanged."))
    if report.kept is not None:
        print(f"The previous database and key are kept in {report.kept} (0700): delete it once all is well.")
    print("Start mailbot again: systemctl start mailbot")
    return 0


def rotate_key(config_path: Path) -> int:
    cfg = load_config(config_path)
    lock = _lock(cfg, "rotate the key")
    try:
        report = maintenance.rotate_key(cfg.key_file, cfg.store_path)
    finally:
        lock.close()
    print(f"New key in place at {cfg.key_file}; re-encrypted {_plural(report.sealed)}; "
          f"{report.identities} duplicate-check index entries recomputed ({report.seconds:.1f} s).")
    print("Backups taken before now need the old key, kept with them; take a new backup now (mailbot backup).")
    return 0


def recover_at_start(cfg: Config, *, locked: bool) -> None:
    """Called by the daemon before it opens the key: finish an interrupted rotation or restore."""
    if not maintenance.rotation_pending(cfg.key_file):
        return
    if not locked:
        maintenance.refuse_if_rotation_pending(cfg.key_file)
    done = maintenance.recover_key_files(cfg.key_file, cfg.store_path)
    if done:
        log.warning("key files: %s", done)


def export_master_list(config_path: Path, out: Path) -> int:
    """The current Master List (open cases), encrypted with the network's password as the emailed one is."""
    from mailbot.casework.master_list import build_master_list, encrypt_workbook
    from mailbot.jobs.master_list import master_rows
    from mailbot.store import Store

    cfg = load_config(config_path)
    out = Path(out)
    if out.exists():
        raise ConfigError(f"{out} already exists; choose another file name.")
    maintenance.refuse_if_rotation_pending(cfg.key_file)
    vault = maintenance.load_vault(cfg.key_file)
    with Store.open(cfg.store_path, vault, first_case_number=cfg.first_case_number) as store:
        cases = store.open_cases()
        version = int(store.get_value("master_list_version") or 0)
    now = datetime.now(timezone.utc).astimezone(cfg.tz).replace(tzinfo=None)
    workbook = build_master_list(master_rows(cases), network_name=cfg.network_name, generated_at=now,
                                 version=version)
    maintenance.write_private(out, encrypt_workbook(workbook, cfg.master_list_password))
    print(f"Master List ({len(cases)} open cases: {', '.join(c.code for c in cases) or 'none'}) written to {out}, "
          "encrypted with the Master List password (mode 0600).")
    return 0
