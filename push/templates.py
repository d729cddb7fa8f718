"""The events the notification service knows, each with its Chinese text and how each channel carries it.

An event name is also its template key: ``notify(session, "case.accepted", …)`` renders
``TEMPLATES["case.accepted"]``. The provider-side ids (a WeChat subscribe-message template id, an
SMS template code) belong to the deployment's accounts and come from settings
(``PUSH_WECHAT_TEMPLATES``, ``SMS_TEMPLATES``).

WeChat subscribe messages carry keyword fields (``thing2``, ``time4`` …) with limits per kind; the
citizen events share one keyword layout, so one 办理进度通知 template can serve them all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from backend.errors import ValidationFailed
from push.enums import Channel, RecipientKind
from push.rules import SHANGHAI

# Citizens (市民) — progress of what they reported.
CASE_ACCEPTED = "case.accepted"  # 已受理
CASE_DISPATCHED = "case.dispatched"  # 已派遣
CASE_CLOSED = "case.closed"  # 已办结
CASE_REJECTED = "case.rejected"  # 不予受理 (with the reason)
CASE_RATING_INVITED = "case.rating_invited"  # 邀请评价
# Staff — collectors, handlers, shift leads.
TASK_ASSIGNED = "task.assigned"  # 新任务
TASK_URGED = "task.urged"  # 催办
TASK_OVERDUE = "task.overdue"  # 超期 (escalated to the shift lead)
# Staff on duty — device alarms.
DEVICE_ALARM = "device.alarm"  # 设备告警


@dataclass(frozen=True)
class Template:
    event: str
    audience: RecipientKind
    label: str  # what a person calls it, for preference screens
    title: str  # str.format over the data (missing optional keys take ``defaults``)
    body: str
    required: tuple[str, ...] = ()
    defaults: Mapping[str, str] = field(default_factory=dict)
    channels: tuple[Channel, ...] = ()  # on unless the recipient switched them off
    allowed: tuple[Channel, ...] = ()  # off unless the recipient switched them on
    locked: tuple[Channel, ...] = ()  # cannot be switched off
    urgent: bool = False  # urgent messages ignore quiet hours
    wechat_fields: tuple[tuple[str, str], ...] = ()  # (keyword, format) of the subscribe message
    wechat_page: str | None = None  # the mini-program page a tap opens
    sms_params: tuple[str, ...] = ()  # data keys the SMS template takes

    def context(self, data: Mapping[str, Any]) -> dict[str, str]:
        values = {**self.defaults, **{k: _text(v) for k, v in data.items() if v is not None}}
        missing = [key for key in self.required if not values.get(key)]
        if missing:
            raise ValidationFailed(
                f"notification {self.event!r} needs {', '.join(missing)}",
                code="notification_data_missing",
                details={"event": self.event, "missing": missing},
            )
        return values

    def render(self, data: Mapping[str, Any]) -> tuple[str, str]:
        values = self.context(data)
        return _format(self.title, values)[:100], _format(self.body, values)


def _text(value: Any) -> str:
    if isinstance(value, datetime):
        return format_time(value)
    return str(value)


class _Defaulting(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


def _format(pattern: str, values: Mapping[str, str]) -> str:
    return pattern.format_map(_Defaulting(values)).strip()


def format_time(value: datetime | str) -> str:
    """2026年11月21日 10:00 in Asia/Shanghai — the time a citizen or a collector reads (and the form
    WeChat's ``time`` keyword accepts)."""
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
    else:
        moment = value
    local = moment if moment.tzinfo is None else moment.astimezone(SHANGHAI)
    return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"


# One keyword layout for every citizen event (a single 办理进度通知 template can carry them all):
# 案件编号 character_string1, 问题描述 thing2, 办理状态 phrase3, 更新时间 time4, 温馨提示 thing5.
def _progress(status: str, note: str) -> tuple[tuple[str, str], ...]:
    return (
        ("character_string1", "{case_no}"),
        ("thing2", "{summary}"),
        ("phrase3", status),
        ("time4", "{at}"),
        ("thing5", note),
    )


def _citizen(
    event: str,
    label: str,
    title: str,
    body: str,
    *,
    status: str,
    note: str,
    required: tuple[str, ...] = ("case_no",),
    page: str = "pages/case/detail?id={case_id}",
) -> Template:
    return Template(
        event=event,
        audience=RecipientKind.CITIZEN,
        label=label,
        title=title,
        body=body,
        required=required,
        defaults={"summary": "您反映的问题", "department": "责任单位", "status": status},
        channels=(Channel.WECHAT,),
        allowed=(Channel.SMS,),
        wechat_fields=_progress(status, note),
        wechat_page=page,
        sms_params=("case_no", "status"),
    )


def _staff(event: str, label: str, title: str, body: str, defaults: dict[str, str]) -> Template:
    return Template(
        event=event,
        audience=RecipientKind.STAFF,
        label=label,
        title=title,
        body=body,
        required=("case_no",),
        defaults=defaults,
        channels=(Channel.INBOX,),
        allowed=(Channel.SMS,),
        sms_params=("case_no", "deadline"),
    )


TEMPLATES: dict[str, Template] = {
    t.event: t
    for t in [
        _citizen(
            CASE_ACCEPTED,
            "反映已受理",
            "您反映的问题已受理",
            "您反映的问题（编号 {case_no}）已受理，我们将尽快安排处置。",
            status="已受理",
            note="我们将尽快安排处置",
        ),
        _citizen(
            CASE_DISPATCHED,
            "已派遣处置",
            "您反映的问题已派遣",
            "您反映的问题（编号 {case_no}）已派遣至{department}处置。",
            status="已派遣",
            note="已派遣至{department}",
        ),
        _citizen(
            CASE_CLOSED,
            "已办结",
            "您反映的问题已办结",
            "您反映的问题（编号 {case_no}）已处理完毕并办结，感谢您对城市管理的支持。",
            status="已办结",
            note="感谢您对城市管理的支持",
        ),
        _citizen(
            CASE_REJECTED,
            "不予受理",
            "您反映的问题不予受理",
            "您反映的问题（编号 {case_no}）不予受理，原因：{reason}。",
            status="不予受理",
            note="{reason}",
            required=("case_no", "reason"),
        ),
        _citizen(
            CASE_RATING_INVITED,
            "邀请评价",
            "请评价问题处理结果",
            "您反映的问题（编号 {case_no}）已办结，请对处理结果进行评价。",
            status="待评价",
            note="请对处理结果进行评价",
            page="pages/case/rate?id={case_id}",
        ),
        _staff(
            TASK_ASSIGNED,
            "新任务",
            "新任务：{case_no}",
            "{summary}{place}，请于{deadline}前处理。",
            {"summary": "您有一条新任务", "deadline": "规定时限", "place": ""},
        ),
        _staff(
            TASK_URGED,
            "催办",
            "催办：{case_no}",
            "任务 {case_no}（{summary}）{status}，请于{deadline}前处理。{note}",
            # The sweep urges at yellow (即将到期); a person urging by hand says so, with their note.
            {"summary": "待处理任务", "status": "即将到期", "deadline": "规定时限", "note": ""},
        ),
        _staff(
            TASK_OVERDUE,
            "超期",
            "超期：{case_no}",
            "任务 {case_no}（{summary}）已超过处理时限{overdue}，责任单位：{department}。",
            {"summary": "待处理任务", "overdue": "", "department": "未指定", "deadline": ""},
        ),
        Template(
            event=DEVICE_ALARM,
            audience=RecipientKind.STAFF,
            label="设备告警",
            title="{level}告警：{device_name}",
            body="{device_name}{place}发生{alarm}（{level}），请及时处置。",
            required=("device_name", "alarm"),
            defaults={"level": "一般", "place": ""},
            channels=(Channel.CONSOLE, Channel.INBOX),
            allowed=(Channel.SMS,),
            locked=(Channel.CONSOLE,),
            urgent=True,
            sms_params=("device_name", "alarm"),
        ),
    ]
}


def get_template(event: str) -> Template:
    template = TEMPLATES.get(event)
    if template is None:
        raise ValidationFailed(
            f"unknown notification event {event!r}", code="unknown_event", details={"known": sorted(TEMPLATES)}
        )
    return template


# Limits of the subscribe-message keyword kinds (a longer value is refused with errcode 47003).
_LIMITS = {"thing": 20, "character_string": 32, "phrase": 5, "name": 10, "number": 32, "letter": 32, "symbol": 5}
_NOT_CHARACTER_STRING = re.compile(r"[^0-9A-Za-z_\-.:]")


def fit_keyword(keyword: str, value: str) -> str:
    kind = keyword.rstrip("0123456789")
    if kind == "character_string":
        value = _NOT_CHARACTER_STRING.sub("", value)
    limit = _LIMITS.get(kind)
    if limit is not None and len(value) > limit:
        value = value[: limit - 1] + "…" if kind == "thing" else value[:limit]
    return value


def wechat_data(template: Template, data: Mapping[str, Any], now: datetime) -> dict[str, dict[str, str]]:
    """The ``data`` object of ``subscribeMessage.send``: keyword → {"value": …}, each within its limit."""
    values = template.context(data)
    if not values.get("at"):
        values["at"] = format_time(now)
    return {kw: {"value": fit_keyword(kw, _format(pattern, values)) or "-"} for kw, pattern in template.wechat_fields}


def wechat_page(template: Template, data: Mapping[str, Any]) -> str | None:
    if template.wechat_page is None:
        return None
    values = template.context(data)
    page = _format(template.wechat_page, values)
    return page.split("?")[0] if page.endswith("=") else page


def sms_params(template: Template, data: Mapping[str, Any]) -> dict[str, str]:
    """The SMS template's variables (Aliyun limits a variable to 35 characters)."""
    values = template.context(data)
    return {key: values.get(key, "")[:35] for key in template.sms_params}
