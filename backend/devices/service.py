"""The device registry (设备台账): register devices, rotate and revoke their secrets, list them;
and alarm rules (告警规则), checked when saved.

Services flush; the caller (request boundary, job wrapper or CLI) commits. A new or rotated secret
is returned once, in plain text, to be put on the device — only its encrypted form is stored.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.devices.credentials import encrypt_secret, generate_secret
from backend.devices.enums import DeviceStatus, Severity
from backend.devices.rules import RuleError, parse_rule
from backend.errors import Conflict, NotFound, ValidationFailed
from backend.models import AlarmRule, Device, DeviceType, new_id

MAX_LIST = 500


@dataclass(frozen=True)
class IssuedSecret:
    """A device and the secret just issued to it (shown once; the HMAC key of its requests)."""

    device: Device
    secret: str


async def get_device_type(session: AsyncSession, code: str) -> DeviceType:
    device_type = await session.get(DeviceType, code)
    if device_type is None:
        raise NotFound(f"no device type {code!r}", code="device_type_not_found")
    return device_type


async def list_device_types(session: AsyncSession) -> list[DeviceType]:
    return list((await session.scalars(select(DeviceType).order_by(DeviceType.code))).all())


async def get_device(session: AsyncSession, ref: str | uuid.UUID, *, for_update: bool = False) -> Device:
    """A device by id or by code."""
    device_id: uuid.UUID | None = ref if isinstance(ref, uuid.UUID) else None
    if device_id is None:
        try:
            device_id = uuid.UUID(str(ref))
        except ValueError:
            device_id = None
    stmt = select(Device).where(Device.id == device_id if device_id is not None else Device.code == str(ref))
    if for_update:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    device = await session.scalar(stmt)
    if device is None:
        raise NotFound(f"no device {ref!s}", code="device_not_found")
    return device


def _check_location(lat: float | None, lng: float | None) -> None:
    if (lat is None) != (lng is None):
        raise ValidationFailed("give both lat and lng, or neither", code="invalid_location")
    if lat is not None and lng is not None and not (-90 <= lat <= 90 and -180 <= lng <= 180):
        raise ValidationFailed("lat must be within ±90 and lng within ±180 (WGS-84)", code="invalid_location")


async def add_device(
    session: AsyncSession,
    secret_key: str,
    *,
    code: str,
    name: str,
    type_code: str,
    object_kind: str,
    object_id: str,
    lat: float | None = None,
    lng: float | None = None,
    interval_s: int | None = None,
    attrs: dict[str, Any] | None = None,
    firmware: str | None = None,
    secret: str | None = None,
) -> IssuedSecret:
    """Register a device watching ``object_kind``/``object_id``; returns it with its new secret.

    ``lat``/``lng`` (WGS-84) are where it is installed — where its watched object is — and go into
    alarm messages so a case can be placed on the map."""
    device_type = await get_device_type(session, type_code)
    if object_kind not in device_type.object_kinds:
        raise ValidationFailed(
            f"a {type_code} device watches {', '.join(device_type.object_kinds)}, not {object_kind!r}",
            code="invalid_object_kind",
            details={"allowed": list(device_type.object_kinds)},
        )
    if not code.strip() or not object_id.strip():
        raise ValidationFailed("code and object id must not be empty", code="validation_failed")
    interval = interval_s if interval_s is not None else device_type.default_interval_s
    if interval <= 0:
        raise ValidationFailed("the reporting interval must be positive", code="invalid_interval")
    _check_location(lat, lng)
    if await session.scalar(select(Device.id).where(Device.code == code)) is not None:
        raise Conflict(f"a device with code {code!r} exists", code="device_code_taken")
    plain = secret or generate_secret()
    device = Device(
        id=new_id(),
        code=code,
        name=name,
        type_code=type_code,
        object_kind=object_kind,
        object_id=object_id,
        lat=lat,
        lng=lng,
        interval_s=interval,
        attrs=dict(attrs or {}),
        firmware=firmware,
        status=DeviceStatus.ACTIVE.value,
        secret_enc=encrypt_secret(secret_key, plain),
        secret_version=1,
        seq_hwm=-1,
        seq_window=b"",
        rule_state={},
        online=False,
    )
    session.add(device)
    await session.flush()
    return IssuedSecret(device, plain)


async def rotate_secret(session: AsyncSession, secret_key: str, ref: str | uuid.UUID) -> IssuedSecret:
    """Issue a new secret; the old one stops working at once. A rotation is what an operator does
    when a device is re-provisioned (e.g. after a factory reset), so the sequence window restarts."""
    device = await get_device(session, ref, for_update=True)
    if device.status == DeviceStatus.REVOKED:
        raise Conflict("a revoked device cannot get a new secret; register it again", code="device_revoked")
    plain = generate_secret()
    device.secret_enc = encrypt_secret(secret_key, plain)
    device.secret_version += 1
    device.secret_rotated_at = datetime.now(UTC)
    device.seq_hwm = -1
    device.seq_window = b""
    await session.flush()
    return IssuedSecret(device, plain)


async def revoke_device(session: AsyncSession, ref: str | uuid.UUID) -> Device:
    """Refuse the device's requests from now on (403 ``device_revoked``); idempotent."""
    device = await get_device(session, ref, for_update=True)
    if device.status != DeviceStatus.REVOKED:
        device.status = DeviceStatus.REVOKED.value
        device.revoked_at = datetime.now(UTC)
        device.online = False
        await session.flush()
    return device


async def list_devices(
    session: AsyncSession,
    *,
    type_code: str | None = None,
    status: str | None = None,
    object_kind: str | None = None,
    object_id: str | None = None,
    online: bool | None = None,
    limit: int = 100,
) -> list[Device]:
    stmt = select(Device).order_by(Device.code).limit(max(1, min(limit, MAX_LIST)))
    if type_code is not None:
        stmt = stmt.where(Device.type_code == type_code)
    if status is not None:
        stmt = stmt.where(Device.status == status)
    if object_kind is not None:
        stmt = stmt.where(Device.object_kind == object_kind)
    if object_id is not None:
        stmt = stmt.where(Device.object_id == object_id)
    if online is not None:
        stmt = stmt.where(Device.online.is_(online))
    return list((await session.scalars(stmt)).all())


async def add_rule(
    session: AsyncSession,
    *,
    code: str,
    name: str,
    condition: dict[str, Any],
    severity: str,
    device_type_code: str | None = None,
    object_kind: str | None = None,
    clear: dict[str, Any] | None = None,
    schedule: dict[str, Any] | None = None,
    case_category_code: str | None = None,
    enabled: bool = True,
) -> AlarmRule:
    """Save an alarm rule after checking that it parses (a rule that cannot be evaluated is refused)."""
    rule_id = new_id()
    try:
        parse_rule(str(rule_id), condition, clear, schedule)
    except RuleError as exc:
        raise ValidationFailed(f"alarm rule {code!r}: {exc}", code="invalid_alarm_rule") from None
    if severity not in {s.value for s in Severity}:
        raise ValidationFailed(f"severity must be one of {[s.value for s in Severity]}", code="invalid_alarm_rule")
    if device_type_code is not None:
        await get_device_type(session, device_type_code)
    if await session.scalar(select(AlarmRule.id).where(AlarmRule.code == code)) is not None:
        raise Conflict(f"an alarm rule with code {code!r} exists", code="alarm_rule_code_taken")
    rule = AlarmRule(
        id=rule_id,
        code=code,
        name=name,
        device_type_code=device_type_code,
        object_kind=object_kind,
        condition=condition,
        clear=clear,
        severity=severity,
        schedule=schedule,
        case_category_code=case_category_code,
        enabled=enabled,
    )
    session.add(rule)
    await session.flush()
    return rule


def _applicable(type_code: str, object_kind: str) -> list[Any]:
    return [
        AlarmRule.enabled.is_(True),
        or_(AlarmRule.device_type_code.is_(None), AlarmRule.device_type_code == type_code),
        or_(AlarmRule.object_kind.is_(None), AlarmRule.object_kind == object_kind),
    ]


async def rules_for(session: AsyncSession, type_code: str, object_kind: str) -> list[AlarmRule]:
    """The enabled rules that apply to a device of ``type_code`` watching ``object_kind``."""
    stmt = select(AlarmRule).where(*_applicable(type_code, object_kind)).order_by(AlarmRule.code)
    return list((await session.scalars(stmt)).all())


async def rule_rows_for(session: AsyncSession, type_code: str, object_kind: str) -> list[Any]:
    """The same as ``rules_for``, as plain rows (what ingest reads for every batch)."""
    stmt = (
        select(
            AlarmRule.id,
            AlarmRule.code,
            AlarmRule.severity,
            AlarmRule.case_category_code,
            AlarmRule.condition,
            AlarmRule.clear,
            AlarmRule.schedule,
            AlarmRule.updated_at,
        )
        .where(*_applicable(type_code, object_kind))
        .order_by(AlarmRule.code)
    )
    return list((await session.execute(stmt)).all())
