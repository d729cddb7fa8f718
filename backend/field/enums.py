"""Enumerations of field work; values are stable snake_case on the wire, labels are Chinese."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Final


class TaskKind(StrEnum):
    """任务类型 — what a field task asks of its holder."""

    verify = "verify"  # 核实: is the reported problem real? (collector, case in ``verifying``)
    check = "check"  # 核查: was it really fixed? (collector, case in ``disposed``)
    dispose = "dispose"  # 处置: fix it (department handler or officer, case ``dispatched``/``disposing``)

    @property
    def label(self) -> str:
        return TASK_LABELS[self]


TASK_LABELS: Final[Mapping[TaskKind, str]] = {
    TaskKind.verify: "核实",
    TaskKind.check: "核查",
    TaskKind.dispose: "处置",
}


class AttendanceStatus(StrEnum):
    """考勤状态 — where one shift stands."""

    scheduled = "scheduled"  # 未开始: the shift has not started and nobody checked in yet
    not_checked_in = "not_checked_in"  # 未签到: the shift runs, no check-in yet
    on_duty = "on_duty"  # 在岗: checked in, not out
    checked_out = "checked_out"  # 已签退
    absent = "absent"  # 缺勤: no check-in by the end of the shift
    no_check_out = "no_check_out"  # 未签退: checked in, the check-out window closed without one


class AttendanceFlag(StrEnum):
    """考勤异常 — what went wrong on a shift that was worked."""

    late = "late"  # 迟到: checked in after start + grace
    early_leave = "early_leave"  # 早退: checked out before end − grace


class Outcome(StrEnum):
    """同步结果 — what became of one client write."""

    applied = "applied"  # done now
    duplicate = "duplicate"  # done before under the same client id; the original result is returned
    conflict = "conflict"  # the world moved on (e.g. the case was closed meanwhile); nothing done
    rejected = "rejected"  # invalid or not allowed; nothing done


class OpKind(StrEnum):
    """外勤操作 — the kinds of write the field app sends, directly or in an offline batch."""

    case_take = "case.take"
    case_finish = "case.finish"
    case_verify = "case.verify"
    case_check = "case.check"
    case_return = "case.return"
    case_extension = "case.extension"
    case_report = "case.report"
    check_in = "attendance.check_in"
    check_out = "attendance.check_out"
    track_upload = "track.upload"
    inspection_create = "inspection.create"
    finding_case = "inspection.finding_case"
