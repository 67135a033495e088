"""Quarantine administration and batch mode, through the real command line."""
from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pydicom
import yaml

from deid_node.synth.dicom import ct_series, write
from tests.peers import ROOT, NodeProcess, storescu, wait_for

KEEP_ADDRESS = {"overrides": [{"tag": "(0010,1040)", "action": "K",
                               "reason": "test: a misconfigured site override"}]}


def _node(tmp_path: Path, overrides: Path | None) -> NodeProcess:
    config: dict[str, Any] = {"node": {"workers": 1},
                              "destination": {"type": "folder", "path": str(tmp_path / "forwarded")}}
    if overrides:
        config["profile"] = {"site_overrides": str(overrides)}
    return NodeProcess(tmp_path / "node", config)


def test_leak_is_quarantined_then_reprocessed_with_fixed_rules(tmp_path: Path) -> None:
    bad_rules = tmp_path / "overrides.yaml"
    bad_rules.write_text(yaml.safe_dump(KEEP_ADDRESS))
    node = _node(tmp_path, bad_rules).start()
    try:
        datasets, phi = ct_series(2, seed=61, size=64)
        storescu(node.port, write(datasets, tmp_path / "in"))
        held = wait_for(lambda: json.loads(node.cli("quarantine", "list", "--json").stdout) or None,
                        what="quarantine entries")
        wait_for(lambda: len(json.loads(node.cli("quarantine", "list", "--json").stdout)) == 2,
                 what="both held")
        held = json.loads(node.cli("quarantine", "list", "--json").stdout)
        assert {e["reason"] for e in held} == {"leak-check"}
        assert not (tmp_path / "forwarded").exists() or not list((tmp_path / "forwarded").rglob("*.dcm"))
        listing = node.cli("quarantine", "list").stdout
        assert phi.address.split()[1] not in listing and "leak-check" in listing

        folder = node.var / "quarantine" / held[0]["id"]
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        for name in ("original.dcm", "candidate.dcm", "report.json"):
            assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600

        # the candidate still holds the address: release is refused without --force
        refused = node.cli("quarantine", "release", held[0]["id"], check=False)
        assert refused.returncode == 2 and "leak check" in refused.stderr

        # reject one: its PHI copies are gone, the decision stays
        node.cli("quarantine", "reject", held[1]["id"], "--reason", "duplicate", "--actor", "dr-admin")
        assert not (node.var / "quarantine" / held[1]["id"] / "original.dcm").exists()

        # fix the rules, reprocess the other: it passes and the running node delivers it
        bad_rules.write_text(yaml.safe_dump({"overrides": []}))
        out = node.cli("quarantine", "reprocess", held[0]["id"], "--actor", "dr-admin").stdout
        assert "queued for delivery" in out
        delivered = wait_for(lambda: list((tmp_path / "forwarded").rglob("*.dcm")), what="delivery")
        ds = pydicom.dcmread(delivered[0])
        assert "PatientAddress" not in ds or phi.address not in str(ds.PatientAddress)

        states = {e["id"]: e["state"] for e in json.loads(node.cli("quarantine", "list", "--all", "--json").stdout)}
        assert states == {held[0]["id"]: "reprocessed", held[1]["id"]: "rejected"}
        actions = [(e["event"], e.get("actor")) for e in node.audit_lines()]
        assert ("rejected", "dr-admin") in actions and ("reprocessed", "dr-admin") in actions
    finally:
        node.stop()


def _deid(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "deid_node.cli", "deid", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


def test_batch_mode_writes_by_new_uids_and_is_deterministic(tmp_path: Path) -> None:
    datasets, _ = ct_series(3, seed=71, size=64)
    src = tmp_path / "export"
    write(datasets, src / "nested" / "series")
    (src / "notes.txt").write_text("not a DICOM file")
    var = tmp_path / "var"
    runs = []
    for run in ("a", "b"):
        proc = _deid(str(src), "--out", str(tmp_path / run), "--var", str(var))
        assert proc.returncode == 1, proc.stderr  # one input was not DICOM
        assert "notes.txt: not readable as DICOM" in proc.stderr
        assert "3 written" in proc.stderr
        runs.append({p.relative_to(tmp_path / run): p.read_bytes()
                     for p in (tmp_path / run).rglob("*.dcm")})
    assert len(runs[0]) == 3 and runs[0] == runs[1]
    for rel in runs[0]:
        study, series, name = rel.parts
        ds = pydicom.dcmread(tmp_path / "a" / rel)
        assert (study, series, name) == (ds.StudyInstanceUID, ds.SeriesInstanceUID,
                                         f"{ds.SOPInstanceUID}.dcm")


def test_batch_mode_exit_zero_when_all_written_or_quarantined(tmp_path: Path) -> None:
    datasets, _ = ct_series(2, seed=72, size=64)
    src = write(datasets, tmp_path / "in")
    overrides = tmp_path / "o.yaml"
    overrides.write_text(yaml.safe_dump(KEEP_ADDRESS))
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"profile": {"site_overrides": str(overrides)},
                                   "node": {"var": str(tmp_path / "var")}}))
    proc = _deid(*map(str, src), "--out", str(tmp_path / "out"), "--config", str(cfg),
                 "--quarantine", str(tmp_path / "held"))
    assert proc.returncode == 0, proc.stderr
    assert "2 quarantined" in proc.stderr
    assert len(list((tmp_path / "held").glob("*/original.dcm"))) == 2
