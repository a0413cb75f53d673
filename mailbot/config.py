"""Configuration: one TOML file (see config.example.toml), secrets from the environment or files.

`load_config(path)` returns a validated :class:`Config` or raises :class:`ConfigError` with one
plain sentence that names the key (and its line) and says what to do. `mailbot check-config`
lists every mistake at once.

Two steps:

1. The shape: mailbot/config_schema.json (a JSON Schema, checked with jsonschema) says which
   sections and keys exist and what each must be. An unknown key or section is an error with a
   "did you mean"; `may_submit = "false"` (a string) is refused, not read as true; numbers are
   checked against their range. mailbot/config_schema.py turns jsonschema's errors into sentences.
2. The meaning, here in `parse_config`: a time zone that exists, a password file that can be
   read, an address listed for two members, at most one Social Work member...

**Adding a key** is one line in config_schema.json, in its section's ``properties``, e.g. for
``[master_list] window_days`` (a whole number of days from 1 to 90):

    "window_days": {"type": "integer", "minimum": 1, "maximum": 90},

or, with a shared definition (flag, text, email, seconds, port: see ``$defs``), for a member's flag:

    "sensitive": {"$ref": "#/$defs/flag"},

The error sentence comes with it ("[master_list] window_days must be a whole number from 1 to 90
(found 0)."); give ``"description"`` for a better "must be ..." or ``"errorMessage"`` for a whole
sentence. A new section is one entry in the top ``properties`` with ``"type": "object",
"additionalProperties": false``. Then read the value (with its default) in `parse_config` below,
add the field to :class:`Config`, and document the key in config.example.toml
(tests/test_config_schema.py checks that every key of the example is in the schema and valid).
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
from mailbot.paths import PACKAGE_ROOT, shipped  # noqa: F401 (re-exported)



DEFAULT_RULES_DIR = shipped("rules")
DEFAULT_TEMPLATES_DIR = shipped("templates")

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
    #: a sensitive service (sexual health, mental health, substance misuse): without consent its
    #: involvement is shown to the other members only as "an unspecified service" (rules/consent.toml)
    sensitive: bool = False


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
    #: [held] purge_after_days: held outgoing email and held referral forms older than this are removed
    #: unsent by the daily job (the digest says which); 0: never
    held_purge_after_days: float = 30.0
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
        except UnicodeDecodeError as exc:
            raise ConfigError(f"[{where}] password_file {p} is not a text file.") from exc
    if required:
        raise ConfigError(f"[{where}] needs password_env or password_file.")
    return None


def _server(raw: dict, where: str, *, default_port: int) -> ServerConfig:
    username = raw.get("username")
    password = _secret(raw, where, required=bool(username))
    return ServerConfig(host=raw["host"], port=raw.get("port", default_port), tls=raw.get("tls", "ssl").lower(),
                        username=username, password=password)


IMAP_TUNING = ("read_timeout", "liveness_seconds", "connect_timeout", "full_pass_seconds", "backoff_max")


def _address(value: str) -> str:
    return value.strip().lower()


def validate(data, text: str | None = None) -> list[str]:
    """Every mistake in the shape of the configuration (unknown keys, wrong types, out of range), as
    plain sentences (with the line, when the TOML text is given); [] when the shape is right."""
    from mailbot.config_schema import problems

    return problems(data, text)


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


def parse_config(data: dict, *, base: Path | None = None, text: str | None = None) -> Config:
    mistakes = validate(data, text)
    if mistakes:
        more = f" ({len(mistakes) - 1} more: mailbot check-config lists them all)" if len(mistakes) > 1 else ""
        raise ConfigError(mistakes[0] + more, reason="config-shape")
    try:
        return _build(data, base or Path.cwd())
    except ConfigError as exc:  # one line, whatever the file holds (a key or a file name with a line break)
        from mailbot.config_schema import one_line

        text = one_line(str(exc))
        if text == str(exc):
            raise
        raise ConfigError(text) from exc


def _build(data: dict, base: Path) -> Config:
    """The Config of a file whose shape is valid: each section read and checked for meaning, in this order."""
    net = data["network"]
    name = net["name"]
    tz = _timezone(net)
    mailbox = _address(net["mailbox_address"])
    coordinators = [_address(a) for a in net["coordinators"]]
    imap = _server(data["imap"], "imap", default_port=993)
    smtp = _server(data["smtp"], "smtp", default_port=587)
    folders = _paths(data.get("paths", {}), base)
    ml_password = _master_list_password(data["master_list"])
    members = _members(data["members"])
    interval, keep_copies = _master_list_window(data.get("master_list", {}))
    return Config(
        network_name=name,
        timezone=tz,
        mailbox_address=mailbox,
        mailbox_display_name=net.get("mailbox_display_name", f"{name} Coordinator"),
        coordinators=coordinators,
        first_case_number=net.get("first_case_number", 1),
        imap=imap,
        smtp=smtp,
        **_imap_settings(data["imap"]),
        **folders,
        master_list_password=ml_password,
        members=members,
        **_security_settings(data.get("security", {})),
        digest_time=data.get("digest", {}).get("time", "07:30"),
        confirmation_hours=float(data.get("commands", {}).get("confirmation_hours", 24)),
        **_smtp_settings(data["smtp"]),
        master_list_interval_minutes=interval,
        master_list_keep_copies=keep_copies,
        list_id=_list_id(net),
        held_purge_after_days=float(data.get("held", {}).get("purge_after_days", 30)),
    )


def _timezone(net: dict) -> str:
    tz = net.get("timezone", "Europe/Dublin")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"[network] timezone {tz!r} is not a known time zone (e.g. Europe/Dublin).") from exc
    return tz


def _paths(paths: dict, base: Path) -> dict:
    """[paths]: the data folder (relative to the config file), the key file, and the rules and templates
    folders, which must exist (rules/commands.toml is loaded: a damaged list is refused at start, not at
    the first command)."""
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

    load_confirm_rules(rules_dir)
    return {"data_dir": data_dir, "key_file": key_file, "rules_dir": rules_dir, "templates_dir": templates_dir}


def _master_list_password(ml: dict) -> str:
    ml_password = _secret(ml, "master_list", required=True)
    if not ml_password or len(ml_password) < 8:
        raise ConfigError("[master_list] the Master List password must be at least 8 characters.")
    return ml_password


def _members(entries: list[dict]) -> list[MemberConfig]:
    """[[members]]: each with an agency name, no contact listed for two members, at most one Social Work."""
    members: list[MemberConfig] = []
    seen: dict[str, str] = {}
    for i, m in enumerate(entries, 1):
        agency = m["agency"].strip()
        if not agency:
            raise ConfigError(f"[[members]] entry {i} has no agency name.")
        contacts = tuple(_address(c) for c in m["contacts"])
        for c in contacts:
            if c in seen:
                raise ConfigError(f"[[members]] {c} is listed for both {seen[c]} and {agency}.")
            seen[c] = agency
        members.append(MemberConfig(agency, contacts, m.get("social_work", False), m.get("may_submit", True),
                                    m.get("sensitive", False)))
    if sum(m.social_work for m in members) > 1:
        raise ConfigError("Only one member can be Social Work (social_work = true).")
    return members


def _imap_settings(imap_raw: dict) -> dict:
    """[imap]: the folders, the IDLE renewal and the optional tuning (the server itself: _server)."""
    return {
        "imap_folder": imap_raw.get("folder", "INBOX"),
        "processed_folder": imap_raw.get("processed_folder", "Processed"),
        "quarantine_folder": imap_raw.get("quarantine_folder", "Quarantine"),
        "idle_renew_seconds": int(imap_raw.get("idle_renew_seconds", 540)),
        "imap_tuning": {k: float(imap_raw[k]) for k in IMAP_TUNING if k in imap_raw},
    }


def _smtp_settings(smtp_raw: dict) -> dict:
    """[smtp]: the outbox's backoff and its parallel connections (the server itself: _server)."""
    return {
        "smtp_retry_base": float(smtp_raw.get("retry_base_seconds", 2.0)),
        "smtp_retry_max": float(smtp_raw.get("retry_max_seconds", 300.0)),
        "smtp_connections": int(smtp_raw.get("connections", 4)),
    }


def _security_settings(sec: dict) -> dict:
    """[security]: the sender checks, the flood limit and the largest email."""
    return {
        "check_authentication_results": sec.get("check_authentication_results", True),
        "trusted_authserv_ids": [v.strip().lower() for v in sec.get("trusted_authserv_ids", [])],
        "require_authentication_pass": sec.get("require_authentication_pass", True),
        "rate_limit_emails": int(sec.get("rate_limit_emails", 20)),
        "rate_limit_window_minutes": int(sec.get("rate_limit_window_minutes", 60)),
        "max_email_bytes": int(float(sec.get("max_email_mb", 25)) * 1024 * 1024),
    }


def read_toml(path: Path) -> tuple[dict, str]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path} ({exc.strerror}).") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not a UTF-8 text file.") from exc
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}.") from exc


def load_config(path: Path) -> Config:
    data, text = read_toml(path)
    cfg = parse_config(data, base=Path(path).resolve().parent, text=text)
    cfg.source = Path(path)
    return cfg


def directory_warnings(cfg: Config) -> list[str]:
    """What is allowed but most likely a mistake in the member directory."""
    out = []
    if not any(m.social_work for m in cfg.members):
        out.append("no member has social_work = true: no member is treated as Social Work, so the Social "
                   "Work rules (rules/recipients.toml) hold nothing back and the coordinator's Social Work "
                   "check has no member to record it for. Mark the Social Work member with social_work = true.")
    for address, who in [(cfg.mailbox_address, "the mailbox address")] + [(c, "the coordinator") for c in cfg.coordinators]:
        member = cfg.member_for(address)
        if member is not None:
            out.append(f"{who} {address} is also listed as a contact of [[members]] {member.agency}: "
                       + ("mailbot would send members' mail to itself." if who == "the mailbox address" else
                          "the coordinator's emails would be read as that member's. Keep coordinators out of "
                          "[[members]] (they receive what members receive anyway)."))
    return out


def data_dir_problem(cfg: Config) -> str | None:
    """Why mailbot could not write its store in [paths] data_dir, or None."""
    import tempfile

    d = cfg.data_dir
    if d.exists():
        if not d.is_dir():
            return f"[paths] data_dir {d} is not a folder."
        try:
            tempfile.TemporaryFile(dir=d).close()
        except OSError as exc:
            return (f"[paths] data_dir {d} is not writable for this user ({exc.strerror}): give the mailbot user "
                    f"that folder (install -d -o mailbot -g mailbot -m 0700 {d}), and list it in the unit's "
                    "ReadWritePaths.")
        for f in (cfg.store_path, cfg.key_file):
            if f.exists() and not os.access(f, os.R_OK | (os.W_OK if f == cfg.store_path else 0)):
                return f"{f} exists but this user cannot {'write' if f == cfg.store_path else 'read'} it."
        return None
    parent = d.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    try:
        tempfile.TemporaryFile(dir=parent).close()
    except OSError:
        return (f"[paths] data_dir {d} does not exist, and this user cannot create it in {parent}: create it "
                f"(install -d -o mailbot -g mailbot -m 0700 {d}).")
    return None


def check_config(path: Path, *, servers: bool = True) -> int:
    """`mailbot check-config`: validate the file (every mistake at once), check the data folder and
    the member directory, then (unless servers=False) try both servers.

    Exit 3: the configuration is wrong; 1: the data folder cannot be used, or (with servers) a server
    or the sender check failed; 0: mailbot can run. Warnings do not change the exit code.
    """
    data, text = read_toml(path)
    mistakes = validate(data, text)
    if mistakes:
        print(f"{path}: {len(mistakes)} problem{'s' if len(mistakes) > 1 else ''}:", file=sys.stderr)
        for m in mistakes:
            print(f"  {m}", file=sys.stderr)
        return 3
    cfg = parse_config(data, base=Path(path).resolve().parent, text=text)
    cfg.source = Path(path)
    print(f"configuration: ok ({len(cfg.members)} member agencies, "
          f"{sum(len(m.contacts) for m in cfg.members)} addresses)")
    for w in directory_warnings(cfg):
        print(f"warning: {w}")
    problem = data_dir_problem(cfg)
    print(f"data folder: PROBLEM - {problem}" if problem else f"data folder: ok ({cfg.data_dir})")
    from mailbot.mail import authcheck

    ok, lines = authcheck.advice(cfg)
    for line in lines:
        print(line)
    if not servers:  # at boot (ExecStartPre): a mail server that is down must not keep mailbot from starting
        print("servers: not tried (--no-servers); mailbot queues mail until they answer")
        return 1 if problem else 0
    ok = ok and not problem
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

        from mailbot.mail.smtp import probe_smtp

        asyncio.run(probe_smtp(cfg))
        print(f"smtp: ok ({cfg.smtp.host}:{cfg.smtp.port})")
    except Exception as exc:
        ok = False
        print(f"smtp: FAILED - {cfg.smtp.host}:{cfg.smtp.port}: {exc}")
    return 0 if ok else 1
