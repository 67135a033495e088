"""Golden outputs: the CT with PHI at every depth, de-identified under the Basic Profile,
under each option alone and under the default profile, compared with tests/tags/golden/.

After an intended change of behaviour, regenerate and review the diff:
    DEID_UPDATE_GOLDEN=1 .venv/bin/pytest tests/tags/test_golden.py
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path

import pytest

from deid_node import identity as identity_mod
from deid_node.tags import ProfileSettings, TagEngine

from .helpers import KEY, DenyListAnalyzer, rich_ct

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
GOLDEN = Path(__file__).parent / "golden"
OPTIONS = ["clean_graphics", "clean_structured_content", "clean_descriptors",
           "retain_longitudinal_full_dates", "retain_longitudinal_modified_dates",
           "retain_patient_characteristics", "retain_device_identity", "retain_uids",
           "retain_safe_private", "retain_institution_identity"]
PROFILES = {"basic": (), "default": ProfileSettings.default().options,
            **{o: (o,) for o in OPTIONS}}


def snapshot(options: tuple[str, ...]) -> str:
    ds = rich_ct()
    engine = TagEngine(dataclasses.replace(ProfileSettings.default(), options=options), KEY,
                       DenyListAnalyzer())
    report = engine.apply(ds, identity_mod.collect(ds))
    del ds.PixelData
    header = ds.to_json_dict(bulk_data_threshold=1 << 20)
    header["00020003"] = {"vr": "UI", "Value": [ds.file_meta.MediaStorageSOPInstanceUID]}
    text = json.dumps({"header": header, "report": report.to_dict()}, indent=1,
                      sort_keys=True, ensure_ascii=False)
    # the rule files' fingerprint changes with any comment edit: not part of the behaviour
    return re.sub(r"rules [0-9a-f]{12}", "rules <fingerprint>",
                  re.sub(r'"rules_fingerprint": "[0-9a-f]{12}"',
                         '"rules_fingerprint": "<fingerprint>"', text)) + "\n"


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_golden(profile):
    path = GOLDEN / f"rich_ct.{profile}.json"
    got = snapshot(PROFILES[profile])
    if os.environ.get("DEID_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(got, encoding="utf-8")
    assert path.is_file(), f"{path} missing: run with DEID_UPDATE_GOLDEN=1 and review it"
    assert got == path.read_text(encoding="utf-8")


def test_goldens_differ_per_option():
    texts = {p: (GOLDEN / f"rich_ct.{p}.json").read_text() for p in PROFILES}
    assert len(set(texts.values())) == len(texts)
    assert "DOE" not in texts["default"] and "MRN998877" not in texts["default"]
