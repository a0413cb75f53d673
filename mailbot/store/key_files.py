"""The vault key's files in the data folder: reading them, writing them atomically, putting a new key in place.

``names.key`` is the key in use and is never missing (only ever replaced by an atomic rename);
``names.key.new`` waits to be put in place, ``names.key.old`` is the previous key, kept until then.
The test hook ``MAILBOT_CRASH_AT=<point>`` kills the process at a named point of a rotation or restore.
"""

from __future__ import annotations

import base64
import os
import signal
from pathlib import Path

from mailbot.errors import ConfigError
from mailbot.store.vault import _KEY_HEADER, Vault

#: test hook: ``MAILBOT_CRASH_AT=<point>`` kills the process (SIGKILL) at that point of a rotation or restore
CRASH_ENV = "MAILBOT_CRASH_AT"


def crash_point(name: str) -> None:
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def read_key(path: Path) -> bytes:
    """The 32-byte master key of a key file (its mode checked as when mailbot starts)."""
    return Vault._read_key_file(Path(path))


def load_vault(path: Path) -> Vault:
    """The vault of an existing key file (never creates one, unlike Vault.load_or_create)."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"The mailbot key file {path} does not exist.")
    return Vault(read_key(path))


def new_key_path(key_path: Path) -> Path:
    return Path(key_path).with_name(Path(key_path).name + ".new")


def old_key_path(key_path: Path) -> Path:
    return Path(key_path).with_name(Path(key_path).name + ".old")


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - a platform without directory fsync
        pass
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    """``path``'s content on disk (opened read-only and fsync'd)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` (mode 0600 whatever the umask) through a temporary file and an atomic rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def key_file_text(master: bytes) -> bytes:
    return (_KEY_HEADER + base64.b64encode(master).decode("ascii") + "\n").encode("ascii")


def remove(path: Path) -> None:
    """``path`` removed, if it is there."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def put_new_key_in_place(key_path: Path) -> None:
    """names.key.new becomes names.key; the previous key is kept as names.key.old until then, then removed.

    names.key exists at every instant (os.replace is atomic), so a crash never leaves mailbot to create a
    fresh key beside a sealed database."""
    new, old = new_key_path(key_path), old_key_path(key_path)
    remove(old)
    os.link(key_path, old)
    fsync_dir(key_path.parent)
    crash_point("old-key-kept")
    os.replace(new, key_path)
    fsync_dir(key_path.parent)
    crash_point("key-swapped")
    remove(old)
    fsync_dir(key_path.parent)


def rotation_pending(key_path: Path) -> bool:
    return new_key_path(key_path).exists() or old_key_path(key_path).exists()


def refuse_if_rotation_pending(key_path: Path) -> None:
    """For what runs beside the daemon without its lock (mailbot command, backup)."""
    if rotation_pending(key_path):
        raise ConfigError("A key rotation or restore was interrupted; start mailbot (or run `mailbot rotate-key` "
                          "again) to finish it first.")
