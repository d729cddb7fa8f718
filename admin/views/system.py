"""Geography, organization and the outbox."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from wtforms import Form, PasswordField, SelectField, SelectMultipleField, validators

from admin.console import has_role
from admin.views.base import ConsoleModelView
from backend.audit.service import REDACTED
from backend.cases.enums import Role
from backend.models import Community, Department, District, Grid, OutboxMessage, Staff, Street
from backend.org.service import STAFF_ROLES, create_staff, update_staff
from push.rules import mask_phone


def _has_role(request: Request, *roles: str) -> bool:
    return has_role(request, roles)


class AdminOnlyWrite(ConsoleModelView):
    """Everyone in the console may read; only administrators change master data."""


class DistrictAdmin(AdminOnlyWrite, model=District):
    name = "区"
    name_plural = "区"
    icon = "fa-solid fa-city"
    category = "区域与网格"
    column_list = [District.code, District.name]
    column_labels = {District.code: "区划代码", District.name: "名称"}
    form_excluded_columns = [District.boundary, District.created_at, District.updated_at]
    can_create = False
    can_delete = False


class StreetAdmin(AdminOnlyWrite, model=Street):
    name = "街道"
    name_plural = "街道"
    category = "区域与网格"
    column_list = [Street.code, Street.name, Street.district_code]
    column_labels = {Street.code: "街道代码", Street.name: "名称", Street.district_code: "所属区"}
    column_searchable_list = [Street.name, Street.code]
    form_excluded_columns = [Street.boundary, Street.created_at, Street.updated_at]
    can_delete = False


class CommunityAdmin(AdminOnlyWrite, model=Community):
    name = "社区"
    name_plural = "社区"
    category = "区域与网格"
    column_list = [Community.code, Community.name, Community.street_code]
    column_labels = {Community.code: "社区代码", Community.name: "名称", Community.street_code: "所属街道"}
    column_searchable_list = [Community.name, Community.code]
    form_excluded_columns = [Community.boundary, Community.created_at, Community.updated_at]
    can_delete = False


class GridAdmin(AdminOnlyWrite, model=Grid):
    """Grids change only by import (their boundaries are geometry): see the GeoJSON import page."""

    name = "单元网格"
    name_plural = "单元网格"
    category = "区域与网格"
    column_list = [Grid.code, Grid.name, Grid.community_code, Grid.street_code, Grid.area_km2]
    column_details_exclude_list = [Grid.boundary]
    column_labels = {
        Grid.code: "网格编码",
        Grid.name: "名称",
        Grid.community_code: "所属社区",
        Grid.street_code: "所属街道",
        Grid.district_code: "所属区",
        Grid.area_km2: "面积(km²)",
        Grid.min_lat: "最小纬度",
        Grid.min_lng: "最小经度",
        Grid.max_lat: "最大纬度",
        Grid.max_lng: "最大经度",
        Grid.created_at: "创建时间",
        Grid.updated_at: "更新时间",
    }
    column_searchable_list = [Grid.code, Grid.name]
    column_sortable_list = [Grid.code, Grid.area_km2]
    can_create = False
    can_edit = False
    can_delete = False


DEPARTMENT_KINDS = {
    "professional": "专业部门",
    "street": "街道",
    "member_unit": "成员单位",
    "command_center": "指挥中心",
}


class DepartmentAdmin(AdminOnlyWrite, model=Department):
    name = "部门"
    name_plural = "部门"
    icon = "fa-solid fa-sitemap"
    category = "组织与人员"
    column_list = [Department.code, Department.name, Department.kind, Department.phone, Department.active]
    column_labels = {
        Department.code: "编码",
        Department.name: "名称",
        Department.kind: "类型",
        Department.parent_id: "上级部门",
        Department.district_code: "所属区",
        Department.street_code: "所属街道",
        Department.phone: "电话",
        Department.active: "启用",
        Department.id: "编号",
        Department.created_at: "创建时间",
        Department.updated_at: "更新时间",
    }
    column_formatters = {Department.kind: lambda m, a: DEPARTMENT_KINDS.get(m.kind, m.kind)}
    column_formatters_detail = {Department.kind: lambda m, a: DEPARTMENT_KINDS.get(m.kind, m.kind)}
    column_searchable_list = [Department.name, Department.code]
    form_excluded_columns = [Department.created_at, Department.updated_at]
    form_overrides = {"kind": SelectField}
    form_args = {"kind": {"choices": list(DEPARTMENT_KINDS.items())}}
    department_columns = ("parent_id",)
    can_delete = False


ROLE_CHOICES = [(r, Role(r).label) for r in STAFF_ROLES]


def _roles_text(model: Any, _: Any) -> str:
    return "、".join(Role(r).label if r in Role.__members__ else r for r in model.roles)


class StaffAdmin(AdminOnlyWrite, model=Staff):
    """工作人员 — accounts are created with a password (stored only as its argon2 hash, never shown)."""

    name = "工作人员"
    name_plural = "工作人员"
    icon = "fa-solid fa-user"
    category = "组织与人员"
    column_list = [
        Staff.username,
        Staff.name,
        Staff.phone,
        Staff.roles,
        Staff.department_id,
        Staff.active,
        Staff.last_login_at,
    ]
    column_labels = {
        Staff.username: "账号",
        Staff.name: "姓名",
        Staff.roles: "角色",
        Staff.department_id: "部门",
        Staff.active: "启用",
        Staff.last_login_at: "最近登录",
        Staff.phone: "手机号",
        Staff.grid_codes: "负责网格",
        Staff.id: "编号",
        Staff.created_at: "创建时间",
        Staff.updated_at: "更新时间",
    }
    column_searchable_list = [Staff.username, Staff.name]
    # Never show or edit a password hash; phone numbers are masked in the list and the details.
    column_details_exclude_list = [Staff.password_hash]
    form_columns = [Staff.username, Staff.name, Staff.phone, Staff.roles, Staff.department_id, Staff.grid_codes,
                    Staff.active]  # fmt: skip
    form_overrides = {"roles": SelectMultipleField}
    form_args = {
        "roles": {"choices": ROLE_CHOICES, "validators": [validators.InputRequired("请至少选择一个角色")]},
        "username": {"description": "创建后不可修改"},
        "active": {"default": True},
    }
    column_formatters = {Staff.phone: lambda m, a: mask_phone(m.phone), Staff.roles: _roles_text}
    column_formatters_detail = {Staff.phone: lambda m, a: mask_phone(m.phone), Staff.roles: _roles_text}
    department_columns = ("department_id",)
    can_create = True
    can_delete = False

    async def scaffold_form(self, rules: list[str] | None = None) -> type[Form]:
        form = await super().scaffold_form(rules)
        password = PasswordField(
            "密码", description="新建必填；编辑时留空表示不修改。至少8位，须含字母和数字。",
            render_kw={"autocomplete": "new-password"},
        )  # fmt: skip
        return type("StaffForm", (form,), {"password": password})

    async def create_object(self, session: AsyncSession, data: dict[str, Any], request: Request) -> Staff:
        return await create_staff(
            session, username=str(data.get("username") or ""), name=str(data.get("name") or ""),
            password=str(data.get("password") or ""), roles=list(data.get("roles") or []),
            department_id=data.get("department_id"), phone=data.get("phone") or None,
            grid_codes=list(data.get("grid_codes") or []), active=bool(data.get("active", True)),
        )  # fmt: skip

    async def update_object(self, session: AsyncSession, obj: Any, data: dict[str, Any], request: Request) -> Staff:
        return await update_staff(
            session, obj.id, name=str(data.get("name") or ""), roles=list(data.get("roles") or []),
            department_id=data.get("department_id"), phone=data.get("phone") or None,
            grid_codes=list(data.get("grid_codes") or []), active=bool(data.get("active")),
            password=str(data.get("password") or "") or None,
        )  # fmt: skip

    def audit_notes(self, data: Mapping[str, Any]) -> dict[str, Any]:
        return {"password": REDACTED} if data.get("password") else {}


class OutboxAdmin(ConsoleModelView, model=OutboxMessage):
    name = "发件箱消息"
    name_plural = "发件箱"
    icon = "fa-solid fa-paper-plane"
    category = "系统"
    read_roles = frozenset({"admin", "auditor"})
    column_list = [
        OutboxMessage.created_at,
        OutboxMessage.topic,
        OutboxMessage.attempts,
        OutboxMessage.relayed_at,
        OutboxMessage.processed_at,
        OutboxMessage.dead,
        OutboxMessage.last_error,
    ]
    column_labels = {
        OutboxMessage.created_at: "创建时间",
        OutboxMessage.topic: "主题",
        OutboxMessage.attempts: "尝试次数",
        OutboxMessage.relayed_at: "转交时间",
        OutboxMessage.processed_at: "完成时间",
        OutboxMessage.dead: "死信",
        OutboxMessage.last_error: "最近错误",
    }
    column_default_sort = [(OutboxMessage.created_at, True)]
    can_create = False
    can_edit = False
    can_delete = False


ALL_VIEWS = [
    DistrictAdmin,
    StreetAdmin,
    CommunityAdmin,
    GridAdmin,
    DepartmentAdmin,
    StaffAdmin,
    OutboxAdmin,
]
