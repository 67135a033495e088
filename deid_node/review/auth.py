"""Sessions, CSRF tokens and login throttling of the review console.

Sessions live in the console's memory (a restart logs everyone out, which is fine for a
handful of admins) and are named by a random cookie value: HttpOnly, SameSite=Strict,
Secure under TLS. Every state-changing request carries the session's CSRF token in a form
field or the ``X-CSRF-Token`` header; the login form uses a double-submit cookie instead.
"""
from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field

COOKIE = "deid_review"
LOGIN_COOKIE = "deid_review_login"
MAX_FAILURES = 5
LOCKOUT_S = 300.0


@dataclass
class Session:
    id: str
    user: str
    csrf: str
    created: float
    last_seen: float
    revealed: set[str] = field(default_factory=set)
    flash: list[tuple[str, str]] = field(default_factory=list)


class Sessions:
    """Server-side sessions with an idle and an absolute lifetime."""

    def __init__(self, minutes: int) -> None:
        self.lifetime = minutes * 60.0
        self._lock = threading.Lock()
        self._by_id: dict[str, Session] = {}
        self._failures: dict[str, list[float]] = {}

    def create(self, user: str) -> Session:
        now = time.time()
        s = Session(secrets.token_urlsafe(32), user, secrets.token_urlsafe(32), now, now)
        with self._lock:
            self._by_id[s.id] = s
        return s

    def get(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        now = time.time()
        with self._lock:
            s = self._by_id.get(sid)
            if s is None:
                return None
            if now - s.created > self.lifetime or now - s.last_seen > min(self.lifetime, 3600.0):
                del self._by_id[sid]
                return None
            s.last_seen = now
            return s

    def drop(self, sid: str | None) -> None:
        with self._lock:
            self._by_id.pop(sid or "", None)

    # -- throttling ----------------------------------------------------------------
    def locked_out(self, name: str) -> bool:
        now = time.time()
        with self._lock:
            recent = [t for t in self._failures.get(name, []) if now - t < LOCKOUT_S]
            self._failures[name] = recent
            return len(recent) >= MAX_FAILURES

    def failed(self, name: str) -> None:
        with self._lock:
            self._failures.setdefault(name, []).append(time.time())

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._failures.pop(name, None)


def same_token(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and secrets.compare_digest(str(a), str(b))
