"""Where mailbot's shipped folders (rules/, templates/) are: beside the package, or under <prefix>/share."""

from __future__ import annotations

import sys
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def shipped(name: str) -> Path:
    """A folder shipped with mailbot: beside the package in a checkout (editable install), else the
    copy a regular install put under <prefix>/share/mailbot/."""
    beside = PACKAGE_ROOT / name
    if beside.is_dir():
        return beside
    return Path(sys.prefix) / "share" / "mailbot" / name
