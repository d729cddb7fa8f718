"""The payment-service interface (支付) the business services pay through — parking fees now, gas
orders later — so that ``backend`` never imports ``payments/`` (imports go surfaces → payments →
backend).

- A **provider** (``PaymentProvider``) takes an order and returns what the client needs to pay it
  (for WeChat Pay the ``wx.requestPayment`` parameters, for Alipay the ``tradeNO``), and can be asked
  how an order stands. ``payments/`` implements WeChat Pay (API v3) and Alipay and registers them
  with ``register_provider("wechatpay", factory)`` / ``register_provider("alipay", factory)`` when
  imported; ``DevPaymentProvider`` (``WECHATPAY_PROVIDER=dev`` / ``ALIPAY_PROVIDER=dev``, the default)
  answers at once that the order is paid, so the demo and the tests run end to end.
- A **paid notice** goes back to the business that created the order: each business registers a
  handler for its ``purpose`` (``on_paid("parking", handler)``); ``payments/`` calls
  ``await notify_paid(session, notice)`` once it has verified a provider's notification (signature,
  amount, app id, merchant). Handlers are idempotent — a notice for an order already paid does
  nothing — and raise ``Conflict`` when the amount differs from the order (``payments/`` then refunds).

Amounts are integer fen everywhere.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, Protocol, runtime_checkable

from sqlalchemy.ext.asyncio import AsyncSession

from backend.errors import DomainError, NotFound

Channel = Literal["wechat", "alipay"]
IntentState = Literal["pending", "paid", "closed"]


class PaymentUnavailable(DomainError):
    """The configured provider is not installed or cannot be reached."""

    code = "payment_unavailable"
    status_hint = 503


@dataclass(frozen=True)
class PaymentOrder:
    """What is to be paid: our order number (6–32 of ``A-Za-z0-9_-``), the amount, a description for
    the payer's bill, who pays (the WeChat openid for JSAPI payments), and what it is for."""

    out_trade_no: str
    amount_fen: int
    description: str
    purpose: str
    channel: Channel
    payer_openid: str | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True)
class PaymentIntent:
    """A provider's answer for an order: its state, the provider's transaction id once paid, and the
    parameters the client passes to ``wx.requestPayment`` / ``my.tradePay`` while pending."""

    provider: str
    out_trade_no: str
    state: IntentState
    amount_fen: int
    client_params: dict[str, str] = field(default_factory=dict)
    transaction_id: str | None = None
    paid_at: datetime | None = None


@runtime_checkable
class PaymentProvider(Protocol):
    name: str

    async def create(self, order: PaymentOrder) -> PaymentIntent:
        """Place the order with the provider (idempotent for the same ``out_trade_no``)."""
        ...

    async def query(self, out_trade_no: str) -> PaymentIntent:
        """How the order stands now (for pending orders the notification has not settled)."""
        ...


class DevPaymentProvider:
    """The demo's provider: every order is paid the moment it is placed (no money moves)."""

    name = "dev"

    def __init__(self) -> None:
        self._orders: dict[str, PaymentIntent] = {}

    async def create(self, order: PaymentOrder) -> PaymentIntent:
        intent = self._orders.get(order.out_trade_no)
        if intent is None:
            intent = PaymentIntent(
                provider=self.name,
                out_trade_no=order.out_trade_no,
                state="paid",
                amount_fen=order.amount_fen,
                transaction_id=f"dev-{uuid.uuid4().hex[:24]}",
                paid_at=datetime.now(UTC),
            )
            self._orders[order.out_trade_no] = intent
        return intent

    async def query(self, out_trade_no: str) -> PaymentIntent:
        intent = self._orders.get(out_trade_no)
        if intent is None:
            raise NotFound(f"no order {out_trade_no}", code="payment_not_found")
        return intent


ProviderFactory = Callable[[], PaymentProvider]
_FACTORIES: dict[str, ProviderFactory] = {}
_DEV = DevPaymentProvider()


def register_provider(name: str, factory: ProviderFactory) -> None:
    """Make a real provider available by the name settings use (``wechatpay``, ``alipay``)."""
    _FACTORIES[name] = factory


def provider_for(channel: Channel, configured: str) -> PaymentProvider:
    """The provider of a channel by its setting (``WECHATPAY_PROVIDER`` / ``ALIPAY_PROVIDER``)."""
    if configured == "dev":
        return _DEV
    factory = _FACTORIES.get(configured)
    if factory is None:
        raise PaymentUnavailable(f"{channel} payments are not available here ({configured} is not installed)")
    return factory()


# --- paid notices back to the business ------------------------------------------------------------------


@dataclass(frozen=True)
class PaidNotice:
    """A verified "paid" from a provider."""

    purpose: str
    out_trade_no: str
    transaction_id: str
    amount_fen: int
    paid_at: datetime
    provider: str


PaidHandler = Callable[[AsyncSession, PaidNotice], Awaitable[None]]
_HANDLERS: dict[str, PaidHandler] = {}


def on_paid(purpose: str, handler: PaidHandler) -> None:
    _HANDLERS[purpose] = handler


async def notify_paid(session: AsyncSession, notice: PaidNotice) -> None:
    """Hand a verified payment to the business that created the order (in the caller's transaction)."""
    handler = _HANDLERS.get(notice.purpose)
    if handler is None:
        raise NotFound(f"no business takes payments for {notice.purpose!r}", code="payment_purpose_unknown")
    await handler(session, notice)
