"""Keyed, deterministic pseudonyms: UIDs, patient IDs and names, per-patient date offsets.

Everything is HMAC-SHA256 over the original value with the site key, so two runs, two
processes or two nodes holding the same key produce the same output, and nothing can be
reversed without the key (or the optional crosswalk).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
from pathlib import Path

from pydicom.uid import UID_dictionary

_UID_MAX = 64


def _mac(key: bytes, purpose: str, value: str) -> bytes:
    return hmac.new(key, f"{purpose}\x00{value}".encode("utf-8"), hashlib.sha256).digest()


def is_registered_uid(uid: str) -> bool:
    """A UID the standard defines (SOP class, transfer syntax, coding scheme...): not PHI."""
    return uid in UID_dictionary


class Crosswalk:
    """Append-only JSON lines of original -> pseudonym, 0600, for authorised re-identification."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        mode = stat.S_IMODE(os.fstat(fd).st_mode)
        if mode & 0o077:
            os.close(fd)
            raise PermissionError(f"{self.path}: crosswalk is readable by others (mode {mode:o});"
                                  f" run: chmod 600 {self.path}")
        self._fd = fd
        self._seen: set[str] = set()

    def record(self, kind: str, original: str, pseudonym: str, **extra: object) -> None:
        line = json.dumps({"kind": kind, "original": original, "pseudonym": pseudonym, **extra},
                          ensure_ascii=False, sort_keys=True)
        if line in self._seen:
            return
        self._seen.add(line)
        os.write(self._fd, (line + "\n").encode("utf-8"))   # one write: lines never interleave

    def close(self) -> None:
        os.close(self._fd)


class Pseudonymizer:
    """The keyed mappings of one site key."""

    def __init__(self, key: bytes, prefix: str = "DEID", *, min_days: int = 1,
                 max_days: int = 3652, crosswalk: Crosswalk | None = None) -> None:
        if not key:
            raise ValueError("an empty site key cannot make pseudonyms")
        self._key = bytes(key)
        self.prefix = prefix
        self.min_days = int(min_days)
        self.max_days = int(max_days)
        self.crosswalk = crosswalk
        self._uids: dict[str, str] = {}

    def uid(self, original: str) -> str:
        """`2.25.<128-bit integer>`; registered UIDs pass through unchanged."""
        original = str(original).strip().rstrip("\x00").strip()
        if not original or is_registered_uid(original):
            return original
        new = self._uids.get(original)
        if new is None:
            new = "2.25." + str(int.from_bytes(_mac(self._key, "uid", original)[:16], "big"))
            assert len(new) <= _UID_MAX
            if len(self._uids) > 200_000:
                self._uids.clear()
            self._uids[original] = new
        return new

    def token(self, purpose: str, original: str, length: int = 10) -> str:
        """An upper-case hex token for *original*, separate per *purpose*."""
        return _mac(self._key, purpose, original).hex()[:length].upper()

    def patient(self, basis: str) -> str:
        """The patient pseudonym (PatientID and PatientName), e.g. DEID-3F9A1B2C0D."""
        return f"{self.prefix}-{self.token('patient', basis)}"

    def date_offset_days(self, basis: str) -> int:
        """Days to move every date of this patient back by (same for all their studies)."""
        span = self.max_days - self.min_days + 1
        return self.min_days + int.from_bytes(_mac(self._key, "date", basis)[:8], "big") % span

    def ae_title(self, original: str) -> str:
        return ("AE" + self.token("ae", original, 14))[:16]
