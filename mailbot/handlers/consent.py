"""A referral whose form says parental consent was not obtained (rules/consent.toml) waits for the
coordinator: ``CONSENT CN78 OVERRIDE <reason>`` shares it all the same, ``CONSENT CN78 WITHDRAW`` closes
it with nothing shared. Both are confirmed (always) and run in one transaction with the emails they cause.

While it waits there is no case row: the case is not on the Master List (the members' record of the
cases the network holds; a row for a case the network may not hold would already disclose the name),
gets no reminders and is not in the open-case counts. The coded referral (already verified), the
reading and who sent it are sealed in ``consent_holds``, as a held form is (mailbot.casework.held).
The decision, never the form's own words, is recorded: the answer may hold a name.
"""

from __future__ import annotations

import base64
import logging

from mailbot.casework import consent as K
from mailbot.documents.referral import Referral
from mailbot.people import ProtectedPerson

log = logging.getLogger("mailbot.consent")


def _number(code: str) -> int:
    return int(code[2:].rstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))


def _waiting(ctx, code: str):
    from mailbot.handlers.commands import Refused

    got = ctx.store.consent_hold_for(_number(code))
    if got is None or (code[-1:].isalpha() and code not in got[0]["codes"]):
        raise Refused(f"{code} is not a referral waiting for a consent decision.")
    info, payload = got
    if info["status"] != "waiting" or payload is None:
        raise Refused(f"{code} was already decided ({info['status']}); nothing changed.")
    return info, payload


def _referral(payload: dict) -> Referral:
    """The reading sealed with the hold (a hold sealed by older code carries its own children/family too:
    the reading holds them as well)."""
    return Referral.from_json(payload["data"])


def _label(info) -> str:
    return info["codes"][0] if len(info["codes"]) == 1 else f"CN{info['number']}"


def override(ctx, cmd: K.ConsentOverride, source: str) -> str:
    from mailbot.gate import build_gate
    from mailbot.handlers.commands import Refused
    from mailbot.handlers.intake import distribute

    info, payload = _waiting(ctx, cmd.code)
    referral = _referral(payload)
    reason = " ".join((cmd.reason or "").split())[:500]
    people = [ProtectedPerson.of(c, referral.protected_family()) for c in referral.young_people]
    if ctx.gate().check_text(reason, "reason") or build_gate(people).check_text(reason, "reason"):
        raise Refused("the reason holds a name. Write it without any name (the case code is enough); "
                      "nothing changed.")
    label = _label(info)
    with ctx.store.transaction():
        if not ctx.store.decide_consent_hold(info["id"], "overridden", reason, now=ctx.now().timestamp()):
            raise Refused(f"{label} was already decided; nothing changed.")
        ctx.store.audit("consent-decision", payload.get("message_id"), info["codes"][0], [], "coordinator",
                        f"{label} shared without parental consent by the coordinator; reason: {reason}",
                        event="decision", now=ctx.now().timestamp())
        distribute(ctx, agency=payload["agency"], from_address=payload["from_address"],
                   message_id=payload["message_id"], email_key=payload["email_key"], source=payload["source"],
                   referral=referral, codes=payload["codes"], number=payload["number"], coded=base64.b64decode(payload["coded"]),
                   consent_decided="overridden")
    log.info("consent hold %s overridden by the coordinator; the referral was shared", label)
    return (f"{label} shared with the network without parental consent (reason recorded): the Coded Referral "
            f"went to the members, the referrer was acknowledged, the Master List is updated.")


def withdraw(ctx, cmd: K.ConsentWithdraw, source: str) -> str:
    from mailbot.handlers.commands import Refused
    from mailbot.store import Case

    info, payload = _waiting(ctx, cmd.code)
    referral = _referral(payload)
    family = referral.protected_family()
    label = _label(info)
    today = ctx.local_now().date().isoformat()
    store = ctx.store
    with store.transaction():
        if not store.decide_consent_hold(info["id"], "withdrawn", "withdrawn by the coordinator",
                                         now=ctx.now().timestamp()):
            raise Refused(f"{label} was already decided; nothing changed.")
        # the case is recorded closed (its names kept encrypted until the retention period ends, so the
        # gate still protects them); it was never on the Master List and nothing goes to the members
        for code, child in zip(payload["codes"], referral.young_people):
            store.add_case(Case(
                code=code, number=payload["number"], letter=code[len(f"CN{payload['number']}"):],
                lead_agency=payload["agency"], lead_contact=payload["from_address"], status="closed",
                referred_on=today, closed_on=today,
                identity=store.vault.identity(child.name, child.dob_iso),
                person=ProtectedPerson.of(child, family), source_message_key=payload["email_key"]))
            store.set_case_consent(code, parental="withdrawn", sensitive=False, decision="withdrawn")
            store.record_exit(code, reason="consent withdrawn: not shared with the network", closed_on=today,
                              actor="coordinator", now=ctx.now().timestamp())
        store.audit("consent-decision", payload.get("message_id"), info["codes"][0], [], "coordinator",
                    f"{label} withdrawn by the coordinator (no consent): closed, nothing shared",
                    event="decision", now=ctx.now().timestamp())
        ctx.queue(kind="consent-withdrawn", rule_kind="acknowledgement", template="consent-withdrawn",
                  to=ctx.recipients("acknowledgement", sender=payload["from_address"]),
                  values={"code": ", ".join(payload["codes"]), "agency": payload["agency"]},
                  source=f"consent-withdrawn:{label}", case_code=label, in_reply_to=payload.get("message_id"))
    log.info("consent hold %s withdrawn by the coordinator; nothing shared", label)
    return f"{label} closed; nothing about it was shared with the members, the referrer was told."


def list_waiting(ctx) -> str:
    rows = ctx.store.consent_holds("waiting")
    if not rows:
        return "No referral is waiting for a consent decision."
    return "\n".join(f"{', '.join(r['codes'])}  {r['reason']}" for r in rows)


def register() -> None:
    from mailbot.handlers.commands import register_command

    register_command(K.ConsentOverride, override, name="CONSENT OVERRIDE", always_confirm=True)
    register_command(K.ConsentWithdraw, withdraw, name="CONSENT WITHDRAW", always_confirm=True)


register()
