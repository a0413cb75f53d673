"""Outbox sender against a real aiosmtpd server on 127.0.0.1 (no mocks)."""

from __future__ import annotations

import asyncio
import email
import socket
import threading
import time
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller

from mailbot.mail.outbox import OutboxSender
from mailbot.mail.smtp import SmtpSettings
from mailbot.store import OutboxItem, Store
from mailbot.store.vault import Vault

pytestmark = pytest.mark.timeout(60)


class Collector:
    """aiosmtpd handler: records accepted messages; scripted refusals."""

    def __init__(self):
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.data_replies: list[str] = []          # popped, one per DATA, before accepting
        self.rcpt_replies: dict[str, list[str]] = {}  # address -> replies popped per RCPT
        self.ehlo: list[str] = []                   # the names clients gave in EHLO

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.ehlo.append(hostname)
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        replies = self.rcpt_replies.get(address)
        reply = "250 OK"
        if replies:
            reply = replies.pop(0) if len(replies) > 1 else replies[0]
        if not reply.startswith("250"):
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_replies:
            return self.data_replies.pop(0)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 Message accepted for delivery"

    def message_ids(self):
        return [email.message_from_bytes(raw)["Message-ID"] for _f, _r, raw in self.messages]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server():
    handler = Collector()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path / "o.db", Vault.load_or_create(tmp_path / "k"))
    yield s
    s.close()


def make_mail(n: int, *, to=("member@agency.example",), code="CN1") -> OutboxItem:
    msg = EmailMessage()
    mid = f"<out-{n}@mailbot.example>"
    msg["From"] = "coordinator@network.example"
    msg["To"] = ", ".join(to)
    msg["Subject"] = f"{code} coded referral"
    msg["Message-ID"] = mid
    msg.set_content(f"Please find case {code} attached.\n.\nA line starting with a dot above.\n")
    return OutboxItem(message_id=mid, kind="coded-referral", case_code=code,
                        sender="coordinator@network.example", recipients=list(to), raw=msg.as_bytes(),
                        rule="members", reason="test")


def sender_for(store, port, **kw) -> OutboxSender:
    kw.setdefault("retry_base", 0.05)
    return OutboxSender(store, SmtpSettings(host="127.0.0.1", port=port, tls="none", timeout=5), **kw)


def test_delivers_each_item_once_in_order_with_message_id(store, smtp_server):
    handler, port = smtp_server
    for n in range(1, 6):
        store.enqueue(make_mail(n))
    sender = sender_for(store, port)
    assert asyncio.run(sender.drain()) == 5
    assert handler.message_ids() == [f"<out-{n}@mailbot.example>" for n in range(1, 6)]
    assert handler.messages[0][0] == "coordinator@network.example"
    assert handler.messages[0][1] == ["member@agency.example"]
    assert b"\n.\n" in handler.messages[0][2].replace(b"\r\n", b"\n")  # dot-stuffing undone by server
    assert asyncio.run(sender.drain()) == 0  # nothing twice
    assert len(handler.messages) == 5
    assert store.outbox_counts()["sent"] == 5
    assert all(i.sent_at and i.attempts == 1 for i in store.outbox_items("sent"))


def test_the_ehlo_name_is_never_looked_up_in_the_dns(store, smtp_server, monkeypatch):
    """aiosmtplib's default EHLO name is socket.getfqdn(), a resolver lookup at every connection that can
    hang where there is no DNS: the outbox gives the mailbox's domain (or the host's own name) instead."""
    import aiosmtplib

    handler, port = smtp_server

    async def no_dns(*_a, **_k):
        raise AssertionError("aiosmtplib's default EHLO name (socket.getfqdn) was asked for")

    monkeypatch.setattr(aiosmtplib.SMTP, "_get_default_local_hostname", no_dns)
    store.enqueue(make_mail(1))
    sender = OutboxSender(store, SmtpSettings(host="127.0.0.1", port=port, tls="none", timeout=5,
                                              local_hostname="network.example"), retry_base=0.05)
    asyncio.run(sender.drain())
    assert handler.ehlo == ["network.example"] and len(handler.messages) == 1
    from mailbot.mail.smtp import probe_smtp

    asyncio.run(probe_smtp(SmtpSettings(host="127.0.0.1", port=port)))  # no name given: the host's own
    assert handler.ehlo[-1] and handler.ehlo[-1] != "network.example"


def test_temporary_4xx_is_retried_then_delivered_once(store, smtp_server):
    handler, port = smtp_server
    handler.data_replies = ["451 4.3.0 Try again later"]
    store.enqueue(make_mail(1))
    sender = sender_for(store, port)
    assert asyncio.run(sender.drain()) == 0
    (item,) = store.outbox_items("pending")
    assert item.last_error.startswith("451") and item.next_try > time.time()
    assert asyncio.run(sender.drain_until_empty(timeout=10)) == 1
    assert handler.message_ids() == ["<out-1@mailbot.example>"]
    (done,) = store.outbox_items("sent")
    assert done.attempts == 2


def test_server_down_then_up_delivered_once_and_outage_reported_once(store):
    port = free_port()  # nothing listening yet
    outages = []
    for n in (1, 2):
        store.enqueue(make_mail(n))
    sender = sender_for(store, port, on_outage=outages.append)

    async def scenario():
        assert await sender.drain() == 0
        await asyncio.sleep(0.1)
        assert await sender.drain() == 0
        return store.outbox_items("pending")

    pending = asyncio.run(scenario())
    assert len(pending) == 2 and all("cannot reach the mail server" in i.last_error for i in pending)
    assert all(i.attempts == 0 for i in pending)
    assert len(outages) == 1 and isinstance(outages[0], float)

    handler = Collector()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        assert asyncio.run(sender.drain_until_empty(timeout=10)) == 2
        assert handler.message_ids() == ["<out-1@mailbot.example>", "<out-2@mailbot.example>"]
        assert asyncio.run(sender.drain()) == 0
        assert len(handler.messages) == 2
    finally:
        controller.stop()


def test_permanent_5xx_fails_and_reports(store, smtp_server):
    handler, port = smtp_server
    handler.data_replies = ["554 5.7.1 Message rejected"]
    store.enqueue(make_mail(1))
    store.enqueue(make_mail(2))
    failures = []
    sender = sender_for(store, port, on_permanent_failure=lambda item, err: failures.append((item.message_id, err)))
    assert asyncio.run(sender.drain()) == 1
    assert failures == [("<out-1@mailbot.example>", "554 5.7.1 Message rejected")]
    assert [i.message_id for i in store.outbox_items("failed")] == ["<out-1@mailbot.example>"]
    assert handler.message_ids() == ["<out-2@mailbot.example>"]
    assert any(r["event"] == "failed" for r in store.audit_rows())


def test_recipient_refusals_partial_and_total(store, smtp_server):
    handler, port = smtp_server
    handler.rcpt_replies = {"gone@agency.example": ["550 5.1.1 No such user"],
                            "busy@agency.example": ["450 4.2.1 Mailbox busy", "250 OK"]}
    store.enqueue(make_mail(1, to=("ok@agency.example", "gone@agency.example")))
    store.enqueue(make_mail(2, to=("ok@agency.example", "busy@agency.example")))
    store.enqueue(make_mail(3, to=("gone@agency.example",)))
    failures = []
    sender = sender_for(store, port, on_permanent_failure=lambda item, err: failures.append((item.message_id, err)))
    asyncio.run(sender.drain_until_empty(timeout=10))
    by_id = {i.message_id: i for i in store.outbox_items()}
    assert by_id["<out-1@mailbot.example>"].status == "sent"
    assert by_id["<out-3@mailbot.example>"].status == "failed"
    item2 = by_id["<out-2@mailbot.example>"]
    assert item2.status == "sent" and item2.delivered == ["ok@agency.example", "busy@agency.example"]
    # who got what: ok@ got 1 and 2 exactly once; busy@ got 2 once (after the retry)
    got = [(rcpt, email.message_from_bytes(raw)["Message-ID"]) for _f, rcpts, raw in handler.messages for rcpt in rcpts]
    assert sorted(got) == sorted([("ok@agency.example", "<out-1@mailbot.example>"),
                                  ("ok@agency.example", "<out-2@mailbot.example>"),
                                  ("busy@agency.example", "<out-2@mailbot.example>")])
    assert {mid for mid, _e in failures} == {"<out-1@mailbot.example>", "<out-3@mailbot.example>"}
    assert all("gone@agency.example" in e and "550" in e for _m, e in failures)


def test_gate_holds_and_failing_gate_fails_closed(store, smtp_server):
    handler, port = smtp_server
    store.enqueue(make_mail(1, code="CN1"))
    store.enqueue(make_mail(2, code="CN2"))
    store.enqueue(make_mail(3, code="CN3"))

    def gate(item):
        if item.case_code == "CN2":
            return "a protected name is in attachment CN2-coded-referral.docx"
        if item.case_code == "CN3":
            raise RuntimeError("checker crashed")
        return None

    sender = sender_for(store, port, gate=gate)
    assert asyncio.run(sender.drain()) == 1
    assert handler.message_ids() == ["<out-1@mailbot.example>"]
    held = {i.case_code: i.last_error for i in store.outbox_items("held")}
    assert held["CN2"].startswith("a protected name") and "could not run" in held["CN3"]


def test_recovers_in_flight_item_at_start(store, smtp_server):
    handler, port = smtp_server
    store.enqueue(make_mail(1))
    (item,) = store.due(time.time() + 1)
    store.mark_sending(item.id)  # as if we crashed mid-send
    assert asyncio.run(sender_for(store, port).drain()) == 1
    assert handler.message_ids() == ["<out-1@mailbot.example>"]


def test_run_loop_wakes_on_notify_from_another_thread(store, smtp_server):
    handler, port = smtp_server
    sender = sender_for(store, port)

    async def scenario():
        stop = asyncio.Event()
        task = asyncio.create_task(sender.run(stop))
        await asyncio.sleep(0.2)

        def producer():
            store.enqueue(make_mail(7))
            sender.notify()

        started = time.monotonic()
        threading.Thread(target=producer).start()
        while not handler.messages and time.monotonic() - started < 5:
            await asyncio.sleep(0.02)
        latency = time.monotonic() - started
        stop.set()
        await asyncio.wait_for(task, timeout=5)
        return latency

    latency = asyncio.run(scenario())
    assert handler.message_ids() == ["<out-7@mailbot.example>"]
    assert latency < 2.0


def test_an_empty_outbox_after_sending_calls_on_idle_once(store, smtp_server):
    handler, port = smtp_server
    sender = sender_for(store, port)
    idle = []
    sender.on_idle = lambda: idle.append(len(handler.messages))

    async def scenario():
        stop = asyncio.Event()
        task = asyncio.create_task(sender.run(stop))
        await asyncio.sleep(0.3)
        assert idle == [], "nothing sent yet: not called"
        for n in (1, 2, 3):
            store.enqueue(make_mail(n))
        sender.notify()
        deadline = time.monotonic() + 5
        while not idle and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        sender.notify()  # woken again with nothing to send: not called again
        await asyncio.sleep(0.3)
        stop.set()
        await asyncio.wait_for(task, timeout=5)

    asyncio.run(scenario())
    assert idle == [3]


class DroppingCollector(Collector):
    """Accepts a message, then drops the connection (an idle-timeout or a restart)."""

    async def handle_DATA(self, server, session, envelope):
        reply = await super().handle_DATA(server, session, envelope)
        asyncio.get_running_loop().call_soon(server.transport.close)
        return reply


def test_reconnects_when_the_connection_drops_between_items(store):
    handler = DroppingCollector()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        for n in range(1, 4):
            store.enqueue(make_mail(n))
        assert asyncio.run(sender_for(store, port).drain_until_empty(timeout=10)) == 3
        assert handler.message_ids() == [f"<out-{n}@mailbot.example>" for n in range(1, 4)]
        # items 2 and 3 met a dead connection, reconnected, and went out once each
        assert [i.attempts for i in store.outbox_items("sent")] == [1, 2, 2]
    finally:
        controller.stop()


def _self_signed(tmp_path):
    import datetime as dt
    import ipaddress
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert_file, key_file)
    client_ctx = ssl.create_default_context(cafile=str(cert_file))
    return server_ctx, client_ctx


@pytest.mark.parametrize("mode", ["starttls", "ssl"])
def test_tls_and_login(store, tmp_path, mode):
    from aiosmtpd.smtp import AuthResult

    server_ctx, client_ctx = _self_signed(tmp_path)
    logins = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append(auth_data.login)
        ok = auth_data.login == b"coordinator" and auth_data.password == b"s3cret"
        return AuthResult(success=ok, handled=False)

    handler = Collector()
    port = free_port()
    kwargs = dict(authenticator=authenticator, auth_require_tls=True)
    if mode == "starttls":
        kwargs.update(tls_context=server_ctx, require_starttls=True)
    else:
        # aiosmtpd does not see implicit TLS as "TLS" for AUTH; the socket is TLS all the same
        kwargs.update(ssl_context=server_ctx, auth_require_tls=False)
    controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        store.enqueue(make_mail(1))
        settings = SmtpSettings(host="127.0.0.1", port=port, tls=mode, username="coordinator",
                                password="s3cret", timeout=5, tls_context=client_ctx)
        sent = asyncio.run(OutboxSender(store, settings).drain())
        assert sent == 1, [i.last_error for i in store.outbox_items()]
        assert handler.message_ids() == ["<out-1@mailbot.example>"] and logins == [b"coordinator"]
        # a wrong password is a connection-level problem: the mail waits, it is not lost
        store.enqueue(make_mail(2))
        bad = SmtpSettings(host="127.0.0.1", port=port, tls=mode, username="coordinator",
                           password="wrong", timeout=5, tls_context=client_ctx)
        outages = []
        assert asyncio.run(OutboxSender(store, bad, on_outage=outages.append).drain()) == 0
        (waiting,) = store.outbox_items("pending")
        assert waiting.message_id == "<out-2@mailbot.example>" and "refused mailbot's login" in waiting.last_error
        assert len(outages) == 1
    finally:
        controller.stop()


def test_probe_smtp(smtp_server):
    from mailbot.errors import MailbotError
    from mailbot.mail.smtp import probe_smtp

    _handler, port = smtp_server
    asyncio.run(probe_smtp(SmtpSettings(host="127.0.0.1", port=port)))
    with pytest.raises(MailbotError) as exc:
        asyncio.run(probe_smtp(SmtpSettings(host="127.0.0.1", port=free_port(), timeout=2)))
    assert "cannot reach the mail server" in str(exc.value) and "\n" not in str(exc.value)
