"""Scenario files (TOML): load, scripted subscriber behaviour, fault timeline, expectations.

Scenarios are data. A malformed file gets an error naming the file, the line and the
field. The format is documented in scenarios/README.md.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from visdom_chaos.chaos.schedule import parse_entries
from visdom_chaos.reports.gate import parse_rules
from visdom_chaos.wire.realclient import REAL_KINDS
from visdom_chaos.wire.training import KINDS

# the catalogue ships as the package visdom_chaos.scenarios (scenarios/ in a checkout)
SCENARIO_DIR = Path(str(resources.files("visdom_chaos.scenarios")))
PROBES = ("security", "page", "client_socket")
PROBE_FAULTS = ("half_open", "restart")
ACTIONS = (
    "stall",
    "drop",
    "close",
    "reconnect",
    "refresh",
    "flap",
    "switch_env",
    "forward_after_close",
    "delete_env",
)


class ScenarioError(ValueError):
    pass


@dataclass
class SourceSpec:
    kind: str = "line"
    rate_hz: float = 20.0
    env: str = "main"
    pad_bytes: int = 0
    client: str = "toolkit"  # toolkit (plain requests) | visdom (the real Python client)


@dataclass
class Behaviour:
    """A scripted subscriber action at `at` s, repeated `every` s until `until` s (if set)."""

    action: str
    clients: list[str]
    at: float = 0.0
    every: float | None = None
    until: float | None = None
    seconds: float = 0.0  # stall length; flap: time between reconnects
    env: str | None = None  # switch_env target; delete_env: the env (default: the one shown)


@dataclass
class Scenario:
    name: str
    description: str
    path: Path | None = None
    visdom_issues: list[str] = field(default_factory=list)
    fixed_in: list[str] = field(default_factory=list)
    duration_s: float = 60.0
    settle_s: float = 6.0
    sources: list[SourceSpec] = field(
        default_factory=lambda: [SourceSpec("line"), SourceSpec("text")]
    )
    websocket_subscribers: int = 4
    polling_subscribers: int = 1
    browsers: int = (
        0  # real Chromium subscribers (visdom_chaos.wire.browser), ids browser-0, browser-1…
    )
    polling_frontend: bool = False
    via_proxy: bool = False
    # Visdom mounted under this path by the proxy, stripped on the way in (nginx
    # `location /visdom/`, Jupyter server-proxy): every subscriber uses PROXY/<prefix>
    path_prefix: str = ""
    behaviours: list[Behaviour] = field(default_factory=list)
    faults: list[dict[str, Any]] = field(default_factory=list)
    expect: dict[str, list[str]] = field(default_factory=dict)
    max_updates_per_source: int | None = None
    probe: str | None = None  # "security" | "page" | "client_socket": run once the load settled
    probe_fault: str = "half_open"  # client_socket: "half_open" | "restart" (the Visdom process)
    target_env: dict[str, str] = field(default_factory=dict)  # environment of the Visdom process

    def expectations_for(self, version: str, variant: str) -> list[str]:
        """Rules for a target: keys `stock`, `patched`, `<version>:<variant>`, later keys add."""
        rules: list[str] = []
        for key in (variant, f"{version}:{variant}"):
            rules += self.expect.get(key, [])
        return rules


class _Locator:
    """Best-effort line numbers for fields (tomllib reports them only for syntax errors)."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()

    def line_of(self, key: str, table: str | None = None, nth: int = 0) -> int | None:
        start, count = 0, -1
        if table is not None:
            header = re.compile(rf"^\s*\[\[?\s*{re.escape(table)}\s*\]\]?\s*$")
            for i, line in enumerate(self.lines):
                if header.match(line):
                    count += 1
                    if count == nth:
                        start = i
                        break
        pattern = re.compile(rf"(^|[\s{{,]){re.escape(key)}\s*=")
        for i in range(start, len(self.lines)):
            if pattern.search(self.lines[i]):
                return i + 1
        return start + 1 if table is not None and count >= 0 else None


def _fail(path: Path | str, line: int | None, fieldname: str, msg: str) -> ScenarioError:
    where = f"{path}:{line}" if line else str(path)
    return ScenarioError(f"{where}: field '{fieldname}': {msg}")


def _number(value: Any, *, positive: bool = False, integer: bool = False) -> float | int:
    ok = isinstance(value, int) if integer else isinstance(value, int | float)
    if not ok or isinstance(value, bool):
        raise TypeError("expected an integer" if integer else "expected a number")
    if positive and value <= 0:
        raise TypeError("must be > 0")
    if value < 0:
        raise TypeError("must be >= 0")
    return value


def parse_scenario(text: str, path: Path | str = "<scenario>") -> Scenario:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise ScenarioError(f"{path}:{m.group(1) if m else '?'}: TOML syntax: {exc}") from exc
    loc = _Locator(text)

    def check(table: str | None, key: str, fn, value, nth: int = 0, label: str | None = None):
        try:
            return fn(value)
        except (TypeError, ValueError) as exc:
            raise _fail(
                path,
                loc.line_of(key, table, nth),
                label or (f"{table}.{key}" if table else key),
                str(exc),
            ) from None

    known_top = {
        "name",
        "description",
        "visdom_issues",
        "fixed_in",
        "run",
        "load",
        "behaviour",
        "faults",
        "target",
        "expect",
        "probe",
        "probe_fault",
    }
    for key in data:
        if key not in known_top:
            raise _fail(
                path,
                loc.line_of(key),
                key,
                f"unknown field (known: {', '.join(sorted(known_top))})",
            )
    name = data.get("name") or Path(str(path)).stem
    if not isinstance(name, str):
        raise _fail(path, loc.line_of("name"), "name", "expected a string")
    desc = data.get("description", "")
    if not isinstance(desc, str) or not desc.strip():
        raise _fail(
            path, loc.line_of("description"), "description", "a one-line description is required"
        )
    sc = Scenario(name=name, description=desc.strip(), path=Path(str(path)))
    sc.visdom_issues = [str(i) for i in data.get("visdom_issues", [])]
    probe = data.get("probe")
    if probe is not None and probe not in PROBES:
        raise _fail(path, loc.line_of("probe"), "probe", f"expected one of {', '.join(PROBES)}")
    sc.probe = probe
    probe_fault = data.get("probe_fault", "half_open")
    if probe_fault not in PROBE_FAULTS or (probe != "client_socket" and "probe_fault" in data):
        raise _fail(
            path,
            loc.line_of("probe_fault"),
            "probe_fault",
            f'expected one of {", ".join(PROBE_FAULTS)}, with probe = "client_socket"',
        )
    sc.probe_fault = probe_fault
    sc.fixed_in = [str(i) for i in data.get("fixed_in", [])]

    run = data.get("run", {})
    for key, value in run.items():
        if key == "duration":
            sc.duration_s = check("run", key, lambda v: float(_number(v, positive=True)), value)
        elif key == "settle":
            sc.settle_s = check("run", key, lambda v: float(_number(v)), value)
        elif key == "max_updates_per_source":
            sc.max_updates_per_source = check(
                "run", key, lambda v: int(_number(v, positive=True, integer=True)), value
            )
        else:
            raise _fail(path, loc.line_of(key, "run"), f"run.{key}", "unknown field")

    load = data.get("load", {})
    for key, value in load.items():
        if key == "sources":
            if not isinstance(value, list) or not value:
                raise _fail(
                    path,
                    loc.line_of(key, "load"),
                    "load.sources",
                    "expected a non-empty list of tables",
                )
            sc.sources = [_source(s, i, path, loc) for i, s in enumerate(value)]
        elif key in ("websocket_subscribers", "polling_subscribers", "browsers"):
            setattr(sc, key, check("load", key, lambda v: int(_number(v, integer=True)), value))
        elif key == "path_prefix":
            sc.path_prefix = check("load", key, _path_prefix, value)
            sc.via_proxy = True
        elif key in ("polling_frontend", "via_proxy"):
            if not isinstance(value, bool):
                raise _fail(path, loc.line_of(key, "load"), f"load.{key}", "expected true or false")
            setattr(sc, key, value)
        else:
            raise _fail(path, loc.line_of(key, "load"), f"load.{key}", "unknown field")
    if sc.probe == "client_socket":  # the probe freezes the client's link in the proxy
        sc.via_proxy = True

    target = data.get("target", {})
    for key, value in target.items():
        if key != "env":
            raise _fail(
                path, loc.line_of(key, "target"), f"target.{key}", "unknown field (known: env)"
            )
        if not isinstance(value, dict) or not all(
            isinstance(v, str | int | float) for v in value.values()
        ):
            raise _fail(
                path, loc.line_of(key, "target"), "target.env", "expected a table of NAME = value"
            )
        sc.target_env = {str(k): str(v) for k, v in value.items()}

    for i, b in enumerate(data.get("behaviour", [])):
        sc.behaviours.append(_behaviour(b, i, path, loc))
    faults = data.get("faults", [])
    if not isinstance(faults, list):
        raise _fail(path, loc.line_of("faults"), "faults", "expected [[faults]] tables")
    sc.faults = faults
    if faults:
        _check_faults(faults, path, loc)
        sc.via_proxy = True
    expect = data.get("expect", {})
    for key, rules in expect.items():
        if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
            raise _fail(
                path, loc.line_of(key, "expect"), f"expect.{key}", "expected a list of rule strings"
            )
        _check_rules(rules, path, loc.line_of(key, "expect"), f"expect.{key}")
        sc.expect[key] = rules
    return sc


def _path_prefix(value: Any) -> str:
    if not isinstance(value, str) or not value.startswith("/") or value.rstrip("/") == "":
        raise TypeError('expected a path prefix such as "/visdom"')
    if any(c in value for c in "?# "):
        raise ValueError("a path prefix has no query, fragment or space")
    return value.rstrip("/")


def _source(s: Any, i: int, path, loc: _Locator) -> SourceSpec:
    label = f"load.sources[{i}]"
    line = loc.line_of("sources", "load")
    if not isinstance(s, dict):
        raise _fail(path, line, label, 'expected a table like {kind = "line", rate = 20}')
    spec = SourceSpec()
    for key, value in s.items():
        try:
            if key == "kind":
                if value not in REAL_KINDS:
                    raise ValueError(f"unknown kind {value!r}; one of {', '.join(REAL_KINDS)}")
                spec.kind = value
            elif key == "client":
                if value not in ("toolkit", "visdom"):
                    raise ValueError(f"unknown client {value!r}; one of toolkit, visdom")
                spec.client = value
            elif key == "rate":
                spec.rate_hz = float(_number(value, positive=True))
            elif key == "env":
                if not isinstance(value, str) or not value:
                    raise TypeError("expected an env name")
                spec.env = value
            elif key == "pad_bytes":
                spec.pad_bytes = int(_number(value, integer=True))
            else:
                raise ValueError("unknown field")
        except (TypeError, ValueError) as exc:
            raise _fail(path, line, f"{label}.{key}", str(exc)) from None
    if spec.client == "toolkit" and spec.kind not in KINDS:
        raise _fail(
            path,
            line,
            f"{label}.kind",
            f'kind {spec.kind!r} needs client = "visdom" (the toolkit\'s own: {", ".join(KINDS)})',
        )
    if spec.client == "visdom" and spec.pad_bytes:
        raise _fail(path, line, f"{label}.pad_bytes", 'not with client = "visdom"')
    return spec


def _behaviour(b: Any, i: int, path, loc: _Locator) -> Behaviour:
    label = f"behaviour[{i}]"
    if not isinstance(b, dict):
        raise _fail(path, loc.line_of("behaviour"), label, "expected a [[behaviour]] table")

    def line(key):
        return loc.line_of(key, "behaviour", i)

    action = b.get("action")
    if action not in ACTIONS:
        raise _fail(
            path, line("action"), f"{label}.action", f"expected one of {', '.join(ACTIONS)}"
        )
    clients = b.get("clients")
    if isinstance(clients, str):
        clients = [clients]
    if not isinstance(clients, list) or not clients or not all(isinstance(c, str) for c in clients):
        raise _fail(
            path,
            line("clients"),
            f"{label}.clients",
            'expected a client pattern or list, e.g. "ws-*"',
        )
    beh = Behaviour(action=action, clients=clients)
    for key, value in b.items():
        if key in ("action", "clients"):
            continue
        try:
            if key in ("at", "seconds"):
                setattr(beh, key, float(_number(value)))
            elif key in ("every", "until"):
                setattr(beh, key, float(_number(value, positive=True)))
            elif key == "env":
                if not isinstance(value, str):
                    raise TypeError("expected an env name")
                beh.env = value
            else:
                raise ValueError("unknown field")
        except (TypeError, ValueError) as exc:
            raise _fail(path, line(key), f"{label}.{key}", str(exc)) from None
    if action == "stall" and beh.seconds <= 0:
        raise _fail(path, line("seconds"), f"{label}.seconds", "stall needs seconds > 0")
    if action == "switch_env" and not beh.env:
        raise _fail(path, line("env"), f"{label}.env", "switch_env needs env")
    return beh


def _check_faults(faults: list, path, loc: _Locator) -> None:
    try:
        parse_entries(faults, horizon=3600)
    except ValueError as exc:
        m = re.match(r"faults\[(\d+)\]", str(exc))
        key = re.search(r"field '(\w+)'", str(exc))
        line = (
            loc.line_of(key.group(1) if key else "action", "faults", int(m.group(1)))
            if m
            else loc.line_of("faults")
        )
        raise ScenarioError(f"{path}:{line or '?'}: {exc}") from None


def _check_rules(rules: list[str], path, line, label) -> None:
    for rule in rules:
        try:
            parse_rules(rule)
        except ValueError as exc:
            raise _fail(path, line, label, f"bad rule {rule!r}: {exc}") from None


def scenario_files() -> dict[str, Path]:
    return {p.stem: p for p in sorted(SCENARIO_DIR.glob("*.toml"))}


def load_scenario(name_or_path: str) -> Scenario:
    files = scenario_files()
    path = files.get(name_or_path) or Path(name_or_path)
    if not path.exists():
        raise ScenarioError(
            f"no scenario {name_or_path!r}: not a file and not one of {', '.join(files) or '(none)'}"
        )
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot read: {exc}") from exc
    return parse_scenario(text, path)
