"""What the gate reads out of a message: items (kind, label, prepared text), and the refusal.

A reading does not depend on who is protected; a Gate matches its items against its names."""

from __future__ import annotations

from mailbot.gate.memory import GateMemory
from mailbot.gate.prepared import prepare

#: (kind, label, Prepared|None): kind "text" (to match) or "refuse" (cannot be checked; the last item)
Item = tuple


class Refuse(Exception):
    """The message cannot be checked; args[0] is the label of the refusal (without "the ")."""


class Reader:
    """Collects the items of one reading; ``keep``: keep every text whole (see Prepared)."""

    def __init__(self, master_ok: bool, keep_text: bool, memory: GateMemory | None = None) -> None:
        self.master_ok = master_ok
        self.keep = keep_text
        self.memory = memory
        self.items: list[Item] = []
        self.n_attachment = 0

    def hit(self, text: str, where: tuple) -> None:
        if text:
            self.items.append(("text", where, prepare(text, keep=self.keep)))

    def hit_always(self, text: str, where: tuple) -> None:
        """As hit, but an item even for an empty text (a part read is one item, for the part cache)."""
        self.items.append(("text", where, prepare(text, keep=self.keep)))
