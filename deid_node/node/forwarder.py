"""Delivery of de-identified instances from spool/outbox and spool/ready to the destination.

The forwarder runs in a process of its own (``ForwarderProcess``) so that sending never
competes with receiving for one GIL; its lanes (threads) each keep one association open
and reuse it; it proposes, for each SOP class seen, the instance's own transfer
syntax and the uncompressed ones, so an instance whose compressed syntax the PACS refuses
is decompressed and sent as Explicit VR Little Endian instead. Transient trouble (PACS
down, association refused, 'out of resources') is retried with exponential backoff and
the item stays where it is (outbox items survive restarts; ready/ items are made again
from their incoming jobs). A refusal for good moves the item to failed/ with the PACS
status recorded.
"""
from __future__ import annotations

import io
import mmap
import multiprocessing
import signal
import ssl
import threading
import time
from collections import OrderedDict, deque
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Protocol

import pydicom
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, UID

from .. import audit
from ..settings import DestinationSettings, Settings, TlsSettings
from ..sitekey import load_or_create
from .part10 import Part10
from .store_scu import AssociationRefused, StoreAssociation
from .spool import Reaper, Spool, durable_write, fsync_dir, sop_uid_of

_UNCOMPRESSED = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)

_MAX_CONTEXTS = 120  # the association may carry 128 at most


class TransientError(Exception):
    """Try again later: the item stays in the outbox."""


class PermanentError(Exception):
    """The destination refused the item for good; ``status`` is the DIMSE status or None."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Destination(Protocol):
    name: str

    def send(self, path: Path) -> None: ...

    def close(self) -> None: ...


class FolderDestination:
    """Write ``<root>/<StudyUID>/<SeriesUID>/<SOPUID>.dcm`` durably."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.name = f"folder:{self.root}"

    def send(self, path: Path) -> None:
        ds = pydicom.dcmread(path, stop_before_pixels=True,
                             specific_tags=["StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"])
        target = self.root / str(ds.StudyInstanceUID) / str(ds.SeriesInstanceUID)
        target.mkdir(parents=True, exist_ok=True)
        try:
            durable_write(target, f"{ds.SOPInstanceUID}.dcm", path.read_bytes(), mode=0o644)
        except OSError as exc:
            raise TransientError(f"cannot write to {target}: {exc.strerror}") from exc
        fsync_dir(target.parent)

    def close(self) -> None:
        pass


def client_ssl_context(tls: TlsSettings) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH,
                                     cafile=str(tls.ca_certificates) if tls.ca_certificates else None)
    if tls.certificate and tls.private_key:
        ctx.load_cert_chain(str(tls.certificate), str(tls.private_key))
    return ctx


class DicomDestination:
    """C-STORE SCU over one kept-open association."""

    # Statuses that mean 'try again later' (PS3.4 C.4.2.1.4: A7xx Refused: Out of Resources)
    TRANSIENT = lambda status: (status & 0xFF00) == 0xA700  # noqa: E731

    def __init__(self, settings: DestinationSettings) -> None:
        self.settings = settings
        self.name = f"dicom:{settings.ae_title}@{settings.host}:{settings.port}"
        self.assoc: StoreAssociation | None = None
        self.proposed: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._tls = client_ssl_context(settings.tls) if settings.tls.enabled else None

    # -- association --------------------------------------------------------------
    def _contexts(self) -> list[tuple[str, list[str]]]:
        """A context per compressed syntax seen for each SOP class, and one with both
        uncompressed syntaxes (what a file is converted to when its own is refused)."""
        by_class: OrderedDict[str, list[str]] = OrderedDict()
        for sop, ts in self.proposed:
            by_class.setdefault(sop, [])
            if ts not in _UNCOMPRESSED and ts not in by_class[sop]:
                by_class[sop].append(ts)
        contexts: list[tuple[str, list[str]]] = []
        for sop, compressed in reversed(by_class.items()):
            needed = [(sop, [ts]) for ts in compressed] + [(sop, list(_UNCOMPRESSED))]
            if len(contexts) + len(needed) > _MAX_CONTEXTS:
                break
            contexts.extend(needed)
        return contexts

    def _associate(self) -> StoreAssociation:
        self.close()
        s = self.settings
        assert s.host and s.port and s.ae_title
        try:
            self.assoc = StoreAssociation.request(
                s.host, s.port, calling=s.calling_ae_title or "DEID_NODE", called=s.ae_title,
                contexts=self._contexts(), tls=self._tls)
        except AssociationRefused as exc:
            raise TransientError(str(exc)) from exc
        except OSError as exc:
            raise TransientError(f"cannot reach the destination: {type(exc).__name__}: {exc}") from exc
        return self.assoc

    def send(self, path: Path) -> None:
        # Mapped, not read: a multi-frame instance may be gigabytes, and each lane sends one.
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            item = Part10.parse(mapped)
            try:
                self._send(path, item)
            finally:
                item.dataset.release()  # the map cannot close while a view of it is alive

    def _send(self, path: Path, item: Part10) -> None:
        key = (item.sop_class, item.transfer_syntax)
        if key not in self.proposed:
            self.proposed[key] = None
            self.close()  # renegotiate with the new context on the next association
        assoc = self.assoc if self.assoc is not None and self.assoc.is_open else self._associate()
        context = assoc.accepted.get(key)
        if context is None:
            item, context = self._converted(path, item, assoc)
        try:
            response = assoc.store(context, item.sop_class, item.sop_instance, item.dataset)
        except OSError as exc:  # ConnectionError, timeouts, TLS errors
            self.close()
            raise TransientError(f"connection lost while sending: {type(exc).__name__}") from exc
        code = response.status
        if code in (0x0000, 0xB000, 0xB007, 0xB006):  # success and warnings
            return
        if DicomDestination.TRANSIENT(code):
            raise TransientError(f"destination answered 0x{code:04X} (out of resources)")
        raise PermanentError(f"destination answered 0x{code:04X}", status=code)

    def _converted(self, path: Path, item: Part10, assoc: StoreAssociation) -> tuple[Part10, int]:
        """The PACS did not take the file's own syntax: decompress / re-encode uncompressed."""
        for target in _UNCOMPRESSED:
            context = assoc.accepted.get((item.sop_class, target))
            if context is None:
                continue
            ds = pydicom.dcmread(path)
            if ds.file_meta.TransferSyntaxUID.is_compressed:
                ds.decompress()
            ds.file_meta.TransferSyntaxUID = UID(target)
            buffer = io.BytesIO()
            ds.save_as(buffer, enforce_file_format=True)
            return Part10.parse(buffer.getvalue()), context
        raise PermanentError(f"destination accepts SOP class {item.sop_class} in no transfer syntax we offer",
                             status=0x0122)

    def close(self) -> None:
        if self.assoc is not None:
            self.assoc.release()
            self.assoc = None


def make_destination(settings: DestinationSettings) -> Destination:
    if settings.type == "folder":
        assert settings.path is not None
        return FolderDestination(settings.path)
    return DicomDestination(settings)


class Forwarder:
    """Delivers the outbox and the queue of ready/ results over ``destination.associations``
    lanes, each a thread with its own kept-open association.

    Sending is mostly waiting for the PACS to store, so a second association to the same
    PACS raises the rate (290-305 -> 420-440 instances/s to Orthanc here, 512 KiB CT). Each item is owned by one lane at a time; a lane that meets trouble puts its
    item back and backs off on its own. The outbox (admin releases and retries, written
    by other processes) is looked at every second.
    """

    def __init__(self, spool: Spool, settings: DestinationSettings) -> None:
        self.spool = spool
        self.settings = settings
        count = settings.associations if settings.type == "dicom" else 1
        self.lanes = [_Lane(self, make_destination(settings), i) for i in range(count)]
        self.destination = self.lanes[0].destination
        self.reaper = Reaper()
        self._ready: deque[Path] = deque()
        self._outbox: deque[Path] = deque()
        self._owned: set[Path] = set()
        self._waiting: set[Path] = set()  # what _ready holds, for enqueue's duplicate check
        self._outbox_at = 0.0
        self._attempts: dict[str, int] = {}
        self._cond = threading.Condition()
        self._halt = threading.Event()
        self.sent = 0

    # -- life cycle -----------------------------------------------------------------
    def start(self) -> None:
        self.reaper.start()
        for lane in self.lanes:
            lane.start()

    def stop(self) -> None:
        self._halt.set()
        with self._cond:
            self._cond.notify_all()

    def join(self, timeout: float | None = None) -> None:
        for lane in self.lanes:
            lane.join(timeout)
        self.reaper.stop()

    def enqueue(self, item: Path) -> None:
        """Queue a ready/ item the pipeline has just produced (once, however often told)."""
        with self._cond:
            if item in self._waiting or item in self._owned:
                return
            self._waiting.add(item)
            self._ready.append(item)
            self._cond.notify()

    # -- the shared queue -----------------------------------------------------------------
    def take(self, wait: float) -> Path | None:
        """The next item for a lane (outbox first), now owned by it; None after *wait* s."""
        with self._cond:
            for _ in range(2):
                if time.monotonic() - self._outbox_at >= 1.0:
                    self._outbox_at = time.monotonic()
                    queued = set(self._outbox) | self._owned
                    self._outbox.extend(p for p in self.spool.outbox_items() if p not in queued)
                for q in (self._outbox, self._ready):
                    if q:
                        item = q.popleft()
                        self._waiting.discard(item)
                        self._owned.add(item)
                        return item
                if self._halt.is_set() or not self._cond.wait(wait):
                    return None
            return None

    def put_back(self, item: Path) -> None:
        """A lane could not deliver *item* now: it goes back to the head of its queue."""
        with self._cond:
            self._owned.discard(item)
            if self.spool.job_of(item):
                self._waiting.add(item)
                self._ready.appendleft(item)
            else:
                self._outbox.appendleft(item)

    def done(self, item: Path, delivered: bool) -> None:
        with self._cond:
            self._owned.discard(item)
            self._attempts.pop(item.name, None)
            self.sent += delivered
        if delivered:
            self.reaper.remove(*self.spool.leftovers(item))

    def attempt(self, item: Path) -> int:
        with self._cond:
            n = self._attempts[item.name] = self._attempts.get(item.name, 0) + 1
            return n



class _Lane(threading.Thread):
    """One association's worth of delivery: take, send, report; back off on trouble."""

    def __init__(self, forwarder: Forwarder, destination: Destination, index: int) -> None:
        super().__init__(name=f"forwarder-{index}", daemon=True)
        self.forwarder = forwarder
        self.destination = destination
        self.settings = forwarder.settings
        self.delay = 0.0

    def run(self) -> None:
        halt = self.forwarder._halt
        while not halt.is_set():
            item = self.forwarder.take(wait=1.0)
            if item is None:
                continue
            try:
                done = self._deliver(item)
            except OSError as exc:  # e.g. failed/ could not be written: keep the item, retry
                self.forwarder.put_back(item)
                self._backoff(f"{type(exc).__name__} while filing a delivery failure")
                done = None
            if done is None and self.delay and not halt.is_set():
                halt.wait(self.delay)  # backing off: new arrivals do not cut it short
        self.destination.close()

    def _deliver(self, item: Path) -> int | None:
        """Send one item: 1 when delivered, 0 when it left the queue otherwise (gone or
        failed for good), None when it was put back (halting or backing off)."""
        fwd = self.forwarder
        if fwd._halt.is_set():
            fwd.put_back(item)
            return None
        if not item.exists():
            fwd.done(item, delivered=False)
            return 0
        try:
            self.destination.send(item)
        except TransientError as exc:
            fwd.put_back(item)
            self._backoff(str(exc))
            return None
        except PermanentError as exc:
            if self._give_up(item, exc):
                return 0
            fwd.put_back(item)
            return None
        except Exception as exc:  # a broken file: do not block the queue behind it
            self._fail(item, f"{type(exc).__name__}", None)
            return 0
        fwd.done(item, delivered=True)
        self.delay = 0.0
        audit.event("forwarded", destination=self.destination.name, new_sop_uid=sop_uid_of(item))
        return 1

    def _backoff(self, why: str) -> None:
        retry = self.settings.retry
        self.delay = min(retry.max_delay, max(retry.initial_delay, self.delay * 2 or retry.initial_delay))
        audit.event("forward_retry", destination=self.destination.name, why=why, delay_s=self.delay)

    def _give_up(self, item: Path, exc: PermanentError) -> bool:
        n = self.forwarder.attempt(item)
        transient_kind = exc.status is not None and (exc.status & 0xF000) not in (0xA000, 0xC000) \
            and exc.status not in (0x0122, 0x0124, 0x0211, 0x0212)
        if transient_kind and n < self.settings.retry.max_attempts_on_failure_status:
            self._backoff(f"status 0x{exc.status:04X}, attempt {n}")
            return False
        self._fail(item, str(exc), exc.status)
        return True

    def _fail(self, item: Path, why: str, status: int | None) -> None:
        info = {"destination": self.destination.name, "reason": why, "failed_at": time.time(),
                "status": f"0x{status:04X}" if status is not None else None}
        self.forwarder.spool.fail_delivery(item, info)
        self.forwarder.done(item, delivered=False)
        audit.event("delivery_failed", destination=self.destination.name, new_sop_uid=sop_uid_of(item),
                    reason=why, status=info["status"])


class ForwarderProcess:
    """The forwarder in a process of its own.

    With pynetdicom's SCU, sending cost the node about as much CPU as receiving, and in one
    process the two took turns on one GIL, so a busy forwarder slowed what modalities see
    (store_scu.py now sends for a fifth of that CPU; the process keeps the GIL apart). The node tells this process about each ready/ result
    through a pipe; the process delivers it and removes the job. If the process dies, the
    node starts another, which picks up everything in ready/ again (nothing is lost: the
    incoming job stays until delivery).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.name = make_destination(settings.destination).name
        self._ctx = multiprocessing.get_context("spawn")
        self._sent = self._ctx.Value("q", 0)
        self._lock = threading.Lock()
        self._proc: Any = None
        self._conn: Connection | None = None
        self._stopping = False
        self._started_at = 0.0
        self._restart_at: float | None = None
        self._pause = 0.0

    @property
    def sent(self) -> int:
        """Instances delivered by the processes that have stopped cleanly."""
        return int(self._sent.value)

    def start(self) -> None:
        items, conn = self._ctx.Pipe(duplex=False)
        proc = self._ctx.Process(target=run_forwarder, args=(self.settings, items, self._sent),
                                 name="deid-node-forwarder", daemon=True)
        proc.start()
        items.close()  # the child holds the only reader: it sees EOF when the node dies
        self._started_at = time.monotonic()
        with self._lock:
            self._proc, self._conn = proc, conn

    def enqueue(self, item: Path) -> None:
        """Hand a ready/ result to the forwarding process."""
        with self._lock:
            try:
                assert self._conn is not None
                self._conn.send(str(item))
            except (OSError, ValueError):
                pass  # the process is gone: its successor rescans ready/

    def ensure_running(self) -> bool:
        """Start a new forwarding process if the last one died; False while it is down.

        One that dies again soon after its start is restarted after a growing pause
        (1 s doubling to a minute), so a broken set-up does not spin."""
        if self._stopping or self._proc is None or self._proc.is_alive():
            return True
        now = time.monotonic()
        if self._restart_at is None:
            quick = now - self._started_at < 10.0
            self._pause = min(60.0, self._pause * 2 if quick and self._pause else 1.0 if quick else 0.0)
            self._restart_at = now + self._pause
            audit.event("error", where="forwarder", error="process-exited",
                        exitcode=self._proc.exitcode, action="restarting", after_s=self._pause)
        if now < self._restart_at:
            return False
        self._restart_at = None
        with self._lock:
            if self._conn is not None:
                self._conn.close()
        self.start()
        return False

    def stop(self) -> None:
        self._stopping = True
        with self._lock:
            try:
                if self._conn is not None:
                    self._conn.send(None)
            except OSError:
                pass

    def join(self, timeout: float | None = None) -> None:
        if self._proc is None:
            return
        self._proc.join(timeout)
        if self._proc.is_alive():  # a lane stuck in a send: the items stay in the spool
            self._proc.terminate()
            self._proc.join(5)


def run_forwarder(settings: Settings, items: Connection, sent: Any) -> None:
    """Entry point of the forwarding process: deliver what ready/ and the outbox hold and
    what the node announces, until the node says stop (None) or goes away (EOF)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)  # the node stops this process through the pipe
    key = load_or_create(settings.key_file, create=False)
    audit.configure(settings.audit.file, key=key, stderr=settings.audit.stderr, component="forwarder")
    spool = Spool(settings.var, quota=settings.receiver.spool_quota,
                  min_free=settings.receiver.min_free_disk)
    forwarder = Forwarder(spool, settings.destination)
    forwarder.start()
    waiting = spool.ready_items()
    for item in waiting:  # results a predecessor left undelivered
        forwarder.enqueue(item)
    audit.event("forwarder_started", destination=forwarder.destination.name,
                lanes=len(forwarder.lanes), waiting=len(waiting))
    try:
        while (name := items.recv()) is not None:
            forwarder.enqueue(Path(name))
    except (EOFError, OSError):
        pass
    forwarder.stop()
    forwarder.join(timeout=30)
    with sent.get_lock():
        sent.value += forwarder.sent
