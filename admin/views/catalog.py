"""Categories with their time limits, dispatch rules, and the GeoJSON import of regions and grids."""

from __future__ import annotations

import json
from typing import Any

from sqladmin import expose
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from wtforms import SelectField

from admin.console import ADMIN, error_text, flash
from admin.views.base import ConsoleBaseView, ConsoleModelView, audit, writing
from backend.cases.enums import Urgency
from backend.catalog.cache import CATEGORIES
from backend.catalog.service import save_category
from backend.dispatch.rules import AreaScope
from backend.dispatch.service import save_rule
from backend.errors import DomainError
from backend.geo.importer import LEVELS, import_geojson, import_regions_csv
from backend.models import Category, DispatchRuleRow

KIND_LABELS = {"component": "部件", "event": "事件"}
UNIT_LABELS = {"working_hours": "工作小时", "working_days": "工作日", "natural_hours": "自然小时"}
STAGE_SHORT = {"accept": "立案", "dispatch": "派遣", "dispose": "处置", "check": "核查"}


def _limits_text(model: Any, _: Any) -> str:
    normal = (model.time_limits or {}).get("normal") or {}
    parts = []
    for stage, short in STAGE_SHORT.items():
        limit = normal.get(stage)
        if limit:
            parts.append(f"{short}{limit['amount']:g}{UNIT_LABELS.get(limit['unit'], limit['unit'])}")
    return "；".join(parts) or "—"


class CategoryAdmin(ConsoleModelView, model=Category):
    """小类 and its time limits (时限), edited through the catalog's own validation."""

    name = "问题分类"
    name_plural = "问题分类与时限"
    icon = "fa-solid fa-tags"
    category = "业务配置"
    column_list = [Category.code, Category.name, Category.kind, Category.default_urgency, Category.time_limits,
                   Category.citizen_selectable, Category.active]  # fmt: skip
    column_labels = {
        Category.code: "代码", Category.kind: "类别", Category.major_code: "大类", Category.name: "名称",
        Category.citizen_selectable: "市民可选", Category.default_urgency: "默认紧急程度",
        Category.owner_hint: "责任部门类型", Category.accept_condition: "立案条件",
        Category.close_condition: "结案条件",
        Category.similar_radius_m: "相似案卷半径(米)", Category.similar_window_h: "相似案卷时间窗(小时)",
        Category.divert_to: "紧急分流", Category.time_limits: "时限（一般件）", Category.questions: "补充问题",
        Category.active: "启用", Category.created_at: "创建时间", Category.updated_at: "更新时间",
    }  # fmt: skip
    column_formatters = {
        Category.kind: lambda m, a: KIND_LABELS.get(m.kind, m.kind),
        Category.default_urgency: lambda m, a: Urgency(m.default_urgency).label,
        Category.time_limits: _limits_text,
    }
    column_searchable_list = [Category.code, Category.name]
    column_sortable_list = [Category.code, Category.name]
    column_default_sort = [(Category.code, False)]
    form_include_pk = True
    form_columns = [Category.code, Category.kind, Category.major_code, Category.name, Category.default_urgency,
                    Category.owner_hint, Category.accept_condition, Category.close_condition, Category.time_limits,
                    Category.similar_radius_m, Category.similar_window_h, Category.divert_to,
                    Category.citizen_selectable, Category.questions, Category.active]  # fmt: skip
    form_overrides = {"kind": SelectField, "default_urgency": SelectField, "divert_to": SelectField}
    form_args = {
        "kind": {"choices": list(KIND_LABELS.items())},
        "default_urgency": {"choices": [(u.value, u.label) for u in Urgency]},
        "divert_to": {"choices": [("", "不分流"), ("110", "110"), ("119", "119"), ("120", "120")]},
        "code": {"description": "C 或 E 加四位数字，如 E0106；创建后不可修改"},
        "time_limits": {"description": '按紧急程度(normal/urgent/critical)和阶段(accept/dispatch/dispose/check)：'
                        '{"amount": 数值, "unit": "working_hours"|"working_days"|"natural_hours"}'},
    }  # fmt: skip
    can_delete = False

    async def create_object(self, session: AsyncSession, data: dict[str, Any], request: Request) -> Category:
        return await save_category(session, data)

    async def update_object(self, session: AsyncSession, obj: Any, data: dict[str, Any], request: Request) -> Category:
        return await save_category(session, data, code=obj.code)

    async def insert_model(self, request: Request, data: dict[str, Any]) -> Any:
        obj = await super().insert_model(request, data)
        CATEGORIES.invalidate()
        return obj

    async def update_model(self, request: Request, pk: str, data: dict[str, Any]) -> Any:
        obj = await super().update_model(request, pk, data)
        CATEGORIES.invalidate()
        return obj


class DispatchRuleAdmin(ConsoleModelView, model=DispatchRuleRow):
    """派遣规则 — confidence and the success/return counts are the system's, never edited here."""

    name = "派遣规则"
    name_plural = "派遣规则"
    icon = "fa-solid fa-route"
    category = "业务配置"
    column_list = [DispatchRuleRow.category_pattern, DispatchRuleRow.area_scope, DispatchRuleRow.area_code,
                   DispatchRuleRow.department_id, DispatchRuleRow.priority, DispatchRuleRow.confidence,
                   DispatchRuleRow.successes, DispatchRuleRow.returns, DispatchRuleRow.enabled]  # fmt: skip
    column_labels = {
        DispatchRuleRow.category_pattern: "分类匹配", DispatchRuleRow.area_scope: "区域范围",
        DispatchRuleRow.area_code: "区域编码", DispatchRuleRow.department_id: "责任部门",
        DispatchRuleRow.priority: "优先级", DispatchRuleRow.confidence: "置信度", DispatchRuleRow.successes: "成功",
        DispatchRuleRow.returns: "回退", DispatchRuleRow.enabled: "启用", DispatchRuleRow.id: "编号",
        DispatchRuleRow.created_at: "创建时间", DispatchRuleRow.updated_at: "更新时间",
    }  # fmt: skip
    column_formatters = {
        DispatchRuleRow.area_scope: lambda m, a: AreaScope(m.area_scope).label,
        DispatchRuleRow.confidence: lambda m, a: f"{m.confidence:.0%}",
    }
    column_searchable_list = [DispatchRuleRow.category_pattern, DispatchRuleRow.area_code]
    column_sortable_list = [DispatchRuleRow.category_pattern, DispatchRuleRow.confidence]
    form_columns = [DispatchRuleRow.category_pattern, DispatchRuleRow.area_scope, DispatchRuleRow.area_code,
                    DispatchRuleRow.department_id, DispatchRuleRow.priority, DispatchRuleRow.enabled]  # fmt: skip
    form_overrides = {"area_scope": SelectField}
    form_args = {
        "area_scope": {"choices": [(s.value, s.label) for s in AreaScope]},
        "category_pattern": {"description": "小类代码或前缀加 *，如 E0106、E01*、*"},
        "priority": {"description": "同等具体程度时优先级高者优先，-9～9"},
    }
    department_columns = ("department_id",)
    can_delete = False

    async def create_object(self, session: AsyncSession, data: dict[str, Any], request: Request) -> DispatchRuleRow:
        return await save_rule(session, data)

    async def update_object(
        self, session: AsyncSession, obj: Any, data: dict[str, Any], request: Request
    ) -> DispatchRuleRow:
        return await save_rule(session, data, rule_id=obj.id)


class GeoImportView(ConsoleBaseView):
    """区域与网格导入 — a GeoJSON FeatureCollection (or a CSV of districts/streets/communities) checked as a
    whole by ``backend.geo.importer`` before anything is written."""

    name = "导入区域与网格"
    icon = "fa-solid fa-file-import"
    category = "区域与网格"
    read_roles = ADMIN

    @expose("/geo-import", methods=["GET", "POST"], identity="geo-import")
    async def geo_import(self, request: Request) -> Response:
        context: dict[str, Any] = {"title": "导入区域与网格", "subtitle": "GeoJSON（区、街道、社区、单元网格）或 CSV",
                                   "problems": [], "error": None, "levels": LEVELS}  # fmt: skip
        if request.method == "GET":
            return await self.render(request, "console/geo_import.html", context)
        form = await request.form()
        upload = form.get("file")
        level = str(form.get("level") or "")
        try:
            if not isinstance(upload, UploadFile) or not upload.filename:
                raise DomainError("请选择要导入的文件", code="no_file", details={"label": "请选择要导入的文件"})
            raw = (await upload.read()).decode("utf-8-sig")
            async with writing(self.ref, request, ADMIN) as (session, auditor):
                if upload.filename.lower().endswith(".csv"):
                    result = await import_regions_csv(session, raw, level)
                else:
                    try:
                        collection = json.loads(raw)
                    except ValueError:
                        raise DomainError("not JSON", code="invalid_geojson",
                                          details={"label": "文件不是有效的 JSON / GeoJSON"}) from None  # fmt: skip
                    result = await import_geojson(session, collection)
                await audit(session, auditor, "geo", "import", upload.filename,
                            after={"file": upload.filename, **result.counts})  # fmt: skip
        except DomainError as exc:
            details = exc.details if isinstance(exc.details, dict) else {}
            context["error"] = error_text(exc)
            context["problems"] = details.get("problems", [])
            return await self.render(request, "console/geo_import.html", context, status=400)
        counts = "，".join(f"{n} 个{label}" for label, n in zip(["区", "街道", "社区", "网格"],
                                                               [result.counts.get(lv, 0) for lv in LEVELS],
                                                               strict=True) if n)  # fmt: skip
        flash(request, f"导入完成：{counts or '没有新内容'}")
        return RedirectResponse(request.url_for("admin:view-geo-import"), status_code=303)
