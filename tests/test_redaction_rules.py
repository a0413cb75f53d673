"""A network's choice to remove more than names (rules/redaction.toml)."""

import io
import zipfile
from datetime import date
from pathlib import Path

import pytest

from conftest import SAMPLES, truth_for
from mailbot.documents.coding import code_document
from mailbot.errors import ConfigError
from mailbot.documents.redaction_rules import (RedactionRules, date_spellings, field_protections,
                                     load_redaction_rules)
from mailbot.documents.referral import read_referral
from people import relatives, young

ROOT = Path(__file__).resolve().parent.parent


def _text(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return "\n".join(zf.read(n).decode("utf-8", "replace") for n in zf.namelist() if n.endswith(".xml"))


def test_shipped_rules_remove_only_names_by_default():
    assert load_redaction_rules(ROOT / "rules").remove_fields == ()


def test_unknown_field_is_refused(tmp_path):
    (tmp_path / "redaction.toml").write_text('remove_fields = ["shoe_size"]\n')
    with pytest.raises(ConfigError):
        load_redaction_rules(tmp_path)


def test_date_spellings_cover_the_usual_forms():
    s = date_spellings(date(2013, 3, 8))
    for form in ("08/03/2013", "8/3/2013", "08-03-13", "8 March 2013", "8th March 2013", "8 Mar 2013", "2013-03-08"):
        assert form in s


@pytest.mark.parametrize("sample", ["S01-table.docx", "S04-siblings-table.docx"])
def test_address_school_and_date_of_birth_removed_when_the_network_chooses(sample):
    form = SAMPLES / sample
    truth = truth_for(form)
    pkg, referral = read_referral(form)
    data = referral.to_json()
    codes = ["CN9"] if len(data["young_people"]) == 1 else [f"CN9{chr(65 + i)}" for i in range(len(data["young_people"]))]
    rules = RedactionRules(("address", "school", "date_of_birth"),
                           {"address": "[address removed]", "school": "[school removed]",
                            "date_of_birth": "[date of birth removed]"})
    coded = code_document(pkg, young(data["young_people"]), relatives(data["family"]), codes,
                          extra=field_protections(young(data["young_people"]), rules))
    text = _text(coded)
    for child in truth["young_people"]:
        assert child["address"] not in text
        assert child["school"] not in text
        assert "[address removed]" in text and "[school removed]" in text
        for spelling in date_spellings(date.fromisoformat(child["dob"])):
            assert spelling not in text
    assert "[date of birth removed]" in text
    for token in truth["protected_tokens"]:
        assert token.lower() not in text.lower()
    # what the network did not choose stays
    assert truth["young_people"][0]["former_address"].split(",")[0] in text


def test_default_keeps_address_and_school():
    form = SAMPLES / "S01-table.docx"
    truth = truth_for(form)
    pkg, referral = read_referral(form)
    data = referral.to_json()
    coded = code_document(pkg, young(data["young_people"]), relatives(data["family"]), ["CN9"],
                          extra=field_protections(young(data["young_people"]), RedactionRules()))
    text = _text(coded)
    assert truth["young_people"][0]["school"] in text
