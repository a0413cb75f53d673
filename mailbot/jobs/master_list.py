"""Sending the Master List: when it changed, coalesced, encrypted, to the members and the coordinator.

Intake, exit, handover and the other changes only record a row in ``master_list_changes`` (by case
code); this job builds one workbook from the store, encrypts it with the network's password and
queues it, in ONE transaction that also gives the version its changes (the change line of the
email), marks every older Master List still waiting in the outbox 'superseded' (never sent) and
records when it was built. A crash before the commit leaves the changes waiting (the next run
builds them); after it, the outbox sends the version once (its Message-ID is fixed by the version).

Coalescing ([master_list] interval_minutes, default 60): the first change after a quiet spell goes
out after its batch of mail; later changes wait until ``interval_minutes`` after the last version was
built, then go together. So a member gets at most one Master List per window. The scheduler looks
every minute (:func:`master_list_tick`); ``RESEND MASTER LIST`` sends at once (force).
"""

from __future__ import annotations

import logging
import re
from datetime import date, datetime

from mailbot.mail.compose import XLSX_TYPE, Attachment
from mailbot.casework.list_changes import change_line, keep_line
from mailbot.casework.master_list import MasterRow, build_master_list, encrypt_workbook

log = logging.getLogger("mailbot.master_list")


def social_work_label(case) -> str:
    if case.sw_known is None:
        return "check pending"
    if not case.sw_known:
        return "not known"
    parts = ["known", "case open" if case.sw_open else "case closed"]
    if getattr(case, "sw_worker", None):
        parts.append("worker allocated")
    return ", ".join(parts)


def _date(value) -> date | None:
    if not value:
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _datetime(value) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def _views(ctx, cases, to: list[str]) -> list[tuple[list[str], frozenset[str]]]:
    """[(recipients, codes whose sensitive lead is shown as an unspecified service to them)]; one view
    (nothing hidden) when no sensitive service leads a case without consent (mailbot.casework.sensitive)."""
    from mailbot.casework.sensitive import hidden_member, may_see

    members, coordinators = ctx.cfg.members, ctx.cfg.coordinators
    hidden = {c.code: m for c in cases
              if (m := hidden_member(members, c.lead_agency, ctx.store.sensitive_consent(c.code))) is not None}
    groups: dict[frozenset[str], list[str]] = {}
    for addr in to:
        key = frozenset(code for code, m in hidden.items() if not may_see(addr, m, coordinators))
        groups.setdefault(key, []).append(addr)
    return [(addrs, key) for key, addrs in groups.items()] or [([], frozenset())]


def master_rows(cases, hidden: frozenset[str] = frozenset()) -> list[MasterRow]:
    from mailbot.casework.consent import UNSPECIFIED

    rows = []
    for c in cases:
        masked = c.code in hidden
        rows.append(MasterRow(
            code=c.code,
            name=c.person.name if c.person else "",
            date_of_birth=_date(c.person.date_of_birth if c.person else None),
            lead_agency=UNSPECIFIED if masked else c.lead_agency,
            lead_contact=UNSPECIFIED if masked else (c.lead_contact or ""),
            referred_on=_date(c.referred_on),
            social_work=social_work_label(c),
            next_meeting=_datetime(c.next_meeting),
            status="in detention" if getattr(c, "detained", 0) else c.status,
        ))
    return rows


BUILT_AT = "master_list_built_at"
#: each queued copy's audit reason names its version ("[Master List version 7]")
VERSION_MARK = "Master List version"
_VERSION_RE = re.compile(r"\[" + VERSION_MARK + r" (\d+)\]")


def queued_versions(store, statuses=("pending", "held", "sending")) -> set[int]:
    """The versions of which a copy is in these states in the outbox (default: still waiting)."""
    return {int(m.group(1)) for reason in store.waiting_reasons("master-list", statuses)
            for m in [_VERSION_RE.search(reason or "")] if m}


def _previous_version(store, version: int, withdrawn: set[int]) -> int:
    """The newest version before ``version`` that went out (0: none). Lists queued before versions were
    marked in the outbox count as sent unless withdrawn now."""
    if queued_versions(store, ("pending", "held", "sending", "sent", "failed", "superseded")) - {version}:
        return max((v for v in queued_versions(store, ("sent", "failed")) if v < version), default=0)
    return max((v for v in range(version - 1, 0, -1) if v not in withdrawn), default=0)


def _built_at(store) -> float | None:
    try:
        return float(store.get_value(BUILT_AT) or "")
    except ValueError:
        return None


def master_list_due_at(ctx) -> float | None:
    """When the next Master List may be built (a POSIX time; now or past: at once), None if nothing changed."""
    store = ctx.store
    if not store.master_list_dirty() and not store.master_list_changes():
        return None
    last = _built_at(store)
    if last is None:
        return 0.0
    return last + ctx.cfg.master_list_interval_minutes * 60


def send_master_list_if_changed(ctx, *, force: bool = False) -> bool:
    store = ctx.store
    now_ts = ctx.now().timestamp()

    def due() -> bool:
        at = master_list_due_at(ctx)
        return at is not None and at <= now_ts

    if not force and not due():
        return False
    with store.transaction():
        if not force and not due():
            return False
        version = store.next_master_list_version()
        store.take_master_list_changes(version)
        # older versions still waiting are never sent: their changes are this version's too
        withdrawn = queued_versions(store)
        superseded = store.supersede("master-list", f"superseded by Master List version {version}", now=now_ts)
        store.carry_master_list_changes(withdrawn, version)
        changes = store.master_list_changes(version)
        previous = _previous_version(store, version, withdrawn)
        cases = store.open_cases()
        now = ctx.local_now()
        line = change_line(changes) or ("none (sent again on request)" if force else "none")
        keep = keep_line(ctx.cfg.master_list_keep_copies)
        count = 0
        # a sensitive service leading a case without consent: the others' copy says "an unspecified service"
        for to, hidden in _views(ctx, cases, ctx.recipients("master_list")):
            workbook = build_master_list(master_rows(cases, hidden), network_name=ctx.cfg.network_name,
                                         generated_at=now.replace(tzinfo=None), version=version)
            encrypted = encrypt_workbook(workbook, ctx.cfg.master_list_password)
            att = Attachment(f"master-list-v{version}.xlsx", XLSX_TYPE, encrypted)
            count += ctx.queue(kind="master-list", rule_kind="master_list", template="master-list", to=to,
                               values={"version": version, "date": now.strftime("%d/%m/%Y %H:%M"),
                                       "open_cases": len(cases), "changes": line,
                                       "changes_since": f"Changes since version {previous}" if previous
                                       else "Changes",
                                       "keep_line": f"\n{keep}\n" if keep else ""},
                               source=f"master-list-v{version}", attachments=[att],
                               reason=f"{ctx.rules['master_list'].reason} [{VERSION_MARK} {version}]")
        store.clear_master_list_dirty()
        store.set_value(BUILT_AT, repr(now_ts))
    log.info("Master List version %d (%d open cases; changes: %s) queued for %d addresses%s", version,
             len(cases), line, count, f"; {superseded} older queued cop(ies) superseded" if superseded else "")
    return True


def master_list_tick(ctx) -> bool:
    """The scheduler's look (every minute): a Master List whose window has passed goes now."""
    if send_master_list_if_changed(ctx):
        ctx.notify_outbox()
        return True
    return False
