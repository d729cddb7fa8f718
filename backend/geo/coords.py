"""Coordinates: datums, distances, bounding boxes and H3 cells.

Storage is WGS-84 (GPS, the datum of every GeoJSON file we import). Chinese maps and the WeChat
mini-program use GCJ-02 (国测局坐标系, the "Mars" datum), an obfuscated offset of WGS-84 of up to ~700 m that
applies only inside China. Conversion happens once, at the edge (``to_wgs84`` / ``from_wgs84``), so nothing
below the request boundary ever holds a GCJ-02 coordinate.

Every public function names its coordinates ``lat`` and ``lng`` (degrees) in that order; the only place the
order flips is shapely/GeoJSON geometry, where x is longitude and y is latitude.
"""

from __future__ import annotations

import math
from enum import StrEnum
from numbers import Real
from typing import NamedTuple

import h3
from h3.api import basic_int as h3_int

from backend.errors import ValidationFailed

__all__ = [
    "EARTH_RADIUS_M",
    "BBox",
    "CoordSystem",
    "LatLng",
    "bbox_around",
    "cell_of",
    "cells_within",
    "destination_point",
    "from_wgs84",
    "gcj02_to_wgs84",
    "haversine_m",
    "out_of_china",
    "to_wgs84",
    "validate_lat_lng",
    "wgs84_to_gcj02",
]

#: Mean earth radius (IUGG R1). The sphere is within ~0.5 % of the ellipsoid for distances, which is far
#: below the error of a phone GPS fix.
EARTH_RADIUS_M = 6371008.8

# GCJ-02 parameters: the Krasovsky 1940 ellipsoid the obfuscation is defined on. These are the published
# constants of the algorithm every Chinese map SDK implements; changing them breaks compatibility.
_GCJ_A = 6378245.0
_GCJ_EE = 0.00669342162296594323

# Iterative inverse: stop when the forward transform of our estimate lands within this of the target.
# The offset's derivative is ~3e-3, so each step gains ~2.5 decimal digits and 3-5 steps suffice.
_GCJ_INVERSE_TOLERANCE_DEG = 1e-10
_GCJ_INVERSE_MAX_ITERATIONS = 30


class CoordSystem(StrEnum):
    """坐标系 — the geodetic datum a coordinate pair is expressed in."""

    WGS84 = "wgs84"
    """GPS / international datum; what we store."""
    GCJ02 = "gcj02"
    """国测局坐标系 — the datum of AMap, Tencent Maps and WeChat's ``wx.getLocation(type='gcj02')``."""


class LatLng(NamedTuple):
    """A point in degrees, latitude first."""

    lat: float
    lng: float


class BBox(NamedTuple):
    """An axis-aligned box in degrees (south-west corner, then north-east corner)."""

    min_lat: float
    min_lng: float
    max_lat: float
    max_lng: float


def validate_lat_lng(lat: float, lng: float) -> LatLng:
    """Check a coordinate pair from outside and return it as floats.

    Raises ``ValidationFailed`` for non-numbers, NaN, infinities and values out of range
    (latitude in [-90, 90], longitude in [-180, 180]).
    """
    for name, value, limit in (("lat", lat, 90.0), ("lng", lng, 180.0)):
        # bool is a Real subclass; True as a latitude is a bug upstream, not a coordinate.
        if isinstance(value, bool) or not isinstance(value, Real):
            raise ValidationFailed(f"{name} must be a number", details={"field": name, "value": repr(value)})
        as_float = float(value)
        if not math.isfinite(as_float):
            raise ValidationFailed(f"{name} must be finite", details={"field": name, "value": repr(value)})
        if not -limit <= as_float <= limit:
            raise ValidationFailed(
                f"{name} must be between {-limit:g} and {limit:g}",
                details={"field": name, "value": repr(value)},
            )
    return LatLng(float(lat), float(lng))


# --- GCJ-02 ---------------------------------------------------------------------------------------------


def out_of_china(lat: float, lng: float) -> bool:
    """True outside the rough bounding box in which GCJ-02 applies.

    This is the conventional box used by every open implementation (and, in effect, by the map SDKs), not
    China's border: points in neighbouring countries inside the box are shifted too, as the SDKs do.
    """
    return not (72.004 <= lng <= 137.8347 and 0.8293 <= lat <= 55.8271)


def _gcj_offset_lat(x: float, y: float) -> float:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _gcj_offset_lng(x: float, y: float) -> float:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def _gcj_shifted(lat: float, lng: float) -> tuple[float, float]:
    """``wgs84_to_gcj02`` inside the box, as a plain pair (the inverse calls it in a loop)."""
    d_lat = _gcj_offset_lat(lng - 105.0, lat - 35.0)
    d_lng = _gcj_offset_lng(lng - 105.0, lat - 35.0)
    rad_lat = math.radians(lat)
    magic = 1.0 - _GCJ_EE * math.sin(rad_lat) ** 2
    sqrt_magic = math.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((_GCJ_A * (1.0 - _GCJ_EE)) / (magic * sqrt_magic) * math.pi)
    d_lng = (d_lng * 180.0) / (_GCJ_A / sqrt_magic * math.cos(rad_lat) * math.pi)
    return lat + d_lat, lng + d_lng


def wgs84_to_gcj02(lat: float, lng: float) -> LatLng:
    """WGS-84 → GCJ-02 with the standard (published, reverse-engineered) algorithm.

    Points outside China (``out_of_china``) are returned unchanged.
    """
    if out_of_china(lat, lng):
        return LatLng(lat, lng)
    return LatLng(*_gcj_shifted(lat, lng))


def gcj02_to_wgs84(lat: float, lng: float) -> LatLng:
    """GCJ-02 → WGS-84, the exact inverse of ``wgs84_to_gcj02`` found by fixed-point iteration.

    The common one-step approximation (subtract the offset evaluated at the GCJ-02 point) is off by up to
    ~5 m; iterating ``w ← w − (gcj(w) − target)`` contracts by ~1e-3 per step and converges to well under
    1e-7 degrees (we stop at 1e-10) in a handful of steps. Points outside China are returned unchanged.
    """
    if out_of_china(lat, lng):
        return LatLng(lat, lng)
    w_lat, w_lng = lat, lng
    for _ in range(_GCJ_INVERSE_MAX_ITERATIONS):
        g_lat, g_lng = (w_lat, w_lng) if out_of_china(w_lat, w_lng) else _gcj_shifted(w_lat, w_lng)
        err_lat, err_lng = g_lat - lat, g_lng - lng
        if abs(err_lat) < _GCJ_INVERSE_TOLERANCE_DEG and abs(err_lng) < _GCJ_INVERSE_TOLERANCE_DEG:
            break
        w_lat -= err_lat
        w_lng -= err_lng
    return LatLng(w_lat, w_lng)


def _coerce_system(system: CoordSystem | str) -> CoordSystem:
    try:
        return CoordSystem(system)
    except ValueError:
        raise ValidationFailed(
            f"unknown coordinate system {system!r}",
            details={"field": "coord", "allowed": [s.value for s in CoordSystem]},
        ) from None


def to_wgs84(lat: float, lng: float, system: CoordSystem | str) -> LatLng:
    """Validate a coordinate received at the edge in ``system`` and return it in WGS-84 for storage."""
    lat, lng = validate_lat_lng(lat, lng)
    if _coerce_system(system) is CoordSystem.GCJ02:
        return gcj02_to_wgs84(lat, lng)
    return LatLng(lat, lng)


def from_wgs84(lat: float, lng: float, system: CoordSystem | str) -> LatLng:
    """Express a stored WGS-84 coordinate in the ``system`` the caller asked for."""
    lat, lng = validate_lat_lng(lat, lng)
    if _coerce_system(system) is CoordSystem.GCJ02:
        return wgs84_to_gcj02(lat, lng)
    return LatLng(lat, lng)


# --- distances ------------------------------------------------------------------------------------------


def haversine_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in metres on the mean-radius sphere (within ~0.5 % of the ellipsoid)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    d_phi = phi2 - phi1
    d_lambda = math.radians(lng2 - lng1)
    h = math.sin(d_phi / 2.0) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2.0) ** 2
    # Rounding can push h a hair above 1 for antipodal points; asin would then raise.
    return 2.0 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, h)))


def destination_point(lat: float, lng: float, bearing_deg: float, distance_m: float) -> LatLng:
    """The point ``distance_m`` from (lat, lng) along the great circle leaving at ``bearing_deg``
    (clockwise from north). Longitude is normalised to [-180, 180)."""
    phi1, lambda1 = math.radians(lat), math.radians(lng)
    theta = math.radians(bearing_deg)
    delta = distance_m / EARTH_RADIUS_M
    sin_phi2 = math.sin(phi1) * math.cos(delta) + math.cos(phi1) * math.sin(delta) * math.cos(theta)
    phi2 = math.asin(max(-1.0, min(1.0, sin_phi2)))
    lambda2 = lambda1 + math.atan2(
        math.sin(theta) * math.sin(delta) * math.cos(phi1),
        math.cos(delta) - math.sin(phi1) * sin_phi2,
    )
    lng2 = (math.degrees(lambda2) + 540.0) % 360.0 - 180.0
    return LatLng(math.degrees(phi2), lng2)


def bbox_around(lat: float, lng: float, radius_m: float) -> BBox:
    """The smallest lat/lng box holding every point within ``radius_m`` of (lat, lng) on the sphere.

    Suitable as a cheap index pre-filter before an exact distance check. The longitude half-width is the
    exact spherical one, ``asin(sin r / cos φ)``, not ``r / cos φ``. When the circle reaches a pole or
    crosses the antimeridian the box widens to every longitude rather than wrapping, so callers never need
    to handle min_lng > max_lng.
    """
    if radius_m < 0 or not math.isfinite(radius_m):
        raise ValidationFailed("radius must be a finite, non-negative number of metres")
    delta = radius_m / EARTH_RADIUS_M
    phi = math.radians(lat)
    min_phi, max_phi = phi - delta, phi + delta
    if min_phi <= -math.pi / 2 or max_phi >= math.pi / 2:
        return BBox(max(-90.0, math.degrees(min_phi)), -180.0, min(90.0, math.degrees(max_phi)), 180.0)
    d_lambda = math.degrees(math.asin(math.sin(delta) / math.cos(phi)))
    min_lng, max_lng = lng - d_lambda, lng + d_lambda
    # Touching ±180 counts as crossing: the same meridian has two names (destination_point says -180).
    if min_lng <= -180.0 + 1e-9 or max_lng >= 180.0 - 1e-9:
        min_lng, max_lng = -180.0, 180.0
    return BBox(math.degrees(min_phi), min_lng, math.degrees(max_phi), max_lng)


# --- H3 -------------------------------------------------------------------------------------------------

# Measured over random cells and all pentagons at every resolution 0-15: no point of a cell lies further
# than 1.104 average edge lengths from the cell's centre. 1.25 leaves a margin for what sampling missed.
_H3_CIRCUMRADIUS_PER_EDGE = 1.25
# Measured at resolutions 5-15, including around pentagons: everything within (1.1·k − 0.3) average edge
# lengths of a point is inside the k-ring disk of its cell. We assume only (0.9·k − 1.0), a wide margin;
# the hypothesis test in tests/unit/test_geo_coords.py checks the resulting coverage.
_H3_DISK_GROWTH_PER_RING = 0.9
_H3_DISK_OFFSET = 1.0
#: Below this resolution cells span hundreds of kilometres and the icosahedron's distortion breaks the
#: ring-distance estimate; radius queries at that scale have no use here.
H3_MIN_RESOLUTION_FOR_RADIUS = 5
_H3_MAX_CELLS_DEFAULT = 200_000


def cell_of(lat: float, lng: float, res: int) -> str:
    """The H3 cell (hex string) at resolution ``res`` holding the WGS-84 point."""
    return str(h3.latlng_to_cell(lat, lng, res))


def cells_within(
    lat: float, lng: float, radius_m: float, res: int, *, max_cells: int = _H3_MAX_CELLS_DEFAULT
) -> set[str]:
    """H3 cells (hex strings) at ``res`` that together cover every point within ``radius_m`` of (lat, lng);
    see ``cell_ids_within``."""
    return {h3_int.int_to_str(cell) for cell in cell_ids_within(lat, lng, radius_m, res, max_cells=max_cells)}


_EDGE_M = {res: float(h3.average_hexagon_edge_length(res, unit="m")) for res in range(16)}
_RAD = math.pi / 180.0
_DIAMETER_M = 2.0 * EARTH_RADIUS_M


def cell_ids_within(
    lat: float, lng: float, radius_m: float, res: int, *, max_cells: int = _H3_MAX_CELLS_DEFAULT
) -> list[int]:
    """H3 cells (as integers, the form stored in BIGINT columns) at ``res`` that together cover every
    point within ``radius_m`` of (lat, lng).

    The set may hold a few cells that merely come close to the circle (a cover, not an exact
    intersection): ``k`` rings are taken from a conservative bound on how fast a k-ring disk grows, then
    cells whose centre is provably too far for any of their points to be within the radius are dropped.
    Supported for resolutions 5-15. Raises ``ValidationFailed`` when the disk would exceed ``max_cells``
    (a fine resolution with a large radius) so a careless query cannot allocate millions of cells.
    Hot (intake's similar-case search): integer H3 calls and the haversine inlined.
    """
    if not H3_MIN_RESOLUTION_FOR_RADIUS <= res <= 15:
        raise ValidationFailed(f"H3 resolution for radius queries must be 5-15, got {res}")
    if radius_m < 0 or not math.isfinite(radius_m):
        raise ValidationFailed("radius must be a finite, non-negative number of metres")
    edge_m = _EDGE_M[res]
    k = max(0, math.ceil((radius_m / edge_m + _H3_DISK_OFFSET) / _H3_DISK_GROWTH_PER_RING))
    if 3 * k * (k + 1) + 1 > max_cells:
        raise ValidationFailed(
            f"radius {radius_m:g} m at H3 resolution {res} needs more than {max_cells} cells",
            details={"radius_m": radius_m, "res": res, "k": k},
        )
    keep_within_m = radius_m + _H3_CIRCUMRADIUS_PER_EDGE * edge_m
    sin, cos, asin, sqrt = math.sin, math.cos, math.asin, math.sqrt
    phi1 = lat * _RAD
    cos_phi1 = cos(phi1)
    cells = []
    for cell in h3_int.grid_disk(h3_int.latlng_to_cell(lat, lng, res), k):
        c_lat, c_lng = h3_int.cell_to_latlng(cell)
        phi2 = c_lat * _RAD
        h = sin((phi2 - phi1) / 2.0) ** 2 + cos_phi1 * cos(phi2) * sin((c_lng - lng) * _RAD / 2.0) ** 2
        if _DIAMETER_M * asin(sqrt(min(1.0, h))) <= keep_within_m:
            cells.append(cell)
    return cells
