"""What citizens read: masked personal data, short statuses, and the plain-language timeline."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from backend.cases.enums import CaseState
from backend.citizens.rules import citizen_timeline, deadline_text, mask_personal, public_status, status_text


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("电话13812345678", "电话138****5678"),
        ("座机027-86912345找我", "座机027-********找我"),
        ("身份证420117199001011234", "身份证420117********4"),
        ("门牌号12号，编号2026112100012", "门牌号12号，编号2026112100012"),
        ("", ""),
    ],
)
def test_mask_personal(text: str, masked: str) -> None:
    assert mask_personal(text) == masked


def test_every_state_has_a_status_and_an_open311_status() -> None:
    for state in CaseState:
        assert status_text(state.value) != "处理中"
    assert [public_status(s) for s in ("reported", "disposing", "closed", "rejected")] == [
        "open",
        "open",
        "closed",
        "closed",
    ]


@dataclass
class Event:
    action: str
    created_at: datetime = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    department_id: Any = None
    note: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    stage_deadline: datetime | None = None


def test_timeline_in_plain_words() -> None:
    hw = uuid.uuid4()
    departments = {str(hw): "新洲区环境卫生管理处"}
    deadline = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)  # 17:30 in Shanghai
    events = [
        Event("report"),
        Event("accept", note="张三 13800000000 立案"),
        Event("dispatch", data={"department_id": str(hw)}, stage_deadline=deadline),
        Event("take", department_id=hw, note="李四已签收"),
        Event("field_assign"),
        Event("request_extension", note="需要采购"),
        Event("approve_extension", data={"deadline": "2026-11-25T09:30:00+00:00"}),
        Event("finish", department_id=hw),
        Event("check_pass"),
        Event("rate", data={"score": 5}),
    ]
    timeline = citizen_timeline(events, departments)
    assert [e.title for e in timeline] == [
        "已上报",
        "已受理",
        "已派遣",
        "处置中",
        "处置延期",
        "已处置",
        "已办结",
        "已评价",
    ]
    assert timeline[2].text == "已派遣至新洲区环境卫生管理处处理，处置时限至11月24日 17:30。"
    assert timeline[3].text == "新洲区环境卫生管理处正在处置。"
    assert timeline[4].text == "处置时限延长至11月25日 17:30。"
    assert all(e.at.utcoffset() is not None and e.at.utcoffset().total_seconds() == 8 * 3600 for e in timeline)  # type: ignore[union-attr]
    everything = " ".join(e.text for e in timeline)
    assert "张三" not in everything and "李四" not in everything and "13800000000" not in everything


def test_a_rejection_tells_its_reason_masked() -> None:
    [entry] = citizen_timeline([Event("reject", note="不属于城管职责，请拨打12345 或 13912345678")], {})
    assert entry.title == "未受理" and "139****5678" in entry.text and "不属于城管职责" in entry.text
    assert deadline_text(datetime(2026, 1, 2, 0, 5, tzinfo=UTC)) == "1月2日 08:05"
