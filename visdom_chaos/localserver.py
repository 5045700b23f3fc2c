"""The user's own Visdom on this machine: find the process listening on a loopback port.

`visdom-chaos run --target http://127.0.0.1:PORT` and Locust's `--host` measure a server
they did not start. When it runs on this machine (loopback URL), the process that owns the
listening socket is found by its port and monitored as an embedded target is
(`visdom_chaos.monitor.ServerMonitor`: RSS, CPU, file descriptors, sockets, ghosts).

Two ways to find it, in order:
- `psutil.net_connections("tcp")`: every socket of the machine. On Linux it lists other
  users' sockets too, but without their pid (`pid` None): the owner is then another user
  (or root), and this user may not read its memory anyway.
- one process at a time (`Process.net_connections`), the processes this user may inspect
  (AccessDenied skipped), for systems where the machine-wide list is refused (macOS).

`LocalServer.note` says, when it is not found, why and what is then not measured.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

import psutil

from visdom_chaos.netguard import is_loopback_host

NOT_MEASURED = "server RSS, CPU, file descriptors and sockets (memory growth, ghost subscribers)"
_ANY_ADDR = ("0.0.0.0", "::", "")


@dataclass
class LocalServer:
    """Who listens on a URL's port: `pid` None when nobody this user can measure."""

    url: str
    port: int
    pid: int | None = None
    found_by: str | None = None  # net_connections | process_scan
    name: str | None = None
    cmdline: list[str] = field(default_factory=list)
    username: str | None = None
    listen: str | None = None  # the listening address, e.g. 127.0.0.1:8097
    note: str | None = None  # why not found, and what is then not measured

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def url_port(url: str) -> int:
    parts = urlsplit(url)
    return parts.port or (443 if parts.scheme == "https" else 80)


def _matches(conn: Any, port: int) -> bool:
    return bool(conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port)


def _listeners_machine_wide(port: int) -> tuple[list[Any], str | None]:
    """Listening sockets on `port` (their pid may be None), or an error when refused."""
    try:
        return [c for c in psutil.net_connections(kind="tcp") if _matches(c, port)], None
    except (psutil.AccessDenied, OSError) as exc:
        return [], f"{type(exc).__name__}: {exc}"


def _listener_by_scan(port: int) -> tuple[int | None, str | None, int]:
    """(pid, listen address, processes refused) of a process of this user's that listens on port."""
    refused = 0
    for proc in psutil.process_iter():
        try:
            conns = (
                proc.net_connections(kind="tcp")
                if hasattr(proc, "net_connections")
                else proc.connections(kind="tcp")
            )
        except psutil.AccessDenied:
            refused += 1
            continue
        except (psutil.NoSuchProcess, psutil.ZombieProcess, OSError):
            continue
        for c in conns:
            if _matches(c, port):
                return proc.pid, f"{c.laddr.ip}:{c.laddr.port}", refused
    return None, None, refused


def find_local_server(url: str, *, exclude_pids: tuple[int, ...] = ()) -> LocalServer:
    """The process listening on `url`'s port when `url` is on loopback (see the module doc).

    `exclude_pids`: processes that cannot be the server (this one: a Locust process that
    listens on the same port would be measuring itself)."""
    host = urlsplit(url).hostname or ""
    port = url_port(url)
    found = LocalServer(url=url, port=port)
    if not is_loopback_host(host):
        found.note = (
            f"{host} is not on loopback: the server runs elsewhere, {NOT_MEASURED} not measured"
        )
        return found
    exclude = set(exclude_pids) | {os.getpid()}
    listeners, refused_why = _listeners_machine_wide(port)
    hidden = [c for c in listeners if not c.pid]
    mine = [c for c in listeners if c.pid and c.pid not in exclude]
    pid, listen, how = None, None, None
    if mine:
        pid, listen, how = (
            mine[0].pid,
            f"{mine[0].laddr.ip}:{mine[0].laddr.port}",
            "net_connections",
        )
    elif refused_why is not None or not listeners:
        pid, listen, refused = _listener_by_scan(port)
        how = "process_scan" if pid is not None else None
        if pid in exclude:
            pid = None
    if pid is None:
        if hidden:
            found.listen = f"{hidden[0].laddr.ip}:{hidden[0].laddr.port}"
            found.note = (
                f"port {port} is listened on ({found.listen}) by a process this user may not "
                f"inspect (another user's, or root's): {NOT_MEASURED} not measured"
            )
        elif listeners and all(c.pid in exclude for c in listeners):
            found.note = (
                f"port {port} is this harness's own: {NOT_MEASURED} of the server not measured"
            )
        else:
            found.note = (
                f"no process on this machine that this user may inspect listens on port {port} "
                "(a container's or VM's forwarded port, another network namespace, or another "
                f"user's process): {NOT_MEASURED} not measured"
            )
        return found
    try:
        proc = psutil.Process(pid)
        with proc.oneshot():
            proc.memory_info()  # the monitor needs this: refused for another user's process
            found.name = proc.name()
            found.cmdline = proc.cmdline()[:12]
            found.username = proc.username()
    except psutil.AccessDenied:
        found.listen = listen
        found.note = (
            f"pid {pid} listens on port {port} but this user may not read its memory "
            f"(AccessDenied): {NOT_MEASURED} not measured"
        )
        return found
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        found.note = f"pid {pid} listened on port {port} and exited: {NOT_MEASURED} not measured"
        return found
    found.pid, found.found_by, found.listen = pid, how, listen
    return found


def describe(found: LocalServer) -> str:
    """One line for run.json notes and the report: which process, found how."""
    if found.pid is None:
        return found.note or f"no local server found on port {found.port}"
    cmd = " ".join(found.cmdline)[:160]
    return (
        f"server process found by its port {found.port}: pid {found.pid} ({found.name}"
        f"{', ' + found.username if found.username else ''}) listening on {found.listen}, "
        f"via {found.found_by}; command: {cmd}"
    )
