"""`visdom-chaos security`: list "visdom_chaos.security.command" in cli.COMMAND_MODULES to enable it."""

from visdom_chaos.security.__main__ import register

__all__ = ["register"]
