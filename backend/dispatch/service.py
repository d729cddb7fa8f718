"""派遣规则 in the database — created and changed by administrators, checked before saving so the
smart dispatch never meets a rule it cannot apply."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from backend.dispatch.rules import AreaScope, DispatchRule
from backend.errors import NotFound, ValidationFailed
from backend.models import Category, Community, Department, DispatchRuleRow, District, Grid, Street, new_id

PRIORITY_RANGE: Final = (-9, 9)
"""Priority only breaks ties between equally specific rules; the score caps it at ±9."""
_PATTERN = re.compile(r"[CE*][0-9*]{0,4}")
_AREA_MODELS: Final[Mapping[AreaScope, Any]] = {
    AreaScope.district: District,
    AreaScope.street: Street,
    AreaScope.community: Community,
    AreaScope.grid: Grid,
}


def _problem(message: str, field: str, label: str) -> ValidationFailed:
    return ValidationFailed(message, code="invalid_dispatch_rule", details={"field": field, "label": label})


async def save_rule(
    session: AsyncSession, values: Mapping[str, Any], *, rule_id: uuid.UUID | None = None
) -> DispatchRuleRow:
    """Create a rule (``rule_id`` None) or change one. The pattern is a category code or a prefix with
    ``*`` (``E0106``, ``E01*``, ``*``); the area must exist at its scope (none for the whole city); the
    department must be active. Confidence and the success/return counts are the system's, not edited."""
    row = await session.get(DispatchRuleRow, rule_id) if rule_id is not None else None
    if rule_id is not None and row is None:
        raise NotFound("no such dispatch rule", code="dispatch_rule_not_found")
    pattern = str(values.get("category_pattern") or "").strip().upper()
    if not _PATTERN.fullmatch(pattern):
        raise _problem(f"category pattern {pattern!r} is not a code or a prefix with *", "category_pattern",
                       "分类匹配须为小类代码或以*结尾的前缀，如 E0106、E01*、*")  # fmt: skip
    if "*" not in pattern and await session.get(Category, pattern) is None:
        raise _problem(f"no category {pattern}", "category_pattern", f"没有小类 {pattern}")
    try:
        scope = AreaScope(str(values.get("area_scope") or ""))
    except ValueError:
        raise _problem("unknown area scope", "area_scope", "区域范围须为网格、社区、街道、区或全市") from None
    area_code = str(values.get("area_code") or "").strip() or None
    if scope is AreaScope.city:
        area_code = None
    elif area_code is None or await session.get(_AREA_MODELS[scope], area_code) is None:
        raise _problem(
            f"no {scope.value} with code {area_code!r}", "area_code", f"没有编码为 {area_code} 的{scope.label}"
        )
    try:
        department_id = uuid.UUID(str(values.get("department_id")))
    except ValueError:
        raise _problem("a department is required", "department_id", "请选择部门") from None
    department = await session.get(Department, department_id)
    if department is None or not department.active:
        raise _problem("unknown or inactive department", "department_id", "部门不存在或已停用")
    try:
        priority = int(values.get("priority") or 0)
    except (TypeError, ValueError):
        raise _problem("priority must be a whole number", "priority", "优先级须为整数") from None
    low, high = PRIORITY_RANGE
    if not low <= priority <= high:
        raise _problem(f"priority must be within {low}..{high}", "priority", f"优先级须在 {low} 到 {high} 之间")
    enabled = bool(values.get("enabled", True))
    # The pure rule's own checks (area code present exactly when not the city, …).
    DispatchRule(id=str(rule_id or "new"), category_pattern=pattern, area_scope=scope, area_code=area_code,
                 department_id=str(department_id), priority=priority, enabled=enabled)  # fmt: skip
    if row is None:
        row = DispatchRuleRow(id=new_id(), confidence=1.0, successes=0, returns=0)
        session.add(row)
    row.category_pattern = pattern
    row.area_scope = scope.value
    row.area_code = area_code
    row.department_id = department_id
    row.priority = priority
    row.enabled = enabled
    await session.flush()
    return row
