"""The console's view bases: who may read and who may write each view (checked on every route, and
the buttons follow), and every write made through a model form recorded in the audit trail
(``backend.audit.service.record``) in the same transaction as the write itself.

Views are bound to the running application by ``admin.app.create_admin`` (``ref``), which subclasses
each one per console, so two applications in one process never share their runtime."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, ClassVar

from sqladmin import BaseView, ModelView
from sqladmin._queries import Query
from sqladmin.authorization import Action
from sqladmin.forms import ModelConverter, converts
from sqladmin.helpers import get_object_identifier
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from wtforms import FloatField, Form, SelectField, validators

from admin.auth import RuntimeRef
from admin.console import ADMIN, CONSOLE_ROLES, audit_actor, error_page, error_text, has_role
from app.request_id import current_request_id
from backend.audit.service import AuditActor, changes, record, snapshot
from backend.db import transaction
from backend.errors import DomainError
from backend.org.service import department_names


def _uuid_or_none(value: Any) -> uuid.UUID | None:
    if value in (None, "", "None"):
        return None
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


class ConsoleConverter(ModelConverter):
    """sqladmin's converter, plus ``Float``: in SQLAlchemy 2.1 it no longer derives from ``Numeric``,
    which is what sqladmin looks for, so coordinates had no form field."""

    @converts("Float", "Double", "DOUBLE_PRECISION", "REAL")
    def conv_float(self, model: type, prop: Any, kwargs: dict[str, Any]) -> Any:
        return FloatField(**kwargs)


class ChineseForm(Form):
    """WTForms' own messages ("This field is required.") in Chinese, from its bundled catalog."""

    class Meta:
        locales = ("zh", "en")


class RuntimeSessions:
    """Stands in for sqladmin's session maker: the running application's sessions, so the console reads
    what the rest of the application sees (and, in tests, the test's transaction)."""

    def __init__(self, ref: RuntimeRef) -> None:
        self.ref = ref

    def __call__(self, **kwargs: Any) -> AsyncSession:
        return self.ref.get().session_factory(**kwargs)


class ConsoleError(Exception):
    """A write refused for a reason the staff member can act on; sqladmin shows ``str()`` on the form."""


@asynccontextmanager
async def writing(ref: RuntimeRef, request: Request, allowed: frozenset[str]) -> AsyncIterator[
    tuple[AsyncSession, AuditActor]
]:  # fmt: skip
    """One transaction for a console write and its audit entry."""
    async with transaction(ref.get().session_factory) as session:
        yield session, audit_actor(request, allowed)


async def audit(
    session: AsyncSession,
    actor: AuditActor,
    view: str,
    action: str,
    object_id: Any = None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> None:
    """The one audit call of the console (the request id comes from the request being served)."""
    await record(
        session, actor, view=view, action=action, object_id=object_id, before=before, after=after,
        request_id=current_request_id(),
    )  # fmt: skip


class ConsoleModelView(ModelView):
    """A table in the console. ``read_roles`` list and open it; ``write_roles`` create, edit and delete
    (as far as ``can_create``/``can_edit``/``can_delete`` allow at all)."""

    ref: ClassVar[RuntimeRef]
    read_roles: ClassVar[frozenset[str]] = CONSOLE_ROLES
    write_roles: ClassVar[frozenset[str]] = ADMIN
    department_columns: ClassVar[tuple[str, ...]] = ()
    """Columns holding a department id: listed by name, edited with a picker."""
    can_export = False
    page_size = 25
    form_converter = ConsoleConverter
    form_base_class = ChineseForm

    def is_accessible(self, request: Request) -> bool:
        return has_role(request, self.read_roles)

    def has_permission(self, request: Request, action: str, obj: Any | None = None) -> bool:
        if not self.is_accessible(request):
            return False
        if action in {Action.LIST, Action.DETAILS, Action.EXPORT}:
            return True
        return has_role(request, self.write_roles)

    def search_placeholder(self) -> str:
        return "搜索：" + super().search_placeholder()

    async def _departments(self, request: Request | None) -> dict[uuid.UUID, str]:
        cached = getattr(request.state, "console_departments", None) if request is not None else None
        if cached is None:
            async with self.ref.get().session_factory() as session:
                cached = await department_names(session)
            if request is not None:
                request.state.console_departments = cached
        return cached

    async def get_list_value(self, obj: Any, prop: str, request: Request | None = None) -> tuple[Any, Any]:
        value, shown = await super().get_list_value(obj, prop, request)
        if prop in self.department_columns and value is not None:
            shown = (await self._departments(request)).get(value, str(value))
        return value, shown

    async def get_detail_value(self, obj: Any, prop: str, request: Request | None = None) -> tuple[Any, Any]:
        value, shown = await super().get_detail_value(obj, prop, request)
        if prop in self.department_columns and value is not None:
            shown = (await self._departments(request)).get(value, str(value))
        return value, shown

    async def scaffold_form(self, rules: list[str] | None = None) -> type[Form]:
        form = await super().scaffold_form(rules)
        if not self.department_columns:
            return form
        names = await self._departments(None)
        choices = [("", "（无）"), *((str(i), n) for i, n in names.items())]
        pickers = {
            column: SelectField(self._column_labels.get(column, column), choices=choices, coerce=_uuid_or_none,
                                validators=[validators.Optional()])
            for column in self.department_columns if column in self._form_prop_names
        }  # fmt: skip
        return type(form.__name__, (form,), pickers)

    def _check_write(self, request: Request) -> None:
        if not has_role(request, self.write_roles):
            raise HTTPException(status_code=403)

    # Hooks: override to call the backend service that owns the rules of the model.
    async def create_object(self, session: AsyncSession, data: dict[str, Any], request: Request) -> Any:
        obj = self.model()
        await self.on_model_change(data, obj, True, request)
        obj = await Query(self)._set_attributes_async(session, obj, data)
        session.add(obj)
        await session.flush()
        return obj

    async def update_object(self, session: AsyncSession, obj: Any, data: dict[str, Any], request: Request) -> Any:
        await self.on_model_change(data, obj, False, request)
        obj = await Query(self)._set_attributes_async(session, obj, data)
        await session.flush()
        return obj

    async def delete_object(self, session: AsyncSession, obj: Any, request: Request) -> None:
        await session.delete(obj)
        await session.flush()

    def audit_notes(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Extra facts for the after-summary of an update (e.g. that a password was replaced)."""
        return {}

    async def _load(self, session: AsyncSession, pk: Any) -> Any:
        obj = await session.scalar(self._stmt_by_identifier(str(pk)).with_for_update())
        if obj is None:
            raise HTTPException(status_code=404)
        return obj

    async def insert_model(self, request: Request, data: dict[str, Any]) -> Any:
        self._check_write(request)
        try:
            async with writing(self.ref, request, self.write_roles) as (session, actor):
                obj = await self.create_object(session, data, request)
                await session.refresh(obj)
                await audit(session, actor, self.identity, "create", get_object_identifier(obj), after=snapshot(obj))
        except DomainError as exc:
            raise ConsoleError(error_text(exc)) from exc
        except IntegrityError as exc:
            raise ConsoleError("与已有记录冲突：编码重复或引用的对象不存在。") from exc
        return obj

    async def update_model(self, request: Request, pk: str, data: dict[str, Any]) -> Any:
        self._check_write(request)
        try:
            async with writing(self.ref, request, self.write_roles) as (session, actor):
                obj = await self._load(session, pk)
                before = snapshot(obj)
                obj = await self.update_object(session, obj, data, request)
                await session.refresh(obj)
                old, new = changes(before, snapshot(obj))
                new.update(self.audit_notes(data))
                await audit(session, actor, self.identity, "update", pk, before=old, after=new)
        except DomainError as exc:
            raise ConsoleError(error_text(exc)) from exc
        except IntegrityError as exc:
            raise ConsoleError("与已有记录冲突：编码重复或引用的对象不存在。") from exc
        return obj

    async def delete_model(self, request: Request, pk: Any) -> None:
        self._check_write(request)
        try:
            async with writing(self.ref, request, self.write_roles) as (session, actor):
                obj = await self._load(session, pk)
                before = snapshot(obj)
                await self.delete_object(session, obj, request)
                await audit(session, actor, self.identity, "delete", pk, before=before)
        except DomainError as exc:
            raise ConsoleError(error_text(exc)) from exc
        except IntegrityError as exc:
            raise ConsoleError("仍被其他记录引用，不能删除。") from exc


class ConsoleBaseView(BaseView):
    """A custom console page; ``read_roles`` open it (every route checks, sqladmin's ``expose`` does)."""

    ref: ClassVar[RuntimeRef]
    read_roles: ClassVar[frozenset[str]] = CONSOLE_ROLES

    def is_accessible(self, request: Request) -> bool:
        return has_role(request, self.read_roles)

    def require(self, request: Request, allowed: frozenset[str]) -> None:
        """A write route's own role check, beyond the page's."""
        if not has_role(request, allowed):
            raise HTTPException(status_code=403, detail="您的角色无权执行此操作")

    async def render(self, request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
        return await self.templates.TemplateResponse(request, template, context, status_code=status)

    async def failed(self, request: Request, exc: DomainError) -> Response:
        return await error_page(request, exc, self.templates)
