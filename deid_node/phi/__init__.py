"""PHI text analyzer used by the tag engine (free text, SR) and the pixel redactor (OCR text)."""
from .analyzer import ENTITIES, PLACEHOLDER, PhiAnalyzer, PhiSettings, Span

__all__ = ["ENTITIES", "PLACEHOLDER", "PhiAnalyzer", "PhiSettings", "Span"]
