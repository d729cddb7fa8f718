"""The categories a citizen may report under (随手拍分类), with their extra questions."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get
from sqlalchemy.ext.asyncio import AsyncSession

from backend.catalog.rules import DIVERT_MESSAGES
from backend.citizens import reports
from backend.models import Category
from miniprogram_api.schemas import CategoryList, CategoryOut, DivertOut, QuestionOut


def _question(q: dict[str, Any]) -> QuestionOut:
    divert = q.get("divert")
    return QuestionOut(
        key=q["key"],
        label=q["label"],
        type=q["type"],
        options=list(q.get("options") or []),
        required=bool(q.get("required", False)),
        minimum=q.get("minimum"),
        maximum=q.get("maximum"),
        divert_when=divert.get("when") if divert else None,
        divert=DivertOut(to=divert["to"], message=divert["message"]) if divert else None,
    )


def category_out(category: Category, major_name: str) -> CategoryOut:
    divert = category.divert_to
    return CategoryOut(
        code=category.code,
        name=category.name,
        kind=category.kind,
        major_code=category.major_code,
        major_name=major_name,
        divert=DivertOut(to=divert, message=DIVERT_MESSAGES.get(divert, "")) if divert else None,  # type: ignore[call-overload]
        questions=[_question(q) for q in category.questions],
    )


class CategoryController(Controller):
    path = "/categories"
    tags = ["reports"]

    @get("", summary="Categories a citizen may report, with their extra questions")
    async def list_categories(self, db_session: AsyncSession) -> CategoryList:
        rows = await reports.selectable_categories(db_session)
        return CategoryList(items=[category_out(c, major) for c, major in rows])
