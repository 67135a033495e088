"""The receiver's reactor threads wake on work, not on their polls (node/wakeups.py).

The DUL's poll interval is raised to 2 s here: a sent series only completes in time if
its reactor is woken by data on the socket and by responses to send. storescu is the
modality; the receiver is the node's own Storage SCP, in this process."""
from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import pytest

from deid_node.node import receiver as receiver_mod
from deid_node.node import wakeups
from deid_node.node.receiver import Receiver
from deid_node.node.spool import Spool
from deid_node.settings import Settings
from deid_node.synth.dicom import ct_series, write
from tests.peers import NODELAY_ENV, free_port

SLOW_POLL = 2.0


@pytest.fixture()
def slow_polling_receiver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    attach = wakeups.attach

    def attach_then_slow_down(assoc) -> None:  # type: ignore[no-untyped-def]
        attach(assoc)
        assoc.dul._run_loop_delay = SLOW_POLL

    monkeypatch.setattr(receiver_mod.wakeups, "attach", attach_then_slow_down)
    cfg = tmp_path / "deid-node.yaml"
    cfg.write_text(f"node:\n  var: {tmp_path / 'var'}\n  port: {free_port()}\n")
    settings = Settings.load(cfg)
    spool = Spool(settings.var)
    accepted: list[Path] = []
    receiver = Receiver(settings.node, settings.receiver, spool, on_accept=accepted.append)
    receiver.start()
    yield receiver, accepted
    receiver.stop()


def test_a_series_is_not_held_by_the_polls(slow_polling_receiver, tmp_path: Path) -> None:
    receiver, accepted = slow_polling_receiver
    files = write(ct_series(6, seed=3, size=64)[0], tmp_path / "ct")
    t0 = time.monotonic()
    proc = subprocess.run(["storescu", "-aet", "MODALITY", "-aec", "DEID_NODE", "127.0.0.1",
                           str(receiver.port), *map(str, files)],
                          env=NODELAY_ENV, capture_output=True, text=True, timeout=120)
    elapsed = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr
    assert len(accepted) == len(files)
    # Woken only by its polls, the DUL would sleep SLOW_POLL before each of the ~8 PDUs
    # it must act on (request, each instance, release) and each response.
    assert elapsed < SLOW_POLL * 3, f"{elapsed:.1f} s for {len(files)} instances"


def test_other_threads_still_sleep() -> None:
    wakeups.install()
    took: list[float] = []

    def nap() -> None:
        t0 = time.monotonic()
        wakeups._CLOCK.sleep(0.2)
        took.append(time.monotonic() - t0)

    t = threading.Thread(target=nap)
    t.start()
    t.join()
    assert took[0] >= 0.19
