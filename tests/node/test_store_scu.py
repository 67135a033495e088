"""The forwarder's C-STORE SCU against pynetdicom's Storage SCP as the peer (Orthanc is the
peer in test_node_peers.py; pynetdicom lets these tests set the PDU size, the status and
the called AE title check, and see the bytes that arrived)."""
from __future__ import annotations

import io
import threading

import pydicom
import pytest
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, ImplicitVRLittleEndian, JPEGBaseline8Bit
from pynetdicom import AE, evt

from deid_node.node.part10 import Part10
from deid_node.node.store_scu import AssociationRefused, StoreAssociation
from deid_node.synth.dicom import ct_series
from tests.peers import free_port


def _file_bytes(ds: pydicom.Dataset) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


@pytest.fixture(scope="module")
def instances() -> list[bytes]:
    datasets, _ = ct_series(3, seed=7, size=128)
    return [_file_bytes(ds) for ds in datasets]


class _Scp:
    """pynetdicom Storage SCP that keeps what it received and answers *status*."""

    def __init__(self, *, max_pdu: int = 16384, status: int = 0x0000, abort: bool = False) -> None:
        self.received: list[tuple[int, str, bytes]] = []
        self.status = status
        self.abort = abort
        ae = AE(ae_title="PACS")
        ae.maximum_pdu_size = max_pdu
        ae.require_called_aet = True
        ae.add_supported_context(CTImageStorage, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
        self.port = free_port()
        self.server = ae.start_server(("127.0.0.1", self.port), block=False,
                                      evt_handlers=[(evt.EVT_C_STORE, self._on_store)])
        self.lock = threading.Lock()

    def _on_store(self, event) -> int:  # type: ignore[no-untyped-def]
        with self.lock:
            self.received.append((int(event.request.MessageID), str(event.request.AffectedSOPInstanceUID),
                                  bytes(event.request.DataSet.getvalue())))
        if self.abort:
            event.assoc.abort()
        return self.status

    def close(self) -> None:
        self.server.shutdown()


def _open(scp: _Scp, called: str = "PACS") -> StoreAssociation:
    return StoreAssociation.request("127.0.0.1", scp.port, calling="DEID_NODE", called=called,
                                    contexts=[(CTImageStorage, [ExplicitVRLittleEndian, ImplicitVRLittleEndian]),
                                              (CTImageStorage, [JPEGBaseline8Bit])])


@pytest.mark.parametrize("max_pdu", [4096, 16384, 0], ids=["4k-pdus", "16k-pdus", "unlimited"])
def test_instances_arrive_byte_for_byte_on_one_association(instances: list[bytes], max_pdu: int) -> None:
    scp = _Scp(max_pdu=max_pdu)
    try:
        assoc = _open(scp)
        for raw in instances:
            item = Part10.parse(raw)
            response = assoc.store(assoc.accepted[(item.sop_class, item.transfer_syntax)],
                                   item.sop_class, item.sop_instance, item.dataset)
            assert response.status == 0x0000
        assoc.release()
        assert not assoc.is_open
    finally:
        scp.close()
    assert [m for m, _, _ in scp.received] == [1, 2, 3]
    assert [(uid, data) for _, uid, data in scp.received] == [
        (Part10.parse(raw).sop_instance, bytes(Part10.parse(raw).dataset)) for raw in instances]


def test_refused_syntax_is_not_accepted_and_status_is_returned(instances: list[bytes]) -> None:
    scp = _Scp(status=0xA700)
    try:
        assoc = _open(scp)
        assert (CTImageStorage, JPEGBaseline8Bit) not in assoc.accepted
        item = Part10.parse(instances[0])
        response = assoc.store(assoc.accepted[(item.sop_class, item.transfer_syntax)],
                               item.sop_class, item.sop_instance, item.dataset)
        assert response.status == 0xA700
        assoc.release()
    finally:
        scp.close()


def test_wrong_called_ae_title_is_refused() -> None:
    scp = _Scp()
    try:
        with pytest.raises(AssociationRefused, match="rejected"):
            _open(scp, called="NOT_PACS")
    finally:
        scp.close()


def test_nobody_listening_is_an_os_error() -> None:
    with pytest.raises(OSError):
        StoreAssociation.request("127.0.0.1", free_port(), calling="A", called="B",
                                 contexts=[(CTImageStorage, [ExplicitVRLittleEndian])], acse_timeout=5)


def test_peer_aborting_instead_of_answering_raises_and_closes(instances: list[bytes]) -> None:
    scp = _Scp(abort=True)
    try:
        assoc = _open(scp)
        item = Part10.parse(instances[0])
        with pytest.raises(ConnectionError, match="aborted|closed"):
            assoc.store(assoc.accepted[(item.sop_class, item.transfer_syntax)],
                        item.sop_class, item.sop_instance, item.dataset)
        assert not assoc.is_open
        with pytest.raises(ConnectionError, match="closed"):
            assoc.store(1, item.sop_class, item.sop_instance, item.dataset)
    finally:
        scp.close()
