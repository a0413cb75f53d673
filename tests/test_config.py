"""Configuration: validation with plain messages, secrets never in the TOML, check-config against real servers."""

import copy
import subprocess
import sys
from pathlib import Path

import pytest

from mailbot.config import load_config, parse_config
from mailbot.errors import ConfigError
from mailbot.sandbox.network import TestNetwork, _to_toml

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def base(tmp_path):
    (tmp_path / "pw").write_text("a-long-password")
    return {
        "network": {"name": "Test Network", "mailbox_address": "coord@net.example", "coordinators": ["c@net.example"]},
        "imap": {"host": "127.0.0.1", "port": 1, "tls": "none"},
        "smtp": {"host": "127.0.0.1", "port": 2, "tls": "none"},
        "paths": {"data_dir": str(tmp_path / "data")},
        "master_list": {"password_file": str(tmp_path / "pw")},
        "members": [{"agency": "A School", "contacts": ["a@school.example"]},
                    {"agency": "Social Work", "contacts": ["sw@hse.example"], "social_work": True}],
    }


def test_example_config_is_valid(monkeypatch):
    monkeypatch.setenv("MAILBOT_IMAP_PASSWORD", "x")
    monkeypatch.setenv("MAILBOT_SMTP_PASSWORD", "y")
    monkeypatch.setenv("MAILBOT_MASTER_LIST_PASSWORD", "a-long-passphrase")
    cfg = load_config(ROOT / "config.example.toml")
    assert cfg.imap.password == "x" and cfg.smtp.password == "y"
    assert [m.agency for m in cfg.members if m.social_work] == ["HSE Social Work Department"]


def test_smtp_connections_default_to_four_and_reach_the_outbox(base, tmp_path):
    from mailbot.daemon import Bot

    assert parse_config(copy.deepcopy(base)).smtp_connections == 4
    data = copy.deepcopy(base)
    data["smtp"]["connections"] = 2
    cfg = parse_config(data)
    bot = Bot(cfg, lock=False, work_ahead=False)
    try:
        assert bot.make_outbox().lanes == 2
    finally:
        bot.close()


@pytest.mark.parametrize("mutate, words", [
    (lambda d: d["imap"].update(password="secret", username="u"), "in clear"),
    (lambda d: d["smtp"].update(tls="maybe"), "tls must be one of"),
    (lambda d: d["network"].update(timezone="Mars/Olympus"), "not a known time zone"),
    (lambda d: d["members"].append({"agency": "B", "contacts": ["a@school.example"]}), "listed for both"),
    (lambda d: d["members"][0].update(social_work=True), "Only one member can be Social Work"),
    (lambda d: d["network"].update(coordinators=[]), "coordinators"),
    (lambda d: d["imap"].update(username="u", password_env="MAILBOT_TEST_UNSET_VAR"), "not set"),
    (lambda d: d["members"][0].update(contacts=["not-an-address"]), "not an email address"),
    (lambda d: d["smtp"].update(connections=0), "connections must be a whole number from 1 to 32"),
    (lambda d: d["smtp"].update(connections="many"), "connections must be a whole number from 1 to 32"),
])
def test_bad_configuration_gets_a_plain_message(base, mutate, words):
    data = copy.deepcopy(base)
    mutate(data)
    with pytest.raises(ConfigError) as err:
        parse_config(data)
    assert words in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.mailserver
def test_check_config_tries_both_real_servers(mailserver, tmp_path):
    net = TestNetwork(mailserver, tmp_path)
    good = net.write_config()
    out = subprocess.run([sys.executable, "-m", "mailbot.cli", "check-config", "-c", str(good)],
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "imap: ok" in out.stdout and "smtp: ok" in out.stdout
    raw = copy.deepcopy(net.raw_config)
    raw["smtp"]["port"] = 1  # nothing listens there
    bad = tmp_path / "bad.toml"
    bad.write_text(_to_toml(raw))
    out = subprocess.run([sys.executable, "-m", "mailbot.cli", "check-config", "-c", str(bad)],
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 1
    assert "imap: ok" in out.stdout and "smtp: FAILED" in out.stdout
    assert "Traceback" not in out.stdout + out.stderr


# -- issue 11.4: safe by default; check-config says how to find the provider's authserv-id ----------

def test_example_config_requires_authentication_and_check_config_says_none_is_trusted(monkeypatch):
    from mailbot.mail import authcheck

    monkeypatch.setenv("MAILBOT_IMAP_PASSWORD", "x")
    monkeypatch.setenv("MAILBOT_SMTP_PASSWORD", "y")
    monkeypatch.setenv("MAILBOT_MASTER_LIST_PASSWORD", "a-long-passphrase")
    cfg = load_config(ROOT / "config.example.toml")
    assert cfg.check_authentication_results and cfg.require_authentication_pass
    assert cfg.trusted_authserv_ids == []
    assert (cfg.rate_limit_emails, cfg.rate_limit_window_minutes) == (20, 60)
    ok, lines = authcheck.advice(cfg)
    text = "\n".join(lines)
    assert not ok
    assert "no trusted authserv-id is configured" in text and "no Authentication-Results header is trusted" in text
    assert "every email will be refused" in text and "Authentication-Results:" in text  # how to find it


def test_security_defaults_are_safe_when_the_section_is_missing(base):
    cfg = parse_config(copy.deepcopy(base))
    assert cfg.check_authentication_results and cfg.require_authentication_pass and cfg.trusted_authserv_ids == []


@pytest.mark.parametrize("security, words", [
    ({"rate_limit_emails": 0}, "rate_limit_emails must be a whole number from 1 to 10000"),
    ({"rate_limit_emails": "lots"}, "rate_limit_emails must be a whole number"),
    ({"rate_limit_window_minutes": 0}, "rate_limit_window_minutes must be a whole number from 1 to 10080"),
    ({"rate_limit_window_minutes": 1.5}, "rate_limit_window_minutes must be a whole number"),
    ({"trusted_authserv_ids": "mx.example.net"}, "trusted_authserv_ids must be a list"),
    ({"trusted_authserv_ids": ["mx.example.net; dmarc=pass"]}, "is not a server name"),
    ({"require_authentication_pass": "yes"}, "require_authentication_pass must be true or false"),
])
def test_bad_security_settings_get_a_plain_message(base, security, words):
    data = copy.deepcopy(base)
    data["security"] = security
    with pytest.raises(ConfigError) as err:
        parse_config(data)
    assert words in str(err.value) and "\n" not in str(err.value)


@pytest.mark.mailserver
def test_check_config_proposes_the_authserv_id_of_the_newest_email(mailserver, tmp_path):
    net = TestNetwork(mailserver, tmp_path, extra={"security": {"trusted_authserv_ids": []}})
    net.deliver(net.email_with(net.members[0][1], "Hello"))
    out = subprocess.run([sys.executable, "-m", "mailbot.cli", "check-config", "-c", str(net.write_config())],
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "no trusted authserv-id is configured" in out.stdout
    assert f'trusted_authserv_ids = ["{mailserver.authserv_id}"]' in out.stdout
    assert "imap: ok" in out.stdout and "Traceback" not in out.stdout + out.stderr
    assert net.members[0][1] not in out.stdout and "Hello" not in out.stdout  # only server names and results
    # configured as proposed: ok, and the newest email's header is recognised as trusted
    trusted = TestNetwork(mailserver, tmp_path / "t")
    trusted.deliver(trusted.email_with(trusted.members[0][1], "Hello"))
    out = subprocess.run([sys.executable, "-m", "mailbot.cli", "check-config", "-c", str(trusted.write_config())],
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "security: ok" in out.stdout and "trusted." in out.stdout
