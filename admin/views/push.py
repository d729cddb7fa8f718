"""Notifications in the console: the delivery log (通知记录), my alerts (告警), and the live alert
stream at /admin/alerts/stream (Server-Sent Events, signed in by the console's session cookie) for
the alert UI to come."""

from __future__ import annotations

import uuid
from typing import Any

from sqladmin import BaseView, ModelView, expose
from sqlalchemy import Select, func, select
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from admin.auth import RuntimeRef
from backend.models import InboxItem, Notification
from push import inbox
from push.enums import Box, Channel
from push.rules import mask_openid, mask_phone


def _roles(request: Request) -> set[str]:
    return set(request.session.get("roles", []))


def _masked_address(model: Any, _: Any) -> str:
    if model.channel == Channel.SMS:
        return mask_phone(model.address)
    if model.channel == Channel.WECHAT:
        return mask_openid(model.address)
    return str(model.address)


class NotificationAdmin(ModelView, model=Notification):
    name = "通知记录"
    name_plural = "通知记录"
    icon = "fa-solid fa-bell"
    category = "系统"
    column_list = [
        Notification.created_at,
        Notification.event,
        Notification.channel,
        Notification.recipient_kind,
        Notification.address,
        Notification.title,
        Notification.status,
        Notification.attempts,
        Notification.sent_at,
        Notification.last_error,
    ]
    column_details_exclude_list = [Notification.data]
    column_labels = {
        Notification.created_at: "创建时间",
        Notification.event: "事件",
        Notification.channel: "渠道",
        Notification.recipient_kind: "对象类型",
        Notification.address: "接收方",
        Notification.title: "标题",
        Notification.status: "状态",
        Notification.attempts: "尝试次数",
        Notification.sent_at: "发送时间",
        Notification.last_error: "最近错误",
    }
    column_formatters = {Notification.address: _masked_address}
    column_formatters_detail = {Notification.address: _masked_address}
    column_searchable_list = [Notification.event, Notification.dedup_key]
    column_sortable_list = [Notification.created_at, Notification.status]
    column_default_sort = [(Notification.created_at, True)]
    can_create = False
    can_edit = False
    can_delete = False

    def is_accessible(self, request: Request) -> bool:
        return bool(_roles(request) & {"admin", "auditor", "shift_lead"})


class ConsoleAlertAdmin(ModelView, model=InboxItem):
    """The signed-in staff member's console alerts (device alarms, escalations)."""

    name = "告警"
    name_plural = "我的告警"
    icon = "fa-solid fa-triangle-exclamation"
    category = "值班"
    identity = "console-alert"
    column_list = [InboxItem.created_at, InboxItem.title, InboxItem.body, InboxItem.urgent, InboxItem.read_at]
    column_labels = {
        InboxItem.created_at: "时间",
        InboxItem.title: "标题",
        InboxItem.body: "内容",
        InboxItem.urgent: "紧急",
        InboxItem.read_at: "已读时间",
    }
    column_default_sort = [(InboxItem.id, True)]
    can_create = False
    can_edit = False
    can_delete = False

    def is_accessible(self, request: Request) -> bool:
        return bool(request.session.get("staff_id"))

    def _mine(self, request: Request) -> Any:
        return (InboxItem.box == Box.CONSOLE) & (InboxItem.staff_id == uuid.UUID(str(request.session["staff_id"])))

    def list_query(self, request: Request) -> Select[Any]:
        return select(InboxItem).where(self._mine(request))

    def count_query(self, request: Request) -> Select[Any]:
        return select(func.count(InboxItem.id)).where(self._mine(request))

    def details_query(self, request: Request) -> Select[Any]:
        return super().details_query(request).where(self._mine(request))


def push_views(ref: RuntimeRef) -> list[type[ModelView] | type[BaseView]]:
    """The views, the stream one bound to the running application's Redis and sessions."""

    class AlertStreamView(BaseView):
        name = "告警推送"
        identity = "alerts-stream"

        def is_visible(self, request: Request) -> bool:
            return False

        def is_accessible(self, request: Request) -> bool:
            return bool(request.session.get("staff_id"))

        @expose("/alerts/stream", identity="alerts-stream")
        async def stream(self, request: Request) -> Response:
            runtime = ref.get()
            staff_id = uuid.UUID(str(request.session["staff_id"]))
            body = inbox.stream(
                runtime.session_factory, runtime.redis, staff_id, Box.CONSOLE, request.headers.get("last-event-id")
            )
            return StreamingResponse(
                body, media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
            )

    return [NotificationAdmin, ConsoleAlertAdmin, AlertStreamView]
