"""python -m bench [NAME [ARGS...]]: run every bench/bench_*.py main() in turn, or the one named.

`python -m bench proxy --quick` runs bench/bench_proxy.py with `--quick`.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path


def available() -> list[str]:
    return sorted(p.stem.removeprefix("bench_") for p in Path(__file__).parent.glob("bench_*.py"))


def main(argv: list[str]) -> int:
    names = available()
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        print("available:", ", ".join(names))
        return 0
    if argv:
        name, rest = argv[0], argv[1:]
        if name not in names:
            print(f"bench: no benchmark {name!r} (available: {', '.join(names)})", file=sys.stderr)
            return 2
        return int(importlib.import_module(f"bench.bench_{name}").main(rest) or 0)
    worst = 0
    for name in names:
        print(f"\n=== bench {name} ===", flush=True)
        worst = max(worst, int(importlib.import_module(f"bench.bench_{name}").main([]) or 0))
    return worst


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
