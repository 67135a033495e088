"""The dispatcher's fail-closed rules with real worker processes: a job that kills its
worker is run alone, then quarantined after three crashes; the jobs that were in the
same batch are not blamed; an ordinary error is retried a bounded number of times."""
from __future__ import annotations

import threading
import time
from pathlib import Path

from deid_node.node.service import MAX_JOB_ERRORS, Dispatcher
from deid_node.node.spool import Spool
from deid_node.quarantine import Quarantine
from deid_node.settings import Settings
from tests.node import crashy_worker


def _dispatcher(tmp_path: Path, spool: Spool, ready: list[Path]) -> tuple[Dispatcher, Quarantine]:
    settings = Settings.load(Path("conf/deid-node.yaml"), var=tmp_path / "var")
    quarantine = Quarantine(tmp_path / "var" / "quarantine")
    lock = threading.Lock()

    def on_ready(path: Path) -> None:
        with lock:
            ready.append(path)

    dispatcher = Dispatcher(settings, spool, quarantine, b"k" * 32, on_ready,
                            runner=crashy_worker.run, initializer=crashy_worker.init)
    return dispatcher, quarantine


def _wait(predicate, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "dispatcher did not settle"
        time.sleep(0.1)


def test_poison_job_is_quarantined_and_its_batch_mates_are_processed(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "var")
    good = [spool.accept(b"GOOD%02d" % i) for i in range(6)]
    poison = spool.accept(b"POISON" + b"\0" * 10)
    more = [spool.accept(b"GOOD%02d" % i) for i in range(6, 9)]
    ready: list[Path] = []
    dispatcher, quarantine = _dispatcher(tmp_path, spool, ready)
    dispatcher.start()
    try:
        _wait(lambda: dispatcher.idle() and not poison.exists())
    finally:
        dispatcher.stop()
        dispatcher.join(60)
    assert sorted(str(p) for p in ready) == sorted(str(j) + ".ready" for j in good + more)
    assert dispatcher.done == len(good) + len(more)
    entries = quarantine.list()
    assert len(entries) == 1
    assert entries[0].reason == "worker-crash" and entries[0].stage == "worker"


def test_ordinary_error_is_retried_then_left_for_the_next_start(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "var")
    flaky = spool.accept(b"FLAKY!")
    ok = spool.accept(b"GOOD")
    ready: list[Path] = []
    dispatcher, quarantine = _dispatcher(tmp_path, spool, ready)
    dispatcher.start()
    try:
        _wait(lambda: dispatcher.idle() and len(ready) == 1)
        time.sleep(0.5)
        assert dispatcher.idle()
    finally:
        dispatcher.stop()
        dispatcher.join(60)
    assert ready == [Path(str(ok) + ".ready")]
    assert flaky.exists()  # still the durable record: it runs again at the next start
    assert dispatcher._errors[str(flaky)] == MAX_JOB_ERRORS
    assert quarantine.list() == []
