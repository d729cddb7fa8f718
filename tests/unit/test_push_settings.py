"""The SMS and push settings groups: defaults, parsing, and messages that name the variable."""

from __future__ import annotations

from datetime import time

import pytest

from backend.errors import ConfigurationError
from backend.settings import load_settings

VARS = ["SMS_PROVIDER", "SMS_API_BASE", "SMS_ACCESS_KEY", "SMS_SECRET", "SMS_SIGN_NAME", "SMS_TEMPLATES",
        "PUSH_QUIET_HOURS", "PUSH_WECHAT_TEMPLATES", "PUSH_WECHAT_STATE", "PUSH_HTTP_TIMEOUT_S"]  # fmt: skip


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CHENGGUAN_ENV", "development")


def test_defaults_are_the_dev_providers_with_night_quiet_hours() -> None:
    s = load_settings()
    assert s.sms.provider == "dev" and s.sms.api_base == "https://dysmsapi.aliyuncs.com" and s.sms.templates == {}
    assert s.push.quiet_hours == (time(22, 0), time(7, 0)) and s.push.wechat_state == "formal"
    assert s.push.http_timeout_s == 5.0


def test_http_sms_and_template_maps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMS_PROVIDER", "http")
    monkeypatch.setenv("SMS_API_BASE", "http://127.0.0.1:9000")
    monkeypatch.setenv("SMS_ACCESS_KEY", "LTAI")
    monkeypatch.setenv("SMS_SECRET", "secret")
    monkeypatch.setenv("SMS_SIGN_NAME", "新洲城管")
    monkeypatch.setenv("SMS_TEMPLATES", "case.accepted=SMS_1, task.assigned = SMS_2 ,")
    monkeypatch.setenv("PUSH_WECHAT_TEMPLATES", "case.accepted=abc123")
    monkeypatch.setenv("PUSH_QUIET_HOURS", "off")
    s = load_settings()
    assert s.sms.templates == {"case.accepted": "SMS_1", "task.assigned": "SMS_2"}
    assert s.push.wechat_templates == {"case.accepted": "abc123"} and s.push.quiet_hours is None


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SMS_PROVIDER": "aliyun"}, "SMS_PROVIDER must be one of dev, http"),
        ({"SMS_PROVIDER": "http"}, "SMS_PROVIDER=http needs SMS_ACCESS_KEY, SMS_SECRET, SMS_SIGN_NAME"),
        ({"SMS_API_BASE": "ftp://sms"}, "SMS_API_BASE must be a URL"),
        ({"SMS_TEMPLATES": "case.accepted"}, "SMS_TEMPLATES must be a list of key=value pairs"),
        ({"PUSH_QUIET_HOURS": "22-7"}, "PUSH_QUIET_HOURS must be HH:MM-HH:MM"),
        ({"PUSH_QUIET_HOURS": "07:00-07:00"}, "PUSH_QUIET_HOURS must not start and end at the same time"),
        ({"PUSH_WECHAT_STATE": "beta"}, "PUSH_WECHAT_STATE must be one of"),
        ({"PUSH_HTTP_TIMEOUT_S": "0"}, "PUSH_HTTP_TIMEOUT_S must be at least"),
    ],
)
def test_bad_values_name_the_variable(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=message.replace("(", r"\(")):
        load_settings()
