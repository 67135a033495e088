"""Pixel redactor: burned-in text found, read, and blanked where it is PHI (issue: pixels).

``PixelRedactor.load(settings, analyzer)`` once per worker; ``needs_scan(ds)`` (header
only) then ``process(ds, identity) -> PixelResult``. See docs/pixels.md.
"""
from .policy import ScanDecision, ScanPolicy
from .redactor import CLEAN_PIXEL_DATA, PixelRedactor, PixelResult
from .settings import PixelSettings

__all__ = ["CLEAN_PIXEL_DATA", "PixelRedactor", "PixelResult", "PixelSettings", "ScanDecision",
           "ScanPolicy"]
