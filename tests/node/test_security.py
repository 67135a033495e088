"""Who may talk to the node: IP allow-list, and TLS on both legs with real peers
(storescu +tls as the modality, Orthanc's DICOM TLS as the research PACS)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from deid_node.synth.dicom import ct_series, write
from tests.peers import NodeProcess, Orthanc, storescu, wait_for


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_pki(folder: Path) -> dict[str, Path]:
    """A throw-away CA with a server certificate for 127.0.0.1 and a client certificate."""
    folder.mkdir(parents=True, exist_ok=True)
    f = {n: folder / n for n in ("ca.key", "ca.crt", "server.key", "server.crt", "client.key",
                                 "client.crt", "san.cnf")}
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(f["ca.key"]),
             "-out", str(f["ca.crt"]), "-days", "2", "-subj", "/CN=test-ca")
    f["san.cnf"].write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for who in ("server", "client"):
        csr = folder / f"{who}.csr"
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(f[f"{who}.key"]),
                 "-out", str(csr), "-subj", f"/CN={who}")
        _openssl("x509", "-req", "-in", str(csr), "-CA", str(f["ca.crt"]), "-CAkey", str(f["ca.key"]),
                 "-CAcreateserial", "-out", str(f[f"{who}.crt"]), "-days", "2",
                 "-extfile", str(f["san.cnf"]))
    return f


def test_ip_not_in_allow_list_is_refused(tmp_path: Path) -> None:
    node = NodeProcess(tmp_path / "node", {
        "node": {"workers": 1}, "receiver": {"allowed_ips": ["192.0.2.0/24"]},
        "destination": {"type": "folder", "path": str(tmp_path / "out")}}).start()
    try:
        [ds], _ = ct_series(1, seed=81, size=32)
        result = storescu(node.port, write([ds], tmp_path / "in"), check=False)
        assert result.returncode != 0
        assert not list((node.var / "spool" / "incoming").iterdir())
        assert any(e["event"] == "association_refused" and e["why"] == "ip-not-allowed"
                   for e in node.audit_lines())
    finally:
        node.stop()


@pytest.mark.parametrize("client_cert", [True, False], ids=["mutual-tls", "no-client-cert"])
def test_tls_both_legs(tmp_path: Path, client_cert: bool) -> None:
    pki = make_pki(tmp_path / "pki")
    pacs = Orthanc(tmp_path / "pacs", DicomTlsEnabled=True,
                   DicomTlsCertificate=str(pki["server.crt"]), DicomTlsPrivateKey=str(pki["server.key"]),
                   DicomTlsTrustedCertificates=str(pki["ca.crt"]),
                   DicomTlsRemoteCertificateRequired=True).start()
    node = NodeProcess(tmp_path / "node", {
        "node": {"workers": 1},
        "receiver": {"tls": {"enabled": True, "certificate": str(pki["server.crt"]),
                             "private_key": str(pki["server.key"]),
                             "ca_certificates": str(pki["ca.crt"]),
                             "require_client_certificate": True}},
        "destination": {"type": "dicom", "host": "127.0.0.1", "port": pacs.dicom_port,
                        "ae_title": "ORTHANC",
                        "tls": {"enabled": True, "ca_certificates": str(pki["ca.crt"]),
                                "certificate": str(pki["client.crt"]),
                                "private_key": str(pki["client.key"])}}}).start()
    try:
        [ds], _ = ct_series(1, seed=82, size=32)
        files = write([ds], tmp_path / "in")
        if client_cert:
            storescu(node.port, files, extra=["+tls", str(pki["client.key"]), str(pki["client.crt"]),
                                              "+cf", str(pki["ca.crt"])])
            assert len(wait_for(lambda: pacs.instances(), what="delivery over TLS")) == 1
        else:
            result = storescu(node.port, files, extra=["+tla", "+cf", str(pki["ca.crt"])], check=False)
            assert result.returncode != 0
            assert not list((node.var / "spool" / "incoming").iterdir())
    finally:
        node.stop()
        pacs.stop()
