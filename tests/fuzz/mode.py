"""How hard the API fuzzer runs: bounded in CI, much more with ``FUZZ_DEEP=1`` on a developer's machine.

``FUZZ_SEED=<n>`` replays a run (each run prints its seed in the summary).
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field

from fuzz.harness import Budget, FuzzReport

DEEP = os.environ.get("FUZZ_DEEP", "") not in {"", "0", "false", "no"}
SEED = int(os.environ.get("FUZZ_SEED") or random.SystemRandom().randrange(2**32))

if DEEP:
    BUDGET = Budget(max_examples=1_000, min_examples=200, public_examples=50, probes=5, deadline_ms=10_000)
    WARN_AFTER_S = 3_600.0
    TEST_TIMEOUT_S = 0  # none
else:
    # Per operation: 50 generated examples (shared by the callers let in, each at least 10) besides
    # the coverage cases — about 100 s on 2 cores for 84 operations and 10 callers.
    BUDGET = Budget(max_examples=50)
    WARN_AFTER_S = 150.0
    TEST_TIMEOUT_S = 1_200


@dataclass
class FuzzLog:
    """What the fuzz tests of this pytest run did, for the summary at its end."""

    reports: list[FuzzReport] = field(default_factory=list)
    not_signed_in: dict[str, str] = field(default_factory=dict)
    """Roles left out of the fuzz run, and why."""
