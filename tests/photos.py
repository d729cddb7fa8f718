"""Photo bytes for tests: JPEG/PNG/WebP files with (or without) EXIF GPS, orientation and a camera serial,
built by hand so a test knows exactly which metadata a file carries."""

from __future__ import annotations

import struct
import zlib

SERIAL = b"SERIAL-4242-SECRET"  # a camera body serial that must never reach the public copy


def _rational(value: float) -> bytes:
    return struct.pack(">II", round(value * 10_000), 10_000)


def _dms(value: float) -> bytes:
    value = abs(value)
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = (value - degrees - minutes / 60) * 3600
    return struct.pack(">II", degrees, 1) + struct.pack(">II", minutes, 1) + _rational(seconds)


def _ifd(at: int, entries: list[tuple[int, int, int, bytes]]) -> tuple[bytes, bytes]:
    """An IFD placed at offset ``at`` (its out-of-line values right after it): (IFD bytes, value bytes)."""
    data_at = at + 2 + 12 * len(entries) + 4
    table = struct.pack(">H", len(entries))
    values = b""
    for tag, kind, count, value in sorted(entries):
        if len(value) <= 4:
            table += struct.pack(">HHI", tag, kind, count) + value.ljust(4, b"\x00")
        else:
            table += struct.pack(">HHII", tag, kind, count, data_at + len(values))
            values += value
    return table + struct.pack(">I", 0), values


def exif_tiff(lat: float | None = None, lng: float | None = None, orientation: int | None = None) -> bytes:
    """A big-endian TIFF block: IFD0 (orientation, body serial, GPS pointer) and a GPS IFD after it."""
    entries: list[tuple[int, int, int, bytes]] = [(0xA431, 2, len(SERIAL) + 1, SERIAL + b"\x00")]
    if orientation is not None:
        entries.append((0x0112, 3, 1, struct.pack(">HH", orientation, 0)))
    if lat is None or lng is None:
        table, values = _ifd(8, entries)
        return b"MM\x00\x2a" + struct.pack(">I", 8) + table + values
    # The IFD0 size does not depend on the pointer's value: lay it out once to learn where GPS goes.
    probe_table, probe_values = _ifd(8, [*entries, (0x8825, 4, 1, b"\x00" * 4)])
    gps_at = 8 + len(probe_table) + len(probe_values)
    table, values = _ifd(8, [*entries, (0x8825, 4, 1, struct.pack(">I", gps_at))])
    gps_table, gps_values = _ifd(
        gps_at,
        [
            (1, 2, 2, b"N\x00" if lat >= 0 else b"S\x00"),
            (2, 5, 3, _dms(lat)),
            (3, 2, 2, b"E\x00" if lng >= 0 else b"W\x00"),
            (4, 5, 3, _dms(lng)),
        ],
    )
    return b"MM\x00\x2a" + struct.pack(">I", 8) + table + values + gps_table + gps_values


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


# Image data stands in for a real scan: the parser copies it verbatim, so any bytes do.
SCAN = bytes(range(256)) * 8


def jpeg(
    lat: float | None = None,
    lng: float | None = None,
    *,
    orientation: int | None = None,
    exif: bool = True,
    padding: int = 0,
    pixels: bytes = b"",
) -> bytes:
    """A JPEG whose scan data is ``pixels`` (kept verbatim by stripping) and ``padding`` zero bytes."""
    app0 = _segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
    app1 = _segment(0xE1, b"Exif\x00\x00" + exif_tiff(lat, lng, orientation)) if exif else b""
    xmp = _segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta>owner: Alice</x:xmpmeta>") if exif else b""
    comment = _segment(0xFE, b"taken by Alice 13800001111") if exif else b""
    dqt = _segment(0xDB, b"\x00" + bytes(range(1, 65)))
    sof = _segment(0xC0, b"\x08\x00\x10\x00\x10\x01\x01\x11\x00")
    dht = _segment(0xC4, b"\x00" + b"\x01" + b"\x00" * 15 + b"\x00")
    sos = _segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")
    return (
        b"\xff\xd8"
        + app0
        + app1
        + xmp
        + comment
        + dqt
        + sof
        + dht
        + sos
        + SCAN
        + pixels
        + b"\x00" * padding
        + b"\xff\xd9"
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(lat: float | None = None, lng: float | None = None) -> bytes:
    ihdr = _chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
    exif = _chunk(b"eXIf", exif_tiff(lat, lng)) if lat is not None else b""
    text = _chunk(b"tEXt", b"Author\x00Alice 13800001111")
    idat = _chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
    return b"\x89PNG\r\n\x1a\n" + ihdr + exif + text + idat + _chunk(b"IEND", b"")


def _riff_chunk(kind: bytes, data: bytes) -> bytes:
    return kind + struct.pack("<I", len(data)) + data + (b"\x00" if len(data) % 2 else b"")


def webp(lat: float | None = None, lng: float | None = None) -> bytes:
    vp8x = _riff_chunk(b"VP8X", bytes([0x08 | 0x04, 0, 0, 0]) + b"\x00\x00\x00" + b"\x00\x00\x00")
    image = _riff_chunk(b"VP8L", b"\x2f\x00\x00\x00\x00" + b"\x00" * 9)
    exif = _riff_chunk(b"EXIF", exif_tiff(lat, lng))
    xmp = _riff_chunk(b"XMP ", b"<x:xmpmeta>owner: Alice</x:xmpmeta>")
    body = b"WEBP" + vp8x + image + exif + xmp
    return b"RIFF" + struct.pack("<I", len(body)) + body
