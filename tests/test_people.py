"""The typed people (mailbot.people): what a form gives and what a case keeps, across the edges.

A reading crosses the store (held forms, consent holds) and the helper process as JSON and must come
back the same; a case's record must keep the shape earlier versions sealed, so that databases made by
them open unchanged; and the gate must protect every name the record holds.
"""

from __future__ import annotations

import datetime as dt
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import SAMPLES
from mailbot.documents.referral import Referral, read_referral
from mailbot.gate import build_gate
from mailbot.people import FamilyMember, ProtectedPerson, YoungPerson


FORMS = sorted(SAMPLES.glob("[SP][0-9]*.docx")) + sorted((SAMPLES.parent / "adversarial").glob("*.docx"))


@pytest.mark.parametrize("path", FORMS, ids=lambda p: p.stem)
def test_a_reading_comes_back_the_same_from_json_and_from_the_helper_process(path):
    try:
        _pkg, referral = read_referral(path)
    except Exception:  # noqa: BLE001 - a form the reader refuses has no reading to carry
        pytest.skip("refused by the reader")
    assert Referral.from_json(referral.to_json()) == referral
    assert pickle.loads(pickle.dumps(referral)) == referral
    assert referral.protected_family() == referral.family + referral.named_in_text


def test_the_case_record_keeps_the_shape_earlier_versions_sealed():
    child = YoungPerson(name="Eirlys Bowcott", first_name="Eirlys", surname="Bowcott", known_as=["Lys"],
                        other_surnames=["Trevanion"], date_of_birth=dt.date(2012, 3, 9), aliases=["Eiri"],
                        school="Penrhos High")
    family = [FamilyMember("Morwenna Bowcott", "mother", aliases=["Morwenna Kestle"]),
              FamilyMember("Idris", "brother (named in the text)")]
    record = ProtectedPerson.of(child, family)
    # the dict intake sealed before the model was typed (handlers.intake.person_record)
    assert record.to_json() == {
        "name": "Eirlys Bowcott", "first_name": "Eirlys", "surname": "Bowcott", "known_as": ["Lys"],
        "other_surnames": ["Trevanion"], "aliases": ["Eiri"], "date_of_birth": "2012-03-09",
        "family": ["Morwenna Bowcott", "Idris", "Morwenna Kestle"]}
    assert "school" not in record.to_json()  # only names and the date of birth are kept
    assert ProtectedPerson.from_json(record.to_json()) == record
    # an older record holding relatives as dicts opens as names
    older = {"name": "Eirlys Bowcott", "family": [{"name": "Morwenna Bowcott", "aliases": ["Morwenna Kestle"]}]}
    assert ProtectedPerson.from_json(older).family == ("Morwenna Bowcott", "Morwenna Kestle")
    # read back for coding minutes: the same names
    again = record.young_person()
    assert (again.name, again.known_as, again.aliases, again.date_of_birth) == \
        (child.name, child.known_as, child.aliases, child.date_of_birth)
    assert [r.name for r in record.relatives()] == list(record.family)


_NAME = st.sampled_from(["Bethan", "Cadoc", "Ffion", "Gruffydd", "Iolo", "Mererid", "Tegid", "Wenna"])
_SURNAME = st.sampled_from(["Penwarden", "Trezise", "Vosper", "Nancarrow", "Polglase", "Angwin"])


@settings(max_examples=40, deadline=None)
@given(first=_NAME, surname=_SURNAME, nick=_NAME, mother=_NAME, maiden=_SURNAME, where=st.integers(0, 3))
def test_the_gate_protects_every_name_the_record_holds(first, surname, nick, mother, maiden, where):
    child = YoungPerson(name=f"{first} {surname}", first_name=first, surname=surname, known_as=[nick])
    family = [FamilyMember(f"{mother} {surname}", "mother", aliases=[f"{mother} {maiden}"])]
    record = ProtectedPerson.of(child, family)
    gate = build_gate([ProtectedPerson.from_json(record.to_json())])  # as the store gives it back
    name = [f"{first} {surname}", nick, f"{mother} {maiden}", f"{first.lower()}{surname.lower()}@mail.example"][where]
    assert gate.text_has_name(f"The meeting discussed {name} at length.")
