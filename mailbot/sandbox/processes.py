"""Ports, processes and the system user that the sandbox mail server runs with (no Dovecot or SMTP here)."""

from __future__ import annotations

import os
import pwd
import signal
import socket
import subprocess
import sys
import threading

MAIL_USER = "mailbot-mail"


class MailServerError(RuntimeError):
    """The test mail server could not be started or used."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
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


def pid_alive(pid: int) -> bool:
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


def die_with_parent():
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
