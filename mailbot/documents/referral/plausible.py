"""Refusing a reading of a Referral Form that cannot be right: it is never coded.

A young person's name with no letters, or that is a label or a word of the form itself; the
same child twice; one sibling with a date of birth beside one without; a consent question
asked but no answer readable. Each is a plain one-line :class:`~mailbot.errors.BadField`.
"""

from __future__ import annotations

import re

from mailbot.documents.form_labels import Rules, canon, match_label
from mailbot.documents.recall import form_words
from mailbot.documents.referral.result import Referral
from mailbot.documents.referral.values import TICKED, UNTICKED
from mailbot.errors import BadField
from mailbot.words.textnorm import fold

IMPLAUSIBLE = ("The form could not be read with confidence: {why}. Nothing was shared with the network. "
               "Please check the form and send it again.")


def _implausible(why: str, reason: str) -> BadField:
    return BadField(IMPLAUSIBLE.format(why=why), reason=reason)


def _answered(h) -> bool:
    """A question's answer is there: a ticked box, a checked control, or words ("Not known")."""
    if h.checked is not None:
        return True
    value = (h.value or "").strip()
    if not value:
        return False
    if any(ch in value for ch in UNTICKED + TICKED):
        return any(ch in value for ch in TICKED)
    return True


def check_plausible(ref: Referral, hits: list, rules: Rules) -> None:
    """Refuse a reading that cannot be right (issue 10 item 2): it is never coded."""
    words = form_words()
    names = []
    for i, y in enumerate(ref.young_people, 1):
        name = y.name or " ".join(x for x in (y.first_name, y.surname) if x)
        if not re.search(r"[^\W\d_]", name):
            raise _implausible(f"the name of young person {i} has no letters", "implausible-name")
        parts = [fold(w) for w in re.findall(r"[^\W\d_][\w'’\-]*", name)]
        if match_label(name, None, rules, loose=False) is not None or (parts and all(p in words for p in parts)):
            raise _implausible(f"the name of young person {i} is a label or a word of the form itself",
                               "implausible-name")
        names.append(canon(name))
    if len(set(names)) < len(names):
        raise _implausible("the form lists more young people than distinct names", "implausible-children")
    if len(ref.young_people) > 1:
        with_dob = [y.date_of_birth is not None for y in ref.young_people]
        if any(with_dob) and not all(with_dob):
            raise _implausible("one young person has a date of birth and another has none", "implausible-dob")
    for key, what in (("parental_consent", "whether parental consent was obtained"),
                      ("young_person_informed", "whether the young person was informed")):
        asked = [h for h in hits if h.key == key]
        if asked and getattr(ref, key) is None and not any(_answered(h) for h in asked):
            raise _implausible(f"the form asks {what} but no answer could be read", "implausible-consent")

