"""A real, private mail server for tests, benchmarks and the demo.

``MailServer`` runs its own Dovecot instance (IMAP + LMTP) in a directory of
its own, on free ports of 127.0.0.1, plus an aiosmtpd SMTP endpoint that
hands every accepted message to Dovecot over LMTP. So what the bot sends
over SMTP lands in real Maildirs that tests read back over IMAP, and mail
"arriving from outside" is delivered straight over LMTP (like the
coordinator's MX would).

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
import asyncio
import atexit
import email
import email.policy
import json
import logging
import os
import pwd
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
from email.message import EmailMessage
from pathlib import Path

log = logging.getLogger("mailbot.testing.mailserver")

MAIL_USER = "mailbot-mail"
DEFAULT_PASSWORD = "secret"


class MailServerError(RuntimeError):
    """The test mail server could not be started or used."""


def dovecot_available() -> bool:
    return bool(shutil.which("dovecot") and shutil.which("doveadm") and Path("/usr/lib/dovecot/lmtp").exists())


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def ensure_mail_user(name: str = MAIL_USER) -> tuple[int, int, str]:
    """The (uid, gid, name) mail is stored as. As root: a system user, created once."""
    if os.geteuid() != 0:
        pw = pwd.getpwuid(os.geteuid())
        return pw.pw_uid, pw.pw_gid, pw.pw_name
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "-r", "-M", "-s", "/usr/sbin/nologin", name],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
        )
        try:  # a parallel run may have created it first: either way it must exist now
            pw = pwd.getpwnam(name)
        except KeyError:
            raise MailServerError(f"could not create the system user {name} for mail storage") from None
    return pw.pw_uid, pw.pw_gid, pw.pw_name


def _pid_alive(pid: int) -> bool:
    """True if ``pid`` runs (a zombie waiting to be reaped counts as gone)."""
    if pid <= 0:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
        return stat[stat.rindex(b")") + 2:stat.rindex(b")") + 3] not in (b"Z", b"X")
    except FileNotFoundError:
        return False
    except (OSError, ValueError):
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _die_with_parent():
    """preexec_fn: Dovecot gets SIGTERM if we are killed (even by SIGKILL), so no
    instance outlives a killed test run. Only from the main thread: the
    signal fires when the *thread* that started it ends."""
    if threading.current_thread() is not threading.main_thread() or not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    parent = os.getpid()

    def preexec():
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # parent already gone
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


# -- SMTP relay ------------------------------------------------------------

class _RelayHandler:
    """aiosmtpd handler: accept RCPTs for known users, hand the message to Dovecot over LMTP."""

    def __init__(self, server: "MailServer"):
        self.server = server

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if not self.server.has_user(address):
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        data = envelope.original_content or envelope.content
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        failures = []
        loop = asyncio.get_running_loop()
        # One LMTP transaction per recipient: smtplib.LMTP reads a single
        # reply after DATA, while LMTP answers once per recipient. Each in a
        # thread, so that several SMTP sessions deliver at once (as a real
        # provider would), not one after the other on this event loop.
        for rcpt in envelope.rcpt_tos:
            try:
                await loop.run_in_executor(None, self.server._lmtp_send, envelope.mail_from or "", rcpt, data)
            except smtplib.SMTPResponseException as exc:
                failures.append((exc.smtp_code, exc.smtp_error))
            except smtplib.SMTPRecipientsRefused as exc:
                code, msg = next(iter(exc.recipients.values()))
                failures.append((code, msg))
            except (OSError, smtplib.SMTPException) as exc:
                failures.append((451, str(exc).encode()))
        if not failures:
            self.server.relayed += 1
            return "250 OK delivered"
        code, msg = failures[0]
        if isinstance(msg, bytes):
            msg = msg.decode("utf-8", "replace")
        msg = " ".join(str(msg).split())
        if len(failures) < len(envelope.rcpt_tos):
            msg = f"partly delivered: {msg}"
        return f"{code if 400 <= code < 600 else 451} {msg}"


class _Authenticator:
    def __init__(self, server: "MailServer"):
        self.server = server

    def __call__(self, smtp, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult, LoginPassword

        if isinstance(auth_data, LoginPassword):
            user = auth_data.login.decode("utf-8", "replace")
            pw = auth_data.password.decode("utf-8", "replace")
            ok = self.server._users.get(user.lower()) == pw
            return AuthResult(success=ok, handled=False)
        return AuthResult(success=False, handled=False)


# -- the server ------------------------------------------------------------

def _from_address(raw: bytes) -> str:
    """The From addr-spec as DMARC reads it ("" when there is no single mailbox)."""
    from mailbot.mail.from_line import parse_from
    from mailbot.mail.reading import header_block

    msg = email.message_from_bytes(header_block(raw), policy=email.policy.compat32)
    addr, _display, _problem = parse_from([str(v) for k, v in msg.items() if k.lower() == "from"])
    return addr


def _org(domain: str) -> str:
    from mailbot.mail.senders import organisational_domain

    return organisational_domain(domain)


def stamp_authentication_results(raw: bytes, authserv_id: str, *, envelope: str, from_address: str,
                                 sending_domain: str | None = None, results: str | None = None,
                                 strip_claims: bool = True) -> bytes:
    """``raw`` as a receiving MX would store it: its own Authentication-Results on top, any header
    that claims its authserv-id removed. SPF passes when the sending server is authorised for the
    envelope domain; DMARC passes when that SPF pass aligns with the From domain."""
    import re as _re

    env_domain = envelope.rpartition("@")[2].lower()
    from_domain = from_address.rpartition("@")[2].lower()
    if results is None:
        sender = (sending_domain or env_domain).lower()
        spf = "pass" if env_domain and _org(sender) and _org(sender) == _org(env_domain) else "fail"
        parts = [f"spf={spf} smtp.mailfrom={envelope or 'unknown.invalid'}", "dkim=none (no signature)"]
        if not from_domain:
            parts.append("dmarc=permerror (no single From address)")
        else:
            aligned = spf == "pass" and _org(env_domain) == _org(from_domain)
            parts.append(f"dmarc={'pass' if aligned else 'fail (p=reject)'} header.from={from_domain}")
        results = "; ".join(parts)
    # drop any Authentication-Results the message arrived with that claims to be ours
    sep = raw.find(b"\r\n\r\n")
    nl = b"\r\n"
    if sep < 0:
        sep, nl = raw.find(b"\n\n"), b"\n"
    head, body = (raw[:sep], raw[sep:]) if sep >= 0 else (raw, b"")
    lines = head.split(nl)
    kept, skipping = [], False
    ours = _re.compile(rb"(?i)^authentication-results\s*:\s*" + _re.escape(authserv_id.encode()) + rb"\s*(;|$)")
    for line in lines:
        if line[:1] in (b" ", b"\t") and skipping:
            continue
        skipping = strip_claims and bool(ours.match(line))
        if not skipping:
            kept.append(line)
    header = f"Authentication-Results: {authserv_id}; {results}".encode() + nl
    return header + nl.join(kept) + body


class MailServer:
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
        self.imap_port: int = ports.get("imap") or 0
        self.lmtp_port: int = ports.get("lmtp") or 0
        self.smtp_port: int = ports.get("smtp") or 0
        self._users: dict[str, str] = {}
        self._lock = threading.Lock()
        self._controller = None
        self._dovecot_running = False
        self._proc: subprocess.Popen | None = None
        self.relayed = 0
        self.conf = self.dir / "dovecot.conf"
        self.root = self.dir  # see _choose_root()
        self._own_root = False
        self._set_paths()
        self.uid = self.gid = None

    # -- life cycle -------------------------------------------------------

    def __enter__(self) -> "MailServer":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> "MailServer":
        if not dovecot_available():
            raise MailServerError("Dovecot is not installed (run scripts/setup)")
        self.uid, self.gid, mail_user_name = ensure_mail_user()
        self.dir.mkdir(parents=True, exist_ok=True)
        self._choose_root()
        for sub in ("run", "state"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
            os.chmod(self.root / sub, 0o755)
        self.maildir_root.mkdir(exist_ok=True)
        os.chmod(self.maildir_root, 0o755)
        if os.geteuid() == 0:
            os.chown(self.maildir_root, self.uid, self.gid)
        self._stop_leftover()
        if self.users_dir.exists():  # restarting on an existing directory: keep its users
            self._users.update(self._read_passwd())
        for address, password in self._users.items():
            self._write_user(address, password)
        self.imap_port = self.imap_port or free_port()
        self.lmtp_port = self.lmtp_port or free_port()
        self.smtp_port = self.smtp_port or free_port()
        self._write_conf(mail_user_name)
        atexit.register(self.stop)
        self.start_imap()
        self.start_smtp()
        return self

    def stop(self) -> None:
        self.stop_smtp()
        self.stop_imap()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)
            try:
                (self.dir / "dovecot-root").unlink()
            except OSError:
                pass
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def _choose_root(self) -> None:
        """Where Dovecot's own users find sockets, users and mail.

        Dovecot's login, auth and mail processes do not run as root: every
        directory above their files needs o+x. When ``self.dir`` is not
        reachable that way (a 0700 home or pytest tmp_path) they live in a
        0755 temporary directory instead, removed again by stop().
        """
        self.root = self.dir
        self._own_root = False
        if os.geteuid() != 0 or all(os.stat(p).st_mode & 0o001 for p in self.dir.parents):
            if os.geteuid() == 0:
                os.chmod(self.dir, 0o755)
            self._set_paths()
            return
        pointer = self.dir / "dovecot-root"
        try:
            root = Path(pointer.read_text(encoding="utf-8").strip())
        except OSError:
            root = None
        if root is None or not root.is_dir():
            root = Path(tempfile.mkdtemp(prefix="mailbot-mailserver-data-"))
            os.chmod(root, 0o755)
            pointer.write_text(str(root), encoding="utf-8")
        self.root = root
        self._own_root = True
        self._set_paths()

    def _set_paths(self) -> None:
        self.users_dir = self.root / "users"
        self.maildir_root = self.root / "mail"

    @property
    def ports(self) -> dict:
        return {"host": self.host, "imap": self.imap_port, "lmtp": self.lmtp_port, "smtp": self.smtp_port}

    # -- dovecot ----------------------------------------------------------

    def _write_conf(self, mail_user_name: str) -> None:
        d = self.root
        extra = ""
        if os.geteuid() != 0:  # unprivileged: everything runs as the current user
            extra = (f"default_login_user = {mail_user_name}\n"
                     f"default_internal_user = {mail_user_name}\n"
                     f"default_internal_group = {mail_user_name}\n"
                     # an unprivileged Dovecot cannot chroot its helper processes
                     "service anvil {\n  chroot =\n}\n")
        login_chroot = "chroot =" if os.geteuid() != 0 else ""
        text = f"""# written by mailbot.sandbox.mailserver: a private test instance
base_dir = {d}/run
state_dir = {d}/state
instance_name = mailbot-{d.name}
log_path = {self.dir}/dovecot.log
info_log_path = {self.dir}/dovecot.log
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_cache_size = 0
# no extra delay after a wrong password. NB: Dovecot's per-IP auth penalty still
# delays the next logins from 127.0.0.1 by ~4 s: try wrong passwords on a private server.
auth_failure_delay = 0 secs
protocols = imap lmtp
mail_location = maildir:{d}/mail/%u
first_valid_uid = {min(self.uid, 500) if self.uid else 0}
mail_uid = {self.uid}
mail_gid = {self.gid}
imap_idle_notify_interval = 1 secs
mailbox_idle_check_interval = 1 secs
shutdown_clients = yes
lmtp_save_to_detail_mailbox = no
{extra}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%Lu {d}/users/%Lu
}}
userdb {{
  driver = passwd-file
  args = username_format=%Lu {d}/users/%Lu
  default_fields = uid={self.uid} gid={self.gid} home={d}/mail/%Lu
}}
service imap-login {{
  {login_chroot}
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  {login_chroot}
  inet_listener pop3 {{
    port = 0
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {self.lmtp_port}
  }}
}}
"""
        self.conf.write_text(text, encoding="utf-8")
        os.chmod(self.conf, 0o644)

    def _master_pid(self) -> int | None:
        try:
            return int((self.root / "run" / "master.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def _stop_leftover(self) -> None:
        """An old instance left running in this directory is stopped first."""
        pid = self._master_pid()
        if pid and _pid_alive(pid) and self.conf.exists():
            self._dovecot_running = True
            self.stop_imap()

    def start_imap(self) -> None:
        """Start (or restart) Dovecot with the same configuration, data and ports.

        Dovecot runs in the foreground (``-F``) as our child, in a session
        of its own, so that we reap it ourselves: on these machines an
        orphaned daemon's zombie lingers ~2 s and blocks a restart.
        """
        if self._dovecot_running:
            return
        out = self.dir / "dovecot-start.out"
        with open(out, "wb") as fh:
            self._proc = subprocess.Popen(["dovecot", "-F", "-c", str(self.conf)], stdin=subprocess.DEVNULL,
                                          stdout=fh, stderr=subprocess.STDOUT, start_new_session=True,
                                          preexec_fn=_die_with_parent())
        self._dovecot_running = True
        deadline = time.monotonic() + 10
        while not (_port_open(self.imap_port) and _port_open(self.lmtp_port)):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop_imap()
                msg = out.read_text(errors="replace").strip()[:400]
                raise MailServerError(f"dovecot did not start: {msg or 'see ' + str(self.dir / 'dovecot.log')}")
            time.sleep(0.01)

    def stop_imap(self, grace: float = 0.3) -> None:
        """Stop Dovecot (IMAP and LMTP); clients see BYE / a closed connection.

        SIGTERM (what ``doveadm stop`` sends) to the master; whatever is left
        of the instance after ``grace`` seconds is killed (the master alone
        takes ~1 s to exit). Maildir delivery is
        atomic, so nothing delivered is lost.
        """
        if not self._dovecot_running:
            return
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(grace)
                except subprocess.TimeoutExpired:
                    try:
                        os.killpg(proc.pid, signal.SIGKILL)
                    except OSError:
                        proc.kill()
                    proc.wait(5)
        else:  # an instance we did not start (left over in this directory)
            pid = self._master_pid()
            subprocess.run(["doveadm", "-c", str(self.conf), "stop"], stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
            if pid and _pid_alive(pid):
                try:
                    os.killpg(pid, signal.SIGKILL)
                except OSError:
                    pass
        deadline = time.monotonic() + 5
        while (_port_open(self.imap_port) or _port_open(self.lmtp_port)) and time.monotonic() < deadline:
            time.sleep(0.02)
        self._dovecot_running = False

    # -- SMTP relay -------------------------------------------------------

    def start_smtp(self) -> None:
        if self._controller is not None:
            return
        from aiosmtpd.controller import Controller

        kwargs = dict(hostname=self.host, port=self.smtp_port, data_size_limit=64 * 1024 * 1024,
                      ready_timeout=5.0)
        if self.smtp_auth:
            kwargs.update(authenticator=_Authenticator(self), auth_required=True, auth_require_tls=False)
        ctl = Controller(_RelayHandler(self), **kwargs)
        ctl.start()
        self._controller = ctl

    def stop_smtp(self) -> None:
        ctl, self._controller = self._controller, None
        if ctl is not None:
            try:
                ctl.stop()
            except Exception:  # already stopped / loop gone
                pass

    def _lmtp_send(self, mail_from: str, rcpt: str, data: bytes) -> None:
        with smtplib.LMTP(self.host, self.lmtp_port, timeout=15) as lmtp:
            lmtp.sendmail(mail_from, [rcpt], data)

    # -- users ------------------------------------------------------------

    # One passwd-file per user (users/<address>): Dovecot re-checks a shared
    # passwd-file at most once a second, while a new per-user file is read
    # on the first lookup, so a user added while running exists at once.

    def _read_passwd(self) -> dict[str, str]:
        users = {}
        for f in sorted(self.users_dir.glob("*")):
            if f.name.startswith("."):
                continue
            parts = f.read_text(encoding="utf-8").split(":")
            if len(parts) >= 2 and parts[1].startswith("{PLAIN}"):
                users[parts[0]] = parts[1][len("{PLAIN}"):]
        return users

    def _write_user(self, address: str, password: str) -> None:
        self.users_dir.mkdir(exist_ok=True)
        os.chmod(self.users_dir, 0o755)
        tmp = self.users_dir / f".tmp-{address}"
        tmp.write_text(f"{address}:{{PLAIN}}{password}::::::\n", encoding="utf-8")
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.users_dir / address)

    def add_user(self, address: str, password: str = DEFAULT_PASSWORD) -> str:
        """Create a mailbox user; works while the server runs. Returns the address."""
        address = address.strip().lower()
        if (not address or address.startswith(".") or any(c in address for c in ":/\\\n\r\t ")
                or ":" in password or "\n" in password):
            raise ValueError("user names and passwords may not contain ':', '/', spaces or newlines")
        with self._lock:
            self._write_user(address, password)
            self._users[address] = password
        return address

    def has_user(self, address: str) -> bool:
        return address.strip().lower() in self._users

    def password(self, address: str) -> str:
        return self._users[address.strip().lower()]

    # -- helpers for tests ------------------------------------------------

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
        from_addr = _from_address(raw)
        envelope = mail_from if mail_from is not None else (from_addr or "sender@outside.test")
        if authenticate:
            raw = stamp_authentication_results(raw, self.authserv_id, envelope=envelope, from_address=from_addr,
                                               sending_domain=sending_domain, results=results,
                                               strip_claims=strip_claims)
        self._lmtp_send(envelope, address, raw)

    def imap(self, address: str):
        """A logged-in IMAPClient for ``address`` (caller logs out)."""
        from imapclient import IMAPClient

        client = IMAPClient(self.host, self.imap_port, ssl=False, timeout=10)
        client.login(address, self.password(address))
        return client

    def fetch_all(self, address: str, folder: str = "INBOX") -> list[EmailMessage]:
        """Every message in ``folder`` (in UID order), read without changing flags."""
        client = self.imap(address)
        try:
            if not client.folder_exists(folder):
                return []
            client.select_folder(folder, readonly=True)
            uids = sorted(client.search("ALL"))
            if not uids:
                return []
            data = client.fetch(uids, [b"BODY.PEEK[]"])
            return [email.message_from_bytes(data[u][b"BODY[]"], policy=email.policy.default) for u in uids]
        finally:
            try:
                client.logout()
            except Exception:
                pass

    def count(self, address: str, folder: str = "INBOX") -> int:
        client = self.imap(address)
        try:
            if not client.folder_exists(folder):
                return 0
            return int(client.folder_status(folder, [b"MESSAGES"])[b"MESSAGES"])
        finally:
            try:
                client.logout()
            except Exception:
                pass

    def wait_for(self, address: str, count: int, timeout: float = 10.0,
                 folder: str = "INBOX") -> list[EmailMessage]:
        """Poll until ``folder`` holds at least ``count`` messages; return them all."""
        deadline = time.monotonic() + timeout
        while True:
            n = self.count(address, folder)
            if n >= count:
                return self.fetch_all(address, folder)
            if time.monotonic() > deadline:
                raise TimeoutError(f"{address}/{folder}: {n} message(s) after {timeout:.1f}s, wanted {count}")
            time.sleep(0.05)


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
        if _pid_alive(int(info.get("pid", 0) or 0)):
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
    if pid and _pid_alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
    conf = directory / "dovecot.conf"
    if conf.exists():  # belt and braces: no Dovecot left behind
        subprocess.run(["doveadm", "-c", str(conf), "stop"], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
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
