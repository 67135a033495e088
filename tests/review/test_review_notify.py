"""Notifications: webhook JSON without PHI and audit lines when instances enter the
quarantine or wait in it too long."""
from __future__ import annotations

import json
import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest

from deid_node.review.notify import Notifier
from deid_node.review.settings import NotifySettings, ReviewSettings

from .conftest import Env
from .test_review_http import PHI


@pytest.fixture
def hook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    got: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hook", got
    server.shutdown()


def _notifier(env: Env, url: str, wait: float = 30.0) -> Notifier:
    rs = replace(ReviewSettings(enabled=True), base_url="https://review.example.org",
                 notify=NotifySettings(webhook=url, wait_alert_minutes=wait))
    return Notifier(env.quarantine, rs, env.var / "review")


def test_webhook_on_entry_and_on_waiting_too_long(env: Env, hook: Any) -> None:
    url, got = hook
    n = _notifier(env, url)
    n.check()
    assert len(got) == 1
    body = got[0]
    assert body["event"] == "quarantine_entered" and body["count"] == 1
    assert body["reasons"] == {"pixels-uncertain": 1}
    inst = body["instances"][0]
    assert inst["new_sop_uid"] == env.entry.sop_uid and inst["qid"] == env.entry.id
    assert inst["link"] == f"https://review.example.org/q/{env.entry.id}"
    text = json.dumps(body)
    assert not any(v in text for v in PHI)
    n.check()
    assert len(got) == 1, "announced once"
    _notifier(env, url).check()
    assert len(got) == 1, "not again after a restart"
    n.check(now=env.entry.created_at + 31 * 60)
    assert [b["event"] for b in got] == ["quarantine_entered", "quarantine_waiting"]
    assert got[1]["oldest_minutes"] >= 31
    n.check(now=env.entry.created_at + 90 * 60)
    assert len(got) == 2
    events = [e["event"] for e in env.audit_lines()]
    assert "quarantine_entered" in events and "quarantine_waiting" in events
    assert events.count("webhook_sent") == 2


def test_a_failed_webhook_is_tried_again(env: Env, tmp_path: Path) -> None:
    from tests.peers import free_port
    n = _notifier(env, f"http://127.0.0.1:{free_port()}/nobody")
    n.check()
    n.check()
    events = [e["event"] for e in env.audit_lines()]
    assert events.count("webhook_failed") == 2 and events.count("quarantine_entered") == 2
