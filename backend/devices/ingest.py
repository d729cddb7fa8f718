"""Telemetry ingest (遥测接入): signed batches of readings → the readings table, live state, alarms.

A batch carries readings of the signing device only (no gateways: a gateway registers each device
behind it and signs each device's batch with that device's secret). For each request, in order:

1. the signature headers (``backend/devices/signing.py``): present and well-formed, timestamp within
   ±``clock_skew_s``, HMAC right for the device's current secret (401 otherwise);
2. the device is not revoked (403 ``device_revoked``);
3. the nonce was not used before (Redis ``SET NX`` kept for twice the skew; 401 ``nonce_replayed``)
   and the device is under its rate limit (Redis counter per minute; 429 ``rate_limited``);
4. under the device row's lock: each reading is checked — for the signing device, inside the
   retention period and not in the future, metrics valid for the device type, sequence number not
   seen before (``backend/devices/dedupe.py``) — and gets a result: ``accepted``, ``duplicate``, or
   ``rejected`` with a reason. Nothing is dropped without saying so;
5. accepted readings are written with COPY into the day-partitioned table; alarm rules run over
   them (``rules.py``, ``alarms.py``); the device row takes the new window, rule state, last-seen;
   a parking gate's (道闸) accepted plate readings open and close parking sessions of the lot the
   gate is installed at (``backend/parking/service.py``) — a malformed one was rejected in step 4;
6. after commit, the newest value of each metric goes to the live state (``backend/live``).

The device row lock serializes batches of one device (they are rare to race: a resend), and
makes the sequence window, the readings and the rule state one atomic change.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import msgspec
from redis.asyncio import Redis
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from backend.devices import alarms
from backend.devices.credentials import decrypt_secret
from backend.devices.dedupe import SeqVerdict, SeqWindow
from backend.devices.enums import DeviceStatus
from backend.devices.metrics import codec_for
from backend.devices.partitions import PartitionCache, days_between, retention_floor
from backend.devices.rules import Rule, RuleError, RuleState, evaluate, parse_rule
from backend.devices.service import rule_rows_for
from backend.devices.settings import IngestSettings, get_ingest_settings
from backend.devices.signing import parse_headers, verify, within_skew
from backend.errors import Forbidden, RateLimited, Unauthorized, ValidationFailed
from backend.live import MetricUpdate
from backend.live import write as write_live
from backend.models import Device, DeviceType
from backend.parking import service as parking

READING_COLUMNS = ["device_id", "ts", "seq", "received_at", "metrics"]
MAX_SEQ = (1 << 53) - 1  # exact in every JSON parser (and in the OpenAPI document)


class Reading(msgspec.Struct, forbid_unknown_fields=True):
    """One reading: the device's id, its sequence number, when it was measured, and the metrics
    (an object checked against the device type's metric schema)."""

    device_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    seq: Annotated[int, msgspec.Meta(ge=0, le=MAX_SEQ)]
    ts: Annotated[datetime, msgspec.Meta(tz=True)]
    metrics: msgspec.Raw


class Batch(msgspec.Struct, forbid_unknown_fields=True):
    readings: Annotated[list[Reading], msgspec.Meta(min_length=1, max_length=100_000)]
    firmware: Annotated[str, msgspec.Meta(min_length=1, max_length=60)] | None = None


class ReadingResult(msgspec.Struct, omit_defaults=True):
    """What became of ``readings[i]`` (same position). ``reason`` is a stable code when rejected
    (``device_mismatch``, ``too_old``, ``in_future``, ``invalid_metrics``, ``no_metrics``,
    ``seq_too_old``; of a parking gate: ``invalid_plate``, ``invalid_direction``, ``no_parking_lot``);
    ``detail`` says more."""

    seq: int
    status: Literal["accepted", "duplicate", "rejected"]
    reason: str | None = None
    detail: str | None = None


class BatchResult(msgspec.Struct):
    device_id: str
    accepted: int
    duplicate: int
    rejected: int
    results: list[ReadingResult]


@dataclass(frozen=True)
class LiveWrite:
    kind: str
    object_id: str
    updates: list[MetricUpdate]


@dataclass
class IngestOutcome:
    result: BatchResult
    live: LiveWrite | None = None
    alarms: list[alarms.AlarmChange] = field(default_factory=list)


@dataclass
class _Credentials:
    secret: str | None
    version: int
    status: str
    loaded: float


# What a batch needs of its device row (read under the row lock; a plain row, not an ORM object).
_LOCKED_COLUMNS = (
    Device.id,
    Device.code,
    Device.status,
    Device.secret_version,
    Device.type_code,
    Device.object_kind,
    Device.object_id,
    Device.lat,
    Device.lng,
    Device.interval_s,
    Device.attrs,
    Device.firmware,
    Device.seq_hwm,
    Device.seq_window,
    Device.rule_state,
)


def _reject(seq: int, reason: str, detail: str | None = None) -> ReadingResult:
    return ReadingResult(seq, "rejected", reason, detail)


async def _check_gate_events(
    session: AsyncSession,
    device: Any,
    readings: list[Reading],
    candidates: list[int],
    decoded: list[dict[str, Any] | None],
    results: list[ReadingResult | None],
) -> bool:
    """Of a parking gate's batch: reject each plate reading that cannot be a gate event (a misread
    plate, half an event, a gate not installed at a known lot) — before the sequence window, so a
    rejected reading does not use up its number. True when some events are left."""
    lot_known: bool | None = None  # looked up once, and only for a batch with events
    left = False
    for position, (index, values) in enumerate(zip(candidates, decoded, strict=True)):
        if values is None:
            continue
        try:
            if parking.gate_event_of(values) is None:
                continue
        except ValidationFailed as exc:
            results[index] = _reject(readings[index].seq, exc.code, exc.message)
            decoded[position] = None
            continue
        if lot_known is None:
            lot_known = device.object_kind == parking.LOT_KIND and await parking.lot_exists(session, device.object_id)
        if not lot_known:
            results[index] = _reject(
                readings[index].seq,
                "no_parking_lot",
                f"the gate is installed at {device.object_kind} {device.object_id!r}, not at a known parking lot",
            )
            decoded[position] = None
            continue
        left = True
    return left


class Ingestor:
    """Device ingest of one process: keeps decrypted secrets for ``auth_cache_s`` and the days that
    have a partition; everything else is read per batch (and re-checked under the row lock)."""

    def __init__(
        self, engine: AsyncEngine, redis: Redis, secret_key: str, settings: IngestSettings | None = None
    ) -> None:
        self.engine = engine
        self.redis = redis
        self.secret_key = secret_key
        self.settings = settings or get_ingest_settings()
        self.partitions = PartitionCache()
        self._credentials: dict[uuid.UUID, _Credentials] = {}
        self._rules: dict[tuple[uuid.UUID, datetime], Rule | None] = {}

    # --- authentication -----------------------------------------------------------------------------

    async def _load_credentials(self, session: AsyncSession, device_id: uuid.UUID) -> _Credentials | None:
        row = (
            await session.execute(
                select(Device.secret_enc, Device.secret_version, Device.status).where(Device.id == device_id)
            )
        ).one_or_none()
        if row is None:
            self._credentials.pop(device_id, None)
            return None
        creds = _Credentials(decrypt_secret(self.secret_key, row[0]), row[1], row[2], time.monotonic())
        self._credentials[device_id] = creds
        return creds

    async def authenticate(
        self, session: AsyncSession, headers: Mapping[str, str], method: str, path: str, body: bytes, now: datetime
    ) -> tuple[uuid.UUID, int]:
        """The device that signed this request and the secret version it used; raises
        ``Unauthorized`` (401) or ``Forbidden`` (403, revoked)."""
        signed = parse_headers(headers)
        if signed is None:
            raise Unauthorized(
                "X-Device-Id, X-Timestamp, X-Nonce and X-Signature are required and must be well-formed",
                code="signature_missing",
            )
        if not within_skew(signed.timestamp, now.timestamp(), self.settings.clock_skew_s):
            raise Unauthorized(
                f"X-Timestamp is more than {self.settings.clock_skew_s} s away from the server clock",
                code="timestamp_skew",
                details={"server_time": int(now.timestamp())},
            )
        try:
            device_id = uuid.UUID(signed.device_id)
        except ValueError:
            raise Unauthorized("unknown device or wrong signature", code="signature_invalid") from None
        creds = self._credentials.get(device_id)
        cached = creds is not None and time.monotonic() - creds.loaded < self.settings.auth_cache_s
        if not cached:
            creds = await self._load_credentials(session, device_id)
        ok = creds is not None and creds.secret is not None and verify(creds.secret, signed, method, path, body)
        if not ok and cached:  # the secret may have been rotated since we cached it
            creds = await self._load_credentials(session, device_id)
            ok = creds is not None and creds.secret is not None and verify(creds.secret, signed, method, path, body)
        if not ok or creds is None:
            raise Unauthorized("unknown device or wrong signature", code="signature_invalid")
        if creds.status != DeviceStatus.ACTIVE:
            raise Forbidden("this device has been revoked", code="device_revoked")
        return device_id, creds.version

    async def admit(self, device_id: uuid.UUID, nonce: str, now: datetime) -> None:
        """Refuse a replayed nonce and a device over its rate limit (one Redis round trip)."""
        minute = int(now.timestamp()) // 60
        rate_key = f"ingest:rate:{device_id}:{minute}"
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(f"ingest:nonce:{device_id}:{nonce}", b"1", nx=True, ex=self.settings.nonce_ttl_s)
            pipe.incr(rate_key)
            pipe.expire(rate_key, 120)
            fresh, count, _ = await pipe.execute()
        if not fresh:
            raise Unauthorized("this nonce was used already", code="nonce_replayed")
        if int(count) > self.settings.rate_per_min:
            raise RateLimited(
                f"more than {self.settings.rate_per_min} requests in a minute from this device",
                code="rate_limited",
                details={"limit_per_min": self.settings.rate_per_min, "retry_after_s": 60 - int(now.timestamp()) % 60},
            )

    # --- the batch ------------------------------------------------------------------------------------

    async def ingest(
        self,
        session: AsyncSession,
        *,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes,
        batch: Batch,
        now: datetime | None = None,
    ) -> IngestOutcome:
        now = now or datetime.now(UTC)
        device_id, version = await self.authenticate(session, headers, method, path, body, now)
        signed = parse_headers(headers)
        assert signed is not None
        await self.admit(device_id, signed.nonce, now)
        if len(batch.readings) > self.settings.max_batch:
            raise ValidationFailed(
                f"at most {self.settings.max_batch} readings per batch",
                code="batch_too_large",
                details={"max_batch": self.settings.max_batch},
            )
        return await self._store(session, device_id, version, batch, now)

    def _rule(self, row: Any) -> Rule | None:
        key = (row.id, row.updated_at)
        if key not in self._rules:
            try:
                self._rules[key] = parse_rule(str(row.id), row.condition, row.clear, row.schedule)
            except RuleError:
                self._rules[key] = None  # refused when saved; a hand-edited bad rule is skipped
        return self._rules[key]

    async def _store(
        self, session: AsyncSession, device_id: uuid.UUID, version: int, batch: Batch, now: datetime
    ) -> IngestOutcome:
        device = (
            await session.execute(
                select(*_LOCKED_COLUMNS, DeviceType.metrics)
                .join(DeviceType, DeviceType.code == Device.type_code)
                .where(Device.id == device_id)
                .with_for_update(of=Device)
            )
        ).one_or_none()
        if device is None:
            raise Unauthorized("unknown device or wrong signature", code="signature_invalid")
        if device.status != DeviceStatus.ACTIVE:
            self._credentials.pop(device_id, None)
            raise Forbidden("this device has been revoked", code="device_revoked")
        if device.secret_version != version:
            self._credentials.pop(device_id, None)
            raise Unauthorized("the device's secret was rotated", code="signature_invalid")

        codec = codec_for(device.metrics)
        window = SeqWindow(device.seq_hwm, device.seq_window, self.settings.seq_window)
        floor = retention_floor(now, self.settings.retention_days)
        ceiling = now + timedelta(seconds=self.settings.clock_skew_s)
        me = str(device_id)
        readings = batch.readings
        results: list[ReadingResult | None] = [None] * len(readings)
        # First pass: what can be decided without the metrics.
        candidates: list[int] = []
        raws: list[bytes] = []
        for index, reading in enumerate(readings):
            raw = bytes(reading.metrics)
            if raw[:1] != b"{":  # the envelope's shape: the whole batch is malformed (400)
                raise ValidationFailed(
                    "metrics must be an object",
                    code="validation_failed",
                    details=[{"key": f"readings[{index}].metrics"}],
                )
            if reading.device_id != me:
                results[index] = _reject(reading.seq, "device_mismatch", "a batch carries the signing device's only")
                continue
            ts = reading.ts
            if ts < floor or ts > ceiling:
                results[index] = _reject(reading.seq, "too_old" if ts < floor else "in_future", ts.isoformat())
                continue
            candidates.append(index)
            raws.append(raw)
        # The metrics of all candidates in one decode; one by one only when some are invalid.
        decoded: list[dict[str, Any] | None] | None = codec.decode_all(raws)  # type: ignore[assignment]
        if decoded is None:
            decoded = []
            for index, raw in zip(candidates, raws, strict=True):
                try:
                    decoded.append(codec.decode(raw))
                except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                    results[index] = _reject(readings[index].seq, "invalid_metrics", str(exc))
                    decoded.append(None)
        # A parking gate's plate readings are also gate events: checked here, recorded below.
        gate_events = device.type_code == parking.GATE_DEVICE_TYPE and await _check_gate_events(
            session, device, readings, candidates, decoded, results
        )
        # Second pass, in batch order: the sequence window.
        records: list[tuple[Any, ...]] = []
        evaluated: list[tuple[datetime, dict[str, Any]]] = []
        duplicates = 0
        new, duplicate = SeqVerdict.NEW, SeqVerdict.DUPLICATE
        for index, raw, values in zip(candidates, raws, decoded, strict=True):
            if values is None:
                continue
            seq = readings[index].seq
            if not values:
                results[index] = _reject(seq, "no_metrics", "a reading needs at least one metric")
                continue
            verdict = window.add(seq)
            if verdict is new:
                ts = readings[index].ts
                results[index] = ReadingResult(seq, "accepted")
                records.append((device_id, ts, seq, now, raw.decode()))
                evaluated.append((ts, values))
            elif verdict is duplicate:
                results[index] = ReadingResult(seq, "duplicate")
                duplicates += 1
            else:
                results[index] = _reject(seq, "seq_too_old", f"at or below {window.hwm - window.size}")
        rejected = len(readings) - len(records) - duplicates

        changes: list[alarms.AlarmChange] = []
        rule_state = dict(device.rule_state)
        if records:
            evaluated.sort(key=lambda pair: pair[0])
            await self.partitions.ensure(self.engine, days_between(evaluated[0][0], evaluated[-1][0]))
            connection = await session.connection()
            raw_connection = await connection.get_raw_connection()
            await raw_connection.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
                "device_readings", records=records, columns=READING_COLUMNS
            )
            ref = alarms.device_ref(device)
            for row in await rule_rows_for(session, device.type_code, device.object_kind):
                rule = self._rule(row)
                if rule is None:
                    continue
                key = str(row.id)
                state = msgspec.convert(rule_state.get(key, {}), RuleState)
                new_state, events = evaluate(rule, state, evaluated, device.attrs)
                rule_state[key] = msgspec.to_builtins(new_state)
                if events:
                    changes += await alarms.apply_events(session, ref, alarms.rule_ref(row, rule), events)
            if gate_events:
                await parking.record_gate_readings(session, lot_ref=device.object_id, device_id=me, readings=evaluated)

        hwm, bitmap = window.dump()
        await session.execute(
            update(Device)
            .where(Device.id == device_id)
            .values(
                seq_hwm=hwm,
                seq_window=bitmap,
                rule_state=rule_state,
                last_seen_at=now,
                online=True,
                firmware=batch.firmware or device.firmware,
            )
            .execution_options(synchronize_session=False)
        )

        live: LiveWrite | None = None
        if evaluated:
            newest: dict[str, tuple[datetime, Any]] = {}
            known = len(device.metrics)
            for ts, values in reversed(evaluated):  # newest first; usually the last reading has them all
                for metric, value in values.items():
                    if metric not in newest:
                        newest[metric] = (ts, value)
                if len(newest) == known:
                    break
            live = LiveWrite(
                device.object_kind,
                device.object_id,
                [MetricUpdate(m, v, ts, me, device.interval_s) for m, (ts, v) in newest.items()],
            )
        result = BatchResult(
            device_id=me,
            accepted=len(records),
            duplicate=duplicates,
            rejected=rejected,
            results=results,  # type: ignore[arg-type]  # every position is filled by now
        )
        return IngestOutcome(result, live, changes)

    async def publish_live(self, live: LiveWrite | None) -> None:
        """After commit: the newest values become the object's live state."""
        if live is not None:
            await write_live(self.redis, live.kind, live.object_id, live.updates)
