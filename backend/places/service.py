"""What the toilet and parking services share: checking a place's code and position, placing it in its
unit grid, creating, changing and deleting a place (``PlaceEditor``), feedback on a place that becomes a
case, and reading import files (CSV and GeoJSON) into rows with every problem listed."""

from __future__ import annotations

import csv
import io
import math
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.cases.service import IntakeResult
from backend.citizens import reports
from backend.citizens.reports import ReportInput
from backend.citizens.service import CitizenPrincipal
from backend.citizens.wechat import MiniProgramProvider
from backend.errors import Conflict, ValidationFailed
from backend.geo import CoordSystem, GridGeocoder, to_wgs84, validate_lat_lng
from backend.geo.cache import GeocoderCache
from backend.models import Department, ParkingLot, Toilet, new_id
from backend.places.index import PlaceIndex
from backend.storage import StorageService

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

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


# --- editing places ------------------------------------------------------------------------------------

Row = TypeVar("Row", Toilet, ParkingLot)  # the tables of places
Input = TypeVar("Input", bound="DataclassInstance")


class PlaceEditor(Generic[Row, Input]):
    """Creating, changing and deleting one kind of place, alike for every kind: the code unique among
    the kind's places, the unit grid and street kept with the position, every change staged to the
    nearby index (applied after the commit). What is the kind's own comes in: its row and input types,
    ``columns`` (the checked column values of an input; raises ``ValidationFailed``), ``find`` (a row
    by id or code; raises ``NotFound``), its index, and how messages and error codes name it."""

    def __init__(
        self,
        model: type[Row],
        input_type: type[Input],
        *,
        columns: Callable[[Input], dict[str, Any]],
        find: Callable[[AsyncSession, uuid.UUID | str], Awaitable[Row]],
        index: PlaceIndex[Any],
        what: str,
        code_taken: str,
    ) -> None:
        self.model: type[Row] = model
        self.input_type = input_type
        self.columns = columns
        self.find: Callable[[AsyncSession, uuid.UUID | str], Awaitable[Row]] = find
        self.index = index
        self.what = what
        self.code_taken = code_taken
        self.editable = frozenset(f.name for f in fields(input_type))

    async def check_code_free(self, session: AsyncSession, code: str, own_id: uuid.UUID | None = None) -> None:
        other = await session.scalar(select(self.model.id).where(self.model.code == code))
        if other is not None and other != own_id:
            raise Conflict(f"a {self.what} with code {code!r} exists", code=self.code_taken)

    async def create(self, session: AsyncSession, data: Input) -> Row:
        values = self.columns(data)
        await self.check_code_free(session, values["code"])
        values["grid_code"], values["street_code"] = await locate(session, values["lat"], values["lng"])
        place = self.model(id=new_id(), **values)
        session.add(place)
        await session.flush()
        self.index.stage_add(session, place.id, place.lat, place.lng)
        return place

    async def update(self, session: AsyncSession, ref: uuid.UUID | str, changes: Mapping[str, Any]) -> Row:
        """Change some fields (the names of the input type); the whole place is checked again."""
        unknown = set(changes) - self.editable
        if unknown:
            raise ValidationFailed(f"cannot change {sorted(unknown)}", code="validation_failed")
        place = await self.find(session, ref)
        current = self.input_type(**{name: getattr(place, name) for name in self.editable})
        values = self.columns(replace(current, **changes))
        if values["code"] != place.code:
            await self.check_code_free(session, values["code"], place.id)
        if (values["lat"], values["lng"]) != (place.lat, place.lng):
            values["grid_code"], values["street_code"] = await locate(session, values["lat"], values["lng"])
        for name, value in values.items():
            setattr(place, name, value)
        await session.flush()
        # Every change, moved or not, changes the index's token: API processes reload the records.
        self.index.stage_add(session, place.id, place.lat, place.lng)
        return place

    async def delete(self, session: AsyncSession, place: Row) -> None:
        """Delete a place the caller found (and found deletable)."""
        await session.delete(place)
        await session.flush()
        self.index.stage_remove(session, place.id)


# --- feedback ------------------------------------------------------------------------------------------


def check_feedback_type(feedback_type: str, types: Sequence[str]) -> None:
    if feedback_type not in types:
        raise ValidationFailed(f"feedback_type is one of {', '.join(types)}", code="invalid_feedback_type")


async def report_at(
    session: AsyncSession,
    storage: StorageService,
    geocoder: GridGeocoder,
    provider: MiniProgramProvider,
    principal: CitizenPrincipal,
    place: Toilet | ParkingLot,
    *,
    category_code: str,
    answers: dict[str, Any],
    description: str,
    photo_keys: Sequence[str],
) -> IntakeResult:
    """服务反馈 — a citizen's feedback on a place becomes a case of ``category_code`` at the place (its
    name and address as the case's address), through the same intake as any report (text check,
    photos, similar cases, dispatch)."""
    address = f"{place.name}（{place.address}）" if place.address else place.name
    return await reports.submit(
        session,
        storage,
        geocoder,
        provider,
        principal,
        ReportInput(
            category_code=category_code,
            lat=place.lat,
            lng=place.lng,
            description=description,
            address=address[:200],
            answers=answers,
            photo_keys=list(photo_keys),
        ),
    )


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
