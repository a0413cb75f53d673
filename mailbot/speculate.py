"""Work done ahead, in a helper process, while a backlog drains.

Intake is one message at a time, in UID order, on one thread: that order is
what gives every referral its number, and Python runs one thread at a time.
When the watcher fetches a run of messages, the pure, costly part of their
intake is done in ONE helper process, on the next CPU, a few messages ahead:
reading each email, opening and reading each referral form, coding it with
the code it is expected to get (the next free number, one per referral form,
in order) and reading the coded document as the leak gate will.

The helper only computes: it writes nothing, sends nothing and sees no
database. Intake takes an answer (:meth:`Ahead.email`, :meth:`Ahead.referral`,
:meth:`Ahead.coded`) only for the very same input: the same message bytes;
the same form bytes; for a coded document, also the same young people,
family, codes and extra fields intake itself worked out. Otherwise (a
duplicate referral shifted the numbers, the helper is still starting, failed
or died) intake does the work itself, as it does for a single message. The
coded document is checked by the same verifier in the helper, and by the
leak gate when its message is queued, whichever process coded it; the gate's
reading of it made in the helper (:func:`mailbot.gate.analyse_file_ahead`) is
keyed on the document's bytes and holds no name.

The helper starts only for a run of several messages and stops at the end of
each pass, so an idle mailbot is one process. It ends with mailbot however
mailbot ends, SIGKILL included (:func:`die_with_parent`).
"""

from __future__ import annotations

import collections
import hashlib
import logging
import os
import pickle
import struct
import subprocess
import sys
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Callable

log = logging.getLogger("mailbot.speculate")

#: a run of at least this many fetched messages starts the helper
MIN_RUN = 4
#: messages given to the helper at a time (a few: it never runs far ahead of intake)
WINDOW = 3
#: how long intake waits for an answer the helper is working on (doing it twice costs more), at most
WAIT_SECONDS = 2.0


def _digest(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


# -- the helper process (pure) ---------------------------------------------

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent(parent_pid: int) -> None:
    """In the helper, first thing: end when mailbot ends, however it ends (SIGKILL included).

    The kernel kills the helper when its parent goes (prctl PR_SET_PDEATHSIG, Linux); as a second
    line, and where prctl is not there, a thread ends it within half a second of the parent's
    death (it is then re-parented). Its input pipe reaching end-of-file is a third."""
    import signal

    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the watch below does it
        pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(0)

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent_pid:
                os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


_next_number: int | None = None  # the helper's own count, carried from one message to the next


def work_ahead(raw: bytes, start_number: int | None, rules_dir: str, max_bytes: int):
    """In the helper: read one email and code its referral forms with the numbers expected next.

    Returns (email, [(form digest, the form as read (json), people key, codes, extra, coded bytes,
    the gate's reading of them), ...]) for each referral form read (the last five None when it
    could not be coded). A form it cannot open or read is passed over (intake answers it); an
    email it cannot read at all raises, and intake reads it itself."""
    global _next_number
    from mailbot.documents.coding import code_document, sibling_codes
    from mailbot.documents.package import open_package
    from mailbot.gate import analyse_file_ahead
    from mailbot.handlers.common import WORD_KINDS
    from mailbot.handlers.minutes import looks_like_minutes
    from mailbot.mail.reading import kind_of_attachment, read_email
    from mailbot.documents.redaction_rules import field_protections, load_redaction_rules
    from mailbot.documents.referral import parse_referral

    if start_number is not None:
        _next_number = start_number
    email = read_email(raw, max_bytes=max_bytes)
    coded = []
    if email.too_large:
        return email, coded
    for att in email.attachments:
        if kind_of_attachment(att) not in WORD_KINDS or _next_number is None:
            continue
        try:
            pkg = open_package(att.data, max_file_bytes=max_bytes)
            if looks_like_minutes(pkg):
                continue
            data = parse_referral(pkg).to_json()
        except Exception:  # noqa: BLE001 - the pipeline answers a bad form itself
            continue
        # the form as read: the pipeline takes it instead of opening and reading the form again
        reading = (_digest(att.data), data)
        children, family = data["young_people"], data["family"] + data.get("named_in_text", [])
        codes = sibling_codes(_next_number, len(children))
        _next_number += 1  # the pipeline allocates one number per referral form it codes
        try:
            extra = field_protections(children, load_redaction_rules(Path(rules_dir)))
            out = code_document(pkg, children, family, codes, extra=extra)
        except Exception:  # noqa: BLE001 - e.g. the verifier refused: the pipeline finds that itself
            coded.append((*reading, None, None, None, None, None))
            continue
        coded.append((*reading, _people_key(children, family), tuple(codes), _extra_key(extra), out,
                      analyse_file_ahead(out)))
    return email, coded


def _people_key(children, family) -> bytes:
    import json

    return _digest(json.dumps([children, family], sort_keys=True, default=str).encode("utf-8"))


def _extra_key(extra) -> tuple:
    return tuple(tuple(x) for x in extra)


# -- the helper process: a plain child fed over a pipe ----------------------
#
# Not multiprocessing: its spawn start method also starts a "resource tracker" process (and its
# worker holds both ends of its own queue, so it cannot tell when mailbot is gone). This helper is
# `python -c` with two pipes: jobs on its stdin, answers on a second descriptor. A job is
# (function, arguments), pickled; its answer (job id, ok, result or the exception's type name:
# never its message, which could quote a document).

_JOB = struct.Struct("!QI")  # job id, payload length
_ANSWER = struct.Struct("!I")  # payload length


def _read_exact(stream, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        chunk = stream.read(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def helper_main(parent_pid: int, answer_fd: int) -> None:  # pragma: no cover - runs in the helper
    """The helper's loop: read a job, do it, write the answer; end at end-of-file (mailbot gone or done)."""
    die_with_parent(parent_pid)
    jobs = sys.stdin.buffer
    answers = os.fdopen(answer_fd, "wb")
    while True:
        head = _read_exact(jobs, _JOB.size)
        if head is None:
            os._exit(0)
        job_id, size = _JOB.unpack(head)
        payload = _read_exact(jobs, size)
        if payload is None:
            os._exit(0)
        try:
            fn, args = pickle.loads(payload)
            answer = (job_id, True, fn(*args))
        except BaseException as exc:  # noqa: BLE001 - reported by type only
            answer = (job_id, False, type(exc).__name__)
        try:
            data = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # noqa: BLE001
            data = pickle.dumps((job_id, False, type(exc).__name__))
        try:
            answers.write(_ANSWER.pack(len(data)) + data)
            answers.flush()
        except OSError:
            os._exit(0)


class HelperFailed(Exception):
    """The helper could not do a job (its exception's type name), or it is gone."""


class HelperProcess:
    """One helper process, used like a one-worker process pool (``submit``, ``shutdown``).

    At most one job is with the helper at a time, so writing a job never waits for it to finish the
    one before; jobs waiting here can still be cancelled."""

    def __init__(self):
        answer_r, answer_w = os.pipe()
        job_r, job_w = os.pipe()
        package_root = str(Path(__file__).resolve().parent.parent)
        code = (f"import sys; sys.path.insert(0, {package_root!r}); "
                f"from mailbot.speculate import helper_main; helper_main({os.getpid()}, {answer_w})")
        try:
            self.proc = subprocess.Popen([sys.executable, "-c", code], stdin=job_r, stdout=subprocess.DEVNULL,
                                         pass_fds=(answer_w,), close_fds=True)
        except BaseException:
            for fd in (answer_r, answer_w, job_r, job_w):
                os.close(fd)
            raise
        os.close(job_r)
        os.close(answer_w)
        self._jobs = os.fdopen(job_w, "wb")
        self._answers = os.fdopen(answer_r, "rb")
        self._processes = {self.proc.pid: self.proc}  # (the name ProcessPoolExecutor uses; tests read it)
        self._lock = threading.Lock()
        self._waiting: collections.deque = collections.deque()  # (job id, future, payload), not yet sent
        self._sent: dict[int, Future] = {}
        self._ids = 0
        self._broken = False
        self._closing = False
        threading.Thread(target=self._read_answers, name="helper-answers", daemon=True).start()

    def submit(self, fn, *args) -> Future:
        fut: Future = Future()
        payload = pickle.dumps((fn, args), protocol=pickle.HIGHEST_PROTOCOL)
        with self._lock:
            if self._broken or self._closing:
                raise HelperFailed("the helper process is gone")
            self._ids += 1
            self._waiting.append((self._ids, fut, payload))
            self._send_next()
        return fut

    def _send_next(self) -> None:  # (with the lock held)
        while self._waiting and not self._sent and not self._broken:
            job_id, fut, payload = self._waiting.popleft()
            if not fut.set_running_or_notify_cancel():  # cancelled while it waited here
                continue
            self._sent[job_id] = fut
            try:
                self._jobs.write(_JOB.pack(job_id, len(payload)) + payload)
                self._jobs.flush()
            except (OSError, ValueError):
                self._fail_all("the helper process is gone")

    def _read_answers(self) -> None:
        while True:
            head = _read_exact(self._answers, _ANSWER.size)
            data = _read_exact(self._answers, _ANSWER.unpack(head)[0]) if head else None
            if data is None:
                break
            try:
                job_id, ok, value = pickle.loads(data)
            except Exception:  # noqa: BLE001
                break
            with self._lock:
                fut = self._sent.pop(job_id, None)
                if fut is not None:
                    if ok:
                        fut.set_result(value)
                    else:
                        fut.set_exception(HelperFailed(str(value)))
                if self._closing and not self._sent:
                    self._close_input()
                else:
                    self._send_next()
        with self._lock:
            self._fail_all("the helper process ended")
        try:
            self._answers.close()
        except OSError:
            pass
        self.proc.wait()  # (reaped: no zombie)

    def _fail_all(self, why: str) -> None:  # (with the lock held)
        self._broken = True
        for fut in list(self._sent.values()):
            if not fut.done():
                fut.set_exception(HelperFailed(why))
        self._sent = {}
        while self._waiting:
            _, fut, _ = self._waiting.popleft()
            if fut.set_running_or_notify_cancel():
                fut.set_exception(HelperFailed(why))
        self._close_input()

    def _close_input(self) -> None:  # (with the lock held) the helper reads end-of-file and ends
        try:
            self._jobs.close()
        except OSError:
            pass

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """No more jobs; the one with the helper finishes, then it ends (``wait``: until it has ended)."""
        with self._lock:
            self._closing = True
            if cancel_futures:
                while self._waiting:
                    _, fut, _ = self._waiting.popleft()
                    fut.cancel()
            if not self._sent:
                self._close_input()
        if wait:
            self.proc.wait()


# -- the pipeline's side (I/O shell) ----------------------------------------

class Ahead:
    """The helper process and its answers, for one pass over the inbox.

    The helper is given a few messages at a time (``window``), in the order intake handles them,
    each after the one before: it carries the case number from one to the next. Intake takes an
    answer that is ready, waits for one the running helper is working on (doing it twice would
    cost more) and does the work itself while the helper is still starting. When intake has gone
    past messages the helper never got, the next one it gets starts again from the store's next
    number, which is then exact: every message before it has been handled."""

    def __init__(self, rules_dir: Path, max_bytes: int, *, window: int = WINDOW):
        self.rules_dir = str(rules_dir)
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
        self._coded: dict[bytes, tuple] = {}  # form digest -> what the helper read and coded, message in hand
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
        self._index = {_digest(raw): i for i, raw in enumerate(self._raws)}
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
            self._jobs[_digest(raw)] = fut
            self._next += 1
            busy += 1
            exact = False

    def _answered(self, fut: Future) -> None:  # (in the executor's thread)
        if not fut.cancelled() and fut.exception() is None:
            self._answering = True

    def _answer(self, raw: bytes):
        key = _digest(raw)
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
        self._coded = {c[0]: c for c in coded}
        self.emails_used += 1
        return email

    def referral(self, form: bytes) -> dict | None:
        """The referral form as the helper read it (ReferralForm.to_json()), or None: read it here.

        Only a form the helper opened and read without a problem; a form it took for minutes, or
        could not open or read, is opened here and gets the pipeline's own answer."""
        hit = self._coded.get(_digest(form))
        return hit[1] if hit is not None else None

    def coded(self, form: bytes, children, family, codes, extra) -> bytes | None:
        """The coded document made by the helper from exactly these inputs, or None.

        One made from other inputs stays in hand, unused: :meth:`forget` then restarts the count."""
        key = _digest(form)
        hit = self._coded.get(key)
        if hit is None:
            return None
        _, _, people, got_codes, got_extra, out, reading = hit
        if out is not None and (people != _people_key(children, family) or got_codes != tuple(codes)
                                or got_extra != _extra_key(extra)):
            self.wasted += 1
            return None
        del self._coded[key]
        if out is None:  # the helper could not code it (it counted its number, as intake does)
            return None
        self.forms_used += 1
        if reading is not None:  # the last gate reads this document without opening it again
            from mailbot.gate import prime_file

            prime_file(reading)
        return out

    def forget(self, raw: bytes) -> None:
        """The message is handled: drop what the helper made for it, give the helper the next one.

        A form the helper read and counted a number for that is still in hand, not coded by intake
        (the same young person referred again, a sender refused...) or coded with other numbers,
        means the helper's count is off: what it has in hand is dropped and the next message goes
        to it with the store's next number."""
        restart = bool(self._coded)
        self._coded = {}
        key = _digest(raw)
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
