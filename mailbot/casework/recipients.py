"""Who receives what: rules/recipients.toml applied to the member directory. Pure.

A rule names audiences (members, coordinator, sender, lead, attendees,
apologies, invitees) and when Social Work may be included (always, never,
known, known_open_allocated). The answer is a list of addresses, each with
the rule and reason that chose it, for the audit log.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from mailbot.config import MemberConfig
from mailbot.errors import ConfigError

AUDIENCES = {"members", "coordinator", "sender", "lead", "attendees", "apologies", "invitees"}
SOCIAL_WORK_CONDITIONS = {"always", "never", "known", "known_open_allocated"}


@dataclass(frozen=True)
class Rule:
    kind: str
    audiences: tuple[str, ...]
    social_work: str
    reason: str
    exclude_sender: bool = False


@dataclass(frozen=True)
class SocialWorkStatus:
    """What the coordinator recorded after checking with Social Work (None: not checked yet)."""

    known: bool | None = None
    open: bool | None = None
    allocated: bool = False

    def allows(self, condition: str) -> bool:
        if condition == "always":
            return True
        if condition == "never":
            return False
        if condition == "known":
            return self.known is True
        if condition == "known_open_allocated":
            return self.known is True and self.open is True and self.allocated
        raise ValueError(condition)


def load_rules(rules_dir: Path) -> dict[str, Rule]:
    path = Path(rules_dir) / "recipients.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read the recipient rules {path}: {exc}") from exc
    rules: dict[str, Rule] = {}
    for kind, raw in data.items():
        audiences = tuple(raw.get("audiences", ()))
        bad = [a for a in audiences if a not in AUDIENCES]
        if bad or not audiences:
            raise ConfigError(f"{path}: [{kind}] audiences must be some of {sorted(AUDIENCES)} (found {bad or 'none'}).")
        sw = raw.get("social_work", "never")
        if sw not in SOCIAL_WORK_CONDITIONS:
            raise ConfigError(f"{path}: [{kind}] social_work must be one of {sorted(SOCIAL_WORK_CONDITIONS)}.")
        rules[kind] = Rule(kind, audiences, sw, str(raw.get("reason", kind)), bool(raw.get("exclude_sender", False)))
    return rules


def choose_recipients(
    rule: Rule,
    members: Iterable[MemberConfig],
    coordinators: Iterable[str],
    *,
    social_work: SocialWorkStatus = SocialWorkStatus(),
    sender: str | None = None,
    lead: str | None = None,
    attendees: Iterable[str] = (),
    apologies: Iterable[str] = (),
    invitees: Iterable[str] = (),
    ourselves: Iterable[str] = (),
) -> list[str]:
    """The addresses a message of this rule's kind goes to, in a stable order, without duplicates."""
    members = list(members)
    sw_addresses = {c for m in members if m.social_work for c in m.contacts}
    picked: list[str] = []
    for audience in rule.audiences:
        if audience == "members":
            picked += [c for m in members for c in m.contacts]
        elif audience == "coordinator":
            picked += list(coordinators)
        elif audience == "sender" and sender:
            picked.append(sender)
        elif audience == "lead" and lead:
            picked.append(lead)
        elif audience == "attendees":
            picked += list(attendees)
        elif audience == "apologies":
            picked += list(apologies)
        elif audience == "invitees":
            picked += list(invitees)
    skip = {a.lower() for a in ourselves}
    if rule.exclude_sender and sender:
        skip.add(sender.lower())
    sw_ok = social_work.allows(rule.social_work)
    out: list[str] = []
    seen: set[str] = set()
    for addr in picked:
        a = addr.strip().lower()
        if not a or a in seen or a in skip:
            continue
        if a in sw_addresses and not sw_ok:
            continue
        seen.add(a)
        out.append(a)
    return out
