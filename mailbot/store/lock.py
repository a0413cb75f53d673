"""The data folder's lock: one mailbot (daemon, restore, key rotation) per data folder at a time."""

from __future__ import annotations

import fcntl
from pathlib import Path

from mailbot.errors import ConfigError


def take_lock(path: Path):
    """Hold ``path`` locked (the open file) or refuse: two mailbots would both send the same pending mail."""
    fh = open(path, "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        raise ConfigError(f"another mailbot is already running with the data folder {path.parent}.") from None
    return fh
