"""Reading filled Referral Forms: the samples, and synthetic layouts built here. All names are fictional."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time

import docx
import pytest

from mailbot.errors import BadField, MailbotError, NotAReferral
from mailbot.referral import parse_yes_no, load_rules, read_referral, split_list, split_name

from conftest import REFERRAL_SAMPLES, ROOT, SAMPLES, truth_for

KEYMAP = [("name", "name"), ("first", "first_name"), ("surname", "surname"), ("known_as", "known_as"),
          ("other_surnames", "other_surnames"), ("dob", "date_of_birth"), ("gender", "gender"),
          ("address", "address"), ("former_address", "former_address"), ("school", "school")]


@pytest.mark.parametrize("form", REFERRAL_SAMPLES, ids=lambda p: p.stem)
def test_sample_matches_truth(form):
    truth = truth_for(form)
    _pkg, ref = read_referral(form)
    data = ref.to_json()
    assert len(data["young_people"]) == len(truth["young_people"])
    for want, got in zip(truth["young_people"], data["young_people"]):
        for tk, jk in KEYMAP:
            assert got[jk] == want[tk], (form.name, tk)
    assert data["family"] == truth["family"]
    assert data["referring_agency"] == truth["lead_agency"]
    assert data["referrer"]["email"] == truth["referrer_email"]
    assert data["concerns"] == truth["concerns"]
    for k in ("parental_consent", "young_person_informed", "known_to_social_work"):
        assert data[k] == truth[k], k
    assert set(data) == {"young_people", "family", "referring_agency", "referrer", "referral_date", "concerns",
                         "suggested_agencies", "parental_consent", "young_person_informed",
                         "known_to_social_work"}


def test_cli_referral_parse_json():
    form = SAMPLES / "S04-siblings-table.docx"
    out = subprocess.run([sys.executable, "-m", "mailbot.cli", "referral", "parse", str(form), "--json"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert [c["date_of_birth"] for c in data["young_people"]] == ["2013-03-08", "2014-08-07"]
    assert data["referring_agency"] == "Westbury Young People's Drug Service"
