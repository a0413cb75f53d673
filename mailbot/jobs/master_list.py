"""Sending the Master List: once per batch of changes, encrypted, to the members and the coordinator.

Intake, exit and handover only mark the list as changed; this job builds one
workbook from the store, encrypts it with the network's password and queues
it, clearing the mark in the same transaction. A burst of twenty referrals
therefore yields one updated list per member, not twenty.
"""

from __future__ import annotations

import logging
from datetime import date, datetime

from mailbot.mail.compose import XLSX_TYPE, Attachment
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
        p = c.person or {}
        masked = c.code in hidden
        rows.append(MasterRow(
            code=c.code,
            name=p.get("name", ""),
            date_of_birth=_date(p.get("date_of_birth")),
            lead_agency=UNSPECIFIED if masked else c.lead_agency,
            lead_contact=UNSPECIFIED if masked else (c.lead_contact or ""),
            referred_on=_date(c.referred_on),
            social_work=social_work_label(c),
            next_meeting=_datetime(c.next_meeting),
            status="in detention" if getattr(c, "detained", 0) else c.status,
        ))
    return rows


def send_master_list_if_changed(ctx, *, force: bool = False) -> bool:
    store = ctx.store
    if not force and not store.master_list_dirty():
        return False
    with store.transaction():
        if not force and not store.master_list_dirty():
            return False
        version = store.next_master_list_version()
        cases = store.open_cases()
        now = ctx.local_now()
        count = 0
        # a sensitive service leading a case without consent: the others' copy says "an unspecified service"
        for to, hidden in _views(ctx, cases, ctx.recipients("master_list")):
            workbook = build_master_list(master_rows(cases, hidden), network_name=ctx.cfg.network_name,
                                         generated_at=now.replace(tzinfo=None), version=version)
            encrypted = encrypt_workbook(workbook, ctx.cfg.master_list_password)
            att = Attachment(f"master-list-v{version}.xlsx", XLSX_TYPE, encrypted)
            count += ctx.queue(kind="master-list", rule_kind="master_list", template="master-list", to=to,
                               values={"version": version, "date": now.strftime("%d/%m/%Y %H:%M"),
                                       "open_cases": len(cases)},
                               source=f"master-list-v{version}", attachments=[att])
        store.clear_master_list_dirty()
    log.info("Master List version %d (%d open cases) queued for %d addresses", version, len(cases), count)
    return True
