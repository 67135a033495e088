"""The admin's decisions, shared by the console: release, reprocess, reject.

They do what the CLI's ``quarantine release|reprocess|reject`` do, plus releasing a
re-rendered candidate after box corrections. One lock serialises decisions in this
process; the quarantine index refuses a second decision on an entry in any process.
"""
from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from typing import Any

import pydicom

from deid_node import audit
from deid_node.node.spool import Spool
from deid_node.quarantine import Quarantine, QuarantineError
from deid_node.settings import Settings

from . import corrections, hold

_lock = threading.Lock()


class ActionError(QuarantineError):
    """A decision was refused; the message says why and what to do."""


@dataclass
class Context:
    settings: Settings
    key: bytes
    quarantine: Quarantine
    spool: Spool
    _pipeline: Any = None
    _written: frozenset[str] | None = None

    def pipeline(self) -> Any:
        if self._pipeline is None:
            from deid_node.pipeline import Pipeline
            self._pipeline = Pipeline(self.settings, self.key)
        return self._pipeline

    def written_values(self) -> frozenset[str]:
        """The dummies the tag stage writes, for the leak check of a re-rendered release.
        They follow from the rules and the profile alone: no PHI model is loaded for them
        (a release must not wait for, or fail on, the models a reprocess needs)."""
        if self._written is None:
            from deid_node.tags import ProfileSettings, TagEngine
            profile = ProfileSettings.from_section(self.settings.section("profile"))
            self._written = TagEngine(profile, self.key).written_values
        return self._written


def version(q: Quarantine, entry_id: str) -> str:
    """What the admin saw: changes when the entry is re-filed or its corrections change."""
    entry = q.get(entry_id)
    corr = corrections.load(q, entry_id)
    return f"{entry.updated_at:.6f}:{corr.get('at', 0)}"


def _held(q: Quarantine, entry_id: str, what: str) -> Any:
    entry = q.get(entry_id)
    if entry.state != "held":
        raise ActionError(f"entry {entry_id} is already {entry.state}; only held entries can be {what}")
    return entry


def release(ctx: Context, entry_id: str, actor: str, seen_version: str, note: str | None = None,
            series_seen: int | None = None) -> str:
    """Queue the candidate (re-rendered with the corrections, if any) for delivery; with
    ``series_seen`` also the instances of its series held by ``hold: series`` (exactly as
    many as the admin was shown)."""
    q = ctx.quarantine
    siblings: list[Any] = []
    with _lock:
        if series_seen is not None:
            siblings = hold.held_siblings(q, q.get(entry_id).series_uid, but=entry_id)
            if len(siblings) != series_seen:
                raise ActionError(f"the series now has {len(siblings)} held instance(s), not the "
                                  f"{series_seen} you saw; reload the page and look again")
        entry = _held(q, entry_id, "released")
        if seen_version != version(q, entry_id):
            raise ActionError("the entry changed since you opened it (reprocessed, re-filed or "
                              "corrected elsewhere); reload the page and look again")
        if entry.reason == "leak-check":
            raise ActionError("this entry failed the leak check: its candidate still holds one of "
                              "the instance's own identifiers. Reprocess it after fixing the rules, "
                              "or reject it")
        corr = corrections.load(q, entry_id)
        corrected = corrections.has_any(corr)
        if corrected:
            original = q.original(entry_id)
            data = corrections.re_render(original, q.candidate(entry_id), q.report(entry_id), corr)
            try:
                hits = corrections.leaks(data, original, ctx.written_values())
            except ImportError as exc:
                raise ActionError(f"the leak check cannot run ({exc}); nothing was released") from exc
            if hits:
                raise ActionError("the re-rendered candidate still holds the instance's own "
                                  f"identifiers at {', '.join(hits[:5])}; reprocess or reject it")
        else:
            data = q.candidate(entry_id)
        sop = str(pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True,
                                  specific_tags=["SOPInstanceUID"]).SOPInstanceUID)
        if entry.sop_uid and sop != entry.sop_uid:
            raise ActionError("the candidate's SOP Instance UID differs from the indexed one; "
                              "reprocess the entry")
        ctx.spool.put_outbox(sop, data)
        q.decide(entry_id, "released", actor=actor, note=note)
        audit.event("released", qid=entry_id, actor=actor, new_sop_uid=sop, reason=entry.reason,
                    corrected=corrected, via="review")
        for sib in siblings:
            sib_data = q.candidate(sib.id)
            ctx.spool.put_outbox(str(sib.sop_uid), sib_data)
            q.decide(sib.id, "released", actor=actor, note=f"with its series ({entry_id})")
            audit.event("released", qid=sib.id, actor=actor, new_sop_uid=sib.sop_uid,
                        reason=sib.reason, corrected=False, via="review-series", series_of=entry_id)
    return sop


def reprocess(ctx: Context, entry_id: str, actor: str) -> str:
    """Run the current pipeline on the original again; returns 'forward' or the new reason."""
    from deid_node.node.worker import file_verdict
    q = ctx.quarantine
    with _lock:
        _held(q, entry_id, "reprocessed")
        raw = q.original(entry_id)
        try:
            pipeline = ctx.pipeline()
        except Exception as exc:  # noqa: BLE001 - say why, keep the entry held
            raise ActionError(f"the pipeline cannot be loaded ({type(exc).__name__}: {exc}); "
                              "run 'deid-node check-config' and try again") from exc
        verdict = pipeline.run(raw)
        file_verdict(verdict, raw, ctx.spool, q, source="reprocess")
        if verdict.action == "forward":
            q.decide(entry_id, "reprocessed", actor=actor)
            audit.event("reprocessed", qid=entry_id, actor=actor, outcome="forward",
                        new_sop_uid=verdict.uids.get("sop_uid"), via="review")
            return "forward"
    audit.event("reprocessed", qid=entry_id, actor=actor, outcome="quarantine",
                reason=verdict.reason, via="review")
    return str(verdict.reason)


def reject(ctx: Context, entry_id: str, actor: str, reason: str) -> None:
    reason = reason.strip()
    if len(reason) < 3:
        raise ActionError("say why the instance is rejected (at least 3 characters)")
    with _lock:
        _held(ctx.quarantine, entry_id, "rejected")
        ctx.quarantine.decide(entry_id, "rejected", actor=actor, note=reason[:500])
    audit.event("rejected", qid=entry_id, actor=actor, note_len=len(reason), via="review")


def save_corrections(ctx: Context, entry_id: str, actor: str, raw: dict[str, Any]) -> dict[str, Any]:
    q = ctx.quarantine
    with _lock:
        _held(q, entry_id, "corrected")
        ds = pydicom.dcmread(io.BytesIO(q.candidate(entry_id)), stop_before_pixels=True)
        corr = corrections.validate(raw, q.report(entry_id), corrections.geometry(ds))
        saved = corrections.save(q, entry_id, corr, actor)
    audit.event("review_corrected", qid=entry_id, actor=actor, marked=len(corr["boxes"]),
                marked_keep=sum(1 for a in corr["boxes"].values() if a == "keep"),
                drawn=len(corr["added"]))
    return saved
