"""Datums, distances, bounding boxes and H3 covers (backend.geo.coords)."""

from __future__ import annotations

import math

import h3
import pytest
from geopy.distance import great_circle
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from backend.errors import ValidationFailed
from backend.geo.coords import (
    EARTH_RADIUS_M,
    CoordSystem,
    bbox_around,
    cell_ids_within,
    cell_of,
    cells_within,
    destination_point,
    from_wgs84,
    gcj02_to_wgs84,
    haversine_m,
    out_of_china,
    to_wgs84,
    validate_lat_lng,
    wgs84_to_gcj02,
)

# Inside the GCJ-02 box with a margin wider than the largest offset (~0.01°), so a shifted point never
# leaves the box and the round trip is well defined.
china_lat = st.floats(min_value=1.0, max_value=55.6)
china_lng = st.floats(min_value=72.2, max_value=137.6)
any_lat = st.floats(min_value=-90.0, max_value=90.0)
any_lng = st.floats(min_value=-180.0, max_value=180.0)


def _reference_wgs84_to_gcj02(lat: float, lng: float) -> tuple[float, float]:
    """The standard algorithm as transcribed in the widely used coordtransform library, written out
    independently of the module so a typo in one of the many constants shows up as a mismatch."""
    pi, a, ee = 3.1415926535897932384626, 6378245.0, 0.00669342162296594323
    x, y = lng - 105.0, lat - 35.0
    d_lat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(math.fabs(x))
    d_lat += (20.0 * math.sin(6.0 * x * pi) + 20.0 * math.sin(2.0 * x * pi)) * 2.0 / 3.0
    d_lat += (20.0 * math.sin(y * pi) + 40.0 * math.sin(y / 3.0 * pi)) * 2.0 / 3.0
    d_lat += (160.0 * math.sin(y / 12.0 * pi) + 320 * math.sin(y * pi / 30.0)) * 2.0 / 3.0
    d_lng = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(math.fabs(x))
    d_lng += (20.0 * math.sin(6.0 * x * pi) + 20.0 * math.sin(2.0 * x * pi)) * 2.0 / 3.0
    d_lng += (20.0 * math.sin(x * pi) + 40.0 * math.sin(x / 3.0 * pi)) * 2.0 / 3.0
    d_lng += (150.0 * math.sin(x / 12.0 * pi) + 300.0 * math.sin(x / 30.0 * pi)) * 2.0 / 3.0
    rad_lat = lat / 180.0 * pi
    magic = 1 - ee * math.sin(rad_lat) * math.sin(rad_lat)
    sqrt_magic = math.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((a * (1 - ee)) / (magic * sqrt_magic) * pi)
    d_lng = (d_lng * 180.0) / (a / sqrt_magic * math.cos(rad_lat) * pi)
    return lat + d_lat, lng + d_lng


# --- GCJ-02 ---------------------------------------------------------------------------------------------


def test_tiananmen_matches_published_gcj02() -> None:
    lat, lng = wgs84_to_gcj02(39.908692, 116.397477)
    assert lat == pytest.approx(39.910092, abs=1e-5)
    assert lng == pytest.approx(116.403720, abs=1e-5)


@pytest.mark.parametrize(
    ("place", "lat", "lng"),
    [
        ("Beijing Tiananmen", 39.908692, 116.397477),
        ("Wuhan Xinzhou 邾城", 30.84, 114.80),
        ("Wuhan Yellow Crane Tower", 30.5446, 114.3020),
        ("Shanghai Bund", 31.2400, 121.4900),
        ("Guangzhou Tower", 23.1064, 113.3245),
        ("Urumqi", 43.8256, 87.6168),
        ("Harbin", 45.8038, 126.5350),
        ("Sanya", 18.2528, 109.5119),
    ],
)
def test_wgs84_to_gcj02_matches_reference_algorithm(place: str, lat: float, lng: float) -> None:
    expected = _reference_wgs84_to_gcj02(lat, lng)
    got = wgs84_to_gcj02(lat, lng)
    assert got.lat == pytest.approx(expected[0], abs=1e-9), place
    assert got.lng == pytest.approx(expected[1], abs=1e-9), place
    # The obfuscation is a shift of a few hundred metres, never zero and never kilometres.
    assert 50 < haversine_m(lat, lng, *got) < 1000, place


@pytest.mark.parametrize(
    ("lat", "lng"),
    [
        (51.5007, -0.1246),  # London
        (35.6762, 139.6503),  # Tokyo: east of the box
        (-33.8568, 151.2153),  # Sydney
        (40.7128, -74.0060),  # New York
        (0.5, 100.0),  # south of the box
        (56.0, 100.0),  # north of the box
        (30.0, 72.0),  # west of the box
    ],
)
def test_points_outside_china_are_unchanged(lat: float, lng: float) -> None:
    assert out_of_china(lat, lng)
    assert wgs84_to_gcj02(lat, lng) == (lat, lng)
    assert gcj02_to_wgs84(lat, lng) == (lat, lng)
    assert to_wgs84(lat, lng, CoordSystem.GCJ02) == (lat, lng)
    assert from_wgs84(lat, lng, "gcj02") == (lat, lng)


@given(any_lat, any_lng)
def test_out_of_china_identity_property(lat: float, lng: float) -> None:
    assume(out_of_china(lat, lng))
    assert wgs84_to_gcj02(lat, lng) == (lat, lng)
    assert gcj02_to_wgs84(lat, lng) == (lat, lng)


@settings(max_examples=500)
@given(china_lat, china_lng)
def test_gcj02_round_trip_over_china(lat: float, lng: float) -> None:
    gcj = wgs84_to_gcj02(lat, lng)
    back = gcj02_to_wgs84(*gcj)
    assert abs(back.lat - lat) < 1e-6
    assert abs(back.lng - lng) < 1e-6
    # The inverse is exact, not the one-step approximation (which misses by ~1e-5 degrees).
    assert abs(back.lat - lat) < 1e-9
    assert abs(back.lng - lng) < 1e-9


@given(china_lat, china_lng)
def test_gcj02_inverse_is_a_true_preimage(lat: float, lng: float) -> None:
    wgs = gcj02_to_wgs84(lat, lng)
    again = wgs84_to_gcj02(*wgs)
    assert abs(again.lat - lat) < 1e-7
    assert abs(again.lng - lng) < 1e-7


def test_one_step_approximation_would_not_pass() -> None:
    """Guards the "exact" claim: the naive inverse is measurably worse than ours at a real point."""
    g_lat, g_lng = wgs84_to_gcj02(30.84, 114.80)
    shifted = wgs84_to_gcj02(g_lat, g_lng)
    naive = (2 * g_lat - shifted[0], 2 * g_lng - shifted[1])
    exact = gcj02_to_wgs84(g_lat, g_lng)
    naive_error = max(abs(naive[0] - 30.84), abs(naive[1] - 114.80))
    exact_error = max(abs(exact.lat - 30.84), abs(exact.lng - 114.80))
    assert naive_error > 1e-7
    assert exact_error < 1e-9


# --- edge conversion and validation ---------------------------------------------------------------------


def test_to_and_from_wgs84_dispatch_on_system() -> None:
    lat, lng = 30.84, 114.80
    assert to_wgs84(lat, lng, CoordSystem.WGS84) == (lat, lng)
    assert from_wgs84(lat, lng, "wgs84") == (lat, lng)
    gcj = from_wgs84(lat, lng, CoordSystem.GCJ02)
    assert gcj == wgs84_to_gcj02(lat, lng)
    back = to_wgs84(gcj.lat, gcj.lng, "gcj02")
    assert back.lat == pytest.approx(lat, abs=1e-9)
    assert back.lng == pytest.approx(lng, abs=1e-9)


def test_unknown_system_is_a_validation_failure() -> None:
    with pytest.raises(ValidationFailed) as info:
        to_wgs84(30.0, 114.0, "bd09")
    assert info.value.code == "validation_failed"
    with pytest.raises(ValidationFailed):
        from_wgs84(30.0, 114.0, "BD09")


@pytest.mark.parametrize(
    ("lat", "lng"),
    [
        (math.nan, 114.0),
        (30.0, math.nan),
        (math.inf, 114.0),
        (30.0, -math.inf),
        (90.0001, 114.0),
        (-90.5, 114.0),
        (30.0, 180.0001),
        (30.0, -181.0),
        ("30", 114.0),
        (None, 114.0),
        (True, 114.0),
    ],
)
def test_validate_lat_lng_rejects(lat: object, lng: object) -> None:
    with pytest.raises(ValidationFailed):
        validate_lat_lng(lat, lng)  # type: ignore[arg-type]
    with pytest.raises(ValidationFailed):
        to_wgs84(lat, lng, CoordSystem.WGS84)  # type: ignore[arg-type]


@pytest.mark.parametrize(("lat", "lng"), [(90.0, 180.0), (-90.0, -180.0), (0, 0), (30.84, 114.8)])
def test_validate_lat_lng_accepts_limits_and_returns_floats(lat: float, lng: float) -> None:
    got = validate_lat_lng(lat, lng)
    assert got == (lat, lng)
    assert isinstance(got.lat, float)
    assert isinstance(got.lng, float)


# --- distances ------------------------------------------------------------------------------------------


@settings(max_examples=500)
@given(any_lat, any_lng, any_lat, any_lng)
def test_haversine_agrees_with_geopy_great_circle(lat1: float, lng1: float, lat2: float, lng2: float) -> None:
    ours = haversine_m(lat1, lng1, lat2, lng2)
    theirs = great_circle((lat1, lng1), (lat2, lng2)).meters
    assert ours == pytest.approx(theirs, rel=1e-3, abs=1e-3)


@pytest.mark.parametrize(
    ("lat1", "lng1", "lat2", "lng2", "expected_m"),
    [
        (30.84, 114.80, 30.84, 114.80, 0.0),
        (0.0, 0.0, 1.0, 0.0, EARTH_RADIUS_M * math.pi / 180),  # one degree of latitude ≈ 111.195 km
        (0.0, 0.0, 0.0, 180.0, EARTH_RADIUS_M * math.pi),  # antipodal: half the circumference
        (90.0, 0.0, -90.0, 0.0, EARTH_RADIUS_M * math.pi),
        (0.0, 179.5, 0.0, -179.5, EARTH_RADIUS_M * math.pi / 180),  # across the antimeridian
    ],
)
def test_haversine_known_distances(lat1: float, lng1: float, lat2: float, lng2: float, expected_m: float) -> None:
    assert haversine_m(lat1, lng1, lat2, lng2) == pytest.approx(expected_m, abs=1e-6)


@given(
    st.floats(min_value=-85, max_value=85),
    any_lng,
    st.floats(min_value=0, max_value=360),
    st.floats(min_value=0, max_value=1_000_000),
)
def test_destination_point_is_at_the_requested_distance(lat: float, lng: float, bearing: float, dist: float) -> None:
    dest = destination_point(lat, lng, bearing, dist)
    assert haversine_m(lat, lng, *dest) == pytest.approx(dist, abs=1e-3, rel=1e-9)
    assert -180.0 <= dest.lng < 180.0


@settings(max_examples=300)
@given(
    st.floats(min_value=-89.9, max_value=89.9),
    any_lng,
    st.floats(min_value=0, max_value=200_000),
    st.floats(min_value=0, max_value=360),
    st.floats(min_value=0, max_value=1),
)
def test_bbox_around_contains_every_point_within_radius(
    lat: float, lng: float, radius: float, bearing: float, fraction: float
) -> None:
    box = bbox_around(lat, lng, radius)
    p = destination_point(lat, lng, bearing, radius * fraction)
    eps = 1e-9
    assert box.min_lat - eps <= p.lat <= box.max_lat + eps
    assert box.min_lng - eps <= p.lng <= box.max_lng + eps


def test_bbox_around_is_tight_at_wuhan() -> None:
    lat, lng, r = 30.84, 114.80, 1000.0
    box = bbox_around(lat, lng, r)
    assert box.max_lat == pytest.approx(destination_point(lat, lng, 0, r).lat, abs=1e-12)
    assert box.min_lat == pytest.approx(destination_point(lat, lng, 180, r).lat, abs=1e-12)
    # The widest longitude is reached slightly north of east on a sphere; sample bearings around 90°.
    widest = max(destination_point(lat, lng, 90 + b / 100, r).lng for b in range(-300, 300))
    assert box.max_lng == pytest.approx(widest, abs=1e-9)
    assert haversine_m(lat, lng, lat, box.max_lng) > r  # never narrower than the circle


def test_bbox_around_pole_and_antimeridian_widen_to_all_longitudes() -> None:
    near_pole = bbox_around(89.99, 10.0, 5000.0)
    assert (near_pole.min_lng, near_pole.max_lat, near_pole.max_lng) == (-180.0, 90.0, 180.0)
    across = bbox_around(0.0, 179.99, 5000.0)
    assert (across.min_lng, across.max_lng) == (-180.0, 180.0)
    with pytest.raises(ValidationFailed):
        bbox_around(30.0, 114.0, -1.0)


# --- H3 -------------------------------------------------------------------------------------------------


def test_cell_of_is_h3_latlng_to_cell() -> None:
    assert cell_of(30.84, 114.80, 9) == h3.latlng_to_cell(30.84, 114.80, 9)
    assert h3.get_resolution(cell_of(30.84, 114.80, 7)) == 7


@settings(max_examples=400, deadline=None)
@given(
    st.floats(min_value=-80, max_value=80),
    any_lng,
    st.integers(min_value=5, max_value=12),
    st.floats(min_value=0, max_value=6),
    st.floats(min_value=0, max_value=360),
    st.sampled_from([1.0, 1.0, 0.999, 0.5, 0.0]),
)
def test_cells_within_covers_every_point_within_radius(
    lat: float, lng: float, res: int, radius_edges: float, bearing: float, fraction: float
) -> None:
    """Points exactly on the circle are the hard case, hence the weight on fraction 1.0."""
    radius = radius_edges * h3.average_hexagon_edge_length(res, unit="m")
    target = destination_point(lat, lng, bearing, radius * fraction)
    assert cell_of(target.lat, target.lng, res) in cells_within(lat, lng, radius, res)
    assert h3.str_to_int(cell_of(target.lat, target.lng, res)) in cell_ids_within(lat, lng, radius, res)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(min_value=5, max_value=12),
    st.integers(min_value=0, max_value=11),
    st.floats(min_value=0, max_value=3),
    st.floats(min_value=0, max_value=6),
    st.floats(min_value=0, max_value=360),
    st.floats(min_value=0, max_value=360),
)
def test_cells_within_covers_around_pentagons(
    res: int, pentagon: int, offset_edges: float, radius_edges: float, offset_bearing: float, bearing: float
) -> None:
    """The twelve pentagons are where the hexagonal lattice is most distorted."""
    edge = h3.average_hexagon_edge_length(res, unit="m")
    p_lat, p_lng = h3.cell_to_latlng(sorted(h3.get_pentagons(res))[pentagon])
    centre = destination_point(p_lat, p_lng, offset_bearing, offset_edges * edge)
    radius = radius_edges * edge
    cells = cells_within(centre.lat, centre.lng, radius, res)
    target = destination_point(centre.lat, centre.lng, bearing, radius)
    assert cell_of(target.lat, target.lng, res) in cells


def test_cells_within_dense_ring_at_wuhan() -> None:
    lat, lng = 30.84, 114.80
    for res, radius in ((7, 3000.0), (9, 500.0), (10, 80.0)):
        cells = cells_within(lat, lng, radius, res)
        for i in range(720):
            for fraction in (1.0, 0.9):
                target = destination_point(lat, lng, i / 2, radius * fraction)
                assert cell_of(target.lat, target.lng, res) in cells, (res, i)
        # The cover is not wasteful: no cell lies wholly beyond the circle by more than ~1.3 cell widths.
        edge = h3.average_hexagon_edge_length(res, unit="m")
        assert all(haversine_m(lat, lng, *h3.cell_to_latlng(c)) <= radius + 1.25 * edge for c in cells)


def test_cells_within_zero_radius_is_the_own_cell_and_neighbours_at_most() -> None:
    cells = cells_within(30.84, 114.80, 0.0, 9)
    assert cell_of(30.84, 114.80, 9) in cells
    assert len(cells) <= 7


def test_cells_within_refuses_runaway_and_unsupported_queries() -> None:
    with pytest.raises(ValidationFailed):
        cells_within(30.84, 114.80, 100_000.0, 12)
    with pytest.raises(ValidationFailed):
        cells_within(30.84, 114.80, 1000.0, 4)
    with pytest.raises(ValidationFailed):
        cells_within(30.84, 114.80, -1.0, 9)
