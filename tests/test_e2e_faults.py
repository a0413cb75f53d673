"""End-to-end through the real Dovecot: nothing silent (issue 11 items 10 and 17).

Every person here is fictional (the sample forms' truth files).
"""

from __future__ import annotations

import pytest

from conftest import SAMPLES, run_bot_until_idle

pytestmark = pytest.mark.mailserver


def _coded_subjects(server, address):
    return sorted(m["Subject"] for m in server.fetch_all(address) if m["X-Mailbot-Kind"] == "coded-referral")


def test_same_message_id_other_content_is_handled_as_a_new_email(network, bot, mailserver):
    """Item 10: a second email with the Message-ID (and sender and date) of one already handled, but
    another form, is handled as a new email; the very same email delivered again is still done once."""
    sender = network.members[0][1]
    mid = "<one-id-for-two-emails@agency.test>"
    first = network.email_with(sender, "Referral", message_id=mid,
                               attachments=[("referral.docx", (SAMPLES / "S01-table.docx").read_bytes())])
    other = network.email_with(sender, "Referral", message_id=mid,
                               attachments=[("referral.docx", (SAMPLES / "S02-paragraphs.docx").read_bytes())])
    mailserver.deliver_to_inbox(network.mailbox, first, mail_from=sender)
    run_bot_until_idle(bot)
    mailserver.deliver_to_inbox(network.mailbox, first, mail_from=sender)  # the same email again
    mailserver.deliver_to_inbox(network.mailbox, other, mail_from=sender)
    run_bot_until_idle(bot)

    assert sorted(c.code for c in bot.store.open_cases()) == ["CN1", "CN2"]
    assert _coded_subjects(mailserver, network.members[3][1]) == ["[CN1] Coded referral", "[CN2] Coded referral"]
    assert mailserver.count(network.mailbox, "Processed") == 3
    assert mailserver.count(network.mailbox, "INBOX") == 0
    acks = [m for m in mailserver.fetch_all(sender) if m["X-Mailbot-Kind"] == "acknowledgement"]
    assert len(acks) == 2  # one per referral, none for the repeat


@pytest.mark.parametrize("today, words", [("2031-01-05", "19 or over"), ("2020-06-01", "under 10")])
def test_a_young_person_outside_the_age_range_is_held_and_the_referrer_told(network, mailserver, today, words):
    """Item 17: S01's young person (born 12/09/2011) is 19 on 5/01/2031 and 8 on 1/06/2020: the referral
    is not coded or shared; it waits in Quarantine, the referrer gets a plain reason, the coordinator a note."""
    from datetime import datetime, timezone

    from conftest import deliver_outbox
    from mailbot.daemon import Bot

    clock = datetime.fromisoformat(today).replace(hour=10, tzinfo=timezone.utc)
    bot = Bot(network.config, clock=lambda: clock)
    try:
        sender = network.members[0][1]
        network.send_referral(sender, SAMPLES / "S01-table.docx")
        bot.drain_inbox_once()
        deliver_outbox(bot)
        assert bot.store.all_cases() == []
        assert bot.store.next_case_number() == 1  # no number used
    finally:
        bot.close()
    assert mailserver.count(network.mailbox, "Quarantine") == 1
    assert mailserver.count(network.mailbox, "Processed") == 0
    for member in network.all_member_addresses:
        if member != sender:
            assert _coded_subjects(mailserver, member) == [], member
    replies = [m for m in mailserver.fetch_all(sender) if m["X-Mailbot-Kind"] == "form-problem"]
    assert len(replies) == 1
    text = replies[0].get_body(("plain",)).get_content()
    assert words in text and "aged 10 to 18" in text and "not coded or shared" in text
    assert "Harvey" not in text and "Pemberton" not in text and "2011" not in text
    alerts = [m for m in mailserver.fetch_all(network.coordinator) if m["X-Mailbot-Kind"] == "coordinator-alert"]
    assert len(alerts) == 1 and "outside-age-range" in alerts[0]["Subject"]
    assert words in alerts[0].get_body(("plain",)).get_content()


def test_age_range_is_read_from_the_rules(tmp_path):
    from datetime import date

    from mailbot.casework.eligibility import AgeRange, age_on, age_problem, load_age_range
    from mailbot.errors import ConfigError

    assert load_age_range() == AgeRange(10, 18)  # the shipped rules/age_range.toml
    (tmp_path / "age_range.toml").write_text("min_age = 12\nmax_age = 17\n")
    assert load_age_range(tmp_path) == AgeRange(12, 17)
    (tmp_path / "age_range.toml").write_text("min_age = 19\nmax_age = 17\n")
    with pytest.raises(ConfigError):
        load_age_range(tmp_path)
    assert load_age_range(tmp_path / "elsewhere") == AgeRange(10, 18)  # not in the network's folder: shipped
    assert age_on(date(2008, 2, 29), date(2027, 2, 28)) == 18 and age_on(date(2008, 2, 29), date(2027, 3, 1)) == 19
    rng = AgeRange(10, 18)
    from people import young

    kids = young({"date_of_birth": "2010-05-01"}, {"date_of_birth": "2008-05-02"})
    assert age_problem(kids, date(2027, 5, 1), rng) is None  # 17 and 18 (19 tomorrow)
    assert "Young person 2" in age_problem(kids, date(2027, 5, 2), rng)  # the second turned 19 today
    assert age_problem(young({"date_of_birth": None}), date(2027, 5, 2), rng) is None
