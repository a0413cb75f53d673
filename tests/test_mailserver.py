"""The private test mail server: real Dovecot + an SMTP relay into it."""

from __future__ import annotations

import json
import shutil
import smtplib
import subprocess
import sys
import time
from email.message import EmailMessage

import pytest

pytestmark = pytest.mark.mailserver


def _msg(subject: str, to: str, body: str = "Hello from the network.") -> EmailMessage:
    m = EmailMessage()
    m["From"] = "bot@net.test"
    m["To"] = to
    m["Subject"] = subject
    m.set_content(body)
    return m


def test_smtp_relay_delivers_to_two_users_who_read_it_over_imap(mailserver, mail_user):
    a, b = mail_user("alpha"), mail_user("beta")
    with smtplib.SMTP(mailserver.host, mailserver.smtp_port, timeout=10) as s:
        refused = s.send_message(_msg("Agenda for Tuesday", f"{a}, {b}"), to_addrs=[a, b])
    assert refused == {}
    for addr in (a, b):
        got = mailserver.wait_for(addr, 1, timeout=5)
        assert [m["Subject"] for m in got] == ["Agenda for Tuesday"]
        assert "Hello from the network." in got[0].get_content()


def test_smtp_relay_refuses_unknown_recipient_with_550(mailserver, mail_user):
    a = mail_user("known")
    with smtplib.SMTP(mailserver.host, mailserver.smtp_port, timeout=10) as s:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as exc:
            s.send_message(_msg("x", "nobody@net.test"), to_addrs=["nobody-xyz@net.test"])
        assert exc.value.recipients["nobody-xyz@net.test"][0] == 550
        # a mixed envelope: the known user still gets it
        refused = s.send_message(_msg("mixed", a), to_addrs=[a, "nobody-xyz@net.test"])
    assert refused["nobody-xyz@net.test"][0] == 550
    assert [m["Subject"] for m in mailserver.wait_for(a, 1, timeout=5)] == ["mixed"]


def test_users_added_while_running_can_log_in_and_receive(mailserver, mail_user):
    a = mail_user("late", password="pw-late")
    mailserver.deliver_to_inbox(a, _msg("straight in", a))
    from imapclient import IMAPClient

    with IMAPClient(mailserver.host, mailserver.imap_port, ssl=False, timeout=5) as c:
        c.login(a, "pw-late")
        assert c.select_folder("INBOX")[b"EXISTS"] == 1


def test_mailboxes_are_separate(mailserver, mail_user):
    a, b = mail_user("one"), mail_user("two")
    mailserver.deliver_to_inbox(a, _msg("only for one", a))
    assert len(mailserver.wait_for(a, 1, timeout=5)) == 1
    assert mailserver.fetch_all(b) == []


def test_smtp_auth_when_required(tmp_path_factory):
    from mailbot.sandbox.mailserver import MailServer, dovecot_available

    if not dovecot_available():
        pytest.skip("Dovecot is not installed")
    with MailServer(smtp_auth=True) as ms:
        a = ms.add_user("authed@net.test", "pw1")
        with smtplib.SMTP(ms.host, ms.smtp_port, timeout=10) as s:
            with pytest.raises(smtplib.SMTPException):
                s.send_message(_msg("no auth", a), to_addrs=[a])
        with smtplib.SMTP(ms.host, ms.smtp_port, timeout=10) as s:
            with pytest.raises(smtplib.SMTPAuthenticationError):
                s.login(a, "wrong")
        with smtplib.SMTP(ms.host, ms.smtp_port, timeout=10) as s:
            s.login(a, "pw1")
            s.send_message(_msg("with auth", a), to_addrs=[a])
        assert [m["Subject"] for m in ms.wait_for(a, 1, timeout=5)] == ["with auth"]
        # IMAP checks the password too (done on this private server: a wrong
        # password makes Dovecot slow down later logins from the same IP)
        from imapclient import IMAPClient
        from imapclient.exceptions import LoginError

        with IMAPClient(ms.host, ms.imap_port, ssl=False, timeout=5) as c:
            with pytest.raises(LoginError):
                c.login(a, "wrong-password")


def test_restart_keeps_mail_and_ports_and_smtp_fails_temporarily_while_down(private_mailserver):
    ms = private_mailserver
    a = ms.add_user("restart@net.test")
    ms.deliver_to_inbox(a, _msg("before", a))
    ports = dict(ms.ports)
    ms.stop_imap()
    with smtplib.SMTP(ms.host, ms.smtp_port, timeout=10) as s:
        with pytest.raises(smtplib.SMTPDataError) as exc:
            s.send_message(_msg("while down", a), to_addrs=[a])
    assert 400 <= exc.value.smtp_code < 500  # temporary: the sender keeps it and retries
    t0 = time.monotonic()
    ms.start_imap()
    assert time.monotonic() - t0 < 2
    assert ms.ports == ports
    ms.deliver_to_inbox(a, _msg("after", a))
    assert [m["Subject"] for m in ms.wait_for(a, 2, timeout=5)] == ["before", "after"]
    ms.stop_smtp()
    with pytest.raises(OSError):
        smtplib.SMTP(ms.host, ms.smtp_port, timeout=2)
    ms.start_smtp()
    with smtplib.SMTP(ms.host, ms.smtp_port, timeout=10) as s:
        s.send_message(_msg("smtp back", a), to_addrs=[a])
    assert len(ms.wait_for(a, 3, timeout=5)) == 3


def test_starts_fast_and_parallel_instances_do_not_clash():
    from mailbot.sandbox.mailserver import MailServer, dovecot_available

    if not dovecot_available():
        pytest.skip("Dovecot is not installed")
    t0 = time.monotonic()
    with MailServer() as one, MailServer() as two:
        assert time.monotonic() - t0 < 4  # two servers, < 2 s each
        assert len({one.imap_port, one.lmtp_port, one.smtp_port, two.imap_port, two.lmtp_port, two.smtp_port}) == 6
        a1, a2 = one.add_user("same@net.test"), two.add_user("same@net.test")
        one.deliver_to_inbox(a1, _msg("to one", a1))
        assert len(one.wait_for(a1, 1, timeout=5)) == 1
        assert two.fetch_all(a2) == []


def test_command_line_start_prints_ports_and_stop_stops(tmp_path):
    from mailbot.sandbox.mailserver import dovecot_available
    from mailbot.sandbox.processes import port_open

    if not dovecot_available():
        pytest.skip("Dovecot is not installed")
    from conftest import _new_mailserver_dir

    base = _new_mailserver_dir()
    d = base / "srv"
    out = subprocess.run([sys.executable, "-m", "mailbot.sandbox.mailserver", "start", str(d),
                          "--users", "a@net.test,b@net.test"], capture_output=True, text=True, timeout=30)
    try:
        assert out.returncode == 0, out.stderr
        info = json.loads(out.stdout)
        assert info["users"] == ["a@net.test", "b@net.test"]
        with smtplib.SMTP(info["host"], info["smtp"], timeout=10) as s:
            s.sendmail("x@net.test", ["b@net.test"], b"Subject: cli\r\n\r\nhi\r\n")
        from imapclient import IMAPClient

        deadline = time.monotonic() + 5
        with IMAPClient(info["host"], info["imap"], ssl=False, timeout=5) as c:
            c.login("b@net.test", info["password"])
            while c.select_folder("INBOX", readonly=True)[b"EXISTS"] < 1:
                assert time.monotonic() < deadline
                time.sleep(0.05)
    finally:
        stop = subprocess.run([sys.executable, "-m", "mailbot.sandbox.mailserver", "stop", str(d)],
                              capture_output=True, text=True, timeout=30)
        shutil.rmtree(base, ignore_errors=True)
    assert stop.returncode == 0
    assert not port_open(info["imap"]) and not port_open(info["smtp"])


def test_works_in_a_directory_dovecot_users_cannot_traverse(tmp_path):
    """pytest's tmp_path (and a 0700 home) is closed to Dovecot's users: data goes to a 0755 temp dir."""
    import os

    from mailbot.sandbox.mailserver import MailServer, dovecot_available

    if not dovecot_available():
        pytest.skip("Dovecot is not installed")
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    ms = MailServer(closed / "ms")
    with ms:
        root = ms.root
        if os.geteuid() == 0:
            assert root != ms.dir
        a = ms.add_user("x@net.test")
        ms.deliver_to_inbox(a, _msg("closed dir", a))
        ms.stop_imap()
        ms.start_imap()
        assert [m["Subject"] for m in ms.wait_for(a, 1, timeout=5)] == ["closed dir"]
    if os.geteuid() == 0:
        assert not root.exists()
