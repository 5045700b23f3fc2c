"""The fault journal goes through the journal contract's writer: same records, write errors held."""

from __future__ import annotations

from visdom_chaos.chaos.faultlog import FaultLog
from visdom_chaos.journal import read_journal


def test_fault_log_records_read_back_as_journal(tmp_path):
    log = FaultLog(tmp_path / "faults.jsonl", scenario="s")
    log.fault("p", "lag", "latency", "downstream", conn=3, ms=20)
    log.conn("p", 3, "close", 4000, 5000, reason="eof")
    log.close()
    header, fault, conn = list(read_journal(tmp_path / "faults.jsonl"))
    assert header["role"] == "faults" and header["meta"] == {"scenario": "s"}
    assert list(fault) == [
        "t",
        "type",
        "client",
        "conn",
        "proxy",
        "toxic",
        "kind",
        "stream",
        "detail",
    ]
    assert fault["client"] == "proxy" and fault["conn"] == 3 and fault["detail"] == {"ms": 20}
    assert (
        conn["type"] == "proxy_conn" and conn["reason"] == "eof" and conn["upstream_port"] == 5000
    )
    assert log.count == 3 and log.error is None


def test_fault_log_write_error_stops_the_journal_not_the_caller(tmp_path):
    log = FaultLog(tmp_path / "faults.jsonl")

    class Full:
        def write(self, _data):
            raise OSError(28, "No space left on device")

        def close(self):
            pass

    log._writer._file = Full()
    log.fault("p", "lag", "latency", "downstream")  # must not raise in the proxy's loop
    log.fault("p", "lag", "latency", "downstream")
    assert log.error is not None and log.error.errno == 28
    log.close()


def test_fault_log_without_path_journals_nothing():
    log = FaultLog(None)
    log.fault("p", "lag", "latency", "downstream")
    log.close()
    assert log.path is None and log.error is None and log.count == 0
