"""The consent check of intake: a referral whose form says parental consent was not obtained is held, sealed,
for the coordinator's decision (rules/consent.toml); the decision itself is handlers.consent."""

from __future__ import annotations

import base64
import logging

from mailbot.casework import consent as K
from mailbot.documents.referral import Referral

log = logging.getLogger("mailbot.consent")


def consent_gate(ctx, *, decided: str | None, agency, from_address, message_id, email_key, source,
                 referral: Referral, codes, number, coded) -> bool:
    """Called by intake.distribute before anything is recorded: True when the referral may go out (its
    consent facts are recorded with each case code), False when it is now held for a decision."""
    rules = ctx.rules_file(K.load_consent_rules, watch="consent.toml")
    reasons = K.hold_reasons(referral, rules)
    sensitive = K.sensitive_consent_recorded(referral, rules)
    if decided or not reasons:
        # what the record says: the coordinator's decision, or what the form's first consent question meant
        parental = decided
        if not parental:
            meaning = K.classify(K.answers_of(referral).get(rules.fields[0]) if rules.fields else None, rules)
            parental = {"consent": "obtained", "absent": "not asked on the form"}.get(meaning, meaning)
        for code in codes:
            ctx.store.set_case_consent(code, parental=parental, sensitive=sensitive,
                                       decision=decided or "")
        return True
    _hold(ctx, reasons=reasons, agency=agency, from_address=from_address, message_id=message_id,
          email_key=email_key, source=source, referral=referral, codes=codes, number=number, coded=coded)
    return False


def _hold(ctx, *, reasons, agency, from_address, message_id, email_key, source, referral: Referral, codes,
          number, coded) -> None:
    why = K.describe(reasons)
    payload = {"coded": base64.b64encode(coded).decode("ascii"), "data": referral.to_json(),
               "codes": list(codes), "number": number, "agency": agency,
               "from_address": from_address, "message_id": message_id, "email_key": email_key, "source": source}
    ctx.store.add_consent_hold(number, list(codes), why, payload, now=ctx.now().timestamp())
    label = codes[0] if len(codes) == 1 else f"CN{number}"
    ctx.store.audit("consent-hold", message_id, codes[0], [], "consent",
                    f"{label} waits for the coordinator's consent decision ({why})", event="held",
                    now=ctx.now().timestamp())
    ctx.tell_coordinator(
        title=f"[{label}] referral waiting for a consent decision",
        details=(f"A referral from {agency} was coded as {', '.join(codes)}, but the form says: {why}. "
                 f"Nothing was sent to the members and the case is not on the Master List. Decide:\n"
                 f"  CONSENT {label} OVERRIDE <reason>   shares it all the same (the reason is recorded)\n"
                 f"  CONSENT {label} WITHDRAW            closes it; nothing about it is shared\n"
                 f"Each waits for your confirmation."),
        source=source, case_code=label)
    ctx.queue(kind="consent-waiting", rule_kind="acknowledgement", template="consent-waiting",
              to=ctx.recipients("acknowledgement", sender=from_address),
              values={"code": ", ".join(codes), "agency": agency},
              source=source, case_code=label, in_reply_to=message_id)
    log.info("referral from %s coded %s waits for a consent decision", agency, ",".join(codes))

