"""Devices, alarm rules and alarms. Alarms are acknowledged (确认) and cleared (解除) with buttons that
post to the alarm service; a device's secret is shown once, when it is issued, and never stored in
the clear."""

from __future__ import annotations

import uuid
from typing import Any, Final

from markupsafe import Markup, escape
from sqladmin import expose
from sqladmin.flash import FlashLevel
from sqladmin.secret import Secret
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from wtforms import Form, SelectField, validators

from admin.console import ADMIN, CONSOLE_ROLES, DUTY_ROLES, error_text, flash, has_role, staff_id
from admin.csrf import FIELD, csrf_token
from admin.views.base import ConsoleBaseView, ConsoleModelView, audit, writing
from backend.audit.service import snapshot
from backend.devices import alarms
from backend.devices import service as devices
from backend.devices.enums import AlarmState
from backend.errors import DomainError, NotFound
from backend.models import Alarm, AlarmRule, Device

ACKNOWLEDGERS: Final = DUTY_ROLES | ADMIN
CLEARERS: Final = frozenset({"shift_lead", "admin"})
SEVERITIES: Final = {"critical": "紧急", "major": "重要", "minor": "次要", "info": "提示"}
ALARM_STATES: Final = {"active_unacknowledged": "未确认", "active_acknowledged": "已确认", "cleared": "已解除"}
DEVICE_STATUS: Final = {"active": "在用", "revoked": "已吊销"}


def _button(request: Request, url: Any, label: str, css: str, confirm: str | None = None) -> str:
    onsubmit = f" onsubmit=\"return confirm('{escape(confirm)}')\"" if confirm else ""
    return (
        f'<form method="POST" action="{escape(str(url))}" class="d-inline"{onsubmit}>'
        f'<input type="hidden" name="{FIELD}" value="{escape(csrf_token(request))}">'
        f'<button type="submit" class="btn btn-sm {css} ms-1">{escape(label)}</button></form>'
    )


def _alarm_state(model: Alarm, _: Any, request: Request) -> Markup:
    text = escape(ALARM_STATES.get(model.state, model.state))
    buttons = []
    if model.state == AlarmState.ACTIVE_UNACKNOWLEDGED and has_role(request, ACKNOWLEDGERS):
        url = request.url_for("admin:view-alarm-action", alarm_id=str(model.id), action="acknowledge")
        buttons.append(_button(request, url, "确认", "btn-outline-primary"))
    if model.state != AlarmState.CLEARED and has_role(request, CLEARERS):
        url = request.url_for("admin:view-alarm-action", alarm_id=str(model.id), action="clear")
        buttons.append(_button(request, url, "解除", "btn-outline-danger", "确定手动解除该告警？"))
    return Markup(f"{text}{''.join(buttons)}")


def _device_status(model: Device, _: Any, request: Request) -> Markup:
    text = escape(DEVICE_STATUS.get(model.status, model.status))
    if model.status != "active" or not has_role(request, ADMIN):
        return Markup(text)
    rotate = request.url_for("admin:view-device-action", device_id=str(model.id), action="rotate")
    revoke = request.url_for("admin:view-device-action", device_id=str(model.id), action="revoke")
    return Markup(
        f"{text}{_button(request, rotate, '更换密钥', 'btn-outline-secondary', '旧密钥将立即失效，确定更换？')}"
        f"{_button(request, revoke, '吊销', 'btn-outline-danger', '吊销后该设备的上报将被拒绝，确定吊销？')}"
    )


class DeviceAdmin(ConsoleModelView, model=Device):
    name = "设备"
    name_plural = "物联设备"
    icon = "fa-solid fa-microchip"
    category = "设施与设备"
    column_list = [Device.code, Device.name, Device.type_code, Device.object_kind, Device.object_id, Device.online,
                   Device.last_seen_at, Device.status]  # fmt: skip
    column_details_exclude_list = [Device.secret_enc, Device.seq_window, Device.rule_state, Device.seq_hwm]
    column_labels = {
        Device.code: "编码", Device.name: "名称", Device.type_code: "设备类型", Device.object_kind: "监测对象类型",
        Device.object_id: "监测对象", Device.lat: "纬度", Device.lng: "经度", Device.attrs: "属性",
        Device.interval_s: "上报间隔(秒)", Device.status: "状态", Device.secret_version: "密钥版本",
        Device.secret_rotated_at: "密钥更换时间", Device.revoked_at: "吊销时间", Device.firmware: "固件",
        Device.online: "在线", Device.last_seen_at: "最近上报", Device.id: "编号", Device.created_at: "创建时间",
        Device.updated_at: "更新时间",
    }  # fmt: skip
    column_formatters = {Device.status: _device_status}
    column_searchable_list = [Device.code, Device.name, Device.object_id]
    form_columns = [Device.code, Device.name, Device.type_code, Device.object_kind, Device.object_id, Device.lat,
                    Device.lng, Device.interval_s, Device.firmware]  # fmt: skip
    form_args = {"interval_s": {"description": "留空则用设备类型的默认间隔", "validators": [validators.Optional()]}}
    can_edit = False
    can_delete = False

    async def scaffold_form(self, rules: list[str] | None = None) -> type[Form]:
        form = await super().scaffold_form(rules)
        async with self.ref.get().session_factory() as session:
            types = await devices.list_device_types(session)
        picker = SelectField("设备类型", choices=[(t.code, f"{t.name}（{t.code}）") for t in types])
        return type("DeviceForm", (form,), {"type_code": picker})

    async def create_object(self, session: AsyncSession, data: dict[str, Any], request: Request) -> Device:
        issued = await devices.add_device(
            session, self.ref.get().settings.app.secret_key, code=str(data.get("code") or "").strip(),
            name=str(data.get("name") or "").strip(), type_code=str(data.get("type_code") or ""),
            object_kind=str(data.get("object_kind") or "").strip(), object_id=str(data.get("object_id") or "").strip(),
            lat=data.get("lat"), lng=data.get("lng"), interval_s=data.get("interval_s") or None,
            firmware=data.get("firmware") or None,
        )  # fmt: skip
        Secret.reveal_once(request, issued.secret, title="设备密钥", label="请立即复制并写入设备，此密钥不会再次显示。")
        return issued.device


class AlarmRuleAdmin(ConsoleModelView, model=AlarmRule):
    name = "告警规则"
    name_plural = "告警规则"
    icon = "fa-solid fa-sliders"
    category = "设施与设备"
    column_list = [AlarmRule.code, AlarmRule.name, AlarmRule.device_type_code, AlarmRule.object_kind,
                   AlarmRule.severity, AlarmRule.case_category_code, AlarmRule.enabled]  # fmt: skip
    column_labels = {
        AlarmRule.code: "编码", AlarmRule.name: "名称", AlarmRule.device_type_code: "设备类型",
        AlarmRule.object_kind: "监测对象类型", AlarmRule.condition: "触发条件", AlarmRule.clear: "解除条件",
        AlarmRule.severity: "级别", AlarmRule.schedule: "生效时段", AlarmRule.case_category_code: "自动立案分类",
        AlarmRule.enabled: "启用", AlarmRule.id: "编号", AlarmRule.created_at: "创建时间",
        AlarmRule.updated_at: "更新时间",
    }  # fmt: skip
    column_formatters = {AlarmRule.severity: lambda m, a: SEVERITIES.get(m.severity, m.severity)}
    column_searchable_list = [AlarmRule.code, AlarmRule.name]
    form_columns = [AlarmRule.code, AlarmRule.name, AlarmRule.device_type_code, AlarmRule.object_kind,
                    AlarmRule.condition, AlarmRule.clear, AlarmRule.schedule, AlarmRule.severity,
                    AlarmRule.case_category_code, AlarmRule.enabled]  # fmt: skip
    form_edit_rules = ["name", "severity", "enabled"]
    form_overrides = {"severity": SelectField}
    form_args = {
        "severity": {"choices": list(SEVERITIES.items())},
        "condition": {"description": '例：{"kind": "for_minutes", "metric": "fill_pct", "op": ">=", "value": 95, '
                      '"minutes": 30}'},
    }  # fmt: skip
    can_delete = False

    async def create_object(self, session: AsyncSession, data: dict[str, Any], request: Request) -> AlarmRule:
        return await devices.add_rule(
            session, code=str(data.get("code") or "").strip(), name=str(data.get("name") or "").strip(),
            condition=data.get("condition") or {}, severity=str(data.get("severity") or ""),
            device_type_code=data.get("device_type_code") or None, object_kind=data.get("object_kind") or None,
            clear=data.get("clear") or None, schedule=data.get("schedule") or None,
            case_category_code=data.get("case_category_code") or None, enabled=bool(data.get("enabled", True)),
        )  # fmt: skip


class AlarmAdmin(ConsoleModelView, model=Alarm):
    name = "告警"
    name_plural = "设备告警"
    icon = "fa-solid fa-bell"
    category = "设施与设备"
    column_list = [Alarm.raised_at, Alarm.object_kind, Alarm.object_id, Alarm.severity, Alarm.metric,
                   Alarm.last_value, Alarm.count, Alarm.state]  # fmt: skip
    column_labels = {
        Alarm.raised_at: "发生时间", Alarm.last_at: "最近触发", Alarm.object_kind: "对象类型", Alarm.object_id: "对象",
        Alarm.severity: "级别", Alarm.metric: "指标", Alarm.first_value: "首次数值", Alarm.last_value: "最新数值",
        Alarm.count: "次数", Alarm.state: "状态", Alarm.device_id: "设备", Alarm.rule_id: "规则",
        Alarm.category_code: "立案分类", Alarm.acknowledged_at: "确认时间", Alarm.acknowledged_by: "确认人",
        Alarm.cleared_at: "解除时间", Alarm.cleared_by: "解除人", Alarm.clear_value: "解除数值",
        Alarm.clear_note: "解除说明", Alarm.id: "编号", Alarm.created_at: "创建时间", Alarm.updated_at: "更新时间",
    }  # fmt: skip
    column_formatters = {Alarm.state: _alarm_state, Alarm.severity: lambda m, a: SEVERITIES.get(m.severity, m.severity)}
    column_formatters_detail = {Alarm.state: _alarm_state}
    column_default_sort = [(Alarm.raised_at, True)]
    column_sortable_list = [Alarm.raised_at, Alarm.severity, Alarm.state]
    column_searchable_list = [Alarm.object_id]
    read_roles = CONSOLE_ROLES
    can_create = False
    can_edit = False
    can_delete = False


class DeviceActionsView(ConsoleBaseView):
    """The POST endpoints of the alarm and device buttons (no menu entry of their own)."""

    name = "设备操作"
    read_roles = CONSOLE_ROLES

    def is_visible(self, request: Request) -> bool:
        return False

    @expose("/alarm-actions/{alarm_id}/{action}", methods=["POST"], identity="alarm-action")
    async def alarm_action(self, request: Request) -> Response:
        action = request.path_params["action"]
        allowed = {"acknowledge": ACKNOWLEDGERS, "clear": CLEARERS}.get(action)
        if allowed is None:
            return await self.failed(request, NotFound("no such action", code="not_found"))
        self.require(request, allowed)
        form = await request.form()
        try:
            alarm_id = uuid.UUID(request.path_params["alarm_id"])
            async with writing(self.ref, request, allowed) as (session, auditor):
                before = snapshot(await alarms.get_alarm(session, alarm_id))
                if action == "acknowledge":
                    alarm = await alarms.acknowledge(session, alarm_id, staff_id(request))
                else:
                    note = str(form.get("note") or "").strip()[:500] or "控制台手动解除"
                    alarm = await alarms.clear(session, alarm_id, staff_id(request), note)
                await audit(session, auditor, "alarm", action, alarm_id, before={"state": before["state"]},
                            after={"state": alarm.state})  # fmt: skip
        except ValueError:
            return await self.failed(request, NotFound("no such alarm", code="alarm_not_found"))
        except DomainError as exc:
            flash(request, f"操作未完成：{error_text(exc)}", FlashLevel.error)
            return RedirectResponse(request.url_for("admin:list", identity="alarm"), status_code=303)
        flash(request, "告警已确认" if action == "acknowledge" else "告警已解除")
        return RedirectResponse(request.url_for("admin:list", identity="alarm"), status_code=303)

    @expose("/device-actions/{device_id}/{action}", methods=["POST"], identity="device-action")
    async def device_action(self, request: Request) -> Response:
        action = request.path_params["action"]
        if action not in {"rotate", "revoke"}:
            return await self.failed(request, NotFound("no such action", code="not_found"))
        self.require(request, ADMIN)
        try:
            device_id = uuid.UUID(request.path_params["device_id"])
            async with writing(self.ref, request, ADMIN) as (session, auditor):
                if action == "revoke":
                    device = await devices.revoke_device(session, device_id)
                    secret = None
                else:
                    issued = await devices.rotate_secret(session, self.ref.get().settings.app.secret_key, device_id)
                    device, secret = issued.device, issued.secret
                await audit(session, auditor, "device", action, device_id,
                            after={"status": device.status, "secret_version": device.secret_version})  # fmt: skip
                code = device.code
        except ValueError:
            return await self.failed(request, NotFound("no such device", code="device_not_found"))
        except DomainError as exc:
            return await self.failed(request, exc)
        if secret is None:
            flash(request, f"设备 {code} 已吊销")
            return RedirectResponse(request.url_for("admin:list", identity="device"), status_code=303)
        context = {"title": f"设备 {code} 的新密钥", "subtitle": "旧密钥已失效", "code": code, "secret": secret}
        response = await self.render(request, "console/device_secret.html", context)
        Secret.apply_no_store_headers(response)
        return response
