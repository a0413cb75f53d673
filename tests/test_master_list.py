"""Master List workbook: layout, dates, encryption. Names are fictional."""

from __future__ import annotations

import io
from datetime import date, datetime

import msoffcrypto
import openpyxl
import pytest

from mailbot.casework.master_list import (MasterRow, WorkbookPasswordError, build_master_list, case_sort_key,
                                 decrypt_workbook, encrypt_workbook)

ROWS = [
    MasterRow("CN10", "Aoife Brennan", date(2011, 3, 4), "Northside Youth Service", "lead@youth.example",
              date(2026, 1, 5), "Not known", datetime(2026, 2, 1, 10, 30), "open"),
    MasterRow("CN9", "Tadhg Ó Ceallaigh", None, "St Fictional's School", "head@school.example",
              date(2026, 1, 4), "Known, open, worker allocated", None, "open"),
    MasterRow("CN58B", "=HYPERLINK(\"http://evil.example\",\"Dervla\")", date(2012, 7, 8), "Family Support",
              "fs@family.example", date(2025, 11, 30), "Known, closed", None, "open"),
    MasterRow("CN58A", "Saoirse McGonigle", date(2010, 12, 31), "Family Support", "fs@family.example",
              date(2025, 11, 30), "Known, closed", None, "open"),
]
GEN = datetime(2026, 3, 1, 9, 15)


def _open(data: bytes):
    return openpyxl.load_workbook(io.BytesIO(data)).active


def test_layout_header_freeze_filter_dates_sorting():
    ws = _open(build_master_list(ROWS, network_name="Northside Network", generated_at=GEN, version=7))
    assert "Northside Network" in ws["A1"].value and "Version 7" in ws["A2"].value and "01/03/2026" in ws["A2"].value
    header = [c.value for c in ws[4]]
    assert header[:3] == ["Case code", "Name", "Date of birth"] and "Lead agency" in header
    assert all(c.font.bold for c in ws[4])
    assert ws.freeze_panes == "B5"
    assert ws.auto_filter.ref == "A4:I8"
    assert [ws.cell(row=r, column=1).value for r in range(5, 9)] == ["CN9", "CN10", "CN58A", "CN58B"]
    dob = ws["C6"]  # CN10's date of birth
    assert dob.is_date and dob.value == datetime(2011, 3, 4) and dob.number_format == "dd/mm/yyyy"
    meeting = ws["H6"]
    assert meeting.is_date and meeting.value == datetime(2026, 2, 1, 10, 30)
    assert ws["C5"].value is None  # unknown date of birth stays empty
    # a name that looks like a formula stays text
    assert ws["B8"].data_type == "s" and ws["B8"].value.startswith("=HYPERLINK")
    assert 18 <= ws.column_dimensions["B"].width <= 40


def test_deterministic_apart_from_generated_at():
    a = build_master_list(ROWS, network_name="N", generated_at=GEN, version=1)
    b = build_master_list(list(reversed(ROWS)), network_name="N", generated_at=GEN, version=1)
    c = build_master_list(ROWS, network_name="N", generated_at=datetime(2026, 3, 2, 9, 15), version=1)
    assert a == b and a != c


def test_empty_list_is_still_a_valid_workbook():
    ws = _open(build_master_list([], network_name="N", generated_at=GEN, version=1))
    assert ws["A4"].value == "Case code" and ws.max_row <= 5


def test_encrypted_workbook_opens_with_password_only():
    plain = build_master_list(ROWS, network_name="Northside Network", generated_at=GEN, version=2)
    enc = encrypt_workbook(plain, "c0rrect horse")
    assert enc[:8] == bytes.fromhex("d0cf11e0a1b11ae1")  # OLE compound file, not a zip
    for name in ("Aoife", "Brennan", "Tadhg", "Ceallaigh", "McGonigle", "Saoirse"):
        for form in (name, name.lower(), name.upper()):
            assert form.encode("utf-8") not in enc and form.encode("utf-16-le") not in enc
    # open with msoffcrypto directly, as a coordinator's Excel would
    office = msoffcrypto.OfficeFile(io.BytesIO(enc))
    assert office.is_encrypted()
    office.load_key(password="c0rrect horse")
    out = io.BytesIO()
    office.decrypt(out)
    ws = _open(out.getvalue())
    assert ws["A4"].value == "Case code" and ws.freeze_panes == "B5" and ws.auto_filter.ref
    assert ws["C6"].is_date and ws["B6"].value == "Aoife Brennan"
    assert decrypt_workbook(enc, "c0rrect horse") == plain
    with pytest.raises(WorkbookPasswordError) as exc:
        decrypt_workbook(enc, "wrong")
    assert "\n" not in str(exc.value)
    with pytest.raises(WorkbookPasswordError):
        decrypt_workbook(b"garbage" * 100, "x")


def test_sort_key():
    codes = ["CN58B", "CN100", "CN9", "odd", "CN58A", "CN10"]
    assert sorted(codes, key=case_sort_key) == ["CN9", "CN10", "CN58A", "CN58B", "CN100", "odd"]
