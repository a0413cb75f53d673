"""A real, private mail server for tests, benchmarks and the demo: the front class and its command line.

``MailServer`` runs its own Dovecot instance (IMAP + LMTP, :mod:`mailbot.sandbox.dovecot`) in a
directory of its own, on free ports of 127.0.0.1, plus an aiosmtpd SMTP endpoint
(:mod:`mailbot.sandbox.relay`) that hands every accepted message to Dovecot over LMTP. So what the bot
sends over SMTP lands in real Maildirs that tests read back over IMAP (:mod:`mailbot.sandbox.mailboxes`),
and mail "arriving from outside" is delivered straight over LMTP (like the coordinator's MX would), with
the MX's Authentication-Results (:mod:`mailbot.sandbox.mx`).

    with MailServer(tmpdir) as ms:
        ms.add_user("coordinator@net.test", "pw")
        ms.deliver_to_inbox("coordinator@net.test", raw_bytes)
        msgs = ms.wait_for("coordinator@net.test", 1, timeout=5)

Command line (for bench scripts and the demo)::

    python -m mailbot.sandbox.mailserver start DIR --users a@x,b@y   # prints ports as JSON
    python -m mailbot.sandbox.mailserver stop DIR
"""

from __future__ import annotations

import argparse
import atexit
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from email.message import EmailMessage
from pathlib import Path

from mailbot.sandbox.dovecot import Dovecot, doveadm_stop, dovecot_available
from mailbot.sandbox.mailboxes import MailboxReader
from mailbot.sandbox.mx import from_address, stamp_authentication_results
from mailbot.sandbox.processes import MAIL_USER, MailServerError, free_port, pid_alive, port_open
from mailbot.sandbox.relay import lmtp_send, start_relay, stop_relay

__all__ = ["DEFAULT_PASSWORD", "MAIL_USER", "MailServer", "MailServerError", "dovecot_available", "free_port",
           "main", "port_open", "stamp_authentication_results"]

log = logging.getLogger("mailbot.testing.mailserver")

DEFAULT_PASSWORD = "secret"


class MailServer(MailboxReader):
    """Private Dovecot (IMAP+LMTP) + aiosmtpd relay, rooted at ``directory``."""

    host = "127.0.0.1"
    #: the authserv-id of this server's Authentication-Results (what a network's config trusts)
    authserv_id = "mx.mailbot-test.example"

    def __init__(self, directory: str | os.PathLike | None = None, *, smtp_auth: bool = False,
                 ports: dict | None = None):
        self._own_dir = directory is None
        if directory is None:  # a fresh directory of our own, removed again by stop()
            directory = tempfile.mkdtemp(prefix="mailbot-mailserver-")
            os.chmod(directory, 0o755)
        self.dir = Path(directory).resolve()
        self.smtp_auth = smtp_auth
        ports = ports or {}
        self.dovecot = Dovecot(self.dir, imap_port=ports.get("imap") or 0, lmtp_port=ports.get("lmtp") or 0)
        self.smtp_port: int = ports.get("smtp") or 0
        self._users: dict[str, str] = {}
        self._lock = threading.Lock()
        self._controller = None
        self.relayed = 0

    # -- life cycle -------------------------------------------------------

    def __enter__(self) -> "MailServer":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> "MailServer":
        self.dovecot.prepare()
        if self.dovecot.users_dir.exists():  # restarting on an existing directory: keep its users
            self._users.update(self.dovecot.read_passwd())
        for address, password in self._users.items():
            self.dovecot.write_user(address, password)
        self.dovecot.configure()
        self.smtp_port = self.smtp_port or free_port()
        atexit.register(self.stop)
        self.start_imap()
        self.start_smtp()
        return self

    def stop(self) -> None:
        self.stop_smtp()
        self.stop_imap()
        self.dovecot.remove_root()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def root(self) -> Path:
        """Where Dovecot's sockets, users and mail are (``dir`` or a 0755 temporary folder)."""
        return self.dovecot.root

    @property
    def maildir_root(self) -> Path:
        return self.dovecot.maildir_root

    @property
    def imap_port(self) -> int:
        return self.dovecot.imap_port

    @property
    def lmtp_port(self) -> int:
        return self.dovecot.lmtp_port

    @property
    def ports(self) -> dict:
        return {"host": self.host, "imap": self.imap_port, "lmtp": self.lmtp_port, "smtp": self.smtp_port}

    def start_imap(self) -> None:
        """Start (or restart) Dovecot with the same configuration, data and ports."""
        self.dovecot.start()

    def stop_imap(self, grace: float = 0.3) -> None:
        """Stop Dovecot (IMAP and LMTP); clients see BYE / a closed connection."""
        self.dovecot.stop(grace)

    def start_smtp(self) -> None:
        if self._controller is None:
            self._controller = start_relay(self, self.host, self.smtp_port, smtp_auth=self.smtp_auth)

    def stop_smtp(self) -> None:
        ctl, self._controller = self._controller, None
        stop_relay(ctl)

    def lmtp_send(self, mail_from: str, rcpt: str, data: bytes) -> None:
        lmtp_send(self.host, self.lmtp_port, mail_from, rcpt, data)

    # -- users ------------------------------------------------------------

    def add_user(self, address: str, password: str = DEFAULT_PASSWORD) -> str:
        """Create a mailbox user; works while the server runs. Returns the address."""
        address = address.strip().lower()
        if (not address or address.startswith(".") or any(c in address for c in ":/\\\n\r\t ")
                or ":" in password or "\n" in password):
            raise ValueError("user names and passwords may not contain ':', '/', spaces or newlines")
        with self._lock:
            self.dovecot.write_user(address, password)
            self._users[address] = password
        return address

    def has_user(self, address: str) -> bool:
        return address.strip().lower() in self._users

    def password(self, address: str) -> str:
        return self._users[address.strip().lower()]

    def password_ok(self, user: str, password: str) -> bool:
        """SMTP AUTH: whether ``password`` is ``user``'s."""
        return self._users.get(user.lower()) == password

    # -- mail from outside ------------------------------------------------

    def deliver_to_inbox(self, address: str, raw: bytes | str | EmailMessage,
                         mail_from: str | None = None, *, sending_domain: str | None = None,
                         results: str | None = None, authenticate: bool = True,
                         strip_claims: bool = True) -> None:
        """Deliver straight into a mailbox over LMTP, as the coordinator's MX would.

        Like a real MX, it first checks the sender and prepends its own Authentication-Results
        header (authserv-id :attr:`authserv_id`), after removing any that claims that id
        (RFC 8601 section 5). ``mail_from`` is the envelope sender (default: the From address,
        i.e. the agency's own server sends it); ``sending_domain`` is whose authorised server
        connects (default: the envelope's domain: genuine mail). A forger sends from their own
        domain: ``sending_domain="attacker.test"`` gives spf=fail for anyone else's envelope, and
        dmarc fails unless the From domain is the forger's own. ``results`` overrides what the MX
        writes; ``authenticate=False`` writes nothing (a server without checks); ``strip_claims=False``
        keeps the headers that claim our id (a careless MX).
        """
        if isinstance(raw, EmailMessage):
            raw = raw.as_bytes()
        elif isinstance(raw, str):
            raw = raw.encode("utf-8")
        from_addr = from_address(raw)
        envelope = mail_from if mail_from is not None else (from_addr or "sender@outside.test")
        if authenticate:
            raw = stamp_authentication_results(raw, self.authserv_id, envelope=envelope, from_address=from_addr,
                                               sending_domain=sending_domain, results=results,
                                               strip_claims=strip_claims)
        self.lmtp_send(envelope, address, raw)


# -- command line ----------------------------------------------------------

def _serve(directory: Path, users: list[str], password: str, smtp_auth: bool) -> int:
    ms = MailServer(directory, smtp_auth=smtp_auth)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        ms.start()
        for u in users:
            ms.add_user(u, password)
        info = dict(ms.ports, dir=str(ms.dir), users=sorted(ms._users), password=password, pid=os.getpid())
        tmp = ms.dir / "ports.json.tmp"
        tmp.write_text(json.dumps(info), encoding="utf-8")
        os.replace(tmp, ms.dir / "ports.json")
        while not stop.wait(1):
            pass
    finally:
        ms.stop()
        try:
            (ms.dir / "ports.json").unlink()
        except OSError:
            pass
    return 0


def _cli_start(directory: Path, users: list[str], password: str, smtp_auth: bool) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    ports_file = directory / "ports.json"
    if ports_file.exists():
        info = json.loads(ports_file.read_text())
        if pid_alive(int(info.get("pid", 0) or 0)):
            print(json.dumps(info))
            return 0
        ports_file.unlink()
    cmd = [sys.executable, "-m", "mailbot.sandbox.mailserver", "serve", str(directory),
           "--users", ",".join(users), "--password", password]
    if smtp_auth:
        cmd.append("--smtp-auth")
    logf = open(directory / "serve.log", "ab")
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                            start_new_session=True, cwd=str(Path(__file__).resolve().parents[2]))
    deadline = time.monotonic() + 15
    while not ports_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            print(f"mail server did not start; see {directory}/serve.log", file=sys.stderr)
            return 1
        time.sleep(0.05)
    print(ports_file.read_text())
    return 0


def _cli_stop(directory: Path) -> int:
    ports_file = directory / "ports.json"
    pid = 0
    if ports_file.exists():
        pid = int(json.loads(ports_file.read_text()).get("pid", 0) or 0)
    if pid and pid_alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
    conf = directory / "dovecot.conf"
    if conf.exists():  # belt and braces: no Dovecot left behind
        doveadm_stop(conf)
    print("stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="mailserver", description="Private Dovecot + SMTP relay for tests and the demo.")
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("start", "serve"):
        s = sub.add_parser(name, help="start in the background and print ports as JSON" if name == "start"
                           else argparse.SUPPRESS)
        s.add_argument("dir", type=Path)
        s.add_argument("--users", default="", help="comma-separated addresses to create")
        s.add_argument("--password", default=DEFAULT_PASSWORD)
        s.add_argument("--smtp-auth", action="store_true", help="require SMTP AUTH (users' passwords)")
    s = sub.add_parser("stop", help="stop the server running in DIR")
    s.add_argument("dir", type=Path)
    args = p.parse_args(argv)
    try:
        if args.cmd == "stop":
            return _cli_stop(args.dir.resolve())
        users = [u.strip() for u in args.users.split(",") if u.strip()]
        if args.cmd == "serve":
            return _serve(args.dir.resolve(), users, args.password, args.smtp_auth)
        return _cli_start(args.dir.resolve(), users, args.password, args.smtp_auth)
    except (MailServerError, OSError, ValueError) as exc:
        print(f"mailserver: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
