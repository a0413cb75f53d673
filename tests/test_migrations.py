"""Schema migrations on a database written by older code (tests/fixtures/db/, made by make_v4.py).

Schema 5 moves facts out of key/value blobs and mailbot's own sent mail into rows: meetings and their
notices, minutes received, actions, reminders sent, member changes. A database made by schema-4 code
must read, after the migration, exactly as that code read it: the same case views (meetings, invitees,
minutes received, actions), the same reminders sent, the same member directory; and the blobs are gone.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import tomllib
from datetime import datetime
from pathlib import Path

import pytest

from mailbot.config import load_config
from mailbot.context import Context
from mailbot.jobs.case_views import case_views, sent_reminder_keys
from mailbot.store import MIGRATIONS, Store
from mailbot.store.vault import Vault

V4 = Path(__file__).parent / "fixtures" / "db" / "v4"
EXPECTED = json.loads((V4 / "expected.json").read_text())


def view_json(view) -> dict:  # as make_v4.py wrote it
    f = view.facts
    return {"code": f.code, "lead_agency": f.lead_agency, "lead_contact": f.lead_contact,
            "referred_on": str(f.referred_on), "status": f.status,
            "meetings": [{"start": m.start.isoformat(), "venue": m.venue, "invitees": sorted(m.invitees),
                          "minutes_received": m.minutes_received, "from_notice": m.from_notice}
                         for m in view.meetings],
            "actions": [{"action": a.action, "responsible_email": a.responsible_email} for a in f.actions]}


@pytest.fixture
def migrated(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for name in ("mailbot.db", "names.key"):
        shutil.copyfile(V4 / name, data / name)
        (data / name).chmod(0o600)  # git keeps no modes: a fresh checkout's key file is world-readable
    text = (V4 / "config.toml").read_text()
    old_data_dir = tomllib.loads(text)["paths"]["data_dir"]
    old_root = str(Path(old_data_dir).parent)
    (tmp_path / "config.toml").write_text(text.replace(old_root, str(tmp_path)))
    for name in ("mail-password", "master-list-password"):
        (tmp_path / name).write_text("fictional-secret\n")
    cfg = load_config(tmp_path / "config.toml")
    assert sqlite3.connect(data / "mailbot.db").execute("PRAGMA user_version").fetchone()[0] == 4
    store = Store.open(data / "mailbot.db", Vault.load_or_create(data / "names.key"))
    now = datetime.fromisoformat(EXPECTED["now"])
    ctx = Context.build(cfg, store, clock=lambda: now)
    ctx.refresh_members()
    yield ctx
    store.close()


def test_the_migration_reaches_the_newest_schema(migrated):
    assert migrated.store.schema_version() == len(MIGRATIONS) >= 5


def test_case_views_after_the_migration_are_what_schema_4_code_read(migrated):
    assert [view_json(v) for v in case_views(migrated)] == EXPECTED["views"]
    # and they are read from rows: the sent mail no longer matters
    conn = migrated.store._conn()
    with migrated.store.transaction():
        conn.execute("DELETE FROM outbox")
    assert [view_json(v) for v in case_views(migrated)] == EXPECTED["views"]


def test_reminders_sent_and_actions_and_meetings_are_rows(migrated):
    store = migrated.store
    assert sorted(sent_reminder_keys(store)) == EXPECTED["reminders_sent"]
    assert store.latest_meeting("CN1") == {"no": EXPECTED["meeting_notice_state"]["no"],
                                           "seq": EXPECTED["meeting_notice_state"]["seq"],
                                           "start": EXPECTED["meeting_notice_state"]["start"],
                                           "cancelled": EXPECTED["meeting_notice_state"]["cancelled"]}
    assert [a["action"] for a in store.actions("CN1")] == [a["action"] for a in EXPECTED["views"][0]["actions"]]
    names = {r[0] for r in store._conn().execute("SELECT name FROM kv")}
    assert not names & {"reminders_sent", "member_overrides", "actions:CN1", "meeting_notice:CN1"}


def test_the_member_directory_is_the_configuration_with_the_recorded_changes(migrated):
    members = [[m.agency, list(m.contacts), m.social_work, m.may_submit] for m in migrated.cfg.members]
    assert members == EXPECTED["members"]
    assert any("scouts.v4@net.test" in m.contacts for m in migrated.cfg.members)
    # the configuration as loaded is never changed
    assert not any("scouts.v4@net.test" in m.contacts for m in migrated.base_cfg.members)


def test_a_reminder_already_sent_is_not_sent_again_after_the_migration(migrated):
    from mailbot.casework.reminders import due_reminders
    from mailbot.jobs.case_views import local_naive_now, reminder_rules

    views = case_views(migrated)
    due = due_reminders([v.facts for v in views], local_naive_now(migrated), reminder_rules(migrated),
                        sent_reminder_keys(migrated.store))
    assert not [r for r in due if r.key in EXPECTED["reminders_sent"]]


def test_a_member_change_rolled_back_is_not_kept_in_the_directory(migrated):
    ctx = migrated
    before = list(ctx.cfg.members)
    with pytest.raises(RuntimeError):
        with ctx.store.transaction():
            ctx.store.add_member_change("add", agency="Marsden Vale Scouts", email="later.v4@net.test")
            ctx.refresh_members()
            assert any("later.v4@net.test" in m.contacts for m in ctx.cfg.members)
            raise RuntimeError("the email's handling failed")
    ctx.refresh_members()
    assert list(ctx.cfg.members) == before
