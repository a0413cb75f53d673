"""The read-ahead service the Context holds (``ctx.ahead``): the helper process and its answers, for one pass.

The daemon starts a run (:meth:`Ahead.run`) when the watcher fetches several messages and stops it
at the end of each pass (:meth:`Ahead.stop`); intake asks it for an email read
(:meth:`Ahead.email`), a form read (:meth:`Ahead.referral`) and a document coded
(:meth:`Ahead.coded`), and says when a message is handled (:meth:`Ahead.forget`)."""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Callable

from mailbot.speculate.helper import HelperProcess
from mailbot.speculate.work import FormAhead, digest, extra_key, people_key, work_ahead

log = logging.getLogger("mailbot.speculate")

#: a run of at least this many fetched messages starts the helper
MIN_RUN = 4
#: messages given to the helper at a time (a few: it never runs far ahead of intake)
WINDOW = 3
#: how long intake waits for an answer the helper is working on (doing it twice costs more), at most
WAIT_SECONDS = 2.0


class Ahead:
    """The helper process and its answers, for one pass over the inbox.

    The helper is given a few messages at a time (``window``), in the order intake handles them,
    each after the one before: it carries the case number from one to the next. Intake takes an
    answer that is ready, waits for one the running helper is working on (doing it twice would
    cost more) and does the work itself while the helper is still starting. When intake has gone
    past messages the helper never got, the next one it gets starts again from the store's next
    number, which is then exact: every message before it has been handled."""

    def __init__(self, rules_dir: Path, max_bytes: int, *, window: int = WINDOW, gate_memory=None):
        self.rules_dir = str(rules_dir)
        #: the Context's mailbot.gate.GateMemory: the gate's readings of the coded documents go there
        self.gate_memory = gate_memory
        self.max_bytes = max_bytes
        self.window = window
        self._pool: HelperProcess | None = None
        self._raws: list[bytes] = []  # the run, in handling order
        self._index: dict[bytes, int] = {}  # message digest -> its place in the run
        self._next = 0  # the place of the next message to give the helper
        self._pos = 0  # the place of the next message intake handles
        self._next_number: Callable[[], int] | None = None
        self._jobs: dict[bytes, Future] = {}  # message digest -> future, for messages not yet handled
        self._stale: list[Future] = []  # jobs for messages handled meanwhile: the helper is still on them
        self._coded: dict[bytes, FormAhead] = {}  # form digest -> what the helper read and coded, message in hand
        self._answering = False  # the helper has answered: it is up, worth waiting for
        self.emails_used = 0  # answers taken (tests, logs)
        self.forms_used = 0
        self.wasted = 0  # answers made but not used (not ready, or made from other inputs)
        self.waited = 0.0  # seconds intake waited for the helper

    def run(self, raws: list[bytes], next_number: Callable[[], int]) -> None:
        """A run of fetched messages, in the order intake will handle them, every earlier one handled.

        ``next_number`` gives the store's next case number (exact whenever it is asked)."""
        self._drop_jobs()
        self._raws, self._index, self._next, self._pos = [], {}, 0, 0
        if len(raws) < MIN_RUN:
            return
        try:
            if self._pool is None:
                self._pool = HelperProcess()
        except Exception as exc:  # noqa: BLE001 - no helper: the pipeline does everything itself
            log.warning("no helper process (%s); intake continues on its own", type(exc).__name__)
            return
        self._raws = list(raws)
        self._index = {digest(raw): i for i, raw in enumerate(self._raws)}
        self._next_number = next_number
        self._top_up(exact=True)

    def _top_up(self, exact: bool = False) -> None:
        """Keep ``window`` messages with the helper (counting those it is still doing in vain)."""
        self._stale = [f for f in self._stale if not f.done()]
        busy = len(self._stale) + sum(1 for f in self._jobs.values() if not f.done())
        while self._pool is not None and busy < self.window and self._next < len(self._raws):
            if self._next < self._pos:  # intake went past these on its own
                self._next, exact = self._pos, True
                continue
            raw = self._raws[self._next]
            try:
                start = self._next_number() if exact else None  # None: the helper carries its count
                fut = self._pool.submit(work_ahead, raw, start, self.rules_dir, self.max_bytes)
            except Exception as exc:  # noqa: BLE001 - the helper is gone: intake does it all itself
                log.warning("helper process unavailable (%s); intake continues on its own", type(exc).__name__)
                self.stop()
                return
            fut.add_done_callback(self._answered)
            self._jobs[digest(raw)] = fut
            self._next += 1
            busy += 1
            exact = False

    def _answered(self, fut: Future) -> None:  # (in the executor's thread)
        if not fut.cancelled() and fut.exception() is None:
            self._answering = True

    def _answer(self, raw: bytes):
        key = digest(raw)
        if key in self._index:
            self._pos = self._index[key]
        fut = self._jobs.pop(key, None)
        if fut is None:
            return None
        if not fut.done() and not self._answering:  # the helper is still starting: do it here
            self._stale.append(fut)
            self.wasted += 1
            return None
        waited = time.perf_counter()
        try:
            answer = fut.result(timeout=WAIT_SECONDS)
            self.waited += time.perf_counter() - waited
            return answer
        except Exception as exc:  # noqa: BLE001 - the helper failed, died or is too slow: do it here
            if not isinstance(exc, TimeoutError):
                log.warning("helper process failed (%s); this message is handled without it", type(exc).__name__)
            else:
                self._stale.append(fut)
            self.wasted += 1
            return None

    def email(self, raw: bytes):
        """The email read by the helper, with what it read and coded kept for this message; or None."""
        answer = self._answer(raw)
        if answer is None:
            return None
        email, coded = answer
        self._coded = {c.form: c for c in coded}
        self.emails_used += 1
        return email

    def referral(self, form: bytes):
        """The referral form as the helper read it (a Referral), or None: read it here.

        Only a form the helper opened and read without a problem; a form it took for minutes, or
        could not open or read, is opened here and gets the pipeline's own answer."""
        hit = self._coded.get(digest(form))
        return hit.reading if hit is not None else None

    def coded(self, form: bytes, children, family, codes, extra) -> bytes | None:
        """The coded document made by the helper from exactly these inputs, or None.

        One made from other inputs stays in hand, unused: :meth:`forget` then restarts the count."""
        key = digest(form)
        hit = self._coded.get(key)
        if hit is None:
            return None
        out = hit.coded
        if out is not None and (hit.people != people_key(children, family) or hit.codes != tuple(codes)
                                or hit.extra != extra_key(extra)):
            self.wasted += 1
            return None
        del self._coded[key]
        if out is None:  # the helper could not code it (it counted its number, as intake does)
            return None
        self.forms_used += 1
        if hit.gate_reading is not None and self.gate_memory is not None:
            self.gate_memory.prime_file(hit.gate_reading)  # the last gate reads it without opening it again
        return out

    def forget(self, raw: bytes) -> None:
        """The message is handled: drop what the helper made for it, give the helper the next one.

        A form the helper read and counted a number for that is still in hand, not coded by intake
        (the same young person referred again, a sender refused...) or coded with other numbers,
        means the helper's count is off: what it has in hand is dropped and the next message goes
        to it with the store's next number."""
        restart = bool(self._coded)
        self._coded = {}
        key = digest(raw)
        if key in self._index:
            self._pos = self._index[key] + 1
            self._jobs.pop(key, None)
        if restart:
            self.wasted += len(self._jobs)
            self._drop_jobs(keep_stale=True)
            self._next = self._pos
        if self._pool is not None:
            self._top_up(exact=restart)

    def _drop_jobs(self, *, keep_stale: bool = False) -> None:
        """Forget the jobs in hand (those the helper has started finish in vain, ahead of new ones)."""
        jobs, self._jobs = self._jobs, {}
        if not keep_stale:
            self._stale = []
        for fut in jobs.values():
            fut.cancel()

    def stop(self) -> None:
        """End of a pass: stop the helper (an idle mailbot is one process)."""
        pool, self._pool = self._pool, None
        self._drop_jobs()
        self._raws, self._index = [], {}
        self._answering = False
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
            log.info("work ahead: %d emails and %d forms taken from the helper (waited %.1f s), "
                     "%d answers not used", self.emails_used, self.forms_used, self.waited, self.wasted)
