"""A Referral Form emailed by a coordinator: the coordinator refers on behalf of the agency named on it.

The agency named on the form (its referring agency, or the referrer's address when that is a member
contact) becomes the lead agency, exactly as if it had sent the form itself: the acknowledgement
with the code goes to that agency's contact, the coordinator gets the usual new-case summary. When
the form names no member agency, or one that does not match exactly one member, nothing is coded
and the coordinator gets a plain reply saying so (never "not a command").
"""

from __future__ import annotations

import dataclasses

from mailbot.errors import BadField
from mailbot.context import Outcome
from mailbot.documents.referral import Referral, parse_referral


def agency_for_form(ctx, referral: Referral) -> tuple[str, str] | None:
    """(agency, contact address) of the member the form names; None when none or several match."""
    from mailbot.handlers.common import find_member

    agency_text = " ".join(referral.referring_agency.split())
    referrer_email = referral.referrer.email.strip().lower()
    by_email = None
    if referrer_email:
        for m in ctx.cfg.members:
            if referrer_email in (c.lower() for c in m.contacts):
                by_email = (m.agency, referrer_email)
                break
    by_name = find_member(ctx, agency_text) if agency_text else None
    if by_email and by_name and by_email[0] != by_name[0]:
        return None  # the form names one agency and the address of another: ask, do not guess
    if by_email:
        return by_email
    return by_name


def handle_coordinator_referral(ctx, email, pkg, *, source: str, filename: str, form: bytes,
                                referral: Referral | None = None) -> Outcome:
    """Same Outcome as handle_referral, with the agency named on the form as the referrer."""
    from mailbot.documents.package import open_package
    from mailbot.mail.senders import Member
    from mailbot.handlers.intake import handle_referral

    if referral is None:
        if pkg is None:
            pkg = open_package(form, max_file_bytes=ctx.cfg.max_email_bytes)
        referral = parse_referral(pkg)
    found = agency_for_form(ctx, referral)
    if found is None:
        raise BadField(
            "You sent a Referral Form from the coordinator address. A referral is made on behalf of the "
            "agency named on the form, but its referring agency (and the referrer's email) does not match "
            "exactly one member agency. Please write the member agency's full name as the referring agency "
            "and send the form again, or ask the agency to send it. Nothing was coded or shared.",
            reason="coordinator-referral-no-agency")
    agency, contact = found
    conf = next(m for m in ctx.cfg.members if m.agency == agency)
    member = Member(agency=agency, emails=list(conf.contacts), social_work=conf.social_work,
                    may_submit=conf.may_submit)
    on_behalf = dataclasses.replace(email, from_address=contact)
    return handle_referral(ctx, on_behalf, member, pkg, source=source, filename=filename, form=form,
                           referral=referral)
