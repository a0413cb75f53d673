"""The files inside a TNEF blob (winmail.dat, Outlook's "Rich Text" format): a minimal reader.

Decision: implemented here rather than depending on a library: attAttachTitle / attAttachData /
attAttachRendData, and the MAPI properties PR_ATTACH_LONG_FILENAME / PR_ATTACH_DATA_BIN inside
attAttachment. Pure; :func:`read_tnef` returns None for anything it cannot read."""

from __future__ import annotations

import struct

TNEF_SIGNATURE = 0x223E9F78
TNEF_TYPES = ("application/ms-tnef", "application/vnd.ms-tnef")

ATT_ATTACH_DATA = 0x800F
ATT_ATTACH_TITLE = 0x8010
ATT_ATTACH_REND_DATA = 0x9002
ATT_ATTACHMENT = 0x9005
PR_ATTACH_DATA_BIN = 0x3701
PR_ATTACH_FILENAME = 0x3704
PR_ATTACH_LONG_FILENAME = 0x3707
LVL_ATTACHMENT = 0x02

_FIXED = {0x0001: 4, 0x0002: 4, 0x0003: 4, 0x0004: 4, 0x0005: 8, 0x0006: 8, 0x0007: 8,
          0x000A: 4, 0x000B: 4, 0x0014: 8, 0x0040: 8, 0x0048: 16}
_VARIABLE = {0x001E, 0x001F, 0x0102, 0x000D}


def _pad4(n: int) -> int:
    return (n + 3) & ~3


def _mapi_props(data: bytes) -> dict[int, bytes | str]:
    """The few MAPI attachment properties we need (raises on damaged data)."""
    props: dict[int, bytes | str] = {}
    (count,) = struct.unpack_from("<I", data, 0)
    pos = 4
    for _ in range(min(count, 10000)):
        ptype, pid = struct.unpack_from("<HH", data, pos)
        pos += 4
        if pid >= 0x8000:  # named property: GUID, kind, id or name
            pos += 16
            (kind,) = struct.unpack_from("<I", data, pos)
            pos += 4
            if kind == 0:
                pos += 4
            else:
                (nlen,) = struct.unpack_from("<I", data, pos)
                pos += 4 + _pad4(nlen)
        multi = bool(ptype & 0x1000)
        base = ptype & ~0x1000
        nvalues = 1
        if multi or base in _VARIABLE:
            (nvalues,) = struct.unpack_from("<I", data, pos)
            pos += 4
        values = []
        for _v in range(min(nvalues, 100000)):
            if base in _FIXED:
                values.append(data[pos:pos + _FIXED[base]])
                pos += _FIXED[base]
            elif base in _VARIABLE:
                (vlen,) = struct.unpack_from("<I", data, pos)
                pos += 4
                if pos + vlen > len(data):
                    raise ValueError("truncated")
                values.append(data[pos:pos + vlen])
                pos += _pad4(vlen)
            else:
                raise ValueError(f"unknown MAPI type {ptype:#x}")
        if pos > len(data):
            raise ValueError("truncated")
        if values and pid in (PR_ATTACH_DATA_BIN, PR_ATTACH_FILENAME, PR_ATTACH_LONG_FILENAME):
            raw = values[0]
            if base == 0x001F:
                props[pid] = raw.decode("utf-16-le", "replace").rstrip("\x00")
            elif base == 0x001E:
                props[pid] = raw.decode("cp1252", "replace").rstrip("\x00")
            elif base == 0x000D and pid == PR_ATTACH_DATA_BIN:
                props[pid] = raw[16:]  # an embedded object starts with its IID
            else:
                props[pid] = raw
    return props


def read_tnef(data: bytes) -> list[tuple[str, bytes]] | None:
    """The files inside a TNEF (winmail.dat) blob, or None when it is not readable."""
    if len(data) < 6 or struct.unpack_from("<I", data, 0)[0] != TNEF_SIGNATURE:
        return None
    pos = 6
    files: list[dict] = []
    current: dict | None = None
    try:
        while pos + 9 <= len(data):
            level = data[pos]
            attr, length = struct.unpack_from("<II", data, pos + 1)
            pos += 9
            if length > len(data) - pos:
                raise ValueError("truncated attribute")
            value = data[pos:pos + length]
            pos += length + 2  # checksum
            if level != LVL_ATTACHMENT:
                continue
            attr_id = attr & 0xFFFF
            if attr_id == (ATT_ATTACH_REND_DATA & 0xFFFF) or current is None:
                current = {}
                files.append(current)
            if attr_id == (ATT_ATTACH_TITLE & 0xFFFF):
                current["title"] = value.split(b"\x00", 1)[0].decode("cp1252", "replace")
            elif attr_id == (ATT_ATTACH_DATA & 0xFFFF):
                current["data"] = value
            elif attr_id == (ATT_ATTACHMENT & 0xFFFF):
                try:
                    props = _mapi_props(value)
                except (struct.error, ValueError):
                    props = {}
                if isinstance(props.get(PR_ATTACH_LONG_FILENAME), str):
                    current["long"] = props[PR_ATTACH_LONG_FILENAME]
                elif isinstance(props.get(PR_ATTACH_FILENAME), str):
                    current.setdefault("title", props[PR_ATTACH_FILENAME])
                if isinstance(props.get(PR_ATTACH_DATA_BIN), bytes) and "data" not in current:
                    current["data"] = props[PR_ATTACH_DATA_BIN]
    except (struct.error, ValueError, IndexError):
        if not any("data" in f for f in files):
            return None
    out = []
    for i, f in enumerate(files, 1):
        if "data" not in f:
            continue
        name = (f.get("long") or f.get("title") or f"attachment-{i}.bin").strip() or f"attachment-{i}.bin"
        out.append((name, f["data"]))
    return out


def is_tnef(content_type: str, filename: str, data: bytes) -> bool:
    """Is this attachment a TNEF blob (by its type, its name winmail.dat, or its signature)?"""
    return (content_type in TNEF_TYPES
            or filename.lower() == "winmail.dat"
            or (len(data) >= 4 and struct.unpack("<I", data[:4])[0] == TNEF_SIGNATURE))
