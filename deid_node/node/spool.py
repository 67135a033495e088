"""Durable job states on disk: every accepted instance is a file in exactly one place.

    spool/tmp/       partial writes (removed at start-up)
    spool/incoming/  accepted (C-STORE answered Success); stays until its result is delivered
    spool/ready/     the pipeline's result for an incoming job, waiting for delivery;
                     ``<job>_<new SOP Instance UID>.dcm``, written without fsync
    spool/outbox/    standalone results waiting for delivery (released or reprocessed by an
                     admin, retried deliveries); named by the new SOP Instance UID
    failed/          refused for good by the destination, with the status in a .json beside it

The incoming file is the durable record of a received instance until the destination has
it: the pipeline is deterministic, so its result in ready/ need not be fsynced. After a
crash ready/ is emptied and every incoming job runs again, giving the same bytes and the
same new UIDs, so a re-send is harmless. This saves a second fsync'd copy, a directory
sync and a delete per instance on the hot path. Everything else moves between states only
by an atomic rename after an fsync, so a crash at any moment leaves each instance either
where it was or where it goes next, never nowhere.
"""
from __future__ import annotations

import json
import os
import queue
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_synced(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Create *path* with *data* and fsync it (the file is removed again on any error)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise
    os.close(fd)


def durable_write(directory: Path, name: str, data: bytes, *, tmp_dir: Path | None = None,
                  mode: int = 0o600) -> Path:
    """Write *data* to ``directory/name`` so that it is on disk before this returns."""
    tmp = (tmp_dir or directory) / f".{name}.{uuid.uuid4().hex}.part"
    write_synced(tmp, data, mode)
    final = directory / name
    os.replace(tmp, final)
    fsync_dir(directory)  # the new name is durable; the old tmp name needs no sync
    return final


def new_file_fsync_is_enough(path: Path) -> bool:
    """Whether one fsync of a new file also makes its directory entry durable.

    POSIX asks for a second fsync, of the directory. ext4 (data=ordered or journal) and XFS
    log a file's creation in the same journal transaction that the file's fsync forces
    out, so there one disk flush is enough; it halves the time a C-STORE waits for the
    disk. Anywhere else (NFS, tmpfs, unknown) both are done.
    """
    real = os.path.realpath(path)
    best, fstype, options = "", "", ""
    with open("/proc/self/mounts", encoding="utf-8") as mounts:
        for line in mounts:
            fields = line.split()
            if len(fields) < 4:
                continue
            mnt = fields[1].replace("\\040", " ")
            inside = real == mnt or real.startswith(mnt.rstrip("/") + "/")
            if inside and len(mnt) >= len(best):
                best, fstype, options = mnt, fields[2], fields[3]
    if fstype == "xfs":
        return True
    return fstype == "ext4" and "data=writeback" not in options.split(",")


def expected_size(job: Path) -> int | None:
    """The byte count an incoming job's name promises (None for names without one)."""
    tail = job.stem.rpartition("-")[2]
    return int(tail) if job.stem.count("-") == 2 and tail.isdigit() else None


class Reaper(threading.Thread):
    """Deletes delivered files in the background, in the order given.

    Unlinking a synced file costs milliseconds on a disk mounted with ``discard``; the
    forwarder should not wait for it. A delete lost in a crash only means that job runs
    and is sent again, with the same UIDs.
    """

    def __init__(self) -> None:
        super().__init__(name="reaper", daemon=True)
        self._queue: queue.SimpleQueue[Path | None] = queue.SimpleQueue()

    def remove(self, *paths: Path) -> None:
        for path in paths:
            self._queue.put(path)

    def run(self) -> None:
        while (path := self._queue.get()) is not None:
            path.unlink(missing_ok=True)

    def stop(self) -> None:
        """Finish the deletes already asked for, then end."""
        self._queue.put(None)
        self.join(timeout=60)


def durable_unlink(path: Path) -> None:
    path.unlink(missing_ok=True)
    fsync_dir(path.parent)


def sop_uid_of(item: Path) -> str:
    """The new SOP Instance UID of an outbox, ready or failed item (from its name)."""
    return item.stem.rpartition("_")[2]


@dataclass(frozen=True)
class SpoolFull(Exception):
    """The spool is over quota or the disk is low; the C-STORE must be refused (A700)."""

    reason: str


class Spool:
    """The node's on-disk queues (see the module docstring)."""

    def __init__(self, var: Path, *, quota: int = 20 * 1024**3, min_free: int = 1024**3) -> None:
        self.var = Path(var)
        self.tmp = self.var / "spool" / "tmp"
        self.incoming = self.var / "spool" / "incoming"
        self.ready = self.var / "spool" / "ready"
        self.outbox = self.var / "spool" / "outbox"
        self.failed = self.var / "failed"
        for d in (self.tmp, self.incoming, self.ready, self.outbox, self.failed):
            d.mkdir(parents=True, exist_ok=True)
            os.chmod(d, 0o700)
        self.quota = quota
        self.min_free = min_free
        self.one_fsync = new_file_fsync_is_enough(self.incoming)
        self._lock = threading.Lock()
        self._usage = 0
        self._usage_at = 0.0

    # -- start-up -----------------------------------------------------------------
    def recover(self) -> int:
        """Remove partial writes and un-synced results left by a crash; return how many
        partial writes were removed.

        A partial write was never answered with Success, so the modality still holds it:
        a .part file, or an incoming job shorter than its name promises. A job of full
        length whose fsync had not returned is kept: the modality may send it again, which
        gives the same result. A result in ready/ may be torn after a power cut; its
        incoming job runs again.
        """
        removed = 0
        for d in (self.tmp, self.incoming, self.outbox):
            for p in d.glob(".*.part"):
                p.unlink(missing_ok=True)
                removed += 1
        for p in self.incoming.glob("*.dcm"):
            size = expected_size(p)
            if size is not None and p.stat().st_size < size:
                p.unlink(missing_ok=True)
                removed += 1
        for p in self.ready.iterdir():
            p.unlink(missing_ok=True)
        return removed

    # -- quota ---------------------------------------------------------------------
    def usage(self, max_age: float = 1.0) -> int:
        """Bytes in incoming + outbox (rescanned at most every *max_age* seconds)."""
        now = time.monotonic()
        with self._lock:
            if now - self._usage_at > max_age:
                total = 0
                for d in (self.incoming, self.ready, self.outbox, self.tmp):
                    with os.scandir(d) as it:
                        for entry in it:
                            try:
                                total += entry.stat().st_size
                            except FileNotFoundError:
                                pass
                self._usage, self._usage_at = total, now
            return self._usage

    def check_room(self, size: int) -> None:
        """Raise :class:`SpoolFull` when *size* more bytes would break quota or free disk."""
        if self.usage() + size > self.quota:
            raise SpoolFull("spool-quota")
        st = os.statvfs(self.var)
        if st.f_bavail * st.f_frsize - size < self.min_free:
            raise SpoolFull("disk-low")

    # -- state changes ---------------------------------------------------------------
    def accept(self, data: bytes) -> Path:
        """Durably store a received instance in incoming/ (before answering Success).

        Where one fsync makes a new file durable with its name, the job is written in
        place, its length in its name so that :meth:`recover` knows a torn one; elsewhere
        it is written aside, fsynced, renamed and the directory fsynced.
        """
        self.check_room(len(data))
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:12]}-{len(data)}.dcm"
        if self.one_fsync:
            path = self.incoming / name
            write_synced(path, data)
        else:
            path = durable_write(self.incoming, name, data, tmp_dir=self.tmp)
        with self._lock:
            self._usage += len(data)
        return path

    def pending(self) -> list[Path]:
        """Incoming jobs, oldest first."""
        return sorted(self.incoming.glob("*.dcm"))

    def put_ready(self, job: Path, sop_uid: str, data: bytes) -> Path:
        """The result of incoming *job*, written without fsync (see the module docstring)."""
        final = self.ready / f"{job.stem}_{sop_uid}.dcm"
        tmp = self.tmp / f".{final.name}.part"
        tmp.write_bytes(data)
        os.replace(tmp, final)  # readers never see a partial file
        return final

    def ready_items(self) -> list[Path]:
        """Results waiting for delivery, in arrival order of their jobs."""
        return sorted(self.ready.glob("*.dcm"))

    def job_of(self, item: Path) -> Path | None:
        """The incoming job a ready/ item was made from; None for standalone outbox items."""
        if item.parent != self.ready:
            return None
        return self.incoming / (item.stem.partition("_")[0] + ".dcm")

    def leftovers(self, item: Path) -> list[Path]:
        """What a delivered *item* leaves to delete: its incoming job first, then itself.

        No fsync is needed: if a crash undoes the deletes, the job runs and is sent again,
        with the same UIDs.
        """
        job = self.job_of(item)
        return [item] if job is None else [job, item]

    def put_outbox(self, sop_uid: str, data: bytes) -> Path:
        return durable_write(self.outbox, f"{sop_uid}.dcm", data, tmp_dir=self.tmp)

    def outbox_items(self) -> list[Path]:
        items = list(self.outbox.glob("*.dcm"))
        items.sort(key=lambda p: p.stat().st_mtime_ns if p.exists() else 0)
        return items

    def fail_delivery(self, item: Path, info: dict) -> Path:
        """Move an item the destination refused for good to failed/, with why."""
        sop_uid = sop_uid_of(item)
        durable_write(self.failed, sop_uid + ".json",
                      json.dumps(info, indent=2, sort_keys=True).encode(), tmp_dir=self.tmp)
        job = self.job_of(item)
        if job is not None:  # a ready/ result was never synced: make it durable first
            fd = os.open(item, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        target = self.failed / f"{sop_uid}.dcm"
        os.replace(item, target)
        fsync_dir(self.failed)
        fsync_dir(item.parent)
        if job is not None:
            durable_unlink(job)
        return target

    def failed_items(self) -> list[tuple[Path, dict]]:
        out = []
        for p in sorted(self.failed.glob("*.dcm")):
            meta = p.with_suffix(".json")
            info = json.loads(meta.read_text()) if meta.exists() else {}
            out.append((p, info))
        return out

    def retry_failed(self, sop_uid: str) -> Path:
        """Put a failed delivery back into the outbox (admin action)."""
        src = self.failed / f"{sop_uid}.dcm"
        if not src.exists():
            raise FileNotFoundError(f"no failed delivery {sop_uid}; see 'deid-node failed list'")
        target = self.outbox / src.name
        os.replace(src, target)
        fsync_dir(self.outbox)
        src.with_suffix(".json").unlink(missing_ok=True)
        fsync_dir(self.failed)
        return target
