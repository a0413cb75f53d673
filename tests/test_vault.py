"""Vault: encryption round trip, key file safety, blind index. Names are fictional."""

from __future__ import annotations

import os
import stat

import pytest

from mailbot.errors import ConfigError
from mailbot.store.vault import Vault, VaultError, normalise_name


def test_key_file_created_0600_and_reused(tmp_path):
    key = tmp_path / "keys" / "mailbot.key"
    v1 = Vault.load_or_create(key)
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert not [p for p in key.parent.iterdir() if p.name != "mailbot.key"]  # no temp file left
    blob = v1.encrypt(b"Aoife Brennan")
    v2 = Vault.load_or_create(key)
    assert v2.decrypt(blob) == b"Aoife Brennan"
    assert v2.identity("Aoife Brennan", "2011-03-04") == v1.identity("Aoife Brennan", "2011-03-04")


def test_round_trip_random_nonce_and_tamper_detected(tmp_path):
    v = Vault.load_or_create(tmp_path / "k")
    a, b = v.encrypt(b"Ciaran Moloney"), v.encrypt(b"Ciaran Moloney")
    assert a != b and b"Ciaran" not in a
    assert a[0] == 1  # version byte
    assert v.decrypt(a) == b"Ciaran Moloney"
    obj = {"name": "Seán Ó Dálaigh", "known_as": ["Shay"]}
    assert v.decrypt_json(v.encrypt_json(obj)) == obj
    tampered = a[:-1] + bytes([a[-1] ^ 1])
    with pytest.raises(VaultError):
        v.decrypt(tampered)
    with pytest.raises(VaultError):
        v.decrypt(v.encrypt(b"x", b"case:CN1"), b"case:CN2")  # blobs cannot be swapped between cases
    other = Vault.load_or_create(tmp_path / "other")
    with pytest.raises(VaultError) as exc:
        other.decrypt(a)
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_key_file_readable_by_others_is_refused(tmp_path, mode):
    key = tmp_path / "k"
    Vault.load_or_create(key)
    os.chmod(key, mode)
    with pytest.raises(ConfigError) as exc:
        Vault.load_or_create(key)
    assert "chmod 600" in str(exc.value) and "\n" not in str(exc.value)


def test_damaged_key_file_refused(tmp_path):
    key = tmp_path / "k"
    key.write_text("mailbot-vault-key-v1:notbase64!!\n")
    os.chmod(key, 0o600)
    with pytest.raises(ConfigError):
        Vault.load_or_create(key)


def test_identity_folds_case_accents_apostrophes_hyphens_spaces(tmp_path):
    v = Vault.load_or_create(tmp_path / "k")
    base = v.identity("Seán O'Brien-Kelly", "2010-05-06")
    for variant in ("sean obrien kelly", "SEÁN O’BRIEN KELLY", "  Sean  O Brien-Kelly ", "Séan Obrienkelly"):
        assert v.identity(variant, "2010-05-06") == base
    assert v.identity("Seán O'Brien-Kelly", "2010-05-07") != base
    assert v.identity("Sean O'Brien", "2010-05-06") != base
    assert v.identity("Seán O'Brien-Kelly", None) != base
    # keyed: another vault gives another index; and it is not the plain name
    assert Vault.load_or_create(tmp_path / "k2").identity("Seán O'Brien-Kelly", "2010-05-06") != base
    assert "sean" not in base
    assert normalise_name("Máire Ní Bhriain") == "mairenibhriain"
