"""Admin accounts of the review console: names and Argon2id password hashes in a YAML file.

The file holds no password, only hashes from argon2-cffi (a vetted implementation). An
"issued token" is a long random password made by ``add-user --generate`` and shown once.
"""
from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

import yaml
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from deid_node.node.spool import durable_write

_NAME_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_hasher = PasswordHasher()
MIN_PASSWORD = 10


class UserError(ValueError):
    """An account cannot be made or read; the message says what to do."""


class UserStore:
    """The accounts file; re-read when it changes, so added users work without a restart."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._cache: tuple[float, dict[str, str]] | None = None
        self._dummy = _hasher.hash(secrets.token_hex(16))

    def users(self) -> dict[str, str]:
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            return {}
        if self._cache and self._cache[0] == mtime:
            return self._cache[1]
        data = yaml.safe_load(self.path.read_text(encoding="utf-8")) or {}
        users = data.get("users") or {}
        if not isinstance(users, dict):
            raise UserError(f"{self.path}: 'users' must be a mapping of name → {{password_hash}}")
        out = {str(k): str((v or {}).get("password_hash", "")) for k, v in users.items()}
        self._cache = (mtime, out)
        return out

    def verify(self, name: str, password: str) -> bool:
        """True only for a known name with the right password (same work for unknown names)."""
        stored = self.users().get(name)
        try:
            return _hasher.verify(stored or self._dummy, password) and stored is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def add(self, name: str, password: str) -> None:
        if not _NAME_RE.match(name):
            raise UserError(f"admin name {name!r}: use 1-64 letters, digits, '.', '_' or '-'")
        if len(password) < MIN_PASSWORD:
            raise UserError(f"the password must have at least {MIN_PASSWORD} characters")
        users = {k: {"password_hash": v} for k, v in self.users().items()}
        users[name] = {"password_hash": _hasher.hash(password)}
        self._write(users)

    def remove(self, name: str) -> None:
        users = {k: {"password_hash": v} for k, v in self.users().items() if k != name}
        self._write(users)

    def _write(self, users: dict[str, dict[str, str]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = "# deid-node review console admins (Argon2id hashes); edit with 'deid-node review add-user'\n"
        text += yaml.safe_dump({"users": users}, sort_keys=True)
        durable_write(self.path.parent, self.path.name, text.encode(), mode=0o600)
        os.chmod(self.path, 0o600)
        self._cache = None


def generate_token() -> str:
    return secrets.token_urlsafe(24)
