"""Tell people about the quarantine: a line in the audit log and, if configured, a webhook
POST when instances enter it or wait in it longer than ``notify.wait_alert_minutes``.

The JSON carries no PHI: counts, reasons, modalities, quarantine ids, new UIDs and a link
to the console. What was already announced is remembered in ``var/review/notified.json``,
so a restart does not announce it again.
"""
from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

from deid_node import audit
from deid_node.node.spool import durable_write
from deid_node.quarantine import Entry, Quarantine

from .settings import ReviewSettings

MAX_LISTED = 100


class Notifier(threading.Thread):
    """Polls the quarantine index; one announcement per new batch and per overdue batch."""

    def __init__(self, q: Quarantine, rs: ReviewSettings, state_dir: Path) -> None:
        super().__init__(name="review-notifier", daemon=True)
        self.q, self.rs = q, rs
        self.state_file = state_dir / "notified.json"
        state_dir.mkdir(parents=True, exist_ok=True)
        self._halt = threading.Event()
        self.state = self._load()

    def _load(self) -> dict[str, dict[str, float]]:
        try:
            data = json.loads(self.state_file.read_text())
            return {"entered": dict(data.get("entered", {})), "waiting": dict(data.get("waiting", {}))}
        except (OSError, ValueError):
            return {"entered": {}, "waiting": {}}

    def _save(self) -> None:
        durable_write(self.state_file.parent, self.state_file.name,
                      json.dumps(self.state, sort_keys=True).encode())

    def stop(self) -> None:
        self._halt.set()

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                self.check()
            except Exception as exc:  # noqa: BLE001 - a notifier failure must not stop the console
                audit.event("error", where="review-notifier", error=type(exc).__name__)
            self._halt.wait(self.rs.notify.interval_seconds)

    def check(self, now: float | None = None) -> list[dict[str, Any]]:
        """One round: announce new entries and overdue ones; returns the messages sent."""
        now = time.time() if now is None else now
        held = self.q.list("held")
        held_ids = {e.id for e in held}
        sent = []
        # an entry filed again (re-processed and held again) counts as new
        new = [e for e in held if self.state["entered"].get(e.id) != e.updated_at]
        if new:
            body, delivered = self._announce("quarantine_entered", new, len(held))
            sent.append(body)
            for e in new if delivered else []:
                self.state["entered"][e.id] = e.updated_at
        limit = self.rs.notify.wait_alert_minutes * 60.0
        if limit > 0:
            overdue = [e for e in held if now - e.created_at > limit and e.id not in self.state["waiting"]]
            if overdue:
                oldest = round((now - min(e.created_at for e in overdue)) / 60, 1)
                body, delivered = self._announce(
                    "quarantine_waiting", overdue, len(held),
                    waiting_minutes=round(self.rs.notify.wait_alert_minutes, 1), oldest_minutes=oldest)
                sent.append(body)
                for e in overdue if delivered else []:
                    self.state["waiting"][e.id] = now
        for key in ("entered", "waiting"):
            self.state[key] = {k: v for k, v in self.state[key].items() if k in held_ids}
        if sent or new:
            self._save()
        return sent

    def _announce(self, event: str, entries: list[Entry], held_total: int,
                  **extra: Any) -> tuple[dict[str, Any], bool]:
        """Audit line always; webhook if configured. False: try again next round."""
        body = {
            "event": event, "count": len(entries), "held_total": held_total,
            "reasons": dict(Counter(e.reason for e in entries).most_common()),
            "modalities": dict(Counter(e.modality or "-" for e in entries).most_common()),
            "instances": [{"qid": e.id, "new_study_uid": e.study_uid, "new_series_uid": e.series_uid,
                           "new_sop_uid": e.sop_uid, "reason": e.reason,
                           "link": f"{self.rs.url}/q/{e.id}"} for e in entries[:MAX_LISTED]],
            "console": self.rs.url + "/", **extra,
        }
        audit.event(event, count=len(entries), held_total=held_total, reasons=body["reasons"],
                    qids=[e.id for e in entries[:MAX_LISTED]], **extra)
        delivered = self._post(body) if self.rs.notify.webhook else True
        return body, delivered

    def _post(self, body: dict[str, Any]) -> bool:
        req = urllib.request.Request(self.rs.notify.webhook or "", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json",
                                              "User-Agent": "deid-node-review"}, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                status = resp.status
        except OSError as exc:
            audit.event("webhook_failed", about=body["event"], error=type(exc).__name__)
            return False
        audit.event("webhook_sent", about=body["event"], status=status, count=body["count"])
        return True
