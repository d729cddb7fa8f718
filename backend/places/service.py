"""What the toilet and parking services share: checking a place's code and position, placing it in its
unit grid, and reading import files (CSV and GeoJSON) into rows with every problem listed."""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.errors import ValidationFailed
from backend.geo import CoordSystem, to_wgs84, validate_lat_lng
from backend.geo.cache import GeocoderCache
from backend.models import Department

CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
GEOCODER = GeocoderCache()

TRUE = {"1", "true", "yes", "y", "t", "是", "有", "免费"}
FALSE = {"0", "false", "no", "n", "f", "否", "无", "收费", ""}


def check_code(code: str, what: str) -> str:
    code = (code or "").strip()
    if not CODE.match(code):
        raise ValidationFailed(
            f"a {what} code is 1-32 of A-Z a-z 0-9 _ - (starting with a letter or digit)",
            code="invalid_code",
            details={"code": code[:40]},
        )
    return code


def check_name(name: str, what: str, limit: int = 100) -> str:
    name = (name or "").strip()
    if not name or len(name) > limit:
        raise ValidationFailed(f"a {what} needs a name of 1-{limit} characters", code="invalid_name")
    return name


def check_point(lat: Any, lng: Any) -> tuple[float, float]:
    point = validate_lat_lng(lat, lng)
    return point.lat, point.lng


async def locate(session: AsyncSession, lat: float, lng: float) -> tuple[str | None, str | None]:
    """The unit grid and street of a WGS-84 point (None outside every grid)."""
    grid = (await GEOCODER.get(session)).locate(lat, lng)
    return (grid.code, grid.street_code) if grid else (None, None)


async def department_ids(session: AsyncSession) -> dict[str, Any]:
    """Department code → id (imports name owners by code)."""
    return {code: dept_id for code, dept_id in (await session.execute(select(Department.code, Department.id))).all()}


# --- import files --------------------------------------------------------------------------------------


@dataclass
class Problems:
    """Everything wrong with an import file; raised as one ``ValidationFailed`` listing them all."""

    items: list[dict[str, Any]] = field(default_factory=list)

    def add(self, row: int | str, message: str) -> None:
        self.items.append({"feature": row, "message": message})

    def raise_if_any(self, what: str) -> None:
        if self.items:
            raise ValidationFailed(
                f"{len(self.items)} problem(s) in the {what} file; nothing was imported",
                code="import_invalid",
                details={"problems": self.items[:200]},
            )


def as_bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value if value is not None else "").strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise ValueError(f"{name} is yes/no (true/false, 1/0, 是/否), got {value!r}")


def as_int(value: Any, name: str, *, low: int = 0, high: int = 100_000, default: int = 0) -> int:
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    if isinstance(value, bool):
        raise ValueError(f"{name} is a whole number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} is a whole number, got {value!r}") from None
    if not math.isfinite(number) or number != int(number) or not low <= number <= high:
        raise ValueError(f"{name} is a whole number from {low} to {high}, got {value!r}")
    return int(number)


def csv_rows(text: str) -> list[dict[str, str]]:
    """The rows of a CSV file by header; a row with more fields than the header gets ``_extra``."""
    rows = []
    for raw in csv.DictReader(io.StringIO(text.lstrip("\ufeff"))):
        row = {k.strip(): (v or "").strip() for k, v in raw.items() if isinstance(k, str) and isinstance(v, str | None)}
        if raw.get(None):  # type: ignore[call-overload]
            row["_extra"] = ",".join(raw[None])  # type: ignore[index]
        rows.append(row)
    return rows


def geojson_rows(collection: Mapping[str, Any], problems: Problems) -> list[tuple[int, dict[str, Any]]]:
    """Point features as property rows with ``lat``/``lng`` added (GeoJSON is WGS-84; a ``coord``
    property of ``gcj02`` says the file is not)."""
    if not isinstance(collection, Mapping) or collection.get("type") != "FeatureCollection":
        raise ValidationFailed("not a GeoJSON FeatureCollection", code="import_invalid")
    rows = []
    for index, feature in enumerate(collection.get("features") or []):
        geometry = feature.get("geometry") if isinstance(feature, Mapping) else None
        coords = geometry.get("coordinates") if isinstance(geometry, Mapping) else None
        if not isinstance(geometry, Mapping) or geometry.get("type") != "Point" or not isinstance(coords, list):
            problems.add(index, "a feature is a Point")
            continue
        if len(coords) < 2:
            problems.add(index, "a Point has [lng, lat]")
            continue
        props = dict(feature.get("properties") or {})
        props["lng"], props["lat"] = coords[0], coords[1]
        rows.append((index, props))
    return rows


def row_point(row: Mapping[str, Any]) -> tuple[float, float]:
    """(lat, lng) in WGS-84 of an import row (``coord`` wgs84 by default, or gcj02)."""
    try:
        lat, lng = float(row.get("lat")), float(row.get("lng"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError("lat and lng are numbers") from None
    coord = str(row.get("coord") or "wgs84").strip().lower()
    if coord not in {"wgs84", "gcj02"}:
        raise ValueError("coord is wgs84 or gcj02")
    lat, lng = check_point(lat, lng)
    point = to_wgs84(lat, lng, CoordSystem(coord))
    return point.lat, point.lng


def collect(problems: Problems, row: int | str, work: Callable[[], Any]) -> Any:
    """Run ``work``; a ValueError or ValidationFailed becomes a problem of that row (None returned)."""
    try:
        return work()
    except ValidationFailed as exc:
        problems.add(row, exc.message)
    except ValueError as exc:
        problems.add(row, str(exc))
    return None
