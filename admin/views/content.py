"""Public notices (公告) and the audit trail (审计日志)."""

from __future__ import annotations

import json
from typing import Any

from markupsafe import Markup, escape
from wtforms import SelectField

from admin.views.base import ConsoleModelView
from backend.models import AuditLog, Notice

NOTICE_KINDS = {"notice": "公告", "campaign": "活动", "evaluation": "评价公示", "service": "服务调整"}


class NoticeAdmin(ConsoleModelView, model=Notice):
    name = "公告"
    name_plural = "公告"
    icon = "fa-solid fa-bullhorn"
    category = "业务配置"
    column_list = [Notice.title, Notice.category, Notice.pinned, Notice.published, Notice.published_at]
    column_labels = {
        Notice.title: "标题", Notice.summary: "摘要", Notice.body: "正文", Notice.category: "类别",
        Notice.pinned: "置顶", Notice.published: "发布", Notice.published_at: "发布时间", Notice.id: "编号",
        Notice.created_at: "创建时间", Notice.updated_at: "更新时间",
    }  # fmt: skip
    column_formatters = {Notice.category: lambda m, a: NOTICE_KINDS.get(m.category, m.category)}
    column_searchable_list = [Notice.title]
    column_default_sort = [(Notice.published_at, True)]
    form_columns = [Notice.title, Notice.summary, Notice.body, Notice.category, Notice.pinned, Notice.published,
                    Notice.published_at]  # fmt: skip
    form_overrides = {"category": SelectField}
    form_args = {"category": {"choices": list(NOTICE_KINDS.items())}}


def _summary(value: dict[str, Any] | None) -> Markup:
    if not value:
        return Markup("—")
    text = json.dumps(value, ensure_ascii=False)
    return Markup(f'<code class="small">{escape(text[:300])}{"…" if len(text) > 300 else ""}</code>')


class AuditLogAdmin(ConsoleModelView, model=AuditLog):
    """审计日志 — read only, for administrators and auditors."""

    name = "审计日志"
    name_plural = "审计日志"
    icon = "fa-solid fa-clipboard-list"
    category = "系统"
    read_roles = frozenset({"admin", "auditor"})
    column_list = [AuditLog.at, AuditLog.username, AuditLog.role, AuditLog.view, AuditLog.action, AuditLog.object_id,
                   AuditLog.before, AuditLog.after, AuditLog.request_id]  # fmt: skip
    column_labels = {
        AuditLog.at: "时间", AuditLog.staff_id: "人员编号", AuditLog.username: "账号", AuditLog.role: "角色",
        AuditLog.view: "对象", AuditLog.action: "操作", AuditLog.object_id: "对象编号", AuditLog.before: "修改前",
        AuditLog.after: "修改后", AuditLog.request_id: "请求编号", AuditLog.id: "编号",
    }  # fmt: skip
    column_formatters = {
        AuditLog.before: lambda m, a: _summary(m.before),
        AuditLog.after: lambda m, a: _summary(m.after),
    }
    column_searchable_list = [AuditLog.username, AuditLog.object_id, AuditLog.request_id]
    column_sortable_list = [AuditLog.at]
    column_default_sort = [(AuditLog.at, True)]
    can_create = False
    can_edit = False
    can_delete = False
