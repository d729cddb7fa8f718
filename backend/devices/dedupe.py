"""Which sequence numbers a device has already delivered — a high-water mark plus a ring bitmap.

A device numbers its readings; it may resend a batch (lost response) and batches may arrive out of
order. The window remembers the ``size`` numbers ending at the highest one seen (``hwm``): a number
in the window is new or a duplicate, exactly; a number above it is new (the window slides up); a
number at or below ``hwm - size`` is too old to tell and is refused with that reason rather than
risk storing it twice. The state (8-byte hwm + size/8 bytes) lives in the device row and is
updated in the same transaction as the readings, so a crash cannot mark a reading seen that was
not stored.
"""

from __future__ import annotations

from enum import StrEnum

DEFAULT_WINDOW = 8192


class SeqVerdict(StrEnum):
    NEW = "new"
    DUPLICATE = "duplicate"
    TOO_OLD = "too_old"


class SeqWindow:
    __slots__ = ("bits", "hwm", "size")

    def __init__(self, hwm: int = -1, bitmap: bytes = b"", size: int = DEFAULT_WINDOW) -> None:
        if size <= 0 or size % 8:
            raise ValueError("the window size must be a positive multiple of 8")
        self.size = size
        self.hwm = hwm
        if len(bitmap) == size // 8:
            self.bits = bytearray(bitmap)
        else:
            # A new device, or the window size was changed: start empty below the known hwm (numbers
            # in the old window would be accepted once more — the price of resizing).
            self.bits = bytearray(size // 8)

    def _test_and_set(self, seq: int) -> bool:
        pos = seq % self.size
        index, mask = pos >> 3, 1 << (pos & 7)
        seen = bool(self.bits[index] & mask)
        self.bits[index] |= mask
        return seen

    def _clear(self, seq: int) -> None:
        pos = seq % self.size
        self.bits[pos >> 3] &= ~(1 << (pos & 7)) & 0xFF

    def add(self, seq: int) -> SeqVerdict:
        """Record ``seq`` and say whether it was new."""
        hwm = self.hwm
        if seq == hwm + 1 and hwm >= 0:  # the usual case: the next number; its slot leaves the window
            pos = seq % self.size
            self.bits[pos >> 3] |= 1 << (pos & 7)
            self.hwm = seq
            return SeqVerdict.NEW
        if seq > hwm:
            if seq - hwm >= self.size or hwm < 0:
                self.bits = bytearray(self.size // 8)
            else:
                for skipped in range(hwm + 1, seq):  # numbers not seen yet, now inside the window
                    self._clear(skipped)
            self.hwm = seq
            pos = seq % self.size
            self.bits[pos >> 3] |= 1 << (pos & 7)
            return SeqVerdict.NEW
        if seq <= hwm - self.size:
            return SeqVerdict.TOO_OLD
        return SeqVerdict.DUPLICATE if self._test_and_set(seq) else SeqVerdict.NEW

    def dump(self) -> tuple[int, bytes]:
        return self.hwm, bytes(self.bits)
