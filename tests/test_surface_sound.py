"""The stripper's fast first test (part_surface.may_hold_name, on a part's cached surface) is sound: it
never says "no name here" about XML in which the matcher itself finds a name. Hypothesis puts a
name, written any way, among random words, punctuation, digits and markup. Fictional names only."""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot.documents import part_surface
from mailbot.documents.matcher import build_matcher
from mailbot.documents.names import protected_names
from people import relatives, young

PEOPLE = [
    ([{"name": "Rhiannon Ap Gwilym", "first_name": "Rhiannon", "surname": "Ap Gwilym", "known_as": ["Rhi"]}],
     [{"name": "Dawn O'Connell", "relationship": "mother"}, {"name": "Sion Bevan", "relationship": "brother"}]),
    ([{"name": "Kwame Mensah-Boateng", "first_name": "Kwame", "surname": "Mensah-Boateng"}],
     [{"name": "Grace Mensah", "relationship": "mother"}]),
]
MATCHERS = [build_matcher(protected_names(young(c), relatives(f), ["CN7"])) for c, f in PEOPLE]

WRITTEN = st.sampled_from([
    "Rhiannon", "RHIANNON", "Rhi", "Rhiannon Ap Gwilym", "rhiannonapgwilym2011", "@rapgwilym_11",
    "R.A.G.", "RAG", "Dawn", "Dawn O’Connell", "doconnell", "Sion", "Siony", "Kwame", "Mensah-Boateng",
    "kmensahboateng", "K.M.", "Grace", "Gracie", "Rhi\u00adannon", "Rhiann\u043en", "Kwa\u0301me",
])
FILLER = st.lists(st.sampled_from(["over", "the", "summer", "grace", "period", "dawn", "2011", "00FC12AB",
                                   "w:val", "-", "'s", ".", ",", "/", "@", "http://x.example/u/", "%20",
                                   "Section", "D", "Ms", "Mr", "\u200b", "&amp;"]), max_size=8)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(MATCHERS) - 1), FILLER, WRITTEN, FILLER, st.sampled_from(["text", "attr", "split", "comment"]))
def test_the_fast_test_never_misses_what_the_matcher_finds(which, before, name, after, where):
    matcher = MATCHERS[which]
    text = " ".join(before + [name] + after)
    if where == "text":
        xml = f"<w:p><w:r><w:t>{escape(text)}</w:t></w:r></w:p>"
    elif where == "attr":
        xml = f"<w:p><w:r w:descr={quoteattr(text)}/></w:p>"
    elif where == "split":
        half = len(text) // 2
        xml = f"<w:p><w:r><w:t>{escape(text[:half])}</w:t></w:r><w:r><w:t>{escape(text[half:])}</w:t></w:r></w:p>"
    else:
        xml = f"<w:p><!-- {text.replace('--', '')} --></w:p>"
    data = ('<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="urn:w">' + xml + "</w:document>").encode()
    if matcher.search(text) is not None or matcher.edits(text):
        assert part_surface.may_hold_name(data, matcher), (where, text)


def test_a_surface_cache_keeps_its_budget_and_answers_as_without_it():
    cache = part_surface.SurfaceCache(entries=2, budget=10_000)
    cache.put(("a",), ("A",), 1000)
    cache.put(("b",), ("B",), 1000)
    assert len(cache) == 2 and cache.get(("a",)) == ("A",)
    cache.put(("c",), ("C",), 1000)  # a third entry: it starts again
    assert len(cache) == 1 and cache.get(("a",)) is None and cache.get(("c",)) == ("C",)
    cache.put(("d",), ("D",), 3000)  # 3 x 1000 + 3 x 3000 > 10,000 bytes: it starts again
    assert len(cache) == 1 and cache.get(("d",)) == ("D",)
    matcher = MATCHERS[0]
    body = "<w:p><w:r><w:t>" + "ordinary words of a long style part " * 60 + "</w:t></w:r></w:p>"
    data = ('<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="urn:w">' + body + "</w:document>").encode()
    cache = part_surface.SurfaceCache()
    first = part_surface.may_hold_name(data, matcher, cache)
    assert len(cache) == 1
    assert part_surface.may_hold_name(data, matcher, cache) == first == part_surface.may_hold_name(data, matcher)
