"""Ways of writing a name found by the red team (tests/fixtures/redteam) that the matcher - and so
the stripper and its verifier - must read as the name. All people are fictional."""

from __future__ import annotations

import pytest

from mailbot.documents.matcher import build_matcher
from mailbot.documents.names import protected_names
from people import relatives, young


@pytest.fixture(scope="module")
def matcher():
    return build_matcher(protected_names(
        young({"name": "Tegan Howells"}),
        relatives({"name": "Ffion Griffiths", "relationship": "mother"}, {"name": "Anja Weiß", "relationship": "aunt"},
                  {"name": "Graeme McAllister", "relationship": "stepfather"},
                  {"name": "Carys Bowen", "relationship": "nan"}, {"name": "Hope Penrose", "relationship": "sister"}),
        ["CN90"]))


LEFT_BEFORE = [
    "ᴛᴇɢᴀɴ was late",                 # small capitals
    "⒯⒠⒢⒜⒩",                          # parenthesized letters
    "Ƭegan",                           # a letter with a hook
    "🇹🇪🇬🇦🇳",                          # regional indicator letters
    "Mrs Griﬃths said",                # a ligature pasted from a PDF
    "ﬀion",
    "Aunt Weiss",                      # ß written ss
    "T\u2009E\u2009G\u2009A\u2009N",  # letter by letter, thin spaces
    "T • E • G • A • N",
    "I am a T E G A N fan",
    "F-F-I-O-N",
    "Mc Allister was there",           # Mc/Mac variants
    "Mr MacAllister",
    "gyda Charys",                     # Welsh mutations
    "on her bag: \u202esllewoH nageT\u202c",  # written backwards under a right-to-left override
    "#JusticeForTegan",                # inside a hashtag / camelCase identifier
    "TeganHowellsNotes",
]


@pytest.mark.parametrize("text", LEFT_BEFORE)
def test_the_name_is_found_and_replaced(matcher, text):
    assert matcher.search(text) is not None, text
    new, n = matcher.sub(text)
    assert n >= 1
    assert matcher.search(new) is None, new


KEPT = ["We hope it works", "a b c d", "Y / N", "Heading1", "00FC1A2B", "Times New Roman", "fine weather",
        "the street", "Mackenzie Road", "we fill the form", "h o p e"]


@pytest.mark.parametrize("text", KEPT)
def test_ordinary_text_is_kept(matcher, text):
    assert matcher.sub(text) == (text, 0)
