"""The generated demo geography (backend.geo.layout)."""

from __future__ import annotations

import json
import math
import re

import pytest
import shapely
from geographiclib.geodesic import Geodesic
from shapely.geometry import MultiPolygon, Polygon, box, shape

from backend.errors import ValidationFailed
from backend.geo.coords import EARTH_RADIUS_M, haversine_m
from backend.geo.layout import (
    XINZHOU_CENTER,
    AreaLevel,
    Layout,
    LayoutArea,
    area_km2,
    chinese_numeral,
    community_name,
    generate_layout,
)

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


@pytest.fixture(scope="module")
def xinzhou() -> Layout:
    return generate_layout("420117", XINZHOU_STREETS, *XINZHOU_CENTER, district_name="新洲区")


def _no_interior_overlap(areas: tuple[LayoutArea, ...]) -> None:
    """No two areas share more than a line: checked for every pair whose boxes touch."""
    geoms = [a.polygon for a in areas]
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    pairs = [(i, j) for i, j in zip(left.tolist(), right.tolist(), strict=True) if i < j]
    assert pairs, "neighbouring areas should at least touch"
    for i, j in pairs:
        # DE-9IM: interior ∩ interior of dimension 2 would be an overlap.
        assert not shapely.relate_pattern(geoms[i], geoms[j], "2********"), (areas[i].code, areas[j].code)
        assert geoms[i].intersection(geoms[j]).area == 0


def test_counts_and_levels(xinzhou: Layout) -> None:
    assert len(xinzhou.streets) == 15
    assert len(xinzhou.communities) == 15 * 4
    assert len(xinzhou.grids) == 15 * 4 * 9
    assert xinzhou.district.level is AreaLevel.DISTRICT
    assert xinzhou.district.name == "新洲区"
    assert {a.level for a in xinzhou.streets} == {AreaLevel.STREET}
    assert {a.level for a in xinzhou.communities} == {AreaLevel.COMMUNITY}
    assert {a.level for a in xinzhou.grids} == {AreaLevel.GRID}


def test_codes_follow_gb_t_30428(xinzhou: Layout) -> None:
    assert [s.code for s in xinzhou.streets] == [code for code, _ in XINZHOU_STREETS]
    assert all(s.parent_code == "420117" for s in xinzhou.streets)
    for community in xinzhou.communities:
        assert re.fullmatch(r"\d{12}", community.code)
        assert community.parent_code == community.code[:9]
        assert 1 <= int(community.code[9:]) <= 4
    for grid in xinzhou.grids:
        assert re.fullmatch(r"\d{15}", grid.code)
        assert grid.parent_code == grid.code[:12]
        assert 1 <= int(grid.code[12:]) <= 9
    assert [c.code for c in xinzhou.children("420117001")] == [f"420117001{i:03d}" for i in range(1, 5)]
    assert [g.code for g in xinzhou.children("420117001001")] == [f"420117001001{i:03d}" for i in range(1, 10)]
    codes = [a.code for a in xinzhou.areas()]
    assert len(codes) == len(set(codes))
    assert xinzhou.communities[0].code == "420117001001"


def test_names(xinzhou: Layout) -> None:
    assert [c.name for c in xinzhou.children("420117001")] == [
        "邾城一社区",
        "邾城二社区",
        "邾城三社区",
        "邾城四社区",
    ]
    assert xinzhou.get("420117102001") is not None
    assert xinzhou.get("420117102001").name == "凤凰一社区"  # type: ignore[union-attr]
    assert xinzhou.get("420117400002").name == "道观河风景旅游二社区"  # type: ignore[union-attr]
    assert xinzhou.get("420117406003").name == "新洲原种场三社区"  # type: ignore[union-attr]
    assert xinzhou.get("420117001001005").name == "邾城一社区第5网格"  # type: ignore[union-attr]
    assert xinzhou.get("999") is None


@pytest.mark.parametrize(
    ("street", "seq", "expected"),
    [
        ("邾城街道", 1, "邾城一社区"),
        ("凤凰镇", 4, "凤凰四社区"),
        ("某乡", 12, "某十二社区"),
        ("街道", 1, "街道一社区"),
    ],
)
def test_community_name(street: str, seq: int, expected: str) -> None:
    assert community_name(street, seq) == expected


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (1, "一"),
        (9, "九"),
        (10, "十"),
        (11, "十一"),
        (20, "二十"),
        (99, "九十九"),
        (100, "一百"),
        (105, "一百零五"),
        (110, "一百一十"),
        (999, "九百九十九"),
    ],
)
def test_chinese_numeral(n: int, expected: str) -> None:
    assert chinese_numeral(n) == expected


def test_every_street_is_covered_exactly_by_its_grids_and_communities(xinzhou: Layout) -> None:
    for street in xinzhou.streets:
        communities = xinzhou.children(street.code)
        grids = [g for c in communities for g in xinzhou.children(c.code)]
        assert len(grids) == 36
        for parts in (communities, grids):
            union = shapely.union_all([p.polygon for p in parts])
            assert union.symmetric_difference(street.polygon).area < 1e-9
            assert sum(p.polygon.area for p in parts) == pytest.approx(street.polygon.area, abs=1e-12)
    district_union = shapely.union_all([g.polygon for g in xinzhou.grids])
    assert district_union.symmetric_difference(xinzhou.district.polygon).area < 1e-9


def test_no_two_areas_overlap(xinzhou: Layout) -> None:
    _no_interior_overlap(xinzhou.streets)
    _no_interior_overlap(xinzhou.communities)
    _no_interior_overlap(xinzhou.grids)


def test_neighbours_share_exact_edges(xinzhou: Layout) -> None:
    """Shared float coordinates, not nearly-equal ones: the union of two neighbours is one rectangle."""
    a, b = xinzhou.streets[0].polygon, xinzhou.streets[1].polygon
    assert a.bounds[2] == b.bounds[0]
    merged = a.union(b)
    assert isinstance(merged, Polygon)
    assert len(shapely.simplify(merged, 0).exterior.coords) == 5


def test_streets_are_about_3_km_in_a_near_square_block_around_the_centre(xinzhou: Layout) -> None:
    lat0, lng0 = XINZHOU_CENTER
    for street in xinzhou.streets:
        min_lng, min_lat, max_lng, max_lat = street.polygon.bounds
        mid_lat = (min_lat + max_lat) / 2
        assert haversine_m(min_lat, min_lng, max_lat, min_lng) == pytest.approx(3000, rel=1e-6)
        assert haversine_m(mid_lat, min_lng, mid_lat, max_lng) == pytest.approx(3000, rel=0.01)
        assert area_km2(street.polygon) == pytest.approx(9.0, rel=0.01)
    min_lng, min_lat, max_lng, max_lat = shapely.union_all([s.polygon for s in xinzhou.streets]).bounds
    assert (min_lat + max_lat) / 2 == pytest.approx(lat0, abs=1e-12)
    assert (min_lng + max_lng) / 2 == pytest.approx(lng0, abs=1e-12)
    width = haversine_m(lat0, min_lng, lat0, max_lng)
    height = haversine_m(min_lat, lng0, max_lat, lng0)
    assert width == pytest.approx(12_000, rel=1e-3)  # 15 streets → 4 columns × 4 rows, last row short
    assert height == pytest.approx(12_000, rel=1e-6)
    # The first street sits in the north-west corner; row-major from there.
    first = xinzhou.streets[0].polygon.bounds
    assert (first[0], first[3]) == (min_lng, max_lat)


@pytest.mark.parametrize(("n", "cols", "rows"), [(1, 1, 1), (2, 2, 1), (4, 2, 2), (5, 3, 2), (9, 3, 3), (10, 4, 3)])
def test_block_shape_for_any_number_of_streets(n: int, cols: int, rows: int) -> None:
    streets = [(f"420117{i:03d}", f"第{chinese_numeral(i)}街道") for i in range(1, n + 1)]
    layout = generate_layout("420117", streets, 30.84, 114.80)
    xs = {s.polygon.bounds[0] for s in layout.streets}
    ys = {s.polygon.bounds[3] for s in layout.streets}
    assert (len(xs), len(ys)) == (cols, rows)
    if n > 1:
        _no_interior_overlap(layout.streets)
    assert layout.district.name == "420117"


def test_custom_subdivision() -> None:
    layout = generate_layout(
        "420117",
        XINZHOU_STREETS[:2],
        30.84,
        114.80,
        street_size_m=1000,
        communities_per_street=(3, 2),
        grids_per_community=(4, 1),
    )
    assert len(layout.communities) == 12
    assert len(layout.grids) == 48
    community = layout.communities[0].polygon
    min_lng, min_lat, max_lng, max_lat = community.bounds
    # 3 columns × 2 rows of communities on a 1 km street: each 500 m tall; grids are 4 columns × 1 row.
    assert haversine_m(min_lat, min_lng, max_lat, min_lng) == pytest.approx(500, rel=1e-6)
    mid_lat = (min_lat + max_lat) / 2
    assert haversine_m(mid_lat, min_lng, mid_lat, max_lng) == pytest.approx(1000 / 3, rel=1e-3)
    grid = layout.grids[0].polygon
    assert grid.bounds[1] == min_lat and grid.bounds[3] == max_lat


def test_generation_is_deterministic(xinzhou: Layout) -> None:
    again = generate_layout("420117", XINZHOU_STREETS, *XINZHOU_CENTER, district_name="新洲区")
    assert json.dumps(again.to_geojson(), ensure_ascii=False) == json.dumps(xinzhou.to_geojson(), ensure_ascii=False)


def test_to_geojson(xinzhou: Layout) -> None:
    fc = json.loads(json.dumps(xinzhou.to_geojson(), ensure_ascii=False))
    assert fc["type"] == "FeatureCollection"
    features = fc["features"]
    assert len(features) == 1 + 15 + 60 + 540
    by_level: dict[str, int] = {}
    for feature in features:
        props = feature["properties"]
        assert {"level", "code", "name", "parent_code"} <= props.keys()
        by_level[props["level"]] = by_level.get(props["level"], 0) + 1
        geom = shape(feature["geometry"])
        area = xinzhou.get(props["code"])
        assert area is not None
        assert geom.equals_exact(area.polygon, tolerance=0)
        # RFC 7946 §3.1.6: exterior rings counter-clockwise, and [lng, lat] order.
        exterior = geom.exterior if isinstance(geom, Polygon) else geom.geoms[0].exterior
        assert exterior.is_ccw
        lng, lat = feature["geometry"]["coordinates"][0][0]
        assert 114 < lng < 116 and 30 < lat < 32
    assert by_level == {"district": 1, "street": 15, "community": 60, "grid": 540}
    grid = next(f for f in features if f["properties"]["level"] == "grid")
    assert grid["properties"] == {
        "level": "grid",
        "code": "420117001001001",
        "name": "邾城一社区第1网格",
        "parent_code": "420117001001",
        "community_code": "420117001001",
        "street_code": "420117001",
        "district_code": "420117",
    }
    assert features[0]["properties"]["parent_code"] is None


@pytest.mark.parametrize(
    ("district", "streets", "kwargs"),
    [
        ("42011", XINZHOU_STREETS, {}),
        ("420117", [], {}),
        ("420117", [("42011700", "短")], {}),
        ("420117", [("420116001", "别区")], {}),
        ("420117", [("420117001", "甲"), ("420117001", "乙")], {}),
        ("420117", XINZHOU_STREETS, {"communities_per_street": (0, 2)}),
        ("420117", XINZHOU_STREETS, {"grids_per_community": (100, 10)}),
        ("420117", XINZHOU_STREETS, {"street_size_m": 0.0}),
    ],
)
def test_generate_layout_rejects_bad_input(
    district: str, streets: list[tuple[str, str]], kwargs: dict[str, object]
) -> None:
    with pytest.raises(ValidationFailed):
        generate_layout(district, streets, 30.84, 114.80, **kwargs)  # type: ignore[arg-type]


# --- area -----------------------------------------------------------------------------------------------


def _geodesic_km2(polygon: Polygon) -> float:
    poly = Geodesic.WGS84.Polygon()
    for lng, lat in list(polygon.exterior.coords)[:-1]:
        poly.AddPoint(lat, lng)
    _, _, area = poly.Compute(False, True)
    return abs(area) / 1e6


def test_area_of_a_lat_lng_rectangle_is_exact_on_the_sphere() -> None:
    # A 1° × 1° cell from the equator: R² · Δλ · (sin φ2 − sin φ1).
    expected = EARTH_RADIUS_M**2 * math.radians(1) * math.sin(math.radians(1)) / 1e6
    assert area_km2(box(10, 0, 11, 1)) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("lat", "tolerance"), [(0, 0.005), (30.84, 0.002), (50, 0.004), (80, 0.009)])
def test_area_against_the_wgs84_ellipsoid(lat: float, tolerance: float) -> None:
    tile = box(114.8, lat, 114.83, lat + 0.03)
    assert area_km2(tile) == pytest.approx(_geodesic_km2(tile), rel=tolerance)


def test_area_handles_holes_and_multipolygons(xinzhou: Layout) -> None:
    a, b = xinzhou.grids[0].polygon, xinzhou.grids[-1].polygon
    assert area_km2(MultiPolygon([a, b])) == pytest.approx(area_km2(a) + area_km2(b), rel=1e-12)
    outer = xinzhou.streets[0].polygon
    hole = xinzhou.grids[4].polygon  # the centre grid of the first community, strictly inside
    with_hole = Polygon(outer.exterior.coords, [hole.exterior.coords])
    assert area_km2(with_hole) == pytest.approx(area_km2(outer) - area_km2(hole), rel=1e-9)
    assert area_km2(xinzhou.district.polygon) == pytest.approx(15 * 9.0, rel=0.01)
