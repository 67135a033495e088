"""Pixel redactor: burned-in text found, read, and blanked where it is PHI (issue: pixels).

``PixelRedactor.load(settings, analyzer)`` once per worker; ``needs_scan(ds)`` (header
only) then ``process(ds, identity) -> PixelResult``. See docs/pixels.md.

The names are imported lazily so that the header-only parts (``pixels.rules``,
``pixels.policy``, ``pixels.settings``) never import torch: the tag-only path of a CT or MR
instance must not pay for the pixel models.
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "CLEAN_PIXEL_DATA": ".redactor", "PixelRedactor": ".redactor", "PixelResult": ".redactor",
    "PixelSettings": ".settings", "ScanDecision": ".policy", "ScanPolicy": ".policy",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
