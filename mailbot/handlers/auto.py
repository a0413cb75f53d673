"""Auto-replies, bounces and mailbot's own mail: recorded, never answered (no mail loops)."""

from __future__ import annotations

from mailbot.context import Disposition, Kind, Outcome


def handle_auto(ctx, email, verdict) -> Outcome:
    """Recorded as ignored; no reply, no alert."""
    return Outcome(kind=Kind.AUTO, outcome=Disposition.IGNORED, reason=verdict.reason or "auto-submitted")
