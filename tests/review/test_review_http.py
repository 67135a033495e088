"""The console over HTTP (in process): login, CSRF, PHI only after reveal, decisions."""
from __future__ import annotations

import io
import re
from typing import Any

import pydicom

from .conftest import ADMIN, Env, csrf_of, login
from .entries import DRAWN, KEPT_UNSURE, US_TEXTS

PHI = ("CompressedSamples", "13US1", "BAPTIST", "630P630", "mvme22", "4121885")


def outbox(env: Env) -> list[Any]:
    return sorted((env.var / "spool" / "outbox").glob("*.dcm"))


def test_pages_need_login(client: Any, env: Env) -> None:
    for path in ("/", "/failed", f"/q/{env.entry.id}", f"/q/{env.entry.id}/image/candidate/0.png"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/login", path


def test_wrong_password_is_refused_and_right_one_opens_a_session(client: Any, env: Env) -> None:
    r = login(client, password="not the password")
    assert r.status_code == 401 and "Wrong name or password" in r.text
    assert "deid_review=" not in r.headers.get("set-cookie", "")
    assert client.get("/", follow_redirects=False).status_code == 303
    r = login(client, name="mallory")
    assert r.status_code == 401
    failed = [e for e in env.audit_lines() if e["event"] == "review_login_failed"]
    assert [e.get("actor") for e in failed] == [ADMIN, None]      # unknown names are not logged
    r = login(client)
    assert r.status_code == 303
    cookie = r.headers["set-cookie"].lower()
    assert "deid_review=" in cookie and "httponly" in cookie and "samesite=strict" in cookie
    assert client.get("/").status_code == 200
    assert any(e["event"] == "review_login" and e["actor"] == ADMIN for e in env.audit_lines())


def test_login_locks_out_after_repeated_failures(client: Any) -> None:
    for _ in range(5):
        assert login(client, password="wrong password!").status_code == 401
    r = login(client)
    assert r.status_code == 401 and "Too many failed attempts" in r.text


def test_state_changing_requests_without_csrf_are_refused(client: Any, env: Env) -> None:
    client.get("/login")
    r = client.post("/login", data={"username": ADMIN, "password": "x" * 12})
    assert r.status_code == 403, "login without its CSRF token"
    assert login(client).status_code == 303
    qid = env.entry.id
    detail = client.get(f"/q/{qid}").text
    version = re.search(r'name="version" value="([^"]+)"', detail).group(1)
    for data in ({"confirm": "release", "version": version},
                 {"confirm": "release", "version": version, "csrf": "forged"}):
        r = client.post(f"/q/{qid}/release", data=data, follow_redirects=False)
        assert r.status_code == 403
    r = client.post(f"/q/{qid}/corrections", json={"boxes": {"2": "blank"}})
    assert r.status_code == 403
    r = client.post(f"/q/{qid}/reject", data={"reason": "test reason"})
    assert r.status_code == 403
    r = client.post(f"/q/{qid}/release", headers={"origin": "http://evil.example"},
                    data={"csrf": csrf_of(detail), "confirm": "release", "version": version})
    assert r.status_code == 403, "cross-origin POST"
    assert env.quarantine.get(qid).state == "held" and not outbox(env)
    refused = [e for e in env.audit_lines() if e["event"] == "review_refused"]
    assert len(refused) >= 5 and all(e.get("path", "").startswith(("/q/", "/login")) for e in refused)


def test_list_and_detail_show_no_phi_until_reveal(client: Any, env: Env) -> None:
    login(client)
    qid = env.entry.id
    listing = client.get("/").text
    assert env.entry.sop_uid in listing and env.entry.study_uid in listing
    assert "pixels-uncertain" in listing and f"/q/{qid}" in listing
    detail = client.get(f"/q/{qid}")
    assert detail.status_code == 200
    for text in (listing, detail.text):
        for value in PHI:
            assert value not in text, value
        for url in re.findall(r'(?:href|src|action)="([^"]+)"', text):
            assert not any(v.lower() in url.lower() for v in PHI)
        title = re.search(r"<title>(.*?)</title>", text).group(1)
        assert not any(v in title for v in PHI)
    assert "ANON^REVIEW" in detail.text                       # the candidate's header is shown
    assert detail.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in detail.headers["content-security-policy"]
    img = client.get(f"/q/{qid}/image/candidate/0.png")
    assert img.status_code == 200 and img.content[:4] == b"\x89PNG"
    assert client.get(f"/q/{qid}/image/original/0.png").status_code == 403

    r = client.post(f"/q/{qid}/reveal", data={"csrf": csrf_of(detail.text)}, follow_redirects=False)
    assert r.status_code == 303
    revealed = client.get(f"/q/{qid}").text
    assert US_TEXTS[KEPT_UNSURE] in revealed and "CompressedSamples^US1" in revealed
    assert client.get(f"/q/{qid}/image/original/0.png").status_code == 200
    events = [e for e in env.audit_lines() if e["event"] == "review_revealed"]
    assert events and events[0]["actor"] == ADMIN and events[0]["qid"] == qid
    log = (env.var / "log" / "audit.jsonl").read_text()
    assert not any(v in log for v in PHI)


def test_release_needs_confirmation_and_a_current_version(client: Any, env: Env) -> None:
    login(client)
    qid = env.entry.id
    detail = client.get(f"/q/{qid}").text
    token = csrf_of(detail)
    version = re.search(r'name="version" value="([^"]+)"', detail).group(1)
    r = client.post(f"/q/{qid}/release", data={"csrf": token, "version": version})
    assert "needs the confirmation" in r.text and env.quarantine.get(qid).state == "held"
    r = client.post(f"/q/{qid}/release", data={"csrf": token, "version": "0:0", "confirm": "release"})
    assert "changed since you opened it" in r.text and not outbox(env)
    r = client.post(f"/q/{qid}/release", data={"csrf": token, "version": version, "confirm": "release"})
    assert r.status_code == 200 and env.quarantine.get(qid).state == "released"
    (item,) = outbox(env)
    assert item.stem == env.entry.sop_uid
    assert item.read_bytes() == env.quarantine.candidate(qid)   # no corrections: as filed
    ev = [e for e in env.audit_lines() if e["event"] == "released"]
    assert ev[0]["actor"] == ADMIN and ev[0]["corrected"] is False


def test_corrected_release_is_re_redacted_from_the_original(client: Any, env: Env) -> None:
    login(client)
    qid = env.entry.id
    token = csrf_of(client.get(f"/q/{qid}").text)
    r = client.post(f"/q/{qid}/corrections", headers={"x-csrf-token": token},
                    json={"boxes": {str(KEPT_UNSURE): "blank", "0": "keep"}, "added": [DRAWN]})
    assert r.status_code == 200, r.text
    preview = client.get(f"/q/{qid}/image/corrected/0.png")
    assert preview.status_code == 200
    detail = client.get(f"/q/{qid}").text
    version = re.search(r'name="version" value="([^"]+)"', detail).group(1)
    client.post(f"/q/{qid}/release", data={"csrf": token, "version": version, "confirm": "release"})
    (item,) = outbox(env)
    ds = pydicom.dcmread(item)
    px = ds.pixel_array
    assert px[40:60, 14:102].max() == 0, "the box the admin marked blank"
    assert px[76:108, 16:100].max() == 0, "the box the admin drew"
    assert px[20:44, 14:174].max() > 0, "the box the admin marked keep is not blanked"
    assert px[52:76, 524:628].max() == 0, "the redactor's uncertain box stays blank"
    assert str(ds.PatientName) == "ANON^REVIEW" and ds.SOPInstanceUID == env.entry.sop_uid
    assert "113101" in [i.CodeValue for i in ds.DeidentificationMethodCodeSequence]
    orig = pydicom.dcmread(io.BytesIO(env.quarantine.original(qid))).pixel_array
    outside = (slice(200, 300), slice(100, 500))
    assert (px[outside] == orig[outside]).all()


def test_bad_corrections_are_refused(client: Any, env: Env) -> None:
    login(client)
    qid = env.entry.id
    token = csrf_of(client.get(f"/q/{qid}").text)
    for body, why in (({"boxes": {"99": "blank"}}, "does not exist"),
                      ({"boxes": {"1": "erase"}}, "action must be"),
                      ({"added": [{"x0": 5, "y0": 5, "x1": 6, "y1": 6}]}, "smaller than")):
        r = client.post(f"/q/{qid}/corrections", headers={"x-csrf-token": token}, json=body)
        assert r.status_code == 400 and why in r.json()["error"]


def test_reject_needs_a_reason_and_drops_the_phi_copies(client: Any, env: Env) -> None:
    login(client)
    qid = env.entry.id
    token = csrf_of(client.get(f"/q/{qid}").text)
    r = client.post(f"/q/{qid}/reject", data={"csrf": token, "reason": " "})
    assert "say why" in r.text and env.quarantine.get(qid).state == "held"
    client.post(f"/q/{qid}/reject", data={"csrf": token, "reason": "a full report on screen"})
    assert env.quarantine.get(qid).state == "rejected"
    assert not (env.quarantine.folder(qid) / "original.dcm").exists()
    assert client.get(f"/q/{qid}").status_code == 200           # the entry is still listed


def test_failed_deliveries_tab_and_retry(client: Any, env: Env) -> None:
    from deid_node.node.spool import Spool
    spool = Spool(env.var)
    item = spool.put_outbox("1.2.3.4", b"x")
    spool.fail_delivery(item, {"status": 0xA900, "reason": "refused by test"})
    login(client)
    page = client.get("/failed").text
    assert "1.2.3.4" in page and "refused by test" in page
    client.post("/failed/1.2.3.4/retry", data={"csrf": csrf_of(page)})
    assert (env.var / "spool" / "outbox" / "1.2.3.4.dcm").exists()


def test_every_asset_is_served_by_the_console(client: Any) -> None:
    from pathlib import Path
    root = Path(__file__).resolve().parents[2] / "deid_node" / "review"
    for path in [*root.glob("templates/*.html"), *root.glob("static/*")]:
        text = path.read_text()
        assert not re.search(r"(?:src|href)=\"(?:https?:)?//", text), path
        assert "@import" not in text and "url(http" not in text, path
    assert client.get("/static/review.js").status_code == 200


def test_reprocess_files_the_new_verdict(client: Any, env: Env) -> None:
    """The current pipeline runs on the original again; whatever it decides is filed."""
    login(client)
    qid = env.entry.id
    token = csrf_of(client.get(f"/q/{qid}").text)
    r = client.post(f"/q/{qid}/reprocess", data={"csrf": token})
    assert r.status_code == 200
    state = env.quarantine.get(qid).state
    events = [e for e in env.audit_lines() if e["event"] == "reprocessed"]
    if state == "reprocessed":
        assert events[-1]["outcome"] == "forward" and outbox(env)
    else:
        assert state == "held" and ("still held" in r.text or "cannot be loaded" in r.text)
