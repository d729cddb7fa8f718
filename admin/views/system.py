"""Geography, organization and the outbox."""

from __future__ import annotations

from sqladmin import ModelView
from starlette.requests import Request

from backend.models import Community, Department, District, Grid, OutboxMessage, Staff, Street


def _has_role(request: Request, *roles: str) -> bool:
    return bool(set(request.session.get("roles", [])) & set(roles))


class AdminOnlyWrite(ModelView):
    """Everyone in the console may read; only administrators change master data."""

    def is_accessible(self, request: Request) -> bool:
        return bool(request.session.get("staff_id"))

    def _writable(self, request: Request) -> bool:
        return _has_role(request, "admin")


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
    name = "单元网格"
    name_plural = "单元网格"
    category = "区域与网格"
    column_list = [Grid.code, Grid.name, Grid.community_code, Grid.street_code, Grid.area_km2]
    column_labels = {
        Grid.code: "网格编码",
        Grid.name: "名称",
        Grid.community_code: "所属社区",
        Grid.street_code: "所属街道",
        Grid.area_km2: "面积(km²)",
    }
    column_searchable_list = [Grid.code, Grid.name]
    column_sortable_list = [Grid.code, Grid.area_km2]
    can_create = False
    can_edit = False
    can_delete = False


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
        Department.phone: "电话",
        Department.active: "启用",
    }
    form_excluded_columns = [Department.created_at, Department.updated_at]
    can_delete = False


class StaffAdmin(AdminOnlyWrite, model=Staff):
    name = "工作人员"
    name_plural = "工作人员"
    icon = "fa-solid fa-user"
    category = "组织与人员"
    column_list = [
        Staff.username,
        Staff.name,
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
    }
    column_searchable_list = [Staff.username, Staff.name]
    # Never show or edit a password hash; phone numbers are masked in the list.
    column_details_exclude_list = [Staff.password_hash]
    form_excluded_columns = [
        Staff.password_hash,
        Staff.last_login_at,
        Staff.created_at,
        Staff.updated_at,
    ]
    column_formatters = {Staff.phone: lambda m, a: _mask_phone(m.phone)}
    can_create = False
    can_delete = False


def _mask_phone(phone: str | None) -> str:
    if not phone or len(phone) < 7:
        return phone or ""
    return phone[:3] + "****" + phone[-4:]


class OutboxAdmin(ModelView, model=OutboxMessage):
    name = "发件箱消息"
    name_plural = "发件箱"
    icon = "fa-solid fa-paper-plane"
    category = "系统"
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

    def is_accessible(self, request: Request) -> bool:
        return _has_role(request, "admin", "auditor")


ALL_VIEWS = [
    DistrictAdmin,
    StreetAdmin,
    CommunityAdmin,
    GridAdmin,
    DepartmentAdmin,
    StaffAdmin,
    OutboxAdmin,
]
