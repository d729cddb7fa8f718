"""What a citizen reads about a case, as pure functions: the plain-language progress timeline (办理进度),
the short status of each state, and masking of personal data in texts shown to the public.

The timeline names the handling department and the current deadline, and never a staff member: events
are rendered from their action and data only — staff notes are left out, except a rejection's reason,
which is written for the citizen (with any phone or ID number in it masked).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Protocol

from backend.worktime import SHANGHAI

STATUS_TEXT: Final[Mapping[str, str]] = {
    "reported": "待受理",
    "verifying": "核实中",
    "accepted": "已受理",
    "rejected": "未受理",
    "dispatched": "已派遣",
    "disposing": "处置中",
    "disposed": "已处置，待核查",
    "suspended": "暂缓处理",
    "closed": "已办结",
    "reopened": "重新办理",
    "merged": "已合并",
}

CLOSED_STATES: Final = frozenset({"closed", "rejected", "merged"})

# Mainland mobile numbers, landlines with an area code, and 18-digit resident ID numbers.
_MOBILE = re.compile(r"(?<![0-9])(1[3-9][0-9])[0-9]{4}([0-9]{4})(?![0-9])")
_LANDLINE = re.compile(r"(?<![0-9])(0[1-9][0-9]{1,2})[- ]?[0-9]{7,8}(?![0-9])")
_ID_NUMBER = re.compile(r"(?<![0-9])([1-9][0-9]{5})[0-9]{8}([0-9]{3}[0-9Xx])(?![0-9])")


def mask_personal(text: str) -> str:
    """Mask phone and ID numbers in a text shown to others (138****1234, 027-********)."""
    text = _ID_NUMBER.sub(lambda m: f"{m.group(1)}********{m.group(2)[-1]}", text)
    text = _MOBILE.sub(r"\1****\2", text)
    return _LANDLINE.sub(r"\1-********", text)


def status_text(state: str) -> str:
    return STATUS_TEXT.get(state, "处理中")


def public_status(state: str) -> str:
    """Open311's two statuses."""
    return "closed" if state in CLOSED_STATES else "open"


def shanghai(at: datetime) -> datetime:
    return at.astimezone(SHANGHAI)


def deadline_text(at: datetime) -> str:
    local = shanghai(at)
    return f"{local.month}月{local.day}日 {local:%H:%M}"


class EventLike(Protocol):
    action: str
    created_at: datetime
    department_id: Any
    note: str
    data: dict[str, Any]
    stage_deadline: datetime | None


@dataclass(frozen=True)
class TimelineEntry:
    """One line of the progress a citizen sees."""

    at: datetime  # Asia/Shanghai
    title: str
    text: str


def _department(event: EventLike, departments: Mapping[str, str], key: str | None = None) -> str:
    raw = event.data.get(key) if key else event.department_id
    name = departments.get(str(raw)) if raw else None
    return name or "责任单位"


def describe(event: EventLike, departments: Mapping[str, str]) -> tuple[str, str] | None:
    """(title, text) of one event for the citizen, or None when it is internal."""
    action = event.action
    if action == "report":
        return "已上报", "问题已上报，等待受理。"
    if action == "verify_request":
        return "核实中", "工作人员将到现场核实情况。"
    if action == "verify_done":
        return "核实完成", "现场核实已完成，等待受理。"
    if action == "accept":
        return "已受理", "已受理并立案。"
    if action == "reject":
        reason = mask_personal(event.note.strip()) or "不符合受理条件"
        return "未受理", f"未予受理：{reason}"
    if action == "dispatch":
        text = f"已派遣至{_department(event, departments, 'department_id')}处理"
        if event.stage_deadline is not None:
            text += f"，处置时限至{deadline_text(event.stage_deadline)}"
        return "已派遣", text + "。"
    if action == "take":
        return "处置中", f"{_department(event, departments)}正在处置。"
    if action == "finish":
        return "已处置", f"{_department(event, departments)}已处置完毕，等待核查。"
    if action == "return":
        return "重新派遣", "正在重新确定处置部门。"
    if action == "approve_extension":
        deadline = event.data.get("deadline")
        if deadline:
            return "处置延期", f"处置时限延长至{deadline_text(datetime.fromisoformat(deadline))}。"
        return "处置延期", "处置时限已延长。"
    if action == "suspend":
        return "暂缓处理", "因客观原因暂缓处理，恢复后继续办理。"
    if action == "resume":
        return "恢复处理", "已恢复处理。"
    if action in {"check_pass", "close", "close_on_spot"}:
        return "已办结", "问题已处理完毕，案件办结。"
    if action == "check_fail":
        return "返工", "核查未通过，已要求重新处置。"
    if action == "reopen":
        return "重新办理", "问题未解决，已重新打开办理。"
    if action == "merge":
        number = event.data.get("into_number")
        return "已合并", f"与同一问题的案卷合并办理{f'（案卷编号 {number}）' if number else ''}。"
    if action == "rate":
        return "已评价", f"满意度评价：{event.data.get('score')}分。"
    return None


def citizen_timeline(events: Sequence[EventLike], departments: Mapping[str, str]) -> list[TimelineEntry]:
    entries = []
    for event in events:
        described = describe(event, departments)
        if described is not None:
            entries.append(TimelineEntry(at=shanghai(event.created_at), title=described[0], text=described[1]))
    return entries
