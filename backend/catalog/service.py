"""The category catalog in the database: seeded from the shipped GB/T 30428.2 table, then edited by
administrators (the database is the source of truth once seeded)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from backend.catalog.rules import Catalog, MajorClass, MinorClass, shipped_catalog, validate_catalog
from backend.errors import Conflict, ValidationFailed
from backend.models import Category, CategoryMajor


def _minor_row(minor: Any) -> dict[str, Any]:
    data = msgspec.to_builtins(minor)
    return {
        "code": data["code"],
        "kind": data["kind"],
        "major_code": data["major_code"],
        "name": data["name"],
        "citizen_selectable": data["citizen_selectable"],
        "default_urgency": data.get("default_urgency", "normal"),
        "owner_hint": data["owner_hint"],
        "accept_condition": data["accept_condition"],
        "close_condition": data["close_condition"],
        "similar_radius_m": data.get("similar_radius_m", 50),
        "similar_window_h": data.get("similar_window_h", 72),
        "divert_to": data.get("divert_to"),
        "time_limits": data["time_limits"],
        "questions": data.get("questions", []),
        "active": True,
    }


async def seed_catalog(session: AsyncSession, catalog: Catalog | None = None, *, overwrite: bool = False) -> int:
    """Insert the catalog's classes; existing rows are kept (an administrator may have edited them)
    unless ``overwrite``. Returns the number of minor classes in the catalog."""
    catalog = catalog or shipped_catalog()
    validate_catalog(catalog)
    majors = [{"kind": m.kind, "code": m.code, "name": m.name, "extension": m.extension} for m in catalog.majors]
    stmt = insert(CategoryMajor).values(majors)
    if overwrite:
        stmt = stmt.on_conflict_do_update(
            index_elements=["kind", "code"], set_={"name": stmt.excluded.name, "extension": stmt.excluded.extension}
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=["kind", "code"])
    await session.execute(stmt)
    rows = [_minor_row(m) for m in catalog.minors]
    minor_stmt = insert(Category).values(rows)
    if overwrite:
        minor_stmt = minor_stmt.on_conflict_do_update(
            index_elements=["code"],
            set_={k: minor_stmt.excluded[k] for k in rows[0] if k != "code"},
        )
    else:
        minor_stmt = minor_stmt.on_conflict_do_nothing(index_elements=["code"])
    await session.execute(minor_stmt)
    return len(rows)


async def citizen_categories(session: AsyncSession) -> list[Category]:
    rows = await session.scalars(
        select(Category).where(Category.active, Category.citizen_selectable).order_by(Category.code)
    )
    return list(rows.all())


def minor_of(category: Category) -> MinorClass:
    """The catalog struct of a stored category (for answer validation and diverts)."""
    return msgspec.convert(
        {
            "code": category.code,
            "kind": category.kind,
            "major_code": category.major_code,
            "name": category.name,
            "citizen_selectable": category.citizen_selectable,
            "default_urgency": category.default_urgency,
            "owner_hint": category.owner_hint,
            "accept_condition": category.accept_condition,
            "close_condition": category.close_condition,
            "similar_radius_m": category.similar_radius_m,
            "similar_window_h": category.similar_window_h,
            "divert_to": category.divert_to,
            "time_limits": category.time_limits,
            "questions": category.questions,
        },
        MinorClass,
    )


CATEGORY_FIELDS = (
    "code", "kind", "major_code", "name", "citizen_selectable", "default_urgency", "owner_hint", "accept_condition",
    "close_condition", "similar_radius_m", "similar_window_h", "divert_to", "time_limits", "questions",
)  # fmt: skip
"""The fields of a minor class an administrator edits (``active`` besides)."""


async def save_category(session: AsyncSession, values: Mapping[str, Any], *, code: str | None = None) -> Category:
    """Create a minor class (``code`` None) or change one, after the catalog's own checks
    (``validate_catalog``): time limits complete for every urgency and stage, positive, urgent never
    slower than normal, similar-case radius and window in range, questions well-formed. The code and
    kind of an existing class never change (cases are filed under them)."""
    row = await session.get(Category, code) if code is not None else None
    if code is not None and row is None:
        raise ValidationFailed(f"unknown category {code!r}", code="unknown_category")
    data: dict[str, Any] = {k: getattr(row, k) for k in CATEGORY_FIELDS} if row is not None else {}
    frozen = {"code", "kind"} if row is not None else set()
    data.update({k: v for k, v in values.items() if k in CATEGORY_FIELDS and k not in frozen})
    if data.get("divert_to") == "":
        data["divert_to"] = None
    try:
        minor = msgspec.convert(data, MinorClass)
    except msgspec.ValidationError as exc:
        raise ValidationFailed(
            f"category {data.get('code')!r}: {exc}", code="invalid_catalog",
            details={"problems": [{"at": str(data.get("code")), "rule": "decode", "message": str(exc)}]},
        ) from None  # fmt: skip
    major_row = await session.get(CategoryMajor, (minor.kind, minor.major_code))
    majors = (
        (MajorClass(kind=minor.kind, code=major_row.code, name=major_row.name, extension=major_row.extension),)
        if major_row is not None
        else ()
    )
    validate_catalog(Catalog(majors=majors, minors=(minor,)))
    columns = _minor_row(minor)
    columns["active"] = bool(values.get("active", row.active if row is not None else True))
    if row is None:
        if await session.get(Category, minor.code) is not None:
            raise Conflict(f"category {minor.code} exists", code="category_exists")
        row = Category(**columns)
        session.add(row)
    else:
        for key, value in columns.items():
            if key != "code":
                setattr(row, key, value)
    await session.flush()
    return row


async def categories_by_major(session: AsyncSession) -> list[tuple[CategoryMajor, list[Category]]]:
    """Active minor classes grouped under their major classes (部件 first, then 事件), for pickers."""
    majors = (await session.scalars(select(CategoryMajor).order_by(CategoryMajor.kind, CategoryMajor.code))).all()
    minors = (await session.scalars(select(Category).where(Category.active).order_by(Category.code))).all()
    grouped: dict[tuple[str, str], list[Category]] = {}
    for minor in minors:
        grouped.setdefault((minor.kind, minor.major_code), []).append(minor)
    return [(m, grouped[(m.kind, m.code)]) for m in majors if (m.kind, m.code) in grouped]
