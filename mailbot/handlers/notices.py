"""Meeting notices from a lead agency: parse, send to the members the rules choose with an .ics invitation, record.

Social Work receives a notice only where the young person is known to it,
the case is open and a social worker is allocated (rules/recipients.toml
[meeting_notice]). The notice carries the case code only.
"""

from __future__ import annotations

import logging

from ..calendar_invite import build_ics
from ..compose import ICS_TYPE, Attachment
from ..errors import BadField, MailbotError
from ..notices import parse_notice
from ..pipeline import Outcome, social_work_status

log = logging.getLogger("mailbot.notices")


def handle_notice(ctx, email, verdict) -> Outcome:
    from . import _reply_problem

    try:
        notice = parse_notice(email.subject or "", email.text_body or "",
                              now=ctx.local_now().replace(tzinfo=None))
        case = ctx.store.get_case(notice.code)
        if case is None:
            raise BadField(f"The notice is for case {notice.code}, which is not on the Master List. "
                           f"Please check the case code.", reason="unknown-case")
        if case.status != "open":
            raise BadField(f"Case {notice.code} is closed, so no meeting notice was sent.", reason="closed-case")
    except MailbotError as exc:
        _reply_problem(ctx, email, filename="(meeting notice)", problem=str(exc), source=email.key)
        return Outcome(kind="notice", outcome="quarantined", reason=exc.reason)

    to = ctx.recipients("meeting_notice", social_work=social_work_status(case), sender=email.from_address)
    when = notice.start.strftime("%A %d %B %Y at %H:%M")
    organiser = ", ".join(x for x in (notice.organiser_name, notice.organiser_phone, notice.organiser_email) if x)
    uid = f"{notice.code}-{notice.start:%Y%m%dT%H%M}@{ctx.cfg.domain}"
    ics = build_ics(uid, notice.start, notice.end, ctx.cfg.timezone, summary=notice.summary(),
                    location=notice.venue, description=notice.description(),
                    organizer_email=notice.organiser_email or email.from_address,
                    organizer_name=notice.organiser_name or "", attendee_emails=to,
                    now=ctx.now())
    ctx.queue(kind="meeting-notice", rule_kind="meeting_notice", template="meeting-notice", to=to,
              values={"code": notice.code, "when": when, "venue": notice.venue, "organiser": organiser,
                      "lead_agency": case.lead_agency,
                      "meeting_type_line": f"Meeting type: {notice.meeting_type}\n" if notice.meeting_type else ""},
              source=email.key, case_code=notice.code, attachments=[Attachment("invite.ics", ICS_TYPE, ics)])
    ctx.store.update_case(case.code, next_meeting=notice.start.isoformat(timespec="minutes"))
    ctx.store.mark_master_list_dirty()
    ctx.queue(kind="notice-received", rule_kind="acknowledgement", template="notice-received",
              to=ctx.recipients("acknowledgement", sender=email.from_address),
              values={"code": notice.code, "when": when, "count": len(to)},
              source=email.key, case_code=notice.code, in_reply_to=email.message_id)
    log.info("meeting notice %s queued for %d addresses", notice.code, len(to))
    return Outcome(kind="notice", outcome="accepted", case_codes=(notice.code,))
