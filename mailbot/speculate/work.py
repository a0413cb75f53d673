"""What the helper process computes ahead of intake (pure): each email read, each referral form read and coded.

It writes nothing, sends nothing and sees no database; intake takes an answer only for the very
same inputs (see mailbot.speculate.ahead)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path


def digest(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


@dataclass(frozen=True)
class FormAhead:
    """What the helper made of one referral form: read always, coded when it could be.

    Holds names (``reading``, ``coded``) in memory only, between the helper and intake."""

    form: bytes                        # digest of the form's bytes
    reading: object                    # the form as read (a mailbot.documents.referral.Referral)
    people: bytes | None = None        # digest of the young people and family it was coded for
    codes: tuple | None = None         # the codes it was coded with
    extra: tuple | None = None         # the extra field protections it was coded with
    coded: bytes | None = None         # the coded document; None when it could not be coded
    gate_reading: tuple | None = None  # the leak gate's reading of it (mailbot.gate.analyse_file_ahead)


@dataclass
class HelperState:
    """What the helper process carries from one job to the next (it has no Context: this is its own)."""

    next_number: int | None = None  # its count, carried from one message to the next
    gate_memory: object = None      # a mailbot.gate.GateMemory: large Office parts are read once
    surfaces: object = None         # a mailbot.documents.part_surface.SurfaceCache: what coding read


#: the state of the helper process (one per process; mailbot's own process never uses it)
_STATE = HelperState()


def work_ahead(raw: bytes, start_number: int | None, rules_dir: str, max_bytes: int,
               state: HelperState | None = None) -> tuple:
    """In the helper: read one email and code its referral forms with the numbers expected next.

    Returns (email, [FormAhead, ...]): one for each referral form read (coded, or not when it
    could not be coded). A form it cannot open or read is passed over (intake answers it); an
    email it cannot read at all raises, and intake reads it itself. ``start_number``: the store's
    next number, or None to carry on with ``state``'s count (the helper process's own)."""
    from mailbot.documents.coding import code_document, sibling_codes
    from mailbot.documents.package import open_package
    from mailbot.gate import GateMemory, analyse_file_ahead
    from mailbot.handlers.common import WORD_KINDS
    from mailbot.handlers.minutes import looks_like_minutes
    from mailbot.mail.reading import kind_of_attachment, read_email
    from mailbot.documents.redaction_rules import field_protections, load_redaction_rules
    from mailbot.documents.referral import parse_referral

    state = _STATE if state is None else state
    if state.gate_memory is None:
        state.gate_memory = GateMemory()
    if state.surfaces is None:
        from mailbot.documents.part_surface import SurfaceCache
        state.surfaces = SurfaceCache()
    if start_number is not None:
        state.next_number = start_number
    email = read_email(raw, max_bytes=max_bytes)
    coded = []
    if email.too_large:
        return email, coded
    for att in email.attachments:
        if kind_of_attachment(att) not in WORD_KINDS or state.next_number is None:
            continue
        try:
            pkg = open_package(att.data, max_file_bytes=max_bytes)
            if looks_like_minutes(pkg):
                continue
            referral = parse_referral(pkg)
        except Exception:  # noqa: BLE001 - the pipeline answers a bad form itself
            continue
        # the form as read: the pipeline takes it instead of opening and reading the form again
        form = digest(att.data)
        children, family = referral.young_people, referral.protected_family()
        codes = sibling_codes(state.next_number, len(children))
        state.next_number += 1  # the pipeline allocates one number per referral form it codes
        try:
            extra = field_protections(children, load_redaction_rules(Path(rules_dir)))
            out = code_document(pkg, children, family, codes, extra=extra, surfaces=state.surfaces)
        except Exception:  # noqa: BLE001 - e.g. the verifier refused: the pipeline finds that itself
            coded.append(FormAhead(form, referral))
            continue
        coded.append(FormAhead(form, referral, people_key(children, family), tuple(codes), extra_key(extra), out,
                               analyse_file_ahead(out, state.gate_memory)))
    return email, coded


def people_key(children, family) -> bytes:
    """The identity of the people a form was coded for (young people and relatives, typed)."""
    people = [[c.to_json() for c in children], [f.to_json() for f in family]]
    return digest(json.dumps(people, sort_keys=True, default=str).encode("utf-8"))


def extra_key(extra) -> tuple:
    return tuple(tuple(x) for x in extra)
