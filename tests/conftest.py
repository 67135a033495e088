"""Shared fixtures: real peers on loopback (see tests/peers.py)."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.peers import Orthanc


@pytest.fixture
def orthanc(tmp_path: Path) -> Iterator[Orthanc]:
    pacs = Orthanc(tmp_path / "orthanc").start()
    yield pacs
    pacs.stop()
