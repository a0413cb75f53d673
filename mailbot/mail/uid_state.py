"""Where the inbox watcher remembers the highest UID it has handled, per UIDVALIDITY.

:class:`UidState` is the protocol (the store's ``uid_state()`` is the daemon's); :class:`MemoryUidState`
and :class:`JsonFileUidState` serve tests and ``check-config``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol


class UidState(Protocol):
    """Where the watcher remembers the highest UID it has handled (per UIDVALIDITY)."""

    def get(self, uidvalidity: int) -> int: ...

    def set(self, uidvalidity: int, uid: int) -> None: ...


class MemoryUidState:
    def __init__(self):
        self._d: dict[int, int] = {}

    def get(self, uidvalidity: int) -> int:
        return self._d.get(int(uidvalidity), 0)

    def set(self, uidvalidity: int, uid: int) -> None:
        self._d[int(uidvalidity)] = int(uid)


class JsonFileUidState:
    """A small JSON file {"uidvalidity": N, "last_uid": M}; a new UIDVALIDITY starts over."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def _load(self) -> dict:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def get(self, uidvalidity: int) -> int:
        d = self._load()
        return int(d.get("last_uid", 0)) if d.get("uidvalidity") == int(uidvalidity) else 0

    def set(self, uidvalidity: int, uid: int) -> None:
        from mailbot.documents.package import write_atomic

        write_atomic(self.path, json.dumps({"uidvalidity": int(uidvalidity), "last_uid": int(uid)}).encode())
