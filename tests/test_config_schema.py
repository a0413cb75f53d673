"""The shape of config.toml (issue 13 item 4): every mistake gets one plain sentence naming the key
(and its line), never "unexpected problem (ValueError)"; check-config lists them all, checks the
data folder and warns about the member directory. Every network, agency and address is fictional."""

from __future__ import annotations

import copy
import datetime as dt
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailbot.config import load_config, parse_config
from mailbot.config_schema import schema
from mailbot.errors import ConfigError
from mailbot.sandbox.network import _to_toml

ROOT = Path(__file__).resolve().parent.parent

EXAMPLE_ENV = {"MAILBOT_IMAP_PASSWORD": "x", "MAILBOT_SMTP_PASSWORD": "y",
               "MAILBOT_MASTER_LIST_PASSWORD": "a-long-passphrase"}


def base_config(tmp: Path) -> dict:
    pw = tmp / "ml-password"
    pw.write_text("correct-horse-battery")
    return {
        "network": {"name": "Kilnsey Youth Network", "mailbox_address": "coordinator@kilnsey.example",
                    "coordinators": ["aine@kilnsey.example"]},
        "imap": {"host": "127.0.0.1", "port": 9, "tls": "none"},
        "smtp": {"host": "127.0.0.1", "port": 9, "tls": "none"},
        "paths": {"data_dir": str(tmp / "data")},
        "master_list": {"password_file": str(pw)},
        "security": {"rate_limit_emails": 20},
        "digest": {"time": "07:30"},
        "members": [{"agency": "Hebble Youth Service", "contacts": ["youth.worker@hebble-ys.example.net"]},
                    {"agency": "Kilnsey Social Work Team", "contacts": ["duty@kilnsey-sw.example.net"],
                     "social_work": True}],
    }


@pytest.fixture
def base(tmp_path):
    return base_config(tmp_path)


def refused(data: dict) -> str:
    with pytest.raises(ConfigError) as err:
        parse_config(data)
    text = str(err.value)
    assert "\n" not in text and "Traceback" not in text and "ValueError" not in text
    return text


# -- each mistake, its sentence ---------------------------------------------------------------------

@pytest.mark.parametrize("mutate, sentence", [
    # unknown keys and sections, with "did you mean"
    (lambda d: d["security"].update(rate_limit_email=5),
     "[security] rate_limit_email is not a setting mailbot knows; did you mean rate_limit_emails?"),
    (lambda d: d.update(secuirty={}), "[secuirty] is not a section mailbot knows; did you mean [security]?"),
    (lambda d: d["members"][0].update(socialwork=True),
     "[[members]] entry 1 (Hebble Youth Service) socialwork is not a setting mailbot knows; did you mean social_work?"),
    (lambda d: d["network"].update(time="07:30"),
     "[network] time is not a setting mailbot knows in [network]; it belongs in [digest]"),
    (lambda d: d.update(time="07:30"), "time is not a section: it is a setting of [digest]"),
    (lambda d: d["network"].update(colour="blue"),
     "[network] colour is not a setting mailbot knows (the settings of [network] are: name, timezone,"),
    # booleans must be booleans: "false" in quotes is not read as true
    (lambda d: d["members"][0].update(may_submit="false"),
     '[[members]] entry 1 (Hebble Youth Service) may_submit must be true or false, without quotes (found "false").'),
    (lambda d: d["members"][1].update(social_work=1),
     "[[members]] entry 2 (Kilnsey Social Work Team) social_work must be true or false, without quotes (found 1)."),
    (lambda d: d["security"].update(check_authentication_results="no"),
     '[security] check_authentication_results must be true or false, without quotes (found "no").'),
    # numbers: a wrong type and out of range, plainly (no ValueError)
    (lambda d: d["network"].update(first_case_number="seventy"),
     '[network] first_case_number must be a whole number from 1 to 999999 (found "seventy").'),
    (lambda d: d["imap"].update(port="993"), '[imap] port must be a whole number from 1 to 65535 (found "993").'),
    (lambda d: d["imap"].update(port=70000), "[imap] port must be a whole number from 1 to 65535 (found 70000)."),
    (lambda d: d["imap"].update(idle_renew_seconds="ten"),
     '[imap] idle_renew_seconds must be a whole number from 10 to 1740 (found "ten").'),
    (lambda d: d["security"].update(max_email_mb="lots"),
     '[security] max_email_mb must be a number of megabytes above 0 and at most 1024 (found "lots").'),
    (lambda d: d["security"].update(max_email_mb=0),
     "[security] max_email_mb must be a number of megabytes above 0 and at most 1024 (found 0)."),
    (lambda d: d["smtp"].update(connections=33), "[smtp] connections must be a whole number from 1 to 32 (found 33)."),
    (lambda d: d["smtp"].update(retry_base_seconds=-1),
     "[smtp] retry_base_seconds must be a positive number of seconds (at most 86400) (found -1)."),
    (lambda d: d["commands"].update(confirmation_hours=0) if "commands" in d else d.update(
        commands={"confirmation_hours": 0}),
     "[commands] confirmation_hours must be a number of hours above 0 and at most 720 (30 days); 24 if left out"),
    # lists must be lists
    (lambda d: d["network"].update(coordinators="aine@kilnsey.example"),
     '[network] coordinators must be a list of at least one address, e.g. ["aine@network.example"] '
     '(found "aine@kilnsey.example").'),
    (lambda d: d["members"][0].update(contacts="youth.worker@hebble-ys.example.net"),
     "[[members]] entry 1 (Hebble Youth Service) contacts must be a list of at least one address"),
    (lambda d: d["security"].update(trusted_authserv_ids="mx.example.net"),
     '[security] trusted_authserv_ids must be a list, e.g. ["mx.example.net"] (found "mx.example.net").'),
    (lambda d: d.update(members={"agency": "Hebble Youth Service", "contacts": ["a@b.example"]}),
     "[[members]] must be one or more member tables, each starting with [[members]] (two brackets)."),
    # text, addresses, missing keys and sections
    (lambda d: d["network"].update(coordinators=["aine at kilnsey"]),
     '[network] coordinators: "aine at kilnsey" is not an email address.'),
    (lambda d: d["digest"].update(time=730), "[digest] time must be a time of day in quotes"),
    (lambda d: d["imap"].pop("host"), "[imap] host is missing."),
    (lambda d: d.pop("smtp"), "The [smtp] section is missing."),
    (lambda d: d["smtp"].update(password="hunter22"), "[smtp] has a password in clear."),
    (lambda d: d["smtp"].update(tls="tls"), '[smtp] tls must be one of "ssl", "starttls" or "none" (found "tls").'),
])
def test_each_configuration_mistake_gets_its_plain_sentence(base, mutate, sentence):
    data = copy.deepcopy(base)
    mutate(data)
    assert sentence in refused(data)


def test_a_boolean_is_read_as_written(base):
    data = copy.deepcopy(base)
    data["members"][0]["may_submit"] = False
    assert parse_config(data).members[0].may_submit is False
    assert parse_config(copy.deepcopy(base)).members[0].may_submit is True
    data["smtp"]["tls"] = "STARTTLS"  # (as before: any case)
    assert parse_config(data).smtp.tls == "starttls"


def test_the_sentence_names_the_line_of_config_toml(base, tmp_path):
    data = copy.deepcopy(base)
    data["members"][0]["may_submit"] = "false"
    data["security"]["rate_limit_email"] = 5
    text = _to_toml(data)
    path = tmp_path / "config.toml"
    path.write_text(text)
    lines = text.splitlines()
    may = next(i for i, line in enumerate(lines, 1) if line.startswith("may_submit"))
    rate = next(i for i, line in enumerate(lines, 1) if line.startswith("rate_limit_email ="))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    first = str(err.value)
    assert first.startswith(f"line {rate}: [security] rate_limit_email is not a setting")  # the file's order
    assert first.endswith("(1 more: mailbot check-config lists them all)")
    out = subprocess.run([sys.executable, "-m", "mailbot.cli", "check-config", "-c", str(path)],
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 3
    assert f"line {may}: [[members]] entry 1 (Hebble Youth Service) may_submit must be true or false" in out.stderr
    assert f"line {rate}: [security] rate_limit_email" in out.stderr and "2 problems" in out.stderr
    assert "Traceback" not in out.stderr and "unexpected problem" not in out.stderr


def test_a_bad_number_in_a_real_file_is_a_configuration_problem_not_an_unexpected_one(base, tmp_path):
    data = copy.deepcopy(base)
    text = _to_toml(data).replace("[security]\n", '[security]\nmax_email_mb = "25MB"\n')
    path = tmp_path / "config.toml"
    path.write_text(text)
    out = subprocess.run([sys.executable, "-m", "mailbot.cli", "run", "-c", str(path)],
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 3, out.stderr
    line = next(i for i, t in enumerate(text.splitlines(), 1) if t.startswith("max_email_mb"))
    assert out.stderr.strip() == (f"mailbot: configuration problem: line {line}: [security] max_email_mb must be a "
                                  'number of megabytes above 0 and at most 1024 (found "25MB").')


def test_the_example_configuration_and_the_schema_agree(monkeypatch):
    for k, v in EXAMPLE_ENV.items():
        monkeypatch.setenv(k, v)
    load_config(ROOT / "config.example.toml")
    data = tomllib.loads((ROOT / "config.example.toml").read_text())
    props = schema()["properties"]
    for section, body in data.items():
        sec = props[section].get("items", props[section])
        for entry in body if isinstance(body, list) else [body]:
            assert set(entry) <= set(sec["properties"]), (section, set(entry) - set(sec["properties"]))


# -- check-config: the data folder and the member directory -------------------------------------------

def check(tmp_path, data, *args) -> subprocess.CompletedProcess:
    path = tmp_path / "check.toml"
    path.write_text(_to_toml(data))
    return subprocess.run([sys.executable, "-m", "mailbot.cli", "check-config", "-c", str(path), *args],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)


def test_check_config_warns_about_the_member_directory(base, tmp_path):
    data = copy.deepcopy(base)
    data["members"][1]["social_work"] = False
    data["members"][0]["contacts"].append("aine@kilnsey.example")      # the coordinator
    data["members"][1]["contacts"].append("coordinator@kilnsey.example")  # the mailbox itself
    out = check(tmp_path, data, "--no-servers")
    assert out.returncode == 0, out.stdout + out.stderr  # warnings do not stop it
    assert "warning: no member has social_work = true" in out.stdout
    assert ("warning: the coordinator aine@kilnsey.example is also listed as a contact of [[members]] "
            "Hebble Youth Service") in out.stdout
    assert ("warning: the mailbox address coordinator@kilnsey.example is also listed as a contact of [[members]] "
            "Kilnsey Social Work Team: mailbot would send members' mail to itself.") in out.stdout
    clean = check(tmp_path, copy.deepcopy(base), "--no-servers")
    assert clean.returncode == 0 and "warning:" not in clean.stdout, clean.stdout


@pytest.mark.parametrize("where", ["/proc/self", "/proc/mailbot-nowhere/data"])
def test_check_config_says_when_the_data_folder_cannot_be_written(base, tmp_path, where):
    data = copy.deepcopy(base)
    data["paths"]["data_dir"] = where
    out = check(tmp_path, data, "--no-servers")
    assert out.returncode == 1, out.stdout + out.stderr
    assert f"data folder: PROBLEM - [paths] data_dir {where}" in out.stdout
    assert "is not writable" in out.stdout or "cannot create it" in out.stdout
    assert not Path(where).exists() or where == "/proc/self"


def test_check_config_data_folder_ok_or_to_be_created(base, tmp_path):
    out = check(tmp_path, copy.deepcopy(base), "--no-servers")
    assert f"data folder: ok ({tmp_path / 'data'})" in out.stdout
    assert not (tmp_path / "data").exists()  # checked, not created


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes in any folder")
def test_check_config_read_only_data_folder(base, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    data = copy.deepcopy(base)
    data["paths"]["data_dir"] = str(ro)
    out = check(tmp_path, data, "--no-servers")
    assert out.returncode == 1 and "is not writable for this user" in out.stdout


def test_servers_down_fail_check_config_but_not_the_check_before_start(base, tmp_path):
    """A mail server down at boot: the unit's ExecStartPre (--no-servers) passes, mailbot starts and queues."""
    data = copy.deepcopy(base)
    data["security"]["trusted_authserv_ids"] = ["mx.kilnsey.example"]
    full = check(tmp_path, data)
    assert full.returncode == 1 and "imap: FAILED" in full.stdout and "smtp: FAILED" in full.stdout
    boot = check(tmp_path, data, "--no-servers")
    assert boot.returncode == 0, boot.stdout + boot.stderr
    assert "imap:" not in boot.stdout and "servers: not tried (--no-servers)" in boot.stdout


# -- property: any wrong type for any key is a plain ConfigError, never a traceback --------------------

def _leaves() -> list[tuple[str, str, dict]]:
    """(section, key, subschema) of every key the schema knows."""
    out = []
    for section, sec in schema()["properties"].items():
        sec = sec.get("items", sec)
        for key, sub in sec.get("properties", {}).items():
            out.append((section, key, sub))
    return out


LEAVES = _leaves()
TOML_VALUES = st.recursive(
    st.one_of(st.booleans(), st.integers(min_value=-2**63, max_value=2**63 - 1), st.floats(allow_nan=True),
              st.text(max_size=30), st.dates(), st.datetimes(), st.times()),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=6)


def _valid(sub: dict, value) -> bool:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(dict(sub, **{"$defs": schema()["$defs"]})).is_valid(value)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(leaf=st.sampled_from(LEAVES), value=TOML_VALUES)
def test_any_value_for_any_key_is_read_or_refused_plainly(tmp_path, leaf, value):
    section, key, sub = leaf
    data = base_config(tmp_path)
    target = data["members"][0] if section == "members" else data.setdefault(section, {})
    target[key] = value
    try:
        parse_config(data, base=tmp_path)
    except ConfigError as exc:
        text = str(exc)
        assert "\n" not in text and text.strip()
        if not _valid(sub, value):  # a wrong type or range: the sentence names the key
            assert key in text, (key, value, text)
    else:
        assert _valid(sub, value), (section, key, value)  # nothing wrong is accepted


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(section=st.sampled_from(sorted(schema()["properties"])), value=TOML_VALUES)
def test_any_value_for_a_whole_section_is_refused_plainly(tmp_path, section, value):
    data = base_config(tmp_path)
    data[section] = value
    try:
        parse_config(data, base=tmp_path)
    except ConfigError as exc:
        assert "\n" not in str(exc)
    else:  # only what the schema accepts: a table of optional keys (or members: ok tables)
        assert isinstance(value, (dict, list))


def test_toml_dates_are_described_plainly(base):
    data = copy.deepcopy(base)
    data["digest"]["time"] = dt.time(7, 30)  # time = 07:30 without quotes is a TOML time
    assert '[digest] time must be a time of day in quotes that looks like "07:30" (found the date/time 07:30:00).' \
        in refused(data)


@pytest.mark.parametrize("mutate, sentence", [
    (lambda d: d["master_list"].update(password_env="MAILBOT\nTEST"),  # checked by meaning (Python)
     "[master_list] password_env names MAILBOT?TEST, but that environment variable is not set."),
    (lambda d: d.update(commands={"\n": False}), '[commands] "\\n" is not a setting mailbot knows.'),
    (lambda d: d["members"][0].update(agency="Hebble\nYouth", may_submit="no"),  # named in the sentence
     '[[members]] entry 1 (Hebble?Youth) may_submit must be true or false, without quotes (found "no").'),
])
def test_a_line_break_in_the_file_still_gives_a_one_line_message(base, mutate, sentence):
    data = copy.deepcopy(base)
    mutate(data)
    assert refused(data) == sentence
