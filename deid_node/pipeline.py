"""The stages of de-identification in order, and the verdict: forward or quarantine.

    parse ─▶ identity ─▶ pixel stage ─▶ tag stage ─▶ leak check ─▶ encode ─▶ verdict

Fail closed: any exception, a timeout, a stage that is not available, an uncertain model
or a leak-check hit gives a quarantine verdict with the stage and reason. Only an instance
that passed every stage gets ``action == "forward"``. The pixel models are loaded only
when an instance needs a scan, so the tag-only path never imports torch.
"""
from __future__ import annotations

import hashlib
import io
import signal
import threading
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import pydicom
from pydicom.dataset import Dataset

from . import identity as identity_mod
from .settings import Settings
from .sitekey import keyed_hash, load_or_create


@dataclass
class Verdict:
    """What the pipeline decided for one instance.

    ``report`` may hold PHI (OCR text, error details) and goes into the quarantine only;
    ``summary`` holds no PHI and goes to the audit log.
    """

    action: Literal["forward", "quarantine"]
    stage: str
    reason: str | None
    data: bytes | None
    entry_id: str
    uids: dict[str, str | None] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def summary(self) -> dict[str, Any]:
        out = {"action": self.action, "stage": self.stage, "reason": self.reason,
               "qid": self.entry_id, **{f"new_{k}": v for k, v in self.uids.items()},
               "modality": self.meta.get("modality"), "timings_ms": self.timings_ms}
        # a count only: what the words' unused high bits held (an overlay) was cleared
        cleared = (self.report.get("pixels") or {}).get("unused_bits_cleared")
        if cleared:
            out["unused_bits_cleared"] = cleared
        return out


class StageFailure(Exception):
    """A stage decided that the instance must not be forwarded."""

    def __init__(self, stage: str, reason: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(f"{stage}: {reason}")
        self.stage, self.reason, self.details = stage, reason, details or {}


def quarantine_id(key: bytes, raw: bytes, ds: Dataset | None = None) -> str:
    """Quarantine entry id: a keyed hash of the original SOP Instance UID (else of the bytes),
    so the same instance always maps to the same entry."""
    sop = ""
    try:
        if ds is None:
            ds = pydicom.dcmread(io.BytesIO(raw), stop_before_pixels=True,
                                 specific_tags=["SOPInstanceUID"])
        sop = str(ds.get("SOPInstanceUID", "") or "")
    except Exception:
        sop = ""
    return keyed_hash(key, sop or hashlib.sha256(raw).hexdigest(), purpose="quarantine-id")


class InstanceTimeout(Exception):
    """Processing one instance took longer than the configured limit."""


@contextmanager
def _time_limit(seconds: float | None):
    """SIGALRM-based limit; only in a process's main thread (workers, batch mode)."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def _expired(_sig: int, _frame: Any) -> None:
        raise InstanceTimeout(f"over {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, _expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class Pipeline:
    """One per worker process: the models and rules are loaded once."""

    def __init__(self, settings: Settings, key: bytes | None = None) -> None:
        self.settings = settings
        self.key = key if key is not None else load_or_create(settings.key_file)
        self._tag_engine: Any = None
        self._analyzer: Any = None
        self._analyzer_loaded = False
        self._redactor: Any = None
        self._scan_rules: Any = None
        from .pixels.settings import PixelSettings
        self.pixel_settings = PixelSettings.from_section(settings.section("pixels"))
        self._load_tag_engine()
        self.scan_rules()

    # -- loading -------------------------------------------------------------------
    def analyzer(self) -> Any:
        """The PHI text analyzer, loaded once; a missing or altered model raises (no silent
        fallback: the node refuses to start instead)."""
        if not self._analyzer_loaded:
            self._analyzer_loaded = True
            from .phi import PhiAnalyzer, PhiSettings
            self._analyzer = PhiAnalyzer.load(PhiSettings.from_section(self.settings.section("phi")))
        return self._analyzer

    def _load_tag_engine(self) -> None:
        from .tags import ProfileSettings, TagEngine
        profile = ProfileSettings.from_section(self.settings.section("profile"))
        self._tag_engine = TagEngine(profile, self.key, self.analyzer())

    @property
    def written_values(self) -> frozenset[str]:
        """The dummy values the tag stage writes: policy, not the instance's own values."""
        return self._tag_engine.written_values

    def redactor(self) -> Any:
        """The pixel models, loaded on the first instance that needs a scan."""
        if self._redactor is None:
            from .pixels import PixelRedactor
            self._redactor = PixelRedactor.load(self.pixel_settings, self.analyzer())
        return self._redactor

    def scan_rules(self) -> Any:
        """The header-only scan policy (rules/pixels.yaml); cheap, no pixel models."""
        if self._scan_rules is None:
            from .pixels.policy import ScanPolicy
            self._scan_rules = ScanPolicy.load(self.pixel_settings)
        return self._scan_rules

    def entry_id(self, ds: Dataset | None, raw: bytes) -> str:
        return quarantine_id(self.key, raw, ds)

    def run(self, raw: bytes, timeout: float | None = None) -> Verdict:
        """De-identify one encoded instance; never raises, always returns a verdict."""
        t0 = time.perf_counter()
        try:
            with _time_limit(timeout):
                return self._run(raw)
        except InstanceTimeout as exc:
            return self._quarantine(raw, None, None, "timeout", "timeout", {"message": str(exc)},
                                    {}, t0)

    def _run(self, raw: bytes) -> Verdict:
        timings: dict[str, float] = {}
        ds: Dataset | None = None
        qid: str | None = None
        stage = "parse"
        t0 = time.perf_counter()
        try:
            ds = pydicom.dcmread(io.BytesIO(raw), force=False)
            if "SOPInstanceUID" not in ds or "SOPClassUID" not in ds:
                raise StageFailure("parse", "missing-sop-uids")
            timings["parse"] = _ms(t0)
            qid = self.entry_id(ds, raw)
            meta = {"modality": str(ds.get("Modality", "") or "") or None,
                    "sop_class": str(ds.SOPClassUID),
                    "original_ref": keyed_hash(self.key, str(ds.SOPInstanceUID), purpose="audit")}
            t = time.perf_counter()
            stage = "identity"
            ident = identity_mod.collect(ds)
            timings["identity"] = _ms(t)

            # A pixel-stage hold still lets the tag stage run, so the quarantine keeps a
            # fully de-identified candidate that an admin can review and release.
            holds: list[tuple[str, str]] = []
            stage = "pixels"
            t = time.perf_counter()
            try:
                extra_codes, pixel_report = self._pixel_stage(ds, ident)
            except StageFailure as exc:
                extra_codes, pixel_report = [], {**exc.details, "reason": exc.reason}
                holds.append(("pixels", exc.reason))
            except InstanceTimeout:
                raise
            except Exception as exc:
                extra_codes = []
                pixel_report = {"error": type(exc).__name__, "message": str(exc),
                                "traceback": traceback.format_exc()}
                holds.append(("pixels", f"error:{type(exc).__name__}"))
            timings["pixels"] = _ms(t)

            stage = "tags"
            t = time.perf_counter()
            tag_report = self._tag_engine.apply(ds, ident, extra_codes=extra_codes)
            timings["tags"] = _ms(t)
            report: dict[str, Any] = {"pixels": pixel_report, "tags": _jsonable(tag_report)}
            uncertainty = float(getattr(tag_report, "uncertainty", 0.0) or 0.0)
            if uncertainty > self.settings.quarantine.uncertainty_threshold:
                holds.append(("tags", "tag-uncertain"))

            stage = "leak-check"
            t = time.perf_counter()
            from .tags.leakcheck import find_leaks
            leaks = find_leaks(ds, ident, ours=self.written_values)
            timings["leak_check"] = _ms(t)
            if leaks:
                report["leaks"] = [_jsonable(leak) for leak in leaks]
                holds.insert(0, ("leak-check", "leak-check"))

            stage = "encode"
            t = time.perf_counter()
            data = _encode(ds)
            timings["encode"] = _ms(t)
            timings["total"] = _ms(t0)
            uids = self._new_uids(ds)
            # the index shows the larger of header and image uncertainty
            pixel_uncertainty = float(pixel_report.get("uncertainty") or 0.0)
            meta.update(uids, uncertainty=max(uncertainty, pixel_uncertainty))
            if holds:
                report.update(stage=holds[0][0], reason=holds[0][1], holds=holds)
                return Verdict("quarantine", holds[0][0], holds[0][1], data, qid,
                               uids=uids, meta=meta, report=report, timings_ms=timings)
            return Verdict("forward", "done", None, data, qid, uids=uids,
                           meta=meta, report=report, timings_ms=timings)
        except StageFailure as exc:
            return self._quarantine(raw, ds, qid, exc.stage, exc.reason, exc.details, timings, t0)
        except InstanceTimeout:
            raise
        except Exception as exc:  # fail closed on anything unexpected
            details = {"error": type(exc).__name__, "message": str(exc),
                       "traceback": traceback.format_exc()}
            reason = "unreadable" if stage == "parse" else f"error:{type(exc).__name__}"
            return self._quarantine(raw, ds, qid, stage, reason, details, timings, t0)

    def _pixel_stage(self, ds: Dataset, ident: Any) -> tuple[list[str], dict[str, Any]]:
        decision = self.scan_rules().decide(ds)
        if not decision:
            return [], _unscanned(ds, decision.rule)
        result = self.redactor().process(ds, ident)
        report = _jsonable(result)
        if result.quarantine_reason:
            raise StageFailure("pixels", result.quarantine_reason, report)
        return list(result.method_codes), report

    def _new_uids(self, ds: Dataset) -> dict[str, str | None]:
        return {"study_uid": _get(ds, "StudyInstanceUID"), "series_uid": _get(ds, "SeriesInstanceUID"),
                "sop_uid": _get(ds, "SOPInstanceUID")}

    def _quarantine(self, raw: bytes, ds: Dataset | None, qid: str | None, stage: str, reason: str,
                    details: dict[str, Any], timings: dict[str, float], t0: float) -> Verdict:
        timings["total"] = _ms(t0)
        # The tag stage did not complete: there is no safe candidate to keep.
        candidate = None
        meta: dict[str, Any] = {}
        if ds is not None:
            meta = {"modality": _get(ds, "Modality"), "sop_class": _get(ds, "SOPClassUID")}
        return Verdict("quarantine", stage, reason, candidate, qid or self.entry_id(None, raw), uids={},
                       meta=meta, report={"stage": stage, "reason": reason, **details},
                       timings_ms=timings)


def _unscanned(ds: Dataset, rule: str) -> dict[str, Any]:
    """The report of an instance the scan rules skip. Its words' unused high bits are still
    checked and cleared (an overlay drawn there: ``codec.clear_unused_bits``); one that
    cannot be decoded for the check is held, not passed unchecked."""
    from .pixels import codec
    report: dict[str, Any] = {"action": "skip", "rule": rule}
    try:
        cleared = codec.clear_unused_bits(ds)
    except codec.CodecError as exc:
        raise StageFailure("pixels", "pixels-undecodable", {**report, "error": str(exc)}) from exc
    if cleared:
        report.update(unused_bits_cleared=cleared, transfer_syntax=str(codec.transfer_syntax(ds)))
    return report


def _encode(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _get(ds: Dataset, keyword: str) -> str | None:
    value = ds.get(keyword)
    return str(value) if value not in (None, "") else None


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 3)


def _jsonable(obj: Any) -> Any:
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "__dataclass_fields__"):
        return {k: _jsonable(getattr(obj, k)) for k in obj.__dataclass_fields__}
    if hasattr(obj, "as_dict"):
        return _jsonable(obj.as_dict())
    return str(obj)
