"""Command line: `mailbot referral parse|code`, `mailbot minutes parse`, `mailbot run`, `mailbot demo`...

Every failure a user can cause ends with one plain line on stderr and a
non-zero exit, never a traceback. Exit codes: 0 ok, 1 refused input or
failed check, 2 usage, 3 configuration problem.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from mailbot.errors import ConfigError, MailbotError


#: the configuration when -c is not given (and $MAILBOT_CONFIG is not set)
DEFAULT_CONFIG = Path("/etc/mailbot/config.toml")


def config_path(args, *, explicit: bool = False) -> Path:
    """-c FILE, else $MAILBOT_CONFIG, else /etc/mailbot/config.toml (unless `explicit`: `mailbot run`
    starts a daemon only for a configuration it was given, -c or $MAILBOT_CONFIG)."""
    if getattr(args, "config", None):
        return Path(args.config)
    env = os.environ.get("MAILBOT_CONFIG", "").strip()
    if env:
        return Path(env)
    if explicit:
        raise UsageError(f"mailbot {args.group} needs the configuration of the network it runs: "
                         f"mailbot {args.group} -c {DEFAULT_CONFIG} (or set MAILBOT_CONFIG). "
                         "With several networks on one server: systemctl start mailbot@NAME.")
    if not DEFAULT_CONFIG.exists():
        raise ConfigError(f"no configuration given and {DEFAULT_CONFIG} does not exist: "
                          "give -c FILE or set MAILBOT_CONFIG.")
    return DEFAULT_CONFIG


class UsageError(Exception):
    """A command line that cannot run as given (exit 2)."""


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("mailbot")
    except PackageNotFoundError:  # a checkout run with PYTHONPATH, never installed
        return "unknown (not installed)"


def _print_json(obj) -> None:
    json.dump(obj, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


# -- referral --------------------------------------------------------------

def cmd_referral_parse(args) -> int:
    from mailbot.documents.referral import read_referral

    _pkg, referral = read_referral(Path(args.form))
    if args.json:
        _print_json(referral.to_json())
    else:
        data = referral.to_json()
        print(f"{len(data['young_people'])} young person(s); referring agency: {data['referring_agency'] or '-'}")
    return 0


def cmd_referral_code(args) -> int:
    from mailbot.casework.code_file import code_referral_file

    summary = code_referral_file(Path(args.form), args.code, Path(args.out))
    print(summary)
    return 0


# -- minutes ---------------------------------------------------------------

def cmd_minutes_parse(args) -> int:
    from mailbot.documents.minutes import read_minutes

    _pkg, minutes = read_minutes(Path(args.file))
    _print_json({**minutes.to_json(), **minutes.decisions_json()})
    return 0


# -- daemon ----------------------------------------------------------------

def cmd_run(args) -> int:
    from mailbot.daemon import run_daemon

    return run_daemon(config_path(args, explicit=True))


def cmd_demo(args) -> int:
    from mailbot.sandbox.demo import run_demo

    return run_demo(Path(args.dir), referrals=args.referrals, keep=args.keep, verbose=args.verbose)


def cmd_check_config(args) -> int:
    from mailbot.config import check_config

    return check_config(config_path(args), servers=not args.no_servers)


def cmd_command(args) -> int:
    from mailbot.daemon import run_coordinator_commands

    text = " ".join(args.text) if args.text else sys.stdin.read()
    return run_coordinator_commands(config_path(args), text)


CONFIG_HELP = f"config.toml (default: $MAILBOT_CONFIG, else {DEFAULT_CONFIG})"


# -- operations (mailbot.operations) ----------------------------------------

def cmd_backup(args) -> int:
    from mailbot.operations import backup

    return backup(config_path(args), Path(args.dest), key_out=Path(args.key_out) if args.key_out else None)


def cmd_restore(args) -> int:
    from mailbot.operations import restore

    return restore(config_path(args), Path(args.src), key_file=Path(args.key) if args.key else None)


def cmd_rotate_key(args) -> int:
    from mailbot.operations import rotate_key

    return rotate_key(config_path(args))


def cmd_export_master_list(args) -> int:
    from mailbot.operations import export_master_list

    return export_master_list(config_path(args), Path(args.out))


def cmd_status(args) -> int:
    from mailbot.daemon import run_status

    return run_status(config_path(args))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mailbot", description=__doc__.splitlines()[0])
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    p.add_argument("--version", action="version", version=f"mailbot {version()}")
    sub = p.add_subparsers(dest="group", required=True)

    ref = sub.add_parser("referral", help="read or code a Referral Form").add_subparsers(dest="action", required=True)
    rp = ref.add_parser("parse", help="print the fields of a filled Referral Form")
    rp.add_argument("form")
    rp.add_argument("--json", action="store_true", help="print the fields as JSON")
    rp.set_defaults(func=cmd_referral_parse)
    rc = ref.add_parser("code", help="write the Coded Referral (names replaced by case codes)")
    rc.add_argument("form")
    rc.add_argument("--code", required=True, help="case code, e.g. CN78 (siblings get CN78A, CN78B...)")
    rc.add_argument("--out", required=True, help="where to write the coded .docx")
    rc.set_defaults(func=cmd_referral_code)

    mins = sub.add_parser("minutes", help="read Network Case Meeting minutes").add_subparsers(dest="action", required=True)
    mp = mins.add_parser("parse", help="print the fields of minutes as JSON")
    mp.add_argument("file")
    mp.add_argument("--json", action="store_true", default=True)
    mp.set_defaults(func=cmd_minutes_parse)

    run = sub.add_parser("run", help="run the mailbox automation (daemon)")
    run.add_argument("-c", "--config", help="the network's config.toml (required here, or $MAILBOT_CONFIG)")
    run.set_defaults(func=cmd_run)

    demo = sub.add_parser("demo", help="start a local demo mailbox, send sample referrals, show what members got")
    demo.add_argument("--dir", default="demo-data", help="working folder for the demo (default: ./demo-data)")
    demo.add_argument("--referrals", type=int, default=3, help="how many sample Referral Forms are sent (1-8)")
    demo.add_argument("--keep", action="store_true",
                      help="leave the mail server running afterwards and show how to open the mailboxes")
    demo.set_defaults(func=cmd_demo)

    cc = sub.add_parser("check-config", help="validate a configuration file and try both mail servers")
    cc.add_argument("-c", "--config", help=CONFIG_HELP)
    cc.add_argument("--no-servers", action="store_true",
                    help="do not try the mail servers (what the systemd unit runs before starting: a server "
                         "that is down must not keep mailbot from starting and queueing)")
    cc.set_defaults(func=cmd_check_config)

    from mailbot.casework.command_help import help_text

    cmd = sub.add_parser("command", help="run coordinator commands (same syntax as by email)",
                         description="Run coordinator commands, with the same syntax and the same answers as "
                                     "by email (no confirmation code is needed on the server's shell).",
                         epilog=help_text(), formatter_class=argparse.RawDescriptionHelpFormatter)
    cmd.add_argument("-c", "--config", help=CONFIG_HELP)
    cmd.add_argument("text", nargs="*", help="command line(s); read from stdin when omitted")
    cmd.set_defaults(func=cmd_command)

    st = sub.add_parser("status", help="print what the STATUS command answers")
    st.add_argument("-c", "--config", help=CONFIG_HELP)
    st.set_defaults(func=cmd_status)

    bk = sub.add_parser("backup", help="a consistent copy of the database (safe while mailbot runs), the key "
                        "and a manifest")
    bk.add_argument("-c", "--config", help=CONFIG_HELP)
    bk.add_argument("dest", help="an empty or new folder for the backup")
    bk.add_argument("--key-out", help="write the key file here instead of DEST/names.key (keep it apart)")
    bk.set_defaults(func=cmd_backup)
    rs = sub.add_parser("restore", help="put a backup in place of the database (mailbot must be stopped)")
    rs.add_argument("-c", "--config", help=CONFIG_HELP)
    rs.add_argument("src", help="the backup folder (with manifest.json)")
    rs.add_argument("--key", help="the backup's key file, when it was kept apart")
    rs.set_defaults(func=cmd_restore)
    rk = sub.add_parser("rotate-key", help="re-encrypt every name with a new key (mailbot must be stopped)")
    rk.add_argument("-c", "--config", help=CONFIG_HELP)
    rk.set_defaults(func=cmd_rotate_key)
    ex = sub.add_parser("export-master-list", help="write the current Master List, encrypted with its password")
    ex.add_argument("-c", "--config", help=CONFIG_HELP)
    ex.add_argument("--out", required=True, help="the .xlsx file to write")
    ex.set_defaults(func=cmd_export_master_list)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # The document commands print one line; the daemon and demo log their progress.
    quiet = args.group in ("referral", "minutes", "check-config", "command", "backup", "restore", "rotate-key",
                          "export-master-list", "status")
    if args.group != "demo":  # the demo logs to a file in its folder (mailbot.sandbox.demo)
        from mailbot.logsetup import setup_logging

        # journald under systemd (priority prefixes, no time), ISO local times elsewhere; APScheduler and
        # aiosmtpd quiet; never the IMAP protocol log (mailbot/logsetup.py)
        setup_logging(logging.DEBUG if args.verbose else (logging.WARNING if quiet else logging.INFO))
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"mailbot: {exc}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"mailbot: configuration problem: {exc}", file=sys.stderr)
        return 3
    except MailbotError as exc:
        print(f"mailbot: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except MemoryError:
        print("mailbot: the document is too large to process.", file=sys.stderr)
        return 1
    except Exception as exc:  # last resort: one line, never a traceback
        import traceback

        # where it failed, never the exception's message (it can quote the document: a name)
        logging.getLogger("mailbot.cli").debug("unexpected failure (%s) here (message omitted):\n%s",
                                               type(exc).__name__, "".join(traceback.format_tb(exc.__traceback__)))
        print(f"mailbot: unexpected problem ({type(exc).__name__}); nothing was written. "
              "Run with -v for details.", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
