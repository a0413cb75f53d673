"""Case codes and the Coded Referral.

A case code is ``CN`` + case number (CN78); siblings referred together share
the number with a letter each (CN58A, CN58B). Numbers are allocated and kept
by the store; this module does the pure parts: formatting, parsing, sibling
codes, and turning a Referral Form into a Coded Referral that is written only
when the verifier finds no protected name anywhere in it.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import string
from collections.abc import Sequence

from mailbot.documents.package import Package
from mailbot.errors import BadField, HeldForReview, LeakDetected, NotAReferral
from mailbot.documents.matcher import build_matcher
from mailbot.documents.names import ProtectedName, protected_names
from mailbot.documents.part_surface import SurfaceCache
from mailbot.documents.redact import strip_names
from mailbot.documents.verify import verify_no_names
from mailbot.documents.sanitise import sanitise
from mailbot.documents.unverifiable import assert_no_unverifiable
from mailbot.people import FamilyMember, YoungPerson

log = logging.getLogger("mailbot.coding")

CODE_PREFIX = "CN"
#: longer than any person's name or protected field; a longer one is refused (the matcher's pattern for
#: a name of thousands of letters was built too deep: a traceback)
MAX_NAME_CHARS = 300
_CODE_RE = re.compile(r"^\s*CN\s*0*(\d{1,6})\s*([A-Z]?)\s*$", re.I)
MAX_SIBLINGS = 26


def format_code(n: int, letter: str | None = None) -> str:
    """format_code(78) -> 'CN78'; format_code(58, 'B') -> 'CN58B'."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise BadField(f"A case number must be a whole number from 1 up (got {n!r}).", reason="bad-code")
    if letter:
        letter = letter.upper()
        if len(letter) != 1 or letter not in string.ascii_uppercase:
            raise BadField("A sibling letter must be one letter A-Z.", reason="bad-code")
    return f"{CODE_PREFIX}{n}{letter or ''}"


def parse_code(code: str) -> tuple[int, str | None]:
    """parse_code('CN58B') -> (58, 'B'); parse_code('cn78') -> (78, None)."""
    m = _CODE_RE.match(code or "")
    if not m or int(m.group(1)) < 1:
        raise BadField(f"'{(code or '')[:20]}' is not a case code; a case code looks like CN78 or CN58B.",
                       reason="bad-code")
    return int(m.group(1)), (m.group(2).upper() or None)


def sibling_codes(number: int, count: int) -> list[str]:
    """sibling_codes(58, 2) -> ['CN58A', 'CN58B']; a single young person -> ['CN58']."""
    if count < 1:
        raise BadField("A referral needs at least one young person.", reason="no-young-person")
    if count > MAX_SIBLINGS:
        raise BadField(f"A referral can hold at most {MAX_SIBLINGS} young people.", reason="too-many")
    if count == 1:
        return [format_code(number)]
    return [format_code(number, string.ascii_uppercase[i]) for i in range(count)]


def codes_for(code: str, count: int) -> list[str]:
    """The codes for ``count`` young people given the code on the command line (CN78 -> CN78A, CN78B)."""
    number, letter = parse_code(code)
    if letter:
        if count != 1:
            raise BadField(f"The form has {count} young people; give the case code without a letter "
                           f"(CN{number}) and each gets its own letter.", reason="bad-code")
        return [format_code(number, letter)]
    return sibling_codes(number, count)


def code_document(pkg: Package, children: Sequence[YoungPerson], family: Sequence[FamilyMember],
                  codes: Sequence[str],
                  *, filename: str | None = None, stats: dict | None = None,
                  extra: list[tuple[str, str]] = (), recall_allowed: frozenset[str] | None = None,
                  exclude: frozenset[str] = frozenset(), surfaces: SurfaceCache | None = None) -> bytes:
    """Strip every protected name, serialise, verify; the bytes of the Coded Referral.

    Raises LeakDetected (nothing to send) when the verifier finds a name. With
    ``recall_allowed`` (the words of the form's professionals, agencies and places), the recall
    check (mailbot.documents.recall) also reads the result and raises HeldForReview where a word that
    looks like a person's name remains. ``exclude``: folded words never derived into a
    protected pet name (the attendees of minutes). ``surfaces``: the owner's SurfaceCache (the
    Context's in the daemon); by default one for this call, shared by the stripper and the verifier.
    """
    if not children:
        raise NotAReferral("The form has no young person's name, so it cannot be coded. "
                           "Please fill in the young person's name and send it again.",
                           reason="no-name")
    # the professionals' own names are never taken for a pet name of someone protected
    names = protected_names(children, family, codes, exclude=(recall_allowed or frozenset()) | exclude)
    if not names:
        raise NotAReferral("The form has no young person's name, so it cannot be coded. "
                           "Please fill in the young person's name and send it again.",
                           reason="no-name")
    # fields a network also removes (rules/redaction.toml): stripped and verified like names
    known = {n.key for n in names}
    for text, replacement in extra:
        entry = ProtectedName(text, replacement, "field")
        if entry.key and entry.key not in known:
            known.add(entry.key)
            names.append(entry)
    if any(len(n.text) > MAX_NAME_CHARS for n in names):
        # no one's name is this long (a whole paragraph read as a name): refused, not half-protected
        raise BadField(f"A name on the form is far too long to be a person's name (over {MAX_NAME_CHARS} "
                       "characters), so the form cannot be coded safely. Please check the names on the form "
                       "and send it again.", reason="bad-name")
    matcher = build_matcher(names)
    removed = sanitise(pkg)  # altChunks, OLE, external links, text in pictures (issue 10 item 11)
    surfaces = SurfaceCache() if surfaces is None else surfaces
    strip_names(pkg, matcher, stats, surfaces)
    data = pkg.to_bytes()
    verify_no_names(data, matcher, filename, surfaces)
    assert_no_unverifiable(data)
    if stats is not None:
        stats["removed"] = removed
    if recall_allowed is not None:
        recall_check(data, recall_allowed)
    return data


def recall_check(data: bytes, allowed: frozenset[str]) -> None:
    """Raise HeldForReview when a word that looks like a person's name remains in ``data``."""
    from mailbot.documents.recall import check

    findings = check(data, allowed=allowed)
    if findings:
        where = [f.where() for f in findings]
        raise HeldForReview(
            "A word that looks like a person's name remains in the coded document ("
            + "; ".join(where[:5]) + "); it was held for the coordinator and nothing was sent.",
            where=where)


def check_people(children: Sequence[YoungPerson]) -> None:
    """Refuse (plainly, no name) a form with no young person, a young person with no name, or a date of
    birth that cannot be right."""
    if not children:
        raise NotAReferral("The form has no young person's name, so it cannot be coded. "
                           "Please fill in the young person's name and send it again.", reason="no-name")
    today = dt.date.today()
    for i, child in enumerate(children, 1):
        if not (child.name or child.first_name or child.surname):
            raise NotAReferral(f"Young person {i} on the form has no name, so it cannot be coded. "
                               "Please fill in the name and send it again.", reason="no-name")
        born = child.date_of_birth
        if born is not None and (born > today or (today.year - born.year) > 25):
            raise BadField(f"The date of birth of young person {i} cannot be right "
                           f"({'in the future' if born > today else 'over 25 years ago'}). "
                           "Please correct it and send the form again.", reason="bad-dob")


__all__ = ["format_code", "parse_code", "sibling_codes", "codes_for", "code_document", "check_people",
           "LeakDetected"]
