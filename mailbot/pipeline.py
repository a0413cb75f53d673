"""One message, one short pipeline: receive -> classify -> handle -> record -> send.

* receive:  the raw bytes become an :class:`IncomingEmail` (mailreader).
* classify: who sent it (senders.authorise) and what it is (referral,
            minutes, notice, command, auto-reply, refused...).
* handle:   the handler for that kind decides what to do (pure core calls)
            and writes its effects to the store: cases, outgoing mail.
* record:   the message itself is recorded with its outcome, in the SAME
            transaction as its effects: either all of it happened or none.
* send:     the outbox is woken; it delivers what was queued.

The IMAP watcher moves the message to Processed/Quarantine only after
:func:`process_message` returns, so a crash at any point either redoes the
whole step (nothing was committed) or finds the message already recorded and
only moves it. Anything unexpected is held for the coordinator (the "shunt"
of Mailman), never dropped.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import threading
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

from mailbot.mail.compose import Attachment, Templates, build_message, message_id
from mailbot.config import Config
from mailbot.errors import LeakDetected, MailbotError
from mailbot.casework.recipients import Rule, SocialWorkStatus, choose_recipients, load_rules

log = logging.getLogger("mailbot.pipeline")

PROCESSED = "processed"
QUARANTINED = "quarantined"

#: The steps, in order; their names appear in logs.
STEPS = ("receive", "classify", "handle", "record", "send")


@dataclass
class Outcome:
    """What happened to one incoming message. Never holds a name."""

    kind: str
    #: accepted | duplicate | replied | ignored (kept in Processed);
    #: quarantined | held (moved to Quarantine for a person to look at)
    outcome: str
    reason: str = ""
    detail: str = ""
    case_codes: tuple[str, ...] = ()

    @property
    def folder(self) -> str:
        return folder_for(self.outcome)


QUARANTINE_OUTCOMES = frozenset({"quarantined", "held"})


def folder_for(outcome: str) -> str:
    return QUARANTINED if outcome in QUARANTINE_OUTCOMES else PROCESSED


@dataclass
class Context:
    """Everything a handler may use. Built once by the daemon (or a test)."""

    cfg: Config
    store: object  # mailbot.store.database.Store
    templates: Templates
    rules: dict[str, Rule]
    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
    notify_outbox: Callable[[], None] = lambda: None
    #: work done ahead by a helper process during a backlog (mailbot.speculate.Ahead), or None
    ahead: object = None
    _gates: dict = field(default_factory=dict)  # people_version -> Gate (the last few)
    _gate_lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def build(cls, cfg: Config, store, **kw) -> "Context":
        return cls(cfg=cfg, store=store, templates=Templates(cfg.templates_dir, network=cfg.network_name),
                   rules=load_rules(cfg.rules_dir), **kw)

    # -- helpers handlers share ------------------------------------------
    def now(self) -> datetime:
        return self.clock()

    def local_now(self) -> datetime:
        return self.clock().astimezone(self.cfg.tz)

    def recipients(self, rule_kind: str, **kw) -> list[str]:
        rule = self.rules[rule_kind]
        return choose_recipients(rule, self.cfg.members, self.cfg.coordinators,
                                 ourselves=[self.cfg.mailbox_address], **kw)

    def queue(
        self,
        *,
        kind: str,
        rule_kind: str,
        template: str,
        to: list[str],
        values: dict,
        source: str,
        case_code: str | None = None,
        attachments: list[Attachment] = (),
        in_reply_to: str | None = None,
        reason: str | None = None,
        references=(),
        reply_to: str | None = None,
    ) -> int:
        """Render once, then write one outgoing message per recipient to the outbox (inside the caller's tx).

        The Message-ID depends on (kind, source, recipient) only, so a redo
        after a crash enqueues nothing new: the outbox ignores a Message-ID it
        already holds.
        """
        from mailbot.mail.compose import ID_PLACEHOLDER, TO_PLACEHOLDER, personalise
        from mailbot.store import OutgoingMail

        if not to:
            return 0
        rendered = self.templates.render(template, **values)
        rule = self.rules[rule_kind]
        # One MIME build per mailing; each recipient's copy differs only in To and Message-ID.
        shared = build_message(
            sender=self.cfg.mailbox_address,
            sender_name=self.cfg.mailbox_display_name,
            to=[TO_PLACEHOLDER],
            rendered=rendered,
            msg_id=ID_PLACEHOLDER,
            kind=kind,
            case_code=case_code,
            attachments=list(attachments),
            in_reply_to=in_reply_to,
            references=references,
            reply_to=reply_to,
            list_id=list_id_header(self.cfg),
            date=self.now(),
        )
        # The last gate, first time: nothing that holds a name on record even enters the outbox.
        # (The outbox checks every message again just before SMTP.)
        leak = self.leak_check(shared)
        if leak:
            # Fail closed: raising rolls back everything the handler did with this message, so a
            # referral is never half-done (a case without its coded referral, an acknowledgement for
            # nothing); the pipeline then holds the email for the coordinator with this name-free reason.
            log.error("%s for %s not queued: the leak gate found a protected name (%s)", kind,
                      case_code or "-", leak)
            raise LeakDetected(f"A {kind} message was stopped because it would have disclosed a young "
                               f"person's name ({leak}); nothing was sent.")
        count = 0
        for addr in to:
            mid = message_id(kind, source, addr, domain=self.cfg.domain)
            raw = personalise(shared, to=addr, msg_id=mid)
            if self.store.enqueue(OutgoingMail(
                message_id=mid, kind=kind, case_code=case_code, sender=self.cfg.mailbox_address,
                recipients=[addr], raw=raw, rule=rule.kind, reason=reason or rule.reason,
            )):
                count += 1
        return count

    def leak_check(self, raw: bytes) -> str | None:
        """Where a name on record appears in this message, or None (the encrypted Master List is exempt)."""
        return self.gate().check_message(raw)

    def gate(self):
        """The leak gate for every name on record, rebuilt only when a case's names change.

        Shared by the threads (the watcher queues, the outbox re-checks), so a document checked when
        it was queued is a cache hit when it is sent. Keyed on the version each thread's connection
        sees: a thread inside an uncommitted transaction and one outside may see different ones."""
        from mailbot.gate import build_gate

        version = self.store.people_version()
        with self._gate_lock:
            gate = self._gates.get(version)
        if gate is None:
            gate = build_gate(self.store.protected_names())
            with self._gate_lock:
                self._gates[version] = gate
                while len(self._gates) > 4:
                    self._gates.pop(next(iter(self._gates)))
        return gate

    def tell_coordinator(self, *, title: str, details: str, source: str, case_code: str | None = None) -> None:
        self.queue(kind="coordinator-alert", rule_kind="coordinator_notice", template="coordinator-alert",
                   to=self.recipients("coordinator_notice"), values={"title": title, "details": details},
                   source=source + ":" + title, case_code=case_code)


def list_id_header(cfg: Config) -> str:
    """The List-Id of every email mailbot sends (RFC 2919): the network's name and its id, so that a
    member can file all of the network's mail with one rule."""
    from mailbot.mail.compose import list_id_value

    return list_id_value(cfg.network_name, cfg.list_id, cfg.domain)


def social_work_status(case) -> SocialWorkStatus:
    return SocialWorkStatus(
        known=None if case.sw_known is None else bool(case.sw_known),
        open=None if case.sw_open is None else bool(case.sw_open),
        allocated=bool(getattr(case, "sw_worker", None)),
    )


# -- the pipeline -----------------------------------------------------------

#: attempts at handling one message (each counted, and committed, before it starts); a message that
#: has used them all (it crashed or killed mailbot each time) is quarantined without being read again
MAX_ATTEMPTS = 3


def message_fingerprint(raw: bytes) -> str:
    """The message's bytes as fetched, hashed: what its attempts are counted under (nothing parsed)."""
    return hashlib.sha256(b"attempt\n" + bytes(raw)).hexdigest()


def content_hash(raw: bytes, subject: str) -> str:
    """What an email says: its body (everything after the header block) and its subject.

    The headers added on the way (Received, Delivered-To, Authentication-Results...) are left out, so
    one email delivered twice hashes alike; another email under the same Message-ID does not."""
    raw = bytes(raw)
    cuts = [i for i in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if i >= 0]
    body = raw[min(cuts):] if cuts else b""
    lines = b"\n".join(line.rstrip() for line in body.splitlines()).strip()
    basis = " ".join((subject or "").split()).encode("utf-8", "replace") + b"\n" + lines
    return hashlib.sha256(b"content\n" + basis).hexdigest()


def process_message(ctx: Context, raw: bytes, *, uid: int = 0, uidvalidity: int = 0) -> str:
    """Run one raw email through the pipeline; return the folder it belongs in."""
    from mailbot.mail.reading import read_email

    started = time.perf_counter()
    # The attempt is counted and committed before anything else (Mailman's switchboard): a message
    # that kills mailbot while it is handled is counted although nothing else of that attempt is kept.
    fingerprint = message_fingerprint(raw)
    attempt = ctx.store.begin_attempt(fingerprint)
    try:
        if attempt > MAX_ATTEMPTS:
            return _quarantine_unread(ctx, raw, fingerprint, uid, uidvalidity, attempt - 1)
        if attempt > 1:
            log.warning("uid %s: attempt %d of %d at handling this message (the last one did not finish)",
                        uid, attempt, MAX_ATTEMPTS)
        # receive (read ahead by the helper process during a backlog, if it is done)
        email = ctx.ahead.email(raw) if ctx.ahead is not None else None
        if email is None:
            email = read_email(raw, max_bytes=ctx.cfg.max_email_bytes)
        return _process(ctx, email, uid, uidvalidity, started, raw=raw, fingerprint=fingerprint)
    finally:
        if ctx.ahead is not None:
            ctx.ahead.forget(raw)


def _quarantine_unread(ctx: Context, raw: bytes, fingerprint: str, uid: int, uidvalidity: int,
                       attempts: int) -> str:
    """A poison message: it crashed or killed mailbot at every attempt. It is not read again (not even its
    headers): it goes to Quarantine as it is, and the coordinator is told, with nothing from inside it."""
    from mailbot.mail.reading import dedup_key

    key = dedup_key("", "", "", raw)  # by its bytes: nothing parsed
    prior = ctx.store.get_message(key)
    if prior is None:
        with ctx.store.transaction():
            ctx.tell_coordinator(
                title="an email could not be handled and was set aside",
                details=(f"An email of {len(raw)} bytes made mailbot fail {attempts} times while it was being "
                         "handled, so it was not opened again. Nothing was sent because of it. It is kept, "
                         f"unchanged, in the folder \"{ctx.cfg.quarantine_folder}\": please read it there and "
                         "deal with it by hand (for a referral, ask the sender to send the form again)."),
                source=f"poison:{fingerprint}")
            ctx.store.record_message(key, uidvalidity=uidvalidity, uid=uid, sender="", kind="unreadable",
                                     outcome="quarantined", reason="failed-every-attempt",
                                     detail=f"not handled after {attempts} attempts")
        ctx.notify_outbox()
    log.error("uid %s: failed at each of %d attempts; quarantined without being read again", uid, attempts)
    return QUARANTINED


def _variant_key(key: str, content: str) -> str:
    return hashlib.sha256(f"same-id-other-content\n{key}\n{content}".encode()).hexdigest()


def _process(ctx: Context, email, uid: int, uidvalidity: int, started: float, *, raw: bytes = b"",
             fingerprint: str | None = None) -> str:
    from mailbot.classify import classify
    from mailbot.handlers import HANDLERS

    content = content_hash(raw, email.subject)
    prior = ctx.store.get_message(email.key)
    if prior is not None and prior.get("content_hash") not in (None, content):
        # Same Message-ID, sender and date as an email already handled, but it says something else:
        # another email (a forged or careless re-use of the Message-ID), never dropped as done.
        log.warning("uid %s: same Message-ID as an email already handled, other content: handled as a new email",
                    uid)
        email = dataclasses.replace(email, key=_variant_key(email.key, content))
        prior = ctx.store.get_message(email.key)
    if prior is not None and prior.get("reason") != "rate-limited":  # held by flood control: handle it now
        log.info("uid %s: already recorded as %s (%s); not handled again", uid, prior["kind"], prior["outcome"])
        if fingerprint is not None:
            with ctx.store.transaction():
                ctx.store.clear_attempts(fingerprint)
        return folder_for(prior["outcome"])
    # classify
    kind, verdict = classify(ctx, email)
    handler = HANDLERS[kind]
    from mailbot.mail.ratelimit import handle_flood, is_flooding

    if is_flooding(ctx, email, kind):  # one reply and one coordinator alert per window, not one per email
        kind, handler = "rate-limited", handle_flood
    # handle + record, one transaction
    try:
        with ctx.store.transaction():
            outcome = handler(ctx, email, verdict)
            _record(ctx, email, uid, uidvalidity, outcome, content=content, fingerprint=fingerprint)
    except Exception as exc:  # the shunt: held for a person, never silence
        from mailbot.store import storage_failure

        if storage_failure(exc):  # nothing can be recorded: leave the mail in the inbox, the daemon stops
            raise
        # never log the exception's message (it could quote a document): its type, and where it happened
        log.error("uid %s: handler %s failed (%s); held for the coordinator", uid, kind, type(exc).__name__)
        log.debug("where (message omitted):\n%s", "".join(traceback.format_tb(exc.__traceback__)))
        # a MailbotError's message is plain and name-free by construction; anything else: its type only
        why = str(exc) if isinstance(exc, MailbotError) else type(exc).__name__
        outcome = Outcome(kind=kind, outcome="held", reason=exc.reason if isinstance(exc, MailbotError) else "internal-error",
                          detail=f"{type(exc).__name__} while handling {kind}")
        with ctx.store.transaction():
            ctx.tell_coordinator(
                title="an email needs your attention",
                details=(f"An email from {email.from_address} (received {email.date or 'unknown'}) could not be "
                         f"handled automatically ({why}). Nothing was shared. "
                         f"It is kept in the folder \"{ctx.cfg.quarantine_folder}\"."),
                source=email.key,
            )
            _record(ctx, email, uid, uidvalidity, outcome, content=content, fingerprint=fingerprint)
    # send
    ctx.notify_outbox()
    log.info("uid %s: %s -> %s%s in %.0f ms", uid, kind, outcome.outcome,
             f" {','.join(outcome.case_codes)}" if outcome.case_codes else "",
             (time.perf_counter() - started) * 1000)
    return outcome.folder


def _record(ctx: Context, email, uid: int, uidvalidity: int, outcome: Outcome, *, content: str | None = None,
            fingerprint: str | None = None) -> None:
    ctx.store.record_message(
        email.key, uidvalidity=uidvalidity, uid=uid, sender=email.from_address, kind=outcome.kind,
        outcome=outcome.outcome, reason=outcome.reason, detail=outcome.detail, case_codes=outcome.case_codes,
        content_hash=content,
    )
    if fingerprint is not None:  # in the same transaction: handled, and its attempts forgotten, together
        ctx.store.clear_attempts(fingerprint)


def after_batch(ctx: Context) -> None:
    """Work that is done once per batch of incoming mail: one Master List, not one per referral."""
    from mailbot.jobs.master_list import send_master_list_if_changed

    if send_master_list_if_changed(ctx):
        ctx.notify_outbox()
