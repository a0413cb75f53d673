"""Red-team findings on "a name never leaks" (a database column in clear, the digest), in the middle layer
(tests/desk.py). Fictional people only: S01's young person is Harvey Pemberton, his mother Lorraine."""

from __future__ import annotations

import subprocess
from datetime import datetime, timezone

import pytest

from desk import text_of


@pytest.fixture
def desk(desk):
    """conftest's desk after S01 was referred by the lead agency: case CN1 (Harvey Pemberton)."""
    desk.referral(desk.lead)
    return desk


FAMILY_ADDRESSES = ["lorraine.pemberton@family.test", "Lorraine Pemberton <lorraine.pemberton@family.test>",
                    "harvpemberton2011@family.test"]


def _db_bytes(desk) -> bytes:
    desk.store.checkpoint() if hasattr(desk.store, "checkpoint") else None
    data = b""
    for path in sorted(desk.net.config.store_path.parent.glob("mailbot.db*")):
        data += path.read_bytes()
    return data


@pytest.mark.parametrize("from_value", FAMILY_ADDRESSES)
def test_an_outsiders_address_that_holds_a_name_is_not_kept_in_clear(desk, from_value):
    """A parent (or the young person) writes to the coordinator mailbox from their own address: it is
    refused (not a member) and recorded. The record must not keep the address, which holds the name."""
    assert desk.handle(desk.email(from_value, "About my son", body="Hello"), uid=2) == "quarantined"
    row = desk.last_message()
    assert row["kind"] == "refused"
    assert "pemberton" not in (row["sender"] or "").lower()
    assert b"pemberton" not in _db_bytes(desk).lower()


def test_an_outsiders_address_does_not_stop_the_digest_or_the_held_list(desk):
    """Before: the digest listed the quarantined email 'from lorraine.pemberton@...', failed the name
    check and was withheld for the day; HELD was refused as a whole."""
    from mailbot.jobs.digest import send_digest

    desk.handle(desk.email("lorraine.pemberton@family.test", "About my son", body="Hello"), uid=2)
    assert send_digest(desk.ctx, datetime(2026, 11, 23, 18, 0, tzinfo=timezone.utc)) == 1
    (digest,) = desk.outgoing("digest", to=desk.coordinator)
    assert "pemberton" not in text_of(digest).lower()
    assert "outside the network" in text_of(digest)
    desk.handle(desk.email(desk.coordinator, "held", body="HELD\n"), uid=3)
    (reply,) = desk.outgoing("command-reply", to=desk.coordinator)
    assert "outside the network" in text_of(reply) and "not shown" not in text_of(reply)


def test_flood_control_still_counts_an_outsider_by_address(desk):
    desk.ctx.cfg.rate_limit_emails = 2
    for i in range(4):
        desk.handle(desk.email("lorraine.pemberton@family.test", f"Hello {i}", body="Hello"), uid=10 + i)
    rows = desk.store.messages_after(0)[-4:]
    assert [r["reason"] == "rate-limited" for r in rows] == [False, False, True, True]
    assert len({r["sender"] for r in rows}) == 1
    assert not desk.kinds_to("lorraine.pemberton@family.test")
    assert b"pemberton" not in _db_bytes(desk).lower()


def test_a_misleading_from_line_from_an_address_that_holds_a_name_is_filed_and_told_at_once(desk):
    """The refusal note named the address; the gate stopped the note, and the shunt's own note (which
    named it too) raised out of the pipeline: the email stayed in the inbox, retried until it counted
    as poison. Now it is quarantined at once and the coordinator told, name-free."""
    raw = desk.email(f'"{desk.coordinator}" <lorraine.pemberton@family.test>', "About my son", body="Hello")
    assert desk.handle(raw, uid=2) == "quarantined"
    row = desk.last_message()
    assert row["kind"] == "refused" and "different email address" in row["reason"]
    (alert,) = desk.outgoing("coordinator-alert", to=desk.coordinator)
    assert "misleading From line" in str(alert["Subject"])
    assert "outside the network" in text_of(alert) and "pemberton" not in text_of(alert).lower()
    assert not desk.kinds_to("lorraine.pemberton@family.test")


def test_a_failed_scheduler_job_logs_where_at_debug_but_never_the_message(caplog):
    """The pipeline never logs an exception's message (it can quote a document); the scheduler's and the
    command line's last resorts logged it, whole, at DEBUG."""
    import logging

    from mailbot.jobs.scheduler import _guarded

    value = "".join(("Harvey Pem", "berton"))  # (not in this source line: the traceback shows source lines)

    def master_list():
        raise ValueError(f"{value} cannot be used in worksheets.")

    with caplog.at_level(logging.DEBUG):
        _guarded("master list", master_list)()
    text = "\n".join(r.getMessage() + (str(r.exc_info) if r.exc_info else "") for r in caplog.records)
    assert "ValueError" in text and "master_list" in text  # what and where
    assert "Pemberton" not in text
    handler = logging.StreamHandler()
    assert all("Pemberton" not in handler.format(r) for r in caplog.records)


def test_the_command_lines_last_resort_logs_no_message_with_v(monkeypatch, capsys, caplog):
    import logging

    from mailbot import cli

    value = "".join(("Harvey Pem", "berton"))

    def boom(args):
        raise KeyError(value)

    parser = cli.build_parser()
    real = parser.parse_args

    def parse(argv):
        args = real(argv)
        args.func = boom
        return args

    monkeypatch.setattr(cli, "build_parser", lambda: type("P", (), {"parse_args": staticmethod(parse)})())
    with caplog.at_level(logging.DEBUG):
        assert cli.main(["-v", "status"]) == 1
    out = capsys.readouterr()
    handler = logging.StreamHandler()
    logged = "\n".join(handler.format(r) for r in caplog.records)
    assert "KeyError" in out.err + logged
    assert "Pemberton" not in out.err + out.out + logged
