"""handlers.commands in the middle layer: the coordinator's commands, their confirmation, and the member
directory changes they record as rows (the configuration itself never changes)."""

from __future__ import annotations

import re

import pytest

from desk import text_of


@pytest.fixture
def desk(desk):
    """conftest's desk after S01 was referred by the lead agency: case CN1."""
    desk.referral(desk.lead)
    return desk


def command(desk, text: str, *, sender: str | None = None) -> str:
    return desk.handle(desk.email(sender or desk.coordinator, "commands", body=text))


def confirm(desk) -> str:
    (request,) = desk.outgoing("command-confirm", to=desk.coordinator)[-1:]
    token = re.search(r"CONFIRM ([0-9a-f]{32})", text_of(request)).group(1)
    return command(desk, f"CONFIRM {token}")


def test_a_member_added_by_a_confirmed_command_is_a_row_and_the_loaded_configuration_is_unchanged(desk):
    command(desk, "MEMBER ADD Marsden Vale Scouts scouts@mv-scouts.example.net")
    assert not any("scouts@mv-scouts.example.net" in m.contacts for m in desk.ctx.cfg.members)  # not yet
    confirm(desk)
    assert [c["email"] for c in desk.store.member_changes()] == ["scouts@mv-scouts.example.net"]
    assert any("scouts@mv-scouts.example.net" in m.contacts for m in desk.ctx.cfg.members)
    assert not any("scouts@mv-scouts.example.net" in m.contacts for m in desk.ctx.base_cfg.members)


def test_the_same_command_from_a_member_does_nothing(desk):
    assert command(desk, "MEMBER ADD Evil Agency evil@attacker.test", sender=desk.lead) == "quarantined"
    assert not desk.store.member_changes()
    assert not desk.outgoing("command-confirm")


def test_a_read_only_command_is_answered_at_once(desk):
    command(desk, "HELP")
    (reply,) = desk.outgoing("command-reply", to=desk.coordinator)
    assert "EXIT" in text_of(reply)


def test_exit_waits_for_confirmation_then_closes_the_case(desk):
    command(desk, "EXIT CN1 concerns resolved")
    assert desk.store.get_case("CN1").status == "open"
    confirm(desk)
    assert desk.store.get_case("CN1").status != "open"
    assert desk.outgoing("case-closed")


def test_a_coordinator_email_with_a_form_is_a_referral_and_its_commands_are_not_read(desk):
    from desk import SAMPLES

    raw = desk.email(desk.coordinator, "Referral for Marsden Vale", body="EXIT CN1",
                     attachments=[("r.docx", (SAMPLES / "S02-paragraphs.docx").read_bytes())])
    desk.handle(raw)
    assert desk.store.get_case("CN1").status == "open"
    (reply,) = [m for m in desk.outgoing("command-reply", to=desk.coordinator)
                if "commands in it were not read" in text_of(m)]
    assert reply
