"""Typed settings, grouped by concern, read once from the environment (``get_settings()`` is cached).

Every group validates itself when built, so a bad value stops the process at start-up with a
message naming the variable — not later, in the middle of a request.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import time
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlparse

from backend.errors import ConfigurationError

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# The embedded default uses this key; production must set its own (checked in ``validate``).
DEV_SECRET_KEY = "dev-insecure-secret-key-change-me-0123456789"


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip()


def _int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    raw = _env(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ConfigurationError(f"{name} must be at most {maximum}, got {value}")
    return value


def _bool(name: str, default: bool) -> bool:
    raw = _env(name)
    if raw is None:
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ConfigurationError(f"{name} must be a boolean (true/false), got {raw!r}")


def _url(name: str, raw: str | None, schemes: set[str]) -> str | None:
    if raw is None:
        return None
    parsed = urlparse(raw)
    if parsed.scheme not in schemes or not (parsed.hostname or parsed.path):
        raise ConfigurationError(f"{name} must be a URL with scheme {' or '.join(sorted(schemes))}, got {raw!r}")
    return raw


@dataclass(frozen=True)
class AppSettings:
    env: str
    secret_key: str
    debug: bool
    host: str
    port: int
    workers: int
    data_dir: Path
    max_body_bytes: int
    log_level: str
    log_json: bool


@dataclass(frozen=True)
class DatabaseSettings:
    """PostgreSQL. ``url`` None means: start the embedded server (DESIGN §10)."""

    url: str | None
    pool_size: int
    echo: bool

    @property
    def embedded(self) -> bool:
        return self.url is None


@dataclass(frozen=True)
class RedisSettings:
    url: str | None

    @property
    def embedded(self) -> bool:
        return self.url is None


@dataclass(frozen=True)
class StorageSettings:
    """S3-compatible object storage (MinIO/S3 in production, moto's server embedded)."""

    endpoint: str | None
    access_key: str
    secret_key: str
    bucket: str
    region: str
    secure: bool
    public_endpoint: str | None
    upload_max_bytes: int
    presign_expiry_s: int

    @property
    def embedded(self) -> bool:
        return self.endpoint is None


@dataclass(frozen=True)
class WeChatSettings:
    """WeChat mini-program (login, content security, subscribe messages)."""

    provider: str  # "dev" or "wechat"
    app_id: str | None
    app_secret: str | None
    api_base: str


@dataclass(frozen=True)
class SmsSettings:
    """SMS gateway: an Aliyun dysms-style HTTP API (template code, sign name, signed request)."""

    provider: str  # "dev" (logs instead of sending) or "http"
    api_base: str
    access_key: str | None
    secret: str | None
    sign_name: str | None
    templates: dict[str, str]  # push event → the gateway's template code


@dataclass(frozen=True)
class PushSettings:
    """The notification service (push/): quiet hours, WeChat subscribe-message template ids."""

    quiet_hours: tuple[time, time] | None  # Asia/Shanghai; None = no quiet hours
    wechat_templates: dict[str, str]  # push event → mini-program subscribe-message template id
    wechat_state: str  # formal | trial | developer: which mini-program build a tap opens
    http_timeout_s: float


@dataclass(frozen=True)
class CitizenSettings:
    """The citizen mini-program (/api/mp/v1) and Open311 (/open311/v2)."""

    session_ttl_s: int = 30 * 24 * 3600  # our own session token after WeChat login
    reopen_window_days: int = 7  # "not fixed" reopens a closed case within this many days of closure
    photo_max_bytes: int = 10 * 1024 * 1024  # per photo; never above S3_UPLOAD_MAX_BYTES
    wechat_callback_token: str | None = None  # message-push token (mediaCheckAsync results); None = off
    open311_api_keys: dict[str, str] = field(default_factory=dict)  # client name → api_key
    open311_jurisdiction_id: str = "xinzhou.wuhan"


@dataclass(frozen=True)
class WeChatPaySettings:
    provider: str  # "dev" or "wechatpay"
    mch_id: str | None
    app_id: str | None
    api_v3_key: str | None
    private_key_path: str | None
    cert_serial_no: str | None
    platform_cert_path: str | None
    notify_url: str | None
    api_base: str


@dataclass(frozen=True)
class AlipaySettings:
    provider: str  # "dev" or "alipay"
    app_id: str | None
    private_key_path: str | None
    alipay_public_key_path: str | None
    notify_url: str | None
    gateway: str


@dataclass(frozen=True)
class Settings:
    app: AppSettings
    db: DatabaseSettings
    redis: RedisSettings
    storage: StorageSettings
    wechat: WeChatSettings
    wechatpay: WeChatPaySettings
    alipay: AlipaySettings
    sms: SmsSettings
    push: PushSettings
    citizens: CitizenSettings = field(default_factory=CitizenSettings)
    problems: list[str] = field(default_factory=list)

    @property
    def any_embedded(self) -> bool:
        return self.db.embedded or self.redis.embedded or self.storage.embedded


def _choice(name: str, default: str, choices: set[str]) -> str:
    value = (_env(name, default) or default).lower()
    if value not in choices:
        raise ConfigurationError(f"{name} must be one of {', '.join(sorted(choices))}, got {value!r}")
    return value


def _mapping(name: str) -> dict[str, str]:
    """``key=value,key=value`` (e.g. ``case.accepted=SMS_123,task.assigned=SMS_456``)."""
    raw = _env(name)
    if raw is None:
        return {}
    result: dict[str, str] = {}
    for item in raw.split(","):
        key, sep, value = (part.strip() for part in item.partition("="))
        if not item.strip():
            continue
        if not sep or not key or not value:
            raise ConfigurationError(f"{name} must be a list of key=value pairs separated by commas, got {item!r}")
        result[key] = value
    return result


def _quiet_hours(name: str, default: str) -> tuple[time, time] | None:
    raw = _env(name, default) or default
    if raw.lower() in {"off", "none", "no"}:
        return None
    try:
        start, end = (time.fromisoformat(part.strip()) for part in raw.split("-"))
    except ValueError:
        raise ConfigurationError(f"{name} must be HH:MM-HH:MM (e.g. 22:00-07:00) or off, got {raw!r}") from None
    if start == end:
        raise ConfigurationError(f"{name} must not start and end at the same time, got {raw!r}")
    return start, end


def _float(name: str, default: float, *, minimum: float) -> float:
    raw = _env(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, got {raw!r}") from None
    if value < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum}, got {value}")
    return value


def load_settings() -> Settings:
    """Build settings from the environment, raising ``ConfigurationError`` on the first bad value."""
    env = _choice("CHENGGUAN_ENV", "development", {"development", "test", "production"})
    secret_key = _env("SECRET_KEY", DEV_SECRET_KEY if env != "production" else None)
    if secret_key is None:
        raise ConfigurationError("SECRET_KEY must be set in production (at least 32 characters)")
    if len(secret_key) < 32:
        raise ConfigurationError("SECRET_KEY must be at least 32 characters long")
    if env == "production" and secret_key == DEV_SECRET_KEY:
        raise ConfigurationError("SECRET_KEY is the public development key; set a real one in production")

    data_dir = Path(_env("CHENGGUAN_DATA_DIR", str(PROJECT_ROOT / ".data")) or ".data").resolve()
    app = AppSettings(
        env=env,
        secret_key=secret_key,
        debug=_bool("CHENGGUAN_DEBUG", False),
        host=_env("CHENGGUAN_HOST", "127.0.0.1") or "127.0.0.1",
        port=_int("CHENGGUAN_PORT", 8000, minimum=1, maximum=65535),
        workers=_int("CHENGGUAN_WORKERS", 2, minimum=1, maximum=64),
        data_dir=data_dir,
        max_body_bytes=_int("CHENGGUAN_MAX_BODY_BYTES", 10 * 1024 * 1024, minimum=1024),
        log_level=_choice("LOG_LEVEL", "info", {"debug", "info", "warning", "error"}),
        log_json=_bool("LOG_JSON", True),
    )
    db = DatabaseSettings(
        url=_url("DATABASE_URL", _env("DATABASE_URL"), {"postgresql", "postgresql+asyncpg", "postgres"}),
        pool_size=_int("DATABASE_POOL_SIZE", 10, minimum=1, maximum=200),
        echo=_bool("DATABASE_ECHO", False),
    )
    redis = RedisSettings(url=_url("REDIS_URL", _env("REDIS_URL"), {"redis", "rediss", "unix"}))

    endpoint = _url("S3_ENDPOINT", _env("S3_ENDPOINT"), {"http", "https"})
    access_key = _env("S3_ACCESS_KEY")
    secret = _env("S3_SECRET_KEY")
    if endpoint is not None and (access_key is None or secret is None):
        raise ConfigurationError("S3_ENDPOINT is set, so S3_ACCESS_KEY and S3_SECRET_KEY must be set too")
    bucket = _env("S3_BUCKET", "chengguan") or "chengguan"
    if not (3 <= len(bucket) <= 63) or not all(c.islower() or c.isdigit() or c in "-." for c in bucket):
        raise ConfigurationError(f"S3_BUCKET must be a valid bucket name (3-63 of a-z 0-9 - .), got {bucket!r}")
    storage = StorageSettings(
        endpoint=endpoint,
        access_key=access_key or "chengguan",
        secret_key=secret or "chengguan-secret",
        bucket=bucket,
        region=_env("S3_REGION", "us-east-1") or "us-east-1",
        secure=bool(endpoint and endpoint.startswith("https")),
        public_endpoint=_url("S3_PUBLIC_ENDPOINT", _env("S3_PUBLIC_ENDPOINT"), {"http", "https"}),
        upload_max_bytes=_int("S3_UPLOAD_MAX_BYTES", 10 * 1024 * 1024, minimum=1024),
        presign_expiry_s=_int("S3_PRESIGN_EXPIRY_S", 900, minimum=60, maximum=7 * 24 * 3600),
    )

    wechat_provider = _choice("WECHAT_PROVIDER", "dev", {"dev", "wechat"})
    wechat = WeChatSettings(
        provider=wechat_provider,
        app_id=_env("WECHAT_APP_ID"),
        app_secret=_env("WECHAT_APP_SECRET"),
        api_base=_env("WECHAT_API_BASE", "https://api.weixin.qq.com") or "",
    )
    if wechat.provider == "wechat" and not (wechat.app_id and wechat.app_secret):
        raise ConfigurationError("WECHAT_PROVIDER=wechat needs WECHAT_APP_ID and WECHAT_APP_SECRET")

    wechatpay = WeChatPaySettings(
        provider=_choice("WECHATPAY_PROVIDER", "dev", {"dev", "wechatpay"}),
        mch_id=_env("WECHATPAY_MCH_ID"),
        app_id=_env("WECHATPAY_APP_ID", wechat.app_id),
        api_v3_key=_env("WECHATPAY_API_V3_KEY"),
        private_key_path=_env("WECHATPAY_PRIVATE_KEY_PATH"),
        cert_serial_no=_env("WECHATPAY_CERT_SERIAL_NO"),
        platform_cert_path=_env("WECHATPAY_PLATFORM_CERT_PATH"),
        notify_url=_env("WECHATPAY_NOTIFY_URL"),
        api_base=_env("WECHATPAY_API_BASE", "https://api.mch.weixin.qq.com") or "",
    )
    if wechatpay.provider == "wechatpay":
        missing = [
            n
            for n, v in {
                "WECHATPAY_MCH_ID": wechatpay.mch_id,
                "WECHATPAY_API_V3_KEY": wechatpay.api_v3_key,
                "WECHATPAY_PRIVATE_KEY_PATH": wechatpay.private_key_path,
                "WECHATPAY_CERT_SERIAL_NO": wechatpay.cert_serial_no,
            }.items()
            if not v
        ]
        if missing:
            raise ConfigurationError(f"WECHATPAY_PROVIDER=wechatpay needs {', '.join(missing)}")
        if wechatpay.api_v3_key and len(wechatpay.api_v3_key) != 32:
            raise ConfigurationError("WECHATPAY_API_V3_KEY must be exactly 32 characters (APIv3 key)")

    alipay = AlipaySettings(
        provider=_choice("ALIPAY_PROVIDER", "dev", {"dev", "alipay"}),
        app_id=_env("ALIPAY_APP_ID"),
        private_key_path=_env("ALIPAY_PRIVATE_KEY_PATH"),
        alipay_public_key_path=_env("ALIPAY_PUBLIC_KEY_PATH"),
        notify_url=_env("ALIPAY_NOTIFY_URL"),
        gateway=_env("ALIPAY_GATEWAY", "https://openapi.alipay.com/gateway.do") or "",
    )
    if alipay.provider == "alipay" and not (
        alipay.app_id and alipay.private_key_path and alipay.alipay_public_key_path
    ):
        raise ConfigurationError(
            "ALIPAY_PROVIDER=alipay needs ALIPAY_APP_ID, ALIPAY_PRIVATE_KEY_PATH and ALIPAY_PUBLIC_KEY_PATH"
        )

    sms = SmsSettings(
        provider=_choice("SMS_PROVIDER", "dev", {"dev", "http"}),
        api_base=_url("SMS_API_BASE", _env("SMS_API_BASE", "https://dysmsapi.aliyuncs.com"), {"http", "https"}) or "",
        access_key=_env("SMS_ACCESS_KEY"),
        secret=_env("SMS_SECRET"),
        sign_name=_env("SMS_SIGN_NAME"),
        templates=_mapping("SMS_TEMPLATES"),
    )
    if sms.provider == "http":
        needed = {"SMS_ACCESS_KEY": sms.access_key, "SMS_SECRET": sms.secret, "SMS_SIGN_NAME": sms.sign_name}
        missing = [n for n, v in needed.items() if not v]
        if missing:
            raise ConfigurationError(f"SMS_PROVIDER=http needs {', '.join(missing)}")

    push = PushSettings(
        quiet_hours=_quiet_hours("PUSH_QUIET_HOURS", "22:00-07:00"),
        wechat_templates=_mapping("PUSH_WECHAT_TEMPLATES"),
        wechat_state=_choice("PUSH_WECHAT_STATE", "formal", {"formal", "trial", "developer"}),
        http_timeout_s=_float("PUSH_HTTP_TIMEOUT_S", 5.0, minimum=0.05),
    )

    citizens = CitizenSettings(
        session_ttl_s=_int("MP_SESSION_TTL_S", 30 * 24 * 3600, minimum=300, maximum=365 * 24 * 3600),
        reopen_window_days=_int("MP_REOPEN_WINDOW_DAYS", 7, minimum=0, maximum=365),
        photo_max_bytes=min(_int("MP_PHOTO_MAX_BYTES", 10 * 1024 * 1024, minimum=1024), storage.upload_max_bytes),
        wechat_callback_token=_env("WECHAT_CALLBACK_TOKEN"),
        open311_api_keys=_mapping("OPEN311_API_KEYS") or ({} if env == "production" else {"demo": "open311-demo-key"}),
        open311_jurisdiction_id=_env("OPEN311_JURISDICTION_ID", "xinzhou.wuhan") or "xinzhou.wuhan",
    )

    settings = Settings(
        app=app,
        db=db,
        redis=redis,
        storage=storage,
        wechat=wechat,
        wechatpay=wechatpay,
        alipay=alipay,
        sms=sms,
        push=push,
        citizens=citizens,
    )
    if env == "production" and settings.any_embedded:
        raise ConfigurationError(
            "production needs DATABASE_URL, REDIS_URL and S3_ENDPOINT; the embedded services are for development"
        )
    return settings


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()


def reset_settings_cache() -> None:
    get_settings.cache_clear()
