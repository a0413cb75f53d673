"""Flood control: a sender that floods the coordinator mailbox is not answered email by email.

Each sender may have ``[security] rate_limit_emails`` emails handled within
``rate_limit_window_minutes`` (a sliding window over the emails recorded in the store). Past
that, each further email from that address is filed in Quarantine **unhandled** (outcome
"quarantined", reason "rate-limited"; it is recorded, so it is counted and appears in the
digest), and per window (fixed windows of the same length) the sender gets at most one reply
(only a member or coordinator whose mail passed authentication: a stranger never gets any) and
the coordinator one summarising alert. The deduplication is the outbox's own: the reply and the
alert have the same Message-ID for the whole window, so queueing them again adds nothing.

An email held this way is handled normally when the coordinator moves it back to the inbox
after the flood (the pipeline does not take "rate-limited" as a final outcome).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone

from mailbot.context import Outcome

log = logging.getLogger("mailbot.ratelimit")

REASON = "rate-limited"


def _window_seconds(cfg) -> int:
    return int(cfg.rate_limit_window_minutes) * 60


def recent_count(store, sender: str, window_seconds: int, *, now: float | None = None) -> int:
    """How many emails from ``sender`` were recorded within the last ``window_seconds`` (auto-replies,
    bounces and our own mail aside: they are never answered)."""
    since = datetime.fromtimestamp((time.time() if now is None else now) - window_seconds, timezone.utc)
    row = store._conn().execute(
        "SELECT COUNT(*) FROM messages WHERE sender = ? AND processed_at >= ? AND kind != 'auto'",
        (sender, since.isoformat(timespec="seconds"))).fetchone()
    return int(row[0] or 0)


def is_flooding(ctx, email, kind: str, verdict=None) -> bool:
    """Has this email's sender already had its share of handled emails in this window? (Mail that failed
    sender authentication is counted apart from the real sender's: see Context.recorded_sender.)"""
    sender = ctx.recorded_sender(email.from_address, unverified=bool(getattr(verdict, "unverified", False)))
    # "": every email with no single sender, as one
    if kind == "auto":
        return False
    return recent_count(ctx.store, sender, _window_seconds(ctx.cfg)) >= ctx.cfg.rate_limit_emails


def handle_flood(ctx, email, verdict) -> Outcome:
    """File the email unhandled; one reply to the sender and one alert to the coordinator per window."""
    cfg = ctx.cfg
    # (an outsider's address only as a pseudonym; a forged member's apart from the member's own)
    sender = ctx.recorded_sender(email.from_address, unverified=bool(getattr(verdict, "unverified", False)))
    seconds = _window_seconds(cfg)
    window = int(time.time() // seconds)
    until = datetime.fromtimestamp((window + 1) * seconds, timezone.utc).astimezone(cfg.tz)
    source = f"rate-limit:{sender}:{window}"
    values = {"limit": str(cfg.rate_limit_emails), "minutes": str(cfg.rate_limit_window_minutes),
              "until": until.strftime("%H:%M")}
    if verdict.allowed and sender:  # never a reply to a stranger or to mail that failed authentication
        ctx.queue(kind="rate-limited", rule_kind="acknowledgement", template="rate-limited",
                  to=ctx.recipients("acknowledgement", sender=email.from_address.lower()), values=values, source=source,
                  in_reply_to=email.message_id, references=email.references)
    count = recent_count(ctx.store, sender, seconds) + 1
    who = sender or "Emails with no single sender address (a misleading From line)"
    ctx.tell_coordinator(
        title="too many emails from one address",
        details=(f"{who}: more than {cfg.rate_limit_emails} emails within "
                 f"{cfg.rate_limit_window_minutes} minutes ({count} so far). Until {values['until']}, each further "
                 f"such email is kept in the folder \"{cfg.quarantine_folder}\" without being "
                 f"processed or answered; the daily digest counts them. "
                 + ("The sender was told once. " if verdict.allowed and sender else "The sender was not answered. ")
                 + "To have one handled, move it back to the inbox after the flood."),
        source=source)
    log.warning("flood control: an email from one sender filed unhandled (%d within the window)", count)
    return Outcome(kind="rate-limited", outcome="quarantined", reason=REASON)
