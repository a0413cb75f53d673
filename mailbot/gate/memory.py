"""What the gate has read and worked out, kept in memory (never on disk) for one running mailbot.

A :class:`GateMemory` is owned by the Context (mailbot.context) and shared by the gates it builds
and the threads that use them: how each message and each large Office part reads (which does not
depend on who is protected), the Office files the helper process read ahead, and the words each
protected person contributes. Bounded: the oldest entries go first."""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from typing import Callable

from mailbot.gate.prepared import Prepared

MESSAGE_CACHE_ENTRIES = 256
PART_CACHE_ENTRIES = 512
ZIP_CACHE_ENTRIES = 64
PERSON_WORDS_MAX = 20000


class GateMemory:
    """The gate's caches (see the module doc)."""

    def __init__(self) -> None:
        #: a message's bytes (To and Message-ID set aside) -> its items
        self.messages: "OrderedDict[tuple, tuple]" = OrderedDict()
        #: a large zip member's compressed bytes -> its Prepared text
        self.parts: "OrderedDict[tuple, Prepared]" = OrderedDict()
        #: a whole Office file (zip) as read: its items with labels relative to the attachment;
        #: primed by the helper process for the documents it coded (:meth:`prime_file`)
        self.files: "OrderedDict[tuple, tuple]" = OrderedDict()
        #: (the person as written, ordinary words) -> the words they contribute
        self._person_words: dict[tuple, tuple] = {}
        self._lock = threading.Lock()

    def cached(self, cache: OrderedDict, key):
        with self._lock:
            hit = cache.get(key)
            if hit is not None:
                cache.move_to_end(key)
            return hit

    def store(self, cache: OrderedDict, key, value, limit: int) -> None:
        with self._lock:
            cache[key] = value
            cache.move_to_end(key)
            while len(cache) > limit:
                cache.popitem(last=False)

    def prime_file(self, analysis: tuple) -> None:
        """Take a file's reading made by analyse_file_ahead (in another process, on the same bytes)."""
        key, items = analysis
        items = tuple((kind, where, Prepared(tuple(map(sys.intern, prep.toks)), prep.norm, prep.caps, prep.odd))
                      for kind, where, prep in items)
        self.store(self.files, key, items, ZIP_CACHE_ENTRIES)

    def person_words(self, person, ordinary_set: frozenset, read: Callable[[object, frozenset], tuple]) -> tuple:
        """What ``read`` makes of this person (a mailbot.people.ProtectedPerson), worked out once."""
        key = (person, ordinary_set)
        with self._lock:
            words = self._person_words.get(key)
        if words is None:
            words = read(person, ordinary_set)
            with self._lock:
                if len(self._person_words) >= PERSON_WORDS_MAX:
                    self._person_words.clear()
                self._person_words[key] = words
        return words
