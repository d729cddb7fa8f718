"""The demo city's generated geography below its real streets.

GB/T 30428.1 divides a district (区) into streets (街道), streets into communities (社区) and communities into
unit grids (单元网格). ``shared/data/`` holds the real districts and streets of Wuhan; their outlines and
everything below them are invented here, deterministically, so a seeded database, the tests and the admin
map all agree without shipping boundary files.

Shape of the result: each street is an axis-aligned lat/lng rectangle (~3 km a side by default), the streets
are tiled row by row from the north-west in a near-square block centred on the district centre, and each
street is cut into a regular lattice of communities, each cut into a lattice of grids. Neighbouring tiles
share the very same floating-point edge coordinates, so the tiling has no gaps and no overlaps, not merely
tiny ones.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon, box
from shapely.geometry.polygon import orient

from backend.errors import ValidationFailed
from backend.geo.coords import EARTH_RADIUS_M
from backend.geo.geocoder import GridShape

__all__ = [
    "XINZHOU_CENTER",
    "AreaLevel",
    "Layout",
    "LayoutArea",
    "area_km2",
    "chinese_numeral",
    "community_name",
    "generate_layout",
]

#: 新洲区 (420117), the demo district: a point near 邾城, its seat.
XINZHOU_CENTER = (30.84, 114.80)

_METRES_PER_DEGREE_LAT = EARTH_RADIUS_M * math.pi / 180.0
# Suffixes of township-level names dropped before numbering communities: "邾城街道" → "邾城一社区".
_STREET_SUFFIXES = ("街道办事处", "街道", "管理处", "镇", "乡")


class AreaLevel(StrEnum):
    """行政区划层级 — the four levels of the GB/T 30428.1 hierarchy."""

    DISTRICT = "district"
    """区 (6-digit code)."""
    STREET = "street"
    """街道 (9-digit code)."""
    COMMUNITY = "community"
    """社区 (12-digit code)."""
    GRID = "grid"
    """单元网格 (15-digit code)."""


@dataclass(frozen=True, slots=True)
class LayoutArea:
    """One generated area at any level, outline in WGS-84 (x = longitude, y = latitude)."""

    level: AreaLevel
    code: str
    name: str
    parent_code: str | None
    polygon: Polygon | MultiPolygon


@dataclass(frozen=True, slots=True)
class Layout:
    """The generated geography of one district: its streets, communities and unit grids."""

    district: LayoutArea
    streets: tuple[LayoutArea, ...]
    communities: tuple[LayoutArea, ...]
    grids: tuple[LayoutArea, ...]
    _by_code: dict[str, LayoutArea] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # frozen dataclass: the index is derived data, set once here.
        object.__setattr__(self, "_by_code", {a.code: a for a in self.areas()})

    def areas(self) -> Iterator[LayoutArea]:
        """Every area, top-down: the district, then streets, communities and grids."""
        yield self.district
        yield from self.streets
        yield from self.communities
        yield from self.grids

    def get(self, code: str) -> LayoutArea | None:
        """The area with this code at any level."""
        return self._by_code.get(code)

    def children(self, code: str) -> list[LayoutArea]:
        """The areas directly below ``code``, in code order."""
        return [a for a in self.areas() if a.parent_code == code]

    def grid_shapes(self) -> list[GridShape]:
        """The unit grids in the form ``GridGeocoder`` takes."""
        return [
            GridShape(
                code=g.code,
                community_code=g.code[:12],
                street_code=g.code[:9],
                district_code=g.code[:6],
                polygon=g.polygon,
                name=g.name,
            )
            for g in self.grids
        ]

    def to_geojson(self) -> dict[str, Any]:
        """All levels as one GeoJSON FeatureCollection (RFC 7946: [lng, lat], counter-clockwise shells).

        Every feature has ``level``, ``code``, ``name`` and ``parent_code``; grids also carry
        ``community_code``, ``street_code`` and ``district_code`` so the file loads straight into
        ``GridGeocoder.from_geojson``. Coordinates are written at full float precision so a round trip
        gives back exactly the same polygons.
        """
        features: list[dict[str, Any]] = []
        for area in self.areas():
            properties: dict[str, Any] = {
                "level": area.level.value,
                "code": area.code,
                "name": area.name,
                "parent_code": area.parent_code,
            }
            if area.level is AreaLevel.GRID:
                properties |= {
                    "community_code": area.code[:12],
                    "street_code": area.code[:9],
                    "district_code": area.code[:6],
                }
            features.append(
                {"type": "Feature", "geometry": _geometry_to_geojson(area.polygon), "properties": properties}
            )
        return {"type": "FeatureCollection", "features": features}


def generate_layout(
    district_code: str,
    streets: Sequence[tuple[str, str]],
    center_lat: float,
    center_lng: float,
    *,
    district_name: str = "",
    street_size_m: float = 3000.0,
    communities_per_street: tuple[int, int] = (2, 2),
    grids_per_community: tuple[int, int] = (3, 3),
) -> Layout:
    """Generate the demo geography of one district.

    ``streets`` are (9-digit code, name) pairs, laid out in the order given. ``communities_per_street`` and
    ``grids_per_community`` are (columns, rows). Community codes are the street code plus a 3-digit
    sequence (``420117001001``), grid codes the community code plus a 3-digit sequence, numbered row by row
    from the north-west starting at 001. The same arguments always give the same layout.

    Streets are squares of ``street_size_m`` on the ground at the district centre's latitude (the metre →
    degree scale is taken there once, so all tiles have equal degree sizes and share edges exactly).
    """
    _check_code(district_code, 6, "district")
    if not streets:
        raise ValidationFailed("a layout needs at least one street")
    seen: set[str] = set()
    for code, _ in streets:
        _check_code(code, 9, "street")
        if not code.startswith(district_code):
            raise ValidationFailed(f"street {code} is not in district {district_code}", details={"code": code})
        if code in seen:
            raise ValidationFailed(f"duplicate street code {code}", details={"code": code})
        seen.add(code)
    for label, (cols, rows) in (
        ("communities_per_street", communities_per_street),
        ("grids_per_community", grids_per_community),
    ):
        if cols < 1 or rows < 1 or cols * rows > 999:
            # A 3-digit sequence numbers at most 999 children.
            raise ValidationFailed(f"{label} must give between 1 and 999 areas, got {cols}×{rows}")
    if not (math.isfinite(street_size_m) and street_size_m > 0):
        raise ValidationFailed("street_size_m must be positive")
    if abs(center_lat) > 80:
        raise ValidationFailed("the flat tiling needs a centre latitude within ±80°")

    # Near-square block: as many columns as rows, or one more; the last row may be short.
    n_cols = math.ceil(math.sqrt(len(streets)))
    n_rows = math.ceil(len(streets) / n_cols)
    tile_lat = street_size_m / _METRES_PER_DEGREE_LAT
    tile_lng = street_size_m / (_METRES_PER_DEGREE_LAT * math.cos(math.radians(center_lat)))
    west = center_lng - n_cols * tile_lng / 2.0
    north = center_lat + n_rows * tile_lat / 2.0
    lng_edges = [west + i * tile_lng for i in range(n_cols + 1)]
    lat_edges = [north - j * tile_lat for j in range(n_rows + 1)]

    street_areas: list[LayoutArea] = []
    community_areas: list[LayoutArea] = []
    grid_areas: list[LayoutArea] = []
    for index, (street_code, street_name) in enumerate(streets):
        row, col = divmod(index, n_cols)
        street_box = (lng_edges[col], lat_edges[row + 1], lng_edges[col + 1], lat_edges[row])
        street_areas.append(LayoutArea(AreaLevel.STREET, street_code, street_name, district_code, box(*street_box)))
        for c_seq, community_box in enumerate(_split(street_box, communities_per_street), start=1):
            community_code = f"{street_code}{c_seq:03d}"
            c_name = community_name(street_name, c_seq)
            community_areas.append(
                LayoutArea(AreaLevel.COMMUNITY, community_code, c_name, street_code, box(*community_box))
            )
            for g_seq, grid_box in enumerate(_split(community_box, grids_per_community), start=1):
                grid_areas.append(
                    LayoutArea(
                        AreaLevel.GRID,
                        f"{community_code}{g_seq:03d}",
                        f"{c_name}第{g_seq}网格",
                        community_code,
                        box(*grid_box),
                    )
                )

    district_polygon = orient(shapely.union_all([s.polygon for s in street_areas]), 1.0)
    district = LayoutArea(AreaLevel.DISTRICT, district_code, district_name or district_code, None, district_polygon)
    return Layout(
        district=district,
        streets=tuple(street_areas),
        communities=tuple(community_areas),
        grids=tuple(grid_areas),
    )


def community_name(street_name: str, seq: int) -> str:
    """A plausible community name: the street's name without its 街道/镇/乡 suffix, a numeral, 社区.

    ``community_name("邾城街道", 2) == "邾城二社区"``.
    """
    stem = street_name
    for suffix in _STREET_SUFFIXES:
        if stem.endswith(suffix) and len(stem) > len(suffix):
            stem = stem[: -len(suffix)]
            break
    return f"{stem}{chinese_numeral(seq)}社区"


_DIGITS = "零一二三四五六七八九"


def chinese_numeral(n: int) -> str:
    """Chinese numeral for 1-999 as written in place names: 1 → 一, 10 → 十, 12 → 十二, 105 → 一百零五."""
    if not 1 <= n <= 999:
        raise ValueError(f"only 1-999 are supported, got {n}")
    hundreds, rest = divmod(n, 100)
    tens, ones = divmod(rest, 10)
    parts: list[str] = []
    if hundreds:
        parts.append(_DIGITS[hundreds] + "百")
    if tens:
        # 10-19 read 十, 十一 …, but 110 reads 一百一十.
        tens_digit = "" if tens == 1 and not hundreds else _DIGITS[tens]
        parts.append(tens_digit + "十")
    elif hundreds and ones:
        parts.append("零")
    if ones:
        parts.append(_DIGITS[ones])
    return "".join(parts)


def area_km2(polygon: Polygon | MultiPolygon) -> float:
    """Approximate area in km² of a WGS-84 polygon (x = longitude, y = latitude, degrees).

    Computed exactly on the mean-radius sphere for edges that run along meridians and parallels (every
    generated tile) by projecting to the Lambert cylindrical equal-area projection, where planar area is
    spherical area. Precision: other edges are treated as straight in that projection, which is negligible
    below ~10 km edges; against the WGS-84 ellipsoid the sphere is off by a latitude-dependent factor,
    measured against geographiclib as +0.45 % at the equator, +0.11 % at 30°N (Wuhan), −0.34 % at 50°N and
    −0.89 % near the poles. Good for display and density figures, not for cadastral use.
    """
    projected = shapely.transform(polygon, _to_equal_area)
    return float(projected.area) / 1e6


def _to_equal_area(coords: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    lng_rad = np.radians(coords[:, 0])
    lat_rad = np.radians(coords[:, 1])
    return np.column_stack((EARTH_RADIUS_M * lng_rad, EARTH_RADIUS_M * np.sin(lat_rad)))


def _split(
    bounds: tuple[float, float, float, float], cols_rows: tuple[int, int]
) -> Iterator[tuple[float, float, float, float]]:
    """Cut (min_lng, min_lat, max_lng, max_lat) into cols×rows boxes, row by row from the north-west.

    Edge coordinates are computed once and shared by neighbours, and the outer ones are the parent's own,
    so the pieces tile the parent exactly.
    """
    min_lng, min_lat, max_lng, max_lat = bounds
    cols, rows = cols_rows
    lng_edges = [min_lng + (max_lng - min_lng) * i / cols for i in range(cols)] + [max_lng]
    lat_edges = [max_lat - (max_lat - min_lat) * j / rows for j in range(rows)] + [min_lat]
    for j in range(rows):
        for i in range(cols):
            yield (lng_edges[i], lat_edges[j + 1], lng_edges[i + 1], lat_edges[j])


def _geometry_to_geojson(geometry: Polygon | MultiPolygon) -> dict[str, Any]:
    def ring(coords: Any) -> list[list[float]]:
        return [[float(x), float(y)] for x, y in coords]

    def polygon(p: Polygon) -> list[list[list[float]]]:
        p = orient(p, 1.0)
        return [ring(p.exterior.coords), *(ring(r.coords) for r in p.interiors)]

    if isinstance(geometry, MultiPolygon):
        return {"type": "MultiPolygon", "coordinates": [polygon(p) for p in geometry.geoms]}
    return {"type": "Polygon", "coordinates": polygon(geometry)}


def _check_code(code: str, digits: int, level: str) -> None:
    if not (isinstance(code, str) and len(code) == digits and code.isascii() and code.isdigit()):
        raise ValidationFailed(f"{level} code must be {digits} digits, got {code!r}", details={"code": code})
