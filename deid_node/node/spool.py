"""Durable job states on disk: every accepted instance is a file in exactly one place.

    spool/tmp/       partial writes (removed at start-up)
    spool/incoming/  accepted (C-STORE answered Success), waiting for the pipeline
    spool/outbox/    de-identified, waiting for delivery; named by the new SOP Instance UID
    failed/          refused for good by the destination, with the status in a .json beside it

A file moves between states only by an atomic rename after an fsync, so a crash at any
moment leaves each instance either where it was or where it goes next, never nowhere.
The pipeline is deterministic, so an instance processed twice (crash after writing the
outbox but before removing the incoming file) gives the same outbox file again.
"""
from __future__ import annotations

import json
import os
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


def durable_write(directory: Path, name: str, data: bytes, *, tmp_dir: Path | None = None,
                  mode: int = 0o600) -> Path:
    """Write *data* to ``directory/name`` so that it is on disk before this returns."""
    tmp_dir = tmp_dir or directory
    tmp = tmp_dir / f".{name}.{uuid.uuid4().hex}.part"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    final = directory / name
    os.replace(tmp, final)
    fsync_dir(directory)  # the new name is durable; the old tmp name needs no sync
    return final


def durable_unlink(path: Path) -> None:
    path.unlink(missing_ok=True)
    fsync_dir(path.parent)


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
        self.outbox = self.var / "spool" / "outbox"
        self.failed = self.var / "failed"
        for d in (self.tmp, self.incoming, self.outbox, self.failed):
            d.mkdir(parents=True, exist_ok=True)
            os.chmod(d, 0o700)
        self.quota = quota
        self.min_free = min_free
        self._lock = threading.Lock()
        self._usage = 0
        self._usage_at = 0.0

    # -- start-up -----------------------------------------------------------------
    def recover(self) -> int:
        """Remove partial writes left by a crash; return how many were removed.

        A partial write was never answered with Success, so the modality still holds it.
        """
        removed = 0
        for d in (self.tmp, self.incoming, self.outbox):
            for p in d.glob(".*.part"):
                p.unlink(missing_ok=True)
                removed += 1
        return removed

    # -- quota ---------------------------------------------------------------------
    def usage(self, max_age: float = 1.0) -> int:
        """Bytes in incoming + outbox (rescanned at most every *max_age* seconds)."""
        now = time.monotonic()
        with self._lock:
            if now - self._usage_at > max_age:
                total = 0
                for d in (self.incoming, self.outbox, self.tmp):
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
        """Durably store a received instance in incoming/ (before answering Success)."""
        self.check_room(len(data))
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:12]}.dcm"
        path = durable_write(self.incoming, name, data, tmp_dir=self.tmp)
        with self._lock:
            self._usage += len(data)
        return path

    def pending(self) -> list[Path]:
        """Incoming jobs, oldest first."""
        return sorted(self.incoming.glob("*.dcm"))

    def put_outbox(self, sop_uid: str, data: bytes) -> Path:
        return durable_write(self.outbox, f"{sop_uid}.dcm", data, tmp_dir=self.tmp)

    def outbox_items(self) -> list[Path]:
        items = list(self.outbox.glob("*.dcm"))
        items.sort(key=lambda p: p.stat().st_mtime_ns if p.exists() else 0)
        return items

    def fail_delivery(self, item: Path, info: dict) -> Path:
        """Move an outbox item the destination refused for good to failed/, with why."""
        durable_write(self.failed, item.stem + ".json",
                      json.dumps(info, indent=2, sort_keys=True).encode(), tmp_dir=self.tmp)
        target = self.failed / item.name
        os.replace(item, target)
        fsync_dir(self.failed)
        fsync_dir(item.parent)
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
