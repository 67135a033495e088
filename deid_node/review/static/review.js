// deid-node review console: frame slider, window, box overlay and corrections, shortcuts.
// Plain JavaScript, no dependencies; every request goes to this console only.
(function () {
  "use strict";
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
  const csrf = () => $('meta[name="csrf"]').content;
  const typing = (e) => /^(INPUT|TEXTAREA|SELECT)$/.test(e.target.tagName) || $("dialog[open]");

  const help = $("#help");
  $$("[data-help]").forEach((b) => b.addEventListener("click", () => help.showModal()));

  // ---------------------------------------------------------------- list page
  if (document.body.dataset.page === "list") {
    const rows = $$("tr.row");
    let sel = -1;
    const select = (i) => {
      if (!rows.length) return;
      sel = Math.max(0, Math.min(rows.length - 1, i));
      rows.forEach((r, j) => r.classList.toggle("sel", j === sel));
      rows[sel].scrollIntoView({ block: "nearest" });
    };
    rows.forEach((r, i) => r.addEventListener("click", (e) => {
      if (e.target.tagName !== "A") window.location = r.dataset.href;
    }));
    document.addEventListener("keydown", (e) => {
      if (typing(e) || e.ctrlKey || e.metaKey || e.altKey) return;
      if (e.key === "j") select(sel + 1);
      else if (e.key === "k") select(sel - 1);
      else if (e.key === "Enter" && sel >= 0) window.location = rows[sel].dataset.href;
      else if (e.key === "?") help.showModal();
    });
  }

  // ---------------------------------------------------------------- detail page
  if (document.body.dataset.page !== "detail") return;
  const stage = $("#stage");
  const img = $("#img");
  const svg = $("#overlay");
  const tip = $("#tip");
  const boxes = JSON.parse(($("#boxdata") || { textContent: "[]" }).textContent);
  const pending = {};          // box index -> "blank" | "keep"
  const drawn = [];            // new boxes {x0,y0,x1,y1,frames}
  let selected = null;
  let drawing = false;
  let dirty = false;

  const frameInput = $("#frame");
  const view = $("#view");
  const frame = () => (frameInput ? parseInt(frameInput.value, 10) : 0);
  const nFrames = stage ? parseInt(stage.dataset.frames, 10) : 1;

  function showImage() {
    if (!stage) return;
    img.src = `/q/${stage.dataset.qid}/image/${view.value}/${frame()}.png`;
    $("#frameno").textContent = `${frame() + 1} / ${nFrames}`;
    drawBoxes();
  }
  function windowImage() {
    img.style.filter = `brightness(${$("#bright").value}%) contrast(${$("#contrast").value}%)`;
  }
  if (stage) {
    frameInput.addEventListener("input", showImage);
    view.addEventListener("change", showImage);
    $("#bright").addEventListener("input", windowImage);
    $("#contrast").addEventListener("input", windowImage);
    $("#wreset").addEventListener("click", () => { $("#bright").value = 100; $("#contrast").value = 100; windowImage(); });
    $("#showboxes").addEventListener("change", (e) => svg.classList.toggle("hidden", !e.target.checked));
  }

  function onFrame(b) {
    const f = b.frames;
    return f === "all" || f == null || !Array.isArray(f) || f.length === 0 || f.includes(frame());
  }
  function effective(b) {
    const a = pending[b.index];
    if (b.source === "admin-drawn") return { blank: true, changed: true };
    if (a === undefined) return { blank: b.blank, changed: !!b.admin };
    return { blank: a === "blank" || b.decision === "region", changed: true };
  }
  function cls(b) {
    const e = effective(b);
    let c = b.source === "admin-drawn" ? "drawn" : b.decision;
    if (e.changed && b.source !== "admin-drawn") c = e.blank ? "phi" : "kept";
    return `${c}${e.changed ? " changed" : ""}${e.blank ? " willblank" : ""}${selected === b.index ? " sel" : ""}`;
  }
  function fmt(v) { return v === null || v === undefined ? "-" : Number(v).toFixed(2); }
  function drawBoxes() {
    if (!svg) return;
    svg.innerHTML = "";
    const all = boxes.concat(drawn.map((d, i) => ({ ...d, index: `new${i}`, decision: "drawn", source: "admin-drawn" })));
    for (const b of all) {
      if (b.decision === "ignored" || !onFrame(b)) continue;
      const r = document.createElementNS("http://www.w3.org/2000/svg", "rect");
      r.setAttribute("x", b.x0); r.setAttribute("y", b.y0);
      r.setAttribute("width", b.x1 - b.x0); r.setAttribute("height", b.y1 - b.y0);
      r.setAttribute("class", cls(b));
      r.dataset.index = b.index;
      r.addEventListener("mousemove", (e) => {
        const e2 = effective(b);
        tip.hidden = false;
        tip.textContent = `#${b.index} ${b.decision}  score ${fmt(b.score)}  spread ${fmt(b.spread)}  OCR ${fmt(b.ocr_confidence)}  → ${e2.blank ? "blank" : "keep"}`;
        const rect = stage.getBoundingClientRect();
        tip.style.left = `${e.clientX - rect.left + 12}px`;
        tip.style.top = `${e.clientY - rect.top + 12}px`;
      });
      r.addEventListener("mouseleave", () => { tip.hidden = true; });
      r.addEventListener("click", (e) => { if (!drawing) { e.stopPropagation(); selectBox(b.index); } });
      svg.appendChild(r);
    }
    $$("#boxes tbody tr[data-index]").forEach((tr) => {
      const b = boxes.find((x) => String(x.index) === tr.dataset.index);
      if (!b) return;
      const e = effective(b);
      tr.classList.toggle("sel", String(selected) === tr.dataset.index);
      tr.classList.toggle("pending", pending[b.index] !== undefined);
      tr.querySelector(".result").textContent = (e.blank ? "blank" : "keep") + (e.changed ? " (admin)" : "");
    });
    const save = $("#save");
    if (save) save.disabled = !dirty;
  }
  function selectBox(index) {
    selected = index;
    drawBoxes();
  }
  function mark(index, action) {
    const b = boxes.find((x) => String(x.index) === String(index));
    if (!b || b.decision === "region" || b.source !== "detector") return;
    pending[b.index] = action;
    dirty = true;
    $("#corrstate").textContent = "unsaved changes";
    drawBoxes();
  }
  $$("#boxes button[data-mark]").forEach((btn) => btn.addEventListener("click", () => {
    const idx = btn.closest("tr").dataset.index;
    selectBox(idx);
    mark(idx, btn.dataset.mark);
  }));
  $$("#boxes tbody tr[data-index]").forEach((tr) => tr.addEventListener("click", (e) => {
    if (e.target.tagName !== "BUTTON") selectBox(tr.dataset.index);
  }));

  // drawing a missing box: drag on the image, in image pixel coordinates
  function toImage(e) {
    const r = svg.getBoundingClientRect();
    const cols = parseInt(stage.dataset.cols, 10), rows = parseInt(stage.dataset.rows, 10);
    return [Math.round((e.clientX - r.left) * cols / r.width), Math.round((e.clientY - r.top) * rows / r.height)];
  }
  function setDrawing(on) {
    drawing = on;
    if (stage) stage.classList.toggle("drawing", on);
    const d = $("#draw");
    if (d) d.textContent = on ? "Drawing: drag on the image (Esc stops)" : "Draw missing box (d)";
  }
  if (svg) {
    let start = null, ghost = null;
    svg.addEventListener("mousedown", (e) => {
      if (!drawing) return;
      e.preventDefault();
      start = toImage(e);
      ghost = document.createElementNS("http://www.w3.org/2000/svg", "rect");
      ghost.setAttribute("class", "drawn changed willblank");
      svg.appendChild(ghost);
    });
    svg.addEventListener("mousemove", (e) => {
      if (!start || !ghost) return;
      const p = toImage(e);
      ghost.setAttribute("x", Math.min(start[0], p[0])); ghost.setAttribute("y", Math.min(start[1], p[1]));
      ghost.setAttribute("width", Math.abs(p[0] - start[0])); ghost.setAttribute("height", Math.abs(p[1] - start[1]));
    });
    svg.addEventListener("mouseup", (e) => {
      if (!start) return;
      const p = toImage(e);
      const b = { x0: Math.min(start[0], p[0]), y0: Math.min(start[1], p[1]),
                  x1: Math.max(start[0], p[0]), y1: Math.max(start[1], p[1]), frames: "all" };
      start = null; ghost = null;
      if (b.x1 - b.x0 >= 2 && b.y1 - b.y0 >= 2) { drawn.push(b); dirty = true; $("#corrstate").textContent = "unsaved changes"; }
      setDrawing(false);
      drawBoxes();
    });
  }
  const drawBtn = $("#draw");
  if (drawBtn) drawBtn.addEventListener("click", () => setDrawing(!drawing));

  async function save() {
    if (!dirty) return;
    const saved = {};
    for (const b of boxes) {
      if (b.source !== "detector") continue;
      if (pending[b.index] !== undefined) saved[b.index] = pending[b.index];
      else if (b.admin) saved[b.index] = b.admin;
    }
    const added = boxes.filter((b) => b.source === "admin-drawn")
      .map((b) => ({ x0: b.x0, y0: b.y0, x1: b.x1, y1: b.y1, frames: b.frames })).concat(drawn);
    const resp = await fetch(`/q/${stage.dataset.qid}/corrections`, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
      body: JSON.stringify({ boxes: saved, added }),
    });
    const out = await resp.json().catch(() => ({ error: `HTTP ${resp.status}` }));
    if (!resp.ok) { $("#corrstate").textContent = `not saved: ${out.error}`; return; }
    dirty = false;
    window.location.reload();
  }
  const saveBtn = $("#save");
  if (saveBtn) saveBtn.addEventListener("click", save);

  // release: always through the confirmation dialog
  const dlg = $("#releasedlg");
  function openRelease() {
    if (!dlg || !$("#release")) return;
    $("#relunsaved").hidden = !dirty;
    $("#relgo").disabled = dirty;
    $("#confirm").checked = false;
    dlg.showModal();
    $("#relcancel").focus();
  }
  const relBtn = $("#release");
  if (relBtn) relBtn.addEventListener("click", openRelease);
  const relCancel = $("#relcancel");
  if (relCancel) relCancel.addEventListener("click", () => dlg.close());

  window.addEventListener("beforeunload", (e) => { if (dirty) { e.preventDefault(); e.returnValue = ""; } });

  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape") { setDrawing(false); return; }
    if (typing(e) || e.ctrlKey || e.metaKey || e.altKey) return;
    const go = (sel) => { const a = $(sel); if (a) window.location = a.href; };
    switch (e.key) {
      case "n": go("#next"); break;
      case "p": go("#prev"); break;
      case "r": openRelease(); break;
      case "d": if (drawBtn) setDrawing(!drawing); break;
      case "s": save(); break;
      case "b": if (selected !== null) mark(selected, "blank"); break;
      case "e": if (selected !== null) mark(selected, "keep"); break;
      case "ArrowRight": if (frameInput && frame() < nFrames - 1) { frameInput.value = frame() + 1; showImage(); } break;
      case "ArrowLeft": if (frameInput && frame() > 0) { frameInput.value = frame() - 1; showImage(); } break;
      case "?": help.showModal(); break;
      default: return;
    }
    e.preventDefault();
  });
  drawBoxes();
})();
