"""The console in a real browser against a running node with a real quarantine: Debian's
Chromium (Playwright), `deid-node serve` with the console enabled by config, Orthanc as
the research PACS. Log in, open a quarantined ultrasound instance, see its boxes, mark one
to blank and draw a missing one, release, and check through Orthanc's REST API that the
instance arrived with those regions blank. Set REVIEW_SCREENSHOTS=DIR to keep screenshots
(docs/img/review/ holds the ones made so)."""
from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pydicom
import pytest

from deid_node.quarantine import Quarantine
from deid_node.settings import Settings
from deid_node.sitekey import load_or_create
from tests.peers import ROOT, NodeProcess, Orthanc, free_port, wait_for, wait_port

from .browser import chromium
from .conftest import ADMIN, PASSWORD
from .entries import DRAWN, KEPT_UNSURE, us_entry


def wait_js(page: Any, expression: str, timeout: float = 30) -> None:
    """Poll a JS expression from the test side. Playwright's wait_for_function polls by
    compiling the string inside the page, which the console's CSP (no unsafe-eval) forbids
    whenever the first check is not already true."""
    wait_for(lambda: page.evaluate(expression), timeout=timeout, interval=0.05, what=expression)

MF_BOXES = [{"x0": 2, "y0": 2, "x1": 30, "y1": 10, "score": 0.66, "spread": 0.21, "ocr_confidence": 0.5,
             "decision": "kept", "why": "no-phi-found", "entities": [], "uncertainty": 0.64,
             "frames": "all"}]


@pytest.fixture
def node(tmp_path: Path, orthanc: Orthanc) -> Any:
    review_port = free_port()
    var = tmp_path / "node" / "var"
    config = {"node": {"ae_title": "DEID_NODE", "workers": 1, "var": str(var)},
              "destination": {"type": "dicom", "host": "127.0.0.1", "port": orthanc.dicom_port,
                              "ae_title": "ORTHANC", "calling_ae_title": "DEID_NODE",
                              "retry": {"initial_delay": 0.2, "max_delay": 1.0}},
              "phi": {"use_model": False},
              "review": {"enabled": True, "port": review_port, "users_file": str(var / "review-users.yaml")}}
    n = NodeProcess(tmp_path / "node", config)
    add = subprocess.run([sys.executable, "-m", "deid_node.cli", "review", "add-user", ADMIN,
                          "--config", str(n.cfg), "--actor", "test"], input=PASSWORD + "\n",
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert add.returncode == 0, add.stderr
    settings = Settings.load(n.cfg)
    key = load_or_create(settings.key_file)
    q = Quarantine(var / "quarantine")
    entry = us_entry(q, key)
    us_entry(q, key, boxes=MF_BOXES, path="emri_small.dcm", texts=["L 12"])   # grey, 10 frames
    n.start()
    wait_port(review_port, timeout=60, proc=n.proc)
    n.review_url = f"http://127.0.0.1:{review_port}"
    n.entry = entry
    n.quarantine = q
    yield n
    n.stop()


def test_admin_corrects_boxes_and_releases_in_the_browser(node: Any, orthanc: Orthanc) -> None:
    shots = Path(os.environ["REVIEW_SCREENSHOTS"]) if os.environ.get("REVIEW_SCREENSHOTS") else None
    url, qid = node.review_url, node.entry.id
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1480, "height": 1000})
        foreign: list[str] = []
        page.on("request", lambda r: foreign.append(r.url) if not r.url.startswith(url) else None)

        # a wrong password is refused
        page.goto(url + "/")
        assert page.url.endswith("/login")
        page.fill("#username", ADMIN)
        page.fill("#password", "not the password")
        page.click("#login")
        assert "Wrong name or password" in page.inner_text("main")
        page.fill("#username", ADMIN)
        page.fill("#password", PASSWORD)
        page.click("#login")
        page.wait_for_url(url + "/")
        assert page.locator("tr.row").count() == 2
        assert "pixels-uncertain" in page.inner_text(".reasons")
        if shots:
            shots.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shots / "list.png"), full_page=True)

        # open the ultrasound instance: its boxes are drawn over the candidate
        page.click(f'tr.row[data-href="/q/{qid}"] a')
        page.wait_for_url(f"{url}/q/{qid}")
        assert "deid-node review" in page.title() and "CompressedSamples" not in page.content()
        wait_js(page, "document.querySelector('#img').naturalWidth > 0")
        rects = page.locator("#overlay rect")
        assert rects.count() == 5
        assert page.locator("#overlay rect.phi").count() == 1
        assert page.locator("#overlay rect.kept").count() == 3
        assert page.locator("#overlay rect.uncertain").count() == 1
        page.hover(f'#overlay rect[data-index="{KEPT_UNSURE}"]')
        tip = page.inner_text("#tip")
        assert "score 0.71" in tip and "spread 0.19" in tip and "keep" in tip

        # mark the unsure kept box to blank, draw the missed one, save
        page.click(f'#boxes tr[data-index="{KEPT_UNSURE}"] button[data-mark="blank"]')
        box = page.locator("#overlay").bounding_box()
        sx, sy = box["width"] / 640, box["height"] / 480
        page.click("#draw")
        page.mouse.move(box["x"] + DRAWN["x0"] * sx, box["y"] + DRAWN["y0"] * sy)
        page.mouse.down()
        page.mouse.move(box["x"] + DRAWN["x1"] * sx, box["y"] + DRAWN["y1"] * sy, steps=4)
        page.mouse.up()
        assert page.locator("#overlay rect.drawn").count() == 1
        with page.expect_navigation():
            page.click("#save")
        assert "corrections saved by alice" in page.inner_text("#corrstate")
        assert page.locator("#overlay rect.drawn").count() == 1
        assert page.eval_on_selector("#view", "e => e.value") == "corrected"

        if shots:
            wait_js(page, "document.querySelector('#img').complete")
            page.hover(f'#overlay rect[data-index="{KEPT_UNSURE}"]')
            page.screenshot(path=str(shots / "detail.png"))

        # reveal is explicit and audited
        assert page.locator("#view option[value=original]").count() == 0
        page.click("#reveal")
        page.wait_for_url(f"{url}/q/{qid}")
        assert "630P630" in page.inner_text("#boxes")
        assert any(e["event"] == "review_revealed" and e["actor"] == ADMIN and e["qid"] == qid
                   for e in node.audit_lines())

        # a POST without the CSRF token is refused (same session cookies)
        r = page.request.post(f"{url}/q/{qid}/reject", form={"reason": "no token"})
        assert r.status == 403
        assert node.quarantine.get(qid).state == "held"

        # release: the shortcut opens the confirmation, nothing goes before it is confirmed
        page.keyboard.press("r")
        assert page.locator("#releasedlg[open]").count() == 1
        page.click("#relgo")                       # unchecked confirmation: browser refuses
        assert node.quarantine.get(qid).state == "held"
        page.check("#confirm")
        with page.expect_navigation():
            page.click("#relgo")
        assert "Released" in page.inner_text("body")
        assert node.quarantine.get(qid).state == "released"

        # the grey multi-frame instance: frame slider and its box on every frame
        page.goto(url + "/")
        page.click("tr.row a")
        wait_js(page, "document.querySelector('#img').naturalWidth > 0")
        assert page.get_attribute("#frame", "max") == "9"
        page.keyboard.press("ArrowRight")
        page.keyboard.press("ArrowRight")
        assert page.get_attribute("#img", "src").endswith("/2.png")
        wait_js(page, "document.querySelector('#img').complete && "
                               "document.querySelector('#img').naturalWidth === 64")
        assert page.inner_text("#frameno") == "3 / 10"
        assert page.locator("#overlay rect.kept").count() == 1
        assert not foreign, f"the page made requests elsewhere: {foreign}"

    ids = wait_for(lambda: orthanc.instances() or None, timeout=90, what="the released instance")
    ds = pydicom.dcmread(io.BytesIO(orthanc.file(ids[0])))
    assert ds.SOPInstanceUID == node.entry.sop_uid and str(ds.PatientName) == "ANON^REVIEW"
    px = ds.pixel_array
    original = pydicom.dcmread(io.BytesIO(node.quarantine.original(qid))).pixel_array
    assert original[40:60, 14:102].max() > 0 and original[76:108, 16:100].max() > 0
    assert px[40:60, 14:102].max() == 0, "the box marked blank arrived blank"
    assert px[DRAWN["y0"]:DRAWN["y1"], DRAWN["x0"]:DRAWN["x1"]].max() == 0, "the drawn box arrived blank"
    assert px[36:60, 274:364].max() > 0, "a kept box is still there"
    assert any(e["event"] == "released" and e["actor"] == ADMIN and e.get("corrected")
               for e in node.audit_lines())
