"""Settings of the review console (config section ``review``): off until configured."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from deid_node.config import ConfigError, Section

_KEYS = {"enabled", "bind", "port", "users_file", "session_minutes", "page_size", "tls",
         "base_url", "hold", "notify", "secure_cookies"}


@dataclass(frozen=True)
class ReviewTls:
    enabled: bool = False
    certificate: Path | None = None
    private_key: Path | None = None


@dataclass(frozen=True)
class NotifySettings:
    """Where and when to tell people about the quarantine (webhook JSON has no PHI)."""

    webhook: str | None = None
    wait_alert_minutes: float = 0.0        # 0: no 'waiting too long' alerts
    interval_seconds: float = 60.0


@dataclass(frozen=True)
class ReviewSettings:
    enabled: bool = False
    bind: str = "127.0.0.1"
    port: int = 8104
    users_file: Path = Path("var/review-users.yaml")
    session_minutes: int = 480
    page_size: int = 50
    base_url: str | None = None
    hold: str = "none"
    secure_cookies: bool | None = None     # None: secure when TLS is on
    tls: ReviewTls = field(default_factory=ReviewTls)
    notify: NotifySettings = field(default_factory=NotifySettings)

    @property
    def cookie_secure(self) -> bool:
        return self.tls.enabled if self.secure_cookies is None else self.secure_cookies

    @property
    def url(self) -> str:
        if self.base_url:
            return self.base_url.rstrip("/")
        scheme = "https" if self.tls.enabled else "http"
        return f"{scheme}://{self.bind}:{self.port}"

    @classmethod
    def from_section(cls, s: Section, var: Path) -> "ReviewSettings":
        unknown = sorted(set(s.keys()) - _KEYS)
        if unknown:
            raise ConfigError(f"{s.source}: '{s._key(unknown[0])}' is not a review setting; known "
                              f"settings: {', '.join(sorted(_KEYS))}")
        for sub, known in (("tls", {"enabled", "certificate", "private_key"}),
                           ("notify", {"webhook", "wait_alert_minutes", "interval_seconds"})):
            extra = sorted(set(s.section(sub).keys()) - known)
            if extra:
                raise ConfigError(f"{s.source}: '{s.section(sub)._key(extra[0])}' is not a review."
                                  f"{sub} setting; known: {', '.join(sorted(known))}")
        t = s.section("tls")
        tls = ReviewTls(t.bool("enabled", False),
                        t.path("certificate") if t.get("certificate", None) else None,
                        t.path("private_key") if t.get("private_key", None) else None)
        if tls.enabled:
            for key in ("certificate", "private_key"):
                path = getattr(tls, key)
                if path is None or not path.is_file():
                    raise ConfigError(f"{s.source}: '{t._key(key)}' must name an existing file "
                                      f"when review TLS is enabled (got {path})")
        n = s.section("notify")
        webhook = n.str("webhook", "") or None
        if webhook and not webhook.startswith(("http://", "https://")):
            raise ConfigError(f"{s.source}: '{n._key('webhook')}' must be an http(s) URL, got "
                              f"{webhook!r}")
        notify = NotifySettings(webhook, n.float("wait_alert_minutes", 0.0, minimum=0.0),
                                n.float("interval_seconds", 60.0, minimum=1.0))
        secure = s.get("secure_cookies", None)
        if secure is not None and not isinstance(secure, bool):
            raise ConfigError(f"{s.source}: '{s._key('secure_cookies')}' must be true or false")
        return cls(enabled=s.bool("enabled", False), bind=s.str("bind", "127.0.0.1"),
                   port=s.int("port", 8104, minimum=0, maximum=65535),
                   users_file=s.path("users_file", str(var / "review-users.yaml")),
                   session_minutes=s.int("session_minutes", 480, minimum=1, maximum=7 * 24 * 60),
                   page_size=s.int("page_size", 50, minimum=5, maximum=1000),
                   base_url=s.str("base_url", "") or None,
                   hold=s.choice("hold", ("none", "series"), "none"),
                   secure_cookies=secure, tls=tls, notify=notify)
