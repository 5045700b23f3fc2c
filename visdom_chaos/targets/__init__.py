"""Target manager: build Visdom versions offline and run them as child processes."""

from visdom_chaos.targets.build import (
    BUNDLES,
    VARIANTS,
    VERSIONS,
    BuiltTarget,
    TargetError,
    build_target,
    cache_dir,
    find_python,
    list_built,
    load_built,
)
from visdom_chaos.targets.process import (
    Target,
    detach,
    external_target,
    spawn,
    start_built,
    start_target,
    stop_all_children,
    stop_pid,
    stop_procs,
)

__all__ = [
    "BUNDLES",
    "VARIANTS",
    "VERSIONS",
    "BuiltTarget",
    "Target",
    "TargetError",
    "build_target",
    "cache_dir",
    "external_target",
    "find_python",
    "list_built",
    "load_built",
    "start_built",
    "start_target",
    "detach",
    "spawn",
    "stop_all_children",
    "stop_pid",
    "stop_procs",
]
