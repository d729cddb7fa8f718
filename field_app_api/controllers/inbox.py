"""The field app's inbox (收件箱): tasks, urges, overdue notices and alarms sent by ``push``, with a live
stream (Server-Sent Events) and the staff member's notification preferences."""

from __future__ import annotations

import uuid

from litestar import Controller, get, post, put
from litestar.datastructures import State
from litestar.params import Parameter
from litestar.response import Stream
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import InboxItem
from backend.org.tokens import StaffClaims
from field_app_api.schemas import (
    InboxItemOut,
    InboxPageOut,
    MarkedReadOut,
    PreferenceOut,
    PreferencesIn,
    UnreadCountOut,
)
from push import inbox
from push.enums import Box, RecipientKind
from push.service import preferences, set_preferences

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _item_out(item: InboxItem) -> InboxItemOut:
    return InboxItemOut(
        id=str(item.id),
        event=item.event,
        title=item.title,
        body=item.body,
        data=item.data,
        urgent=item.urgent,
        read=item.read_at is not None,
        created_at=item.created_at,
        read_at=item.read_at,
    )


class InboxController(Controller):
    path = "/inbox"
    tags = ["inbox"]

    @get("", summary="My inbox, newest first")
    async def list_inbox(
        self,
        staff: StaffClaims,
        db_session: AsyncSession,
        limit: int = Parameter(default=20, ge=1, le=inbox.MAX_LIMIT),
        cursor: str | None = Parameter(default=None, max_length=64),
        unread_only: bool = False,
    ) -> InboxPageOut:
        page = await inbox.list_items(
            db_session, staff.staff_id, Box.FIELD, limit=limit, cursor=cursor, unread_only=unread_only
        )
        return InboxPageOut([_item_out(i) for i in page.items], page.next_cursor, page.unread_count)

    @get("/unread-count", summary="How many of my inbox items are unread")
    async def unread_count(self, staff: StaffClaims, db_session: AsyncSession) -> UnreadCountOut:
        return UnreadCountOut(await inbox.unread_count(db_session, staff.staff_id, Box.FIELD))

    @post("/{item_id:uuid}/read", summary="Mark an inbox item read", status_code=200)
    async def mark_read(
        self, staff: StaffClaims, db_session: AsyncSession, state: State, item_id: uuid.UUID
    ) -> InboxItemOut:
        item = await inbox.mark_read(db_session, state.runtime.redis, staff.staff_id, Box.FIELD, item_id)
        return _item_out(item)

    @post("/read-all", summary="Mark every inbox item read", status_code=200)
    async def mark_all_read(self, staff: StaffClaims, db_session: AsyncSession, state: State) -> MarkedReadOut:
        marked = await inbox.mark_all_read(db_session, state.runtime.redis, staff.staff_id, Box.FIELD)
        return MarkedReadOut(marked=marked, unread_count=0)

    @get(
        "/stream",
        summary="Live inbox (Server-Sent Events)",
        description=(
            "`event: ready` (unread_count) on connect; then `event: inbox` for each new item (`id:` is the item id, "
            "`data:` the item with `unread_count`), `event: read` when items are read on another device, and a "
            "`: keepalive` comment every 15 s. Reconnect with `Last-Event-ID` to receive what was missed (up to 100). "
            "`event: resync` means the stream fell behind: reload the list and reconnect."
        ),
        media_type="text/event-stream",
    )
    async def stream(
        self,
        staff: StaffClaims,
        state: State,
        last_event_id: str | None = Parameter(header="Last-Event-ID", default=None, max_length=64),
    ) -> Stream:
        runtime = state.runtime
        body = inbox.stream(runtime.session_factory, runtime.redis, staff.staff_id, Box.FIELD, last_event_id)
        return Stream(body, media_type="text/event-stream", headers=SSE_HEADERS)


class NotificationPreferencesController(Controller):
    path = "/notification-preferences"
    tags = ["inbox"]

    @get("", summary="Which notifications I get, by event and channel")
    async def get_preferences(self, staff: StaffClaims, db_session: AsyncSession) -> list[PreferenceOut]:
        views = await preferences(db_session, RecipientKind.STAFF, str(staff.staff_id))
        return [PreferenceOut(v.event, v.label, v.channel, v.enabled, v.locked) for v in views]

    @put("", summary="Switch notification channels on or off (event `*` for all events)")
    async def put_preferences(
        self, staff: StaffClaims, db_session: AsyncSession, data: PreferencesIn
    ) -> list[PreferenceOut]:
        changes = [(c.event, c.channel, c.enabled) for c in data.changes]
        views = await set_preferences(db_session, RecipientKind.STAFF, str(staff.staff_id), changes)
        return [PreferenceOut(v.event, v.label, v.channel, v.enabled, v.locked) for v in views]
