"""Fault timelines: `[[faults]]` entries of a TOML file, applied at their times.

Each entry is one action at `at` seconds after the schedule starts; `duration`
undoes it later, `every` repeats it (bounded by `count` or `until`, or by the
horizon the runner is given). See docs/chaos.md for the format. The runner drives
anything with the ChaosServer / ChaosClient verbs and journals every step.
"""

from __future__ import annotations

import threading
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .faultlog import FaultLog
from .spec import STREAMS, TOXIC_TYPES, ChaosError

ACTIONS = ("add", "update", "remove", "enable", "disable", "reset", "flap", "partition")
PARTITION_MODES = {"half_open": "half_open", "timeout": "timeout", "down": "down"}
MAX_STEPS = 100_000  # a schedule that expands beyond this is a mistake, not a plan

KNOWN_FIELDS = frozenset(
    {
        "at",
        "action",
        "proxy",
        "name",
        "toxic",
        "type",
        "stream",
        "toxicity",
        "attributes",
        "duration",
        "every",
        "count",
        "until",
        "down",
        "mode",
    }
)


class Target(Protocol):
    def add_toxic(
        self,
        proxy: str,
        type: str,
        name: str | None = ...,
        stream: str = ...,
        toxicity: float = ...,
        attributes: dict[str, Any] | None = ...,
    ) -> Any: ...  # noqa: A002
    def update_toxic(
        self,
        proxy: str,
        name: str,
        toxicity: float | None = ...,
        attributes: dict[str, Any] | None = ...,
    ) -> Any: ...
    def remove_toxic(self, proxy: str, name: str) -> Any: ...
    def update_proxy(self, name: str, **fields: Any) -> Any: ...
    def reset(self) -> Any: ...


@dataclass(order=True)
class Step:
    t: float
    order: int
    op: str = field(
        compare=False
    )  # add_toxic | update_toxic | remove_toxic | enable | disable | reset
    proxy: str = field(compare=False, default="")
    args: dict[str, Any] = field(compare=False, default_factory=dict)
    entry: int = field(compare=False, default=0)  # index in [[faults]], for the journal and errors

    def describe(self) -> str:
        name = self.args.get("name", "")
        return f"t={self.t:g}s {self.op} {self.proxy}{'/' + name if name else ''}"


def _num(
    entry: dict[str, Any],
    key: str,
    where: str,
    default: float | None = None,
    positive: bool = False,
) -> float | None:
    value = entry.get(key, default)
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or value < 0
        or (positive and value == 0)
    ):
        raise ChaosError(
            f"{where} field {key!r}: expected a {'positive' if positive else 'non-negative'} number of seconds, got {value!r}"
        )
    return float(value)


def parse_entries(faults: Any, horizon: float | None = None) -> list[Step]:
    """Validate `[[faults]]` and expand it into concrete steps, sorted by time."""
    if faults is None:
        return []
    if not isinstance(faults, list):
        raise ChaosError("faults: expected a list of tables ([[faults]])")
    steps: list[Step] = []
    for i, entry in enumerate(faults):
        where = f"faults[{i}]"
        if not isinstance(entry, dict):
            raise ChaosError(f"{where}: expected a table")
        action = entry.get("action", "add")
        where = f"faults[{i}] ({action})"
        if action not in ACTIONS:
            raise ChaosError(f"{where} field 'action': expected one of {', '.join(ACTIONS)}")
        unknown = set(entry) - KNOWN_FIELDS
        if unknown:
            raise ChaosError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        at = _num(entry, "at", where, 0.0)
        duration = _num(entry, "duration", where, positive=True)
        every = _num(entry, "every", where, positive=True)
        until = _num(entry, "until", where)
        count = entry.get("count")
        if count is not None and (
            isinstance(count, bool) or not isinstance(count, int) or count < 1
        ):
            raise ChaosError(f"{where} field 'count': expected a positive integer, got {count!r}")
        proxy = entry.get("proxy", "")
        if action != "reset" and (not isinstance(proxy, str) or not proxy):
            raise ChaosError(f"{where} field 'proxy': required (the proxy name)")
        once = _expand_once(entry, action, proxy, where, i)
        if action == "flap" and every is None:
            raise ChaosError(f"{where} field 'every': required for flap")
        if action == "flap" and duration is None:
            duration = _num(entry, "down", where, positive=True)
            if duration is None:
                raise ChaosError(
                    f"{where} field 'down': required for flap (seconds disabled per period)"
                )
        if action == "partition" and duration is None:
            raise ChaosError(f"{where} field 'duration': required for partition")
        if every is not None and duration is not None and duration >= every:
            raise ChaosError(
                f"{where} field 'duration': must be shorter than 'every' ({duration:g} >= {every:g})"
            )
        if duration is not None and once[1] is None:
            raise ChaosError(f"{where} field 'duration': action {action!r} cannot be undone")
        assert at is not None
        starts = _starts(at, every, count, until, horizon, where)
        for t0 in starts:
            do, undo = once
            steps.append(Step(t0, len(steps), do[0], proxy, dict(do[1]), i))
            if duration is not None and undo is not None:
                steps.append(Step(t0 + duration, len(steps), undo[0], proxy, dict(undo[1]), i))
            if len(steps) > MAX_STEPS:
                raise ChaosError(
                    f"{where}: expands to more than {MAX_STEPS} steps (check every/count/until)"
                )
    return sorted(steps)


def _starts(
    at: float,
    every: float | None,
    count: Any,
    until: float | None,
    horizon: float | None,
    where: str,
) -> list[float]:
    if every is None:
        return [at]
    end = until if until is not None else horizon
    if count is None and end is None:
        raise ChaosError(f"{where} field 'every': needs 'count' or 'until' (or a run duration)")
    out: list[float] = []
    t = at
    while (count is None or len(out) < count) and (end is None or t <= end + 1e-9):
        out.append(t)
        t += every
        if len(out) > MAX_STEPS:
            break
    return out


Op = tuple[str, dict[str, Any]]


def _expand_once(
    entry: dict[str, Any], action: str, proxy: str, where: str, i: int
) -> tuple[Op, Op | None]:
    """(do, undo) for one occurrence of an entry."""
    name = entry.get("name", entry.get("toxic"))
    if name is not None and not isinstance(name, str):
        raise ChaosError(f"{where} field 'name': expected a string")
    if action in ("add", "update"):
        type_ = entry.get("type")
        if action == "add" and type_ not in TOXIC_TYPES:
            raise ChaosError(
                f"{where} field 'type': expected one of {', '.join(TOXIC_TYPES)}, got {type_!r}"
            )
        stream = entry.get("stream", "downstream")
        if stream not in STREAMS:
            raise ChaosError(
                f"{where} field 'stream': expected upstream or downstream, got {stream!r}"
            )
        attrs = entry.get("attributes", {})
        if not isinstance(attrs, dict):
            raise ChaosError(f"{where} field 'attributes': expected a table")
        toxicity = entry.get("toxicity", 1.0)
        if action == "update":
            if not name:
                raise ChaosError(f"{where} field 'name': required for update")
            return (
                "update_toxic",
                {"name": name, "toxicity": entry.get("toxicity"), "attributes": attrs},
            ), None
        name = name or f"{type_}_{stream}"
        args = {
            "name": name,
            "type": type_,
            "stream": stream,
            "toxicity": toxicity,
            "attributes": attrs,
        }
        return ("add_toxic", args), ("remove_toxic", {"name": name})
    if action == "remove":
        if not name:
            raise ChaosError(f"{where} field 'name': required for remove")
        return ("remove_toxic", {"name": name}), None
    if action in ("enable", "disable"):
        other = "disable" if action == "enable" else "enable"
        return (action, {}), (other, {})
    if action == "flap":
        return ("disable", {}), ("enable", {})
    if action == "partition":
        mode = entry.get("mode", "half_open")
        if mode not in PARTITION_MODES:
            raise ChaosError(
                f"{where} field 'mode': expected one of {', '.join(PARTITION_MODES)}, got {mode!r}"
            )
        name = name or f"partition_{i}"
        args = {
            "name": name,
            "type": PARTITION_MODES[mode],
            "stream": "downstream",
            "toxicity": 1.0,
            "attributes": {},
        }
        return ("add_toxic", args), ("remove_toxic", {"name": name})
    return ("reset", {}), None


def load_schedule(path: str | Path, horizon: float | None = None) -> list[Step]:
    """Read a TOML file (a scenario file or a schedule of its own) and expand its [[faults]]."""
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except OSError as e:
        raise ChaosError(f"{path}: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ChaosError(f"{path}: invalid TOML: {e}") from None
    try:
        return parse_entries(doc.get("faults"), horizon)
    except ChaosError as e:
        raise ChaosError(f"{path}: {e}") from None


def apply_step(target: Target, step: Step) -> None:
    a = step.args
    if step.op == "add_toxic":
        target.add_toxic(
            step.proxy,
            a["type"],
            name=a["name"],
            stream=a["stream"],
            toxicity=a["toxicity"],
            attributes=a["attributes"],
        )
    elif step.op == "update_toxic":
        target.update_toxic(
            step.proxy, a["name"], toxicity=a.get("toxicity"), attributes=a["attributes"]
        )
    elif step.op == "remove_toxic":
        target.remove_toxic(step.proxy, a["name"])
    elif step.op in ("enable", "disable"):
        target.update_proxy(step.proxy, enabled=step.op == "enable")
    elif step.op == "reset":
        target.reset()
    else:  # pragma: no cover - parse_entries only produces the ops above
        raise ChaosError(f"unknown step {step.op!r}")


class ScheduleRunner:
    """Applies steps on a timeline in a background thread; stop() is prompt and bounded."""

    def __init__(self, target: Target, steps: list[Step], log: FaultLog | None = None) -> None:
        self.target = target
        self.steps = sorted(steps)
        self.log = log
        self.applied: list[tuple[float, Step]] = []  # (seconds after start, step)
        self.errors: list[tuple[Step, str]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.t0 = 0.0

    def start(self) -> ScheduleRunner:
        self.t0 = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="chaos-schedule", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        for step in self.steps:
            wait = self.t0 + step.t - time.monotonic()
            if wait > 0 and self._stop.wait(wait):
                return
            if self._stop.is_set():
                return
            error = ""
            try:
                apply_step(self.target, step)
            except Exception as e:  # noqa: BLE001 - a failed step is recorded, the timeline goes on
                error = str(e) if isinstance(e, ChaosError) else f"{type(e).__name__}: {e}"
                self.errors.append((step, error))
            self.applied.append((time.monotonic() - self.t0, step))
            if self.log is not None:
                detail: dict[str, Any] = {
                    "entry": step.entry,
                    "at_s": step.t,
                    "op": step.op,
                    "args": step.args,
                }
                if error:
                    detail["error"] = error
                self.log.fault(
                    step.proxy,
                    step.args.get("name", ""),
                    "schedule",
                    step.args.get("stream", ""),
                    **detail,
                )

    @property
    def done(self) -> bool:
        return self._thread is not None and not self._thread.is_alive()

    def join(self, timeout: float) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
        return self.done

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self.join(timeout)
