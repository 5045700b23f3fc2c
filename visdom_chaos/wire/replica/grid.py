"""0.2.4's pane grid, as far as it touches window state: layout-bin-packer's ShelfFirst
(layout_bin_packer.js 1.4.0, loaded by index.html as global `Bin`) and the layout items
main.js keeps in `state.layout` and localStorage.

It matters because main.js `relayout` sorts the layout by grid position and writes each
pane's index into the pane itself (`newPanes[paneLayout.i].i = idx`), and `i` is part of
the window JSON whose md5 0.2.4 checks.
"""

from __future__ import annotations

import math
from typing import Any

from .jsvalue import UNDEFINED, is_number

COLS = 100  # state.cols
WIDTH = 1280  # state.width before the grid reports the real one
MARGIN = 10
ROW_HEIGHT = 5


def _num(value: Any) -> float:
    """ToNumber for the layout arithmetic (undefined/null/strings -> NaN or 0 as JS does)."""
    if is_number(value):
        return float(value)
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return float(value)
    return math.nan


class ShelfFirst:
    """layout_bin_packer.js ShelfFirst: positions row by row, cached entries."""

    def __init__(self, content: list[Any], width: float) -> None:
        self.content = content
        self.width = width
        self._entries: list[tuple[float, float, float, float]] = []  # (height, width, x, y)

    def _size(self, index: int, key: str) -> float:
        item = self.content[index]
        return _num(item.get(key, UNDEFINED)) if isinstance(item, dict) else math.nan

    def _entry_at(self, index: int) -> tuple[float, float, float, float]:
        length = len(self.content)
        if index >= length:
            raise IndexError(
                f"RangeError: Parameter must be within: [0 and {length}) but was: {index}"
            )
        if index < len(self._entries):
            return self._entries[index]
        entry = None
        row_height = 0.0
        row_width = 0.0
        if not self._entries:
            start = 0
            y = 0.0
        else:
            entry = self._entries[-1]
            row_width = entry[2] + entry[1]
            row_height = entry[0]
            y = entry[3]
            start = len(self._entries)
        for i in range(start, index + 1):
            cur_h = self._size(i, "height")
            cur_w = self._size(i, "width")
            if entry is not None and (cur_w + row_width) > self.width:
                y = entry[3] + entry[0]  # new row
                x = 0.0
                row_width = 0.0
                row_height = cur_h
            else:
                x = row_width
            if cur_h > row_height:
                row_height = cur_h
            entry = (row_height, cur_w, x, y)
            self._entries.append(entry)
            row_width = x + cur_w
        assert entry is not None
        return entry

    def position(self, index: int, width: float) -> dict[str, float]:
        length = len(self.content)
        if length == 0 or index > length:
            raise IndexError(
                f"RangeError: Parameter must be within: [0 and {length}) but was: {index}"
            )
        if width != self.width:
            self._entries = []
            self.width = width
        _, _, x, y = self._entry_at(index)
        return {"x": _int_if_whole(x), "y": _int_if_whole(y)}


def _int_if_whole(v: float) -> float | int:
    return int(v) if v == v and v.is_integer() else v


def col_width() -> float:
    return (WIDTH - MARGIN * (COLS - 1) - MARGIN * 2) / COLS


def p2w(w: float) -> float:
    return (w + MARGIN) / (col_width() + MARGIN)


def p2h(h: float) -> float:
    return (h + MARGIN) / (ROW_HEIGHT + MARGIN)


def _js_gt(a: Any, b: Any) -> bool:
    return is_number(a) and is_number(b) and a > b


def _js_same(a: Any, b: Any) -> bool:
    if is_number(a) and is_number(b):
        return a == b
    return type(a) is type(b) and a == b


def row_col_key(a: dict[str, Any], b: dict[str, Any]) -> int:
    """react-grid-layout utils.sortLayoutItemsByRowCol comparator."""
    ay, by = a.get("y", UNDEFINED), b.get("y", UNDEFINED)
    ax, bx = a.get("x", UNDEFINED), b.get("x", UNDEFINED)
    if _js_gt(ay, by) or (_js_same(ay, by) and _js_gt(ax, bx)):
        return 1
    if _js_same(ay, by) and _js_same(ax, bx):
        return 0
    return -1
