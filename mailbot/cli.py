"""Command line: `mailbot referral parse|code`, `mailbot minutes parse`, `mailbot run`, `mailbot demo`...

Every failure a user can cause ends with one plain line on stderr and a
non-zero exit, never a traceback. Exit codes: 0 ok, 1 refused input or
failed check, 2 usage, 3 configuration problem.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from mailbot.errors import ConfigError, MailbotError


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
    from mailbot.documents.coding import code_referral_file

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

    return run_daemon(Path(args.config))


def cmd_demo(args) -> int:
    from mailbot.sandbox.demo import run_demo

    return run_demo(Path(args.dir), referrals=args.referrals)


def cmd_check_config(args) -> int:
    from mailbot.config import check_config

    return check_config(Path(args.config))


def cmd_command(args) -> int:
    from mailbot.daemon import run_coordinator_commands

    text = " ".join(args.text) if args.text else sys.stdin.read()
    return run_coordinator_commands(Path(args.config), text)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mailbot", description=__doc__.splitlines()[0])
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
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
    run.add_argument("-c", "--config", required=True)
    run.set_defaults(func=cmd_run)

    demo = sub.add_parser("demo", help="start a local demo mailbox, send sample referrals, show what members got")
    demo.add_argument("--dir", default="demo-data", help="working folder for the demo (default: ./demo-data)")
    demo.add_argument("--referrals", type=int, default=3)
    demo.set_defaults(func=cmd_demo)

    cc = sub.add_parser("check-config", help="validate a configuration file and try both mail servers")
    cc.add_argument("-c", "--config", required=True)
    cc.set_defaults(func=cmd_check_config)

    cmd = sub.add_parser("command", help="run coordinator commands (same syntax as by email)")
    cmd.add_argument("-c", "--config", required=True)
    cmd.add_argument("text", nargs="*", help="command line(s); read from stdin when omitted")
    cmd.set_defaults(func=cmd_command)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # The document commands print one line; the daemon and demo log their progress.
    quiet = args.group in ("referral", "minutes", "check-config", "command")
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else (logging.WARNING if quiet else logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's per-command chatter (demo server)
    # No protocol log, even with -v: imapclient's DEBUG output is the IMAP conversation, fetched emails
    # (children's names) included. mailbot.mail.inbox also switches imaplib's own log off at the source.
    for name in ("imapclient", "imapclient.imaplib"):
        logging.getLogger(name).setLevel(logging.INFO)
    try:
        return int(args.func(args) or 0)
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
        logging.getLogger("mailbot.cli").debug("unexpected failure", exc_info=True)
        print(f"mailbot: unexpected problem ({type(exc).__name__}); nothing was written. "
              "Run with -v for details.", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
