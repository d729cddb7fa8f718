"""Photo bytes: type sniffing, EXIF GPS and orientation, and the stripped public copy (JPEG, PNG, WebP)."""

from __future__ import annotations

import pytest

from backend.media.rules import NotAnImage, orientation_app1, parse_tiff, read_exif, sniff, strip_metadata
from tests.photos import SERIAL, exif_tiff, jpeg, png, webp


@pytest.mark.parametrize(
    ("data", "kind"),
    [(jpeg(), "image/jpeg"), (png(), "image/png"), (webp(), "image/webp"), (b"GIF89a", None), (b"", None)],
)
def test_sniff(data: bytes, kind: str | None) -> None:
    assert sniff(data) == kind


@pytest.mark.parametrize("make", [jpeg, png, webp])
@pytest.mark.parametrize(("lat", "lng"), [(30.8544, 114.8123), (-33.8688, 151.2093), (40.7128, -74.006)])
def test_gps_is_read_with_its_hemisphere(make: object, lat: float, lng: float) -> None:
    info = read_exif(make(lat, lng))  # type: ignore[operator]
    assert info.lat == pytest.approx(lat, abs=1e-6) and info.lng == pytest.approx(lng, abs=1e-6)


def test_no_exif_and_broken_exif_read_as_nothing() -> None:
    assert read_exif(jpeg(exif=False)).has_location is False
    assert read_exif(b"not an image").has_location is False
    assert parse_tiff(b"II*\x00\xff\xff\xff\xff").lat is None  # IFD offset beyond the data
    assert parse_tiff(b"XX" + b"\x00" * 20).lat is None
    truncated = exif_tiff(30.0, 114.0)[:40]
    assert parse_tiff(truncated).lat is None
    assert read_exif(jpeg(0.0, 0.0)).has_location is False, "0,0 is a camera without a fix"


def test_exif_is_found_in_the_head_of_a_jpeg() -> None:
    data = jpeg(30.5, 114.3, padding=100_000)
    assert read_exif(data[:4096]).lat == pytest.approx(30.5)


@pytest.mark.parametrize("make,kind", [(jpeg, "image/jpeg"), (png, "image/png"), (webp, "image/webp")])
def test_strip_removes_gps_serial_and_text(make: object, kind: str) -> None:
    original = make(30.85, 114.8)  # type: ignore[operator]
    stripped = strip_metadata(original, kind)
    assert sniff(stripped) == kind
    assert read_exif(stripped).has_location is False
    assert SERIAL not in stripped and b"Alice" not in stripped and b"13800001111" not in stripped
    assert strip_metadata(stripped, kind) == stripped, "stripping twice changes nothing"


def test_jpeg_strip_keeps_the_image_data_and_the_orientation() -> None:
    original = jpeg(30.0, 114.0, orientation=6, pixels=b"PIXELS")
    stripped = strip_metadata(original, "image/jpeg")
    assert stripped.endswith(b"PIXELS\xff\xd9")
    assert read_exif(stripped).orientation == 6 and orientation_app1(6) in stripped
    assert b"JFIF" in stripped, "APP0 kept"
    upright = strip_metadata(jpeg(30.0, 114.0, orientation=1), "image/jpeg")
    assert b"Exif" not in upright, "orientation 1 needs no EXIF at all"


def test_webp_strip_clears_the_metadata_flags() -> None:
    stripped = strip_metadata(webp(30.0, 114.0), "image/webp")
    vp8x = stripped.index(b"VP8X")
    assert stripped[vp8x + 8] & 0x0C == 0
    assert int.from_bytes(stripped[4:8], "little") == len(stripped) - 8


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (png(), "image/jpeg"),
        (b"\xff\xd8\xff\xe0garbage", "image/jpeg"),
        (png()[:30], "image/png"),
        (b"RIFF", "image/webp"),
    ],
)
def test_strip_refuses_what_is_not_the_declared_image(data: bytes, kind: str) -> None:
    with pytest.raises(NotAnImage):
        strip_metadata(data, kind)
