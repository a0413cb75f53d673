"""A fictional test network on a real MailServer: used by the end-to-end tests, the benchmarks and the demo.

Every agency, person and address here is invented.
"""

from __future__ import annotations

import uuid
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

from mailbot.config import Config, parse_config

AGENCIES = [
    ("Marsden Vale Children's Services", "priya.lal@mv-childrens.example.net"),
    ("Westbury Young People's Drug Service", "nadia.ellwood@westbury-ypds.example.net"),
    ("Thornfield Community School", "office@thornfield-cs.example.net"),
    ("Lisnavar Community School", "svarian@lisnavarcs.ie"),
    ("Lisnavar Addiction Outreach", "eamony@lisnavaroutreach.ie"),
    ("Lisnavar Family Support Service", "joanne.weldon@lisnavarfss.ie"),
    ("Hebble Youth Service", "youth.worker@hebble-ys.example.net"),
    ("Kilbrack Garda Juvenile Liaison", "jlo@kilbrack-garda.example.net"),
    ("Sowerby Family Resource Centre", "frc@sowerby-frc.example.net"),
    ("Tenter Croft Homeless Service", "outreach@tentercroft.example.net"),
    ("Weavers Row Educational Welfare", "ewo@weaversrow-tusla.example.net"),
    ("Ashgrove Mental Health Team", "camhs@ashgrove-mh.example.net"),
]
SOCIAL_WORK = ("Lisnavar Social Work Team", "fionnuala.webb@lisnavar-sw.ie")
MAILBOX = "coordinator@network.test"
COORDINATOR = "aine.coordinator@network.test"
MASTER_LIST_PASSWORD = "correct-horse-battery"


class TestNetwork:
    __test__ = False  # not a pytest test class
    """Users on the mail server plus a Config pointing at it. `suffix` keeps tests apart."""

    def __init__(self, server, work_dir: Path, *, suffix: str | None = None, extra: dict | None = None):
        self.server = server
        self.dir = Path(work_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.suffix = uuid.uuid4().hex[:6] if suffix is None else suffix
        self.mailbox = self._addr(MAILBOX)
        self.coordinator = self._addr(COORDINATOR)
        self.members = [(agency, self._addr(a)) for agency, a in AGENCIES]
        self.social_work = (SOCIAL_WORK[0], self._addr(SOCIAL_WORK[1]))
        for a in [self.mailbox, self.coordinator] + [m for _, m in self.members] + [self.social_work[1]]:
            server.add_user(a)
        pw = self.dir / "mail-password"
        pw.write_text(server.password(self.mailbox))
        mlpw = self.dir / "master-list-password"
        mlpw.write_text(MASTER_LIST_PASSWORD)
        raw = {
            "network": {"name": "Thornfield Youth Network", "timezone": "Europe/Dublin",
                        "mailbox_address": self.mailbox, "coordinators": [self.coordinator]},
            "imap": {"host": server.host, "port": server.imap_port, "tls": "none", "username": self.mailbox,
                     "password_file": str(pw), "idle_renew_seconds": 60},
            "smtp": {"host": server.host, "port": server.smtp_port, "tls": "none"},
            "paths": {"data_dir": str(self.dir / "data")},
            # each change's Master List at once (tests of exits and handovers read the next list at once);
            # tests of the window ([master_list] interval_minutes, 60 by default) set their own
            "master_list": {"password_file": str(mlpw), "interval_minutes": 0},
            # the test server's MX writes Authentication-Results (MailServer.deliver_to_inbox): trust it
            # and require a pass, as the shipped config.example.toml does; a forged mail fails there.
            # Benchmarks send bursts from one agency: flood control well above them (tests lower it).
            "security": {"trusted_authserv_ids": [server.authserv_id], "require_authentication_pass": True,
                         "rate_limit_emails": 1000},
            "members": [{"agency": ag, "contacts": [a]} for ag, a in self.members]
            + [{"agency": self.social_work[0], "contacts": [self.social_work[1]], "social_work": True}],
        }
        for k, v in (extra or {}).items():
            raw.setdefault(k, {}).update(v) if isinstance(v, dict) else raw.__setitem__(k, v)
        self.raw_config = raw
        self.config: Config = parse_config(raw, base=self.dir)

    def write_config(self, path: Path | None = None) -> Path:
        """Write this network's configuration as a TOML file, for `mailbot run -c FILE` in a subprocess."""
        path = Path(path or self.dir / "config.toml")
        path.write_text(_to_toml(self.raw_config), encoding="utf-8")
        return path

    def _addr(self, address: str) -> str:
        if not self.suffix:
            return address
        local, domain = address.split("@")
        return f"{local}.{self.suffix}@{domain}"

    @property
    def member_addresses(self) -> list[str]:
        return [a for _, a in self.members]

    @property
    def all_member_addresses(self) -> list[str]:
        return self.member_addresses + [self.social_work[1]]

    def email_with(self, sender: str, subject: str, *, body: str = "Please find attached.",
                   attachments: list[tuple[str, bytes]] = (), message_id: str | None = None) -> bytes:
        msg = EmailMessage()
        msg["From"] = sender
        msg["To"] = self.mailbox
        msg["Subject"] = subject
        msg["Message-ID"] = message_id or make_msgid(domain="agency.test")
        msg["Date"] = "Mon, 23 Nov 2026 10:00:00 +0000"
        msg.set_content(body)
        for name, data in attachments:
            msg.add_attachment(data, maintype="application",
                               subtype="vnd.openxmlformats-officedocument.wordprocessingml.document", filename=name)
        return msg.as_bytes()

    def send_referral(self, sender: str, form: Path | bytes, *, filename: str = "referral.docx") -> bytes:
        data = form if isinstance(form, bytes) else Path(form).read_bytes()
        raw = self.email_with(sender, "Referral", attachments=[(filename, data)])
        self.server.deliver_to_inbox(self.mailbox, raw, mail_from=sender)
        return raw

    def received(self, raw: bytes, **kw) -> bytes:
        """``raw`` as the test MX would put it in the inbox (its Authentication-Results on top), for tests
        that hand raw mail to the pipeline without Dovecot; keywords as MailServer.deliver_to_inbox."""
        from mailbot.sandbox.mx import from_address, stamp_authentication_results

        sender = from_address(raw)
        return stamp_authentication_results(raw, self.server.authserv_id, envelope=kw.pop("mail_from", None) or sender,
                                            from_address=sender, **kw)

    def deliver(self, raw: bytes, **kw) -> None:
        """Deliver ``raw`` to the coordinator mailbox through the test MX (see MailServer.deliver_to_inbox)."""
        self.server.deliver_to_inbox(self.mailbox, raw, **kw)


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _to_toml(data: dict) -> str:
    """The small TOML subset our configuration uses: tables of scalars/lists, and arrays of tables."""
    out = []
    for key, value in data.items():
        if isinstance(value, dict):
            out.append(f"[{key}]")
            out += [f"{k} = {_toml_value(v)}" for k, v in value.items()]
            out.append("")
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for item in value:
                out.append(f"[[{key}]]")
                out += [f"{k} = {_toml_value(v)}" for k, v in item.items()]
                out.append("")
    return "\n".join(out)
