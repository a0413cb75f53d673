"""The coordinator's review of a held referral form (the recall check saw a word that looks like a
name in the coded document): strip a further word and send, release as it is, or discard.

Each decision is audited with the hold's number and the case codes, never the word. The form
was kept sealed in the store (``held_forms``); it is coded again from the original, so that a
word the coordinator names is removed everywhere (with every form of it), verified, gated, and
only then sent through the one path every coded referral takes (handlers.intake.distribute).
"""

from __future__ import annotations

import base64
import logging

from mailbot.casework.commands import parse_hold_id  # noqa: F401 (the pure part, where commands are parsed)
from mailbot.documents.referral import Referral, recall_allowed
from mailbot.errors import HeldForReview, LeakDetected, MailbotError

log = logging.getLogger("mailbot.held")

def _load(ctx, hold_id: int):
    got = ctx.store.held_form(hold_id)
    if got is None:
        raise MailbotError(f"There is no held referral H{hold_id}.", reason="no-such-hold")
    info, payload = got
    if info["status"] != "held":
        raise MailbotError(f"Held referral H{hold_id} was already decided ({info['status']}).",
                           reason="already-decided")
    return info, payload


def _code_again(ctx, payload: dict, referral: Referral, words: list[str], *, recall: bool) -> bytes:
    from mailbot.documents.coding import code_document, recall_check
    from mailbot.documents.package import open_package
    from mailbot.handlers.intake import network_words
    from mailbot.documents.redaction_rules import field_protections, load_redaction_rules

    children = referral.young_people
    family = referral.protected_family()
    codes = payload["codes"]
    extra = list(field_protections(children, load_redaction_rules(ctx.cfg.rules_dir)))
    # the coordinator's words stand for the first young person (a sibling form: the family code)
    for w in words:
        extra.append((w, codes[0]))
    pkg = open_package(base64.b64decode(payload["form"]), max_file_bytes=ctx.cfg.max_email_bytes)
    coded = code_document(pkg, children, family, codes, extra=extra, surfaces=ctx.surfaces)
    if recall:
        recall_check(coded, recall_allowed(referral, *network_words(ctx.cfg)))
    return coded


def _finish(ctx, payload: dict, referral: Referral, coded: bytes, words: list[str] = ()) -> bool:
    from mailbot.handlers.intake import distribute

    if words:  # the coordinator's words are names of this young person from now on (gate, minutes)
        first = referral.young_people[0]
        first.aliases += [w for w in words if w not in first.aliases]
    return distribute(ctx, agency=payload["agency"], from_address=payload["from_address"],
                      message_id=payload["message_id"], email_key=payload["email_key"], source=payload["source"],
                      referral=referral, codes=payload["codes"], number=payload["number"], coded=coded,
                      references=payload.get("references") or ())


def strip_and_send(ctx, hold_id: int, words: list[str]) -> str:
    """STRIP H<n> <word>...: code the form again with these words removed too, check, send."""
    words = [w.strip(" \"'‘’“”") for w in words if w.strip(" \"'‘’“”")]
    if not words:
        return "Give the word to remove: STRIP H<number> <word>."
    info, payload = _load(ctx, hold_id)
    codes = info["codes"]
    try:
        with ctx.store.transaction():
            referral = Referral.from_json(payload["data"])
            coded = _code_again(ctx, payload, referral, words, recall=True)
            sent = _finish(ctx, payload, referral, coded, words)
            ctx.store.decide_held_form(hold_id, "stripped", f"{len(words)} word(s) removed by the coordinator")
            ctx.store.audit("held-form", payload.get("message_id"), codes[0], [], "coordinator",
                            f"H{hold_id} stripped ({len(words)} word(s)) and sent", event="decision")
    except HeldForReview as exc:
        return (f"H{hold_id} ({', '.join(codes)}): with that word removed, a word that looks like a name is still "
                f"in {'; '.join(exc.where[:5])}. Nothing was sent; name that word too, or RELEASE H{hold_id} <reason>.")
    except LeakDetected as exc:
        return f"H{hold_id} ({', '.join(codes)}): {exc} Nothing was sent."
    log.info("held referral H%d (%s) stripped by the coordinator and sent", hold_id, ",".join(codes))
    return f"H{hold_id}: {', '.join(codes)} coded again without that word and " + _sent_or_waiting(sent, codes)


def release(ctx, hold_id: int, reason: str) -> str:
    """RELEASE H<n> <reason>: send the coded referral as it is (the strict checks still apply)."""
    reason = (reason or "").strip()
    if not reason:
        return f"Give a reason: RELEASE H{hold_id} <reason> (it is recorded)."
    info, payload = _load(ctx, hold_id)
    codes = info["codes"]
    try:
        with ctx.store.transaction():
            referral = Referral.from_json(payload["data"])
            coded = _code_again(ctx, payload, referral, [], recall=False)
            sent = _finish(ctx, payload, referral, coded)
            ctx.store.decide_held_form(hold_id, "released", reason[:500])
            ctx.store.audit("held-form", payload.get("message_id"), codes[0], [], "coordinator",
                            f"H{hold_id} released as it is: {reason[:500]}", event="decision")
    except LeakDetected as exc:
        return f"H{hold_id} ({', '.join(codes)}): {exc} Nothing was sent."
    log.info("held referral H%d (%s) released by the coordinator", hold_id, ",".join(codes))
    return f"H{hold_id}: {', '.join(codes)} released as it is (reason recorded) and " + _sent_or_waiting(sent, codes)


def _sent_or_waiting(sent: bool, codes) -> str:
    return "sent to the members." if sent else \
        f"now waits for your consent decision (CONSENT {codes[0]} OVERRIDE <reason> or WITHDRAW)."


def discard(ctx, hold_id: int) -> str:
    """DISCARD H<n>: send nothing; the referrer is asked to send the form again."""
    info, payload = _load(ctx, hold_id)
    codes = info["codes"]
    with ctx.store.transaction():
        ctx.store.decide_held_form(hold_id, "discarded", "discarded by the coordinator")
        ctx.store.audit("held-form", payload.get("message_id"), codes[0], [], "coordinator",
                        f"H{hold_id} discarded", event="decision")
        ctx.queue(kind="form-problem", rule_kind="acknowledgement", template="form-problem",
                  to=ctx.recipients("acknowledgement", sender=payload["from_address"]),
                  values={"filename": "the referral form", "problem":
                          "The coordinator could not share the coded copy of this referral. Please check that "
                          "the form names only the young person and family in its own boxes, and send it again."},
                  source=payload["source"], case_code=codes[0], in_reply_to=payload.get("message_id"),
                  references=payload.get("references") or ())
    return f"H{hold_id}: {', '.join(codes)} discarded; nothing was sent to the members, the referrer was told."


def list_held(ctx) -> str:
    rows = ctx.store.held_forms("held")
    if not rows:
        return "No referral is held for review."
    return "\n".join(f"H{r['id']}  {', '.join(r['codes'])}  {r['location']}" for r in rows)
