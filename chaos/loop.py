"""The proxy's event loop: asyncio's own, or uvloop when VISDOM_CHAOS_LOOP=uvloop asks for it.

Profiled on the no-toxic path (bench proxy), two thirds of the proxy's CPU was the stdlib
loop itself: the selector, the transports' read and write callbacks. uvloop runs those in
C (libuv) with the same asyncio API, and the whole chaos suite passes on it. It is not the
default yet: under it, frames reach a 0.2.4 tab in a different rhythm, and the wire
ground-truth test (tests/test_wire_ground_truth.py, stock 0.2.4) found reloads with no known
cause in 2 of 11 runs (0 of 12 on the stdlib loop): hash mismatches right after a window's
second snapshot, which the browser replica raises without a hint. Until the replica names
that mechanism, the default stays the loop the findings were validated on.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
LOOP_ENV = "VISDOM_CHAOS_LOOP"  # "uvloop": uvloop where installed; anything else: the stdlib loop


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop factory when asked for and installed, else None (asyncio's default)."""
    if os.environ.get(LOOP_ENV, "").strip().lower() != "uvloop":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def loop_name() -> str:
    return "asyncio" if loop_factory() is None else "uvloop"


def run(main: Coroutine[Any, Any, T]) -> T:
    """asyncio.run() on the chosen loop."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)
