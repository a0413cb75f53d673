"""Intake of a referral (domain.md steps 1-8), one Word attachment at a time.

parse the form -> refuse a duplicate -> allocate the code -> strip names and
verify (fail closed) -> add the case(s) to the store -> queue the Coded
Referral for the members the rules choose, the acknowledgement for the
referrer and the Social Work check for the coordinator -> mark the Master
List changed (it is sent once per batch).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from mailbot.documents.coding import code_document, recall_check, sibling_codes
from mailbot.documents.redact import coded_filename
from mailbot.documents.redaction_rules import field_protections, load_redaction_rules
from mailbot.mail.compose import DOCX_TYPE, Attachment
from mailbot.documents.package import open_package
from mailbot.casework.eligibility import check_age_range
from mailbot.errors import HeldForReview, LeakDetected, MailbotError
from mailbot.documents.referral import Referral, parse_referral, recall_allowed
from mailbot.context import Disposition, DocumentKind, Outcome
from mailbot.people import ProtectedPerson

log = logging.getLogger("mailbot.intake")


def handle_referral(ctx, email, member, pkg, *, source: str, filename: str, form: bytes | None = None,
                    referral: Referral | None = None) -> Outcome:
    """One Referral Form: coded and distributed, held, or a duplicate. Raises MailbotError for a form
    problem (the caller replies).

    ``pkg`` is the opened form; or None with ``referral``, the form as the helper process read it
    (mailbot.speculate), and ``form``, its bytes, opened here only if it must be coded here."""
    store = ctx.store
    if referral is None:
        referral = parse_referral(pkg)
    children = referral.young_people
    family = referral.protected_family()  # relatives named only in the text too

    # A child already on the Master List never gets a second code.
    identities = [store.vault.identity(c.name, c.dob_iso) for c in children]
    existing = [store.find_case_by_identity(i) for i in identities]
    existing = [c for c in existing if c is not None and c.status == "open"]
    if existing:
        return _duplicate(ctx, email, member, existing, source)

    # outside the network's ages: refused (the age on the day the referral was sent)
    check_age_range(children, sent_on(email, ctx), ctx.cfg.rules_dir)
    number = store.allocate_case_number()
    codes = sibling_codes(number, len(children))
    extra = field_protections(children, load_redaction_rules(ctx.cfg.rules_dir))
    allowed = recall_allowed(referral, *network_words(ctx.cfg))
    try:
        # coded ahead by the helper process from exactly these inputs (a backlog), or here
        coded = None
        if ctx.ahead is not None and form is not None:
            coded = ctx.ahead.coded(form, children, family, codes, extra)
        if coded is None:
            if pkg is None:
                pkg = open_package(form, max_file_bytes=ctx.cfg.max_email_bytes)
            coded = code_document(pkg, children, family, codes, extra=extra, surfaces=ctx.surfaces)
        recall_check(coded, allowed)  # the second look that does not trust the reader
    except HeldForReview as exc:
        return _hold_for_review(ctx, email, member, exc, codes=codes, number=number, referral=referral,
                                form=form if form is not None else (pkg.to_bytes() if pkg is not None else b""),
                                source=source, filename=filename)
    except LeakDetected as exc:
        # Fail closed: nothing goes to the members; the number is not used (the transaction rolls back
        # only if we raise, so keep it: the coordinator codes this one by hand under the same number).
        ctx.tell_coordinator(
            title=f"[{codes[0]}] referral held: names could not be removed safely",
            details=(f"A referral from {member.agency} was given the code(s) {', '.join(codes)}, but the "
                     f"check after removing names failed ({exc}). Nothing was sent to the members. Please "
                     f"code this referral by hand; the original is in the folder \"{ctx.cfg.quarantine_folder}\"."),
            source=source, case_code=codes[0])
        _tell_referrer_held(ctx, email, member, codes, source)
        return _referral(Disposition.HELD, codes, "leak-check-failed")
    if not distribute(ctx, agency=member.agency, from_address=email.from_address, message_id=email.message_id,
                      email_key=email.key, source=source, referral=referral, codes=codes, number=number,
                      coded=coded, references=email.references):
        return _referral(Disposition.HELD, codes, "consent-decision")
    return _referral(Disposition.ACCEPTED, codes)


def _referral(disposition: Disposition, codes, reason: str = "") -> Outcome:
    return Outcome(kind=DocumentKind.REFERRAL, outcome=disposition, reason=reason, case_codes=tuple(codes))


def _duplicate(ctx, email, member, existing, source: str) -> Outcome:
    """The young person is already on the Master List: the referrer is told the existing code."""
    codes = tuple(sorted({c.code for c in existing}))
    first = existing[0]
    values = {"code": ", ".join(codes), "lead_agency": first.lead_agency}
    ctx.queue(kind="duplicate-referral", rule_kind="acknowledgement", template="duplicate-referral",
              to=ctx.recipients("acknowledgement", sender=email.from_address), values=values,
              source=source, case_code=codes[0], in_reply_to=email.message_id, references=email.references)
    ctx.tell_coordinator(
        title=f"[{codes[0]}] the same young person was referred again",
        details=(f"{member.agency} ({email.from_address}) sent a referral for a young person already on "
                 f"the Master List as {', '.join(codes)} (lead agency {first.lead_agency}). No new code was "
                 f"given; the referrer has been told the existing code."),
        source=source, case_code=codes[0])
    log.info("referral from %s matches open case(s) %s: no new code", member.agency, ",".join(codes))
    return _referral(Disposition.DUPLICATE, codes, "already-on-master-list")


def sent_on(email, ctx):
    """The day the referral was sent: its Date header, when that is not in the future and not more
    than 400 days old (a clock or header that cannot be right), else today."""
    from datetime import timedelta as _td

    today = ctx.local_now().date()
    when = getattr(email, "date", None)
    if when is None:
        return today
    try:
        day = when.astimezone(ctx.cfg.tz).date() if when.tzinfo else when.date()
    except (ValueError, OverflowError, OSError):
        return today
    return day if today - _td(days=400) <= day <= today else today


def network_words(cfg) -> list[str]:
    """The member agencies' names and contact addresses: never taken for a young person's name."""
    out = []
    for m in getattr(cfg, "members", []) or []:
        out.append(getattr(m, "agency", "") or "")
        out.extend(getattr(m, "contacts", []) or [])
    return out


def _tell_referrer_held(ctx, email, member, codes, source) -> None:
    """The referrer of a held form is always answered (issue 10 item 13)."""
    ctx.queue(kind="referral-held", rule_kind="acknowledgement", template="referral-held",
              to=ctx.recipients("acknowledgement", sender=email.from_address),
              values={"code": ", ".join(codes), "agency": member.agency},
              source=source, case_code=codes[0], in_reply_to=email.message_id, references=email.references)


def _hold_for_review(ctx, email, member, exc, *, codes, number, referral: Referral, form, source,
                     filename) -> Outcome:
    """Keep the form (sealed) for the coordinator, tell them where to look (never the word), and
    answer the referrer. The numbers stay reserved for this referral."""
    import base64

    payload = {"form": base64.b64encode(form).decode("ascii"), "data": referral.to_json(), "codes": codes,
               "number": number,
               "agency": member.agency, "from_address": email.from_address, "message_id": email.message_id,
               "email_key": email.key, "source": source, "references": list(email.references)}
    where = "; ".join(exc.where[:8]) or "the coded document"
    hold_id = ctx.store.add_held_form(codes, exc.reason, where, payload)
    ctx.store.audit("referral-held", email.message_id, codes[0], [], "recall-check", f"H{hold_id}: {where}",
                    event="held")
    ctx.tell_coordinator(
        title=f"[{codes[0]}] referral held for your review (H{hold_id})",
        details=(f"A referral from {member.agency} was coded as {', '.join(codes)}, but a word that looks like "
                 f"a person's name is still in the coded document: {where}. Nothing was sent to the members. "
                 f"Open the original in the folder \"{ctx.cfg.quarantine_folder}\" and decide:\n"
                 f"  STRIP H{hold_id} <word>      removes that word too (it becomes {codes[0]}) and sends\n"
                 f"  RELEASE H{hold_id} <reason>  sends the coded referral as it is (the reason is recorded)\n"
                 f"  DISCARD H{hold_id}           sends nothing (the referrer is told to send it again)"),
        source=source, case_code=codes[0])
    _tell_referrer_held(ctx, email, member, codes, source)
    log.info("referral from %s coded %s held for review H%d", member.agency, ",".join(codes), hold_id)
    return _referral(Disposition.HELD, codes, "possible-name")


def distribute(ctx, *, agency, from_address, message_id, email_key, source, referral: Referral, codes,
               number, coded, consent_decided: str | None = None, references=()) -> bool:
    """Record the case(s) and queue the Coded Referral, the acknowledgement and the coordinator's notice.

    False when, instead, the referral now waits for the coordinator's consent decision (rules/consent.toml,
    mailbot.handlers.consent); ``consent_decided`` is that decision, once made."""
    from mailbot.handlers.consent_hold import consent_gate
    from mailbot.store import Case

    if not consent_gate(ctx, decided=consent_decided, agency=agency, from_address=from_address,
                        message_id=message_id, email_key=email_key, source=source, referral=referral,
                        codes=codes, number=number, coded=coded):
        return False
    family = referral.protected_family()
    store = ctx.store
    today = ctx.local_now().date()
    for code, child in zip(codes, referral.young_people):
        store.add_case(Case(
            code=code,
            number=number,
            letter=code[len(f"CN{number}"):],
            lead_agency=agency,
            lead_contact=from_address,
            status="open",
            referred_on=today.isoformat(),
            identity=store.vault.identity(child.name, child.dob_iso),
            person=ProtectedPerson.of(child, family),
            source_message_key=email_key,
        ))
    store.mark_master_list_dirty(codes, "added")

    code_label = codes[0] if len(codes) == 1 else f"CN{number}"
    to = ctx.recipients("coded_referral", sender=from_address)  # Social Work not yet checked: excluded
    values = {"code": ", ".join(codes), "lead_agency": agency, "referred_on": today.strftime("%d/%m/%Y")}
    from mailbot.handlers.sensitive import coded_referral_views

    # a sensitive service referring without consent: the other members' copy names an unspecified service
    for view_to, view_values, view_coded in coded_referral_views(ctx, to, values, coded, agency=agency,
                                                                  from_address=from_address, referral=referral,
                                                                  codes=codes):
        ctx.queue(kind="coded-referral", rule_kind="coded_referral", template="coded-referral", to=view_to,
                  values=view_values, source=source, case_code=code_label,
                  attachments=[Attachment(coded_filename(codes), DOCX_TYPE, view_coded)])

    children_lines = "\n".join(f"  {c}: young person {i}" for i, c in enumerate(codes, 1)) if len(codes) > 1 else ""
    ctx.queue(kind="acknowledgement", rule_kind="acknowledgement", template="acknowledgement",
              to=ctx.recipients("acknowledgement", sender=from_address),
              values={"code": ", ".join(codes), "agency": agency, "children_lines": children_lines,
                      "follow_up_by": (today + timedelta(days=14)).strftime("%d/%m/%Y")},
              source=source, case_code=code_label, in_reply_to=message_id, references=references)
    says = referral.known_to_social_work
    ctx.queue(kind="coordinator-new-case", rule_kind="coordinator_notice", template="coordinator-new-case",
              to=ctx.recipients("coordinator_notice"),
              values={"code": code_label, "codes": ", ".join(codes), "first_code": codes[0],
                      "lead_agency": agency, "lead_contact": from_address,
                      "referred_on": today.strftime("%d/%m/%Y"),
                      "form_says_sw": {True: "yes", False: "no", None: "not stated"}[says],
                      "recipient_count": len(to)},
              source=source, case_code=code_label)
    log.info("referral from %s coded %s; coded referral queued for %d addresses", agency,
             ",".join(codes), len(to))
    return True


__all__ = ["handle_referral", "distribute", "MailbotError"]
