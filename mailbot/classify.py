"""Classify: who sent a message (senders.authorise) and what kind it is. Pure.

The kind is decided by a named, ordered chain of small rules (Mailman's chain): the first rule whose
predicate holds gives the kind. The order is data (:data:`CHAIN`); each predicate is a few lines,
``predicate(email, verdict) -> bool``, tested on its own (tests/test_classify_chain.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from mailbot.casework.confirm import find_confirmation
from mailbot.casework.notices import looks_like_notice
from mailbot.context import Kind
from mailbot.mail.reading import kind_of_attachment
from mailbot.mail.senders import authorise

WORD_KINDS = ("docx", "doc", "docm")


@dataclass(frozen=True)
class Rule:
    name: str
    kind: Kind
    holds: Callable[[object, object], bool]
    description: str


def is_automatic(email, verdict) -> bool:
    return verdict.role in ("auto", "ourselves")


def is_not_allowed(email, verdict) -> bool:
    return not verdict.allowed


def is_too_large(email, verdict) -> bool:
    return bool(getattr(email, "too_large", False))


def is_coordinator(email, verdict) -> bool:
    return verdict.role == "coordinator"


def has_word_document(email, verdict) -> bool:
    return any(kind_of_attachment(a) in WORD_KINDS for a in email.attachments)


def is_confirmation(email, verdict) -> bool:
    return find_confirmation(email.subject or "", email.text_body or "")[0]


def is_notice(email, verdict) -> bool:
    return looks_like_notice(email.subject or "", email.text_body or "")


def may_not_submit(email, verdict) -> bool:
    return not getattr(verdict, "may_submit", True)


def has_attachments(email, verdict) -> bool:
    return bool(email.attachments)


def _both(*preds):
    return lambda email, verdict: all(p(email, verdict) for p in preds)


#: The chain, first match wins.
CHAIN: tuple[Rule, ...] = (
    Rule("automatic", Kind.AUTO, is_automatic, "an auto-reply, a bounce or mailbot's own mail: never answered"),
    Rule("not-allowed", Kind.REFUSED, is_not_allowed, "a stranger, or sender authentication failed"),
    Rule("too-large", Kind.TOO_LARGE, is_too_large, "over the size limit: not opened"),
    Rule("coordinator-documents", Kind.DOCUMENT, _both(is_coordinator, has_word_document),
         "the coordinator sends a form (on an agency's behalf) or minutes"),
    Rule("coordinator-confirmation", Kind.COMMAND, _both(is_coordinator, is_confirmation),
         "the coordinator returns a confirmation code"),
    Rule("coordinator-notice", Kind.NOTICE, _both(is_coordinator, is_notice),
         "the coordinator sends a meeting notice"),
    Rule("coordinator-commands", Kind.COMMAND, is_coordinator, "the coordinator's command lines"),
    Rule("may-not-submit", Kind.REFUSED, may_not_submit, "a member that may not submit"),
    Rule("word-documents", Kind.DOCUMENT, has_word_document, "a member's referral form or minutes"),
    Rule("meeting-notice", Kind.NOTICE, is_notice, "a lead agency's meeting notice"),
    Rule("other-attachments", Kind.DOCUMENT, has_attachments, "attachments but no Word file: answered"),
    Rule("anything-else", Kind.OTHER, lambda email, verdict: True, "nothing to handle: answered"),
)


def first_match(email, verdict, chain: tuple[Rule, ...] = CHAIN) -> Rule:
    return next(rule for rule in chain if rule.holds(email, verdict))


def classify(ctx, email) -> tuple[Kind, object]:
    """(kind, the sender's verdict) for one email."""
    cfg = ctx.cfg
    verdict = authorise(
        email,
        ctx.directory(),
        require_auth_pass=cfg.require_authentication_pass and cfg.check_authentication_results,
        # checks off: trust no Authentication-Results header at all
        trusted_authserv_ids=list(cfg.trusted_authserv_ids) if cfg.check_authentication_results else [],
    )
    return first_match(email, verdict).kind, verdict
