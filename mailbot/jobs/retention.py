"""Retention: the record of a closed case is purged after the network's period (rules/retention.toml).

``purge_closed_cases(ctx, now) -> [codes]`` runs in the daily job (mailbot.jobs.digest.send_digest calls
it before the digest is built, so the digest lists what it purged). Each case is purged in its own
transaction with its audit row (event ``purged``, the code only): a crash leaves every case either
purged and recorded or untouched, and a second run finds nothing more to do (``purged_cases``).
"""

from __future__ import annotations

import logging
import tomllib
from datetime import datetime, timedelta
from pathlib import Path

from mailbot.errors import ConfigError

log = logging.getLogger("mailbot.retention")

DEFAULT_DAYS = 365


def retention_days(rules_dir) -> int:
    path = Path(rules_dir) / "retention.toml"
    if not path.exists():
        return DEFAULT_DAYS
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read the retention rules {path}: {exc}") from exc
    days = data.get("closed_cases", {}).get("days", DEFAULT_DAYS)
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ConfigError(f"{path}: [closed_cases] days must be a whole number of days, at least 1.")
    return days


def purge_closed_cases(ctx, now: datetime | None = None) -> list[str]:
    """Purge every closed case whose retention period has ended; the codes purged now."""
    now = now or ctx.now()
    days = retention_days(ctx.cfg.rules_dir)
    local = now.astimezone(ctx.cfg.tz) if now.tzinfo else now
    # closed on day D: kept through D + days, purged from the day after
    cutoff = (local.date() - timedelta(days=days)).isoformat()
    store = ctx.store
    purged: list[str] = []
    for code, closed_on in store.closed_cases_to_purge(cutoff):
        with store.transaction():
            if not store.purge_case(code, now=now.timestamp()):
                continue
            store.audit("retention-purge", None, code, [], "retention",
                        f"{code}: names and identity purged {days} days after the case closed "
                        f"(rules/retention.toml); code, status and dates kept", event="purged",
                        now=now.timestamp())
        purged.append(code)
    if purged:
        log.info("retention: the records of %d closed case(s) purged: %s", len(purged), ",".join(purged))
    return purged
