"""The last gate reads a Word part as it is shown: runs formatted all capitals, letters written as
symbol characters, a name spelt letter by letter, a name written backwards under a right-to-left
override, a name inside a camelCase identifier or #hashtag. Each of these is how a name could slip
through a stripper that reads the stored text only (found by the red-team corpus,
tests/fixtures/redteam). All people are fictional."""

from __future__ import annotations

import pytest

from mailbot.gate import build_gate
from people import protected

from tests.test_gate import DOCX, assert_refused_at, docx_with, message

PEOPLE = protected([{"name": "Hope Trevithick", "first_name": "Hope", "surname": "Trevithick", "known_as": [],
           "other_surnames": [], "family": ["Ffion Prydderch"]},
          {"name": "Tegan Howells", "first_name": "Tegan", "surname": "Howells", "known_as": [],
           "other_surnames": [], "family": []}])
W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'


def _body(xml: str) -> bytes:
    return docx_with(append_to={"word/document.xml": "</w:body>|" + f"<w:p {W}>{xml}</w:p>"})


CASES = {
    "caps": '<w:r><w:rPr><w:caps/></w:rPr><w:t>hope</w:t></w:r><w:r><w:t xml:space="preserve"> was upset</w:t></w:r>',
    "smallcaps": '<w:r><w:rPr><w:smallCaps w:val="1"/></w:rPr><w:t>hope</w:t></w:r>',
    "sym": "".join(f'<w:r><w:sym w:font="Arial" w:char="{ord(c):04X}"/></w:r>' for c in "TEGAN"),
    "spelled": "<w:r><w:t>She signed as P-R-Y-D-D-E-R-C-H</w:t></w:r>",
    "reversed": "<w:r><w:t>On her bag: \u202esllewoH nageT\u202c</w:t></w:r>",
    "camel": "<w:r><w:t>Hashtag #JusticeForTegan trending</w:t></w:r>",
    "leet": "<w:r><w:t>Messages from t3gan_h0wells on a game</w:t></w:r>",
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_gate_reads_a_name_as_it_is_shown(case):
    raw = message(attachments=[("CN78-coded-referral.docx", DOCX, _body(CASES[case]))])
    assert_refused_at(build_gate(PEOPLE).check_message(raw), "word/document.xml")


def test_lower_case_words_and_symbol_fonts_pass():
    xml = ('<w:r><w:t xml:space="preserve">We hope she is safe </w:t></w:r>'
           '<w:r><w:sym w:font="Wingdings" w:char="F0FC"/></w:r><w:r><w:t xml:space="preserve"> tick</w:t></w:r>'
           '<w:r><w:rPr><w:caps w:val="0"/></w:rPr><w:t xml:space="preserve"> hope</w:t></w:r>')
    raw = message(attachments=[("CN78-coded-referral.docx", DOCX, _body(xml))])
    assert build_gate(PEOPLE).check_message(raw) is None
