"""WebSocket messages a toxic holds back (ws_delay, ws_reorder), bounded in bytes.

A held message leaves at its release time, or earlier once the number of later
messages it waits for have passed. Ties leave in the order they were held.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

MAX_HELD_BYTES = 8 << 20  # per stream: past this, messages pass instead of being held


@dataclass(order=True)
class Held:
    release: float
    seq: int
    raw: bytes = field(compare=False)
    after_left: int = field(
        compare=False, default=0
    )  # for ws_reorder: messages still to pass first


class HeldMessages:
    """One stream's held messages, the earliest release first."""

    def __init__(self) -> None:
        self._heap: list[Held] = []
        self.bytes = 0
        self._seq = 0

    def __bool__(self) -> bool:
        return bool(self._heap)

    def fits(self, size: int) -> bool:
        return self.bytes + size <= MAX_HELD_BYTES

    def hold(self, raw: bytes, release: float, after: int) -> None:
        self._seq += 1
        heapq.heappush(self._heap, Held(release, self._seq, raw, after))
        self.bytes += len(raw)

    @property
    def next_release(self) -> float:
        return self._heap[0].release

    def pop(self) -> bytes:
        """The bytes of the message that leaves first."""
        h = heapq.heappop(self._heap)
        self.bytes -= len(h.raw)
        return h.raw

    def passed(self, now: float) -> None:
        """A message went out: those waiting for later messages count it (done counting: due now)."""
        for h in self._heap:
            if h.after_left:
                h.after_left -= 1
                if not h.after_left:
                    h.release = min(h.release, now)
        heapq.heapify(self._heap)
