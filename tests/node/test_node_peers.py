"""The node end to end with real peers: dcmtk's storescu as the modality, the node as a
subprocess, Debian's Orthanc as the research PACS; checked through Orthanc's REST API."""
from __future__ import annotations

import io
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import JPEG2000Lossless, RLELossless

from deid_node.synth.dicom import ct_series, write
from tests.peers import NodeProcess, Orthanc, storescu, storescu_as_is, wait_for


def dicom_destination(pacs_port: int, **retry: Any) -> dict[str, Any]:
    return {"type": "dicom", "host": "127.0.0.1", "port": pacs_port, "ae_title": "ORTHANC",
            "calling_ae_title": "DEID_NODE",
            "retry": {"initial_delay": 0.2, "max_delay": 1.0, **retry}}


@pytest.fixture
def make_node(tmp_path: Path) -> Iterator[Any]:
    nodes: list[NodeProcess] = []

    def make(destination: dict[str, Any], **sections: Any) -> NodeProcess:
        config = {"node": {"ae_title": "DEID_NODE", "workers": 1, **sections.pop("node", {})},
                  "destination": destination, **sections}
        node = NodeProcess(tmp_path / f"node{len(nodes)}", config).start()
        nodes.append(node)
        return node

    yield make
    for node in nodes:
        node.stop()


@pytest.fixture(scope="module")
def ct_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], Any]:
    datasets, phi = ct_series(6, seed=11)
    return write(datasets, tmp_path_factory.mktemp("ct")), phi


def arrived(pacs: Orthanc, n: int, timeout: float = 90) -> list[str]:
    return wait_for(lambda: (lambda ids: ids if len(ids) >= n else None)(pacs.instances()),
                    timeout=timeout, what=f"{n} instances at the PACS")


def test_ct_series_arrives_deidentified_and_coherent(orthanc: Orthanc, make_node: Any,
                                                     ct_files: Any) -> None:
    files, phi = ct_files
    node = make_node(dicom_destination(orthanc.dicom_port))
    storescu(node.port, files)
    ids = arrived(orthanc, len(files))
    assert len(ids) == len(files)
    originals = {str(pydicom.dcmread(f).SOPInstanceUID) for f in files}
    studies, series = set(), set()
    for iid in ids:
        ds = pydicom.dcmread(io.BytesIO(orthanc.file(iid)))
        text = str(ds)
        for token in _phi_tokens(phi.values):
            assert token not in text, f"PHI {token!r} reached the PACS"
        assert str(ds.SOPInstanceUID).startswith("2.25.")
        assert str(ds.SOPInstanceUID) not in originals
        assert ds.PatientIdentityRemoved == "YES"
        studies.add(ds.StudyInstanceUID)
        series.add(ds.SeriesInstanceUID)
        assert ds.pixel_array.shape == (512, 512)
    assert len(studies) == 1 and len(series) == 1
    events = [e["event"] for e in node.audit_lines()]
    assert events.count("received") == len(files)
    assert events.count("processed") == len(files)
    wait_for(lambda: [e["event"] for e in node.audit_lines()].count("forwarded") == len(files),
             what="forwarded events")
    assert_no_phi_outside_quarantine(node, phi.values)


def _phi_tokens(values: Any) -> set[str]:
    tokens = set()
    for value in values:
        tokens.add(value)
        tokens.update(p for p in value.replace("^", " ").split() if len(p) > 3 and not p.isdigit())
    return tokens


def assert_no_phi_outside_quarantine(node: NodeProcess, values: Any) -> None:
    """No PHI value in any audit line, log line or file name outside var/quarantine."""
    tokens = _phi_tokens(values)
    log_text = (node.var / "log" / "audit.jsonl").read_text() + (node.workdir / "node.log").read_text()
    for token in tokens:
        assert token not in log_text, f"PHI {token!r} in the logs"
    for path in node.var.rglob("*"):
        rel = path.relative_to(node.var)
        if rel.parts[0] == "quarantine":
            continue
        for token in tokens:
            assert token not in str(rel), f"PHI {token!r} in file name {rel}"


def _compressed(tmp: Path, syntax: Any, seed: int) -> Path:
    [ds], _ = ct_series(1, seed=seed, size=128)
    ds.compress(syntax)
    path = tmp / f"{syntax.name.replace(' ', '_')}.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


def test_compressed_and_multiframe_instances(orthanc: Orthanc, make_node: Any, tmp_path: Path) -> None:
    files = [_compressed(tmp_path, RLELossless, 21), _compressed(tmp_path, JPEG2000Lossless, 22),
             Path(get_testdata_file("emri_small.dcm"))]  # enhanced MR, 10 frames
    node = make_node(dicom_destination(orthanc.dicom_port))
    # propose the files' own syntaxes, as a modality with compressed storage does
    storescu_as_is(node.port, files)
    ids = arrived(orthanc, len(files))
    syntaxes = set()
    frames = []
    for iid in ids:
        ds = pydicom.dcmread(io.BytesIO(orthanc.file(iid)))
        syntaxes.add(str(ds.file_meta.TransferSyntaxUID))
        frames.append(int(ds.get("NumberOfFrames", 1)))
        assert ds.PatientIdentityRemoved == "YES"
        ds.pixel_array  # decodes: the pixel data survived the trip
    assert max(frames) == 10
    # CT/MR originals are not pixel-scanned, so compressed ones keep their own syntax
    assert {str(RLELossless), str(JPEG2000Lossless)} <= syntaxes


def test_pacs_refusing_compression_gets_decompressed(tmp_path: Path, make_node: Any) -> None:
    pacs = Orthanc(tmp_path / "strict", RleTransferSyntaxAccepted=False,
                   Jpeg2000TransferSyntaxAccepted=False, JpegTransferSyntaxAccepted=False,
                   JpegLosslessTransferSyntaxAccepted=False).start()
    try:
        src = _compressed(tmp_path, RLELossless, 31)
        original = pydicom.dcmread(src)
        node = make_node(dicom_destination(pacs.dicom_port))
        storescu_as_is(node.port, [src])  # propose the file's own syntax, as a modality does
        [iid] = arrived(pacs, 1)
        ds = pydicom.dcmread(io.BytesIO(pacs.file(iid)))
        assert not ds.file_meta.TransferSyntaxUID.is_compressed
        assert (ds.pixel_array == original.pixel_array).all()
    finally:
        pacs.stop()


def test_pacs_refusing_a_sop_class_for_good_moves_it_to_failed(orthanc: Orthanc, make_node: Any,
                                                               ct_files: Any, tmp_path: Path) -> None:
    """Orthanc 1.10 (dcmtk 3.6.7) does not know Height Map Segmentation Storage (2023): it
    refuses the presentation context, so the node parks the instance in failed/ with the
    status, keeps delivering the rest, and an admin can see it in 'failed list'."""
    files, _ = ct_files
    ds = pydicom.dcmread(files[0])
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.66.8"
    odd = tmp_path / "heightmap.dcm"
    ds.save_as(odd)
    profile = tmp_path / "storescu.cfg"  # storescu proposes only SOP classes it knows, or these
    profile.write_text("[[TransferSyntaxes]]\n[Plain]\nTransferSyntax1 = LittleEndianExplicit\n"
                       "TransferSyntax2 = LittleEndianImplicit\n[[PresentationContexts]]\n[Both]\n"
                       f"PresentationContext1 = {ds.SOPClassUID}\\Plain\n"
                       "PresentationContext2 = CTImageStorage\\Plain\n"
                       "[[Profiles]]\n[Odd]\nPresentationContexts = Both\n")
    node = make_node(dicom_destination(orthanc.dicom_port))
    storescu(node.port, [odd, files[1]], extra=["-xf", str(profile), "Odd"])
    assert len(arrived(orthanc, 1)) == 1
    failed = wait_for(lambda: list((node.var / "failed").glob("*.json")), what="a failed delivery")
    assert '"0x0122"' in failed[0].read_text()  # SOP Class not supported
    listing = node.cli("failed", "list").stdout
    assert failed[0].stem in listing and "0x0122" in listing
    spool = node.var / "spool"
    wait_for(lambda: not list((spool / "incoming").iterdir()) and not list((spool / "ready").iterdir()),
             what="incoming and ready emptied")
    assert (node.var / "failed" / f"{failed[0].stem}.dcm").stat().st_size > 0
    assert len(orthanc.instances()) == 1


def test_calling_ae_title_not_allowed_is_rejected(orthanc: Orthanc, make_node: Any,
                                                  ct_files: Any) -> None:
    files, _ = ct_files
    node = make_node(dicom_destination(orthanc.dicom_port),
                     receiver={"allowed_calling_ae_titles": ["CT_SCANNER_1"]})
    refused = storescu(node.port, files[:1], calling="INTRUDER", check=False)
    assert refused.returncode != 0
    assert "Association Rejected" in refused.stdout + refused.stderr
    storescu(node.port, files[:1], calling="CT_SCANNER_1")
    assert len(arrived(orthanc, 1)) == 1
    wait_for(lambda: not list((node.var / "spool" / "incoming").iterdir()),
             what="incoming job removed after delivery")


def test_pacs_down_then_up_delivers_everything(tmp_path: Path, make_node: Any, ct_files: Any) -> None:
    files, _ = ct_files
    pacs = Orthanc(tmp_path / "late")
    node = make_node(dicom_destination(pacs.dicom_port))
    storescu(node.port, files)  # accepted while the PACS is down
    wait_for(lambda: len(list((node.var / "spool" / "ready").glob("*.dcm"))) == len(files),
             what="results waiting for delivery")
    time.sleep(1.5)  # a few failed attempts with backoff
    assert any(e["event"] == "forward_retry" for e in node.audit_lines())
    pacs.start()
    try:
        assert len(arrived(pacs, len(files))) == len(files)
    finally:
        pacs.stop()


def test_forwarder_process_killed_is_restarted_and_delivers_everything(tmp_path: Path, make_node: Any,
                                                                        ct_files: Any) -> None:
    files, _ = ct_files
    pacs = Orthanc(tmp_path / "late")
    node = make_node(dicom_destination(pacs.dicom_port))
    storescu(node.port, files)  # accepted while the PACS is down: results wait in ready/
    wait_for(lambda: len(list((node.var / "spool" / "ready").glob("*.dcm"))) == len(files),
             what="results waiting for delivery")
    first = [e for e in node.audit_lines() if e["event"] == "forwarder_started"]
    assert len(first) == 1
    os.kill(first[0]["pid"], signal.SIGKILL)
    restarted = wait_for(lambda: [e for e in node.audit_lines() if e["event"] == "forwarder_started"][1:],
                         what="a new forwarding process")
    assert restarted[0]["pid"] != first[0]["pid"] and restarted[0]["waiting"] == len(files)
    assert any(e["event"] == "error" and e.get("where") == "forwarder" for e in node.audit_lines())
    pacs.start()
    try:
        assert len(arrived(pacs, len(files))) == len(files)
        time.sleep(1)
        assert len(pacs.instances()) == len(files)
        wait_for(lambda: not list((node.var / "spool" / "incoming").glob("*.dcm")),
                 what="delivered jobs removed")
    finally:
        pacs.stop()


def test_node_processes_do_not_outlive_a_killed_node(tmp_path: Path, make_node: Any) -> None:
    node = make_node({"type": "folder", "path": str(tmp_path / "out")})
    assert node.proc is not None
    children = [int(x) for x in subprocess.run(["pgrep", "-P", str(node.proc.pid)], capture_output=True,
                                                 text=True).stdout.split()]
    assert len(children) >= 2  # workers and the forwarder
    os.kill(node.proc.pid, signal.SIGKILL)  # the node alone, not its process group
    node.proc.wait()
    wait_for(lambda: not [pid for pid in children if Path(f"/proc/{pid}").exists()
                          and "Z" not in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1][:3]],
             timeout=30, what="the node's processes gone")


def test_kill9_mid_send_loses_nothing_and_duplicates_nothing(orthanc: Orthanc, make_node: Any,
                                                             tmp_path: Path) -> None:
    datasets, _ = ct_series(40, seed=41, size=256)
    files = write(datasets, tmp_path / "series")
    node = make_node(dicom_destination(orthanc.dicom_port))
    sender = threading.Thread(target=storescu, args=(node.port, files), kwargs={"check": False})
    sender.start()
    wait_for(lambda: sum(e["event"] == "received" for e in node.audit_lines()) >= 10,
             interval=0.02, what="some instances received")
    node.kill9()
    sender.join()
    node.start()
    storescu(node.port, files)  # the modality re-sends the study after the failure
    ids = arrived(orthanc, len(files), timeout=180)
    time.sleep(2)  # anything forwarded twice with different UIDs would show up now
    ids = orthanc.instances()
    assert len(ids) == len(files)
    numbers = sorted(int(orthanc.tags(i)["InstanceNumber"]) for i in ids)
    assert numbers == list(range(1, len(files) + 1))


def test_spool_quota_answers_out_of_resources_and_loses_nothing(tmp_path: Path, make_node: Any) -> None:
    datasets, _ = ct_series(8, seed=51, size=256)
    files = write(datasets, tmp_path / "series")
    size = files[0].stat().st_size
    pacs = Orthanc(tmp_path / "later")
    node = make_node(dicom_destination(pacs.dicom_port),
                     receiver={"spool_quota": int(size * 3.5)})
    result = storescu(node.port, files, check=False)
    out = result.stdout + result.stderr
    assert "0xa700" in out.lower() or "Out of Resources" in out or result.returncode != 0, out
    accepted = sum(e["event"] == "received" for e in node.audit_lines())
    refused = sum(e["event"] == "refused" and e.get("why") == "spool-quota" for e in node.audit_lines())
    assert 1 <= accepted < len(files) and refused >= 1
    pacs.start()
    try:
        assert len(arrived(pacs, accepted)) == accepted
        time.sleep(1)
        assert len(pacs.instances()) == accepted
    finally:
        pacs.stop()
