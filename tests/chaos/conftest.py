"""Fixtures for the chaos proxy tests (defined in chaoshelp, a module name of its own)."""

from chaoshelp import chaos, echo_server, make_server, ws_server  # noqa: F401
