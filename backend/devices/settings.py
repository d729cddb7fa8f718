"""Settings of device ingest, read once from the environment (same rules as ``backend/settings.py``).

| variable | default | meaning |
|---|---|---|
| ``INGEST_MAX_BODY_BYTES`` | 2 MiB | a larger telemetry body gets 413 |
| ``INGEST_MAX_BATCH`` | 5000 | readings per batch (more is 400) |
| ``INGEST_CLOCK_SKEW_S`` | 300 | allowed distance of ``X-Timestamp`` from the server clock (nonces kept 2×) |
| ``INGEST_RATE_PER_MIN`` | 600 | signed requests per device per minute (more is 429) |
| ``INGEST_SEQ_WINDOW`` | 8192 | how many sequence numbers below the highest are remembered exactly (multiple of 8) |
| ``INGEST_RETENTION_DAYS`` | 90 | readings older than this many days are refused, and their day partitions dropped |
| ``INGEST_PARTITIONS_AHEAD_DAYS`` | 3 | day partitions created ahead of today |
| ``INGEST_AUTH_CACHE_S`` | 30 | how long a process keeps a device's decrypted secret |

Rotation and revocation take effect at once whatever ``INGEST_AUTH_CACHE_S`` is: each batch
re-checks the device row (status, secret version) under its lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from backend.errors import ConfigurationError
from backend.settings import _int


@dataclass(frozen=True)
class IngestSettings:
    max_body_bytes: int = 2 * 1024 * 1024
    max_batch: int = 5000
    clock_skew_s: int = 300
    rate_per_min: int = 600
    seq_window: int = 8192
    retention_days: int = 90
    partitions_ahead_days: int = 3
    auth_cache_s: int = 30

    @property
    def nonce_ttl_s(self) -> int:
        # A timestamp stays acceptable for 2 × skew after the earliest moment it could be sent.
        return 2 * self.clock_skew_s + 5


def load_ingest_settings() -> IngestSettings:
    seq_window = _int("INGEST_SEQ_WINDOW", 8192, minimum=64, maximum=1 << 20)
    if seq_window % 8:
        raise ConfigurationError(f"INGEST_SEQ_WINDOW must be a multiple of 8, got {seq_window}")
    return IngestSettings(
        max_body_bytes=_int("INGEST_MAX_BODY_BYTES", 2 * 1024 * 1024, minimum=1024),
        max_batch=_int("INGEST_MAX_BATCH", 5000, minimum=1, maximum=100_000),
        clock_skew_s=_int("INGEST_CLOCK_SKEW_S", 300, minimum=1, maximum=3600),
        rate_per_min=_int("INGEST_RATE_PER_MIN", 600, minimum=1),
        seq_window=seq_window,
        retention_days=_int("INGEST_RETENTION_DAYS", 90, minimum=1, maximum=3650),
        partitions_ahead_days=_int("INGEST_PARTITIONS_AHEAD_DAYS", 3, minimum=1, maximum=60),
        auth_cache_s=_int("INGEST_AUTH_CACHE_S", 30, minimum=0, maximum=3600),
    )


@lru_cache(maxsize=1)
def get_ingest_settings() -> IngestSettings:
    return load_ingest_settings()
