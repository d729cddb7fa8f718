"""An SMS gateway peer speaking Aliyun dysms ``SendSms`` (RPC style, ``SignatureVersion 1.0``):

``POST /`` with the form-encoded parameters. It recomputes the signature itself (HMAC-SHA1 over
``POST&%2F&`` + the percent-encoded sorted query, key ``secret + "&"``) and answers like the gateway:
``{"Code": "OK", "BizId", "RequestId", "Message": "OK"}``; ``InvalidAccessKeyId.NotFound`` (404),
``SignatureDoesNotMatch`` (400), ``SignatureNonceUsed`` (400), ``isv.SMS_SIGNATURE_ILLEGAL``,
``isv.SMS_TEMPLATE_ILLEGAL``, ``isv.MOBILE_NUMBER_ILLEGAL``, and the per-number flow control
``isv.BUSINESS_LIMIT_CONTROL`` (more than ``per_minute`` messages to one number in a minute).
``slow_s`` delays every answer (timeouts).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from peers._http import PeerHandler, PeerServer


def _enc(value: str) -> str:
    # Written out independently of the provider: RFC 3986 unreserved characters stay, the rest is %XX.
    return "".join(
        ch if re.match(r"[A-Za-z0-9\-_.~]", ch) else "".join(f"%{b:02X}" for b in ch.encode()) for ch in value
    )


def expected_signature(params: dict[str, str], secret: str) -> str:
    canonical = "&".join(f"{_enc(k)}={_enc(v)}" for k, v in sorted(params.items()) if k != "Signature")
    to_sign = "POST&%2F&" + _enc(canonical)
    return base64.b64encode(hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()).decode()


class _Handler(PeerHandler):
    def do_POST(self) -> None:
        form = {k: v[0] for k, v in parse_qs(self.body().decode(), keep_blank_values=True).items()}
        if self.peer.slow_s:
            time.sleep(self.peer.slow_s)
        status, payload = self.peer.send_sms(form)
        self.reply(status, {**payload, "RequestId": secrets.token_hex(8).upper()})


class SmsPeer(PeerServer):
    handler = _Handler

    def __init__(
        self,
        access_key: str = "LTAI-test-key",
        secret: str = "test-secret-0123456789",
        sign_name: str = "新洲城管",
        templates: tuple[str, ...] = ("SMS_100001", "SMS_100002", "SMS_100003"),
        per_minute: int = 1,
    ) -> None:
        super().__init__()
        self.access_key = access_key
        self.secret = secret
        self.sign_name = sign_name
        self.templates = set(templates)
        self.per_minute = per_minute
        self.slow_s = 0.0
        self.sent: list[dict[str, Any]] = []
        self.rejected: list[str] = []
        self._nonces: set[str] = set()
        self._recent: dict[str, list[float]] = defaultdict(list)

    def send_sms(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            status, payload = self._check(form)
            if payload["Code"] != "OK":
                self.rejected.append(payload["Code"])
            return status, payload

    def _check(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        required = ["AccessKeyId", "Action", "PhoneNumbers", "SignName", "TemplateCode", "Signature"]
        required += ["SignatureMethod", "SignatureNonce", "SignatureVersion", "Timestamp", "Version"]
        missing = [k for k in required if not form.get(k)]
        if missing:
            return 400, {"Code": "MissingParameter", "Message": f"{missing[0]} is mandatory for this action."}
        if form["Action"] != "SendSms" or form["Version"] != "2017-05-25":
            return 400, {"Code": "InvalidAction.NotFound", "Message": "Specified api is not found"}
        if form["AccessKeyId"] != self.access_key:
            return 404, {"Code": "InvalidAccessKeyId.NotFound", "Message": "Specified access key is not found."}
        if form["SignatureMethod"] != "HMAC-SHA1" or form["SignatureVersion"] != "1.0":
            return 400, {"Code": "InvalidSignatureMethod", "Message": "Specified signature method is not supported."}
        if not hmac.compare_digest(form["Signature"], expected_signature(form, self.secret)):
            return 400, {"Code": "SignatureDoesNotMatch", "Message": "Specified signature is not matched."}
        stamp = datetime.strptime(form["Timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        if abs((datetime.now(UTC) - stamp).total_seconds()) > 900:
            return 400, {"Code": "InvalidTimeStamp.Expired", "Message": "Specified time stamp has expired."}
        if form["SignatureNonce"] in self._nonces:
            return 400, {"Code": "SignatureNonceUsed", "Message": "Specified signature nonce was used already."}
        self._nonces.add(form["SignatureNonce"])
        if form["SignName"] != self.sign_name:
            return 200, {"Code": "isv.SMS_SIGNATURE_ILLEGAL", "Message": "签名不合法"}
        if form["TemplateCode"] not in self.templates:
            return 200, {"Code": "isv.SMS_TEMPLATE_ILLEGAL", "Message": "模板不合法"}
        try:
            params = json.loads(form.get("TemplateParam") or "{}")
            assert isinstance(params, dict)
        except (ValueError, AssertionError):
            return 200, {"Code": "isv.INVALID_JSON_PARAM", "Message": "JSON参数不合法"}
        phone = form["PhoneNumbers"]
        if not re.fullmatch(r"(\+?86)?1[3-9]\d{9}", phone):
            return 200, {"Code": "isv.MOBILE_NUMBER_ILLEGAL", "Message": "非法手机号"}
        now = time.monotonic()
        recent = [t for t in self._recent[phone] if now - t < 60]
        if len(recent) >= self.per_minute:
            self._recent[phone] = recent
            return 200, {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": f"触发分钟级流控Permits:{self.per_minute}"}
        self._recent[phone] = [*recent, now]
        biz_id = f"{secrets.randbelow(10**15):015d}^0"
        self.sent.append(
            {"phone": phone, "template": form["TemplateCode"], "params": params, "out_id": form.get("OutId")}
        )
        return 200, {"Code": "OK", "Message": "OK", "BizId": biz_id}
