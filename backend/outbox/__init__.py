"""Transactional outbox (DESIGN §8): background work promised inside the business transaction."""

from backend.outbox.service import OUTBOX_FLAG, handler, publish, registered_topics

__all__ = ["OUTBOX_FLAG", "handler", "publish", "registered_topics"]
