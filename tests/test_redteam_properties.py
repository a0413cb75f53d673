"""Property: a name in a random form, put into a random document part that the first property test
(tests/test_name_properties.py) does not reach, is removed or the form is refused/held.

Parts: endnotes, glossary, customXml, custom properties, chart, SmartArt, first-page and even-page
headers of a second section, a simple field's instruction, a bookmark name, a comment's author, a
revision author, people.xml, a document variable, a picture's title, a legacy form field's default,
a content control's list item, a table caption, a numbering level's text, ruby text, a hidden run, a
hyperlink tooltip, a WordArt text path, the app properties' Manager, a run formatted all capitals.
Forms: full, first, surname, joined e-mail, handle with dots and digits, URL query, dotted initials,
an invisible character, a combining accent, a Cyrillic or Greek look-alike, fullwidth letters,
upper case, lower case, possessive, letter by letter, a #hashtag/camelCase identifier.

Coding (``code_referral_file``: reader, stripper, verifier, recall check) must raise a MailbotError
or leave no form of the name by the independent oracle (tests/leakcheck.py). Derandomised; every
drawn case of a part is coded and failures are reported together. All names are invented.
"""

from __future__ import annotations

import functools
import os
import sys
import tempfile
import urllib.parse
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st

from mailbot.casework.code_file import code_referral_file
from mailbot.errors import MailbotError

from leakcheck import find_leaks, joined_forms

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures" / "redteam"))
import make_redteam as mk  # noqa: E402

FIRSTS = ["Heledd", "Caoimhe", "Seonaid", "Przemek", "Chinonso", "Rukhsar", "Tadgh", "Morwen", "Ifeoma",
          "Lleucu", "Gráinne", "Wiesław", "Bushra", "Ewart", "Tudful"]
SURNAMES = ["Rhydderch", "Ní Bhraonáin", "Macphail", "Szczepańska", "Okonjo", "Hussain-Baig", "Penhaligon",
            "Trewartha", "Fearnley", "Ó Cuinn", "Dobrzańska", "Adeyinka"]
MOTHERS = ["Angharad", "Treasa", "Catriona", "Jadwiga", "Nkechi", "Shabana"]
CONS, VOWELS = "bcdfghjklmnprstvwz", "aeiou"
CYR = {"a": "\u0430", "e": "\u0435", "o": "\u043e", "p": "\u0440", "c": "\u0441", "i": "\u0456"}
GRK = {"o": "\u03bf", "i": "\u03b9", "a": "\u03b1"}
INVISIBLE = ["\u200b", "\u00ad", "\u2060", "\u200d"]


@st.composite
def random_word(draw):
    n = draw(st.integers(min_value=2, max_value=4))
    s = "".join(draw(st.sampled_from(CONS)) + draw(st.sampled_from(VOWELS)) for _ in range(n))
    return s[0].upper() + s[1:] + draw(st.sampled_from(["", "n", "r", "th"]))


names = st.tuples(st.one_of(st.sampled_from(FIRSTS), random_word()),
                  st.one_of(st.sampled_from(SURNAMES), random_word()))


def _last(s: str) -> str:
    return s.split()[-1]


def _ins(word: str, ch: str) -> str:
    i = max(1, len(word) // 2)
    return word[:i] + ch + word[i:]


def _swap(word: str, table: dict) -> str:
    for i, c in enumerate(word):
        if i and c in table:
            return word[:i] + table[c] + word[i + 1:]
    return _ins(word, "\u0301")


def _ascii(word: str) -> str:
    import unicodedata
    return "".join(c for c in unicodedata.normalize("NFKD", word) if c.isascii() and c.isalpha())


FORMS = {
    "full": lambda f, s, d: f"{f} {s}",
    "first": lambda f, s, d: f,
    "surname": lambda f, s, d: s,
    "email": lambda f, s, d: f"{_ascii(f).lower()}.{_ascii(_last(s)).lower()}{d}@mailbox.test",
    "handle": lambda f, s, d: f"@{_ascii(f)[0].lower()}.{_ascii(_last(s)).lower()}_{d % 100:02d}",
    "query": lambda f, s, d: f"https://clipshare.example.org/watch?user={_ascii(f).lower()}{_ascii(_last(s)).lower()}&v={d}",
    "initials": lambda f, s, d: f"{f[0]}.{_last(s)[0]}.",
    "invisible": lambda f, s, d: f + " " + _ins(_last(s), INVISIBLE[d % len(INVISIBLE)]),
    "combining": lambda f, s, d: _ins(f, "\u0308"),
    "cyrillic": lambda f, s, d: f"{f} {_swap(_last(s), CYR)}",
    "greek": lambda f, s, d: _swap(f, GRK),
    "fullwidth": lambda f, s, d: "".join(chr(ord(c) + 0xFEE0) if c.isascii() and c.isalpha() else c for c in f),
    "upper": lambda f, s, d: f"{f} {s}".upper(),
    "lower": lambda f, s, d: f"{f} {s}".lower(),
    "possessive": lambda f, s, d: f"{_last(s)}\u2019s",
    "spelled": lambda f, s, d: " ".join(f.upper()),
    "identifier": lambda f, s, d: f"#JusticeFor{_ascii(f)}",
}

PARTS = mk.INJECT_PARTS


def build_form(first: str, surname: str, mother: str, text: str, part: str) -> bytes:
    post, hooks, pieces = mk.inject(part, text)
    y = mk.person(f"{first} {surname}", "2012-03-14", "14/03/2012")
    s = mk.spec("P", "", [y], [dict(name=f"{mother} {_last(surname)}", relationship="mother")],
                ["The young person has been missing from school on Mondays",
                 "Staff are worried about contact with older youths at the retail park"] + pieces,
                [], post=post, zip_hooks=hooks)
    return mk.build(s)


_TMP = Path(tempfile.mkdtemp(prefix="mailbot-redteam-props-"))


def _code(data: bytes, tag: str):
    src, out = _TMP / f"{tag}.docx", _TMP / f"{tag}-CN90.docx"
    src.write_bytes(data)
    try:
        code_referral_file(src, "CN90", out)
    except MailbotError as exc:
        return None, exc
    return out.read_bytes(), None


@functools.lru_cache(maxsize=None)
def _twin(part: str, form: str, digits: int) -> bytes:
    return build_form("Qzxvy", "Vqzxw", "Xqvzy", FORMS[form]("Qzxvy", "Vqzxw", digits), part)


def _tokens(first, surname, mother, form):
    toks = [first, surname, f"{first} {surname}", mother, f"{mother} {_last(surname)}"]
    if form == "initials":
        toks.append(f"{first[0]}.{_last(surname)[0]}.")
    return toks


FORM_NAMES = sorted(FORMS)


def test_base_form_codes_clean():
    data, err = _code(build_form("Heledd", "Rhydderch", "Angharad", "nothing", "hidden"), "base")
    assert err is None, err
    assert not find_leaks(data, _tokens("Heledd", "Rhydderch", "Angharad", "full"),
                          joined=joined_forms([{"name": "Heledd Rhydderch"}]))


@pytest.mark.parametrize("part", PARTS)
def test_name_in_any_form_in_any_part_is_removed_or_held(part):
    failures: list[str] = []
    shift = PARTS.index(part) * 3

    # two drawn cases a part in the suite (the parts together still cover every form: the shift);
    # PROP_PARTS_EXAMPLES=20 for a deeper run
    @settings(max_examples=int(os.environ.get("PROP_PARTS_EXAMPLES", "2")), deadline=None, derandomize=True,
              database=None,
              phases=(Phase.explicit, Phase.generate),
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    @given(name=names, mother=st.sampled_from(MOTHERS), k=st.integers(min_value=0, max_value=len(FORMS) - 1),
           digits=st.integers(min_value=2005, max_value=2014))
    def case(name, mother, k, digits):
        form = FORM_NAMES[(k + shift) % len(FORM_NAMES)]
        first, surname = name
        if first == surname or first == mother:
            return
        if form == "initials" and (first[0] + _last(surname)[0]) == "CN":
            return
        text = FORMS[form](first, surname, digits)
        tokens = _tokens(first, surname, mother, form)
        joined = joined_forms([{"name": f"{first} {_last(surname)}"}, {"name": f"{mother} {_last(surname)}"}])
        if find_leaks(_twin(part, form, digits), tokens, joined=joined):
            return
        tag = f"{part}-{form}-{len(failures)}-{digits}"
        note(f"part={part} form={form} text={text!r}")
        data, err = _code(build_form(first, surname, mother, text, part), tag)
        if err is not None:
            if not str(err).strip():
                failures.append(f"{form} {text!r}: refused with an empty message")
            return
        leaks = find_leaks(data, tokens, filename=f"{tag}-CN90.docx", joined=joined)
        if leaks:
            failures.append(f"{form} form {text!r} ({first} {surname}): left {leaks}")

    case()
    assert not failures, f"in the {part}: " + "; ".join(failures)
