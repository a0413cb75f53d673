"""One message, one short pipeline: receive -> classify -> handle -> record -> send.

* receive:  the raw bytes become an :class:`IncomingEmail` (mailbot.mail.reading).
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
import time
import traceback

from mailbot.context import QUARANTINED, UNVERIFIED_SUFFIX, Context, Disposition, Kind, Outcome, folder_for
from mailbot.errors import MailbotError

log = logging.getLogger("mailbot.pipeline")

#: The steps, in order; their names appear in logs.
STEPS = ("receive", "classify", "handle", "record", "send")

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


def said_hash(email) -> str | None:
    """What an email says, as read: its subject, its text and its attachments (name and bytes, decoded).

    One email delivered twice hashes alike even when a server on one of the ways re-encoded it (base64,
    quoted-printable, 8bit: its bytes differ, what it says does not); None when nothing of it was read
    (too large, unreadable): then only its bytes tell (:func:`content_hash`)."""
    if getattr(email, "too_large", False) or not ((email.text_body or "").strip() or email.attachments):
        return None
    text = "\n".join(line.rstrip() for line in (email.text_body or "").splitlines()).strip()
    parts = [" ".join((email.subject or "").split()), text]
    parts += [f"{a.filename}\x00{hashlib.sha256(bytes(a.data or b'')).hexdigest()}" for a in email.attachments]
    return hashlib.sha256(b"said\n" + "\n\x00".join(parts).encode("utf-8", "replace")).hexdigest()


def process_message(ctx: Context, raw: bytes, *, uid: int = 0, uidvalidity: int = 0) -> str:
    """Run one raw email through the pipeline; return the folder it belongs in."""
    from mailbot.mail.reading import read_email

    started = time.perf_counter()
    ctx.refresh_members()  # a member change another thread (or a rolled-back email) made
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
                                     outcome=Disposition.QUARANTINED, reason="failed-every-attempt",
                                     detail=f"not handled after {attempts} attempts")
        ctx.notify_outbox()
    log.error("uid %s: failed at each of %d attempts; quarantined without being read again", uid, attempts)
    return QUARANTINED


def message_keys(raw: bytes, whole: bool, *, max_bytes: int) -> set[str]:
    """The keys an email is recorded under (mailbot.mail.restore finds a quarantined one by them): from
    its header block alone (Message-ID, sender, date), or, ``whole``, also the key of a same-Message-ID
    variant and of an email without a Message-ID."""
    from mailbot.mail.reading import read_email

    email = read_email(raw, max_bytes=max_bytes)
    keys = {email.key}
    if whole:
        for content in {content_hash(raw, email.subject), said_hash(email)} - {None}:
            keys.add(_variant_key(email.key, content))
            keys.add(_variant_key(email.key, _VERIFIED + content))
    return keys


#: what sets apart the key of a copy that passed sender authentication where the copy recorded first,
#: alike in every other way, had not (see _process)
_VERIFIED = "verified copy\n"


def _variant_key(key: str, content: str) -> str:
    return hashlib.sha256(f"same-id-other-content\n{key}\n{content}".encode()).hexdigest()


def _process(ctx: Context, email, uid: int, uidvalidity: int, started: float, *, raw: bytes = b"",
             fingerprint: str | None = None) -> str:
    from mailbot.classify import classify
    from mailbot.handlers import HANDLERS

    # what it says as read (alike for a copy re-encoded on the way); its bytes also match what was
    # recorded before what it says was (content_hash)
    raw_content = content_hash(raw, email.subject)
    content = said_hash(email) or raw_content
    prior = ctx.store.get_message(email.key)
    if prior is not None and prior.get("content_hash") not in (None, content, raw_content):
        # Same Message-ID, sender and date as an email already handled, but it says something else:
        # another email (a forged or careless re-use of the Message-ID), never dropped as done.
        log.warning("uid %s: same Message-ID as an email already handled, other content: handled as a new email",
                    uid)
        keys = [_variant_key(email.key, c) for c in dict.fromkeys((content, raw_content))]
        key = next((k for k in keys if ctx.store.get_message(k) is not None), keys[0])
        email = dataclasses.replace(email, key=key)
        prior = ctx.store.get_message(email.key)
    if prior is not None and str(prior.get("sender") or "").endswith(UNVERIFIED_SUFFIX) \
            and not getattr(classify(ctx, email)[1], "unverified", True):
        # The copy recorded first failed sender authentication; this one passes. A forgery that copied a
        # genuine email (its Message-ID, date and text: a member it was copied to has them) and got in
        # first must not make the genuine email count as done; nor a copy whose check failed for a while.
        log.warning("uid %s: same Message-ID as an email refused for sender authentication, and this copy "
                    "passes: handled as a new email", uid)
        email = dataclasses.replace(email, key=_variant_key(email.key, _VERIFIED + content))
        prior = ctx.store.get_message(email.key)
    # held by flood control, or the coordinator asked for it to be handled again (REPROCESS): handle it now
    if prior is not None and prior.get("reason") != "rate-limited" and prior.get("outcome") != "reprocess":
        log.info("uid %s: already recorded as %s (%s); not handled again", uid, prior["kind"], prior["outcome"])
        if fingerprint is not None:
            with ctx.store.transaction():
                ctx.store.clear_attempts(fingerprint)
        return folder_for(prior["outcome"])
    # classify
    kind, verdict = classify(ctx, email)
    handler = HANDLERS[kind]
    from mailbot.handlers.flood import handle_flood, is_flooding

    sender = ctx.recorded_sender(email.from_address, unverified=bool(getattr(verdict, "unverified", False)))
    if is_flooding(ctx, email, kind, verdict):  # one reply and one coordinator alert per window, not one per email
        kind, handler = Kind.RATE_LIMITED, handle_flood
    # handle + record, one transaction
    try:
        with ctx.store.transaction():
            outcome = handler(ctx, email, verdict)
            _record(ctx, email, uid, uidvalidity, outcome, content=content, fingerprint=fingerprint, sender=sender)
    except Exception as exc:  # the shunt: held for a person, never silence
        from mailbot.store import storage_failure

        if storage_failure(exc):  # nothing can be recorded: leave the mail in the inbox, the daemon stops
            raise
        # never log the exception's message (it could quote a document): its type, and where it happened
        log.error("uid %s: handler %s failed (%s); held for the coordinator", uid, kind, type(exc).__name__)
        log.debug("where (message omitted):\n%s", "".join(traceback.format_tb(exc.__traceback__)))
        # a MailbotError's message is plain and name-free by construction; anything else: its type only
        why = str(exc) if isinstance(exc, MailbotError) else type(exc).__name__
        outcome = Outcome(kind=kind, outcome=Disposition.HELD, reason=exc.reason if isinstance(exc, MailbotError) else "internal-error",
                          detail=f"{type(exc).__name__} while handling {kind}")
        with ctx.store.transaction():
            ctx.tell_coordinator(
                title="an email needs your attention",
                details=(f"An email from {sender or '(no single sender)'} "
                         f"(received {email.date or 'unknown'}) could not be "
                         f"handled automatically ({why}). Nothing was shared. "
                         f"It is kept in the folder \"{ctx.cfg.quarantine_folder}\"."),
                source=email.key,
            )
            _record(ctx, email, uid, uidvalidity, outcome, content=content, fingerprint=fingerprint, sender=sender)
    # send
    ctx.notify_outbox()
    log.info("uid %s: %s -> %s%s in %.0f ms", uid, kind, outcome.outcome,
             f" {','.join(outcome.case_codes)}" if outcome.case_codes else "",
             (time.perf_counter() - started) * 1000)
    return outcome.folder


def _record(ctx: Context, email, uid: int, uidvalidity: int, outcome: Outcome, *, content: str | None = None,
            fingerprint: str | None = None, sender: str | None = None) -> None:
    if sender is None:
        sender = ctx.recorded_sender(email.from_address)
    ctx.store.record_message(
        email.key, uidvalidity=uidvalidity, uid=uid, sender=sender, kind=outcome.kind,
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
