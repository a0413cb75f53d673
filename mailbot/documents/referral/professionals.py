"""The words of the professionals, organisations and places a Referral Form names.

They are never protected as derived or discovered names (:func:`professional_words`) and the
recall check never holds on them (:func:`recall_allowed`).
"""

from __future__ import annotations

import re

from mailbot.documents.recall import allowed_words
from mailbot.documents.referral.result import Referral
from mailbot.words.textnorm import fold

def professional_words(ref: Referral) -> frozenset[str]:
    """Folded words of the professionals and organisations a form names (never protected as
    derived or discovered names): the referrer, the referring and suggested agencies."""
    words: set[str] = set()
    for text in [ref.referrer.name, ref.referring_agency, *ref.suggested_agencies]:
        for w in re.findall(r"[^\W\d_][\w'’\-]*", text or ""):
            words.add(fold(w))
    if ref.referrer.email:
        for w in re.split(r"[^a-z]+", ref.referrer.email.split("@")[0].lower()):
            if len(w) >= 3:
                words.add(w)
    return frozenset(words)


def recall_allowed(ref: Referral, *more: str) -> frozenset[str]:
    """Folded words the recall check never holds on for this form: its professionals and
    organisations (the referrer, the referring and suggested agencies), its signatories, its
    places (the addresses and schools given in their own fields), and ``more`` (the network's
    member agencies and contacts)."""
    people = ref.young_people
    texts = [ref.referrer.name, ref.referrer.email, ref.referring_agency, *ref.suggested_agencies,
             *ref.signatories, *(y.school for y in people), *(y.address for y in people),
             *(y.former_address for y in people), *more]
    return allowed_words(*texts)
