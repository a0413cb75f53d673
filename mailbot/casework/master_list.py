"""The Master List: the only document that carries young people's names.

Pure functions: rows in, workbook bytes out. :func:`build_master_list` makes
an .xlsx a coordinator is glad to open (title and version on top, bold
frozen header, filter, real dates shown dd/mm/yyyy, one row per case sorted
by case number). :func:`encrypt_workbook` password-protects it with Office's
own "agile" encryption (msoffcrypto-tool), so Excel/LibreOffice ask for the
password and the email carrying it holds only opaque bytes.

Deterministic: the same rows, version and ``generated_at`` give the same
bytes (document properties and zip timestamps come from ``generated_at``).
Encryption is randomised (salt), as it must be.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from datetime import date, datetime

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from mailbot.errors import MailbotError

HEADER_ROW = 4
DATE_FORMAT = "dd/mm/yyyy"
DATETIME_FORMAT = "dd/mm/yyyy hh:mm"

COLUMNS = [
    # (header, attribute, min width, max width)
    ("Case code", "code", 10, 12),
    ("Name", "name", 18, 40),
    ("Date of birth", "date_of_birth", 13, 13),
    ("Lead agency", "lead_agency", 16, 40),
    ("Lead contact", "lead_contact", 18, 40),
    ("Referred on", "referred_on", 12, 12),
    ("Social Work", "social_work", 14, 45),
    ("Next meeting", "next_meeting", 17, 17),
    ("Status", "status", 8, 12),
]


class WorkbookPasswordError(MailbotError):
    """The Master List cannot be opened with this password."""

    reason = "bad-password"


@dataclass
class MasterRow:
    code: str
    name: str
    date_of_birth: date | None
    lead_agency: str
    lead_contact: str
    referred_on: date
    social_work: str
    next_meeting: datetime | None
    status: str


_CODE_RE = re.compile(r"^\s*CN\s*(\d+)\s*([A-Za-z]*)\s*$")


def case_sort_key(code: str):
    """CN9 < CN10 < CN58A < CN58B; anything odd sorts last, by text."""
    m = _CODE_RE.match(code or "")
    if not m:
        return (1, 0, "", code or "")
    return (0, int(m.group(1)), m.group(2).upper(), "")


def _text(value) -> str:
    return ILLEGAL_CHARACTERS_RE.sub("", str(value or ""))


def _set_text(cell, value) -> None:
    cell.value = _text(value)
    # a name or agency starting with "=" must stay text, never become a formula
    cell.data_type = "s"


def _naive(value: datetime) -> datetime:
    return value.replace(tzinfo=None) if value.tzinfo else value


def build_master_list(rows, *, network_name: str, generated_at: datetime, version: int) -> bytes:
    rows = sorted(rows, key=lambda r: case_sort_key(r.code))
    generated_at = _naive(generated_at).replace(microsecond=0)
    wb = Workbook()
    ws = wb.active
    ws.title = "Master List"

    last_col = get_column_letter(len(COLUMNS))
    title = ws.cell(row=1, column=1)
    _set_text(title, f"{network_name} - Master List")
    title.font = Font(bold=True, size=14)
    ws.merge_cells(f"A1:{last_col}1")
    info = ws.cell(row=2, column=1)
    _set_text(info, f"Version {version}, generated {generated_at:%d/%m/%Y %H:%M}. "
                    f"{len(rows)} case(s). CONFIDENTIAL: the only document with names. "
                    "Do not forward, print or save it unprotected.")
    info.font = Font(italic=True, color="9C0006")
    ws.merge_cells(f"A2:{last_col}2")

    header_fill = PatternFill("solid", fgColor="DDEBF7")
    for col, (header, _attr, _mn, _mx) in enumerate(COLUMNS, start=1):
        cell = ws.cell(row=HEADER_ROW, column=col)
        _set_text(cell, header)
        cell.font = Font(bold=True)
        cell.fill = header_fill
        cell.alignment = Alignment(vertical="center")

    widths = [len(h) + 2 for h, *_ in COLUMNS]
    for r, row in enumerate(rows, start=HEADER_ROW + 1):
        for col, (_header, attr, _mn, _mx) in enumerate(COLUMNS, start=1):
            value = getattr(row, attr)
            cell = ws.cell(row=r, column=col)
            if isinstance(value, datetime):
                cell.value = _naive(value)
                cell.number_format = DATETIME_FORMAT
                shown = 16
            elif isinstance(value, date):
                cell.value = value
                cell.number_format = DATE_FORMAT
                shown = 10
            else:
                _set_text(cell, value)
                shown = len(cell.value)
            cell.alignment = Alignment(vertical="top")
            widths[col - 1] = max(widths[col - 1], shown + 2)

    for col, (_h, _a, mn, mx) in enumerate(COLUMNS, start=1):
        ws.column_dimensions[get_column_letter(col)].width = max(mn, min(mx, widths[col - 1]))

    last_row = HEADER_ROW + max(len(rows), 1)
    ws.freeze_panes = f"B{HEADER_ROW + 1}"
    ws.auto_filter.ref = f"A{HEADER_ROW}:{last_col}{last_row}"
    ws.print_title_rows = f"{HEADER_ROW}:{HEADER_ROW}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True

    wb.properties.creator = "mailbot"
    wb.properties.lastModifiedBy = "mailbot"
    wb.properties.title = f"{_text(network_name)} Master List v{version}"
    wb.properties.created = generated_at
    wb.properties.modified = generated_at

    buf = io.BytesIO()
    wb.save(buf)
    return _normalise_zip(buf.getvalue(), generated_at)


def _normalise_zip(data: bytes, stamp: datetime) -> bytes:
    """Rewrite the zip with fixed entry timestamps so output is reproducible."""
    stamp_tuple = (max(stamp.year, 1980), stamp.month, stamp.day, stamp.hour, stamp.minute, stamp.second)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            zi = zipfile.ZipInfo(info.filename, date_time=stamp_tuple)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o600 << 16
            dst.writestr(zi, src.read(info.filename))
    return out.getvalue()


def encrypt_workbook(data: bytes, password: str) -> bytes:
    """Office agile encryption (what Excel's "Encrypt with password" does)."""
    if not password:
        raise MailbotError("The Master List password is empty; set master_list_password in the config.",
                           reason="config")
    from msoffcrypto.format.ooxml import OOXMLFile

    out = io.BytesIO()
    OOXMLFile(io.BytesIO(data)).encrypt(password, out)
    return out.getvalue()


def decrypt_workbook(data: bytes, password: str) -> bytes:
    import msoffcrypto
    from msoffcrypto import exceptions as mexc

    try:
        office = msoffcrypto.OfficeFile(io.BytesIO(data))
        office.load_key(password=password, verify_password=True)
        out = io.BytesIO()
        office.decrypt(out)
    except mexc.InvalidKeyError:
        raise WorkbookPasswordError("The Master List cannot be opened with this password.") from None
    except Exception as exc:  # msoffcrypto raises many kinds on garbage input
        raise WorkbookPasswordError(
            f"The Master List file is not an encrypted workbook ({type(exc).__name__}).") from None
    return out.getvalue()
