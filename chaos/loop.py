"""The proxy's event loop: uvloop where it is installed, else asyncio's own.

Profiled on the no-toxic path (bench proxy), two thirds of the proxy's CPU was the stdlib
loop itself: the selector, the transports' read and write callbacks. uvloop runs those in
C (libuv) with the same asyncio API, so nothing above the loop changes. The stdlib loop
stays the fallback: where uvloop is not installed (it is a dependency on Linux and macOS,
not on Windows) or when VISDOM_CHAOS_LOOP=asyncio asks for it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
LOOP_ENV = "VISDOM_CHAOS_LOOP"  # "asyncio": the stdlib loop even where uvloop is installed


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop factory, or None for asyncio's default."""
    if os.environ.get(LOOP_ENV, "").strip().lower() == "asyncio":
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
