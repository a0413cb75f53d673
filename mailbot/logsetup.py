"""Log set-up for the command line and the daemon: readable in a terminal, made for journald under systemd.

Under systemd (the service's stderr is the journal: ``JOURNAL_STREAM`` names the device and inode
of that stream, and stderr is that very stream) every line starts with a syslog priority prefix,
``<4>`` for a warning, ``<3>`` for an error (journald's ``SyslogLevelPrefix=yes``, its default,
turns it into the entry's priority, so ``journalctl -p warning -u mailbot@net1`` finds them) and
carries no time (the journal stamps every entry itself):

    <4>WARNING mailbot.outbox: SMTP server smtp.example.net:587 not usable (...)

Anywhere else (a terminal, a file, a test), lines start with the local time in ISO 8601:

    2027-01-04T10:00:00.123+00:00 WARNING mailbot.outbox: SMTP server ... not usable (...)

Why stderr and not journald's native protocol: no dependency (the maintained python bindings,
systemd-python, build against libsystemd), the same output works with ``systemd-run``, in a
container or redirected to a file, and the priority is all the journal needs from us; everything
else (unit, PID, invocation) it adds itself. A `MAILBOT_LOG_FORMAT` of ``journal`` or ``plain``
overrides the detection.

APScheduler's per-run "Running job ... executed successfully" lines (every minute) and aiosmtpd's
per-command chatter are silenced (WARNING and above only). imapclient's protocol log never reaches
any handler, even with -v: it would hold whole fetched emails (children's names).
"""

from __future__ import annotations

import logging
import os
import sys
from datetime import datetime

#: Python level -> syslog priority (sd-daemon(3): <7> debug ... <2> critical)
PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}

#: libraries whose INFO lines are noise in a service's log: WARNING and above only
QUIET = ("apscheduler", "apscheduler.scheduler", "apscheduler.executors.default", "mail.log")
#: never logged at all below INFO, even with -v (their DEBUG is the IMAP conversation)
PROTOCOL = ("imapclient", "imapclient.imaplib")


def _priority(levelno: int) -> int:
    for level in (logging.CRITICAL, logging.ERROR, logging.WARNING, logging.INFO):
        if levelno >= level:
            return PRIORITY[level]
    return PRIORITY[logging.DEBUG]


class JournalFormatter(logging.Formatter):
    """`<N>LEVEL logger: message`, no time; every line of a multi-line record gets the prefix (a
    journal entry is one line), so a traceback keeps its priority."""

    def __init__(self):
        super().__init__("%(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{_priority(record.levelno)}>"
        return "\n".join(prefix + line for line in super().format(record).splitlines() or [""])


class LocalTimeFormatter(logging.Formatter):
    """`2027-01-04T10:00:00.123+00:00 LEVEL logger: message`: ISO 8601, local time with its offset."""

    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="milliseconds")


def under_journal(stream=None, environ=None) -> bool:
    """True when `stream` (stderr) is the journal stream systemd connected (JOURNAL_STREAM=dev:inode).

    A child of a service inherits JOURNAL_STREAM with its stderr elsewhere (a shell started from a
    unit): then the device and inode differ, and this is False (systemd.exec(5) says to compare)."""
    env = os.environ if environ is None else environ
    forced = env.get("MAILBOT_LOG_FORMAT", "").strip().lower()
    if forced in ("journal", "plain"):
        return forced == "journal"
    value = env.get("JOURNAL_STREAM", "")
    if not value:
        return False
    stream = sys.stderr if stream is None else stream
    try:
        dev, ino = (int(x) for x in value.split(":", 1))
        st = os.fstat(stream.fileno())
    except (ValueError, OSError, AttributeError):
        return False
    return (st.st_dev, st.st_ino) == (dev, ino)


def setup_logging(level: int = logging.INFO, *, stream=None, environ=None) -> logging.Handler:
    """One handler on the root logger, for this process. Returns it (tests remove it)."""
    stream = sys.stderr if stream is None else stream
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JournalFormatter() if under_journal(stream, environ) else LocalTimeFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_mailbot", False):
            root.removeHandler(old)
    handler._mailbot = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    # No protocol log, even with -v: imapclient's DEBUG output is the IMAP conversation, fetched emails
    # (children's names) included. mailbot.mail.inbox also switches imaplib's own log off at the source.
    for name in PROTOCOL:
        logging.getLogger(name).setLevel(logging.INFO)
    return handler
