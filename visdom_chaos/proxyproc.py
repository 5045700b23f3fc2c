"""The chaos proxy as a child process in front of the target, driven over its control API."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from visdom_chaos.chaos import ChaosClient
from visdom_chaos.targets import spawn, stop_pid

READY_TIMEOUT_S = 20.0
PROXY_NAME = "visdom"


class ProxyError(RuntimeError):
    pass


class ProxyProcess:
    """`python -m visdom_chaos.chaos serve` on free ports; one proxy named "visdom" to the upstream."""

    def __init__(self, run_dir: Path, upstream_port: int) -> None:
        self.run_dir = Path(run_dir)
        ready = self.run_dir / "proxy.ready.json"
        ready.unlink(missing_ok=True)
        self.log_path = self.run_dir / "proxy.log"
        cmd = [
            sys.executable,
            "-m",
            "visdom_chaos.chaos",
            "serve",
            "--api",
            "127.0.0.1:0",
            "--ready-file",
            str(ready),
            "--journal",
            str(self.run_dir / "journal" / "faults.jsonl"),
            "--quiet",
        ]
        with open(self.log_path, "ab") as log:
            self.proc = spawn(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not ready.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise ProxyError(f"chaos proxy did not start (see {self.log_path})")
            time.sleep(0.05)
        self.api = json.loads(ready.read_text())["api"]
        self.client = ChaosClient(f"http://{self.api}")
        info = self.client.add_proxy(
            PROXY_NAME, upstream=f"127.0.0.1:{upstream_port}", listen="127.0.0.1:0"
        )
        self.listen = info["listen"]
        self.url = f"http://{self.listen}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            stop_pid(self.proc.pid, self.proc)
