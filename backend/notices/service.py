"""公告 — public notices: the published ones, pinned first and newest first, cursor-paginated.

Editing comes with the admin console; the demo city is seeded with two.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.errors import NotFound, ValidationFailed
from backend.models import Notice

MAX_PAGE = 50

DEMO_NOTICES: list[dict[str, object]] = [
    {
        "title": "关于开展“随手拍”市民共治活动的通告",
        "summary": "发现井盖缺失、垃圾堆放、占道经营等问题，请通过小程序“随手拍”上报。",
        "body": (
            "为进一步提升城市精细化管理水平，新洲区数字城管监督指挥中心面向全区市民开展“随手拍”活动。"
            "市民发现井盖缺失破损、暴露垃圾、占道经营、违规广告等城市管理问题，可通过本小程序拍照上报，"
            "并可随时查看办理进度、对处理结果进行评价。涉及人身安全的紧急情况请直接拨打110、119或120。"
        ),
        "category": "campaign",
        "pinned": True,
        "age": timedelta(days=3),
    },
    {
        "title": "城区部分路段夜间道路保洁作业时间调整公告",
        "summary": "自下周一起，邾城街道主干道夜间机械化保洁作业时间调整为22:00至次日5:00。",
        "body": (
            "为减少作业对市民出行和休息的影响，自下周一起，邾城街道主干道夜间机械化清扫、冲洗作业时间调整为"
            "每日22:00至次日5:00。作业期间请过往车辆和行人注意避让。如有意见建议，可通过小程序“随手拍”反映。"
        ),
        "category": "notice",
        "pinned": False,
        "age": timedelta(days=1),
    },
]


def _encode(notice: Notice) -> str:
    return f"{int(notice.pinned)}_{notice.published_at.timestamp():.6f}_{notice.id}"


def _decode(cursor: str) -> tuple[bool, datetime, uuid.UUID]:
    try:
        pinned, ts, raw = cursor.split("_", 2)
        return pinned == "1", datetime.fromtimestamp(float(ts), UTC), uuid.UUID(raw)
    except ValueError:
        raise ValidationFailed("invalid cursor", code="invalid_cursor") from None


async def list_published(
    session: AsyncSession, *, limit: int = 20, cursor: str | None = None
) -> tuple[list[Notice], str | None]:
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationFailed(f"limit must be between 1 and {MAX_PAGE}", code="invalid_limit")
    stmt = select(Notice).where(Notice.published, Notice.published_at <= func.now())
    if cursor:
        pinned, ts, last = _decode(cursor)
        # Order: pinned first (true > false), then newest, then id — the cursor continues after its row.
        after_in_group = or_(Notice.published_at < ts, and_(Notice.published_at == ts, Notice.id < last))
        stmt = stmt.where(
            or_(and_(Notice.pinned == pinned, after_in_group), Notice.pinned.is_(False)) if pinned
            else and_(Notice.pinned.is_(False), after_in_group)
        )  # fmt: skip
    stmt = stmt.order_by(Notice.pinned.desc(), Notice.published_at.desc(), Notice.id.desc()).limit(limit + 1)
    rows = list((await session.scalars(stmt)).all())
    next_cursor = _encode(rows[limit - 1]) if len(rows) > limit else None
    return rows[:limit], next_cursor


async def get_published(session: AsyncSession, notice_id: uuid.UUID) -> Notice:
    notice = await session.get(Notice, notice_id)
    if notice is None or not notice.published or notice.published_at > datetime.now(UTC):
        raise NotFound("no such notice", code="notice_not_found")
    return notice


async def seed_demo_notices(session: AsyncSession, *, now: datetime | None = None) -> int:
    """The demo city's two notices, once."""
    if await session.scalar(select(func.count()).select_from(Notice)):
        return 0
    now = now or datetime.now(UTC)
    for item in DEMO_NOTICES:
        fields = {k: v for k, v in item.items() if k != "age"}
        age = item["age"]
        assert isinstance(age, timedelta)
        session.add(Notice(**fields, published=True, published_at=now - age))
    await session.flush()
    return len(DEMO_NOTICES)
