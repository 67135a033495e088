"""The review console's web app (Starlette): pages, images, decisions.

Every page needs a logged-in admin; every state-changing request passes
:func:`state_changing` (session + CSRF token + same origin) and is audited with the
admin's name. URLs and titles carry only quarantine ids (keyed hashes) and new UIDs.
"""
from __future__ import annotations

import io
import json
import threading
import time
from collections import OrderedDict
from functools import wraps
from pathlib import Path
from typing import Any, Awaitable, Callable
from urllib.parse import urlencode, urlsplit

import pydicom
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from deid_node import audit
from deid_node.quarantine import QuarantineError

from . import actions, corrections, hold, views
from .auth import COOKIE, LOGIN_COOKIE, Session, Sessions, same_token
from .settings import ReviewSettings
from .users import UserStore

HERE = Path(__file__).resolve().parent
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
IMAGE_KINDS = ("candidate", "corrected", "original")


class SecurityHeaders:
    """No caching (pages and images may show PHI), no framing, no foreign requests."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                static = scope.get("path", "").startswith("/static/")
                for k, v in (("content-security-policy", CSP), ("x-content-type-options", "nosniff"),
                             ("referrer-policy", "same-origin"), ("x-frame-options", "DENY"),
                             ("cache-control", "private, max-age=3600" if static else "no-store")):
                    headers.append((k.encode(), v.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, wrapped)


class FrameCache:
    """Decoded instances of the last few entries, so a frame slider does not decode a
    whole clip for every frame."""

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple[str, ...], tuple[Any, Any]] = OrderedDict()

    def get(self, key: tuple[str, ...], load: Callable[[], bytes]) -> tuple[Any, Any]:
        from deid_node.pixels import codec
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        ds = pydicom.dcmread(io.BytesIO(load()))
        dec = codec.decode(ds)
        with self._lock:
            self._items[key] = (ds, dec)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return ds, dec


def create_app(ctx: actions.Context, rs: ReviewSettings) -> Starlette:
    """The console for one node's var folder (quarantine, spool, audit log)."""
    sessions = Sessions(rs.session_minutes)
    users = UserStore(rs.users_file)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    frames = FrameCache()
    facts = views.ReportFacts(ctx.quarantine)
    q = ctx.quarantine

    def render(request: Request, name: str, s: Session | None, status: int = 200,
               **context: Any) -> HTMLResponse:
        flash: list[tuple[str, str]] = []
        if s:
            flash, s.flash = s.flash, []
        counts = q.counts() if s else {}
        return templates.TemplateResponse(request, name, {
            "admin": s.user if s else None, "csrf": s.csrf if s else "", "flash": flash,
            "held": counts.get("held", 0), "failed_n": len(ctx.spool.failed_items()) if s else 0,
            **context}, status_code=status)

    def flash(s: Session, text: str, kind: str = "ok") -> None:
        s.flash.append((kind, text))

    def session_of(request: Request) -> Session | None:
        return sessions.get(request.cookies.get(COOKIE))

    def login_required(fn: Callable[..., Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        @wraps(fn)
        async def wrapper(request: Request) -> Response:
            s = session_of(request)
            if s is None:
                return RedirectResponse("/login", status_code=303)
            return await fn(request, s)
        return wrapper

    def state_changing(fn: Callable[..., Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        """Session, CSRF token and same origin, or 403 (audited, without the request body)."""
        @wraps(fn)
        async def wrapper(request: Request) -> Response:
            origin = request.headers.get("origin")
            if origin and urlsplit(origin).netloc != request.headers.get("host"):
                audit.event("review_refused", why="cross-origin", path=request.url.path)
                return PlainTextResponse("cross-origin request refused", status_code=403)
            is_json = request.headers.get("content-type", "").startswith("application/json")
            form: Any = {} if is_json else await request.form()
            token = request.headers.get("x-csrf-token") or form.get("csrf")
            if fn.__name__ == "login_post":
                if not same_token(token, request.cookies.get(LOGIN_COOKIE)):
                    audit.event("review_refused", why="csrf", path=request.url.path)
                    return PlainTextResponse("the login form expired or is not ours (CSRF check); "
                                             "reload the login page", status_code=403)
                return await fn(request, None, form)
            s = session_of(request)
            if s is None:
                return PlainTextResponse("not logged in: log in again", status_code=403)
            if not same_token(token, s.csrf):
                audit.event("review_refused", why="csrf", actor=s.user, path=request.url.path)
                return PlainTextResponse("CSRF token missing or wrong: reload the page and try again",
                                         status_code=403)
            return await fn(request, s, form)
        wrapper.state_changing = True  # type: ignore[attr-defined]
        return wrapper

    def set_cookie(resp: Response, name: str, value: str, max_age: int | None = None) -> None:
        resp.set_cookie(name, value, max_age=max_age, httponly=True, samesite="strict",
                        secure=rs.cookie_secure, path="/")

    # -- login ---------------------------------------------------------------------
    async def login_get(request: Request) -> Response:
        if session_of(request):
            return RedirectResponse("/", status_code=303)
        import secrets
        token = secrets.token_urlsafe(32)
        resp = render(request, "login.html", None, login_csrf=token, error=None)
        set_cookie(resp, LOGIN_COOKIE, token, max_age=3600)
        return resp

    @state_changing
    async def login_post(request: Request, _s: None, form: Any) -> Response:
        name = str(form.get("username", ""))[:64]
        password = str(form.get("password", ""))
        known = name in users.users()
        if sessions.locked_out(name):
            ok = False
            why = "locked-out"
        else:
            ok = await run_in_threadpool(users.verify, name, password)
            why = "wrong-credentials"
        if not ok:
            sessions.failed(name)
            audit.event("review_login_failed", actor=name if known else None, why=why,
                        client=request.client.host if request.client else None)
            resp = render(request, "login.html", None, status=401,
                          login_csrf=request.cookies.get(LOGIN_COOKIE, ""),
                          error="Too many failed attempts: wait five minutes." if why == "locked-out"
                          else "Wrong name or password.")
            return resp
        sessions.succeeded(name)
        s = sessions.create(name)
        audit.event("review_login", actor=name, client=request.client.host if request.client else None)
        resp = RedirectResponse("/", status_code=303)
        set_cookie(resp, COOKIE, s.id)
        resp.delete_cookie(LOGIN_COOKIE, path="/")
        return resp

    @state_changing
    async def logout(request: Request, s: Session, _form: Any) -> Response:
        sessions.drop(s.id)
        audit.event("review_logout", actor=s.user)
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(COOKIE, path="/")
        return resp

    # -- lists ---------------------------------------------------------------------
    @login_required
    async def list_page(request: Request, s: Session) -> Response:
        f = views.Filters.parse(request.query_params)
        entries = await run_in_threadpool(
            lambda: facts.rows(q.list(None if f.state == "all" else f.state)))
        chosen = views.ordered(views.filtered(entries, f), f)
        rows, pages = views.page(chosen, f.page, rs.page_size)
        return render(request, "list.html", s, title="Quarantine", entries=rows, filters=f,
                      total=len(chosen), pages=pages, page=min(f.page, pages),
                      reason_counts=views.counts(entries, "reason"),
                      modalities=[m for m, _ in views.counts(entries, "modality")],
                      sorts=list(views.SORTS), link=lambda **kw: "/?" + urlencode(f.query(**kw)),
                      fmt_time=_fmt_time)

    @login_required
    async def failed_page(request: Request, s: Session) -> Response:
        items = await run_in_threadpool(ctx.spool.failed_items)
        rows = [{"sop_uid": p.stem, "status": info.get("status"), "reason": info.get("reason"),
                 "when": _fmt_time(p.stat().st_mtime) if p.exists() else "-"} for p, info in items]
        return render(request, "failed.html", s, title="Failed deliveries", rows=rows)

    @state_changing
    async def failed_retry(request: Request, s: Session, _form: Any) -> Response:
        sop = request.path_params["sop"]
        if not all(c.isdigit() or c == "." for c in sop):
            return PlainTextResponse("not a SOP Instance UID", status_code=400)
        try:
            await run_in_threadpool(ctx.spool.retry_failed, sop)
            audit.event("delivery_retried", new_sop_uid=sop, actor=s.user, via="review")
            flash(s, f"{sop} is back in the outbox")
        except FileNotFoundError as exc:
            flash(s, str(exc), "error")
        return RedirectResponse("/failed", status_code=303)

    # -- one entry -----------------------------------------------------------------
    def _neighbours(entry_id: str) -> tuple[str | None, str | None]:
        ids = [e.id for e in views.ordered(q.list("held"), views.Filters())]
        if entry_id not in ids:
            return None, (ids[0] if ids else None)
        i = ids.index(entry_id)
        return (ids[i - 1] if i > 0 else None), (ids[i + 1] if i + 1 < len(ids) else None)

    def _detail(entry_id: str, s: Session) -> dict[str, Any]:
        entry = q.get(entry_id)
        report = q.report(entry_id)
        revealed = entry_id in s.revealed
        corr = corrections.load(q, entry_id)
        boxes = corrections.final_decisions(report, corr)
        texts = views.box_texts(report) if revealed else {}
        for b in boxes:
            b["text"] = texts.get(b["index"]) if isinstance(b["index"], int) else None
        geo = None
        cand_header: list[dict[str, str]] = []
        orig_header: list[dict[str, str]] = []
        if (q.folder(entry_id) / "candidate.dcm").exists():
            try:
                ds = pydicom.dcmread(io.BytesIO(q.candidate(entry_id)), stop_before_pixels=True)
                cand_header = views.header_lines(ds)
                if "Rows" in ds:
                    geo = corrections.geometry(ds)
            except QuarantineError:
                pass
        if revealed:
            try:
                orig_header = views.header_lines(pydicom.dcmread(io.BytesIO(q.original(entry_id)),
                                                                 stop_before_pixels=True))
            except QuarantineError:
                pass
        prev_id, next_id = _neighbours(entry_id)
        siblings = hold.held_siblings(q, entry.series_uid, but=entry_id)
        held_for = hold.triggers(q, entry.series_uid) if entry.reason == hold.REASON else []
        shown = views.without_phi(report) if not revealed else report
        return {"entry": entry, "reasons": views.reasons(report), "siblings": siblings,
                "held_for": held_for, "boxes": boxes, "geo": geo,
                "cand_header": cand_header, "orig_header": orig_header, "revealed": revealed,
                "version": actions.version(q, entry_id), "corrected": corrections.has_any(corr),
                "correction_by": corr.get("by"), "prev_id": prev_id, "next_id": next_id,
                "report_json": json.dumps(shown, indent=2, sort_keys=True, default=str,
                                          ensure_ascii=False),
                "pixels": report.get("pixels") or {},
                "boxes_json": json.dumps([{k: b.get(k) for k in ("index", "x0", "y0", "x1", "y1",
                                                                  "frames", "decision", "score",
                                                                  "spread", "ocr_confidence",
                                                                  "uncertainty", "why", "blank",
                                                                  "admin", "source")}
                                          for b in boxes]),
                "can_release": entry.state == "held" and bool(cand_header) and
                entry.reason != "leak-check"}

    @login_required
    async def detail_page(request: Request, s: Session) -> Response:
        entry_id = request.path_params["qid"]
        try:
            data = await run_in_threadpool(_detail, entry_id, s)
        except QuarantineError as exc:
            return render(request, "error.html", s, status=404, title="Not found", message=str(exc))
        audit.event("quarantine_viewed", qid=entry_id, actor=s.user, revealed=data["revealed"],
                    via="review")
        return render(request, "detail.html", s, title=f"Entry {entry_id[:12]}",
                      fmt_time=_fmt_time, **data)

    @login_required
    async def image(request: Request, s: Session) -> Response:
        entry_id, kind = request.path_params["qid"], request.path_params["kind"]
        frame = int(request.path_params["frame"])
        if kind not in IMAGE_KINDS:
            return PlainTextResponse("unknown image kind", status_code=404)
        if kind == "original" and entry_id not in s.revealed:
            return PlainTextResponse("the original is PHI: use Reveal first", status_code=403)

        def make() -> bytes:
            from PIL import Image

            from deid_node.pixels.redactor import display_rgb
            folder = q.folder(entry_id)
            stamp = actions.version(q, entry_id)
            if kind == "corrected":
                def load() -> bytes:
                    return corrections.re_render(q.original(entry_id), q.candidate(entry_id),
                                                 q.report(entry_id), corrections.load(q, entry_id))
            else:
                def load() -> bytes:
                    return (folder / f"{kind}.dcm").read_bytes()
            ds, dec = frames.get((entry_id, kind, stamp), load)
            if not 0 <= frame < dec.n_frames:
                raise IndexError(frame)
            buf = io.BytesIO()
            Image.fromarray(display_rgb(ds, dec, frame)).save(buf, format="PNG", compress_level=1)
            return buf.getvalue()

        try:
            png = await run_in_threadpool(make)
        except (QuarantineError, FileNotFoundError, IndexError, corrections.CorrectionError) as exc:
            return PlainTextResponse(f"no such image: {type(exc).__name__}", status_code=404)
        if kind == "original":
            audit.event("review_original_shown", qid=entry_id, actor=s.user, frame=frame)
        return Response(png, media_type="image/png")

    def _entry_redirect(entry_id: str) -> RedirectResponse:
        return RedirectResponse(f"/q/{entry_id}", status_code=303)

    @state_changing
    async def reveal(request: Request, s: Session, _form: Any) -> Response:
        entry_id = request.path_params["qid"]
        q.get(entry_id)
        s.revealed.add(entry_id)
        audit.event("review_revealed", qid=entry_id, actor=s.user)
        return _entry_redirect(entry_id)

    @state_changing
    async def release(request: Request, s: Session, form: Any) -> Response:
        entry_id = request.path_params["qid"]
        if form.get("confirm") != "release":
            flash(s, "Release needs the confirmation in the dialog; nothing was released.", "error")
            return _entry_redirect(entry_id)
        try:
            series_seen = int(form["series_seen"]) if form.get("with_series") == "yes" else None
            sop = await run_in_threadpool(actions.release, ctx, entry_id, s.user,
                                          str(form.get("version", "")), form.get("note") or None,
                                          series_seen)
        except (QuarantineError, corrections.CorrectionError, ValueError) as exc:
            flash(s, str(exc), "error")
            return _entry_redirect(entry_id)
        flash(s, f"Released {entry_id[:12]}: queued for delivery as {sop}.")
        return _after_decision(entry_id, form)

    def _after_decision(entry_id: str, form: Any) -> RedirectResponse:
        nxt = str(form.get("next", ""))
        if nxt and nxt.isalnum() and nxt != entry_id:
            return _entry_redirect(nxt)
        return RedirectResponse("/", status_code=303)

    @state_changing
    async def reprocess(request: Request, s: Session, form: Any) -> Response:
        entry_id = request.path_params["qid"]
        try:
            outcome = await run_in_threadpool(actions.reprocess, ctx, entry_id, s.user)
        except QuarantineError as exc:
            flash(s, str(exc), "error")
            return _entry_redirect(entry_id)
        if outcome == "forward":
            flash(s, f"Reprocessed {entry_id[:12]}: passed every stage, queued for delivery.")
            return _after_decision(entry_id, form)
        flash(s, f"Reprocessed {entry_id[:12]}: still held ({outcome}).", "error")
        return _entry_redirect(entry_id)

    @state_changing
    async def reject(request: Request, s: Session, form: Any) -> Response:
        entry_id = request.path_params["qid"]
        try:
            await run_in_threadpool(actions.reject, ctx, entry_id, s.user, str(form.get("reason", "")))
        except QuarantineError as exc:
            flash(s, str(exc), "error")
            return _entry_redirect(entry_id)
        flash(s, f"Rejected {entry_id[:12]}; its PHI copies were deleted.")
        return _after_decision(entry_id, form)

    @state_changing
    async def save_corrections(request: Request, s: Session, _form: Any) -> Response:
        entry_id = request.path_params["qid"]
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError
        except ValueError:
            return JSONResponse({"error": "expected a JSON object {boxes: {...}, added: [...]}"},
                                status_code=400)
        try:
            saved = await run_in_threadpool(actions.save_corrections, ctx, entry_id, s.user, body)
        except (QuarantineError, corrections.CorrectionError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"ok": True, "version": actions.version(q, entry_id),
                             "marked": len(saved["boxes"]), "drawn": len(saved["added"])})

    async def health(_request: Request) -> Response:
        return PlainTextResponse("ok")

    routes = [
        Route("/login", login_get, methods=["GET"]),
        Route("/login", login_post, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/", list_page, methods=["GET"]),
        Route("/failed", failed_page, methods=["GET"]),
        Route("/failed/{sop}/retry", failed_retry, methods=["POST"]),
        Route("/q/{qid:str}", detail_page, methods=["GET"]),
        Route("/q/{qid:str}/image/{kind:str}/{frame:int}.png", image, methods=["GET"]),
        Route("/q/{qid:str}/reveal", reveal, methods=["POST"]),
        Route("/q/{qid:str}/release", release, methods=["POST"]),
        Route("/q/{qid:str}/reprocess", reprocess, methods=["POST"]),
        Route("/q/{qid:str}/reject", reject, methods=["POST"]),
        Route("/q/{qid:str}/corrections", save_corrections, methods=["POST"]),
        Route("/healthz", health, methods=["GET"]),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    for r in routes:
        if isinstance(r, Route) and r.methods and "POST" in r.methods:
            assert getattr(r.endpoint, "state_changing", False), f"{r.path} lacks the CSRF check"

    async def on_error(request: Request, exc: Exception) -> Response:
        audit.event("error", where="review", error=type(exc).__name__, path=request.url.path)
        return PlainTextResponse(f"the console failed: {type(exc).__name__}; see the audit log",
                                 status_code=500)

    app = Starlette(routes=routes, exception_handlers={QuarantineError: _not_found,
                                                       Exception: on_error})
    app.state.sessions = sessions
    return SecurityHeaders(app)  # type: ignore[return-value]


async def _not_found(_request: Request, exc: Exception) -> Response:
    return PlainTextResponse(str(exc), status_code=404)


def _fmt_time(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"
