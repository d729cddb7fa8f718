"""SMS (短信) through an HTTP gateway shaped like Aliyun's dysms ``SendSms`` — the shape most Chinese
SMS gateways share: a registered template code, a registered sign name (签名), the template's variables
as a JSON object, and a request signed with the account's secret.

The request is an RPC-style POST (form body, so the phone number never lands in a URL or an access log)
signed with HMAC-SHA1 over the sorted, percent-encoded parameters (Aliyun ``SignatureVersion 1.0``).
Phone numbers are masked in every log line: 138****0000.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from abc import abstractmethod
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import quote

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import Notification
from backend.settings import PushSettings, SmsSettings
from push.enums import Channel
from push.providers.base import ChannelProvider, Outcome, PermanentError, Sent, Suppressed, TransientError
from push.rules import mask_phone, push_logger
from push.templates import get_template, sms_params

log = push_logger("chengguan.push.sms")

API_VERSION = "2017-05-25"
# Gateway codes worth another attempt later; anything else not "OK" is permanent.
RETRYABLE_CODES = {
    "isv.BUSINESS_LIMIT_CONTROL": 60.0,  # per-number frequency limit (1/min, 5/h, 10/day)
    "Throttling.User": 10.0,
    "isp.SYSTEM_ERROR": 10.0,
}


def percent_encode(value: str) -> str:
    """RFC 3986 encoding as the gateway computes it: space → %20, ``*`` → %2A, ``~`` kept."""
    return quote(value, safe="~")


def sign(params: Mapping[str, str], secret: str, method: str = "POST") -> str:
    """The ``Signature`` parameter: base64(HMAC-SHA1(secret + "&", METHOD&%2F&encoded(canonical query)))."""
    canonical = "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params.items()))
    string_to_sign = f"{method}&{percent_encode('/')}&{percent_encode(canonical)}"
    digest = hmac.new(f"{secret}&".encode(), string_to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class Sms(ChannelProvider):
    """Template resolution shared by the real and the dev provider; subclasses only transmit."""

    channel = Channel.SMS

    def __init__(self, sms: SmsSettings) -> None:
        self.templates = dict(sms.templates)

    def template_code(self, event: str) -> str | None:
        return self.templates.get(event)

    async def send(self, session: AsyncSession, notification: Notification, now: datetime) -> Outcome:
        code = self.template_code(notification.event)
        if code is None:
            return Suppressed("no_sms_template_configured")
        params = sms_params(get_template(notification.event), notification.data)
        biz_id = await self.transmit(notification.address, code, params, out_id=str(notification.id))
        return Sent(biz_id, code)

    @abstractmethod
    async def transmit(self, phone: str, template_code: str, params: Mapping[str, str], *, out_id: str) -> str:
        """Send one SMS; return the gateway's id for it."""


class DevSms(Sms):
    """Logs (with the number masked) instead of sending; every event has a code unless configured."""

    def template_code(self, event: str) -> str | None:
        return self.templates.get(event) or f"SMS_DEV_{event.replace('.', '_').upper()}"

    async def transmit(self, phone: str, template_code: str, params: Mapping[str, str], *, out_id: str) -> str:
        log.info("dev sms %s to %s: %s", template_code, mask_phone(phone), dict(params))
        return f"dev-{uuid.uuid4().hex[:16]}"


class HttpSms(Sms):
    """The gateway at ``SMS_API_BASE`` (Aliyun dysms or anything speaking its ``SendSms``)."""

    def __init__(self, sms: SmsSettings, push: PushSettings, *, client: httpx.AsyncClient | None = None) -> None:
        super().__init__(sms)
        if not (sms.access_key and sms.secret and sms.sign_name):
            raise ValueError("SMS_ACCESS_KEY, SMS_SECRET and SMS_SIGN_NAME are needed for SMS_PROVIDER=http")
        self.url = sms.api_base.rstrip("/") + "/"
        self.access_key = sms.access_key
        self.secret = sms.secret
        self.sign_name = sms.sign_name
        self.client = client or httpx.AsyncClient(timeout=push.http_timeout_s)

    def request_params(
        self, phone: str, template_code: str, params: Mapping[str, str], *, out_id: str, now: datetime | None = None
    ) -> dict[str, str]:
        signed = {
            "AccessKeyId": self.access_key,
            "Action": "SendSms",
            "Format": "JSON",
            "OutId": out_id,
            "PhoneNumbers": phone,
            "RegionId": "cn-hangzhou",
            "SignName": self.sign_name,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": uuid.uuid4().hex,
            "SignatureVersion": "1.0",
            "TemplateCode": template_code,
            "TemplateParam": json.dumps(dict(params), ensure_ascii=False, separators=(",", ":")),
            "Timestamp": (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": API_VERSION,
        }
        return {**signed, "Signature": sign(signed, self.secret)}

    async def transmit(self, phone: str, template_code: str, params: Mapping[str, str], *, out_id: str) -> str:
        form = self.request_params(phone, template_code, params, out_id=out_id)
        try:
            response = await self.client.post(self.url, data=form)
        except httpx.TimeoutException:
            log.warning("sms %s to %s timed out", template_code, mask_phone(phone))
            raise TransientError("sms gateway timed out") from None
        except httpx.HTTPError as exc:
            raise TransientError(f"sms gateway unreachable: {type(exc).__name__}") from None
        try:
            body = response.json()
        except ValueError:
            body = {}
        code = str(body.get("Code") or f"HTTP{response.status_code}")
        if response.status_code == 200 and code == "OK":
            log.info("sms %s to %s sent (%s)", template_code, mask_phone(phone), body.get("BizId"))
            return str(body.get("BizId") or "")
        message = f"sms gateway {code}: {body.get('Message', response.reason_phrase)}"
        log.warning("sms %s to %s refused: %s", template_code, mask_phone(phone), message)
        if code in RETRYABLE_CODES or response.status_code >= 500:
            raise TransientError(message, retry_after=RETRYABLE_CODES.get(code))
        raise PermanentError(message)

    async def aclose(self) -> None:
        await self.client.aclose()
