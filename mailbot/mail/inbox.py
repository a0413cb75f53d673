"""The IMAP inbox watcher: a thin I/O edge around the coordinator's mailbox.

It hands every message in the watched folder to ``on_message`` (in UID
order) and then files it according to the answer:

* ``"processed"``   -> MOVE to ``processed_folder``
* ``"quarantined"`` -> MOVE to ``quarantine_folder``
* ``"keep"``        -> left where it is (not offered again this connection)

Nothing is ever deleted except as the second half of a move on servers
without MOVE (COPY, then \\Deleted + UID EXPUNGE of just those UIDs).

Crash safety: a message still in the folder is by definition unfinished, so
on every (re)connect the whole folder is processed again. The handler must
therefore be idempotent (the caller dedups by message key). If
``on_message`` raises, the message stays in the folder and is retried on the
next full pass (every reconnect, and every ``full_pass_seconds``).

Between passes the watcher IDLEs; IDLE is re-issued every
``idle_renew_seconds``. A watchdog ends IDLE every ``liveness_seconds`` and
round-trips a NOOP under a socket timeout, so a silently dead connection is
noticed; reconnects back off exponentially (0.5 s .. 30 s, with jitter),
forever, logging one WARNING per outage. Logs name UIDs, never content.

The settings and the wording of connection errors are :mod:`mailbot.mail.imap`; where the highest
handled UID is remembered, :mod:`mailbot.mail.uid_state`.
"""

from __future__ import annotations

import logging
import random
import ssl
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Protocol

from mailbot.errors import MailbotError
from mailbot.mail.imap import ImapSettings, describe_error, no_protocol_log
from mailbot.mail.uid_state import MemoryUidState, UidState

log = logging.getLogger("mailbot.inbox")

OUTCOMES = ("processed", "quarantined", "keep")
#: a backlog is fetched this many messages (and at most this many bytes) per round trip
FETCH_CHUNK = 25
FETCH_CHUNK_BYTES = 8 * 1024 * 1024


class InboxUnavailable(MailbotError):
    """The mailbox could not be reached or used (network, login, server)."""

    reason = "inbox-unavailable"


@dataclass(frozen=True)
class InboxMessage:
    uid: int
    uidvalidity: int
    raw: bytes
    internaldate: datetime | None


class Restores(Protocol):
    """Emails the coordinator asked to have handled again (REPROCESS), found in the quarantine folder
    and moved back to the watched one (mailbot.mail.restore). ``wanted()`` is cheap (asked before every
    catch-up); the others are called only while there is something to move."""

    def wanted(self) -> list[str]: ...

    def match(self, raw: bytes, whole: bool) -> set[str]: ...

    def moving(self, key: str) -> None: ...

    def moved(self, key: str) -> None: ...

    def not_found(self, key: str) -> None: ...


class _ConnectionLost(Exception):
    pass


class InboxWatcher:
    def __init__(self, config: ImapSettings, on_message: Callable[[InboxMessage], str], state: UidState,
                 on_batch_done: Callable[[], None] | None = None,
                 on_fetched: Callable[[list[InboxMessage]], None] | None = None,
                 on_pass_done: Callable[[], None] | None = None,
                 on_contact: Callable[[bool, str], None] | None = None,
                 restores: Restores | None = None):
        self.config = config
        #: told of every proof that the server answers (True, "") and of every failure (False, why)
        self.on_contact = on_contact
        #: quarantined emails to move back to the watched folder (REPROCESS)
        self.restores = restores
        self.on_message = on_message
        self.state = state
        #: called after a pass that handled at least one message (the Master List is sent once per batch)
        self.on_batch_done = on_batch_done
        #: called with each fetched chunk before its messages are handled (work may start ahead),
        #: and at the end of every pass
        self.on_fetched = on_fetched
        self.on_pass_done = on_pass_done
        self.client = None
        self.uidvalidity = 0
        self._kept: set[int] = set()  # "keep" answers: not offered again on this connection
        self._has_move = False
        self._has_uidplus = False
        self.force_copy_delete = False  # tests: exercise the no-MOVE path on a MOVE server
        self.connects = 0
        self.handled = 0
        self._failures = 0
        self._outage_start: float | None = None
        self.in_idle = False  # True while waiting in IDLE (tests and health checks read it)

    # -- connection -------------------------------------------------------

    def _connect(self) -> None:
        from imapclient import IMAPClient, SocketTimeout

        c = self.config
        timeout = SocketTimeout(connect=c.connect_timeout, read=c.read_timeout)
        ctx = ssl.create_default_context() if c.tls != "none" else None
        client = IMAPClient(c.host, c.port, ssl=(c.tls == "ssl"), ssl_context=ctx, timeout=timeout)
        client.normalise_times = False  # INTERNALDATE as timezone-aware datetimes
        no_protocol_log(client)
        try:
            if c.tls == "starttls":
                client.starttls(ctx)
            client.login(c.username, c.password)
            caps = client.capabilities()
            self._has_move = b"MOVE" in caps and not self.force_copy_delete
            self._has_uidplus = b"UIDPLUS" in caps
            for folder in (c.processed_folder, c.quarantine_folder):
                if not client.folder_exists(folder):
                    try:
                        client.create_folder(folder)
                    except client.Error:
                        if not client.folder_exists(folder):
                            raise
            info = client.select_folder(c.folder)
        except BaseException:
            self._close(client)
            raise
        self.client = client
        self.uidvalidity = int(info.get(b"UIDVALIDITY", 0))
        self._kept = set()
        self._exists_seen()  # SELECT's own EXISTS: the full pass that follows reads everything anyway
        self.connects += 1
        self._contact(True)

    def _contact(self, ok: bool, detail: str = "") -> None:
        if self.on_contact is not None:
            try:
                self.on_contact(ok, detail)
            except Exception as exc:  # a record of the contact must never stop the watcher
                log.debug("contact record failed (%s)", type(exc).__name__)

    @staticmethod
    def _close(client) -> None:
        if client is None:
            return
        try:
            client.shutdown()
        except Exception:
            pass

    def close(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            try:
                client.logout()
            except Exception:
                self._close(client)

    # -- processing -------------------------------------------------------

    def _search(self, criteria) -> list[int]:
        return sorted(int(u) for u in self.client.search(criteria))

    def _full_pass(self) -> int:
        """Offer every undeleted message in the folder (except ones kept this connection)."""
        uids = [u for u in self._search(["UNDELETED"]) if u not in self._kept]
        return self._process(uids)

    def _new_uids(self) -> list[int]:
        last = self.state.get(self.uidvalidity)
        # "UID n:*" always matches the highest UID, even if below n: filter.
        uids = [u for u in self._search(["UNDELETED", "UID", f"{last + 1}:*"]) if u > last]
        return [u for u in uids if u not in self._kept]

    def _new_pass(self) -> int:
        return self._process(self._new_uids())

    def _exists_seen(self) -> bool:
        """Whether an untagged EXISTS came with any response since the last look (and forget it).

        imaplib keeps the untagged responses of every command (FETCH, MOVE, SEARCH, NOOP, IDLE's
        DONE...) in ``untagged_responses``; mail that arrived while a pass was running is announced
        there, and nowhere else."""
        imap = getattr(self.client, "_imap", None)
        pending = getattr(imap, "untagged_responses", None)
        if not isinstance(pending, dict):
            return False
        return bool(pending.pop("EXISTS", None))

    def _catch_up(self) -> int:
        """Passes until nothing new: mail announced (EXISTS) or found (the UID range) meanwhile is taken now.

        The last look before IDLE is a search of the UID range after the highest handled: anything
        delivered after it is announced by the server in IDLE itself."""
        done = 0
        for _ in range(1000):  # (a bound, never reached: each round takes at least one new message)
            self._restore()  # quarantined emails to be handled again come back as new mail
            self._exists_seen()
            uids = self._new_uids()
            if not uids:
                if self._exists_seen():  # announced with the search itself: look once more
                    continue
                break
            log.debug("%d message(s) arrived during the last pass; taking them now", len(uids))
            done += self._process(uids)
        return done

    def _restore(self) -> int:
        """Move the quarantined emails asked for (REPROCESS) back to the watched folder; how many moved.

        Each is found by what the store knows of it (mailbot.mail.restore matches the headers, then, for
        the rest, whole messages), marked 'moving' before the MOVE and 'moved' after it, so that a crash
        in between is recognised (not found in quarantine while 'moving': it was moved). The watched
        folder is selected again afterwards, whatever happens."""
        if self.restores is None:
            return 0
        wanted = set(self.restores.wanted())
        if not wanted:
            return 0
        c = self.config
        moved = 0
        self.client.select_folder(c.quarantine_folder)
        try:
            uids = self._search(["UNDELETED"])
            found: dict[str, int] = {}
            for whole, part in ((False, b"BODY.PEEK[HEADER]"), (True, b"BODY.PEEK[]")):
                left = [u for u in uids if u not in found.values()]
                for start in range(0, len(left), FETCH_CHUNK):
                    if not wanted - set(found):
                        break
                    chunk = left[start:start + FETCH_CHUNK]
                    fetched = self.client.fetch(chunk, [part])
                    for uid in chunk:
                        data = fetched.get(uid) or {}
                        raw = data.get(b"BODY[HEADER]") or data.get(b"BODY[]")
                        if raw is None:
                            continue
                        for key in self.restores.match(bytes(raw), whole) & (wanted - set(found)):
                            found[key] = uid
                if not wanted - set(found):
                    break
            for key, uid in found.items():
                self.restores.moving(key)
                self._move([uid], c.folder)
                self.restores.moved(key)
                moved += 1
                log.info("quarantined message uid=%s moved back to %s to be handled again", uid, c.folder)
            for key in wanted - set(found):
                self.restores.not_found(key)
        finally:
            info = self.client.select_folder(c.folder)
            if int(info.get(b"UIDVALIDITY", 0)) != self.uidvalidity:
                raise _ConnectionLost("the watched folder changed its UIDVALIDITY")
        return moved

    def _idle_start(self) -> bool:
        """Send IDLE and wait for the server's go-ahead; True if an EXISTS came before it."""
        imap = self.client._imap
        tag = imap._command("IDLE")
        self.client._idle_tag = tag
        while True:
            resp = imap._get_response()
            if resp is None:  # the continuation: IDLE is on
                break
            if imap.tagged_commands.get(tag):  # refused
                typ, data = imap.tagged_commands.pop(tag)
                raise _ConnectionLost(f"IDLE refused ({typ})")
        return self._exists_seen()

    def _process(self, uids: list[int]) -> int:
        try:
            return self._process_chunks(uids)
        finally:
            if self.on_pass_done is not None:
                self.on_pass_done()

    def _process_chunks(self, uids: list[int]) -> int:
        """Fetch in chunks (one round trip each), hand each message over in UID order, file a chunk at once.

        A message handled but not yet moved when the connection drops (or the daemon dies) is
        still in the folder: the next pass finds it already recorded and only moves it."""
        done = 0
        for chunk in self._chunks(uids):
            fetched = self.client.fetch(chunk, [b"BODY.PEEK[]", b"INTERNALDATE"])
            top = max(chunk)
            if top > self.state.get(self.uidvalidity):  # once per chunk (a database write)
                self.state.set(self.uidvalidity, top)
            messages = [InboxMessage(uid=uid, uidvalidity=self.uidvalidity, raw=bytes(data[b"BODY[]"]),
                                     internaldate=data.get(b"INTERNALDATE"))
                        for uid, data in ((u, fetched.get(u)) for u in chunk)
                        if data and b"BODY[]" in data]  # (not expunged meanwhile)
            if self.on_fetched is not None:
                self.on_fetched(messages)
            filing: dict[str, list[int]] = {}
            try:
                for msg in messages:
                    uid = msg.uid
                    try:
                        outcome = self.on_message(msg)
                    except Exception as exc:  # the handler failed: leave it, retry on the next full pass
                        detail = str(exc) if isinstance(exc, MailbotError) else type(exc).__name__
                        log.error("message uid=%s left in %s: handler failed (%s)", uid, self.config.folder, detail)
                        continue
                    if outcome == "processed":
                        filing.setdefault(self.config.processed_folder, []).append(uid)
                    elif outcome == "quarantined":
                        filing.setdefault(self.config.quarantine_folder, []).append(uid)
                    elif outcome == "keep":
                        self._kept.add(uid)
                    else:
                        log.error("message uid=%s left in %s: handler answered %r", uid, self.config.folder, outcome)
                        continue
                    done += 1
                    self.handled += 1
                    log.info("message uid=%s %s", uid, outcome)
            finally:
                for folder, moved in filing.items():
                    self._move(moved, folder)
        if done and self.on_batch_done is not None:
            try:
                self.on_batch_done()
            except Exception as exc:  # its work is marked in the store and retried after the next batch
                log.error("work after a batch failed (%s); it is retried after the next batch", type(exc).__name__)
        return done

    def _chunks(self, uids: list[int]):
        """UIDs in runs of at most FETCH_CHUNK messages and FETCH_CHUNK_BYTES (one message may exceed it)."""
        if len(uids) <= 1:
            if uids:
                yield uids
            return
        sizes = self.client.fetch(uids, [b"RFC822.SIZE"])
        chunk: list[int] = []
        total = 0
        for uid in uids:
            size = int((sizes.get(uid) or {}).get(b"RFC822.SIZE", 0) or 0)
            if chunk and (len(chunk) >= FETCH_CHUNK or total + size > FETCH_CHUNK_BYTES):
                yield chunk
                chunk, total = [], 0
            chunk.append(uid)
            total += size
        if chunk:
            yield chunk

    def _move(self, uids: list[int], folder: str) -> None:
        if self._has_move:
            self.client.move(uids, folder)
            return
        self.client.copy(uids, folder)
        self.client.add_flags(uids, [b"\\Deleted"])
        if self._has_uidplus:
            self.client.uid_expunge(uids)
        # Without UIDPLUS a plain EXPUNGE could remove other people's \Deleted
        # mail: leave it flagged (searches skip \Deleted), never expunge all.

    # -- public -----------------------------------------------------------

    def run_until_empty(self, *, close: bool = True) -> int:
        """Process everything currently in the folder, then return how many were handled.

        Logs out afterwards unless ``close=False``. Raises InboxUnavailable
        (one plain line) when the server cannot be reached or used.
        """
        try:
            if self.client is None:
                self._connect()
            n = self._full_pass()
            n += self._catch_up()  # anything that arrived meanwhile
        except Exception as exc:
            self._drop()
            if isinstance(exc, MailbotError):
                raise
            self._contact(False, describe_error(exc))
            raise InboxUnavailable(f"The mailbox at {self.config.host}:{self.config.port} could not be read "
                                   f"({describe_error(exc)}); check the IMAP settings and that the server is up.") from None
        if close:
            self.close()
        return n

    def _drop(self) -> None:
        client, self.client = self.client, None
        self._close(client)

    def run_forever(self, stop_event: threading.Event) -> None:
        """Watch the folder until ``stop_event`` is set; reconnect forever on failures.

        The backoff only resets once a connection has got as far as IDLE, so
        a server that accepts connections and then fails is not hammered.
        """
        self._failures = 0
        self._outage_start = None
        while not stop_event.is_set():
            try:
                self._drop()
                self._connect()
                self._session(stop_event)
            except Exception as exc:
                self.in_idle = False
                self._drop()
                if stop_event.is_set():
                    break
                self._failures += 1
                self._contact(False, describe_error(exc))
                if self._outage_start is None:
                    self._outage_start = time.monotonic()
                    log.warning("IMAP connection to %s:%s lost or refused (%s); reconnecting with backoff",
                                self.config.host, self.config.port, describe_error(exc))
                else:
                    log.debug("IMAP reconnect attempt %d failed (%s)", self._failures, describe_error(exc))
                delay = min(self.config.backoff_max, self.config.backoff_min * (2 ** (self._failures - 1)))
                stop_event.wait(random.uniform(delay / 2, delay))
        self.in_idle = False
        self.close()

    def _healthy(self) -> None:
        if self._outage_start is not None:
            log.warning("IMAP connection restored after %.1fs (%d failed attempts)",
                        time.monotonic() - self._outage_start, self._failures)
        self._failures, self._outage_start = 0, None

    def _session(self, stop_event: threading.Event) -> None:
        c = self.config
        self._full_pass()
        last_full = time.monotonic()
        while not stop_event.is_set():
            if time.monotonic() - last_full >= c.full_pass_seconds:
                self._full_pass()
                last_full = time.monotonic()
            self._catch_up()  # everything that arrived while the passes ran, until nothing is new
            new_mail = self._idle_start()
            self.in_idle = True
            self._healthy()
            started = time.monotonic()
            renew_at = started + min(c.idle_renew_seconds, c.liveness_seconds, c.full_pass_seconds)
            while not stop_event.is_set() and time.monotonic() < renew_at:
                wait = min(1.0, max(0.05, renew_at - time.monotonic()))
                t0 = time.monotonic()
                responses = self.client.idle_check(timeout=wait)
                if not responses and time.monotonic() - t0 < wait / 2:
                    # readable but nothing parsed: imapclient swallows EOF here
                    raise _ConnectionLost("connection closed by the server")
                for resp in responses:
                    if len(resp) >= 2 and resp[1] == b"EXISTS":
                        new_mail = True
                    elif resp and resp[0] == b"BYE":
                        raise _ConnectionLost("server said BYE")
                if new_mail:
                    break
            self.in_idle = False
            # DONE + its tagged reply is a round trip under the socket read
            # timeout: the watchdog's proof that the connection is alive.
            _text, responses = self.client.idle_done()
            if any(len(r) >= 2 and r[1] == b"EXISTS" for r in responses):
                new_mail = True
            if not new_mail:
                self.client.noop()
            self._contact(True)


def probe_imap(cfg) -> None:
    """Log in, check the folders can be used, log out (``mailbot check-config``).

    ``cfg`` is an ImapSettings or a Config (with ``.imap``). Raises
    InboxUnavailable with one plain line.
    """
    settings = cfg if isinstance(cfg, ImapSettings) else ImapSettings(
        host=cfg.imap.host, port=cfg.imap.port, tls=cfg.imap.tls, username=cfg.imap.username,
        password=cfg.imap.password, folder=getattr(cfg, "imap_folder", "INBOX"),
        processed_folder=getattr(cfg, "processed_folder", "Processed"),
        quarantine_folder=getattr(cfg, "quarantine_folder", "Quarantine"))
    w = InboxWatcher(settings, lambda m: "keep", MemoryUidState())
    try:
        w._connect()
    except Exception as exc:
        w._drop()
        raise InboxUnavailable(f"could not log in and open {settings.folder} ({describe_error(exc)})") from None
    w.close()
