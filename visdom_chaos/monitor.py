"""Server monitor: RSS, CPU, file descriptors and established sockets of the Visdom process."""

from __future__ import annotations

import threading

import psutil

from visdom_chaos.journal import JournalWriter

SAMPLE_INTERVAL_S = 0.25


def established_peers(proc: psutil.Process, port: int) -> list[int]:
    """Remote ports of the server's ESTABLISHED sockets on its listening port."""
    conns = (
        proc.net_connections(kind="tcp")
        if hasattr(proc, "net_connections")
        else proc.connections(kind="tcp")
    )
    return sorted(
        c.raddr.port
        for c in conns
        if c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port == port and c.raddr
    )


class ServerMonitor:
    """Samples one process every `interval` seconds into the journal, in a thread."""

    def __init__(
        self, pid: int, port: int, journal: JournalWriter, interval: float = SAMPLE_INTERVAL_S
    ) -> None:
        self.proc = psutil.Process(pid)
        self.port = port
        self.journal = journal
        self.interval = interval
        self.samples = 0
        self.last: dict | None = None
        self.gone = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="server-monitor", daemon=True)
        self.proc.cpu_percent(None)  # prime: the first call always answers 0.0

    def sample(self) -> dict | None:
        try:
            with self.proc.oneshot():
                mem = self.proc.memory_info()
                record = {
                    "pid": self.proc.pid,
                    "rss_mib": round(mem.rss / 2**20, 3),
                    "cpu_pct": self.proc.cpu_percent(None),
                    "fds": self.proc.num_fds(),
                    "threads": self.proc.num_threads(),
                }
            peers = established_peers(self.proc, self.port)
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            self.gone = True
            return None
        record.update(conns=len(peers), peers=peers)
        self.journal.write("sample", "monitor", 0, **record)
        self.samples += 1
        self.last = record
        return record

    def _run(self) -> None:
        while not self._stop.is_set() and not self.gone:
            self.sample()
            self._stop.wait(self.interval)

    def start(self) -> ServerMonitor:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


OBSERVER_INTERVAL_S = 0.5


class HarnessMonitor:
    """CPU and memory of the harness's own processes (orchestrator, workers, proxy), so every
    report can say whether the observer kept headroom against the Visdom it measured."""

    def __init__(self, journal: JournalWriter, interval: float = OBSERVER_INTERVAL_S) -> None:
        self.journal = journal
        self.interval = interval
        self._procs: dict[int, tuple[str, str, psutil.Process]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="harness-monitor", daemon=True)

    def watch(self, pid: int, role: str, name: str) -> None:
        try:
            proc = psutil.Process(pid)
            proc.cpu_percent(None)  # prime
        except psutil.Error:
            return
        with self._lock:
            self._procs[pid] = (role, name, proc)

    def sample(self) -> None:
        with self._lock:
            procs = list(self._procs.items())
        for pid, (role, name, proc) in procs:
            try:
                with proc.oneshot():
                    cpu = proc.cpu_percent(None)
                    rss = proc.memory_info().rss / 2**20
                    threads = proc.num_threads()
            except psutil.Error:
                with self._lock:
                    self._procs.pop(pid, None)
                continue
            self.journal.write(
                "observer_sample",
                name,
                0,
                pid=pid,
                role=role,
                name=name,
                cpu_pct=cpu,
                rss_mib=round(rss, 3),
                threads=threads,
            )

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def start(self) -> HarnessMonitor:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sample()  # the last interval too
