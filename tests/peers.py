"""Real peers for integration tests: Orthanc (the research PACS), dcmtk (the modality)
and the node itself as a subprocess, each on a free loopback port."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import closing
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
NODELAY_ENV = {**os.environ, "TCP_NODELAY": "1"}


def free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 60.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before opening port {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.2, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"{what} not reached after {timeout} s")


class Orthanc:
    """Debian's Orthanc on free ports with a temporary storage folder."""

    def __init__(self, workdir: Path, aet: str = "ORTHANC", **options: Any) -> None:
        if not shutil.which("Orthanc"):
            raise RuntimeError("Orthanc is not installed: run 'make test' (it installs Debian's orthanc)")
        self.workdir = workdir
        self.aet = aet
        self.dicom_port = free_port()
        self.http_port = free_port()
        self.options = options
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Orthanc":
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = {
            "Name": "test-pacs", "StorageDirectory": str(self.workdir / "db"),
            "IndexDirectory": str(self.workdir / "db"), "DicomAet": self.aet,
            "DicomPort": self.dicom_port, "HttpPort": self.http_port, "HttpServerEnabled": True,
            "RemoteAccessAllowed": False, "AuthenticationEnabled": False, "Plugins": [],
            "DicomCheckCalledAet": True, "StableAge": 1, "SaveJobs": False,
            "ConcurrentJobs": 1, "HttpThreadsCount": 4, "LimitFindResults": 0,
            **self.options,
        }
        cfg = self.workdir / "orthanc.json"
        cfg.write_text(json.dumps(config))
        log = open(self.workdir / "orthanc.log", "wb")
        self.proc = subprocess.Popen(["Orthanc", str(cfg)], stdout=log, stderr=subprocess.STDOUT,
                                     env=NODELAY_ENV)
        wait_port(self.http_port, proc=self.proc)
        wait_port(self.dicom_port, proc=self.proc)
        wait_for(lambda: self._ok("/system"), what="Orthanc REST")
        return self

    def _ok(self, path: str) -> bool:
        try:
            self.get(path)
            return True
        except OSError:
            return False

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}{path}", timeout=30) as r:
            body = r.read()
        return json.loads(body) if body[:1] in (b"{", b"[") else body

    def instances(self) -> list[str]:
        return self.get("/instances")

    def tags(self, instance: str) -> dict[str, Any]:
        return self.get(f"/instances/{instance}/simplified-tags")

    def file(self, instance: str) -> bytes:
        return self.get(f"/instances/{instance}/file")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


# storescu proposes one compressed syntax per run; this picks the flag for a file's syntax.
PROPOSE_FLAG = {
    "1.2.840.10008.1.2.5": "-xr",        # RLE Lossless
    "1.2.840.10008.1.2.4.90": "-xv",     # JPEG 2000 lossless
    "1.2.840.10008.1.2.4.91": "-xw",     # JPEG 2000
    "1.2.840.10008.1.2.4.80": "-xt",     # JPEG-LS lossless
    "1.2.840.10008.1.2.4.81": "-xu",     # JPEG-LS near-lossless
    "1.2.840.10008.1.2.4.70": "-xs",     # JPEG lossless SV1
    "1.2.840.10008.1.2.4.50": "-xy",     # JPEG baseline
    "1.2.840.10008.1.2.4.51": "-xx",     # JPEG extended
}


def storescu_as_is(port: int, files: list[Path], **kwargs: Any) -> None:
    """Send each file in its own transfer syntax, one storescu run per syntax."""
    from pydicom.filereader import read_file_meta_info
    groups: dict[str, list[Path]] = {}
    for f in files:
        ts = str(read_file_meta_info(f).TransferSyntaxUID)
        groups.setdefault(PROPOSE_FLAG.get(ts, "-x="), []).append(f)
    for flag, group in groups.items():
        storescu(port, group, extra=[flag], **kwargs)


def storescu(port: int, files: list[Path] | list[str], *, called: str = "DEID_NODE",
             calling: str = "MODALITY", extra: list[str] | None = None,
             check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    """dcmtk's storescu: one association for all files (as a modality sends a series)."""
    cmd = ["storescu", "-aet", calling, "-aec", called, *(extra or []), "127.0.0.1", str(port),
           *[str(f) for f in files]]
    proc = subprocess.run(cmd, env=NODELAY_ENV, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"storescu failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


class NodeProcess:
    """`deid-node serve` as a subprocess with a config written for the test."""

    def __init__(self, workdir: Path, config: dict[str, Any]) -> None:
        self.workdir = workdir
        self.port = config.setdefault("node", {}).setdefault("port", free_port())
        config["node"].setdefault("var", str(workdir / "var"))
        config["node"].setdefault("bind", "127.0.0.1")
        config.setdefault("audit", {}).setdefault("stderr", False)
        self.config = config
        self.var = Path(config["node"]["var"])
        self.cfg = workdir / "deid-node.yaml"
        workdir.mkdir(parents=True, exist_ok=True)
        self.cfg.write_text(yaml.safe_dump(config))
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 120) -> "NodeProcess":
        self.log = open(self.workdir / "node.log", "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "deid_node.cli", "serve", "--config", str(self.cfg)],
                                     stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT,
                                     env=NODELAY_ENV, start_new_session=True)
        wait_port(self.port, timeout=timeout, proc=self.proc)
        return self

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, "-m", "deid_node.cli", *args, "--config", str(self.cfg)],
                              capture_output=True, text=True, cwd=ROOT, timeout=300)
        if check and proc.returncode != 0:
            raise AssertionError(f"deid-node {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def audit_lines(self) -> list[dict[str, Any]]:
        path = self.var / "log" / "audit.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def kill9(self) -> None:
        """kill -9 the node and its worker processes, as a power cut would."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
