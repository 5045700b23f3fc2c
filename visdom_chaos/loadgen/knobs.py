"""Every load knob: a Locust custom argument `--vc-<name>` and a scenario TOML `[load]` key.

One table drives the command line, the web UI form (Locust shows custom arguments
there and casts form values by the type of the current value, so every default is
typed: "" not None) and scenario files, whose `[load]` keys are the knob names with
`_` (e.g. `abrupt_every_s = 3`). Command line beats scenario beats default.
"""

from __future__ import annotations

import argparse
import logging
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("visdom_chaos.loadgen")

KINDS = ("line", "scatter", "text", "image")
SHAPES = ("steady", "ramp", "spike", "soak")


@dataclass(frozen=True)
class Knob:
    name: str  # underscore form: the TOML key and the argparse dest without "vc_"
    default: Any
    help: str
    choices: tuple[str, ...] | None = None

    @property
    def flag(self) -> str:
        return "--vc-" + self.name.replace("_", "-")

    @property
    def dest(self) -> str:
        return "vc_" + self.name


KNOBS: tuple[Knob, ...] = (
    # run
    Knob(
        "scenario",
        "",
        "scenario TOML file; its [load] table sets any knob below (command line wins)",
    ),
    Knob("out", "", "run folder for journals and report (default reports/runs/<time>-locust)"),
    Knob(
        "allow_remote", False, "allow a non-loopback --host (load goes only to loopback otherwise)"
    ),
    Knob(
        "visdom_version",
        "0.2.4",
        "Visdom version of the target: picks the browser replica",
        ("0.2.4", "0.3.0"),
    ),
    Knob("seed", 0, "seed for behaviour jitter"),
    # shape
    Knob("shape", "steady", "load shape", SHAPES),
    Knob(
        "users",
        0,
        "total users (0: Locust's -u); a run scenario sets it from its sources and subscribers",
    ),
    Knob(
        "duration_s",
        0.0,
        "stop after this long (0: Locust's -t); a run scenario sets it from [run] duration",
    ),
    Knob("ramp_s", 30.0, "ramp/soak: seconds to reach -u users"),
    Knob("spike_users", 0, "spike: extra browser users during the spike (0: as many as -u)"),
    Knob("spike_at_s", 10.0, "spike: seconds into the run the spike starts"),
    Knob("spike_s", 10.0, "spike: how long the spike lasts"),
    Knob("soak_s", 1800.0, "soak: total duration when no --run-time is given"),
    # training
    Knob("training_users", 2, "TrainingUser count (fixed; the other users are browsers)"),
    Knob(
        "polling_users", 0, "PollingBrowserUser count (fixed; the rest are WebSocket BrowserUsers)"
    ),
    Knob(
        "browsers",
        0,
        "ChromiumUser count: real headless Chromium tabs on the Visdom UI (fixed; needs "
        "/usr/bin/chromium and the browser extra)",
    ),
    Knob("rate", 10.0, "updates per second per training window"),
    Knob(
        "kinds",
        "line,scatter,text",
        f"window kinds the training users cycle through ({','.join(KINDS)})",
    ),
    Knob("windows", 1, "windows per training user"),
    Knob("envs", 1, "envs the windows and browsers spread over"),
    Knob("env_prefix", "vc_", "env name prefix: envs are <prefix>0, <prefix>1, …"),
    Knob(
        "user_env",
        "",
        "an env of your own (e.g. main) the browsers spread over too: your training job's "
        "windows there are judged against the server at the end (never cleared, never written)",
    ),
    Knob("pad_bytes", 0, "padding bytes per text append / image caption (payload size)"),
    Knob("image_px", 16, "image kind: side of the PNG in pixels (payload size)"),
    Knob(
        "fresh_envs",
        True,
        "close every window of the envs at test start (they are ours: <prefix><n>)",
    ),
    Knob(
        "http",
        "fast",
        "training HTTP client: fast (geventhttpclient, as FastHttpUser) or requests",
        ("fast", "requests"),
    ),
    Knob("max_updates", 0, "stop each window after this many appends (0: no limit)"),
    # browsers
    Knob("abrupt_every_s", 0.0, "browser: close without a close frame every N s, then reconnect"),
    Knob("clean_every_s", 0.0, "browser: clean close every N s, then reconnect"),
    Knob("reconnect_after_s", 0.5, "browser: seconds offline between a close and the reconnect"),
    Knob("refresh_every_s", 0.0, "browser: page refresh (new session, env reloaded) every N s"),
    Knob("stall_every_s", 0.0, "browser: stop reading for --vc-stall-s every N s (slow consumer)"),
    Knob("stall_s", 5.0, "browser: length of one stall"),
    Knob("flap_every_s", 0.0, "browser: a burst of rapid reconnects every N s"),
    Knob("flap_count", 5, "browser: reconnects per flap burst"),
    Knob("flap_gap_s", 0.1, "browser: seconds between the reconnects of a burst"),
    Knob("switch_env_every_s", 0.0, "browser: switch to the next env every N s"),
    Knob(
        "switch_env_mode",
        "navigate",
        "browser: switch by opening the env's page, or with the env selector (same socket)",
        ("navigate", "selector"),
    ),
    Knob(
        "jitter",
        0.2,
        "browser: random phase, as a fraction of each period, so tabs do not act in lockstep",
    ),
    Knob("poll_interval_s", 0.5, "polling browser: seconds between polls"),
    Knob("journal_recv", True, "journal one `recv` record per message (off for capacity runs)"),
    # stop
    Knob("quiet_s", 1.5, "quiescent = no message to any browser for this long"),
    Knob("quiescence_timeout_s", 30.0, "give up waiting for quiescence after this long"),
    Knob(
        "monitor", True, "sample the server's RSS/CPU/sockets (psutil) when it runs on this machine"
    ),
    Knob(
        "settle_s",
        6.0,
        "after the browsers leave, keep sampling the server this long (ghost subscribers)",
    ),
    Knob(
        "stale_bound_ms",
        0.0,
        "analysis: an id visible later than this after its ack is stale (0: the analyzer's default)",
    ),
    Knob("summary_timeout_s", 120.0, "master: wait this long for the workers' summaries"),
)

BY_NAME = {k.name: k for k in KNOBS}


def _bool(text: str | bool) -> bool:
    if isinstance(text, bool):
        return text
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"not a boolean: {text!r}")


def add_arguments(parser: Any) -> None:
    """Register every knob on Locust's parser (`init_command_line_parser`)."""
    group = parser.add_argument_group(
        "visdom-chaos", "load knobs (also `[load]` keys of --vc-scenario)"
    )
    for k in KNOBS:
        kw: dict[str, Any] = {"default": k.default, "dest": k.dest, "help": k.help}
        if isinstance(k.default, bool):
            # A flag that takes an optional value, so a scenario/true default can be turned off.
            kw.update(type=_bool, nargs="?", const=True)
        else:
            kw["type"] = type(k.default)
        if k.choices:
            kw["choices"] = k.choices
        action = group.add_argument(k.flag, **kw)
        # A group's add_argument is plain argparse: mark the action as Locust's own would, for the web UI.
        action.include_in_web_ui = True
        action.is_secret = action.is_required = action.is_multiple = False


class ScenarioError(ValueError):
    pass


def read_scenario(path: str | Path) -> dict[str, Any]:
    """The `[load]` table of a scenario file, checked against the knob table."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ScenarioError(f"cannot read scenario {path}: {exc}") from exc
    load = data.get("load", {})
    if not isinstance(load, dict):
        raise ScenarioError(f"{path}: [load] must be a table")
    out: dict[str, Any] = {}
    for key, value in load.items():
        knob = BY_NAME.get(key.replace("-", "_"))
        if knob is None:
            # The scenario format is shared with `visdom-chaos run`: keys we do not know are theirs.
            log.warning("scenario %s: [load] key %r is not a Locust knob; ignored", path, key)
            continue
        out[knob.name] = _coerce(knob, value, path)
    return out


def _coerce(knob: Knob, value: Any, path: str | Path) -> Any:
    want = type(knob.default)
    if want is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if want is str and isinstance(value, list):
        value = ",".join(str(v) for v in value)
    if not isinstance(value, want) or (want is int and isinstance(value, bool)):
        raise ScenarioError(f"{path}: [load] {knob.name} must be {want.__name__}, not {value!r}")
    if knob.choices and value not in knob.choices:
        raise ScenarioError(f"{path}: [load] {knob.name} must be one of {', '.join(knob.choices)}")
    return value


def apply_scenario(options: Any) -> dict[str, Any]:
    """Fill knobs still at their default from `--vc-scenario`; returns what the file set.

    A `visdom-chaos run` scenario (name or path) sets the counts and duration it implies;
    any other file is read as `[load]` knob keys.
    """
    from visdom_chaos.loadgen.scenario import knobs_from_plan

    path = getattr(options, "vc_scenario", "")
    if not path:
        return {}
    values = knobs_from_plan(path)
    if values is None:
        values = read_scenario(path)
    applied = {}
    for name, value in values.items():
        knob = BY_NAME[name]
        if getattr(options, knob.dest) == knob.default:
            setattr(options, knob.dest, value)
            applied[name] = value
    return applied


@dataclass(frozen=True)
class Knobs:
    """The knob values of one run, read from Locust's parsed options."""

    values: dict[str, Any]

    @classmethod
    def from_options(cls, options: Any) -> Knobs:
        vals = {
            k.name: getattr(options, k.dest, k.default) if options is not None else k.default
            for k in KNOBS
        }
        return cls(vals)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def kind_list(self) -> list[str]:
        kinds = [k.strip() for k in str(self.values["kinds"]).split(",") if k.strip()]
        bad = [k for k in kinds if k not in KINDS]
        if bad or not kinds:
            raise ScenarioError(
                f"--vc-kinds: unknown kind(s) {bad or kinds}; use {','.join(KINDS)}"
            )
        return kinds

    @property
    def env_names(self) -> list[str]:
        return [f"{self.values['env_prefix']}{i}" for i in range(max(1, int(self.values["envs"])))]
