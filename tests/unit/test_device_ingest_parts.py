"""Pure parts of device ingest: request signatures, the sequence window, metric schemas, secrets."""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any

import msgspec
import pytest

from backend.devices.credentials import decrypt_secret, encrypt_secret, generate_secret
from backend.devices.dedupe import SeqVerdict, SeqWindow
from backend.devices.metrics import MetricSchemaError, check_schema, codec_for
from backend.devices.signing import parse_headers, sign, signed_headers, string_to_sign, verify, within_skew

SECRET = "s3cret-device-key-0123456789abcdefghijklmno"
BODY = b'{"readings": []}'


def test_signature_is_hmac_over_method_path_timestamp_nonce_and_body_digest() -> None:
    expected_message = (
        f"POST\n/ingest/v1/telemetry\n1700000000\nnonce-0123456789ab\n{hashlib.sha256(BODY).hexdigest()}"
    ).encode()
    assert string_to_sign("post", "/ingest/v1/telemetry", 1700000000, "nonce-0123456789ab", BODY) == expected_message
    expected = hmac.new(SECRET.encode(), expected_message, hashlib.sha256).hexdigest()
    assert sign(SECRET, "POST", "/ingest/v1/telemetry", 1700000000, "nonce-0123456789ab", BODY) == expected


@pytest.mark.parametrize(
    ("change", "ok"),
    [
        ({}, True),
        ({"body": BODY + b" "}, False),
        ({"path": "/ingest/v1/other"}, False),
        ({"method": "PUT"}, False),
        ({"secret": SECRET + "x"}, False),
    ],
)
def test_verify_refuses_any_change(change: dict[str, Any], ok: bool) -> None:
    headers = signed_headers("dev-1", SECRET, "POST", "/ingest/v1/telemetry", BODY)
    signed = parse_headers({k.lower(): v for k, v in headers.items()})
    assert signed is not None
    args = {"secret": SECRET, "method": "POST", "path": "/ingest/v1/telemetry", "body": BODY, **change}
    assert verify(args["secret"], signed, args["method"], args["path"], args["body"]) is ok


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-device-id": "d", "x-timestamp": "17e8", "x-nonce": "n" * 20, "x-signature": "0" * 64},
        {"x-device-id": "d", "x-timestamp": "1700000000", "x-nonce": "short", "x-signature": "0" * 64},
        {"x-device-id": "d", "x-timestamp": "1700000000", "x-nonce": "n" * 20, "x-signature": "zz" * 32},
        {"x-device-id": "d", "x-timestamp": "1700000000", "x-nonce": "bad nonce with spaces", "x-signature": "0" * 64},
    ],
)
def test_malformed_headers_are_not_parsed(headers: dict[str, str]) -> None:
    assert parse_headers(headers) is None


@pytest.mark.parametrize(
    ("ts", "now", "ok"), [(1000, 1300, True), (1000, 1301, False), (1300, 1000, True), (1301, 1000, False)]
)
def test_clock_skew(ts: int, now: int, ok: bool) -> None:
    assert within_skew(ts, now, 300) is ok


@pytest.mark.parametrize(
    ("seqs", "verdicts"),
    [
        ([1, 2, 3], "NNN"),
        ([3, 2, 1, 2, 3], "NNNDD"),  # out of order is new; repeats are duplicates
        ([0, 0], "ND"),
        ([100, 5], "NT"),  # window of 64: 5 is at or below 100 - 64
        ([100, 37, 36], "NNT"),
        ([10, 200, 150, 10], "NNNT"),  # a jump past the window forgets what was below
        ([10, 12, 11, 12, 13, 11], "NNNDND"),
    ],
)
def test_sequence_window(seqs: list[int], verdicts: str) -> None:
    window = SeqWindow(size=64)
    codes = {SeqVerdict.NEW: "N", SeqVerdict.DUPLICATE: "D", SeqVerdict.TOO_OLD: "T"}
    assert "".join(codes[window.add(s)] for s in seqs) == verdicts


def test_sequence_window_survives_a_round_trip_and_slides() -> None:
    window = SeqWindow(size=64)
    for s in range(0, 50, 2):
        window.add(s)
    hwm, bits = window.dump()
    again = SeqWindow(hwm, bits, 64)
    assert [again.add(s) for s in (48, 47, 20)] == [SeqVerdict.DUPLICATE, SeqVerdict.NEW, SeqVerdict.DUPLICATE]
    assert again.add(90) is SeqVerdict.NEW  # slides up by 42: 26 … 48 stay remembered, below 27 is too old
    assert again.add(30) is SeqVerdict.DUPLICATE
    assert again.add(31) is SeqVerdict.NEW
    assert again.add(26) is SeqVerdict.TOO_OLD


def test_a_resized_window_starts_empty_below_the_high_water_mark() -> None:
    window = SeqWindow(10, b"\xff" * 8, 128)  # stored with a 64-bit window, now 128
    assert window.add(9) is SeqVerdict.NEW and window.add(9) is SeqVerdict.DUPLICATE


SCHEMA = {
    "nh3": {"type": "number", "min": 0, "max": 100},
    "open": {"type": "boolean"},
    "direction": {"type": "string", "enum": ["in", "out"]},
    "plate": {"type": "string", "max_length": 8},
    "free": {"type": "integer", "min": 0},
}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'{"nh3": 0.4}', {"nh3": 0.4}),
        (b'{"nh3": 1, "open": true, "direction": "in", "plate": "E12345", "free": 3}', None),
        (b"{}", {}),
        (b'{"nh3": -1}', "Expected `float` >= 0.0 - at `$.nh3`"),
        (b'{"nh3": 101}', "Expected `float` <= 100.0 - at `$.nh3`"),
        (b'{"free": 1.5}', "Expected `int`, got `float` - at `$.free`"),
        (b'{"direction": "up"}', "Invalid enum value 'up' - at `$.direction`"),
        (b'{"plate": "123456789"}', "Expected `str` of length <= 8 - at `$.plate`"),
        (b'{"smell": 3}', "Object contains unknown field `smell`"),
        (b'{"open": "yes"}', "Expected `bool`, got `str` - at `$.open`"),
    ],
)
def test_metrics_are_checked_against_the_type_schema(raw: bytes, expected: Any) -> None:
    codec = codec_for(SCHEMA)
    if isinstance(expected, str):
        with pytest.raises(msgspec.ValidationError, match=re.escape(expected)):
            codec.decode(raw)
        assert codec.decode_all([b'{"nh3": 1}', raw]) is None
    else:
        values = codec.decode(raw)
        assert values == (expected if expected is not None else msgspec.json.decode(raw))
        assert codec.decode_all([raw, raw]) == [values, values]


def test_required_metrics() -> None:
    codec = codec_for({"free": {"type": "integer", "required": True}, "open": {"type": "boolean"}})
    with pytest.raises(msgspec.ValidationError, match="missing required field `free`"):
        codec.decode(b'{"open": true}')


@pytest.mark.parametrize(
    "schema",
    [
        {},
        {"Bad Name": {"type": "number"}},
        {"x": {"type": "float"}},
        {"x": {"type": "boolean", "min": 0}},
        {"x": {"type": "string", "enum": []}},
        {"x": {"type": "number", "colour": "red"}},
    ],
)
def test_bad_metric_schemas_are_refused(schema: dict[str, Any]) -> None:
    with pytest.raises(MetricSchemaError):
        check_schema(schema)


def test_secrets_are_encrypted_with_a_key_from_secret_key() -> None:
    secret = generate_secret()
    assert len(secret) >= 43 and secret != generate_secret()
    token = encrypt_secret("k" * 40, secret)
    assert secret not in token
    assert decrypt_secret("k" * 40, token) == secret
    assert decrypt_secret("j" * 40, token) is None
