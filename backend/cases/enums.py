"""Enumerations of the case core (案卷).

Values are snake_case English so they are stable on the wire and in the database; every member carries
its Chinese label, read as ``member.label`` or from ``LABELS[EnumClass][member]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Final


class LabelledEnum(StrEnum):
    """A string enum whose members carry a Chinese label (标签) for screens, exports and messages."""

    @property
    def label(self) -> str:
        return LABELS[type(self)][self]


class CaseState(LabelledEnum):
    """案卷状态 — where a case stands in the workflow of DESIGN §2."""

    reported = "reported"
    verifying = "verifying"
    accepted = "accepted"
    rejected = "rejected"
    dispatched = "dispatched"
    disposing = "disposing"
    disposed = "disposed"
    suspended = "suspended"
    closed = "closed"
    reopened = "reopened"
    merged = "merged"


class CaseAction(LabelledEnum):
    """案卷操作 — what someone (or the system) does to a case; each one is recorded as a case event."""

    verify_request = "verify_request"
    verify_done = "verify_done"
    accept = "accept"
    reject = "reject"
    dispatch = "dispatch"
    take = "take"
    finish = "finish"
    # ``return`` is a keyword, hence the trailing underscore; the stored value stays "return".
    return_ = "return"
    request_extension = "request_extension"
    approve_extension = "approve_extension"
    deny_extension = "deny_extension"
    suspend = "suspend"
    resume = "resume"
    check_pass = "check_pass"
    check_fail = "check_fail"
    close = "close"
    reopen = "reopen"
    close_on_spot = "close_on_spot"
    merge = "merge"


class CaseSource(LabelledEnum):
    """案卷来源 — the channel a case came in through."""

    citizen = "citizen"
    collector = "collector"
    hotline_12345 = "hotline_12345"
    hotline_12319 = "hotline_12319"
    device = "device"
    video_ai = "video_ai"
    inspection = "inspection"
    open311 = "open311"


class CaseKind(LabelledEnum):
    """案卷类型 — how a case is handled: on the spot, by one department, or by several."""

    immediate = "immediate"
    promise = "promise"
    coordination = "coordination"


class Urgency(LabelledEnum):
    """紧急程度 — selects the time limits (时限) of a category."""

    normal = "normal"
    urgent = "urgent"
    critical = "critical"


class Stage(LabelledEnum):
    """阶段 — the workflow stage whose time limit is running; see ``rules.stage_for``."""

    accept = "accept"
    dispatch = "dispatch"
    dispose = "dispose"
    check = "check"


class Light(LabelledEnum):
    """红黄绿灯 — the traffic light of a stage's deadline; ``none`` when no clock runs."""

    green = "green"
    yellow = "yellow"
    red = "red"
    none = "none"


class Role(LabelledEnum):
    """角色 — who acts on a case; decides which actions are allowed (see ``rules.PERMISSIONS``)."""

    citizen = "citizen"
    collector = "collector"
    officer = "officer"
    handler = "handler"
    seat = "seat"
    dispatcher = "dispatcher"
    shift_lead = "shift_lead"
    admin = "admin"
    auditor = "auditor"
    device = "device"
    system = "system"


# Keyed per enum class: members of different enums share values ("accept", "citizen", "dispatch") and,
# being str, would collide in one flat dict.
LABELS: Final[Mapping[type[LabelledEnum], Mapping[LabelledEnum, str]]] = {
    CaseState: {
        CaseState.reported: "上报",
        CaseState.verifying: "核实中",
        CaseState.accepted: "已立案",
        CaseState.rejected: "作废",
        CaseState.dispatched: "已派遣",
        CaseState.disposing: "处置中",
        CaseState.disposed: "已处置(待核查)",
        CaseState.suspended: "挂账",
        CaseState.closed: "结案",
        CaseState.reopened: "重新打开",
        CaseState.merged: "已合并",
    },
    CaseAction: {
        CaseAction.verify_request: "发起核实",
        CaseAction.verify_done: "核实反馈",
        CaseAction.accept: "立案",
        CaseAction.reject: "作废",
        CaseAction.dispatch: "派遣",
        CaseAction.take: "签收",
        CaseAction.finish: "处置完成",
        CaseAction.return_: "回退",
        CaseAction.request_extension: "申请延期",
        CaseAction.approve_extension: "批准延期",
        CaseAction.deny_extension: "驳回延期",
        CaseAction.suspend: "挂账",
        CaseAction.resume: "解除挂账",
        CaseAction.check_pass: "核查通过",
        CaseAction.check_fail: "核查不通过(返工)",
        CaseAction.close: "结案",
        CaseAction.reopen: "重新打开",
        CaseAction.close_on_spot: "即办结案",
        CaseAction.merge: "合并",
    },
    CaseSource: {
        CaseSource.citizen: "市民随手拍",
        CaseSource.collector: "监督员上报",
        CaseSource.hotline_12345: "12345热线",
        CaseSource.hotline_12319: "12319城建热线",
        CaseSource.device: "物联感知设备",
        CaseSource.video_ai: "视频智能识别",
        CaseSource.inspection: "巡查督查",
        CaseSource.open311: "Open311",
    },
    CaseKind: {
        CaseKind.immediate: "即办件",
        CaseKind.promise: "承诺件",
        CaseKind.coordination: "协调件",
    },
    Urgency: {
        Urgency.normal: "一般",
        Urgency.urgent: "紧急",
        Urgency.critical: "特急",
    },
    Stage: {
        Stage.accept: "受理立案",
        Stage.dispatch: "派遣",
        Stage.dispose: "处置",
        Stage.check: "核查结案",
    },
    Light: {
        Light.green: "绿灯",
        Light.yellow: "黄灯(预警)",
        Light.red: "红灯(超期)",
        Light.none: "不计时",
    },
    Role: {
        Role.citizen: "市民",
        Role.collector: "信息采集员",
        Role.officer: "执法队员",
        Role.handler: "处置人员",
        Role.seat: "受理员",
        Role.dispatcher: "派遣员",
        Role.shift_lead: "值班长",
        Role.admin: "管理员",
        Role.auditor: "审计员",
        Role.device: "设备",
        Role.system: "系统",
    },
}
