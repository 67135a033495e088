"""The running node: receiver, dispatcher to worker processes, forwarder.

Receiving never waits for processing: the receiver only writes to the spool and wakes the
dispatcher, which hands jobs to a pool of worker processes; the forwarder is a process of
its own with its own associations to the destination. A slow pixel model never stalls a modality.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Callable

from .. import audit
from ..pipeline import quarantine_id
from ..quarantine import Quarantine
from ..settings import Settings
from ..sitekey import load_or_create
from .forwarder import ForwarderProcess
from .receiver import Receiver
from .spool import Spool, durable_unlink
from .worker import init_worker, process_jobs

MAX_WORKER_CRASHES = 3
MAX_JOB_ERRORS = 3
MAX_BATCH = 8  # jobs per trip to a worker when they queue up


class Dispatcher(threading.Thread):
    """Feeds incoming jobs to the worker pool in arrival order, in batches when they queue up.

    The queue lives in memory: the receiver submits each job as it is accepted, and at
    start-up everything already in spool/incoming is queued first, oldest first.
    """

    def __init__(self, settings: Settings, spool: Spool, quarantine: Quarantine, key: bytes,
                 on_ready: Callable[[Path], None], *,
                 runner: Callable[[list[str]], list[dict[str, Any]]] = process_jobs,
                 initializer: Callable[[Settings], None] = init_worker) -> None:
        """*runner* and *initializer* run in the worker processes (module-level functions)."""
        super().__init__(name="dispatcher", daemon=True)
        self.runner = runner
        self.initializer = initializer
        self.settings = settings
        self.spool = spool
        self.quarantine = quarantine
        self.key = key
        self.on_ready = on_ready
        self.workers = settings.node.workers
        self._wake = threading.Event()
        self._halt = threading.Event()
        self._queue: deque[str] = deque(str(p) for p in spool.pending())
        self._in_flight: dict[str, Future] = {}  # job -> the future of its batch
        self._crashes: dict[str, int] = {}
        self._errors: dict[str, int] = {}
        self._lock = threading.RLock()
        self.done = 0
        self.pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=self.initializer, initargs=(self.settings,))
        # The pool spawns a worker only when a job finds none idle; start them all now, so
        # rule and model loading (seconds each) happens before the first study arrives.
        for _ in range(self.workers):
            pool.submit(os.getpid)
        return pool

    def submit(self, job: Path) -> None:
        """Queue a job the receiver has just made durable."""
        with self._lock:
            self._queue.append(str(job))
        self._wake.set()

    def stop(self) -> None:
        self._halt.set()
        self._wake.set()

    def idle(self) -> bool:
        with self._lock:
            return not self._in_flight and not self._queue

    def run(self) -> None:
        while not self._halt.is_set():
            self._fill()
            self._wake.wait(0.5)
            self._wake.clear()
        self.pool.shutdown(wait=True, cancel_futures=True)

    def _fill(self) -> None:
        with self._lock:
            suspects = [k for k in self._queue if self._crashes.get(k)]
            if suspects:
                # After a worker crash, run suspects alone so only the culprit is blamed.
                if self._in_flight:
                    return
                self._queue.remove(suspects[0])
                batches = [[suspects[0]]]
            else:
                # One batch per worker in flight; the next takes what has queued up
                # meanwhile (one job when the node is quiet, so nothing waits for company).
                room = self.workers - len(set(self._in_flight.values()))
                batches = []
                while room > 0 and self._queue:
                    size = min(MAX_BATCH, max(1, len(self._queue) // room))
                    batches.append([self._queue.popleft() for _ in range(size)])
                    room -= 1
            for i, batch in enumerate(batches):
                try:
                    fut = self.pool.submit(self.runner, batch)
                except (BrokenProcessPool, RuntimeError):
                    self._queue.extendleft(reversed([k for b in batches[i:] for k in b]))
                    self._restart_pool()
                    return
                for key in batch:
                    self._in_flight[key] = fut
                fut.add_done_callback(lambda f, b=batch: self._finished(b, f))

    def _finished(self, batch: list[str], fut: Future) -> None:
        exc = fut.exception()
        with self._lock:
            for key in batch:
                self._in_flight.pop(key, None)
        if isinstance(exc, BrokenProcessPool):
            # A worker died (e.g. killed or a crashing codec): the jobs are still in
            # incoming/, and each is a suspect until it has run alone.
            with self._lock:
                for key in reversed(batch):
                    n = self._crashes[key] = self._crashes.get(key, 0) + 1
                    if n >= MAX_WORKER_CRASHES:
                        self._quarantine_poison(Path(key))
                    else:
                        self._queue.appendleft(key)
                self._restart_pool()
        else:
            results = fut.result() if exc is None else [{"error": type(exc).__name__}] * len(batch)
            for key, summary in zip(batch, results):
                self._job_done(key, summary)
        self._wake.set()

    def _job_done(self, key: str, summary: dict[str, Any]) -> None:
        if "error" not in summary:
            self.done += 1
            self._crashes.pop(key, None)
            self._errors.pop(key, None)
            if summary.get("ready"):
                self.on_ready(Path(summary["ready"]))
            return
        # e.g. the disk refused the result: the job stays in incoming/ and is retried,
        # here a few times, then at the next start.
        n = self._errors[key] = self._errors.get(key, 0) + 1
        audit.event("error", where="worker", error=summary["error"], job=Path(key).name,
                    attempt=n, retry="now" if n < MAX_JOB_ERRORS else "at-next-start")
        if n < MAX_JOB_ERRORS:
            with self._lock:
                self._queue.append(key)

    def _restart_pool(self) -> None:
        if getattr(self.pool, "_broken", False):
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = self._new_pool()

    def _quarantine_poison(self, path: Path) -> None:
        """An instance that kills its worker every time is held, not retried for ever."""
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return
        qid = quarantine_id(self.key, raw)
        self.quarantine.add(qid, original=raw, candidate=None,
                            report={"stage": "worker", "reason": "worker-crash",
                                    "crashes": MAX_WORKER_CRASHES},
                            stage="worker", reason="worker-crash", meta={})
        durable_unlink(path)
        audit.event("quarantined", action="quarantine", stage="worker", reason="worker-crash", qid=qid)


def preflight(settings: Settings, key: bytes) -> list[str]:
    """Load rules and models once before accepting anything, so a broken install or a
    weight file that differs from its MANIFEST stops the node at start with a clear
    message instead of failing every instance later."""
    from ..pipeline import Pipeline
    from ..weights import verify_all
    checked = verify_all()
    Pipeline(settings, key)
    return checked


class Node:
    """Everything `deid-node serve` runs."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.key = load_or_create(settings.key_file)
        audit.configure(settings.audit.file, key=self.key, stderr=settings.audit.stderr)
        preflight(settings, self.key)
        self.spool = Spool(settings.var, quota=settings.receiver.spool_quota,
                           min_free=settings.receiver.min_free_disk)
        self.quarantine = Quarantine(settings.var / "quarantine")
        self.removed = self.spool.recover()
        self.forwarder = ForwarderProcess(settings)
        self.dispatcher = Dispatcher(settings, self.spool, self.quarantine, self.key,
                                     on_ready=self.forwarder.enqueue)
        self.receiver = Receiver(settings.node, settings.receiver, self.spool,
                                 on_accept=self.dispatcher.submit)

    def start(self) -> None:
        self.dispatcher.start()
        self.forwarder.start()
        self.receiver.start()
        audit.event("started", ae_title=self.settings.node.ae_title, bind=self.settings.node.bind,
                    port=self.receiver.port, workers=self.settings.node.workers,
                    destination=self.forwarder.name, pending=len(self.spool.pending()),
                    outbox=len(self.spool.outbox_items()), partial_writes_removed=self.removed)

    def stop(self) -> None:
        self.receiver.stop()
        self.dispatcher.stop()
        self.dispatcher.join(timeout=60)
        self.forwarder.stop()
        self.forwarder.join(timeout=45)
        audit.event("stopped", received=self.receiver.received, processed=self.dispatcher.done,
                    forwarded=self.forwarder.sent)

    def serve_forever(self) -> None:
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        self.start()
        while not stop.wait(1.0):
            self.forwarder.ensure_running()
        self.stop()
