"""The page's memory over time: CDP `Performance.getMetrics`, journalled as `browser_sample`
(`js_heap_mib` = JSHeapUsedSize, `js_heap_total_mib`, `nodes` = DOM nodes, `listeners` = JS
event listeners) every `interval_s` (worker thread). Keeps a running summary of the heap,
not the samples: the journal has them.
"""

from __future__ import annotations

import time
from typing import Any

from visdom_chaos.journal import JournalWriter


class HeapSampler:
    def __init__(self, journal: JournalWriter, client_id: str, interval_s: float = 1.0) -> None:
        self.journal = journal
        self.client_id = client_id
        self.interval_s = interval_s
        self.next_at = 0.0  # time.monotonic() of the next sample
        self.heap: dict[str, Any] | None = None  # js_heap_mib: first, max, last, samples
        self._cdp: Any = None

    def attach(self, context: Any, page: Any) -> None:
        """Open the page's CDP session (worker thread, before the page loads)."""
        self._cdp = context.new_cdp_session(page)
        self._cdp.send("Performance.enable")

    def due(self, now: float) -> bool:
        return now >= self.next_at

    def sample(self, conn: int) -> None:
        self.next_at = time.monotonic() + self.interval_s
        try:
            metrics = {
                m["name"]: m["value"] for m in self._cdp.send("Performance.getMetrics")["metrics"]
            }
        except Exception as exc:  # the page is navigating; next tick will do
            self.journal.write(
                "protocol_error",
                self.client_id,
                conn,
                kind="browser_error",
                win=None,
                detail=f"Performance.getMetrics: {exc}"[:300],
            )
            return
        sample = {
            "js_heap_mib": round(metrics.get("JSHeapUsedSize", 0) / 2**20, 3),
            "js_heap_total_mib": round(metrics.get("JSHeapTotalSize", 0) / 2**20, 3),
            "nodes": int(metrics.get("Nodes", 0)),
            "listeners": int(metrics.get("JSEventListeners", 0)),
        }
        mib = sample["js_heap_mib"]
        h = self.heap
        if h is None:
            self.heap = {"first": mib, "max": mib, "last": mib, "samples": 1}
        else:
            h["max"], h["last"], h["samples"] = max(h["max"], mib), mib, h["samples"] + 1
        self.journal.write("browser_sample", self.client_id, conn, **sample)
