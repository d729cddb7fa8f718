"""Point-in-polygon geocoding over the unit-grid layer (单元网格图层, GB/T 30428.1).

Each case records its grid, community, street and district codes at creation (DESIGN §3), so evaluation by
area never needs a spatial join. The grid layer is small (hundreds to a few thousand polygons) and changes
rarely, so it is held in memory behind a shapely ``STRtree`` and rebuilt wholesale when grids change: a
``GridGeocoder`` is immutable, and the owner swaps in a new one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon, shape

from backend.errors import ValidationFailed

__all__ = ["GridGeocoder", "GridShape"]


@dataclass(frozen=True, slots=True)
class GridShape:
    """单元网格 — one unit grid with its place in the hierarchy and its outline.

    ``polygon`` is in WGS-84 with shapely's axis order: x is longitude, y is latitude.
    """

    code: str
    """Grid code: the 12-digit community code followed by a 3-digit sequence."""
    community_code: str
    """社区 code (12 digits)."""
    street_code: str
    """街道 code (9 digits)."""
    district_code: str
    """区 code (6 digits)."""
    polygon: Polygon | MultiPolygon
    name: str = ""


class GridGeocoder:
    """Answers "which unit grid holds this point?" for WGS-84 coordinates.

    Points on a border shared by several grids (or on a grid's outer edge) count as inside every grid they
    touch; the answer is then the grid with the smallest code, so the same point always gets the same grid
    regardless of the order grids were loaded in.
    """

    __slots__ = ("_by_code", "_grids", "_tree")

    def __init__(self, grids: Iterable[GridShape]) -> None:
        # Sorting by code makes "smallest tree index" mean "smallest code", which turns the tie-break on
        # shared borders into a plain min() over query results.
        ordered = sorted(grids, key=lambda g: g.code)
        by_code: dict[str, GridShape] = {}
        for grid in ordered:
            if grid.code in by_code:
                raise ValidationFailed(f"duplicate grid code {grid.code}", details={"code": grid.code})
            if not isinstance(grid.polygon, Polygon | MultiPolygon):
                raise ValidationFailed(
                    f"grid {grid.code} must be a Polygon or MultiPolygon, got {grid.polygon.geom_type}",
                    details={"code": grid.code},
                )
            by_code[grid.code] = grid
        self._grids: tuple[GridShape, ...] = tuple(ordered)
        self._by_code = by_code
        geometries = np.array([g.polygon for g in ordered], dtype=object)
        # Prepared geometries make repeated predicates against the same polygon much cheaper; STRtree
        # query with a predicate uses them when present.
        shapely.prepare(geometries)
        self._tree = shapely.STRtree(geometries)

    @classmethod
    def from_geojson(cls, feature_collection: Mapping[str, Any]) -> GridGeocoder:
        """Build from a GeoJSON FeatureCollection (coordinates in [lng, lat] order, WGS-84).

        Each feature needs a Polygon or MultiPolygon geometry and a ``code`` property; ``community_code``,
        ``street_code`` and ``district_code`` are read when present and otherwise derived from the code's
        GB/T prefix (12, 9 and 6 digits). Features whose ``level`` property is present and is not
        ``"grid"`` are skipped, so a full layout export (district, streets, communities, grids) loads as-is.
        """
        if feature_collection.get("type") != "FeatureCollection":
            raise ValidationFailed("expected a GeoJSON FeatureCollection")
        grids: list[GridShape] = []
        for index, feature in enumerate(feature_collection.get("features") or ()):
            props: Mapping[str, Any] = feature.get("properties") or {}
            if props.get("level", "grid") != "grid":
                continue
            code = props.get("code")
            if not code:
                raise ValidationFailed(f"feature {index} has no code property", details={"index": index})
            code = str(code)
            geometry = feature.get("geometry")
            if not geometry or geometry.get("type") not in ("Polygon", "MultiPolygon"):
                raise ValidationFailed(
                    f"grid {code} must have a Polygon or MultiPolygon geometry", details={"code": code}
                )
            try:
                polygon = shape(geometry)
            except (ValueError, TypeError, AttributeError, shapely.errors.GEOSException) as exc:
                raise ValidationFailed(f"grid {code} has an unreadable geometry: {exc}") from exc
            grids.append(
                GridShape(
                    code=code,
                    community_code=str(props.get("community_code") or code[:12]),
                    street_code=str(props.get("street_code") or code[:9]),
                    district_code=str(props.get("district_code") or code[:6]),
                    polygon=polygon,
                    name=str(props.get("name") or ""),
                )
            )
        return cls(grids)

    @property
    def grids(self) -> tuple[GridShape, ...]:
        """All grids, ordered by code."""
        return self._grids

    def __len__(self) -> int:
        return len(self._grids)

    def __iter__(self) -> Iterator[GridShape]:
        return iter(self._grids)

    def get(self, code: str) -> GridShape | None:
        """The grid with this code, if loaded."""
        return self._by_code.get(code)

    def locate(self, lat: float, lng: float) -> GridShape | None:
        """The grid holding the WGS-84 point, or None outside every grid (or for NaN/infinite input)."""
        if not (math.isfinite(lat) and math.isfinite(lng)):
            return None
        hits = self._tree.query(shapely.Point(lng, lat), predicate="intersects")
        if len(hits) == 0:
            return None
        return self._grids[int(hits.min())]

    def locate_many(self, points: Sequence[tuple[float, float]] | np.ndarray[Any, Any]) -> list[GridShape | None]:
        """``locate`` for many (lat, lng) points at once, in one vectorised STRtree query.

        Accepts a sequence of (lat, lng) pairs or an (n, 2) array with latitude in column 0.
        """
        indices = self.locate_indices(points)
        grids = self._grids
        return [grids[i] if i >= 0 else None for i in indices.tolist()]

    def locate_indices(self, points: Sequence[tuple[float, float]] | np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """Like ``locate_many`` but returns, per point, the index into ``grids`` (−1 for none).

        For bulk jobs that only need codes this avoids building a Python list of objects.
        """
        coords = np.asarray(points, dtype=float)
        if coords.size == 0:
            return np.empty(0, dtype=np.intp)
        if coords.ndim != 2 or coords.shape[1] != 2:
            raise ValidationFailed("points must be (lat, lng) pairs")
        result = np.full(coords.shape[0], -1, dtype=np.intp)
        finite = np.isfinite(coords).all(axis=1)
        if not finite.all():
            # GEOS refuses NaN coordinates outright; such points simply locate nowhere.
            coords = np.where(finite[:, None], coords, 0.0)
        geoms = shapely.points(coords[:, 1], coords[:, 0])
        point_idx, tree_idx = self._tree.query(geoms, predicate="intersects")
        if len(point_idx):
            # A point on a shared border hits several grids; the smallest tree index is the smallest code.
            best = np.full(coords.shape[0], np.iinfo(np.intp).max, dtype=np.intp)
            np.minimum.at(best, point_idx, tree_idx)
            hit = best != np.iinfo(np.intp).max
            result[hit] = best[hit]
        result[~finite] = -1
        return result
