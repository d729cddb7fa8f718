"""Pure rules of push/: quiet hours, retry backoff, channel choice, masking, template rendering, SMS signing."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from backend.errors import ValidationFailed
from push.providers.sms import sign
from push.rules import SHANGHAI, MaskPhonesFilter, choose_channels, mask_phone, mask_text, quiet_until, retry_delay
from push.templates import TEMPLATES, fit_keyword, format_time, sms_params, wechat_data, wechat_page

NIGHT = (time(22, 0), time(7, 0))
LUNCH = (time(12, 0), time(14, 0))


def sh(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("now", "quiet", "until"),
    [
        (sh(21, 21, 59), NIGHT, None),
        (sh(21, 22, 0), NIGHT, sh(22, 7)),
        (sh(21, 23, 30), NIGHT, sh(22, 7)),
        (sh(22, 0, 0), NIGHT, sh(22, 7)),
        (sh(22, 6, 59), NIGHT, sh(22, 7)),
        (sh(22, 7, 0), NIGHT, None),
        (sh(22, 12, 0), NIGHT, None),
        (sh(21, 12, 30), LUNCH, sh(21, 14)),
        (sh(21, 14, 0), LUNCH, None),
        (sh(21, 23, 0), None, None),
        # 15:30 UTC is 23:30 in Shanghai: the rule works in local time whatever zone ``now`` is in.
        (datetime(2026, 11, 21, 15, 30, tzinfo=UTC), NIGHT, sh(22, 7)),
        (datetime(2026, 12, 31, 23, 0, tzinfo=SHANGHAI), NIGHT, datetime(2027, 1, 1, 7, 0, tzinfo=SHANGHAI)),
    ],
)
def test_quiet_until(now: datetime, quiet: tuple[time, time] | None, until: datetime | None) -> None:
    result = quiet_until(now, quiet)
    assert result == until
    assert result is None or result.tzinfo == UTC


@pytest.mark.parametrize(
    ("attempt", "retry_after", "seconds"),
    [(1, None, 15), (2, None, 60), (3, None, 240), (4, None, 960), (5, None, 3600), (9, None, 3600), (1, 60.0, 60),
     (3, 60.0, 240), (2, 3600.0, 3600)],
)  # fmt: skip
def test_retry_delay_grows_and_respects_the_providers_wish(
    attempt: int, retry_after: float | None, seconds: int
) -> None:
    assert retry_delay(attempt, retry_after) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("prefs", "expected"),
    [
        ({}, ["inbox"]),
        ({("task.assigned", "sms"): True}, ["inbox", "sms"]),
        ({("*", "sms"): True, ("task.assigned", "sms"): False}, ["inbox"]),  # the event's own row wins
        ({("*", "inbox"): False}, []),
        ({("*", "inbox"): False, ("task.assigned", "inbox"): True}, ["inbox"]),
        ({("task.urged", "sms"): True}, ["inbox"]),  # another event's row does not count
    ],
)
def test_choose_channels(prefs: dict[tuple[str, str], bool], expected: list[str]) -> None:
    assert choose_channels("task.assigned", ["inbox"], ["sms"], prefs) == expected


def test_a_locked_channel_cannot_be_switched_off() -> None:
    prefs = {("*", "console"): False, ("*", "inbox"): False}
    assert choose_channels("device.alarm", ["console", "inbox"], ["sms"], prefs, locked=["console"]) == ["console"]


@pytest.mark.parametrize(
    ("phone", "masked"),
    [("13812340000", "138****0000"), ("+8613812340000", "+86138****0000"), ("8613812340000", "86138****0000"),
     ("12345", "****45"), ("", "-"), (None, "-")],
)  # fmt: skip
def test_mask_phone(phone: str | None, masked: str) -> None:
    assert mask_phone(phone) == masked


def test_mask_text_masks_mobile_numbers_only() -> None:
    text = "to 13812340000, +8613912345678 and 15000000000; order 2138123400001; case XZ20261121000123"
    assert (
        mask_text(text) == "to 138****0000, +86139****5678 and 150****0000; order 2138123400001; case XZ20261121000123"
    )


def test_the_log_filter_masks_formatted_arguments() -> None:
    import logging

    record = logging.LogRecord(
        "chengguan.push", logging.INFO, __file__, 1, "sms to %s: %s", ("13812340000", "ok"), None
    )
    assert MaskPhonesFilter().filter(record) is True
    assert record.getMessage() == "sms to 138****0000: ok"


def test_every_event_renders_in_chinese_with_its_required_data() -> None:
    samples = {
        "case.rejected": {"case_no": "X1", "reason": "不属于城管职责"},
        "device.alarm": {"device_name": "井盖 MH-3", "alarm": "倾斜"},
    }
    for event, template in TEMPLATES.items():
        title, body = template.render(samples.get(event, {"case_no": "XZ20261121000123"}))
        assert title and body and any("\u4e00" <= ch <= "\u9fff" for ch in title + body), event
    assert (
        TEMPLATES["case.rejected"].render(samples["case.rejected"])[1]
        == "您反映的问题（编号 X1）不予受理，原因：不属于城管职责。"
    )
    with pytest.raises(ValidationFailed):
        TEMPLATES["case.rejected"].render({"case_no": "X1"})


def test_subscribe_message_values_fit_their_keyword_limits() -> None:
    template = TEMPLATES["case.dispatched"]
    now = datetime(2026, 11, 21, 2, 5, tzinfo=UTC)
    data = {
        "case_no": "XZ-2026/11·21 0001",
        "summary": "占道经营，流动摊贩在人行道上售卖水果蔬菜，影响通行",
        "case_id": "c1",
        "department": "新洲区城市管理执法局第三中队",
    }
    fields = wechat_data(template, data, now)
    assert fields["character_string1"] == {"value": "XZ-202611210001"}
    assert len(fields["thing2"]["value"]) == 20 and fields["thing2"]["value"].endswith("…")
    assert fields["phrase3"] == {"value": "已派遣"} and fields["time4"] == {"value": "2026年11月21日 10:05"}
    assert len(fields["thing5"]["value"]) <= 20
    assert wechat_page(template, data) == "pages/case/detail?id=c1"
    assert sms_params(TEMPLATES["case.accepted"], {"case_no": "X1"}) == {"case_no": "X1", "status": "已受理"}
    assert fit_keyword("phrase9", "不予受理了吗") == "不予受理了"
    assert format_time("2026-11-21T02:05:00+00:00") == "2026年11月21日 10:05"


def test_sms_signature_matches_the_gateways_published_example() -> None:
    # Aliyun's worked example of SignatureVersion 1.0 for SendSms (GET), with secret "testSecret".
    params = {
        "AccessKeyId": "testId", "Action": "SendSms", "Format": "XML", "OutId": "123", "PhoneNumbers": "15300000001",
        "RegionId": "cn-hangzhou", "SignName": "阿里云短信测试专用", "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466", "SignatureVersion": "1.0",
        "TemplateCode": "SMS_71390007", "TemplateParam": '{"customer":"test"}', "Timestamp": "2017-07-12T02:42:19Z",
        "Version": "2017-05-25",
    }  # fmt: skip
    assert sign(params, "testSecret", "GET") == "zJDF+Lrzhj/ThnlvIToysFRq6t4="
