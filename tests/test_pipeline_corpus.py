"""Every file of pydicom's test data through the whole pipeline, pixel stage included: each
is forwarded or quarantined with a reason, and no reason is a caught exception (the stage
fails closed on one, which hides a bug: a single-frame JPEG could not be blanked)."""
from __future__ import annotations

import collections
import warnings
from pathlib import Path

import pydicom
import pytest

from deid_node.pipeline import Pipeline
from deid_node.settings import Settings

from .tags.helpers import KEY, all_test_files

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

# Held for a reason that is right for these files: no SOP UIDs (test files made so), a
# name part that is also a coded word ("OB^^^^" and "OB_GENERAL"), pixel data that is
# truncated or that no decoder pydicom has can read.
EXPECTED_HOLDS = {"missing-sop-uids", "leak-check", "pixels-undecodable"}


def test_every_file_is_forwarded_or_held_for_a_reason(tmp_path: Path) -> None:
    pipeline = Pipeline(Settings.load(None, var=tmp_path), KEY)
    reasons: dict[str, str] = {}
    for path in all_test_files():
        raw = path.read_bytes()
        try:
            pydicom.dcmread(path, stop_before_pixels=True)
        except Exception:      # no DICM prefix: the batch command skips these, saying so
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            verdict = pipeline.run(raw)
        reasons[path.name] = "forward" if verdict.action == "forward" else str(verdict.reason)
    counts = collections.Counter(reasons.values())
    held = {n: r for n, r in reasons.items() if r != "forward"}
    assert not [r for r in held.values() if r.startswith("error")], held
    assert set(held.values()) <= EXPECTED_HOLDS, held
    # 2026-11-26: 135 of 159 forwarded (the rest: 10 without SOP UIDs, 4 leak checks,
    # 3 undecodable, and copies of these under other names)
    assert counts["forward"] >= 0.8 * len(reasons), counts
    for name in ("SC_rgb_jpeg_dcmtk.dcm", "liver_1frame.dcm", "US1_UNCR.dcm", "SC_rgb_dcmtk_+eb+cy+np.dcm"):
        assert reasons.get(name) == "forward", (name, reasons.get(name))
