"""Header-only scan policy: which instances the pixel redactor scans (rules/pixels.yaml)."""
from __future__ import annotations

import threading
from pathlib import Path

from pydicom.dataset import Dataset

from .rules import Region, ScanDecision, ScanRules
from .settings import PixelSettings

_CACHE: dict[tuple[str, float], ScanRules] = {}
_LOCK = threading.Lock()

__all__ = ["Region", "ScanDecision", "ScanPolicy"]


class ScanPolicy:
    """The parsed rules file; cached per (path, mtime) so the pipeline can ask per instance."""

    def __init__(self, rules: ScanRules) -> None:
        self.rules = rules

    @classmethod
    def load(cls, settings: PixelSettings | None = None) -> "ScanPolicy":
        path = Path((settings or PixelSettings.default()).rules)
        key = (str(path), path.stat().st_mtime if path.exists() else -1.0)
        with _LOCK:
            rules = _CACHE.get(key)
            if rules is None:
                rules = ScanRules.load(path)
                _CACHE[key] = rules
        return cls(rules)

    def decide(self, ds: Dataset) -> ScanDecision:
        """Header only: never decodes pixel data."""
        return self.rules.decide(ds)
