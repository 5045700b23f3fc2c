"""Sets of integers (event seqs) stored as sorted half-open runs [start, end).

Seqs of one source arrive almost in order, so a set of a million seqs is usually
a handful of runs: this is what keeps the analyzers' memory proportional to
clients x windows rather than to events.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator


class IntervalSet:
    __slots__ = ("_starts", "_ends", "_n")

    def __init__(self, values: Iterable[int] = ()) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._n = 0
        for v in values:
            self.add(v)

    @classmethod
    def from_ranges(cls, ranges: Iterable[Iterable[int]]) -> IntervalSet:
        out = cls()
        for r in ranges:
            s, e = r
            out.add_range(int(s), int(e))
        return out

    @classmethod
    def from_sorted_runs(cls, starts: list[int], ends: list[int], n: int) -> IntervalSet:
        """Disjoint, ascending, non-touching runs [starts[i], ends[i]) holding n values in all."""
        out = cls()
        out._starts, out._ends, out._n = starts, ends, n
        return out

    def __len__(self) -> int:
        return self._n

    def __bool__(self) -> bool:
        return self._n > 0

    def __contains__(self, x: int) -> bool:
        ends = self._ends
        if not ends:
            return False
        last = ends[-1]
        if x >= last:  # fast path: a seq newer than any here (the next update's)
            return False
        if x == last - 1:  # fast path: the newest seq
            return True
        i = bisect_right(self._starts, x) - 1
        return i >= 0 and x < ends[i]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IntervalSet) and self.ranges() == other.ranges()

    def __repr__(self) -> str:
        return f"IntervalSet({self.ranges()})"

    def add(self, x: int) -> bool:
        """Add one value; True when it was not there before."""
        starts, ends = self._starts, self._ends
        if ends:
            last = ends[-1]
            if x == last:  # fast path: extends the newest run
                ends[-1] = last + 1
                self._n += 1
                return True
            if x > last:
                starts.append(x)
                ends.append(x + 1)
                self._n += 1
                return True
        else:
            starts.append(x)
            ends.append(x + 1)
            self._n = 1
            return True
        i = bisect_right(starts, x) - 1
        if i >= 0 and x < ends[i]:
            return False
        self._n += 1
        joins_left = i >= 0 and ends[i] == x
        joins_right = i + 1 < len(starts) and starts[i + 1] == x + 1
        if joins_left and joins_right:
            ends[i] = ends[i + 1]
            del starts[i + 1], ends[i + 1]
        elif joins_left:
            ends[i] = x + 1
        elif joins_right:
            starts[i + 1] = x
        else:
            starts.insert(i + 1, x)
            ends.insert(i + 1, x + 1)
        return True

    def add_range(self, s: int, e: int) -> None:
        if e <= s:
            return
        if not self._ends or s > self._ends[-1]:
            self._starts.append(s)
            self._ends.append(e)
            self._n += e - s
            return
        if s >= self._starts[-1]:  # fast path: inside or extending the newest run
            if e > self._ends[-1]:
                self._n += e - self._ends[-1]
                self._ends[-1] = e
            return
        merged = union(self, IntervalSet._raw([s], [e]))
        self._starts, self._ends, self._n = merged._starts, merged._ends, merged._n

    def discard(self, x: int) -> bool:
        """Remove one value; True when it was there."""
        starts, ends = self._starts, self._ends
        i = bisect_right(starts, x) - 1
        if i < 0 or x >= ends[i]:
            return False
        self._n -= 1
        s, e = starts[i], ends[i]
        if s == x and e == x + 1:
            del starts[i], ends[i]
        elif s == x:
            starts[i] = x + 1
        elif e == x + 1:
            ends[i] = x
        else:
            ends[i] = x
            starts.insert(i + 1, x + 1)
            ends.insert(i + 1, e)
        return True

    def clear(self) -> None:
        self._starts, self._ends, self._n = [], [], 0

    def ranges(self) -> list[list[int]]:
        return [[s, e] for s, e in zip(self._starts, self._ends, strict=True)]

    def runs(self) -> int:
        return len(self._starts)

    def __iter__(self) -> Iterator[int]:
        for s, e in zip(self._starts, self._ends, strict=True):
            yield from range(s, e)

    def first(self, k: int) -> list[int]:
        out: list[int] = []
        for s, e in zip(self._starts, self._ends, strict=True):
            for v in range(s, min(e, s + k - len(out))):
                out.append(v)
            if len(out) >= k:
                break
        return out

    def min(self) -> int | None:
        return self._starts[0] if self._starts else None

    def max(self) -> int | None:
        return self._ends[-1] - 1 if self._ends else None

    def copy(self) -> IntervalSet:
        return IntervalSet._raw(list(self._starts), list(self._ends))

    @classmethod
    def _raw(cls, starts: list[int], ends: list[int]) -> IntervalSet:
        out = cls()
        out._starts, out._ends = starts, ends
        out._n = sum(e - s for s, e in zip(starts, ends, strict=True))
        return out


def union(a: IntervalSet, b: IntervalSet) -> IntervalSet:
    pairs = sorted(zip(a._starts + b._starts, a._ends + b._ends, strict=True))
    starts: list[int] = []
    ends: list[int] = []
    for s, e in pairs:
        if ends and s <= ends[-1]:
            if e > ends[-1]:
                ends[-1] = e
        else:
            starts.append(s)
            ends.append(e)
    return IntervalSet._raw(starts, ends)


def intersection(a: IntervalSet, b: IntervalSet) -> IntervalSet:
    starts: list[int] = []
    ends: list[int] = []
    i = j = 0
    while i < len(a._starts) and j < len(b._starts):
        s = max(a._starts[i], b._starts[j])
        e = min(a._ends[i], b._ends[j])
        if s < e:
            starts.append(s)
            ends.append(e)
        if a._ends[i] < b._ends[j]:
            i += 1
        else:
            j += 1
    return IntervalSet._raw(starts, ends)


def difference(a: IntervalSet, b: IntervalSet) -> IntervalSet:
    """Values of a not in b."""
    starts: list[int] = []
    ends: list[int] = []
    j = 0
    bs, be = b._starts, b._ends
    for s, e in zip(a._starts, a._ends, strict=True):
        cur = s
        while j < len(bs) and be[j] <= cur:
            j += 1
        k = j
        while k < len(bs) and bs[k] < e:
            if bs[k] > cur:
                starts.append(cur)
                ends.append(bs[k])
            cur = max(cur, be[k])
            if be[k] >= e:
                break
            k += 1
        if cur < e:
            starts.append(cur)
            ends.append(e)
    return IntervalSet._raw(starts, ends)
