"""Corrections, re-rendering, export, accounts and settings of the review console."""
from __future__ import annotations

import io
import json
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pydicom
import pytest

from deid_node.config import ConfigError, Section
from deid_node.review import corrections, views
from deid_node.review.settings import ReviewSettings
from deid_node.review.users import UserError, UserStore
from tests.peers import ROOT

from .conftest import Env
from .entries import DRAWN, KEPT_UNSURE, US_BOXES


def _render(env: Env, corr: dict) -> "pydicom.Dataset":
    q, qid = env.quarantine, env.entry.id
    data = corrections.re_render(q.original(qid), q.candidate(qid), q.report(qid), corr)
    return pydicom.dcmread(io.BytesIO(data))


def test_re_render_blanks_marked_and_drawn_boxes_from_the_original(env: Env) -> None:
    ds = _render(env, {"boxes": {str(KEPT_UNSURE): "blank"}, "added": [{**DRAWN, "frames": "all"}]})
    px = ds.pixel_array
    orig = pydicom.dcmread(io.BytesIO(env.quarantine.original(env.entry.id))).pixel_array
    assert px[40:60, 14:102].max() == 0 and px[76:108, 16:100].max() == 0
    assert px[20:44, 14:174].max() == 0, "the redactor's phi box stays blank"
    mask = orig.copy()
    for b in [*US_BOXES, DRAWN]:
        mask[b["y0"]:b["y1"], b["x0"]:b["x1"]] = 0
    keep_mask = (mask != 0)
    assert (px[keep_mask] == orig[keep_mask]).all(), "pixels outside the boxes are the original's"
    assert str(ds.PatientName) == "ANON^REVIEW" and "InstitutionName" not in ds


def test_keep_restores_a_box_and_a_rule_region_cannot_be_kept(env: Env) -> None:
    ds = _render(env, {"boxes": {"0": "keep"}, "added": []})
    assert ds.pixel_array[20:44, 14:174].max() > 0
    report = env.quarantine.report(env.entry.id)
    report["pixels"]["boxes"][0]["decision"] = "region"
    with pytest.raises(corrections.CorrectionError, match="rule region"):
        corrections.validate({"boxes": {"0": "keep"}}, report, corrections.Geometry(480, 640, 1))
    decided = corrections.final_decisions(report, {"boxes": {"0": "keep"}})
    assert decided[0]["blank"] is True


def test_validate_clamps_drawn_boxes_and_refuses_nonsense(env: Env) -> None:
    report, geo = env.quarantine.report(env.entry.id), corrections.Geometry(480, 640, 1)
    out = corrections.validate({"added": [{"x0": 700, "y0": -5, "x1": 600, "y1": 20}]}, report, geo)
    assert out["added"] == [{"x0": 600, "y0": 0, "x1": 640, "y1": 20, "frames": "all"}]
    for raw, msg in (({"boxes": {"x": "blank"}}, "not a number"),
                     ({"added": [{"x0": 1}]}, "needs numeric"),
                     ({"added": [{**DRAWN, "frames": [3]}]}, "frames must be")):
        with pytest.raises(corrections.CorrectionError, match=msg):
            corrections.validate(raw, report, geo)


def test_re_render_refuses_a_candidate_of_another_size(env: Env) -> None:
    q, qid = env.quarantine, env.entry.id
    small = pydicom.dcmread(io.BytesIO(q.candidate(qid)))
    small.Rows = 240
    small.PixelData = small.PixelData[: 240 * 640 * 3]
    buf = io.BytesIO()
    small.save_as(buf, enforce_file_format=True)
    with pytest.raises(corrections.CorrectionError, match="size"):
        corrections.re_render(q.original(qid), buf.getvalue(), q.report(qid), {"boxes": {"1": "blank"}})


def test_export_corrections_writes_labels_and_optionally_images(env: Env, tmp_path: Path) -> None:
    q, qid = env.quarantine, env.entry.id
    corrections.save(q, qid, {"boxes": {str(KEPT_UNSURE): "blank", "1": "keep"},
                              "added": [{**DRAWN, "frames": "all"}]}, "alice")
    out = tmp_path / "export"
    proc = subprocess.run([sys.executable, "-m", "deid_node.cli", "quarantine", "export-corrections",
                           "--config", str(env.config), "--out", str(out), "--images", "--actor", "bob"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    (line,) = (out / "corrections.jsonl").read_text().splitlines()
    rec = json.loads(line)
    assert rec["qid"] == qid and rec["new_sop_uid"] == env.entry.sop_uid and rec["corrected_by"] == "alice"
    labels = [(b["source"], b["model_decision"], b["admin"], b["label"]) for b in rec["boxes"]]
    assert labels[KEPT_UNSURE] == ("detector", "kept", "blank", "phi")
    assert labels[1] == ("detector", "kept", "keep", "not-phi")
    assert labels[-1] == ("admin-drawn", "drawn", "blank", "phi")
    assert "630P630" not in line and "CompressedSamples" not in line
    assert (out / rec["image"]).read_bytes()[:4] == b"\x89PNG"
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    assert any(e["event"] == "corrections_exported" and e["actor"] == "bob" for e in env.audit_lines())


def test_accounts_hold_argon2_hashes_only(tmp_path: Path) -> None:
    store = UserStore(tmp_path / "users.yaml")
    store.add("alice", "a long enough secret")
    text = (tmp_path / "users.yaml").read_text()
    assert "a long enough secret" not in text and "$argon2id$" in text
    assert stat.S_IMODE((tmp_path / "users.yaml").stat().st_mode) == 0o600
    assert store.verify("alice", "a long enough secret")
    assert not store.verify("alice", "a long enough secreT")
    assert not store.verify("bob", "a long enough secret")
    with pytest.raises(UserError, match="at least"):
        store.add("bob", "short")
    with pytest.raises(UserError, match="admin name"):
        store.add("bob smith", "a long enough secret")


def test_add_user_reads_the_password_from_stdin_or_issues_a_token(env: Env) -> None:
    cmd = [sys.executable, "-m", "deid_node.cli", "review", "add-user"]
    proc = subprocess.run([*cmd, "carol", "--config", str(env.config)], input="carol's password\n",
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    proc = subprocess.run([*cmd, "dave", "--generate", "--config", str(env.config)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    token = proc.stdout.strip().rsplit(" ", 1)[-1]
    store = UserStore(env.var / "review-users.yaml")
    assert store.verify("carol", "carol's password") and store.verify("dave", token)


def test_settings_are_off_by_default_and_checked() -> None:
    rs = ReviewSettings.from_section(Section({}, "x.yaml", "review"), Path("/v"))
    assert not rs.enabled and rs.bind == "127.0.0.1" and rs.port == 8104
    assert rs.users_file == Path("/v/review-users.yaml") and not rs.cookie_secure
    for data, msg in (({"colour": 1}, "not a review setting"), ({"hold": "study"}, "must be one of"),
                      ({"tls": {"enabled": True, "certificate": "/nope"}}, "existing file"),
                      ({"notify": {"webhook": "ftp://x"}}, "http"),
                      ({"notify": {"hook": "http://x"}}, "not a review.notify setting")):
        with pytest.raises(ConfigError, match=msg):
            ReviewSettings.from_section(Section(data, "x.yaml", "review"), Path("/v"))


def test_list_is_grouped_by_study_and_series_and_filtered(env: Env) -> None:
    from dataclasses import replace
    e = env.entry
    a = replace(e, id="a", study_uid="S1", series_uid="s1", created_at=1.0, reason="r1")
    b = replace(e, id="b", study_uid="S2", series_uid="s2", created_at=2.0, reason="r2")
    c = replace(e, id="c", study_uid="S1", series_uid="s1", created_at=3.0, reason="r1")
    f = views.Filters()
    assert [x.id for x in views.ordered([a, b, c], f)] == ["c", "a", "b"]
    assert [x.id for x in views.filtered([a, b, c], views.Filters(reason="r2"))] == ["b"]
    assert views.counts([a, b, c], "reason") == [("r1", 2), ("r2", 1)]
    rows, pages = views.page(views.ordered([a, b, c], f), 2, 2)
    assert [x.id for x in rows] == ["b"] and pages == 2


def test_hold_series_holds_siblings_and_releases_them_with_the_series(env: Env, client: Any) -> None:
    import re
    from dataclasses import replace

    from deid_node.node.spool import Spool
    from deid_node.node.worker import file_verdict
    from deid_node.pipeline import Verdict
    from deid_node.review import hold
    from deid_node.settings import Settings

    from .conftest import csrf_of, login, write_config
    q, e = env.quarantine, env.entry
    sib = Verdict("forward", "done", None, q.candidate(e.id), "sib0001",
                  uids={"study_uid": e.study_uid, "series_uid": e.series_uid, "sop_uid": "1.2.3.99"},
                  meta={"modality": "US", "sop_class": e.sop_class, "study_uid": e.study_uid,
                        "series_uid": e.series_uid, "sop_uid": "1.2.3.99"}, report={"pixels": {}})
    other = replace(sib, entry_id="other01", uids={**sib.uids, "series_uid": "9.9"})
    assert hold.apply(sib, q, env.settings) is sib, "policy off by default"
    on = Settings.load(write_config(env.config, env.var, review={"hold": "series"}))
    held = hold.apply(sib, q, on)
    assert held.action == "quarantine" and held.reason == "series-held"
    assert held.report["held_for"] == [e.id]
    assert hold.apply(other, q, on) is other, "another series goes on"
    spool = Spool(env.var)
    file_verdict(held, b"original bytes", spool, q)
    assert q.get("sib0001").reason == "series-held"
    assert [x.id for x in hold.held_siblings(q, e.series_uid, but=e.id)] == ["sib0001"]

    login(client)
    page = client.get(f"/q/{e.id}").text
    assert "1 other instance(s) of this series are held" in page
    assert e.id[:12] in client.get("/q/sib0001").text
    version = re.search(r'name="version" value="([^"]+)"', page).group(1)
    r = client.post(f"/q/{e.id}/release", data={"csrf": csrf_of(page), "version": version,
                                                "confirm": "release", "with_series": "yes",
                                                "series_seen": "2"})
    assert "not the 2 you saw" in r.text and q.get(e.id).state == "held"
    client.post(f"/q/{e.id}/release", data={"csrf": csrf_of(page), "version": version,
                                            "confirm": "release", "with_series": "yes",
                                            "series_seen": "1"})
    assert q.get(e.id).state == "released" and q.get("sib0001").state == "released"
    assert (env.var / "spool" / "outbox" / "1.2.3.99.dcm").exists()
    assert (env.var / "spool" / "outbox" / f"{e.sop_uid}.dcm").exists()
