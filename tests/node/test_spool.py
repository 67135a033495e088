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


def test_ready_result_keeps_its_incoming_job_until_delivered(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    job = spool.accept(b"original")
    item = spool.put_ready(job, "2.25.7", b"clean")
    assert item.parent == spool.ready and item.read_bytes() == b"clean"
    assert spool.job_of(item) == job and job.exists()
    assert spool.job_of(spool.put_outbox("2.25.8", b"other")) is None
    assert spool.leftovers(item) == [job, item]


def test_recover_drops_unsynced_results_and_keeps_their_jobs(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    job = spool.accept(b"original")
    spool.put_ready(job, "2.25.7", b"torn by a power cut")
    spool.recover()
    assert list(spool.ready.iterdir()) == []
    assert spool.pending() == [job]  # runs again and gives the same result


def test_failed_ready_result_becomes_durable_and_releases_its_job(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    job = spool.accept(b"original")
    item = spool.put_ready(job, "2.25.9", b"clean")
    target = spool.fail_delivery(item, {"status": "0xA900", "reason": "refused"})
    assert target.name == "2.25.9.dcm" and target.read_bytes() == b"clean"
    assert not job.exists() and not item.exists()
    assert [info["status"] for _, info in spool.failed_items()] == ["0xA900"]


def test_recover_removes_torn_jobs_and_keeps_whole_ones(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    whole = spool.accept(b"w" * 100)
    torn = spool.incoming / f"{whole.stem[:20]}-0123456789ab-{200}.dcm"
    torn.write_bytes(b"t" * 150)  # a crash before the fsync returned: never acknowledged
    assert spool.recover() == 1
    assert spool.pending() == [whole]


@pytest.mark.parametrize("one_fsync", [True, False])
def test_accept_writes_in_place_or_aside(tmp_path: Path, one_fsync: bool) -> None:
    spool = Spool(tmp_path)
    spool.one_fsync = one_fsync
    path = spool.accept(b"x" * 10)
    assert path.read_bytes() == b"x" * 10 and path.name.endswith("-10.dcm")
    assert list(spool.tmp.iterdir()) == []


def test_one_fsync_only_where_the_journal_covers_the_name(tmp_path: Path) -> None:
    from deid_node.node.spool import new_file_fsync_is_enough
    assert new_file_fsync_is_enough(Path("/proc")) is False  # procfs: not a journaled fs
    assert isinstance(new_file_fsync_is_enough(tmp_path), bool)
