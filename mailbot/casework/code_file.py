"""`mailbot referral code FORM CODE OUT`: one Referral Form file coded to a file, with the network's rules
(its age range, the fields it removes), for the coordinator on the server's shell."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from mailbot.casework.eligibility import check_age_range
from mailbot.documents.coding import check_people, code_document, codes_for, format_code, parse_code
from mailbot.documents.package import open_package, write_atomic
from mailbot.documents.part_surface import SurfaceCache
from mailbot.documents.redaction_rules import field_protections, load_redaction_rules
from mailbot.documents.referral import read_referral, recall_allowed
from mailbot.errors import MailbotError
from mailbot.paths import shipped

log = logging.getLogger("mailbot.coding")


def code_referral_file(form_path: str | Path, code: str, out_path: str | Path, *,
                       surfaces: SurfaceCache | None = None) -> str:
    """Read a Referral Form, write its Coded Referral to ``out_path``; a one-line summary.

    Nothing is written unless the verifier passes. ``surfaces``: a caller that codes many files
    keeps what coding read of their large parts (documents.part_surface.SurfaceCache).
    """
    form_path, out_path = Path(form_path), Path(out_path)
    parse_code(code)  # refuse a bad code before reading anything
    # refuse bad input early with a plain message (damaged, legacy .doc, password,
    # macros, zip bomb, XML entities in the body) before the form is interpreted
    open_package(form_path).xml("word/document.xml")
    pkg, referral = read_referral(form_path)
    children = referral.young_people
    family = referral.protected_family()
    check_people(children)
    check_age_range(children, dt.date.today())  # the network's age range (rules/age_range.toml)
    codes = codes_for(code, len(children))
    stats: dict = {}
    extra = field_protections(children, load_redaction_rules(shipped("rules")))
    coded = code_document(pkg, children, family, codes, filename=out_path.name, stats=stats, extra=extra,
                          recall_allowed=recall_allowed(referral), surfaces=surfaces)
    try:
        write_atomic(out_path, coded)
    except OSError as exc:
        raise MailbotError(f"The coded referral could not be written to {out_path} "
                           f"({exc.strerror or type(exc).__name__}); nothing was written.",
                           reason="write-failed") from None
    log.info("coded referral %s written (%d names replaced)", ",".join(codes), stats.get("replaced", 0))
    people = (f"{len(codes)} young people: {', '.join(codes)}" if len(codes) > 1 else "1 young person")
    return (f"Coded referral {format_code(*parse_code(code))} written to {out_path} "
            f"({people}; {stats.get('replaced', 0)} names replaced)")
