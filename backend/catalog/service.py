"""The category catalog in the database: seeded from the shipped GB/T 30428.2 table, then edited by
administrators (the database is the source of truth once seeded)."""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from backend.catalog.rules import Catalog, MinorClass, shipped_catalog, validate_catalog
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
