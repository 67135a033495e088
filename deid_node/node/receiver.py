"""The Storage SCP modalities send to.

Receiving only writes to disk: the handler stores the bytes exactly as sent (with file
meta), fsyncs, renames into spool/incoming and only then answers Success. A full spool,
a low disk or an over-size instance is answered 0xA700 (Refused: Out of Resources) so the
modality keeps the instance and retries; nothing is accepted and then dropped.
"""
from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
from pathlib import Path
from typing import Any, Callable

from pydicom.uid import (
    DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian, ExplicitVRLittleEndian,
    HTJ2K, HTJ2KLossless, HTJ2KLosslessRPCL, ImplicitVRLittleEndian, JPEG2000, JPEG2000Lossless,
    JPEGBaseline8Bit, JPEGExtended12Bit, JPEGLossless, JPEGLosslessSV1, JPEGLSLossless,
    JPEGLSNearLossless, RLELossless,
)
from pynetdicom import AE, evt
from pynetdicom.sop_class import Verification, _STORAGE_CLASSES
from pynetdicom.transport import AssociationSocket, RequestHandler, ThreadedAssociationServer

from .. import audit
from ..settings import NodeSettings, ReceiverSettings
from . import wakeups
from .part10 import file_meta
from .spool import Spool, SpoolFull

ACCEPTED_TRANSFER_SYNTAXES = [
    ExplicitVRLittleEndian, ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian,
    JPEGBaseline8Bit, JPEGExtended12Bit, JPEGLossless, JPEGLosslessSV1,
    JPEGLSLossless, JPEGLSNearLossless, JPEG2000Lossless, JPEG2000, RLELossless,
    HTJ2KLossless, HTJ2KLosslessRPCL, HTJ2K,
]
OUT_OF_RESOURCES = 0xA700
# Large PDUs cut the per-fragment Python overhead of receiving; 0 ("unlimited") makes
# some peers fall back to small PDUs, so a finite large value is advertised.
MAX_PDU = 1 << 20


def _recv_whole(self: AssociationSocket, nr_bytes: int) -> bytearray:
    """``AssociationSocket.recv`` reading into one buffer with as few calls as the kernel
    allows. pynetdicom reads 4 KiB per call: 128 calls, each giving up and retaking the
    GIL, for a 512 KiB PDU, which made receiving the node's largest CPU cost. Same
    contract: up to *nr_bytes*, fewer only when the peer closed the connection."""
    sock = self.socket
    assert sock is not None
    buf = bytearray(nr_bytes)
    with memoryview(buf) as view:
        got = 0
        while got < nr_bytes:
            n = sock.recv_into(view[got:], nr_bytes - got)
            if not n:
                break
            got += n
    if got < nr_bytes:
        del buf[got:]
    return buf


class _RequestHandler(RequestHandler):
    def _create_association(self):  # type: ignore[no-untyped-def]
        assoc = super()._create_association()
        sock = assoc.dul.socket
        sock.recv = _recv_whole.__get__(sock)  # this socket only
        wakeups.attach(assoc)  # reactors woken by work, not by their 1 ms polls
        return assoc


class _Server(ThreadedAssociationServer):
    """Association server with TCP_NODELAY on every socket and an optional IP allow-list."""

    allowed_ips: tuple = ()

    def get_request(self):  # type: ignore[override]
        sock, address = self.socket.accept()  # type: ignore[union-attr]
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.ssl_context:
            sock = self.ssl_context.wrap_socket(sock, server_side=True)
        return sock, address

    def verify_request(self, request: Any, client_address: Any) -> bool:  # type: ignore[override]
        if not self.allowed_ips:
            return True
        ip = ipaddress.ip_address(client_address[0])
        if any(ip in net for net in self.allowed_ips):
            return True
        audit.event("association_refused", why="ip-not-allowed", peer_ip=str(ip))
        return False


def server_ssl_context(settings: ReceiverSettings) -> ssl.SSLContext:
    tls = settings.tls
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(tls.certificate), str(tls.private_key))
    if tls.require_client_certificate:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cafile=str(tls.ca_certificates) if tls.ca_certificates else None)
    return ctx


class Receiver:
    """Storage SCP bound to the node's AE title; calls *on_accept* with each durable job."""

    def __init__(self, node: NodeSettings, settings: ReceiverSettings, spool: Spool,
                 on_accept: Callable[[Path], None] = lambda job: None) -> None:
        self.node = node
        self.settings = settings
        self.spool = spool
        self.on_accept = on_accept
        self.server: _Server | None = None
        self.received = 0
        self._lock = threading.Lock()
        ae = AE(ae_title=node.ae_title)
        ae.maximum_pdu_size = MAX_PDU
        ae.acse_timeout = 30
        ae.dimse_timeout = 120
        ae.network_timeout = 300
        ae.maximum_associations = 32
        ae.add_supported_context(Verification)
        for uid in sorted(set(_STORAGE_CLASSES.values())):
            ae.add_supported_context(uid, ACCEPTED_TRANSFER_SYNTAXES)
        if settings.allowed_calling_ae_titles:
            ae.require_calling_aet = list(settings.allowed_calling_ae_titles)
        self.ae = ae

    def _on_store(self, event: Any) -> int:
        request = event.request
        sop_class, sop_instance = str(request.AffectedSOPClassUID), str(request.AffectedSOPInstanceUID)
        data = b"".join((file_meta(sop_class, sop_instance, str(event.context.transfer_syntax)),
                         request.DataSet.getbuffer()))
        calling = event.assoc.requestor.ae_title
        sop_ref = audit.ref(sop_instance)
        if len(data) > self.settings.max_instance_size:
            audit.event("refused", why="instance-too-large", bytes=len(data), calling_aet=calling,
                        original_ref=sop_ref)
            return OUT_OF_RESOURCES
        try:
            path = self.spool.accept(data)
        except SpoolFull as full:
            audit.event("refused", why=full.reason, bytes=len(data), calling_aet=calling,
                        original_ref=sop_ref)
            return OUT_OF_RESOURCES
        except OSError as exc:
            audit.event("refused", why="spool-write-failed", error=exc.strerror, calling_aet=calling,
                        original_ref=sop_ref)
            return OUT_OF_RESOURCES
        with self._lock:
            self.received += 1
        audit.event("received", calling_aet=calling, peer_ip=event.assoc.requestor.address,
                    sop_class=sop_class, original_ref=sop_ref,
                    bytes=len(data), job=path.name)
        self.on_accept(path)
        return 0x0000

    def _on_rejected(self, event: Any) -> None:
        audit.event("association_refused", why="rejected", peer_ip=event.assoc.requestor.address,
                    calling_aet=event.assoc.requestor.ae_title)

    def start(self) -> _Server:
        """Bind and serve in a background thread; returns the server (its port may be 0→real)."""
        handlers = [(evt.EVT_C_STORE, self._on_store), (evt.EVT_REJECTED, self._on_rejected)]
        ssl_ctx = server_ssl_context(self.settings) if self.settings.tls.enabled else None
        server = self.ae.make_server((self.node.bind, self.node.port), ssl_context=ssl_ctx,
                                     evt_handlers=handlers, server_class=_Server,
                                     request_handler=_RequestHandler)
        server.allowed_ips = self.settings.allowed_ips
        self.ae._servers.append(server)
        thread = threading.Thread(target=server.serve_forever, name="storage-scp", daemon=True)
        thread.start()
        self.server = server
        return server

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.server_address[1]

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
