"""The outbox sender: every queued email leaves once, in order, or says why not.

The store holds the queue (``outbox`` table); this module is the SMTP edge.
:meth:`OutboxSender.drain` sends every due item over one aiosmtplib
connection (reconnecting once if it drops):

- the last gate first: ``gate(item)`` returning a reason holds the item
  (status 'held'), nothing is sent;
- 'sending' is recorded before SMTP, 'sent' after the server's 250;
- temporary trouble (cannot connect, timeouts, 4xx) -> retry later with
  exponential backoff (2 s doubling to 5 min, +0..10 % jitter); when the
  server cannot be reached ``on_outage(first_failure_time)`` is called once
  per outage (after ``outage_alert_after`` seconds);
- permanent refusal (5xx for every recipient, malformed address) ->
  'failed' and ``on_permanent_failure(item, error)``;
- some recipients accepted, others refused: the accepted ones are recorded
  as delivered and only the others are retried (temporary) or reported
  (permanent), so nobody gets the mail twice.

Crash safety: each message's 250 is written, the moment it arrives, to the
send journal (:class:`~mailbot.mail.sent_journal.SentJournal`, a small append-only file beside the
database that no other thread writes, so recording a send never waits for
intake's transaction); then the database row is marked 'sent'. At start
the journal is applied first (its items marked 'sent'), then an item still
left 'sending' by a crash goes back to 'pending'
(``store.recover_in_flight()``). Only a kill between the server's 250 and
the journal's write (microseconds, while the event loop is not held up)
sends that one mail again with the same Message-ID (the best SMTP allows).

Callbacks may be plain functions or coroutines. Every log line about an item
says what it is, its case and who it goes to, by agency, never by address or
name: ``outbox item 12 (<id@host>): referral CN78 to Hebble Youth Service
sent`` (``describe_recipients``, given by the daemon from the member
directory; see :func:`mailbot.mail.recipient_labels.recipient_agencies`). The SMTP connection
itself (settings, opening, error wording, the check-config probe) is :mod:`mailbot.mail.smtp`.
"""

from __future__ import annotations

import asyncio
import zlib
import inspect
import logging
import random
import time
from pathlib import Path
from typing import Callable

import aiosmtplib

from mailbot.mail.recipient_labels import no_addresses
from mailbot.mail.sent_journal import SentJournal
from mailbot.mail.smtp import CONNECTION_ERRORS, SmtpSettings, close_smtp, describe_error, open_smtp
from mailbot.store import OutboxItem, Store

log = logging.getLogger("mailbot.outbox")


class OutboxSender:
    def __init__(self, store: Store, smtp: SmtpSettings, *,
                 gate: Callable[[OutboxItem], str | None] | None = None,
                 on_permanent_failure: Callable | None = None,
                 on_outage: Callable | None = None,
                 clock: Callable[[], float] = time.time,
                 retry_base: float = 2.0, retry_max: float = 300.0,
                 outage_alert_after: float = 0.0,
                 give_up_after: float = 3 * 24 * 3600,
                 lanes: int | None = None):
        self.store = store
        if lanes is not None:
            self.lanes = lanes
        self.smtp = smtp
        self.gate = gate
        self.on_permanent_failure = on_permanent_failure
        self.on_outage = on_outage
        self.clock = clock
        self.retry_base = retry_base
        self.retry_max = retry_max
        self.outage_alert_after = outage_alert_after
        self.give_up_after = give_up_after
        self._recovered = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._outage_since: float | None = None
        self._outage_alerted = False
        self._connect_failures = 0
        self._not_before = 0.0
        #: addresses -> "Hebble Youth Service, the coordinator" for log lines (None: "3 recipients")
        self.describe_recipients: Callable[[list[str]], str] | None = None
        #: called (no arguments) on the first successful connection and after each outage
        self.on_restored: Callable[[], None] | None = None
        #: called (no arguments, in the event loop) when the outbox has sent something and is empty again
        self.on_idle: Callable[[], None] | None = None
        self._ever_connected = False
        path = getattr(store, "path", None)
        self.journal = SentJournal(Path(str(path) + "-sent")) if path is not None else None
        self._journaled = False  # lines written since the journal was last emptied
        #: the thread the hot database marks ('sending', 'sent') are made in: a mark that waits for
        #: intake's transaction holds up its own lane only, never the event loop (whose other lanes
        #: must read and journal their 250s meanwhile)
        self._db = None
        self._contact_noted = float("-inf")  # when a successful contact was last written to the store

    # -- helpers -------------------------------------------------------------

    def _recover_once(self) -> None:
        if not self._recovered:
            self._apply_journal()
            self.store.recover_in_flight()
            self._recovered = True

    def _apply_journal(self) -> None:
        """At start: the 250s the journal holds and the database missed are recorded as sent."""
        if self.journal is None:
            return
        applied = 0
        for item_id, message_id in self.journal.entries():
            item = self.store.get_outbox_item(item_id)
            if item is not None and item.message_id == message_id and item.status in ("sending", "pending"):
                self.store.mark_sent(item_id, note="accepted by the server before the last stop",
                                     now=self.clock())
                applied += 1
        if applied:
            log.warning("%d outgoing mail(s) accepted by the server just before the last stop were recorded "
                        "as sent (not sent again)", applied)
        self.journal.clear()

    async def _in_db_thread(self, fn, *args, **kwargs):
        import concurrent.futures
        import functools

        if self._db is None:
            relax = getattr(self.store, "relax_durability_for_this_thread", None)
            self._db = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox-db",
                                                             initializer=relax)
        return await asyncio.get_running_loop().run_in_executor(self._db, functools.partial(fn, *args, **kwargs))

    def _close_db_thread(self) -> None:
        pool, self._db = self._db, None
        if pool is not None:
            pool.shutdown(wait=False)
        if self.journal is not None:
            self.journal.close()  # (reopened by the next record)

    def _note_contact(self, ok: bool, detail: str = "") -> None:
        """Record in the store that the server answered (at most every 30 s) or could not be used (STATUS)."""
        now = self.clock()
        if ok and now - self._contact_noted < 30:
            return
        note = getattr(self.store, "note_contact", None)
        if note is None:
            return
        try:
            note("smtp", ok, detail, now=now)
            if ok:
                self._contact_noted = now
        except Exception as exc:  # a record of the contact never stops the sending
            log.debug("outbox: contact record failed (%s)", type(exc).__name__)

    def _journal_sent(self, item: OutboxItem) -> None:
        if self.journal is None:
            return
        try:
            self.journal.record(item.id, item.message_id)
            self._journaled = True
        except OSError as exc:  # the database mark follows at once: at worst a re-send after a kill
            log.warning("outbox: send journal not written (%s)", type(exc).__name__)

    def _journal_done(self) -> None:
        """Every line of the journal is recorded in the database (no lane running): empty it."""
        if self.journal is not None and self._journaled:
            try:
                self.journal.clear()
                self._journaled = False
            except OSError as exc:
                log.warning("outbox: send journal not emptied (%s)", type(exc).__name__)

    def _backoff(self, failures: int) -> float:
        delay = min(self.retry_max, self.retry_base * (2 ** max(0, failures - 1)))
        return delay * random.uniform(1.0, 1.1)

    def _to(self, recipients: list[str]) -> str:
        """'Hebble Youth Service, the coordinator': who, by agency (never an address)."""
        try:
            agencies = self.describe_recipients(recipients) if self.describe_recipients else None
        except Exception:  # noqa: BLE001 - a log line must not stop the queue
            agencies = None
        return agencies or f"{len(recipients)} recipient{'s' if len(recipients) != 1 else ''}"

    def _about(self, item: OutboxItem) -> str:
        """'outbox item 12 (<mid>): referral CN78 to Hebble Youth Service': kind, case, agencies."""
        return (f"outbox item {item.id} ({item.message_id}): {item.kind or 'mail'} {item.case_code or '-'} "
                f"to {self._to(item.recipients)}")

    async def _call(self, callback, *args) -> None:
        if callback is None:
            return
        try:
            result = callback(*args)
            if inspect.isawaitable(result):
                await result
        except Exception as exc:  # a failing callback must not stop the queue
            log.error("outbox callback %s failed: %s", getattr(callback, "__name__", "?"), type(exc).__name__)

    async def _connect(self) -> aiosmtplib.SMTP:
        return await open_smtp(self.smtp)

    @staticmethod
    async def _close(client: aiosmtplib.SMTP | None) -> None:
        await close_smtp(client)

    async def _connection_failed(self, exc: BaseException, items: list[OutboxItem]) -> None:
        now = self.clock()
        self._connect_failures += 1
        # the server is down, not refusing this mail: look again soon, so mail flows within
        # half a minute of it coming back (item-level retries keep the longer backoff)
        delay = min(self._backoff(self._connect_failures), self.connect_retry_max)
        self._not_before = now + delay
        if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
            error = f"the mail server refused mailbot's login (check the smtp username/password): {describe_error(exc)}"
        else:
            error = f"cannot reach the mail server: {describe_error(exc)}"
        # same next_try for all so the order is kept when the server is back
        for item in items:
            self.store.mark_retry(item.id, error, now + delay)
        self._note_contact(False, error)
        if self._outage_since is None:
            self._outage_since = now
            log.warning("SMTP server %s:%s not usable (%s); %d mail(s) waiting, retrying in %.0f s",
                        self.smtp.host, self.smtp.port, type(exc).__name__, len(items), delay)
        if not self._outage_alerted and now - self._outage_since >= self.outage_alert_after:
            self._outage_alerted = True
            await self._call(self.on_outage, self._outage_since)

    def _connected(self) -> None:
        if self._outage_since is not None:
            log.warning("SMTP server reachable again after %.0f s", self.clock() - self._outage_since)
        if self.on_restored is not None and (self._outage_since is not None or not self._ever_connected):
            try:
                self.on_restored()
            except Exception as exc:
                log.error("outbox callback on_restored failed: %s", type(exc).__name__)
        self._ever_connected = True
        self._outage_since = None
        self._outage_alerted = False
        self._connect_failures = 0
        self._not_before = 0.0

    async def _temporary(self, item: OutboxItem, error: str) -> None:
        now = self.clock()
        if now - item.created_at > self.give_up_after:
            await self._permanent(item, f"gave up after {item.attempts + 1} attempts: {error}")
            return
        attempts = item.attempts + 1
        self.store.mark_retry(item.id, error, now + self._backoff(attempts))
        log.info("%s deferred: %s", self._about(item), no_addresses(error, item.recipients))

    async def _permanent(self, item: OutboxItem, error: str) -> None:
        self.store.mark_failed(item.id, error)
        log.error("%s failed: %s", self._about(item), no_addresses(error, item.recipients))
        await self._call(self.on_permanent_failure, item, error)

    def _check_gate(self, item: OutboxItem) -> str | None:
        if self.gate is None:
            return None
        try:
            reason = self.gate(item)
        except Exception as exc:  # fail closed
            return f"the outbound check could not run ({type(exc).__name__})"
        return reason or None

    # -- sending -------------------------------------------------------------

    #: parallel SMTP connections. Each recipient always goes through the same one, so the order of
    #: what one recipient receives is kept (the Master List after the referral it lists).
    lanes = 4
    #: longest wait between attempts to reach a server that is down
    connect_retry_max = 30.0

    async def drain(self) -> int:
        """Send every due item; returns how many were delivered (fully or in part)."""
        self._recover_once()
        sent = 0
        while True:
            now = self.clock()
            if now < self._not_before:
                break
            items = self.store.due(now)
            if not items:
                break
            groups: dict[int, list[OutboxItem]] = {}
            for item in items:
                lane = zlib.crc32((item.recipients[0] if item.recipients else "").encode()) % max(1, self.lanes)
                groups.setdefault(lane, []).append(item)
            results = await asyncio.gather(*(self._send_lane(group) for group in groups.values()))
            sent += sum(n for n, _ in results)
            # every lane has finished: each 250 in the journal has its 'sent' in the database too
            self._journal_done()
            if any(stopped for _, stopped in results):
                break
        return sent

    async def _send_lane(self, items: list[OutboxItem]) -> tuple[int, bool]:
        """Send these items in order over one connection; (delivered, stopped by an outage)."""
        sent = 0
        client: aiosmtplib.SMTP | None = None
        try:
            for index, item in enumerate(items):
                reason = self._check_gate(item)
                if reason:
                    self.store.mark_held(item.id, reason)
                    log.warning("%s held: %s", self._about(item), reason)
                    continue
                for attempt in (1, 2):
                    if client is None:
                        try:
                            client = await self._connect()
                        except (aiosmtplib.SMTPException, *CONNECTION_ERRORS) as exc:
                            await self._connection_failed(exc, items[index:])
                            return sent, True
                        self._connected()
                        await self._in_db_thread(self._note_contact, True)
                    if not await self._in_db_thread(self.store.mark_sending, item.id):
                        # superseded (a newer Master List) or held since it was read: never sent
                        log.info("outbox item %d (%s, %s) not sent: no longer pending", item.id,
                                 item.message_id, item.kind)
                        break
                    try:
                        errors, _response = await self._sendmail(client, item)
                    except aiosmtplib.SMTPRecipientsRefused as exc:
                        await self._refused(item, [], {r.recipient: r for r in exc.recipients})
                    except aiosmtplib.SMTPResponseException as exc:
                        if 400 <= exc.code < 500:
                            await self._temporary(item, describe_error(exc))
                        else:
                            await self._permanent(item, describe_error(exc))
                    except CONNECTION_ERRORS as exc:
                        await self._close(client)
                        client = None
                        if attempt == 1:
                            self.store.mark_retry(item.id, describe_error(exc), self.clock())
                            continue  # reconnect and try this item once more
                        await self._temporary(item, describe_error(exc))
                    except (aiosmtplib.SMTPException, ValueError) as exc:
                        # malformed address, SMTPUTF8 not supported...: retrying will not help
                        await self._permanent(item, describe_error(exc))
                    else:
                        accepted = [r for r in item.recipients if r not in errors]
                        if errors:
                            await self._refused(item, accepted, errors)
                        else:  # (already in the journal, written when the 250 came)
                            await self._in_db_thread(self.store.mark_sent, item.id, now=self.clock())
                            log.info("%s sent", self._about(item))
                        if accepted:
                            sent += 1
                    break
        finally:
            await self._close(client)
        return sent, False

    async def _sendmail(self, client: aiosmtplib.SMTP, item: OutboxItem):
        """One message over this connection; its 250 is journaled as soon as this lane resumes with it,
        before anything else is done for it (the database mark may have to wait for intake)."""
        errors, response = await client.sendmail(item.sender, item.recipients, item.raw)
        if not errors:
            self._journal_sent(item)
        return errors, response

    async def _refused(self, item: OutboxItem, accepted: list[str], refused: dict) -> None:
        temporary = [r for r, resp in refused.items() if 400 <= getattr(resp, "code", 500) < 500]
        permanent = {r: resp for r, resp in refused.items() if r not in temporary}
        perm_text = "; ".join(f"{r}: {describe_error(resp)}" for r, resp in permanent.items())
        temp_text = "; ".join(f"{r}: {describe_error(refused[r])}" for r in temporary)
        if temporary:
            if accepted:
                now = self.clock()
                self.store.mark_partial(item.id, accepted, temporary, temp_text,
                                        now + self._backoff(item.attempts + 1))
            else:
                if len(temporary) != len(item.recipients):
                    self.store.mark_partial(item.id, [], temporary, temp_text, self.clock())
                await self._temporary(item, temp_text)
            if permanent:
                await self._call(self.on_permanent_failure, item, f"refused: {perm_text}")
            return
        if accepted:
            self.store.mark_sent(item.id, note=f"refused: {perm_text}", now=self.clock())
            log.error("%s: sent to %s, refused for %s: %s", self._about(item), self._to(accepted),
                      self._to(list(permanent)), no_addresses(perm_text, item.recipients))
            await self._call(self.on_permanent_failure, item, f"refused: {perm_text}")
        else:
            await self._permanent(item, f"refused: {perm_text}")

    # -- loop ----------------------------------------------------------------

    def notify(self) -> None:
        """Something was queued: wake the run loop. Safe from any thread."""
        loop, wake = self._loop, self._wake
        if loop is None or wake is None:
            return
        try:
            loop.call_soon_threadsafe(wake.set)
        except RuntimeError:  # loop closed
            pass

    #: look at the store at least this often, for mail queued by another process (`mailbot command`)
    poll_seconds = 15.0

    def _seconds_until_next(self) -> float:
        now = self.clock()
        next_due = self.store.next_due_time()
        if next_due is None:
            return self.poll_seconds
        return min(self.poll_seconds, max(0.01, next_due - now, self._not_before - now))

    async def run(self, stop: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._recover_once()
        busy = False
        try:
            await self._run(stop, busy)
        finally:
            self._close_db_thread()

    async def _run(self, stop: asyncio.Event, busy: bool) -> None:
        while not stop.is_set():
            self._wake.clear()
            try:
                busy = await self.drain() > 0 or busy
                timeout = self._seconds_until_next()
                if busy and self.on_idle is not None and self.store.next_due_time() is None:
                    busy = False
                    self.on_idle()
            except Exception as exc:  # keep the sender alive; the queue is durable
                from mailbot.store import storage_failure

                if storage_failure(exc):  # the database cannot be written: the daemon stops
                    raise
                log.error("outbox drain failed (%s); retrying in 5 s", type(exc).__name__)
                timeout = 5.0
            waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
            try:
                await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waiters:
                    w.cancel()
                await asyncio.gather(*waiters, return_exceptions=True)

    async def drain_until_empty(self, timeout: float) -> int:
        """Drain repeatedly (waiting for retries) until nothing is pending. For tests."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        total = 0
        try:
            while True:
                total += await self.drain()
                counts = self.store.outbox_counts()
                if counts["pending"] == 0 and counts["sending"] == 0:
                    return total
                left = deadline - loop.time()
                if left <= 0:
                    raise TimeoutError(f"the outbox still has {counts['pending']} pending mail(s) after {timeout} s")
                await asyncio.sleep(min(self._seconds_until_next(), left))
        finally:
            self._close_db_thread()
