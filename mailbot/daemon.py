"""The I/O shell: the inbox watcher (a thread), the outbox (asyncio) and the scheduler around the pipeline.

    mailbot run -c config.toml

On SIGTERM/SIGINT the watcher stops taking mail, the outbox finishes the
message it is sending, and the store is closed; whatever was not sent yet is
in the outbox and goes out at the next start.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from mailbot.config import Config, load_config
from mailbot.pipeline import Context, after_batch, process_message
from mailbot.store.lock import take_lock

log = logging.getLogger("mailbot.daemon")


def imap_settings(cfg: Config):
    from mailbot.mail.imap import ImapSettings

    return ImapSettings(host=cfg.imap.host, port=cfg.imap.port, tls=cfg.imap.tls, username=cfg.imap.username,
                        password=cfg.imap.password, folder=cfg.imap_folder,
                        processed_folder=cfg.processed_folder, quarantine_folder=cfg.quarantine_folder,
                        idle_renew_seconds=cfg.idle_renew_seconds, **cfg.imap_tuning)


def smtp_settings(cfg: Config):
    from mailbot.mail.smtp import SmtpSettings

    return SmtpSettings(host=cfg.smtp.host, port=cfg.smtp.port, tls=cfg.smtp.tls, username=cfg.smtp.username,
                        password=cfg.smtp.password, local_hostname=cfg.domain)


def release_memory() -> None:
    """After a burst of mail: give the memory Python has freed back to the system (glibc keeps it)."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


class Bot:
    """One running mailbot: store, pipeline context, inbox watcher, outbox sender."""

    def __init__(self, cfg: Config, *, clock: Callable[[], datetime] | None = None, lock: bool = True,
                 work_ahead: bool = True):
        from mailbot.store import Store
        from mailbot.store.vault import Vault

        self.cfg = cfg
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock = take_lock(cfg.data_dir / "mailbot.lock") if lock else None
        from mailbot.operations import recover_at_start

        recover_at_start(cfg, locked=self._lock is not None)  # an interrupted key rotation or restore
        self.vault = Vault.load_or_create(cfg.key_file)
        self.store = Store.open(cfg.store_path, self.vault, first_case_number=cfg.first_case_number)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.outbox = None
        self.ctx = Context.build(cfg, self.store, clock=clock or (lambda: datetime.now(timezone.utc)),
                                 notify_outbox=self._notify_outbox)
        self.ctx.refresh_members()  # the MEMBER commands' changes, kept in the store
        if work_ahead:
            from mailbot.speculate import Ahead

            self.ctx.ahead = Ahead(cfg.rules_dir, cfg.max_email_bytes, gate_memory=self.ctx.gate_memory)
        self.watcher = None
        self._stop_threads = threading.Event()
        self._stop: asyncio.Event | None = None
        #: set when the database cannot be written (full disk...): the daemon stops with this line
        self.fatal: str | None = None
        self._batch_done = threading.Event()

    # -- wiring ------------------------------------------------------------
    def _notify_outbox(self) -> None:
        if self.outbox is not None and self.loop is not None:
            self.loop.call_soon_threadsafe(self.outbox.notify)

    def _storage_failed(self, exc: BaseException) -> bool:
        """A full disk (or I/O error) stops the daemon: nothing more can be recorded, so nothing is taken."""
        from mailbot.store import storage_failure

        why = storage_failure(exc)
        if why is None:
            return False
        if self.fatal is None:
            self.fatal = (f"the mailbot database at {self.cfg.store_path} cannot be written ({why}); mailbot "
                          "stopped. Mail not yet recorded is still in the inbox: fix the disk, then start it again.")
            log.critical(self.fatal)
            self._stop_threads.set()
            if self.loop is not None and self._stop is not None:
                self.loop.call_soon_threadsafe(self._stop.set)
        return True

    def _on_message(self, msg) -> str:
        if self.fatal:
            return "keep"
        try:
            return process_message(self.ctx, msg.raw, uid=msg.uid, uidvalidity=msg.uidvalidity)
        except Exception as exc:
            self._storage_failed(exc)
            raise

    def make_watcher(self, *, on_batch_done=None):
        from mailbot.mail.inbox import InboxWatcher

        from mailbot.mail.restore import QuarantineRestores

        return InboxWatcher(imap_settings(self.cfg), self._on_message, _GuardedUidState(self),
                            on_batch_done=on_batch_done, on_fetched=self._work_ahead,
                            on_pass_done=self._end_of_pass, on_contact=self._imap_contact,
                            restores=QuarantineRestores(self.ctx, self._message_keys))

    def _message_keys(self, raw: bytes, whole: bool) -> set[str]:
        from mailbot.pipeline import message_keys

        return message_keys(raw, whole, max_bytes=self.cfg.max_email_bytes)

    _imap_noted = float("-inf")

    def _imap_contact(self, ok: bool, detail: str) -> None:
        """The IMAP server answered (written at most every 30 s) or could not be used: for STATUS."""
        now = time.time()
        if ok and now - self._imap_noted < 30:
            return
        if self.fatal:
            return
        self.store.note_contact("imap", ok, detail, now=now)
        if ok:
            self._imap_noted = now

    def _work_ahead(self, messages) -> None:
        """A fetched run of messages: a helper process reads and codes them ahead (mailbot.speculate)."""
        if self.ctx.ahead is None or self.fatal:
            return
        try:
            self.ctx.ahead.run([m.raw for m in messages], self.store.next_case_number)
        except Exception as exc:  # noqa: BLE001 - only ever an optimisation
            log.warning("no work ahead for this run (%s)", type(exc).__name__)

    def _end_of_pass(self) -> None:
        if self.ctx.ahead is not None:
            self.ctx.ahead.stop()

    def _batch_worker(self) -> None:
        """Per-batch work (the Master List) off the watcher thread, after the batch's own mail has gone.

        Encrypting the Master List takes ~0.2 s of CPU: doing it while the Coded Referrals are being
        sent would delay them, so it waits (up to 2 s) for the outbox to empty first.
        """
        while not self._stop_threads.is_set():
            if not self._batch_done.wait(0.5):
                continue
            self._batch_done.clear()
            deadline = time.monotonic() + 2.0
            # anything pending? (an index lookup; counting every status would scan the whole outbox)
            while time.monotonic() < deadline and self.store.next_due_time() is not None:
                time.sleep(0.05)
            try:
                after_batch(self.ctx)
            except Exception as exc:  # the change stays marked in the store: retried after the next batch
                if self._storage_failed(exc):
                    return
                log.error("per-batch work failed (%s); retried after the next batch", type(exc).__name__)

    def make_outbox(self):
        import functools

        from mailbot.mail.outbox import OutboxSender
        from mailbot.mail.recipient_labels import recipient_agencies

        def gate(item):
            # rebuilt whenever any case's names change (store.people_version)
            reason = self.ctx.gate().check_message(item.raw)
            if reason:
                log.error("outbox item %s (%s): %s %s held by the leak gate: %s", item.id, item.message_id,
                          item.kind or "mail", item.case_code or "-", reason)
            return reason

        sender = OutboxSender(self.store, smtp_settings(self.cfg), gate=gate,
                              on_permanent_failure=self._on_permanent_failure, on_outage=self._on_outage,
                              retry_base=self.cfg.smtp_retry_base, retry_max=self.cfg.smtp_retry_max,
                              lanes=self.cfg.smtp_connections)
        sender.describe_recipients = functools.partial(recipient_agencies, self.cfg)
        sender.on_restored = self._on_smtp_restored
        sender.on_idle = release_memory
        return sender

    def _on_permanent_failure(self, item, error) -> None:
        from mailbot.mail.recipient_labels import no_addresses, recipient_agencies

        log.error("outbox item %s (%s): %s %s to %s failed permanently: %s", item.id, item.message_id,
                  item.kind or "mail", item.case_code or "-", recipient_agencies(self.cfg, item.recipients),
                  no_addresses(error, item.recipients))

    def _on_outage(self, since) -> None:
        """One alert to the coordinator per outage (kv flag, so a restart mid-outage does not repeat it).

        It can only be delivered once the SMTP server is back."""
        log.warning("outbox: the SMTP server has been unreachable since %s; messages wait in the outbox", since)
        when = datetime.fromtimestamp(float(since), timezone.utc)
        with self.store.transaction():
            if self.store.get_value("smtp_outage_alerted") == "1":
                return
            self.store.set_value("smtp_outage_alerted", "1")
            self.ctx.tell_coordinator(
                title="outgoing mail was delayed",
                details=(f"The outgoing mail server ({self.cfg.smtp.host}:{self.cfg.smtp.port}) could not be "
                         f"reached from {when.astimezone(self.cfg.tz):%d/%m/%Y %H:%M}. Mail waited in the outbox "
                         "and is sent as soon as the server answers again; nothing needs to be resent."),
                source=f"smtp-outage:{when.isoformat(timespec='seconds')}")

    def _on_smtp_restored(self) -> None:
        if self.store.get_value("smtp_outage_alerted") == "1":
            self.store.set_value("smtp_outage_alerted", "0")

    # -- running -----------------------------------------------------------
    def drain_inbox_once(self) -> None:
        """Process everything in the inbox now, then the per-batch work (tests, backlog)."""
        watcher = self.make_watcher()
        try:
            watcher.run_until_empty()
        finally:
            watcher.close()
        after_batch(self.ctx)

    async def run_async(self, stop: asyncio.Event) -> None:
        self.loop = asyncio.get_running_loop()
        self.store.relax_durability_for_this_thread()  # this thread only records deliveries
        self.outbox = self.make_outbox()
        self.watcher = self.make_watcher(on_batch_done=self._batch_done.set)
        thread = threading.Thread(target=self.watcher.run_forever, args=(self._stop_threads,),
                                  name="inbox-watcher", daemon=True)
        thread.start()
        self._batch_done.set()  # finish a Master List left marked by a previous run
        batch_thread = threading.Thread(target=self._batch_worker, name="batch-worker", daemon=True)
        batch_thread.start()
        scheduler = None
        try:
            from mailbot.jobs.scheduler import start_scheduler

            scheduler = start_scheduler(self)
        except ImportError:
            pass
        self._stop = stop
        outbox_task = asyncio.create_task(self.outbox.run(stop))
        stop_task = asyncio.create_task(stop.wait())
        await asyncio.wait({outbox_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
        stop.set()
        self._stop_threads.set()
        try:
            await outbox_task
        except Exception as exc:  # only a storage failure gets out of the outbox loop
            if not self._storage_failed(exc):
                raise
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        await asyncio.get_running_loop().run_in_executor(None, thread.join, 15)
        await asyncio.get_running_loop().run_in_executor(None, batch_thread.join, 5)

    def close(self) -> None:
        if self.ctx.ahead is not None:
            self.ctx.ahead.stop()
        self.store.close()
        if self._lock is not None:
            self._lock.close()
            self._lock = None


class _GuardedUidState:
    """The store's UID memory; a write that fails for lack of disk stops the daemon."""

    def __init__(self, bot: Bot):
        self.bot = bot
        self.inner = bot.store.uid_state()

    def get(self, uidvalidity: int) -> int:
        return self.inner.get(uidvalidity)

    def set(self, uidvalidity: int, uid: int) -> None:
        try:
            self.inner.set(uidvalidity, uid)
        except Exception as exc:
            self.bot._storage_failed(exc)
            raise


def run_daemon(config_path: Path) -> int:
    cfg = load_config(config_path)
    bot = Bot(cfg)
    log.info("mailbot started for %s: %d member agencies", cfg.network_name, len(cfg.members))

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await bot.run_async(stop)

    try:
        asyncio.run(main())
    finally:
        bot.close()
    if bot.fatal:
        from mailbot.store import StoreError

        raise StoreError(bot.fatal)  # one line on stderr, exit 1
    log.info("mailbot stopped cleanly")
    return 0


def run_coordinator_commands(config_path: Path, text: str) -> int:
    """`mailbot command`: the coordinator's email commands, from a shell on the server."""
    from mailbot.handlers.commands import execute_commands

    cfg = load_config(config_path)
    bot = Bot(cfg, lock=False)  # only queues mail; the running daemon sends it
    try:
        with bot.store.transaction():
            reply, ok = execute_commands(bot.ctx, text, source=f"cli:{datetime.now(timezone.utc).isoformat()}",
                                         actor=cfg.coordinators[0], confirmed=True)  # the shell: no token
        after_batch(bot.ctx)
    finally:
        bot.close()
    print(reply)
    return 0 if ok else 1


def run_status(config_path: Path) -> int:
    """`mailbot status`: what the STATUS command answers, from a shell on the server."""
    from mailbot.handlers.commands import Refused
    from mailbot.handlers.control import _status

    cfg = load_config(config_path)
    bot = Bot(cfg, lock=False, work_ahead=False)  # reads only
    try:
        try:
            text = _status(bot.ctx, None, "cli:status").strip("\n")
        except Refused as exc:
            print(f"mailbot: {exc}")
            return 1
    finally:
        bot.close()
    print(text)
    return 0
