"""Which fields besides names a network removes from Coded Referrals (rules/redaction.toml). Pure.

`field_protections(children, rules)` turns a young person's address, former
address, school or date of birth into (text, replacement) pairs that the
name engine strips and the verifier checks, exactly like names. A date of
birth is written many ways on forms, so each common Irish/UK spelling of the
date is protected.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from mailbot.errors import ConfigError
from mailbot.people import YoungPerson

FIELDS = ("address", "former_address", "school", "date_of_birth")
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"]


@dataclass(frozen=True)
class RedactionRules:
    remove_fields: tuple[str, ...] = ()
    replacements: dict = field(default_factory=dict)


def load_redaction_rules(rules_dir: Path) -> RedactionRules:
    path = Path(rules_dir) / "redaction.toml"
    if not path.exists():
        return RedactionRules()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    fields = tuple(data.get("remove_fields", ()))
    bad = [f for f in fields if f not in FIELDS]
    if bad:
        raise ConfigError(f"{path}: remove_fields may only list {', '.join(FIELDS)} (found {', '.join(bad)}).")
    return RedactionRules(fields, dict(data.get("replacements", {})))


def _suffix(day: int) -> str:
    return "th" if 11 <= day <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")


def date_spellings(d: date) -> list[str]:
    """The ways a form may write this date (day first). Separators - . and space are matched alike."""
    y, yy = str(d.year), f"{d.year % 100:02d}"
    month, mon = _MONTHS[d.month - 1], _MONTHS[d.month - 1][:3]
    out = []
    for day in {f"{d.day:02d}", str(d.day)}:
        for m in {f"{d.month:02d}", str(d.month)}:
            for year in (y, yy):
                out += [f"{day}/{m}/{year}", f"{day}-{m}-{year}"]
        for mname in (month, mon):
            out += [f"{day} {mname} {y}", f"{day}{_suffix(d.day)} {mname} {y}", f"{day} {mname} {yy}",
                    f"{day}{_suffix(d.day)} of {mname} {y}"]
    out.append(d.isoformat())
    return sorted(set(out), key=len, reverse=True)


def field_protections(children: Sequence[YoungPerson], rules: RedactionRules) -> list[tuple[str, str]]:
    """(text, replacement) for each field of each young person the network also removes (its address,
    school, every spelling of the date of birth...)."""
    pairs: list[tuple[str, str]] = []
    for child in children:
        for name in rules.remove_fields:
            replacement = rules.replacements.get(name, "[removed]")
            if name == "date_of_birth":
                if child.date_of_birth:
                    pairs += [(s, replacement) for s in date_spellings(child.date_of_birth)]
            elif isinstance(value := getattr(child, name, ""), str) and value.strip():
                pairs.append((value.strip(), replacement))
    return pairs
