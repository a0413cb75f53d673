"""Configuration: one TOML file (see config.example.toml), secrets from the environment or files.

`load_config(path)` returns a validated :class:`Config` or raises
:class:`ConfigError` with a message that names the key and says what to do.
"""

from __future__ import annotations

import os
import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mailbot.errors import ConfigError

PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def shipped(name: str) -> Path:
    """A folder shipped with mailbot: beside the package in a checkout (editable install), else the
    copy a regular install put under <prefix>/share/mailbot/."""
    beside = PACKAGE_ROOT / name
    if beside.is_dir():
        return beside
    return Path(sys.prefix) / "share" / "mailbot" / name


DEFAULT_RULES_DIR = shipped("rules")
DEFAULT_TEMPLATES_DIR = shipped("templates")

_EMAIL = re.compile(r"^[^@\s<>\"']+@[A-Za-z0-9.-]+\.[A-Za-z0-9-]+$|^[^@\s<>\"']+@localhost$|^[^@\s<>\"']+@[a-z0-9.-]+$")
TLS_MODES = ("ssl", "starttls", "none")


@dataclass(frozen=True)
class ServerConfig:
    host: str
    port: int
    tls: str
    username: str | None
    password: str | None


@dataclass(frozen=True)
class MemberConfig:
    agency: str
    contacts: tuple[str, ...]
    social_work: bool = False
    may_submit: bool = True


@dataclass
class Config:
    network_name: str
    timezone: str
    mailbox_address: str
    mailbox_display_name: str
    coordinators: list[str]
    first_case_number: int
    imap: ServerConfig
    smtp: ServerConfig
    imap_folder: str
    processed_folder: str
    quarantine_folder: str
    idle_renew_seconds: int
    data_dir: Path
    key_file: Path
    rules_dir: Path
    templates_dir: Path
    master_list_password: str
    members: list[MemberConfig]
    check_authentication_results: bool = True
    trusted_authserv_ids: list[str] = field(default_factory=list)
    #: safe by default: mail without an aligned, trusted SPF/DKIM/DMARC pass is refused
    require_authentication_pass: bool = True
    #: flood control: more than rate_limit_emails emails from one sender within the window are filed
    #: unhandled in Quarantine, with one reply to the sender and one alert to the coordinator per window
    rate_limit_emails: int = 20
    rate_limit_window_minutes: int = 60
    max_email_bytes: int = 25 * 1024 * 1024
    digest_time: str = "07:30"
    #: [commands] confirmation_hours: how long a coordinator command waits for its confirmation
    confirmation_hours: float = 24.0
    #: optional [imap] tuning: read_timeout, liveness_seconds, connect_timeout, full_pass_seconds, backoff_max
    imap_tuning: dict = field(default_factory=dict)
    #: [smtp] retry_base_seconds / retry_max_seconds: the outbox's backoff between attempts
    smtp_retry_base: float = 2.0
    smtp_retry_max: float = 300.0
    #: [smtp] connections: parallel SMTP connections of the outbox (a provider may allow only a few)
    smtp_connections: int = 4
    #: [master_list] interval_minutes: at most one Master List per member in this many minutes (the first
    #: change after a quiet spell goes at once; 0: one after every batch of mail)
    master_list_interval_minutes: float = 60.0
    #: [master_list] keep_copies: members are asked to keep only this many versions (0: no such line)
    master_list_keep_copies: int = 1
    #: [network] list_id: the List-Id of every email mailbot sends (default: from the network's name)
    list_id: str = ""
    source: Path | None = None

    @property
    def store_path(self) -> Path:
        return self.data_dir / "mailbot.db"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def domain(self) -> str:
        return self.mailbox_address.rsplit("@", 1)[1]

    def member_for(self, address: str) -> MemberConfig | None:
        a = address.strip().lower()
        for m in self.members:
            if a in m.contacts:
                return m
        return None


def _secret(section: dict, where: str, *, required: bool) -> str | None:
    if "password" in section:
        raise ConfigError(
            f"[{where}] has a password in clear. Put it in an environment variable "
            f"(password_env = \"NAME\") or a file (password_file = \"/path\") instead."
        )
    env = section.get("password_env")
    path = section.get("password_file")
    if env:
        value = os.environ.get(env)
        if value is None:
            if required:
                raise ConfigError(f"[{where}] password_env names {env}, but that environment variable is not set.")
            return None
        return value
    if path:
        p = Path(path)
        try:
            return p.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"[{where}] password_file {p} cannot be read ({exc.strerror}).") from exc
    if required:
        raise ConfigError(f"[{where}] needs password_env or password_file.")
    return None


def _server(raw: dict, where: str, *, default_port: int) -> ServerConfig:
    if not isinstance(raw, dict) or not raw.get("host"):
        raise ConfigError(f"[{where}] needs a host.")
    tls = str(raw.get("tls", "ssl")).lower()
    if tls not in TLS_MODES:
        raise ConfigError(f"[{where}] tls must be one of {', '.join(TLS_MODES)} (found {tls!r}).")
    try:
        port = int(raw.get("port", default_port))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"[{where}] port must be a number.") from exc
    username = raw.get("username")
    password = _secret(raw, where, required=bool(username))
    return ServerConfig(host=str(raw["host"]), port=port, tls=tls, username=username, password=password)


IMAP_TUNING = ("read_timeout", "liveness_seconds", "connect_timeout", "full_pass_seconds", "backoff_max")


def _seconds(raw: dict, key: str, where: str) -> float | None:
    if key not in raw:
        return None
    try:
        value = float(raw[key])
    except (TypeError, ValueError):
        value = 0.0
    if not value > 0:
        raise ConfigError(f"[{where}] {key} must be a positive number of seconds.")
    return value


def _connections(raw: dict) -> int:
    value = raw.get("connections", 4)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 32:
        raise ConfigError("[smtp] connections must be a whole number from 1 to 32.")
    return value


def _flag(sec: dict, key: str, default: bool) -> bool:
    value = sec.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"[security] {key} must be true or false (found {value!r}).")
    return value


def _whole(sec: dict, key: str, default: int, low: int, high: int) -> int:
    value = sec.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"[security] {key} must be a whole number from {low} to {high} (found {value!r}).")
    return value


_AUTHSERV_ID = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$")


def _authserv_ids(sec: dict) -> list[str]:
    ids = sec.get("trusted_authserv_ids", [])
    if isinstance(ids, str) or not isinstance(ids, list):
        raise ConfigError('[security] trusted_authserv_ids must be a list, e.g. ["mx.example.net"].')
    out = []
    for value in ids:
        if not isinstance(value, str) or not _AUTHSERV_ID.match(value.strip()):
            raise ConfigError(f"[security] trusted_authserv_ids: {value!r} is not a server name "
                              "(the first word of your provider's Authentication-Results header, e.g. mx.example.net).")
        out.append(value.strip().lower())
    return out


def _address(value, where: str) -> str:
    if not isinstance(value, str) or not _EMAIL.match(value.strip()):
        raise ConfigError(f"{where}: {value!r} is not an email address.")
    return value.strip().lower()


def _confirmation_hours(raw) -> float:
    """[commands] confirmation_hours: a number of hours above 0, at most 30 days (default 24)."""
    if not isinstance(raw, dict):
        raise ConfigError("[commands] must be a table.")
    value = raw.get("confirmation_hours", 24)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 720:
        raise ConfigError("[commands] confirmation_hours must be a number of hours above 0 and at most 720 "
                          "(30 days); 24 if left out.")
    return float(value)


def _master_list_window(ml: dict) -> tuple[float, int]:
    """[master_list] interval_minutes (0 to 10080, default 60) and keep_copies (0 to 100, default 1)."""
    interval = ml.get("interval_minutes", 60)
    if isinstance(interval, bool) or not isinstance(interval, (int, float)) or not 0 <= interval <= 7 * 24 * 60:
        raise ConfigError("[master_list] interval_minutes must be a number of minutes from 0 to 10080 "
                          "(at most one Master List per member in that time; 60 if left out).")
    keep = ml.get("keep_copies", 1)
    if isinstance(keep, bool) or not isinstance(keep, int) or not 0 <= keep <= 100:
        raise ConfigError("[master_list] keep_copies must be a whole number from 0 to 100 (how many versions "
                          "members are asked to keep; 0 for no such line; 1 if left out).")
    return float(interval), keep


_LIST_ID = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")


def _list_id(net: dict) -> str:
    value = net.get("list_id", "")
    if not isinstance(value, str) or (value and (not _LIST_ID.match(value) or "." not in value)):
        raise ConfigError(f"[network] list_id {value!r} must look like a domain name, e.g. "
                          "thornfield-network.example.org (members filter on it).")
    return value.lower()


def parse_config(data: dict, *, base: Path | None = None) -> Config:
    base = base or Path.cwd()
    net = data.get("network")
    if not isinstance(net, dict):
        raise ConfigError("The [network] section is missing.")
    name = net.get("name")
    if not name:
        raise ConfigError("[network] name is missing.")
    tz = net.get("timezone", "Europe/Dublin")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"[network] timezone {tz!r} is not a known time zone (e.g. Europe/Dublin).") from exc
    mailbox = _address(net.get("mailbox_address"), "[network] mailbox_address")
    coordinators = [_address(a, "[network] coordinators") for a in net.get("coordinators", [])]
    if not coordinators:
        raise ConfigError("[network] coordinators must list at least one address.")
    imap_raw = data.get("imap", {})
    smtp_raw = data.get("smtp", {})
    imap = _server(imap_raw, "imap", default_port=993)
    smtp = _server(smtp_raw, "smtp", default_port=587)
    paths = data.get("paths", {})
    data_dir = Path(paths.get("data_dir", "/var/lib/mailbot"))
    if not data_dir.is_absolute():
        data_dir = base / data_dir
    key_file = Path(paths["key_file"]) if paths.get("key_file") else data_dir / "names.key"
    rules_dir = Path(paths.get("rules_dir", DEFAULT_RULES_DIR))
    templates_dir = Path(paths.get("templates_dir", DEFAULT_TEMPLATES_DIR))
    for d, label in ((rules_dir, "rules_dir"), (templates_dir, "templates_dir")):
        if not d.is_dir():
            raise ConfigError(f"[paths] {label} {d} is not a folder.")
    from mailbot.casework.confirm import load_confirm_rules

    load_confirm_rules(rules_dir)  # rules/commands.toml: a damaged list is refused at start, not at the first command
    ml = data.get("master_list", {})
    ml_password = _secret(ml, "master_list", required=True)
    if not ml_password or len(ml_password) < 8:
        raise ConfigError("[master_list] the Master List password must be at least 8 characters.")
    members: list[MemberConfig] = []
    seen: dict[str, str] = {}
    for i, m in enumerate(data.get("members", []), 1):
        agency = (m.get("agency") or "").strip()
        if not agency:
            raise ConfigError(f"[[members]] entry {i} has no agency name.")
        contacts = tuple(_address(c, f"[[members]] {agency}") for c in m.get("contacts", []))
        if not contacts:
            raise ConfigError(f"[[members]] {agency} has no contact address.")
        for c in contacts:
            if c in seen:
                raise ConfigError(f"[[members]] {c} is listed for both {seen[c]} and {agency}.")
            seen[c] = agency
        members.append(MemberConfig(agency, contacts, bool(m.get("social_work", False)),
                                    bool(m.get("may_submit", True))))
    if not members:
        raise ConfigError("The member directory ([[members]]) is empty.")
    if sum(m.social_work for m in members) > 1:
        raise ConfigError("Only one member can be Social Work (social_work = true).")
    sec = data.get("security", {})
    digest = data.get("digest", {})
    dt = str(digest.get("time", "07:30"))
    if not re.fullmatch(r"([01]?\d|2[0-3]):[0-5]\d", dt):
        raise ConfigError(f"[digest] time {dt!r} must look like 07:30.")
    return Config(
        network_name=str(name),
        timezone=tz,
        mailbox_address=mailbox,
        mailbox_display_name=str(net.get("mailbox_display_name", f"{name} Coordinator")),
        coordinators=coordinators,
        first_case_number=int(net.get("first_case_number", 1)),
        imap=imap,
        smtp=smtp,
        imap_folder=str(imap_raw.get("folder", "INBOX")),
        processed_folder=str(imap_raw.get("processed_folder", "Processed")),
        quarantine_folder=str(imap_raw.get("quarantine_folder", "Quarantine")),
        idle_renew_seconds=int(imap_raw.get("idle_renew_seconds", 540)),
        data_dir=data_dir,
        key_file=key_file,
        rules_dir=rules_dir,
        templates_dir=templates_dir,
        master_list_password=ml_password,
        members=members,
        check_authentication_results=_flag(sec, "check_authentication_results", True),
        trusted_authserv_ids=_authserv_ids(sec),
        require_authentication_pass=_flag(sec, "require_authentication_pass", True),
        rate_limit_emails=_whole(sec, "rate_limit_emails", 20, 1, 10000),
        rate_limit_window_minutes=_whole(sec, "rate_limit_window_minutes", 60, 1, 7 * 24 * 60),
        max_email_bytes=int(float(sec.get("max_email_mb", 25)) * 1024 * 1024),
        digest_time=dt,
        confirmation_hours=_confirmation_hours(data.get("commands", {})),
        imap_tuning={k: v for k in IMAP_TUNING if (v := _seconds(imap_raw, k, "imap")) is not None},
        smtp_retry_base=_seconds(smtp_raw, "retry_base_seconds", "smtp") or 2.0,
        smtp_retry_max=_seconds(smtp_raw, "retry_max_seconds", "smtp") or 300.0,
        smtp_connections=_connections(smtp_raw),
        master_list_interval_minutes=_master_list_window(ml)[0],
        master_list_keep_copies=_master_list_window(ml)[1],
        list_id=_list_id(net),
    )


def load_config(path: Path) -> Config:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path} ({exc.strerror}).") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}.") from exc
    cfg = parse_config(data, base=Path(path).resolve().parent)
    cfg.source = Path(path)
    return cfg


def check_config(path: Path) -> int:
    """`mailbot check-config`: validate the file, then try both servers."""
    cfg = load_config(path)
    print(f"configuration: ok ({len(cfg.members)} member agencies, "
          f"{sum(len(m.contacts) for m in cfg.members)} addresses)")
    from mailbot.mail import authcheck

    ok, lines = authcheck.advice(cfg)
    for line in lines:
        print(line)
    imap_ok = True
    try:
        from mailbot.mail.inbox import probe_imap

        probe_imap(cfg)
        print(f"imap: ok ({cfg.imap.host}:{cfg.imap.port}, folder {cfg.imap_folder})")
    except Exception as exc:  # one line each, never a traceback
        ok = imap_ok = False
        print(f"imap: FAILED - {cfg.imap.host}:{cfg.imap.port}: {exc}")
    if not imap_ok and cfg.check_authentication_results and not cfg.trusted_authserv_ids:
        print("  Once the IMAP login works, check-config reads the headers of the newest email in the inbox "
              "and proposes the authserv-id to trust.")
    if imap_ok and cfg.check_authentication_results:
        try:  # what the provider writes: read from the newest email's headers, and proposed
            for line in authcheck.proposal(cfg, authcheck.newest_authentication_results(cfg)):
                print(line)
        except Exception as exc:  # noqa: BLE001
            print(f"  The newest email's Authentication-Results could not be read ({type(exc).__name__}).")
    try:
        import asyncio

        from mailbot.mail.outbox import probe_smtp

        asyncio.run(probe_smtp(cfg))
        print(f"smtp: ok ({cfg.smtp.host}:{cfg.smtp.port})")
    except Exception as exc:
        ok = False
        print(f"smtp: FAILED - {cfg.smtp.host}:{cfg.smtp.port}: {exc}")
    return 0 if ok else 1
