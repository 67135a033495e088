"""Command-line side of the console: ``deid-node review``, ``review add-user`` and
``quarantine export-corrections`` (wired into deid_node/cli.py)."""
from __future__ import annotations

import getpass
import sys
from pathlib import Path

from deid_node import audit
from deid_node.settings import Settings
from deid_node.sitekey import load_or_create


def serve(settings: Settings, bind: str | None, port: int | None) -> int:
    from .server import review_settings, run
    key = load_or_create(settings.key_file)
    audit.configure(settings.audit.file, key=key, stderr=settings.audit.stderr, component="review")
    rs = review_settings(settings, bind=bind, port=port)
    print(f"deid-node review console on {rs.url} (quarantine {settings.var / 'quarantine'})",
          file=sys.stderr, flush=True)
    run(settings, key, rs)
    return 0


def add_user(settings: Settings, name: str, generate: bool, actor: str) -> int:
    from .server import review_settings
    from .users import UserError, UserStore, generate_token
    key = load_or_create(settings.key_file)
    audit.configure(settings.audit.file, key=key, stderr=False, component="admin")
    rs = review_settings(settings)
    store = UserStore(rs.users_file)
    if generate:
        password = generate_token()
    elif sys.stdin.isatty():
        password = getpass.getpass(f"password for {name}: ")
        if password != getpass.getpass("again: "):
            print("deid-node: the two passwords differ; nothing changed", file=sys.stderr)
            return 2
    else:
        password = sys.stdin.readline().rstrip("\n")
    try:
        store.add(name, password)
    except UserError as exc:
        print(f"deid-node: {exc}", file=sys.stderr)
        return 2
    audit.event("review_user_added", actor=actor, user=name, issued_token=generate)
    if generate:
        print(f"issued token for {name} (shown once; use it as the password): {password}")
    print(f"{name} can log in to the review console ({rs.users_file})", file=sys.stderr)
    if not rs.enabled:
        print("note: the console is off; set 'review.enabled: true' in the config", file=sys.stderr)
    return 0


def export_corrections(settings: Settings, out: Path, images: bool, actor: str) -> int:
    from deid_node.quarantine import Quarantine

    from .corrections import export
    key = load_or_create(settings.key_file)
    audit.configure(settings.audit.file, key=key, stderr=False, component="admin")
    n, boxes = export(Quarantine(settings.var / "quarantine"), out, images=images)
    audit.event("corrections_exported", actor=actor, entries=n, boxes=boxes, images=images)
    print(f"{n} corrected instance(s), {boxes} labelled box(es) → {out / 'corrections.jsonl'}"
          + (" (with original frames as PNG: PHI, keep them on site)" if images and n else ""),
          file=sys.stderr)
    return 0
