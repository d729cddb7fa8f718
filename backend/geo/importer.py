"""Import regions and unit grids (GB/T 30428.1) from GeoJSON or CSV.

GeoJSON features carry ``level`` (district | street | community | grid), ``code``, ``name`` and, below the
district, ``parent_code`` — the shape ``Layout.to_geojson()`` writes. Everything in a file is checked
before anything is written: a bad feature refuses the whole import with every problem listed.
Existing rows are updated (boundary, name), so re-importing a corrected file is safe; the geocoder
notices the change through the grids' ``updated_at``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from shapely.geometry import shape
from shapely.validation import explain_validity
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from backend.errors import ValidationFailed
from backend.geo.layout import area_km2
from backend.models import Community, District, Grid, Street

LEVELS = ("district", "street", "community", "grid")
CODE_DIGITS = {"district": 6, "street": 9, "community": 12, "grid": 15}
MODELS: dict[str, Any] = {"district": District, "street": Street, "community": Community, "grid": Grid}
PARENT_FIELD = {"street": "district_code", "community": "street_code", "grid": "community_code"}


@dataclass
class ImportResult:
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _check_feature(index: int, feature: Any, problems: list[dict[str, Any]]) -> dict[str, Any] | None:
    def bad(message: str) -> None:
        problems.append({"feature": index, "message": message})

    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        bad("not a GeoJSON Feature")
        return None
    props = feature.get("properties") or {}
    level = props.get("level") or ("grid" if len(str(props.get("code", ""))) == 15 else None)
    code = str(props.get("code", ""))
    name = str(props.get("name", "")).strip()
    if level not in LEVELS:
        bad(f"level must be one of {', '.join(LEVELS)}")
        return None
    if not (code.isascii() and code.isdigit() and len(code) == CODE_DIGITS[level]):
        bad(f"{level} code must be {CODE_DIGITS[level]} digits, got {code!r}")
        return None
    if not name:
        bad(f"{code}: name is missing")
    parent = props.get("parent_code")
    if level != "district":
        parent = str(parent or code[: CODE_DIGITS[LEVELS[LEVELS.index(level) - 1]]])
        if not code.startswith(parent):
            bad(f"{code}: parent code {parent} is not its prefix")
    geometry = None
    if feature.get("geometry") is not None:
        try:
            geometry = shape(feature["geometry"])
        except Exception as exc:  # shapely raises several kinds for malformed coordinates
            bad(f"{code}: geometry is not readable ({exc})")
            return None
        if geometry.geom_type not in {"Polygon", "MultiPolygon"}:
            bad(f"{code}: geometry must be a Polygon or MultiPolygon, got {geometry.geom_type}")
            return None
        if not geometry.is_valid:
            bad(f"{code}: geometry is invalid ({explain_validity(geometry)})")
            return None
        min_lng, min_lat, max_lng, max_lat = geometry.bounds
        if not (-90 <= min_lat <= max_lat <= 90 and -180 <= min_lng <= max_lng <= 180):
            bad(f"{code}: coordinates out of range (GeoJSON is [lng, lat] in WGS-84)")
            return None
    elif level == "grid":
        bad(f"{code}: a grid needs its boundary")
        return None
    return {"level": level, "code": code, "name": name, "parent": parent, "geometry": geometry,
            "boundary": feature.get("geometry")}  # fmt: skip


def _row(item: dict[str, Any]) -> dict[str, Any]:
    level, code = item["level"], item["code"]
    row: dict[str, Any] = {"code": code, "name": item["name"], "boundary": item["boundary"]}
    if level in PARENT_FIELD:
        row[PARENT_FIELD[level]] = item["parent"]
    if level == "grid":
        geometry = item["geometry"]
        min_lng, min_lat, max_lng, max_lat = geometry.bounds
        row |= {
            "street_code": code[:9],
            "district_code": code[:6],
            "area_km2": round(area_km2(geometry), 6),
            "min_lat": min_lat, "min_lng": min_lng, "max_lat": max_lat, "max_lng": max_lng,
        }  # fmt: skip
    return row


async def _existing(session: AsyncSession, level: str, codes: Iterable[str]) -> set[str]:
    model = MODELS[level]
    wanted = sorted(set(codes))
    if not wanted:
        return set()
    return set((await session.scalars(select(model.code).where(model.code.in_(wanted)))).all())


async def import_geojson(
    session: AsyncSession, collection: Any, *, progress: Callable[[int, int], None] = lambda done, total: None
) -> ImportResult:
    if not isinstance(collection, dict) or collection.get("type") != "FeatureCollection":
        raise ValidationFailed("expected a GeoJSON FeatureCollection", code="invalid_geojson")
    features = collection.get("features")
    if not isinstance(features, list) or not features:
        raise ValidationFailed("the FeatureCollection has no features", code="invalid_geojson")
    problems: list[dict[str, Any]] = []
    items = [item for i, f in enumerate(features) if (item := _check_feature(i, f, problems)) is not None]
    by_level: dict[str, list[dict[str, Any]]] = {level: [] for level in LEVELS}
    for item in items:
        by_level[item["level"]].append(item)
    seen: set[str] = set()
    for item in items:
        if item["code"] in seen:
            problems.append({"feature": item["code"], "message": f"{item['code']}: duplicate code"})
        seen.add(item["code"])
    # Parents must exist already or come in the same file.
    for index, level in enumerate(LEVELS[1:], start=1):
        parent_level = LEVELS[index - 1]
        in_file = {i["code"] for i in by_level[parent_level]}
        wanted = {i["parent"] for i in by_level[level]} - in_file
        missing = wanted - await _existing(session, parent_level, wanted)
        for code in sorted(missing):
            problems.append({"feature": code, "message": f"{parent_level} {code} does not exist"})
    if problems:
        raise ValidationFailed(
            f"{len(problems)} problem(s) in the file; nothing was imported",
            code="invalid_geojson",
            details={"problems": problems[:200]},
        )
    counts: dict[str, int] = {}
    done = 0
    for level in LEVELS:
        rows = [_row(i) for i in by_level[level]]
        counts[level] = len(rows)
        model = MODELS[level]
        for start in range(0, len(rows), 500):
            chunk = rows[start : start + 500]
            stmt = insert(model).values(chunk)
            updates = {k: stmt.excluded[k] for k in chunk[0] if k != "code"} | {"updated_at": func.now()}
            await session.execute(stmt.on_conflict_do_update(index_elements=["code"], set_=updates))
            done += len(chunk)
            progress(done, len(items))
    await session.flush()
    return ImportResult(counts)


async def import_regions_csv(session: AsyncSession, text: str, level: str) -> ImportResult:
    """Districts or streets from CSV with columns ``code,name`` (+ ``parent_code`` or ``area_code``
    for streets) — the shape of the national division tables."""
    if level not in {"district", "street", "community"}:
        raise ValidationFailed("CSV import takes districts, streets or communities", code="invalid_level")
    reader = csv.DictReader(io.StringIO(text))
    features = []
    for row in reader:
        props = {
            "level": level,
            "code": (row.get("code") or "").strip(),
            "name": (row.get("name") or "").strip(),
            "parent_code": (row.get("parent_code") or row.get("area_code") or "").strip() or None,
        }
        features.append({"type": "Feature", "geometry": None, "properties": props})
    return await import_geojson(session, {"type": "FeatureCollection", "features": features})
