"""Worker processes: take a job from spool/incoming, run the pipeline, file the verdict.

A forward verdict goes to spool/ready beside its incoming job, which stays the durable
record until the forwarder has delivered it (see spool.py). A quarantine verdict is made
durable before the incoming file is removed, so a crash between the two only means the
job runs again and, being deterministic, files the same entry.
"""
from __future__ import annotations

import multiprocessing
import os
import threading
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

from .. import audit
from ..pipeline import Pipeline, Verdict
from ..quarantine import Quarantine
from ..review import hold
from ..settings import Settings
from ..sitekey import load_or_create
from .spool import Spool, durable_unlink

DEFAULT_TIMEOUT_S = 600.0


def file_verdict(verdict: Verdict, raw: bytes, spool: Spool, quarantine: Quarantine,
                 *, source: str = "node", job: Path | None = None) -> dict[str, Any]:
    """Put a verdict where it belongs and audit it; no PHI logged. A forward verdict of an
    incoming *job* goes to spool/ready (returned as ``summary["ready"]``), any other to
    the durable outbox."""
    summary = verdict.summary
    if verdict.action == "forward":
        assert verdict.data is not None and verdict.uids.get("sop_uid")
        sop_uid = str(verdict.uids["sop_uid"])
        ready = spool.put_ready(job, sop_uid, verdict.data) if job is not None else None
        if ready is None:
            spool.put_outbox(sop_uid, verdict.data)
        audit.event("processed", source=source, original_ref=verdict.meta.get("original_ref"),
                    **summary)
        if ready is not None:
            summary["ready"] = str(ready)
    else:
        quarantine.add(verdict.entry_id, original=raw, candidate=verdict.data, report=verdict.report,
                       stage=verdict.stage, reason=verdict.reason or "unknown", meta=verdict.meta)
        audit.event("quarantined", source=source, original_ref=verdict.meta.get("original_ref"),
                    **summary)
    return summary


class _WorkerState:
    settings: Settings
    pipeline: Pipeline
    spool: Spool
    quarantine: Quarantine
    timeout: float


_state: _WorkerState | None = None


def _exit_with_parent() -> None:
    """End this worker when the node is gone. Pool workers wait on their call queue and
    would outlive a node killed with -9, each holding its models in memory; their jobs
    are safe in spool/incoming for the next start. The parent's sentinel (a pipe the
    node holds open) also covers a node that died while this worker was still starting."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        wait([parent.sentinel])
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def init_worker(settings: Settings) -> None:
    """Process initializer: load rules and models once per worker process."""
    global _state
    _exit_with_parent()
    # The receiver must win the CPU over pixel models: a modality waiting for its C-STORE
    # answer is the one party here that times out. Work that queues meanwhile waits in
    # spool/incoming (bounded by the spool quota, which answers A700).
    os.nice(settings.node.worker_nice)
    key = load_or_create(settings.key_file, create=False)
    audit.configure(settings.audit.file, key=key, stderr=settings.audit.stderr, component="worker")
    state = _WorkerState()
    state.settings = settings
    state.pipeline = Pipeline(settings, key)
    state.spool = Spool(settings.var, quota=settings.receiver.spool_quota,
                        min_free=settings.receiver.min_free_disk)
    state.quarantine = Quarantine(settings.var / "quarantine")
    state.timeout = DEFAULT_TIMEOUT_S
    _state = state


def process_jobs(paths: list[str]) -> list[dict[str, Any]]:
    """Run a batch of jobs; one summary per job, ``{"error": name}`` for a job that raised.

    The dispatcher sends jobs in batches when they queue up: one round trip through the
    pool (pickling, queue threads, wake-ups on both sides) costs about as much CPU as
    de-identifying a CT header, so a busy node pays it per batch instead of per instance."""
    results: list[dict[str, Any]] = []
    for path in paths:
        try:
            results.append(process_job(path))
        except Exception as exc:  # the job stays in incoming/; the dispatcher decides
            results.append({"error": type(exc).__name__})
    return results


def process_job(path: str) -> dict[str, Any]:
    """Run one incoming job to a durable verdict; return the audit summary."""
    assert _state is not None, "init_worker was not called"
    job = Path(path)
    try:
        raw = job.read_bytes()
    except FileNotFoundError:
        return {"action": "gone"}
    verdict = _state.pipeline.run(raw, timeout=_state.timeout)
    verdict = hold.apply(verdict, _state.quarantine, _state.settings)  # review.hold: series
    summary = file_verdict(verdict, raw, _state.spool, _state.quarantine, job=job)
    if "ready" not in summary:
        durable_unlink(job)
    summary["pid"] = os.getpid()
    return summary
