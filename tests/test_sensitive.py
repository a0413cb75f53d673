"""Sensitive services (mailbot.casework.sensitive): who sees the agency, and the masking of a text. Fictional."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from mailbot.casework.sensitive import mask, views
from mailbot.config import MemberConfig

MH = MemberConfig("Ashgrove Mental Health Team", ("camhs@ashgrove-mh.example.net",), sensitive=True)
SCHOOL = MemberConfig("Thornfield Community School", ("office@thornfield-cs.example.net",))
COORD = ["aine.coordinator@network.test"]
TO = ["office@thornfield-cs.example.net", "camhs@ashgrove-mh.example.net", "aine.coordinator@network.test"]


def test_the_service_and_the_coordinator_see_it_the_others_do_not():
    assert views([MH, SCHOOL], COORD, "Ashgrove Mental Health Team", False, TO) == [
        (["office@thornfield-cs.example.net"], MH),
        (["camhs@ashgrove-mh.example.net", "aine.coordinator@network.test"], None)]
    # with consent, or a lead that is not a sensitive service: one copy, nothing hidden
    assert views([MH, SCHOOL], COORD, "Ashgrove Mental Health Team", True, TO) == [(TO, None)]
    assert views([MH, SCHOOL], COORD, "Thornfield Community School", False, TO) == [(TO, None)]


@settings(max_examples=200, deadline=None)
@given(before=st.text(alphabet="abc ,.;:()\n", max_size=20), after=st.text(alphabet="abc ,.;:()\n", max_size=20),
       form=st.sampled_from([MH.agency, MH.agency.upper(), MH.agency.lower(), MH.contacts[0]]))
def test_the_agency_and_its_addresses_are_masked_wherever_they_are(before, after, form):
    # an address is masked whole (followed by a letter it is another address); the name also inside a word
    got = mask(f"{before} {form}{' ' if '@' in form else ''}{after}", MH, extra=("Wren Oakes",))
    assert "ashgrove" not in got.lower() and "an unspecified service" in got


def test_other_words_are_left_alone():
    assert mask("Venue: Thornfield Community School, Room 4", MH) == "Venue: Thornfield Community School, Room 4"
    assert mask("Organiser: Wren Oakes, 087 765 4321", MH, extra=("Wren Oakes", "087 765 4321")) == \
        "Organiser: an unspecified service, an unspecified service"
