"""The helper process: a plain `python -c` child used like a one-worker process pool, ending with mailbot.

Not multiprocessing: its spawn start method also starts a "resource tracker" process (and its
worker holds both ends of its own queue, so it cannot tell when mailbot is gone). This helper is
`python -c` with two pipes: jobs on its stdin, answers on a second descriptor. A job is
(function, arguments), pickled; its answer (job id, ok, result or the exception's type name:
never its message, which could quote a document)."""

from __future__ import annotations

import collections
import os
import pickle
import struct
import subprocess
import sys
import threading
import time
from concurrent.futures import Future
from pathlib import Path

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
        package_root = str(Path(__file__).resolve().parents[2])
        code = (f"import sys; sys.path.insert(0, {package_root!r}); "
                f"from mailbot.speculate.helper import helper_main; helper_main({os.getpid()}, {answer_w})")
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

