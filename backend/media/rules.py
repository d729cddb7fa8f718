"""Photo bytes, read and rewritten in pure Python (no Pillow): what an image really is, where its EXIF
says it was taken, and a copy of it without the metadata (照片脱敏).

A phone photo carries the GPS position, the time, the phone's make and serial, sometimes the owner's
name. The original stays private; what the public sees is the copy ``strip_metadata`` writes, which
keeps the pixels byte for byte and drops every metadata segment — except the EXIF orientation, which
is rewritten on its own so the photo is not shown on its side.

Supported: JPEG (APPn segments), PNG (ancillary text/EXIF chunks), WebP (RIFF ``EXIF``/``XMP `` chunks).
Everything here is defensive: malformed input never raises from the readers (they answer ``None``),
and ``strip_metadata`` raises ``ValidationFailed`` only for bytes that are not the image they claim.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Final

from backend.errors import ValidationFailed

JPEG: Final = "image/jpeg"
PNG: Final = "image/png"
WEBP: Final = "image/webp"
IMAGE_TYPES: Final[frozenset[str]] = frozenset({JPEG, PNG, WEBP})
EXTENSIONS: Final[dict[str, str]] = {JPEG: "jpg", PNG: "png", WEBP: "webp"}

# How much of a file's head is enough to find a JPEG's or PNG's EXIF (APP1 is at most 64 KiB and
# comes first; PNG puts eXIf before the image data).
HEAD_BYTES: Final = 256 * 1024

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_EXIF_HEADER = b"Exif\x00\x00"


class NotAnImage(ValidationFailed):
    code = "not_an_image"


def sniff(data: bytes) -> str | None:
    """The image type the bytes really are (by their signature), or None."""
    if data[:3] == b"\xff\xd8\xff":
        return JPEG
    if data[:8] == _PNG_SIGNATURE:
        return PNG
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    return None


# --- EXIF (TIFF) reading ----------------------------------------------------------------------------

_TYPE_SIZES: Final = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 7: 1, 9: 4, 10: 8}
_GPS_IFD_POINTER: Final = 0x8825
_ORIENTATION: Final = 0x0112
_MAX_ENTRIES: Final = 512


@dataclass(frozen=True)
class ExifInfo:
    """What we use from a photo's EXIF: its GPS position (WGS-84, as GPS receivers give it) and orientation."""

    lat: float | None = None
    lng: float | None = None
    orientation: int | None = None

    @property
    def has_location(self) -> bool:
        return self.lat is not None and self.lng is not None


class _Tiff:
    def __init__(self, data: bytes) -> None:
        if data[:2] == b"II":
            self.endian = "<"
        elif data[:2] == b"MM":
            self.endian = ">"
        else:
            raise ValueError("not a TIFF header")
        self.data = data
        if self.u16(2) != 42:
            raise ValueError("bad TIFF magic")

    def u16(self, offset: int) -> int:
        return int(struct.unpack_from(self.endian + "H", self.data, offset)[0])

    def u32(self, offset: int) -> int:
        return int(struct.unpack_from(self.endian + "I", self.data, offset)[0])

    def ifd(self, offset: int) -> dict[int, tuple[int, int, int]]:
        """tag → (type, count, offset of the value bytes)."""
        if offset <= 0 or offset + 2 > len(self.data):
            return {}
        count = self.u16(offset)
        if count > _MAX_ENTRIES:
            raise ValueError("implausible IFD")
        entries: dict[int, tuple[int, int, int]] = {}
        for i in range(count):
            at = offset + 2 + 12 * i
            if at + 12 > len(self.data):
                break
            tag, kind, n = self.u16(at), self.u16(at + 2), self.u32(at + 4)
            size = _TYPE_SIZES.get(kind, 0) * n
            value_at = at + 8 if size <= 4 else self.u32(at + 8)
            if size == 0 or value_at + size > len(self.data):
                continue
            entries[tag] = (kind, n, value_at)
        return entries

    def rationals(self, entry: tuple[int, int, int]) -> list[float]:
        kind, n, at = entry
        if kind not in (5, 10):
            return []
        fmt = self.endian + ("II" if kind == 5 else "ii")
        values = []
        for i in range(n):
            num, den = struct.unpack_from(fmt, self.data, at + 8 * i)
            values.append(num / den if den else math.nan)
        return values

    def ascii(self, entry: tuple[int, int, int]) -> str:
        kind, n, at = entry
        return self.data[at : at + n].split(b"\x00", 1)[0].decode("ascii", "replace") if kind == 2 else ""

    def short(self, entry: tuple[int, int, int]) -> int | None:
        kind, _n, at = entry
        return self.u16(at) if kind == 3 else None


def _degrees(parts: list[float], ref: str, negative: str) -> float | None:
    if len(parts) != 3 or not all(math.isfinite(p) and p >= 0 for p in parts):
        return None
    value = parts[0] + parts[1] / 60.0 + parts[2] / 3600.0
    return -value if ref.upper().startswith(negative) else value


def parse_tiff(tiff: bytes) -> ExifInfo:
    """GPS position and orientation from an EXIF block (the TIFF structure after ``Exif\\0\\0``)."""
    try:
        t = _Tiff(tiff)
        ifd0 = t.ifd(t.u32(4))
        orientation = t.short(ifd0[_ORIENTATION]) if _ORIENTATION in ifd0 else None
        lat = lng = None
        if _GPS_IFD_POINTER in ifd0:
            kind, _n, at = ifd0[_GPS_IFD_POINTER]
            gps = t.ifd(t.u32(at)) if kind in (4, 13) else {}
            if all(tag in gps for tag in (1, 2, 3, 4)):
                lat = _degrees(t.rationals(gps[2]), t.ascii(gps[1]), "S")
                lng = _degrees(t.rationals(gps[4]), t.ascii(gps[3]), "W")
        if lat is None or lng is None or not (-90 <= lat <= 90 and -180 <= lng <= 180) or (lat == 0 and lng == 0):
            lat = lng = None
        if orientation is not None and not 1 <= orientation <= 8:
            orientation = None
        return ExifInfo(lat=lat, lng=lng, orientation=orientation)
    except (ValueError, struct.error, KeyError):
        return ExifInfo()


def _jpeg_segments(data: bytes, *, partial: bool = False) -> list[tuple[int, int, int, int]]:
    """(marker, start incl. its FF bytes, start of the payload, end) of each segment up to and including
    SOS; the entropy-coded image data follows the last one. Raises ValueError on a broken structure —
    unless ``partial``, which returns what a head of the file holds."""
    if data[:2] != b"\xff\xd8":
        raise ValueError("no SOI")
    segments: list[tuple[int, int, int, int]] = []
    at = 2
    while at < len(data):
        if data[at] != 0xFF:
            raise ValueError("expected a marker")
        start = at
        while at < len(data) and data[at] == 0xFF:  # fill bytes
            at += 1
        if at >= len(data):
            break
        marker = data[at]
        at += 1
        if marker == 0xD9:  # EOI without image data
            raise ValueError("no image data")
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            segments.append((marker, start, at, at))
            continue
        if at + 2 > len(data):
            break
        length = struct.unpack_from(">H", data, at)[0]
        if length < 2:
            raise ValueError("bad segment length")
        if at + length > len(data):
            break
        segments.append((marker, start, at + 2, at + length))
        at += length
        if marker == 0xDA:  # start of scan: everything after is image data
            return segments
    if partial:
        return segments
    raise ValueError("truncated before the image data")


def _jpeg_exif(data: bytes) -> bytes | None:
    try:
        segments = _jpeg_segments(data, partial=True)
    except ValueError:
        return None
    for marker, _start, payload, end in segments:
        if marker == 0xE1 and data[payload : payload + len(_EXIF_HEADER)] == _EXIF_HEADER:
            return data[payload + len(_EXIF_HEADER) : end]
    return None


def _png_chunks(data: bytes) -> list[tuple[bytes, int, int]]:
    """(type, start, end) of each chunk; a truncated tail is left out."""
    chunks = []
    at = len(_PNG_SIGNATURE)
    while at + 12 <= len(data):
        length = struct.unpack_from(">I", data, at)[0]
        end = at + 12 + length
        if end > len(data):
            break
        kind = data[at + 4 : at + 8]
        chunks.append((kind, at, end))
        at = end
        if kind == b"IEND":
            break
    return chunks


def _webp_chunks(data: bytes) -> list[tuple[bytes, int, int]]:
    chunks = []
    at = 12
    while at + 8 <= len(data):
        size = struct.unpack_from("<I", data, at + 4)[0]
        end = at + 8 + size + (size & 1)
        if at + 8 + size > len(data):
            break
        chunks.append((data[at : at + 4], at, min(end, len(data))))
        at = end
    return chunks


def read_exif(data: bytes) -> ExifInfo:
    """GPS position and orientation from a whole image or its head; ``ExifInfo()`` when there are none."""
    kind = sniff(data)
    tiff: bytes | None = None
    if kind == JPEG:
        tiff = _jpeg_exif(data)
    elif kind == PNG:
        tiff = next((data[s + 8 : e - 4] for k, s, e in _png_chunks(data) if k == b"eXIf"), None)
    elif kind == WEBP:
        raw = next((data[s + 8 : e] for k, s, e in _webp_chunks(data) if k == b"EXIF"), None)
        tiff = raw[len(_EXIF_HEADER) :] if raw is not None and raw.startswith(_EXIF_HEADER) else raw
    return parse_tiff(tiff) if tiff else ExifInfo()


# --- stripping --------------------------------------------------------------------------------------

# JPEG segments kept: APP0 (JFIF), APP2 only when it is an ICC colour profile, APP14 (Adobe colour
# transform, needed to decode CMYK/YCCK); every other APPn and COM goes.
_PNG_DROPPED: Final = frozenset({b"eXIf", b"tEXt", b"zTXt", b"iTXt", b"tIME"})
_WEBP_DROPPED: Final = frozenset({b"EXIF", b"XMP "})


def orientation_app1(orientation: int) -> bytes:
    """A minimal EXIF APP1 segment holding only the orientation tag."""
    tiff = b"MM\x00\x2a" + struct.pack(">I", 8)
    tiff += struct.pack(">H", 1) + struct.pack(">HHIHH", _ORIENTATION, 3, 1, orientation, 0) + struct.pack(">I", 0)
    payload = _EXIF_HEADER + tiff
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def _strip_jpeg(data: bytes) -> bytes:
    try:
        segments = _jpeg_segments(data)
    except ValueError as exc:
        raise NotAnImage(f"the JPEG is damaged: {exc}") from None
    orientation = read_exif(data).orientation
    out = [b"\xff\xd8"]
    pending_orientation = orientation not in (None, 1)
    for marker, start, payload, end in segments:
        is_app = 0xE0 <= marker <= 0xEF
        if pending_orientation and not is_app:
            # Right after the kept APP segments, before the tables and the frame.
            out.append(orientation_app1(orientation or 1))
            pending_orientation = False
        if marker in (0xE0, 0xEE):
            keep = True
        elif marker == 0xE2:
            keep = data[payload : payload + 12] == b"ICC_PROFILE\x00"
        else:
            keep = not is_app and marker != 0xFE
        if keep:
            out.append(data[start:end])
    out.append(data[segments[-1][3] :])
    return b"".join(out)


def _strip_png(data: bytes) -> bytes:
    chunks = _png_chunks(data)
    if not chunks or chunks[-1][0] != b"IEND":
        raise NotAnImage("the PNG is damaged or truncated")
    return _PNG_SIGNATURE + b"".join(data[s:e] for k, s, e in chunks if k not in _PNG_DROPPED)


def _strip_webp(data: bytes) -> bytes:
    chunks = _webp_chunks(data)
    if not chunks:
        raise NotAnImage("the WebP is damaged or truncated")
    body = bytearray(b"WEBP")
    for kind, start, end in chunks:
        if kind in _WEBP_DROPPED:
            continue
        chunk = bytearray(data[start:end])
        if kind == b"VP8X" and len(chunk) > 8:
            chunk[8] &= ~(0x08 | 0x04) & 0xFF  # the EXIF and XMP flags
        body += chunk
    return b"RIFF" + struct.pack("<I", len(body)) + bytes(body)


def strip_metadata(data: bytes, content_type: str) -> bytes:
    """A copy of the image without its metadata; raises ``NotAnImage`` when the bytes are not a
    ``content_type`` image."""
    kind = sniff(data)
    if kind is None or kind != content_type:
        raise NotAnImage(f"the uploaded bytes are not a {content_type} image", details={"found": kind})
    if kind == JPEG:
        return _strip_jpeg(data)
    if kind == PNG:
        return _strip_png(data)
    return _strip_webp(data)
