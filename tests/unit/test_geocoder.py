"""Point-in-polygon geocoding over unit grids (backend.geo.geocoder)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import MultiPolygon, Point, Polygon, box

from backend.errors import ValidationFailed
from backend.geo.geocoder import GridGeocoder, GridShape
from backend.geo.layout import XINZHOU_CENTER, Layout, generate_layout

XINZHOU_STREETS = [
    ("420117001", "邾城街道"),
    ("420117002", "阳逻街道"),
    ("420117003", "仓埠街道"),
    ("420117004", "汪集街道"),
    ("420117005", "李集街道"),
    ("420117006", "三店街道"),
    ("420117007", "潘塘街道"),
    ("420117008", "旧街街道"),
    ("420117009", "双柳街道"),
    ("420117010", "涨渡湖街道"),
    ("420117011", "辛冲街道"),
    ("420117012", "徐古街道"),
    ("420117102", "凤凰镇"),
    ("420117400", "道观河风景旅游管理处"),
    ("420117406", "新洲原种场"),
]

COMMUNITY = "420117001001"


def _grid(seq: int, polygon: Polygon | MultiPolygon) -> GridShape:
    code = f"{COMMUNITY}{seq:03d}"
    return GridShape(code, COMMUNITY, COMMUNITY[:9], COMMUNITY[:6], polygon)


# Four unit squares in a 2×2 block around (lng 114.80, lat 30.84), codes 001-004, plus a two-part grid
# 005 further east and a grid 006 with a hole in which grid 007 sits. x is longitude, y latitude.
X0, Y0, D = 114.80, 30.84, 0.01
SQUARES = {
    1: box(X0 - D, Y0, X0, Y0 + D),  # north-west
    2: box(X0, Y0, X0 + D, Y0 + D),  # north-east
    3: box(X0 - D, Y0 - D, X0, Y0),  # south-west
    4: box(X0, Y0 - D, X0 + D, Y0),  # south-east
}
TWO_PARTS = MultiPolygon([box(X0 + 0.05, Y0, X0 + 0.06, Y0 + D), box(X0 + 0.08, Y0, X0 + 0.09, Y0 + D)])
WITH_HOLE = Polygon(
    box(X0 + 0.2, Y0, X0 + 0.23, Y0 + 0.03).exterior.coords,
    [box(X0 + 0.21, Y0 + 0.01, X0 + 0.22, Y0 + 0.02).exterior.coords],
)
IN_HOLE = box(X0 + 0.21, Y0 + 0.01, X0 + 0.22, Y0 + 0.02)


@pytest.fixture(scope="module")
def small() -> GridGeocoder:
    grids = [_grid(seq, poly) for seq, poly in SQUARES.items()]
    grids += [_grid(5, TWO_PARTS), _grid(6, WITH_HOLE), _grid(7, IN_HOLE)]
    # Loaded out of order on purpose: the border tie-break must not depend on input order.
    return GridGeocoder(reversed(grids))


@pytest.fixture(scope="module")
def xinzhou() -> Layout:
    return generate_layout("420117", XINZHOU_STREETS, *XINZHOU_CENTER, district_name="新洲区")


def _code(grid: GridShape | None) -> str | None:
    return None if grid is None else grid.code


@pytest.mark.parametrize(
    ("lat", "lng", "expected_seq"),
    [
        (Y0 + D / 2, X0 - D / 2, 1),  # inside
        (Y0 + D / 2, X0 + D / 2, 2),
        (Y0 - D / 2, X0 - D / 2, 3),
        (Y0 - D / 2, X0 + D / 2, 4),
        (Y0 + D / 2, X0, 1),  # border between 001 and 002 → smaller code
        (Y0, X0 + D / 2, 2),  # border between 002 and 004
        (Y0 - D / 2, X0, 3),  # border between 003 and 004
        (Y0, X0, 1),  # corner shared by all four
        (Y0 + D, X0 - D / 2, 1),  # outer edge of the block belongs to the one grid there
        (Y0 - D, X0 + D, 4),  # outer corner
        (Y0 + D / 2, X0 + 0.055, 5),  # first part of the MultiPolygon
        (Y0 + D / 2, X0 + 0.085, 5),  # second part
        (Y0 + D / 2, X0 + 0.07, None),  # between the parts
        (Y0 + 0.005, X0 + 0.215, 6),  # in the ring, outside the hole
        (Y0 + 0.015, X0 + 0.215, 7),  # in the hole: the grid filling it
        (Y0 + 0.01, X0 + 0.215, 6),  # on the hole's edge: shared by 006 and 007 → 006
        (Y0 + D * 1.5, X0, None),  # north of everything
        (0.0, 0.0, None),
    ],
)
def test_locate(small: GridGeocoder, lat: float, lng: float, expected_seq: int | None) -> None:
    expected = None if expected_seq is None else f"{COMMUNITY}{expected_seq:03d}"
    assert _code(small.locate(lat, lng)) == expected
    assert [_code(g) for g in small.locate_many([(lat, lng)])] == [expected]


def test_locate_returns_the_whole_hierarchy(small: GridGeocoder) -> None:
    grid = small.locate(Y0 + D / 2, X0 + D / 2)
    assert grid is not None
    assert (grid.code, grid.community_code, grid.street_code, grid.district_code) == (
        "420117001001002",
        "420117001001",
        "420117001",
        "420117",
    )


def test_non_finite_points_locate_nowhere(small: GridGeocoder) -> None:
    assert small.locate(math.nan, X0) is None
    assert small.locate(Y0, math.inf) is None
    got = small.locate_many([(math.nan, X0), (Y0 + D / 2, X0 - D / 2), (Y0, -math.inf)])
    assert [_code(g) for g in got] == [None, f"{COMMUNITY}001", None]


def test_locate_many_accepts_arrays_and_empty_input(small: GridGeocoder) -> None:
    assert small.locate_many([]) == []
    arr = np.array([[Y0 + D / 2, X0 + D / 2], [Y0 - D / 2, X0 - D / 2]])
    assert [_code(g) for g in small.locate_many(arr)] == [f"{COMMUNITY}002", f"{COMMUNITY}003"]
    assert small.locate_indices(arr).tolist() == [1, 2]
    with pytest.raises(ValidationFailed):
        small.locate_many(np.zeros((3, 3)))


def test_grids_are_ordered_and_addressable(small: GridGeocoder) -> None:
    codes = [g.code for g in small.grids]
    assert codes == sorted(codes)
    assert len(small) == 7
    assert [g.code for g in small] == codes
    assert small.get(f"{COMMUNITY}005") is not None
    assert small.get("nope") is None


def test_empty_geocoder_finds_nothing() -> None:
    empty = GridGeocoder([])
    assert empty.locate(Y0, X0) is None
    assert empty.locate_many([(Y0, X0)]) == [None]


def test_duplicate_codes_and_non_polygons_are_rejected() -> None:
    with pytest.raises(ValidationFailed):
        GridGeocoder([_grid(1, SQUARES[1]), _grid(1, SQUARES[2])])
    with pytest.raises(ValidationFailed):
        GridGeocoder([_grid(1, Point(X0, Y0))])  # type: ignore[arg-type]


# --- against brute force and the generated layout -------------------------------------------------------


def _brute_force(layout: Layout, lat: float, lng: float) -> str | None:
    p = Point(lng, lat)
    hits = [g.code for g in layout.grids if g.polygon.intersects(p)]
    return min(hits) if hits else None


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_locate_matches_brute_force_on_the_demo_city(xinzhou: Layout, data: st.DataObject) -> None:
    min_lng, min_lat, max_lng, max_lat = xinzhou.district.polygon.bounds
    lat = data.draw(st.floats(min_value=min_lat - 0.01, max_value=max_lat + 0.01))
    lng = data.draw(st.floats(min_value=min_lng - 0.01, max_value=max_lng + 0.01))
    geocoder = GridGeocoder(xinzhou.grid_shapes())
    assert _code(geocoder.locate(lat, lng)) == _brute_force(xinzhou, lat, lng)


def test_grid_corners_of_the_demo_city_resolve_to_the_smallest_code(xinzhou: Layout) -> None:
    geocoder = GridGeocoder(xinzhou.grid_shapes())
    corners = [(y, x) for g in xinzhou.grids[:80] for x, y in g.polygon.exterior.coords]
    located = geocoder.locate_many(corners)
    assert [_code(g) for g in located] == [_brute_force(xinzhou, lat, lng) for lat, lng in corners]
    assert [_code(geocoder.locate(lat, lng)) for lat, lng in corners] == [_code(g) for g in located]


def test_from_geojson_round_trips_the_layout(xinzhou: Layout) -> None:
    # Through JSON text, as a file import would be.
    feature_collection = json.loads(json.dumps(xinzhou.to_geojson(), ensure_ascii=False))
    loaded = GridGeocoder.from_geojson(feature_collection)
    direct = GridGeocoder(xinzhou.grid_shapes())
    assert len(loaded) == len(xinzhou.grids) == 540
    for a, b in zip(loaded.grids, direct.grids, strict=True):
        assert (a.code, a.community_code, a.street_code, a.district_code, a.name) == (
            b.code,
            b.community_code,
            b.street_code,
            b.district_code,
            b.name,
        )
        assert a.polygon.equals_exact(b.polygon, tolerance=0)
    rng = np.random.default_rng(7)
    min_lng, min_lat, max_lng, max_lat = xinzhou.district.polygon.bounds
    pts = np.column_stack((rng.uniform(min_lat, max_lat, 2000), rng.uniform(min_lng, max_lng, 2000)))
    assert loaded.locate_indices(pts).tolist() == direct.locate_indices(pts).tolist()


def test_from_geojson_reads_multipolygons_and_derives_parent_codes() -> None:
    fc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"code": "420117002003004"},
                "geometry": {
                    "type": "MultiPolygon",
                    "coordinates": [
                        [[[114.0, 30.0], [114.1, 30.0], [114.1, 30.1], [114.0, 30.1], [114.0, 30.0]]],
                        [[[114.2, 30.0], [114.3, 30.0], [114.3, 30.1], [114.2, 30.1], [114.2, 30.0]]],
                    ],
                },
            },
            {
                "type": "Feature",
                "properties": {"level": "community", "code": "420117002003"},
                "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]},
            },
        ],
    }
    geocoder = GridGeocoder.from_geojson(fc)
    assert len(geocoder) == 1  # the community feature is skipped
    grid = geocoder.locate(30.05, 114.25)  # GeoJSON is [lng, lat]; this is the second part
    assert grid is not None
    assert (grid.community_code, grid.street_code, grid.district_code) == (
        "420117002003",
        "420117002",
        "420117",
    )
    assert geocoder.locate(30.05, 114.15) is None
    assert geocoder.locate(114.05, 30.05) is None  # swapped axes must not match


@pytest.mark.parametrize(
    "fc",
    [
        {"type": "Feature"},
        {"type": "FeatureCollection", "features": [{"properties": {}, "geometry": None}]},
        {
            "type": "FeatureCollection",
            "features": [{"properties": {"code": "1"}, "geometry": {"type": "Point", "coordinates": [0, 0]}}],
        },
        {
            "type": "FeatureCollection",
            "features": [{"properties": {"code": "1"}, "geometry": {"type": "Polygon", "coordinates": "x"}}],
        },
    ],
)
def test_from_geojson_rejects_malformed_input(fc: dict[str, object]) -> None:
    with pytest.raises(ValidationFailed):
        GridGeocoder.from_geojson(fc)


# --- bulk and single agree ------------------------------------------------------------------------
# (speed is measured by bench/geocode.py, never asserted in a test)


def test_locate_many_agrees_with_locate(xinzhou: Layout) -> None:
    geocoder = GridGeocoder(xinzhou.grid_shapes())
    min_lng, min_lat, max_lng, max_lat = xinzhou.district.polygon.bounds
    rng = np.random.default_rng(1)
    n = 5_000
    pts = np.column_stack(
        (rng.uniform(min_lat - 0.01, max_lat + 0.01, n), rng.uniform(min_lng - 0.01, max_lng + 0.01, n))
    )
    many = geocoder.locate_many(pts)
    assert [geocoder.locate(lat, lng) for lat, lng in pts.tolist()] == many
    assert any(m is None for m in many) and any(m is not None for m in many)
