"""A C-STORE SCU that streams datasets already encoded on disk (PS3.8 Upper Layer, PS3.7
C-STORE): the forwarder's side of the association.

Why not pynetdicom's ``Association`` for sending: it turns every PDU into a primitive, an
event on a queue and a PDU object encoded by its reactor thread. With Orthanc's 16 KiB
PDUs that is 33 round trips through that machinery per 512 KiB CT slice, ~1.8 ms of CPU
per instance, as much as Orthanc spends storing it. The forwarder only ever sends files
the pipeline wrote, already in the syntax they go out in, so this class writes their bytes
as P-DATA-TF PDUs straight from memory and reads the C-STORE response itself.

The association handshake still uses pynetdicom's A-ASSOCIATE PDU encoder and decoder, so
what goes on the wire there is exactly what pynetdicom's own SCU sends.
"""
from __future__ import annotations

import socket
import ssl
import struct
from dataclasses import dataclass

from pynetdicom import PYNETDICOM_IMPLEMENTATION_UID, PYNETDICOM_IMPLEMENTATION_VERSION
from pynetdicom.pdu import A_ASSOCIATE_AC, A_ASSOCIATE_RJ, A_ASSOCIATE_RQ
from pynetdicom.pdu_primitives import (
    A_ASSOCIATE,
    ImplementationClassUIDNotification,
    ImplementationVersionNameNotification,
    MaximumLengthNotification,
)
from pynetdicom.presentation import PresentationContext

APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"
MAX_RECEIVE = 1 << 20  # what we announce; C-STORE responses are a few hundred bytes
_UNLIMITED_SEND = 1 << 20  # fragment size when the peer sets no maximum (0)
_MAX_INCOMING_PDU = 16 << 20  # a peer announcing more than this is not speaking DICOM

_ASSOCIATE_AC, _ASSOCIATE_RJ, _P_DATA, _RELEASE_RQ, _RELEASE_RP, _ABORT = 0x02, 0x03, 0x04, 0x05, 0x06, 0x07
_COMMAND, _LAST = 0x01, 0x02  # message control header bits of a PDV (PS3.8 E.2)


class AssociationRefused(ConnectionError):
    """The PACS rejected or aborted the association request."""


@dataclass(frozen=True)
class StoreResponse:
    status: int
    error_comment: str | None = None


class StoreAssociation:
    """One established association on which C-STORE requests are sent one at a time."""

    def __init__(self, sock: socket.socket, accepted: dict[tuple[str, str], int], max_send: int,
                 dimse_timeout: float) -> None:
        self._sock = sock
        self._tls = isinstance(sock, ssl.SSLSocket)
        self.accepted = accepted
        self._fragment = (max_send or _UNLIMITED_SEND) - 6  # a PDV item's length and header
        self._dimse_timeout = dimse_timeout
        self._message_id = 0
        self.is_open = True

    # -- establishment --------------------------------------------------------------
    @classmethod
    def request(cls, host: str, port: int, *, calling: str, called: str,
                contexts: list[tuple[str, list[str]]], tls: ssl.SSLContext | None = None,
                acse_timeout: float = 30, dimse_timeout: float = 120) -> "StoreAssociation":
        """Connect and negotiate *contexts* (SOP class, transfer syntaxes); raise
        AssociationRefused when the PACS says no, OSError when it cannot be reached."""
        if not 0 < len(contexts) <= 128:
            raise ValueError(f"an association carries 1 to 128 presentation contexts, not {len(contexts)}")
        sock = socket.create_connection((host, port), timeout=acse_timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if tls is not None:
                sock = tls.wrap_socket(sock, server_hostname=host)
            proposed = {}
            primitive = A_ASSOCIATE()
            primitive.application_context_name = APPLICATION_CONTEXT
            primitive.calling_ae_title = calling
            primitive.called_ae_title = called
            for i, (sop, syntaxes) in enumerate(contexts):
                cx = PresentationContext()
                cx.context_id = 2 * i + 1
                cx.abstract_syntax = sop
                cx.transfer_syntax = list(syntaxes)
                proposed[cx.context_id] = sop
                primitive.presentation_context_definition_list.append(cx)
            primitive.user_information = [_max_length(MAX_RECEIVE), _implementation_uid(), _implementation_name()]
            rq = A_ASSOCIATE_RQ()
            rq.from_primitive(primitive)
            sock.sendall(rq.encode())
            kind, pdu = _read_pdu(sock)
            if kind == _ASSOCIATE_RJ:
                rj = A_ASSOCIATE_RJ()
                rj.decode(pdu)
                raise AssociationRefused(f"association rejected ({rj.result_str}, {rj.source_str}: {rj.reason_str})")
            if kind == _ABORT:
                raise AssociationRefused(f"association aborted by the PACS (reason {pdu[-1]})")
            if kind != _ASSOCIATE_AC:
                raise AssociationRefused(f"unexpected PDU type 0x{kind:02X} in answer to A-ASSOCIATE-RQ")
            ac = A_ASSOCIATE_AC()
            ac.decode(pdu)
            answer = ac.to_primitive()
            accepted = {(proposed[cx.context_id], str(cx.transfer_syntax[0])): cx.context_id
                        for cx in answer.presentation_context_definition_results_list
                        if cx.result == 0 and cx.context_id in proposed and cx.transfer_syntax}
            max_send = next((item.maximum_length_received for item in answer.user_information
                             if isinstance(item, MaximumLengthNotification)), 0) or 0
            if 0 < max_send < 64:
                raise AssociationRefused(f"the PACS announced a maximum PDU of {max_send} bytes")
            sock.settimeout(dimse_timeout)
            return cls(sock, accepted, max_send, dimse_timeout)
        except BaseException:
            sock.close()
            raise

    # -- C-STORE -------------------------------------------------------------------
    def store(self, context_id: int, sop_class: str, sop_instance: str, dataset: memoryview | bytes) -> StoreResponse:
        """Send one C-STORE-RQ with *dataset* (encoded in the context's transfer syntax) and
        wait for its response. OSError / ConnectionError when the association breaks: the
        association is then closed and the instance's fate is unknown (send it again)."""
        if not self.is_open:
            raise ConnectionError("the association is closed")
        self._message_id = self._message_id % 0xFFFF + 1
        try:
            self._send_pdvs(context_id, _c_store_rq(sop_class, sop_instance, self._message_id), _COMMAND)
            self._send_pdvs(context_id, memoryview(dataset), 0)
            return self._response(self._message_id)
        except BaseException:
            self.abort()
            raise

    def _send_pdvs(self, context_id: int, data: memoryview | bytes, kind: int) -> None:
        size = len(data)
        step = self._fragment
        offset = 0
        while True:
            chunk = data[offset:offset + step]
            offset += len(chunk)
            flags = kind | (_LAST if offset >= size else 0)
            head = struct.pack(">BBIIBB", _P_DATA, 0, len(chunk) + 6, len(chunk) + 2, context_id, flags)
            self._send(head, chunk)
            if offset >= size:
                return

    def _send(self, head: bytes, chunk: memoryview | bytes) -> None:
        if self._tls:  # SSLSocket has no sendmsg
            self._sock.sendall(head + bytes(chunk))
            return
        sent = self._sock.sendmsg([head, chunk])
        total = len(head) + len(chunk)
        if sent < total:
            self._sock.sendall(b"".join((head, chunk))[sent:])

    def _response(self, message_id: int) -> StoreResponse:
        command = bytearray()
        while True:
            kind, pdu = _read_pdu(self._sock)
            if kind == _ABORT:
                self._close()
                raise ConnectionError(f"the PACS aborted the association (source {pdu[8]}, reason {pdu[9]})")
            if kind == _RELEASE_RQ:
                self._send(struct.pack(">BBII", _RELEASE_RP, 0, 4, 0), b"")
                self._close()
                raise ConnectionError("the PACS released the association while a C-STORE was pending")
            if kind != _P_DATA:
                raise ConnectionError(f"unexpected PDU type 0x{kind:02X} while waiting for a C-STORE response")
            pos = 6
            while pos + 6 <= len(pdu):
                (length,) = struct.unpack_from(">I", pdu, pos)
                flags = pdu[pos + 5]
                if flags & _COMMAND:  # a response data set, if any, is not ours to read
                    command += pdu[pos + 6:pos + 4 + length]
                    if flags & _LAST:
                        fields = _elements(command)
                        command.clear()
                        if _us(fields.get(0x0120)) == message_id and _us(fields.get(0x0100)) == 0x8001:
                            status = _us(fields.get(0x0900))
                            if status is None:
                                raise ConnectionError("C-STORE response without a status")
                            comment = fields.get(0x0902)
                            return StoreResponse(status, comment.rstrip(b"\0 ").decode("ascii", "replace")
                                                 if comment else None)
                pos += 4 + length

    # -- ending ----------------------------------------------------------------------
    def release(self, timeout: float = 10) -> None:
        """A-RELEASE; the PACS's answer is awaited briefly, then the socket is closed anyway."""
        if not self.is_open:
            return
        try:
            self._sock.settimeout(timeout)
            self._send(struct.pack(">BBII", _RELEASE_RQ, 0, 4, 0), b"")
            while _read_pdu(self._sock)[0] not in (_RELEASE_RP, _ABORT):
                pass
        except OSError:
            pass
        self._close()

    def abort(self) -> None:
        if not self.is_open:
            return
        try:
            self._sock.settimeout(2)
            self._send(struct.pack(">BBIBBBB", _ABORT, 0, 4, 0, 0, 0, 0), b"")
        except OSError:
            pass
        self._close()

    def _close(self) -> None:
        self.is_open = False
        try:
            self._sock.close()
        except OSError:
            pass


def _read_pdu(sock: socket.socket) -> tuple[int, bytes]:
    """One whole PDU (header included, as pynetdicom's decoders expect it)."""
    head = _recv_exact(sock, 6)
    (length,) = struct.unpack_from(">I", head, 2)
    if length > _MAX_INCOMING_PDU:
        raise ConnectionError(f"the PACS sent a PDU of {length} bytes; not DICOM, or broken")
    return head[0], head + _recv_exact(sock, length)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:])
        if k == 0:
            raise ConnectionError("the PACS closed the connection")
        got += k
    return bytes(buf)


def _element(element: int, value: bytes) -> bytes:
    """An implicit VR little endian element of command group 0000 (PS3.7 6.3.1)."""
    return struct.pack("<HHI", 0x0000, element, len(value)) + value


def _uid(uid: str) -> bytes:
    raw = uid.encode("ascii")
    return raw + b"\0" if len(raw) % 2 else raw


def _c_store_rq(sop_class: str, sop_instance: str, message_id: int) -> bytes:
    """The C-STORE-RQ command set (PS3.7 Table 9.3-1), priority MEDIUM, a data set follows."""
    body = b"".join((
        _element(0x0002, _uid(sop_class)),
        _element(0x0100, struct.pack("<H", 0x0001)),
        _element(0x0110, struct.pack("<H", message_id)),
        _element(0x0700, struct.pack("<H", 0x0000)),
        _element(0x0800, struct.pack("<H", 0x0000)),
        _element(0x1000, _uid(sop_instance)),
    ))
    return _element(0x0000, struct.pack("<I", len(body))) + body


def _elements(command: bytes | bytearray) -> dict[int, bytes]:
    """The elements of a command set, by element number (all are group 0000)."""
    out = {}
    pos = 0
    while pos + 8 <= len(command):
        _group, element, length = struct.unpack_from("<HHI", command, pos)
        out[element] = bytes(command[pos + 8:pos + 8 + length])
        pos += 8 + length
    return out


def _us(value: bytes | None) -> int | None:
    return struct.unpack("<H", value[:2])[0] if value and len(value) >= 2 else None


def _max_length(n: int) -> MaximumLengthNotification:
    item = MaximumLengthNotification()
    item.maximum_length_received = n
    return item


def _implementation_uid() -> ImplementationClassUIDNotification:
    item = ImplementationClassUIDNotification()
    item.implementation_class_uid = PYNETDICOM_IMPLEMENTATION_UID
    return item


def _implementation_name() -> ImplementationVersionNameNotification:
    item = ImplementationVersionNameNotification()
    item.implementation_version_name = PYNETDICOM_IMPLEMENTATION_VERSION
    return item
