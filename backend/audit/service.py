"""审计日志 — the one helper every admin write and action calls (``record``), plus the summaries it stores.

An entry is added to the caller's session, so it commits (or rolls back) with the write it describes.
Summaries are JSON-safe column values; secrets (password hashes, device secrets) never enter the trail.
"""

from __future__ import annotations

import base64
import enum
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import inspect, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.errors import ValidationFailed
from backend.models import AuditLog

REDACTED: Final = "***"
SECRET_FIELDS: Final = frozenset({"password", "password_hash", "secret", "secret_enc", "seq_window"})
"""Fields whose values are never written to the trail — only that they changed."""
TEXT_LIMIT: Final = 500
"""Long text (a notice body, a GeoJSON file) is cut in the summary; the object itself keeps it all."""


@dataclass(frozen=True)
class AuditActor:
    """Who writes: the signed-in staff member and the role that allowed the write."""

    staff_id: uuid.UUID | None
    username: str
    role: str


def json_safe(value: Any) -> Any:
    """A value as JSON would hold it: ids and instants as strings, long text cut."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return value if len(value) <= TEXT_LIMIT else value[:TEXT_LIMIT] + "…"
    if isinstance(value, enum.Enum):
        return json_safe(value.value)
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value[:48]).decode() if value else ""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, Iterable):
        return [json_safe(v) for v in value]
    return str(value)


def summarize(values: Mapping[str, Any], fields: Iterable[str] | None = None) -> dict[str, Any]:
    """The JSON-safe summary of ``values`` (all keys, or just ``fields``), secrets redacted."""
    keys = list(values) if fields is None else [f for f in fields if f in values]
    return {k: REDACTED if k in SECRET_FIELDS else json_safe(values[k]) for k in keys}


def snapshot(obj: Any) -> dict[str, Any]:
    """Column values of an ORM object (what an update is compared against), secrets redacted."""
    state = inspect(obj)
    unloaded = state.unloaded  # expired server-side values (e.g. ``updated_at``) are not fetched here
    return summarize({c.key: getattr(obj, c.key) for c in state.mapper.column_attrs if c.key not in unloaded})


def changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only what changed: ``(before, after)`` restricted to the keys whose values differ."""
    changed = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in changed}, {k: after[k] for k in changed}


async def record(
    session: AsyncSession,
    actor: AuditActor,
    *,
    view: str,
    action: str,
    object_id: Any = None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    request_id: str = "-",
) -> AuditLog:
    """Add one audit entry to the caller's transaction (flushed, so a broken entry fails the write)."""
    if not view or not action:
        raise ValidationFailed("an audit entry names its view and action", code="invalid_audit_entry")
    entry = AuditLog(
        staff_id=actor.staff_id,
        username=actor.username[:60],
        role=actor.role[:20],
        view=view[:60],
        action=action[:40],
        object_id=None if object_id is None else str(object_id)[:100],
        before=summarize(before) if before is not None else None,
        after=summarize(after) if after is not None else None,
        request_id=(request_id or "-")[:64],
    )
    session.add(entry)
    await session.flush()
    return entry


async def entries_for(session: AsyncSession, view: str, object_id: Any, *, limit: int = 50) -> list[AuditLog]:
    """The newest entries about one object."""
    stmt = (
        select(AuditLog)
        .where(AuditLog.view == view, AuditLog.object_id == str(object_id))
        .order_by(AuditLog.at.desc(), AuditLog.id.desc())
        .limit(max(1, min(limit, 500)))
    )
    return list((await session.scalars(stmt)).all())
