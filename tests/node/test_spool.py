"""The spool's durability and quota rules (unit level; the end-to-end tests use real peers)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from deid_node.node.spool import Spool, SpoolFull


def test_accept_is_atomic_and_private(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    path = spool.accept(b"x" * 1000)
    assert path.parent == spool.incoming
    assert path.read_bytes() == b"x" * 1000
    assert path.stat().st_mode & 0o777 == 0o600
    assert list(spool.tmp.iterdir()) == []
    assert spool.pending() == [path]


def test_recover_removes_partial_writes_only(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    done = spool.accept(b"complete")
    (spool.tmp / ".x.dcm.abc.part").write_bytes(b"half")
    (spool.outbox / ".y.dcm.abc.part").write_bytes(b"half")
    assert spool.recover() == 2
    assert spool.pending() == [done]
    assert list(spool.outbox.iterdir()) == []


def test_quota_refuses_before_writing(tmp_path: Path) -> None:
    spool = Spool(tmp_path, quota=2500)
    spool.accept(b"a" * 1000)
    spool.accept(b"b" * 1000)
    with pytest.raises(SpoolFull) as exc:
        spool.accept(b"c" * 1000)
    assert exc.value.reason == "spool-quota"
    assert len(spool.pending()) == 2


def test_low_disk_refuses(tmp_path: Path) -> None:
    st = os.statvfs(tmp_path)
    spool = Spool(tmp_path, min_free=st.f_bavail * st.f_frsize + 10**12)
    with pytest.raises(SpoolFull) as exc:
        spool.accept(b"a")
    assert exc.value.reason == "disk-low"
    assert spool.pending() == []


def test_failed_delivery_keeps_status_and_can_be_retried(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    item = spool.put_outbox("2.25.1", b"data")
    spool.fail_delivery(item, {"status": "0xA900", "reason": "refused"})
    assert spool.outbox_items() == []
    [(path, info)] = spool.failed_items()
    assert path.name == "2.25.1.dcm" and info["status"] == "0xA900"
    spool.retry_failed("2.25.1")
    assert [p.name for p in spool.outbox_items()] == ["2.25.1.dcm"]
    assert spool.failed_items() == []
