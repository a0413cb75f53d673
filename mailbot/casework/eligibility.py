"""Whether the young people on a referral are within the network's ages (pure, issue 11 item 17).

The range is data, in ``rules/age_range.toml`` (``min_age``, ``max_age``: whole years, both taken).
A young person whose date of birth is not on the form is not judged here (the form's own checks
answer that). The refusal is one plain line for the referrer and the coordinator; it never quotes a
name or the date of birth.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from mailbot.paths import shipped
from mailbot.errors import ConfigError, MailbotError
from mailbot.people import YoungPerson

RULES_FILE = "age_range.toml"


class OutsideAgeRange(MailbotError):
    """A young person on the form is younger or older than the network works with."""

    reason = "outside-age-range"


@dataclass(frozen=True)
class AgeRange:
    min_age: int = 10
    max_age: int = 18


def load_age_range(rules_dir: str | Path | None = None) -> AgeRange:
    """``age_range.toml`` from the network's rules folder, else the shipped one, else 10 to 18."""
    for folder in ([Path(rules_dir)] if rules_dir else []) + [shipped("rules")]:
        path = folder / RULES_FILE
        if path.is_file():
            break
    else:
        return AgeRange()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"The age range file {path.name} cannot be read ({type(exc).__name__}).") from None
    unknown = sorted(set(data) - {"min_age", "max_age"})
    if unknown:
        raise ConfigError(f"Unknown setting '{unknown[0]}' in {path.name}; known settings: max_age, min_age.")
    values = {}
    for name in ("min_age", "max_age"):
        if name in data:
            v = data[name]
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 120:
                raise ConfigError(f"'{name}' in {path.name} must be a whole number of years from 0 to 120.")
            values[name] = v
    rng = AgeRange(**values)
    if rng.min_age > rng.max_age:
        raise ConfigError(f"'min_age' in {path.name} is above 'max_age'.")
    return rng


def age_on(date_of_birth: date, day: date) -> int:
    """Whole years (someone born on 29 February has a birthday on 1 March in other years)."""
    years = day.year - date_of_birth.year
    try:
        birthday = date_of_birth.replace(year=day.year)
    except ValueError:  # 29 February in a year without it
        birthday = date(day.year, 3, 1)
    return years - (day < birthday)


def age_problem(children: Sequence[YoungPerson], today: date, rng: AgeRange) -> str | None:
    """The plain reason a referral is outside the network's ages, or None when every young person is in it."""
    many = len(children) > 1
    for i, child in enumerate(children, 1):
        dob = child.date_of_birth
        if dob is None:
            continue
        who = f"Young person {i} on this Referral Form" if many else "The young person on this Referral Form"
        age = age_on(dob, today)
        if age > rng.max_age:
            return (f"{who} is {rng.max_age + 1} or over by the date of birth given, and the network works with "
                    f"young people aged {rng.min_age} to {rng.max_age}: the referral was not coded or shared. "
                    "The coordinator has been told and will contact you.")
        if age < rng.min_age:
            return (f"{who} is under {rng.min_age} by the date of birth given, and the network works with "
                    f"young people aged {rng.min_age} to {rng.max_age}: the referral was not coded or shared. "
                    "The coordinator has been told and will contact you.")
    return None


def check_age_range(children: Sequence[YoungPerson], today: date, rules_dir: str | Path | None = None) -> None:
    """Raise :class:`OutsideAgeRange` (one plain line, no name) for a young person outside the network's ages."""
    problem = age_problem(children, today, load_age_range(rules_dir))
    if problem:
        raise OutsideAgeRange(problem)
