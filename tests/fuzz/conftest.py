"""The fuzz log fixture and the summary printed at the end of every pytest run that fuzzed (shown
whatever pytest's output capture; the budgets are in ``mode.py``)."""

from __future__ import annotations

from typing import Any

import pytest

from fuzz.mode import DEEP, WARN_AFTER_S, FuzzLog

LOG_KEY = pytest.StashKey[FuzzLog]()


@pytest.fixture(scope="session")
def fuzz_log(pytestconfig: pytest.Config) -> FuzzLog:
    return pytestconfig.stash.setdefault(LOG_KEY, FuzzLog())


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    del exitstatus
    log = config.stash.get(LOG_KEY, None)
    if log is None or not log.reports:
        return
    write = terminalreporter.write_line
    terminalreporter.section("API fuzzing")
    for report in log.reports:
        for role in report.roles:
            write(f"  {report.line(role)}")
        for role, reason in log.not_signed_in.items():
            write(f"  {role}: not fuzzed — {reason}")
        write(
            f"fuzz summary ({'deep' if DEEP else 'ci'}, FUZZ_SEED={report.seed}): {len(report.operations)} operations "
            f"× {len(report.roles)} roles, {report.examples} examples, {len(report.failures)} failures, "
            f"{report.seconds:.1f}s (cpu {report.cpu_seconds:.1f}s)"
        )
        slowest = sorted(report.results, key=lambda r: -r.seconds)[:5]
        write("  slowest: " + ", ".join(f"{r.operation} as {r.role} {r.seconds:.1f}s" for r in slowest))
        if report.seconds > WARN_AFTER_S:
            write(
                f"WARNING: fuzzing took {report.seconds:.0f}s, over its {WARN_AFTER_S:.0f}s budget — speed up the "
                "slowest operations or lower the budget in tests/fuzz/mode.py",
                yellow=True,
            )
