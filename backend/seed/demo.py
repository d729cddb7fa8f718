"""The demo city: 新洲区 (420117) with its real streets, generated communities and unit grids,
departments and one staff member per role. Idempotent: a second run finds it and does nothing."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from backend.catalog.service import seed_catalog
from backend.citizens.seed import seed_demo_citizens
from backend.db import create_engine, create_session_factory, transaction
from backend.devices.seed import seed_demo_devices
from backend.geo.layout import XINZHOU_CENTER, Layout, area_km2, generate_layout
from backend.models import Community, Department, DispatchRuleRow, District, Grid, Staff, Street, new_id
from backend.notices.service import seed_demo_notices
from backend.org.passwords import hash_password
from backend.parking.service import seed_demo_parking
from backend.settings import Settings
from backend.toilets.service import seed_demo_toilets

DATA = Path(__file__).resolve().parent / "data"
DEMO_DISTRICT = "420117"
DEMO_PASSWORD = "Demo@2026"

# (username, password, roles as shown to a person)
DEMO_LOGINS: list[tuple[str, str, str]] = [
    ("admin", DEMO_PASSWORD, "admin 系统管理员"),
    ("seat1", DEMO_PASSWORD, "seat 受理员"),
    ("dispatcher1", DEMO_PASSWORD, "dispatcher 派遣员"),
    ("lead1", DEMO_PASSWORD, "shift_lead 值班长"),
    ("collector1", DEMO_PASSWORD, "collector 信息采集员 (邾城街道网格)"),
    ("handler1", DEMO_PASSWORD, "handler 环卫处置人员"),
    ("officer1", DEMO_PASSWORD, "officer 执法队员"),
    ("auditor1", DEMO_PASSWORD, "auditor 审计员"),
]

# (code, name, kind, parent code)
DEMO_DEPARTMENTS: list[tuple[str, str, str, str | None]] = [
    ("XZ-CMD", "新洲区数字城管监督指挥中心", "command_center", None),
    ("XZ-CGJ", "新洲区城市管理执法局", "professional", None),
    ("XZ-HW", "新洲区环境卫生管理处", "professional", "XZ-CGJ"),
    ("XZ-YL", "新洲区园林绿化管理处", "professional", "XZ-CGJ"),
    ("XZ-SW", "新洲区水务和湖泊局", "professional", None),
    ("XZ-JG", "新洲区交通大队", "member_unit", None),
    ("XZ-RQ", "新洲燃气有限公司", "member_unit", None),
    ("XZ-ZCJD", "邾城街道办事处", "street", None),
    ("XZ-YLJD", "阳逻街道办事处", "street", None),
]

# (category pattern, area scope, area code, department code, priority) — 智能分派 rules of the demo city.
DEMO_DISPATCH_RULES: list[tuple[str, str, str | None, str, int]] = [
    ("C01*", "district", "420117", "XZ-SW", 0),
    ("C02*", "district", "420117", "XZ-JG", 0),
    ("C03*", "district", "420117", "XZ-HW", 0),
    ("C04*", "district", "420117", "XZ-YL", 0),
    ("C05*", "district", "420117", "XZ-CGJ", 0),
    ("C06*", "district", "420117", "XZ-CGJ", 0),
    ("C07*", "district", "420117", "XZ-CGJ", 0),
    ("E01*", "district", "420117", "XZ-HW", 0),
    ("E0105", "district", "420117", "XZ-YL", 0),
    # 废弃车辆: two plausible owners at the same level — the dispatcher decides (manual queue).
    ("E0106", "district", "420117", "XZ-JG", 0),
    ("E0106", "district", "420117", "XZ-CGJ", 0),
    ("E02*", "district", "420117", "XZ-CGJ", 0),
    ("E03*", "district", "420117", "XZ-CGJ", 0),
    ("E0401", "district", "420117", "XZ-SW", 0),
    ("E0402", "district", "420117", "XZ-SW", 0),
    ("E0404", "district", "420117", "XZ-SW", 0),
    ("E0405", "district", "420117", "XZ-SW", 0),
    ("E0403", "district", "420117", "XZ-RQ", 0),
    ("E0407", "district", "420117", "XZ-YL", 0),
    ("E05*", "district", "420117", "XZ-CGJ", 0),
    ("E0505", "district", "420117", "XZ-JG", 0),
    # 街面秩序 in 邾城 and 阳逻 is the street offices' own (属地管理): more specific, so it wins there.
    ("E05*", "street", "420117001", "XZ-ZCJD", 0),
    ("E05*", "street", "420117002", "XZ-YLJD", 0),
    ("E07*", "district", "420117", "XZ-CGJ", 0),
    ("E0701", "district", "420117", "XZ-SW", 0),
    ("E0702", "district", "420117", "XZ-RQ", 0),
    ("E0703", "district", "420117", "XZ-HW", 0),
    ("E0704", "district", "420117", "XZ-HW", 0),
    ("E0708", "district", "420117", "XZ-RQ", 0),
    ("E0709", "district", "420117", "XZ-RQ", 0),
]

# username → (name, roles, department code, phone)
DEMO_STAFF: dict[str, tuple[str, list[str], str | None, str]] = {
    "admin": ("系统管理员", ["admin"], "XZ-CMD", "13800000001"),
    "seat1": ("王受理", ["seat"], "XZ-CMD", "13800000002"),
    "dispatcher1": ("李派遣", ["dispatcher"], "XZ-CMD", "13800000003"),
    "lead1": ("张值班", ["shift_lead", "seat", "dispatcher"], "XZ-CMD", "13800000004"),
    "collector1": ("陈采集", ["collector"], "XZ-CMD", "13800000005"),
    "handler1": ("刘环卫", ["handler"], "XZ-HW", "13800000006"),
    "officer1": ("赵执法", ["officer", "handler"], "XZ-CGJ", "13800000007"),
    "auditor1": ("周审计", ["auditor"], "XZ-CMD", "13800000008"),
}


def read_districts() -> list[tuple[str, str]]:
    with open(DATA / "wuhan_districts.csv", encoding="utf-8") as f:
        return [(r["code"], r["name"]) for r in csv.DictReader(f)]


def read_streets() -> list[tuple[str, str, str]]:
    with open(DATA / "wuhan_streets.csv", encoding="utf-8") as f:
        return [(r["code"], r["name"], r["area_code"]) for r in csv.DictReader(f)]


def demo_layout() -> Layout:
    names = dict(read_districts())
    streets = [(code, name) for code, name, parent in read_streets() if parent == DEMO_DISTRICT]
    return generate_layout(DEMO_DISTRICT, streets, *XINZHOU_CENTER, district_name=names.get(DEMO_DISTRICT, "新洲区"))


def _geometry(polygon: Any) -> dict[str, Any]:
    return dict(polygon.__geo_interface__)


async def _upsert(session: AsyncSession, model: Any, rows: list[dict[str, Any]], key: str) -> None:
    if not rows:
        return
    for start in range(0, len(rows), 500):
        chunk = rows[start : start + 500]
        await session.execute(insert(model).values(chunk).on_conflict_do_nothing(index_elements=[key]))


async def is_seeded(session: AsyncSession) -> bool:
    count = await session.scalar(select(func.count()).select_from(Grid).where(Grid.district_code == DEMO_DISTRICT))
    return bool(count)


async def seed_geography(session: AsyncSession, layout: Layout) -> int:
    district_rows = [
        {
            "code": code,
            "name": name,
            "boundary": _geometry(layout.district.polygon) if code == DEMO_DISTRICT else None,
        }
        for code, name in read_districts()
    ]
    await _upsert(session, District, district_rows, "code")
    street_shapes = {s.code: s for s in layout.streets}
    street_rows = [
        {
            "code": code,
            "name": name,
            "district_code": parent,
            "boundary": _geometry(street_shapes[code].polygon) if code in street_shapes else None,
        }
        for code, name, parent in read_streets()
    ]
    await _upsert(session, Street, street_rows, "code")
    await _upsert(
        session,
        Community,
        [
            {"code": c.code, "name": c.name, "street_code": c.parent_code, "boundary": _geometry(c.polygon)}
            for c in layout.communities
        ],
        "code",
    )
    grid_rows = []
    for g in layout.grids:
        min_lng, min_lat, max_lng, max_lat = g.polygon.bounds
        grid_rows.append(
            {
                "code": g.code,
                "name": g.name,
                "community_code": g.code[:12],
                "street_code": g.code[:9],
                "district_code": g.code[:6],
                "boundary": _geometry(g.polygon),
                "area_km2": round(area_km2(g.polygon), 6),
                "min_lat": min_lat,
                "min_lng": min_lng,
                "max_lat": max_lat,
                "max_lng": max_lng,
            }
        )
    await _upsert(session, Grid, grid_rows, "code")
    return len(grid_rows)


async def seed_organization(session: AsyncSession, layout: Layout) -> None:
    ids: dict[str, Any] = {}
    for code, name, kind, parent in DEMO_DEPARTMENTS:
        existing = await session.scalar(select(Department).where(Department.code == code))
        if existing is None:
            existing = Department(
                id=new_id(),
                code=code,
                name=name,
                kind=kind,
                district_code=DEMO_DISTRICT,
                parent_id=ids.get(parent) if parent else None,
            )
            session.add(existing)
            await session.flush()
        ids[code] = existing.id
    if await session.scalar(select(func.count()).select_from(DispatchRuleRow)) == 0:
        for pattern, scope, area, owner, priority in DEMO_DISPATCH_RULES:
            session.add(
                DispatchRuleRow(
                    id=new_id(), category_pattern=pattern, area_scope=scope, area_code=area,
                    department_id=ids[owner], priority=priority, confidence=1.0, enabled=True,
                )
            )  # fmt: skip
    zhucheng_grids = [g.code for g in layout.grids if g.code.startswith("420117001")]
    password_hash = hash_password(DEMO_PASSWORD)
    for username, (name, roles, dept, phone) in DEMO_STAFF.items():
        if await session.scalar(select(Staff.id).where(Staff.username == username)) is not None:
            continue
        session.add(
            Staff(
                id=new_id(),
                username=username,
                name=name,
                phone=phone,
                password_hash=password_hash,
                roles=roles,
                department_id=ids.get(dept) if dept else None,
                grid_codes=zhucheng_grids if "collector" in roles else [],
            )
        )
    await session.flush()


async def seed_demo_in(session: AsyncSession, *, echo: Callable[[str], None] = lambda _: None) -> int:
    layout = demo_layout()
    echo(f"seeding {len(layout.streets)} streets, {len(layout.communities)} communities, {len(layout.grids)} grids …")
    grids = await seed_geography(session, layout)
    echo("seeding the category catalog (GB/T 30428.2) …")
    await seed_catalog(session)
    echo("seeding departments, dispatch rules and staff …")
    await seed_organization(session, layout)
    echo("seeding device types, alarm rules and demo devices …")
    await seed_demo_devices(session)
    echo("seeding demo citizens and notices …")
    await seed_demo_citizens(session)
    await seed_demo_notices(session)
    echo("seeding demo toilets and parking …")
    await seed_demo_toilets(session)
    await seed_demo_parking(session)
    return grids


async def seed_demo(settings: Settings, *, force: bool = False, echo: Callable[[str], None] = lambda _: None) -> bool:
    engine = create_engine(settings)
    try:
        factory = create_session_factory(engine)
        async with transaction(factory) as session:
            if not force and await is_seeded(session):
                return False
            await seed_demo_in(session, echo=echo)
        return True
    finally:
        await engine.dispose()
