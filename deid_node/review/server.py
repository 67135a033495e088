"""Run the console with uvicorn: on its own (``deid-node review``) or beside the node
(``deid-node serve`` with ``review.enabled: true``)."""
from __future__ import annotations

import sys
import threading
from dataclasses import replace
from typing import Any

from deid_node import audit
from deid_node.config import ConfigError
from deid_node.node.spool import Spool
from deid_node.quarantine import Quarantine
from deid_node.settings import Settings

from .actions import Context
from .settings import ReviewSettings
from .users import UserStore


def review_settings(settings: Settings, bind: str | None = None, port: int | None = None) -> ReviewSettings:
    rs = ReviewSettings.from_section(settings.section("review"), settings.var)
    if bind is not None:
        rs = replace(rs, bind=bind)
    if port is not None:
        rs = replace(rs, port=port)
    return rs


def build(settings: Settings, key: bytes, rs: ReviewSettings) -> Any:
    from .app import create_app
    if not rs.enabled:
        raise ConfigError(f"{settings.source}: the review console is off; set 'review.enabled: "
                          "true' (and add an admin with 'deid-node review add-user NAME')")
    if not UserStore(rs.users_file).users():
        raise ConfigError(f"{rs.users_file}: no admin accounts; add one with 'deid-node review "
                          "add-user NAME' before starting the console")
    if rs.bind not in ("127.0.0.1", "::1", "localhost") and not rs.tls.enabled:
        print(f"deid-node review: WARNING: listening on {rs.bind} without TLS; passwords and "
              "images cross the network in clear. Set review.tls.", file=sys.stderr)
    spool = Spool(settings.var, quota=settings.receiver.spool_quota,
                  min_free=settings.receiver.min_free_disk)
    ctx = Context(settings, key, Quarantine(settings.var / "quarantine"), spool)
    return create_app(ctx, rs)


def start_notifier(settings: Settings, rs: ReviewSettings) -> Any:
    """The webhook / waiting-too-long announcer, when ``review.notify`` asks for one."""
    if not (rs.notify.webhook or rs.notify.wait_alert_minutes > 0):
        return None
    from .notify import Notifier
    notifier = Notifier(Quarantine(settings.var / "quarantine"), rs, settings.var / "review")
    notifier.start()
    return notifier


def _server(app: Any, rs: ReviewSettings) -> Any:
    import uvicorn
    config = uvicorn.Config(app, host=rs.bind, port=rs.port, access_log=False, log_level="warning",
                            server_header=False, proxy_headers=False,
                            ssl_certfile=str(rs.tls.certificate) if rs.tls.enabled else None,
                            ssl_keyfile=str(rs.tls.private_key) if rs.tls.enabled else None)
    return uvicorn.Server(config)


def run(settings: Settings, key: bytes, rs: ReviewSettings) -> None:
    """Serve in the foreground until SIGINT/SIGTERM."""
    app = build(settings, key, rs)
    audit.event("review_started", bind=rs.bind, port=rs.port, tls=rs.tls.enabled)
    start_notifier(settings, rs)
    _server(app, rs).run()
    audit.event("review_stopped")


def start_in_background(settings: Settings, key: bytes) -> threading.Thread | None:
    """Beside ``serve``: a daemon thread when the config enables the console, else None."""
    rs = review_settings(settings)
    if not rs.enabled:
        return None
    app = build(settings, key, rs)
    server = _server(app, rs)
    thread = threading.Thread(target=server.run, name="review-console", daemon=True)
    thread.start()
    start_notifier(settings, rs)
    audit.event("review_started", bind=rs.bind, port=rs.port, tls=rs.tls.enabled, beside="serve")
    print(f"deid-node review console on {rs.url}", file=sys.stderr, flush=True)
    return thread
