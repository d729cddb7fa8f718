"""Settings are validated at start-up with messages that name the variable."""

from __future__ import annotations

import pytest

from backend.errors import ConfigurationError
from backend.settings import DEV_SECRET_KEY, load_settings

CONFIG_VARS = [
    "CHENGGUAN_ENV", "SECRET_KEY", "CHENGGUAN_PORT", "DATABASE_URL", "REDIS_URL", "S3_ENDPOINT", "S3_ACCESS_KEY",
    "S3_SECRET_KEY", "S3_BUCKET", "WECHAT_PROVIDER", "WECHAT_APP_ID", "WECHAT_APP_SECRET", "WECHATPAY_PROVIDER",
    "WECHATPAY_API_V3_KEY", "WECHATPAY_MCH_ID", "WECHATPAY_PRIVATE_KEY_PATH", "WECHATPAY_CERT_SERIAL_NO",
    "ALIPAY_PROVIDER", "LOG_JSON", "CHENGGUAN_WORKERS",
]  # fmt: skip


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in CONFIG_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CHENGGUAN_ENV", "development")


def test_defaults_use_embedded_services() -> None:
    s = load_settings()
    assert s.db.embedded and s.redis.embedded and s.storage.embedded
    assert s.app.port == 8000
    assert s.app.secret_key == DEV_SECRET_KEY
    assert s.storage.bucket == "chengguan"


def test_configured_services_are_not_embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db.internal:5432/cg")
    monkeypatch.setenv("REDIS_URL", "redis://cache.internal:6379/0")
    monkeypatch.setenv("S3_ENDPOINT", "https://s3.internal")
    monkeypatch.setenv("S3_ACCESS_KEY", "ak")
    monkeypatch.setenv("S3_SECRET_KEY", "sk")
    s = load_settings()
    assert not s.any_embedded
    assert s.storage.secure is True


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CHENGGUAN_PORT": "eighty"}, "CHENGGUAN_PORT must be an integer"),
        ({"CHENGGUAN_PORT": "70000"}, "CHENGGUAN_PORT must be at most 65535"),
        ({"CHENGGUAN_WORKERS": "0"}, "CHENGGUAN_WORKERS must be at least 1"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY must be at least 32 characters"),
        ({"DATABASE_URL": "mysql://x/y"}, "DATABASE_URL must be a URL with scheme"),
        ({"REDIS_URL": "http://x"}, "REDIS_URL must be a URL with scheme"),
        ({"S3_ENDPOINT": "http://s3.local"}, "S3_ACCESS_KEY and S3_SECRET_KEY must be set"),
        ({"S3_BUCKET": "Bad_Bucket"}, "S3_BUCKET must be a valid bucket name"),
        ({"LOG_JSON": "maybe"}, "LOG_JSON must be a boolean"),
        ({"CHENGGUAN_ENV": "staging"}, "CHENGGUAN_ENV must be one of"),
        ({"WECHAT_PROVIDER": "wechat"}, "WECHAT_PROVIDER=wechat needs WECHAT_APP_ID"),
        ({"WECHATPAY_PROVIDER": "wechatpay"}, "WECHATPAY_PROVIDER=wechatpay needs WECHATPAY_MCH_ID"),
        ({"ALIPAY_PROVIDER": "alipay"}, "ALIPAY_PROVIDER=alipay needs ALIPAY_APP_ID"),
        ({"CHENGGUAN_ENV": "production"}, "SECRET_KEY must be set in production"),
        ({"CHENGGUAN_ENV": "production", "SECRET_KEY": DEV_SECRET_KEY}, "public development key"),
        ({"CHENGGUAN_ENV": "production", "SECRET_KEY": "x" * 40}, "production needs DATABASE_URL"),
    ],
)
def test_bad_settings_are_refused_with_a_clear_message(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=message):
        load_settings()


def test_wechatpay_key_length_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "WECHATPAY_PROVIDER": "wechatpay",
        "WECHATPAY_MCH_ID": "1900000001",
        "WECHATPAY_API_V3_KEY": "too-short",
        "WECHATPAY_PRIVATE_KEY_PATH": "/etc/key.pem",
        "WECHATPAY_CERT_SERIAL_NO": "ABC",
    }.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match="exactly 32 characters"):
        load_settings()
