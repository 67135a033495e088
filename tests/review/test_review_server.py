"""`deid-node review` as its own process: off until configured, optional TLS with secure
cookies."""
from __future__ import annotations

import ssl
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.peers import ROOT, free_port, wait_port

from .conftest import Env, write_config


def _review(config: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "deid_node.cli", "review", "--config", str(config)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_the_console_is_off_until_configured(env: Env, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "off.yaml", env.var, review={"enabled": False})
    proc = subprocess.run([sys.executable, "-m", "deid_node.cli", "review", "--config", str(cfg)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "review console is off" in proc.stderr


def test_tls_serves_https_with_secure_cookies(env: Env, tmp_path: Path) -> None:
    crt, key = tmp_path / "review.crt", tmp_path / "review.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(crt)], check=True, capture_output=True, timeout=120)
    port = free_port()
    cfg = write_config(tmp_path / "tls.yaml", env.var, review={
        "port": port, "tls": {"enabled": True, "certificate": str(crt), "private_key": str(key)}})
    proc = _review(cfg)
    try:
        wait_port(port, timeout=60, proc=proc)
        ctx = ssl.create_default_context(cafile=str(crt))
        with urllib.request.urlopen(f"https://127.0.0.1:{port}/login", context=ctx, timeout=30) as r:
            assert r.status == 200
            cookies = r.headers.get_all("set-cookie")
        assert cookies and all("Secure" in c and "HttpOnly" in c for c in cookies)
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=10)
            raise AssertionError("plain HTTP answered on the TLS port")
        except OSError:
            pass
    finally:
        proc.terminate()
        proc.wait(30)
    assert any(e["event"] == "review_started" and e["tls"] for e in env.audit_lines())
