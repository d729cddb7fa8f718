"""Job modules of the backend itself register their outbox handlers here (imported by the worker)."""
