"""Work done ahead, in a helper process, while a backlog drains.

Intake is one message at a time, in UID order, on one thread: that order is
what gives every referral its number, and Python runs one thread at a time.
When the watcher fetches a run of messages, the pure, costly part of their
intake -- reading each email and coding each referral form -- is started in
ONE helper process, on the next CPU, with the code each referral is expected
to get (the next free number, one per referral form, in order).

The helper only computes: it writes nothing, sends nothing and sees no
database. The pipeline asks it for an answer (:meth:`Ahead.email`,
:meth:`Ahead.coded`) and uses one only when it is ready and was made from the
very same input: the same message bytes; the same form bytes, with the same
young people, family, codes and extra fields the pipeline itself worked out.
Otherwise (a duplicate referral shifted the numbers, the helper is behind or
died) the pipeline does the work itself, as it does for a single message.
The coded document is checked by the same verifier in the helper, and again
by the leak gate when its message is queued, whichever process coded it.

The helper starts only for a run of several messages and stops at the end of
each pass, so an idle mailbot is one process.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

log = logging.getLogger("mailbot.speculate")

#: a run of at least this many fetched messages starts the helper
MIN_RUN = 4


def _digest(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


# -- the helper process (pure) ---------------------------------------------

_next_number: int | None = None  # the helper's own count, carried from one message to the next


def work_ahead(raw: bytes, start_number: int | None, rules_dir: str, max_bytes: int):
    """In the helper: read one email and code its referral forms with the numbers expected next.

    Returns (email, [(form digest, people key, codes, extra, coded bytes), ...]). Never raises
    for a bad message (the pipeline will find and answer the problem itself)."""
    global _next_number
    from .coding import code_document, sibling_codes
    from .docx_package import open_package
    from .handlers import WORD_KINDS
    from .handlers.minutes import looks_like_minutes
    from .mailreader import kind_of_attachment, read_email
    from .redaction_rules import field_protections, load_redaction_rules
    from .referral import parse_referral

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
        children, family = data["young_people"], data["family"]
        codes = sibling_codes(_next_number, len(children))
        _next_number += 1  # the pipeline allocates one number per referral form it codes
        try:
            extra = field_protections(children, load_redaction_rules(Path(rules_dir)))
            out = code_document(pkg, children, family, codes, extra=extra)
        except Exception:  # noqa: BLE001 - e.g. the verifier refused: the pipeline finds that itself
            continue
        coded.append((_digest(att.data), _people_key(children, family), tuple(codes), _extra_key(extra), out))
    return email, coded


def _people_key(children, family) -> bytes:
    import json

    return _digest(json.dumps([children, family], sort_keys=True, default=str).encode("utf-8"))


def _extra_key(extra) -> tuple:
    return tuple(tuple(x) for x in extra)


# -- the pipeline's side (I/O shell) ----------------------------------------

class Ahead:
    """The helper process and its answers, for one pass over the inbox."""

    def __init__(self, rules_dir: Path, max_bytes: int):
        self.rules_dir = str(rules_dir)
        self.max_bytes = max_bytes
        self._pool: ProcessPoolExecutor | None = None
        self._jobs: dict[bytes, Future] = {}  # message digest -> future
        self._coded: dict[bytes, tuple] = {}  # form digest -> what the helper coded, for the message in hand
        self._lock = threading.Lock()
        self.emails_used = 0  # answers taken (tests, logs)
        self.forms_used = 0
        self.wasted = 0  # answers made but not usable (not ready, or made from other inputs)

    def run(self, raws: list[bytes], next_number: int) -> None:
        """Start the helper on a run of fetched messages (in the order they will be handled)."""
        if len(raws) < MIN_RUN:
            return
        try:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
            start = next_number
            for raw in raws:
                fut = self._pool.submit(work_ahead, raw, start, self.rules_dir, self.max_bytes)
                start = None  # the helper carries the count from here
                with self._lock:
                    self._jobs[_digest(raw)] = fut
        except Exception as exc:  # noqa: BLE001 - no helper: the pipeline does everything itself
            log.warning("no helper process (%s); intake continues on its own", type(exc).__name__)
            self.stop()

    def _answer(self, raw: bytes):
        with self._lock:
            fut = self._jobs.pop(_digest(raw), None)
        if fut is None or not fut.done() or fut.cancelled():
            if fut is not None:
                self.wasted += 1
            return None
        try:
            return fut.result(timeout=0)
        except Exception as exc:  # noqa: BLE001 - the helper failed or died: do it here
            log.warning("helper process failed (%s); this message is handled without it", type(exc).__name__)
            return None

    def email(self, raw: bytes):
        """The email read by the helper, with what it coded kept for :meth:`coded`; or None."""
        answer = self._answer(raw)
        if answer is None:
            return None
        email, coded = answer
        self._coded = {c[0]: c for c in coded}
        self.emails_used += 1
        return email

    def coded(self, form: bytes, children, family, codes, extra) -> bytes | None:
        """The coded document made by the helper from exactly these inputs, or None."""
        hit = self._coded.pop(_digest(form), None)
        if hit is None:
            return None
        _, people, got_codes, got_extra, out = hit
        if people != _people_key(children, family) or got_codes != tuple(codes) or got_extra != _extra_key(extra):
            self.wasted += 1
            return None
        self.forms_used += 1
        return out

    def forget(self) -> None:
        """Drop what the helper coded for the message just handled (only its own forms may use it)."""
        self._coded = {}

    def stop(self) -> None:
        """End of a pass: stop the helper (an idle mailbot is one process)."""
        with self._lock:
            pool, self._pool = self._pool, None
            jobs, self._jobs = self._jobs, {}
        for fut in jobs.values():
            fut.cancel()
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
