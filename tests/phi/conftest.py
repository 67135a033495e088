from __future__ import annotations

from pathlib import Path

import pytest

from deid_node.phi import PhiAnalyzer

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def analyzer() -> PhiAnalyzer:
    """The shipped analyzer: model verified against weights/MANIFEST.json."""
    return PhiAnalyzer.load()


@pytest.fixture(scope="session")
def clinical_phrases() -> list[str]:
    lines = (HERE / "clinical_phrases.txt").read_text(encoding="utf-8").splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]
