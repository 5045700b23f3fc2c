"""Toxic and proxy specifications: field names, defaults and validation.

Field names follow Toxiproxy's API (`name`, `type`, `stream`, `toxicity`,
`attributes`) so its clients work unchanged; types beyond Toxiproxy's are
additions. Every validation error is one line naming the toxic and the field.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

STREAMS = ("upstream", "downstream")


class ChaosError(ValueError):
    """Bad input from a user or API client; `status` is the HTTP code the API answers."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _nonneg_int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int | float) or v < 0 or int(v) != v:
        raise ValueError("expected a non-negative integer")
    return int(v)


def _pos_int(v: Any) -> int:
    v = _nonneg_int(v)
    if v == 0:
        raise ValueError("expected a positive integer")
    return v


def _prob(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not 0.0 <= v <= 1.0:
        raise ValueError("expected a number from 0 to 1")
    return float(v)


def _str(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError("expected a string")
    return v


def _match(v: Any) -> dict[str, Any] | None:
    if v is None or v == {}:
        return None
    if not isinstance(v, dict):
        raise ValueError('expected a JSON object such as {"command": "window_update"}')
    return v


def _opcode(v: Any) -> str:
    if v not in ("text", "binary", "any"):
        raise ValueError("expected one of text, binary, any")
    return v


def _globs(v: Any) -> list[str]:
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list) or not all(isinstance(p, str) and p for p in v):
        raise ValueError('expected a list of client id patterns such as ["ws-1", "poll-*"]')
    return list(v)


def _port(v: Any) -> int:
    v = _nonneg_int(v)
    if v > 65535:
        raise ValueError("expected a TCP port 0..65535")
    return v


def _prefix(v: Any) -> str:
    if not isinstance(v, str) or not v.startswith("/") or any(c in v for c in "?# \r\n"):
        raise ValueError('expected a path such as "/visdom"')
    return v.rstrip("/")  # "/visdom/" and "/visdom" are the same mount point


def _status(v: Any) -> int:
    v = _nonneg_int(v)
    if not 100 <= v <= 599:
        raise ValueError("expected an HTTP status code 100..599")
    return v


Attr = tuple[Any, Callable[[Any], Any]]  # default, validator

_WS_SELECT: dict[str, Attr] = {
    "probability": (1.0, _prob),  # per message, after the per-connection toxicity
    "match": (
        None,
        _match,
    ),  # subset of the decoded JSON message, e.g. {"command": "window_update"}
    "contains": ("", _str),  # substring of a text message
    "opcode": ("any", _opcode),
    "limit": (
        0,
        _nonneg_int,
    ),  # affect at most this many messages in all, over the whole proxy; 0 = no limit
}
_HTTP_SELECT: dict[str, Attr] = {
    "method": ("", _str),  # "" = any method
    "path": ("", _str),  # path prefix; "" = any
    "probability": (1.0, _prob),
    "limit": (0, _nonneg_int),
}

# type -> attribute schema. Times in ms unless named otherwise (slicer `delay` is µs, as in Toxiproxy).
TOXIC_TYPES: dict[str, dict[str, Attr]] = {
    # Toxiproxy's own
    "latency": {"latency": (0, _nonneg_int), "jitter": (0, _nonneg_int)},
    "bandwidth": {"rate": (0, _pos_int)},  # KB/s, KB = 1000 bytes
    "slow_close": {"delay": (0, _nonneg_int)},
    "timeout": {"timeout": (0, _nonneg_int)},
    "reset_peer": {"timeout": (0, _nonneg_int)},
    "slicer": {
        "average_size": (0, _pos_int),
        "size_variation": (0, _nonneg_int),
        "delay": (0, _nonneg_int),
    },
    "limit_data": {"bytes": (0, _nonneg_int)},
    # additions
    "down": {},
    "stall": {},
    "half_open": {},
    "ws_drop": dict(_WS_SELECT),
    "ws_duplicate": {**_WS_SELECT, "copies": (1, _pos_int)},
    "ws_delay": {**_WS_SELECT, "delay": (0, _nonneg_int)},
    "ws_reorder": {**_WS_SELECT, "after": (1, _pos_int), "max_hold": (1000, _nonneg_int)},
    "http_delay": {**_HTTP_SELECT, "delay": (0, _nonneg_int)},
    "http_fail": {**_HTTP_SELECT, "status": (503, _status), "body": ("", _str)},
    # served under `prefix`, stripped on the way in; requests outside it answered `status`
    "path_prefix": {"prefix": ("", _prefix), "status": (404, _status)},
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "bandwidth": ("rate",),
    "slicer": ("average_size",),
    "path_prefix": ("prefix",),
}
# Aiming, accepted by every type and absent unless given (a Toxiproxy client sees its own
# attributes only): `clients` = glob patterns matched against the client id a connection
# declares in its `X-VC-Client` request header; `downstream_port` = the client's port.
# A toxic with either acts only on the connections that match (all given must hold).
AIM: dict[str, Attr] = {"clients": ([], _globs), "downstream_port": (0, _port)}
CLIENT_HEADER = "x-vc-client"  # lower-cased, as HttpHead keeps header names


def validate_attributes(
    toxic: str, type_: str, attrs: Any, base: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Full attribute dict for `type_`: defaults (or `base` on update) overlaid with `attrs`."""
    schema = TOXIC_TYPES[type_]
    if attrs is None:
        attrs = {}
    if not isinstance(attrs, dict):
        raise ChaosError(f"toxic {toxic!r}: attributes must be an object")
    out = dict(base) if base is not None else {k: copy.deepcopy(d) for k, (d, _) in schema.items()}
    for key, value in attrs.items():
        check = schema[key][1] if key in schema else AIM[key][1] if key in AIM else None
        if check is None:
            known = ", ".join([*schema, *AIM])
            raise ChaosError(
                f"toxic {toxic!r} ({type_}): unknown attribute {key!r} (known: {known})"
            )
        try:
            out[key] = check(value)
        except ValueError as e:
            raise ChaosError(f"toxic {toxic!r} attribute {key!r}: {e}, got {value!r}") from None
        if key in AIM and not out[key]:
            del out[key]  # [] / 0: aimed at no one in particular
    if base is None:
        for key in REQUIRED.get(type_, ()):
            if key not in attrs:
                raise ChaosError(f"toxic {toxic!r} ({type_}): attribute {key!r} is required")
    return out


@dataclass
class ToxicSpec:
    name: str
    type: str
    stream: str = "downstream"
    toxicity: float = 1.0
    attributes: dict[str, Any] = field(default_factory=dict)
    version: int = 0  # bumped on every update so links rebuild their state

    @property
    def clients(self) -> list[str]:
        """Client id patterns this toxic is aimed at ([] = every connection)."""
        return self.attributes.get("clients") or []

    @property
    def downstream_port(self) -> int:
        """The one client port this toxic is aimed at (0 = any)."""
        return self.attributes.get("downstream_port") or 0

    @classmethod
    def from_json(cls, body: Any) -> ToxicSpec:
        if not isinstance(body, dict):
            raise ChaosError("toxic: expected a JSON object")
        type_ = body.get("type")
        if type_ not in TOXIC_TYPES:
            raise ChaosError(f"toxic: unknown type {type_!r} (known: {', '.join(TOXIC_TYPES)})")
        stream = body.get("stream", "downstream") or "downstream"
        if stream not in STREAMS:
            raise ChaosError(f"toxic: stream must be upstream or downstream, got {stream!r}")
        name = body.get("name") or f"{type_}_{stream}"
        if not isinstance(name, str):
            raise ChaosError("toxic: name must be a string")
        try:
            toxicity = _prob(body.get("toxicity", 1.0))
        except ValueError as e:
            raise ChaosError(f"toxic {name!r} field 'toxicity': {e}") from None
        attrs = validate_attributes(name, type_, body.get("attributes"))
        return cls(name, type_, stream, toxicity, attrs)

    def updated(self, body: Any) -> ToxicSpec:
        """A new spec with `toxicity` / `attributes` / `stream` changed (Toxiproxy's update)."""
        if not isinstance(body, dict):
            raise ChaosError(f"toxic {self.name!r}: expected a JSON object")
        if "type" in body and body["type"] not in (None, self.type):
            raise ChaosError(
                f"toxic {self.name!r}: type cannot change ({self.type} -> {body['type']})"
            )
        toxicity = self.toxicity
        if "toxicity" in body:
            try:
                toxicity = _prob(body["toxicity"])
            except ValueError as e:
                raise ChaosError(f"toxic {self.name!r} field 'toxicity': {e}") from None
        stream = body.get("stream") or self.stream
        if stream not in STREAMS:
            raise ChaosError(
                f"toxic {self.name!r}: stream must be upstream or downstream, got {stream!r}"
            )
        attrs = validate_attributes(
            self.name, self.type, body.get("attributes"), base=self.attributes
        )
        return ToxicSpec(self.name, self.type, stream, toxicity, attrs, self.version + 1)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": self.toxicity,
            "attributes": copy.deepcopy(self.attributes),
        }
