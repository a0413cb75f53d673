"""One source per vocabulary (issue 14 item 6): the stripper and the last gate read the same ordinary-word
list (rules/ordinary_words.txt, through mailbot.words.vocabulary), and they agree on what it means.

A young person whose name is also an ordinary word ("Hope", "Rose", "Mason"): the word written in lower
case is an ordinary word for both (the stripper leaves it, the gate lets it through); written as a name
(capitalised) it is the name for both (the stripper replaces it, the gate refuses a message holding it).
"""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from mailbot.gate import people as gate_people, prepared as gate_prepared
from mailbot.documents.matcher import build_matcher
from mailbot.documents.names import protected_names
from mailbot.gate import build_gate
from mailbot.paths import shipped
from mailbot.words.textnorm import fold
from mailbot.words.vocabulary import ordinary_words
from people import protected, young

FILE_WORDS = sorted({fold(line.strip()) for line in (shipped("rules") / "ordinary_words.txt").read_text(
    encoding="utf-8").splitlines() if line.strip() and not line.lstrip().startswith("#")})
#: ordinary words usable as a fictional first name here (letters only, not too short for the gate)
NAME_WORDS = [w for w in FILE_WORDS if w.isalpha() and len(w) >= gate_people.MIN_TOKEN]


def test_both_read_the_one_list():
    assert gate_prepared.ORDINARY_WORDS == ordinary_words()
    assert set(FILE_WORDS) <= set(ordinary_words())


def person(first: str, surname: str = "Quillfeather") -> dict:
    first = first.capitalize()
    return {"name": f"{first} {surname}", "first_name": first, "surname": surname, "known_as": [],
            "other_surnames": [], "family": []}


@settings(max_examples=60, deadline=None)
@given(word=st.sampled_from(NAME_WORDS), before=st.sampled_from(["We spoke about ", "There was ", "Staff noted "]))
def test_stripper_and_gate_agree_on_a_name_that_is_an_ordinary_word(word, before):
    p = person(word)
    matcher = build_matcher(protected_names(young(p), [], ["CN7"]))
    gate = build_gate(protected(p))
    as_word = f"{before}{word.lower()} at the meeting."
    as_name = f"{before}{word.capitalize()} at the meeting."
    stripped_word, _ = matcher.sub(as_word)
    stripped_name, _ = matcher.sub(as_name)
    # the ordinary word: left by the stripper, let through by the gate
    assert stripped_word == as_word
    assert not gate.text_has_name(as_word)
    # the name: replaced by the stripper, refused by the gate
    assert word.capitalize() not in stripped_name
    assert gate.text_has_name(as_name)


@settings(max_examples=40, deadline=None)
@given(word=st.sampled_from(NAME_WORDS))
def test_the_full_name_is_always_a_name_for_both(word):
    p = person(word)
    matcher = build_matcher(protected_names(young(p), [], ["CN7"]))
    gate = build_gate(protected(p))
    text = f"Referral for {p['name'].lower()} today."
    stripped, _ = matcher.sub(text)
    assert "quillfeather" not in stripped.lower()
    assert gate.text_has_name(text)
