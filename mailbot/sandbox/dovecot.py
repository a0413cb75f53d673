"""A private Dovecot instance (IMAP + LMTP) for the sandbox: its folders, passwd-files, configuration and process.

:class:`Dovecot` is the part of :class:`mailbot.sandbox.mailserver.MailServer` that Dovecot reads and runs:
where its files live (:meth:`Dovecot.choose_root`), one passwd-file per user, the ``dovecot.conf`` it is
started with, and the master process, run in the foreground as our child so that we reap it ourselves.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from mailbot.sandbox.processes import (MailServerError, die_with_parent, ensure_mail_user, free_port, pid_alive,
                                       port_open)

#: the configuration of a private instance (see Dovecot.conf_text for the fields)
CONF_TEMPLATE = """# written by mailbot.sandbox.mailserver: a private test instance
base_dir = {root}/run
state_dir = {root}/state
instance_name = mailbot-{name}
log_path = {dir}/dovecot.log
info_log_path = {dir}/dovecot.log
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_cache_size = 0
# no extra delay after a wrong password. NB: Dovecot's per-IP auth penalty still
# delays the next logins from 127.0.0.1 by ~4 s: try wrong passwords on a private server.
auth_failure_delay = 0 secs
protocols = imap lmtp
mail_location = maildir:{root}/mail/%u
first_valid_uid = {first_valid_uid}
mail_uid = {uid}
mail_gid = {gid}
imap_idle_notify_interval = 1 secs
mailbox_idle_check_interval = 1 secs
shutdown_clients = yes
lmtp_save_to_detail_mailbox = no
{extra}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%Lu {root}/users/%Lu
}}
userdb {{
  driver = passwd-file
  args = username_format=%Lu {root}/users/%Lu
  default_fields = uid={uid} gid={gid} home={root}/mail/%Lu
}}
service imap-login {{
  {login_chroot}
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
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
    port = {lmtp_port}
  }}
}}
"""


def dovecot_available() -> bool:
    return bool(shutil.which("dovecot") and shutil.which("doveadm") and Path("/usr/lib/dovecot/lmtp").exists())


class Dovecot:
    """One private Dovecot rooted at ``directory`` (its conf and log there; sockets, users and mail under root)."""

    def __init__(self, directory: Path, *, imap_port: int = 0, lmtp_port: int = 0):
        self.dir = directory
        self.conf = directory / "dovecot.conf"
        self.imap_port = imap_port
        self.lmtp_port = lmtp_port
        self.root = directory  # see choose_root()
        self._own_root = False
        self._set_paths()
        self.uid = self.gid = None
        self.mail_user_name: str | None = None
        self.running = False
        self._proc: subprocess.Popen | None = None

    # -- files ------------------------------------------------------------

    def prepare(self) -> None:
        """The mail user and the folders, with no old instance left running in them."""
        if not dovecot_available():
            raise MailServerError("Dovecot is not installed (run scripts/setup)")
        self.uid, self.gid, self.mail_user_name = ensure_mail_user()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.choose_root()
        for sub in ("run", "state"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
            os.chmod(self.root / sub, 0o755)
        self.maildir_root.mkdir(exist_ok=True)
        os.chmod(self.maildir_root, 0o755)
        if os.geteuid() == 0:
            os.chown(self.maildir_root, self.uid, self.gid)
        self.stop_leftover()

    def choose_root(self) -> None:
        """Where Dovecot's own users find sockets, users and mail.

        Dovecot's login, auth and mail processes do not run as root: every
        directory above their files needs o+x. When ``self.dir`` is not
        reachable that way (a 0700 home or pytest tmp_path) they live in a
        0755 temporary directory instead, removed again by remove_root().
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

    def remove_root(self) -> None:
        """The temporary root of choose_root(), if there is one, is removed."""
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)
            try:
                (self.dir / "dovecot-root").unlink()
            except OSError:
                pass

    def _set_paths(self) -> None:
        self.users_dir = self.root / "users"
        self.maildir_root = self.root / "mail"

    # One passwd-file per user (users/<address>): Dovecot re-checks a shared
    # passwd-file at most once a second, while a new per-user file is read
    # on the first lookup, so a user added while running exists at once.

    def read_passwd(self) -> dict[str, str]:
        users = {}
        for f in sorted(self.users_dir.glob("*")):
            if f.name.startswith("."):
                continue
            parts = f.read_text(encoding="utf-8").split(":")
            if len(parts) >= 2 and parts[1].startswith("{PLAIN}"):
                users[parts[0]] = parts[1][len("{PLAIN}"):]
        return users

    def write_user(self, address: str, password: str) -> None:
        self.users_dir.mkdir(exist_ok=True)
        os.chmod(self.users_dir, 0o755)
        tmp = self.users_dir / f".tmp-{address}"
        tmp.write_text(f"{address}:{{PLAIN}}{password}::::::\n", encoding="utf-8")
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.users_dir / address)

    # -- configuration ----------------------------------------------------

    def configure(self) -> None:
        """Free ports for IMAP and LMTP where none were given, and dovecot.conf written for them."""
        self.imap_port = self.imap_port or free_port()
        self.lmtp_port = self.lmtp_port or free_port()
        self.conf.write_text(self.conf_text(), encoding="utf-8")
        os.chmod(self.conf, 0o644)

    def conf_text(self) -> str:
        extra = ""
        if os.geteuid() != 0:  # unprivileged: everything runs as the current user
            extra = (f"default_login_user = {self.mail_user_name}\n"
                     f"default_internal_user = {self.mail_user_name}\n"
                     f"default_internal_group = {self.mail_user_name}\n"
                     # an unprivileged Dovecot cannot chroot its helper processes
                     "service anvil {\n  chroot =\n}\n")
        return CONF_TEMPLATE.format(
            root=self.root, dir=self.dir, name=self.root.name, extra=extra,
            login_chroot="chroot =" if os.geteuid() != 0 else "",
            first_valid_uid=min(self.uid, 500) if self.uid else 0, uid=self.uid, gid=self.gid,
            imap_port=self.imap_port, lmtp_port=self.lmtp_port)

    # -- the process ------------------------------------------------------

    def _master_pid(self) -> int | None:
        try:
            return int((self.root / "run" / "master.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def stop_leftover(self) -> None:
        """An old instance left running in this directory is stopped first."""
        pid = self._master_pid()
        if pid and pid_alive(pid) and self.conf.exists():
            self.running = True
            self.stop()

    def _ports_open(self) -> bool:
        return port_open(self.imap_port) and port_open(self.lmtp_port)

    def start(self) -> None:
        """Start (or restart) Dovecot with the same configuration, data and ports.

        Dovecot runs in the foreground (``-F``) as our child, in a session
        of its own, so that we reap it ourselves: on these machines an
        orphaned daemon's zombie lingers ~2 s and blocks a restart.
        """
        if self.running:
            return
        out = self.dir / "dovecot-start.out"
        with open(out, "wb") as fh:
            self._proc = subprocess.Popen(["dovecot", "-F", "-c", str(self.conf)], stdin=subprocess.DEVNULL,
                                          stdout=fh, stderr=subprocess.STDOUT, start_new_session=True,
                                          preexec_fn=die_with_parent())
        self.running = True
        deadline = time.monotonic() + 10
        while not self._ports_open():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                msg = out.read_text(errors="replace").strip()[:400]
                raise MailServerError(f"dovecot did not start: {msg or 'see ' + str(self.dir / 'dovecot.log')}")
            time.sleep(0.01)

    def stop(self, grace: float = 0.3) -> None:
        """Stop Dovecot (IMAP and LMTP); clients see BYE / a closed connection.

        SIGTERM (what ``doveadm stop`` sends) to the master; whatever is left
        of the instance after ``grace`` seconds is killed (the master alone
        takes ~1 s to exit). Maildir delivery is
        atomic, so nothing delivered is lost.
        """
        if not self.running:
            return
        proc, self._proc = self._proc, None
        if proc is not None:
            _end_child(proc, grace)
        else:  # an instance we did not start (left over in this directory)
            pid = self._master_pid()
            doveadm_stop(self.conf)
            if pid and pid_alive(pid):
                try:
                    os.killpg(pid, signal.SIGKILL)
                except OSError:
                    pass
        deadline = time.monotonic() + 5
        while (port_open(self.imap_port) or port_open(self.lmtp_port)) and time.monotonic() < deadline:
            time.sleep(0.02)
        self.running = False


def _end_child(proc: subprocess.Popen, grace: float) -> None:
    """SIGTERM to our Dovecot child; its whole process group killed if it has not gone after ``grace`` s."""
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


def doveadm_stop(conf: Path) -> None:
    """``doveadm stop`` for the instance of ``conf`` (what runs from it is told to end)."""
    subprocess.run(["doveadm", "-c", str(conf), "stop"], stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
