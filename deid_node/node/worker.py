"""Worker processes: take a job from spool/incoming, run the pipeline, file the verdict.

The verdict is made durable (outbox or quarantine) before the incoming file is removed,
so a crash between the two only means the job runs again and, being deterministic,
writes the same result.
"""
from __future__ import annotations

import os
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
                 *, source: str = "node") -> dict[str, Any]:
    """Put a verdict where it belongs (outbox or quarantine) and audit it; no PHI logged."""
    summary = verdict.summary
    if verdict.action == "forward":
        assert verdict.data is not None and verdict.uids.get("sop_uid")
        spool.put_outbox(str(verdict.uids["sop_uid"]), verdict.data)
        audit.event("processed", source=source, original_ref=verdict.meta.get("original_ref"),
                    **summary)
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


def init_worker(settings: Settings) -> None:
    """Process initializer: load rules and models once per worker process."""
    global _state
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
    summary = file_verdict(verdict, raw, _state.spool, _state.quarantine)
    durable_unlink(job)
    summary["pid"] = os.getpid()
    return summary
