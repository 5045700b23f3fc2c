"""Server monitor: RSS, CPU, file descriptors and established sockets of the Visdom process."""

from __future__ import annotations

import threading

import psutil

from visdom_chaos.journal import JournalWriter

SAMPLE_INTERVAL_S = 0.25


def established_peers(proc: psutil.Process, port: int) -> list[int]:
    """Remote ports of the server's ESTABLISHED sockets on its listening port."""
    conns = proc.net_connections(kind="tcp") if hasattr(proc, "net_connections") else proc.connections(kind="tcp")
    return sorted(
        c.raddr.port
        for c in conns
        if c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port == port and c.raddr
    )


class ServerMonitor:
    """Samples one process every `interval` seconds into the journal, in a thread."""

    def __init__(self, pid: int, port: int, journal: JournalWriter, interval: float = SAMPLE_INTERVAL_S) -> None:
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
