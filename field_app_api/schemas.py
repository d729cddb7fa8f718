"""Wire types of the field app API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec


class LoginIn(msgspec.Struct, forbid_unknown_fields=True):
    username: Annotated[str, msgspec.Meta(min_length=1, max_length=60)]
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    device_id: Annotated[str, msgspec.Meta(min_length=1, max_length=100)] | None = None


class RefreshIn(msgspec.Struct, forbid_unknown_fields=True):
    refresh_token: Annotated[str, msgspec.Meta(min_length=1, max_length=4000)]


class StaffOut(msgspec.Struct):
    id: str
    username: str
    name: str
    roles: list[str]
    department_id: str | None


class TokenOut(msgspec.Struct):
    access_token: str
    refresh_token: str
    token_type: str
    expires_in: int
    staff: StaffOut


class InboxItemOut(msgspec.Struct):
    """收件箱消息 — a task, an urge, an overdue notice or an alarm, as the field app shows it."""

    id: str
    event: str
    title: str
    body: str
    data: dict[str, Any]
    urgent: bool
    read: bool
    created_at: datetime
    read_at: datetime | None


class InboxPageOut(msgspec.Struct):
    items: list[InboxItemOut]
    next_cursor: str | None
    unread_count: int


class UnreadCountOut(msgspec.Struct):
    unread_count: int


class MarkedReadOut(msgspec.Struct):
    marked: int
    unread_count: int


class PreferenceOut(msgspec.Struct):
    event: str
    label: str
    channel: str
    enabled: bool
    locked: bool


class PreferenceChange(msgspec.Struct, forbid_unknown_fields=True):
    event: Annotated[str, msgspec.Meta(min_length=1, max_length=50)]
    channel: Annotated[str, msgspec.Meta(min_length=1, max_length=20)]
    enabled: bool


class PreferencesIn(msgspec.Struct, forbid_unknown_fields=True):
    changes: Annotated[list[PreferenceChange], msgspec.Meta(min_length=1, max_length=100)]
