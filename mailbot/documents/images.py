"""Text hidden inside pictures (PNG, JPEG, GIF): walking their structure, stripping it, finding it.

Each format's walk is written once and serves the cleaner (``*_strip_text``: the picture with
only what draws it kept) and the checks (``png_text_chunks``, ``jpeg_text_segments``,
``gif_text_blocks``: what text-carrying pieces are still there). A structure that cannot be
followed to its end raises :class:`ImageUnreadable`. Pure.
"""

from __future__ import annotations

import struct

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# PNG chunks that carry pixels or how to show them, never text
PNG_KEEP = {b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"sBIT", b"pHYs",
            b"bKGD", b"hIST", b"acTL", b"fcTL", b"fdAT"}
# JPEG markers kept: SOFn, DHT, DAC, DQT, DRI, DNL, DHP, EXP, RSTn, SOS; APP0 only JFIF/JFXX, APP14 only Adobe
_JPEG_STANDALONE = set(range(0xD0, 0xD8)) | {0x01}


class ImageUnreadable(ValueError):
    """A PNG or JPEG whose structure could not be followed to the end."""


# -- image metadata --------------------------------------------------------------

def png_chunks(data: bytes):
    """Yield (type, start, end) for each chunk of a PNG, up to and including IEND; then
    (b"", end of IEND, len(data)) for anything after it. Raises ImageUnreadable on a damaged
    structure (the one walk over a PNG: the cleaner, its check, and the verifier use it)."""
    if not data.startswith(PNG_MAGIC):
        raise ImageUnreadable("not a PNG")
    pos, n = len(PNG_MAGIC), len(data)
    while True:
        if pos + 8 > n:
            raise ImageUnreadable("PNG ends before IEND")
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        end = pos + 12 + length
        if end > n:
            raise ImageUnreadable("PNG chunk runs past the end")
        yield ctype, pos, end
        pos = end
        if ctype == b"IEND":
            yield b"", pos, n
            return


def png_strip_text(data: bytes) -> bytes:
    """The PNG with only pixel and colour chunks kept (no tEXt, zTXt, iTXt, eXIf, iCCP, ...).

    Anything after IEND is dropped. Raises ImageUnreadable on a damaged structure.
    """
    return PNG_MAGIC + b"".join(data[start:end] for ctype, start, end in png_chunks(data) if ctype in PNG_KEEP)


def png_text_chunks(data: bytes) -> list[bytes]:
    """The chunk types of a PNG that are not in the kept set (empty: nothing but pixels)."""
    bad = []
    for ctype, start, end in png_chunks(data):
        if ctype == b"":
            if data[start:end].strip(b"\x00"):
                bad.append(b"trailing data")
        elif ctype not in PNG_KEEP:
            bad.append(ctype)
    return bad


def _jpeg_keep(marker: int, payload: bytes) -> bool:
    if marker == 0xFE:  # COM
        return False
    if marker == 0xE0:
        return payload.startswith((b"JFIF\x00", b"JFXX\x00"))
    if marker == 0xEE:
        return payload.startswith(b"Adobe")
    return not (0xE1 <= marker <= 0xEF)


def _jpeg_segments(data: bytes):
    """Yield (start, end, marker, payload) for every segment; entropy-coded data as marker None."""
    if not data.startswith(b"\xff\xd8"):
        raise ImageUnreadable("not a JPEG")
    yield 0, 2, 0xD8, b""
    pos, n = 2, len(data)
    while pos < n:
        if data[pos] != 0xFF:
            raise ImageUnreadable("JPEG marker expected")
        # fill bytes
        while pos < n and data[pos] == 0xFF:
            pos += 1
        if pos >= n:
            raise ImageUnreadable("JPEG ends inside a marker")
        marker = data[pos]
        start = pos - 1
        pos += 1
        if marker == 0xD9:  # EOI
            yield start, pos, marker, b""
            return
        if marker in _JPEG_STANDALONE:
            yield start, pos, marker, b""
            continue
        if pos + 2 > n:
            raise ImageUnreadable("JPEG segment length missing")
        (length,) = struct.unpack(">H", data[pos:pos + 2])
        if length < 2 or pos + length > n:
            raise ImageUnreadable("JPEG segment runs past the end")
        end = pos + length
        yield start, end, marker, data[pos + 2:end]
        pos = end
        if marker == 0xDA:  # SOS: entropy-coded data up to the next marker that is not RSTn or stuffing
            scan = pos
            while True:
                scan = data.find(b"\xff", scan)
                if scan < 0 or scan + 1 >= n:
                    raise ImageUnreadable("JPEG scan data has no end")
                nxt = data[scan + 1]
                if nxt == 0x00 or 0xD0 <= nxt <= 0xD7 or nxt == 0xFF:
                    scan += 1 if nxt == 0xFF else 2
                    continue
                break
            yield pos, scan, None, b""
            pos = scan
    raise ImageUnreadable("JPEG ends before EOI")


def jpeg_strip_text(data: bytes) -> bytes:
    """The JPEG without COM and APP1-APP15 segments (APP0 JFIF and APP14 Adobe kept), nothing after EOI."""
    out = []
    for start, end, marker, payload in _jpeg_segments(data):
        if marker is None or _jpeg_keep(marker, payload):
            out.append(data[start:end])
    return b"".join(out)


def jpeg_text_segments(data: bytes) -> list[str]:
    """The metadata segments still in a JPEG (COM, APPn other than JFIF/Adobe, trailing data)."""
    bad, last = [], 0
    for _start, end, marker, payload in _jpeg_segments(data):
        last = end
        if marker is not None and not _jpeg_keep(marker, payload):
            bad.append("COM" if marker == 0xFE else f"APP{marker - 0xE0}")
    if data[last:].strip(b"\x00"):
        bad.append("trailing data")
    return bad


def _gif_blocks(data: bytes):
    """Yield (start, end, keep) for the parts of a GIF; keep is False for text (comments, plain
    text, application data other than the animation loop)."""
    if not data.startswith((b"GIF87a", b"GIF89a")) or len(data) < 13:
        raise ImageUnreadable("not a GIF")
    pos = 13
    flags = data[10]
    if flags & 0x80:
        pos += 3 * (2 << (flags & 7))
    yield 0, pos, True
    n = len(data)

    def sub_blocks(p: int) -> int:
        while True:
            if p >= n:
                raise ImageUnreadable("GIF ends inside a block")
            size = data[p]
            p += 1 + size
            if size == 0:
                return p
    while pos < n:
        kind = data[pos]
        if kind == 0x3B:  # trailer
            yield pos, pos + 1, True
            return
        if kind == 0x2C:  # image: descriptor, local colour table, LZW code size, data
            if pos + 10 > n:
                raise ImageUnreadable("GIF image descriptor cut")
            f = data[pos + 9]
            end = pos + 10 + (3 * (2 << (f & 7)) if f & 0x80 else 0) + 1
            end = sub_blocks(end)
            yield pos, end, True
            pos = end
        elif kind == 0x21:
            if pos + 2 > n:
                raise ImageUnreadable("GIF extension cut")
            label = data[pos + 1]
            end = sub_blocks(pos + 2)
            keep = label == 0xF9 or (label == 0xFF and data[pos + 2:pos + 14] in (
                b"\x0bNETSCAPE2.0", b"\x0bANIMEXTS1.0"))
            yield pos, end, keep
            pos = end
        else:
            raise ImageUnreadable("GIF block unknown")
    raise ImageUnreadable("GIF ends before its trailer")


def gif_strip_text(data: bytes) -> bytes:
    """The GIF without comment, plain-text and application extensions (the animation loop kept)."""
    return b"".join(data[a:b] for a, b, keep in _gif_blocks(data) if keep)


def gif_text_blocks(data: bytes) -> int:
    """How many text-carrying blocks (and trailing data) a GIF still has."""
    bad, last = 0, 0
    for _a, b, keep in _gif_blocks(data):
        bad += not keep
        last = b
    return bad + bool(data[last:].strip(b"\x00"))


def image_kind(data: bytes) -> str | None:
    if data.startswith(PNG_MAGIC):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    return None


#: the cleaner and the check of each picture format
STRIP = {"png": png_strip_text, "jpeg": jpeg_strip_text, "gif": gif_strip_text}
TEXT_LEFT = {"png": png_text_chunks, "jpeg": jpeg_text_segments, "gif": gif_text_blocks}
