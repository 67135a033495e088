"""The site secret behind every keyed pseudonym, UID and audit hash.

Created on first start (32 random bytes, mode 0600). Losing it breaks the mapping to
earlier output; sharing it lets several nodes produce identical output.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import sys
from pathlib import Path

KEY_BYTES = 32


class SiteKeyError(RuntimeError):
    """The key file exists but cannot be used."""


def load_or_create(path: Path, *, create: bool = True) -> bytes:
    """Return the site key from *path*, creating it (0600) with a warning when missing."""
    path = Path(path)
    if path.exists():
        data = path.read_bytes().strip()
        try:
            key = bytes.fromhex(data.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            raise SiteKeyError(f"{path}: not a hex-encoded site key; restore it from backup "
                               "(a new key changes every pseudonym and UID)") from None
        if len(key) < 16:
            raise SiteKeyError(f"{path}: site key is {len(key)} bytes; at least 16 are needed")
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise SiteKeyError(f"{path}: site key is readable by others (mode {mode:o}); "
                               f"run: chmod 600 {path}")
        return key
    if not create:
        raise SiteKeyError(f"{path}: site key not found")
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(KEY_BYTES)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key.hex() + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    print(f"WARNING: created a new site key at {path}. Back it up and keep it secret: every "
          "pseudonym, UID and date shift is derived from it.", file=sys.stderr)
    return key


def keyed_hash(key: bytes, value: str, *, purpose: str = "audit", length: int = 16) -> str:
    """A short HMAC-SHA256 hex digest of *value*; *purpose* separates the uses of one key."""
    mac = hmac.new(key, f"{purpose}\x00{value}".encode("utf-8"), hashlib.sha256)
    return mac.hexdigest()[:length]
