"""Named values of the toilet finder."""

from __future__ import annotations

from enum import IntEnum


class ToiletLevel(IntEnum):
    """公厕类别 (CJJ 14 / GB/T 17217) — 一类 the best equipped (main streets, tourist areas), 三类 the simplest.
    The class also sets the odour limits (``backend/toilets/rules.py``)."""

    FIRST = 1
    SECOND = 2
    THIRD = 3

    @property
    def label(self) -> str:
        return _LABELS[self.value]


_LABELS = {1: "一类", 2: "二类", 3: "三类"}
