"""Every outbox log line says the kind, the case code and the recipient agencies, never an address or
a name (issue 13 item 5), against the real Dovecot. Every person here is fictional."""

from __future__ import annotations

import logging
import re

import pytest

from conftest import SAMPLES, run_bot_until_idle, truth_for

pytestmark = pytest.mark.mailserver


def test_outbox_lines_name_kind_case_and_agencies(network, bot, caplog):
    referrer_agency, referrer = network.members[0]
    network.send_referral(referrer, SAMPLES / "S01-table.docx")
    with caplog.at_level(logging.INFO, logger="mailbot.outbox"):
        run_bot_until_idle(bot)
    lines = [r.getMessage() for r in caplog.records if r.name == "mailbot.outbox" and "outbox item" in r.getMessage()]
    sent = [line for line in lines if line.endswith(" sent")]
    assert len(sent) >= 3, lines
    pattern = re.compile(r"outbox item \d+ \(<[^>]+>\): ([a-z-]+) (CN\d+[A-Z]?|-) to (.+) sent")
    assert all(pattern.fullmatch(line) for line in sent), sent
    to: dict[tuple[str, str], set[str]] = {}
    for line in sent:
        m = pattern.fullmatch(line)
        to.setdefault((m.group(1), m.group(2)), set()).add(m.group(3))
    assert to[("acknowledgement", "CN1")] == {referrer_agency}
    assert to[("coordinator-new-case", "CN1")] == {"the coordinator"}
    # not known to Social Work: every member agency but Social Work gets the Coded Referral
    assert to[("coded-referral", "CN1")] == {a for a, _ in network.members}
    assert network.social_work[0] in to[("master-list", "-")] and "the coordinator" in to[("master-list", "-")]
    text = "\n".join(lines)
    addresses = [a for _, a in network.members] + [network.coordinator, network.social_work[1]]
    assert not [a for a in addresses if a in text]
    child = truth_for(SAMPLES / "S01-table.docx")["young_people"][0]
    assert child["name"].split()[0] not in text and child["name"].split()[-1] not in text


def test_recipient_agencies_names_members_coordinator_and_hides_other_addresses(network):
    from mailbot.mail.recipient_labels import no_addresses, recipient_agencies

    cfg = network.config
    members = [a for _, a in network.members]
    assert recipient_agencies(cfg, [members[0]]) == network.members[0][0]
    assert recipient_agencies(cfg, [network.coordinator, "maeve.quillane@home.example"]) == \
        "the coordinator, another address"
    assert recipient_agencies(cfg, members[:6]).endswith(" and 3 more")
    assert no_addresses("550 maeve.quillane@home.example: no such user", ["maeve.quillane@home.example"]) == \
        "550 <recipient>: no such user"
