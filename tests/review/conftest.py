"""Fixtures of the review console tests: a var folder with a real quarantine entry, an
admin account, and the console app (in process for HTTP tests)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from deid_node import audit
from deid_node.quarantine import Entry, Quarantine
from deid_node.settings import Settings
from deid_node.sitekey import load_or_create

from .entries import us_entry

ADMIN, PASSWORD = "alice", "correct horse battery staple"


@dataclass
class Env:
    var: Path
    config: Path
    settings: Settings
    key: bytes
    quarantine: Quarantine
    entry: Entry

    def audit_lines(self) -> list[dict[str, Any]]:
        import json
        path = self.var / "log" / "audit.jsonl"
        return [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.exists() else []


def write_config(path: Path, var: Path, **sections: Any) -> Path:
    config = {"node": {"var": str(var), "workers": 1}, "audit": {"stderr": False},
              "phi": {"use_model": False},
              "review": {"enabled": True, "users_file": str(var / "review-users.yaml")}}
    for name, values in sections.items():
        config[name] = {**config.get(name, {}), **values}
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def env(tmp_path: Path) -> Env:
    from deid_node.review.users import UserStore
    var = tmp_path / "var"
    cfg = write_config(tmp_path / "deid-node.yaml", var)
    settings = Settings.load(cfg)
    key = load_or_create(settings.key_file)
    audit.configure(settings.audit.file, key=key, stderr=False, component="review-test")
    q = Quarantine(var / "quarantine")
    UserStore(var / "review-users.yaml").add(ADMIN, PASSWORD)
    return Env(var, cfg, settings, key, q, us_entry(q, key))


@pytest.fixture
def client(env: Env) -> Iterator[Any]:
    from starlette.testclient import TestClient

    from deid_node.review.server import build, review_settings
    app = build(env.settings, env.key, review_settings(env.settings))
    with TestClient(app, base_url="http://127.0.0.1:8104") as c:
        yield c


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "no CSRF field in the page"
    return m.group(1)


def login(client: Any, name: str = ADMIN, password: str = PASSWORD) -> Any:
    page = client.get("/login")
    return client.post("/login", data={"csrf": csrf_of(page.text), "username": name,
                                       "password": password}, follow_redirects=False)
