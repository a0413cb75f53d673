"""Shared fixtures. Every person named in fixtures is fictional."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "tests" / "fixtures" / "samples"
REFERRAL_SAMPLES = sorted(SAMPLES.glob("S0*.docx"))
MINUTES_SAMPLES = sorted(SAMPLES.glob("minutes-*.docx"))


def truth_for(docx: Path) -> dict:
    return json.loads(docx.with_suffix(".truth.json").read_text(encoding="utf-8"))


@pytest.fixture
def samples_dir() -> Path:
    return SAMPLES
