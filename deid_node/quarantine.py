"""The quarantine: instances the node would not forward, kept for an admin's decision.

Each entry is a 0700 folder ``quarantine/<id>/`` with ``original.dcm`` (PHI), the
``candidate.dcm`` the pipeline produced (when it got that far) and ``report.json`` (stage,
reason, uncertainty figures, boxes). ``index.sqlite`` beside them holds only what is safe
to list: new UIDs, hashes, modality, reason, times and decisions, never a PHI value.
The entry id is a keyed hash of the original SOP Instance UID, so an instance sent or
processed twice lands in the same entry instead of two.
"""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Iterator

from .node.spool import durable_write, fsync_dir

STATES = ("held", "released", "rejected", "reprocessed")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    stage TEXT NOT NULL,
    reason TEXT NOT NULL,
    modality TEXT,
    sop_class TEXT,
    study_uid TEXT,
    series_uid TEXT,
    sop_uid TEXT,
    uncertainty REAL,
    original_ref TEXT,
    has_candidate INTEGER NOT NULL,
    decided_by TEXT,
    decision_note TEXT
);
CREATE INDEX IF NOT EXISTS entries_state ON entries(state, created_at);
"""


class QuarantineError(RuntimeError):
    """An admin action cannot be done; the message says why and what to do instead."""


@dataclass(frozen=True)
class Entry:
    id: str
    state: str
    created_at: float
    updated_at: float
    stage: str
    reason: str
    modality: str | None
    sop_class: str | None
    study_uid: str | None
    series_uid: str | None
    sop_uid: str | None
    uncertainty: float | None
    original_ref: str | None
    has_candidate: int
    decided_by: str | None
    decision_note: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Quarantine:
    """Store and index of quarantined instances (safe for several processes at once)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        self.db_path = self.root / "index.sqlite"
        with self._db() as db:
            db.executescript(_SCHEMA)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.db_path, timeout=30, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.row_factory = sqlite3.Row
            yield db
        finally:
            db.close()
        os.chmod(self.db_path, 0o600)

    def folder(self, entry_id: str) -> Path:
        if not entry_id.isalnum():
            raise QuarantineError(f"{entry_id!r} is not a quarantine id; see 'deid-node quarantine list'")
        return self.root / entry_id

    def add(self, entry_id: str, *, original: bytes, candidate: bytes | None, report: dict[str, Any],
            stage: str, reason: str, meta: dict[str, Any]) -> Entry:
        """Keep an instance durably (files first, then the index row) and return its entry."""
        folder = self.folder(entry_id)
        folder.mkdir(mode=0o700, exist_ok=True)
        os.chmod(folder, 0o700)
        durable_write(folder, "original.dcm", original)
        if candidate is not None:
            durable_write(folder, "candidate.dcm", candidate)
        else:
            (folder / "candidate.dcm").unlink(missing_ok=True)
        durable_write(folder, "report.json",
                      json.dumps(report, indent=2, sort_keys=True, default=str, ensure_ascii=False).encode())
        fsync_dir(self.root)
        now = time.time()
        with self._db() as db:
            db.execute(
                """INSERT INTO entries (id, state, created_at, updated_at, stage, reason, modality,
                       sop_class, study_uid, series_uid, sop_uid, uncertainty, original_ref,
                       has_candidate, decided_by, decision_note)
                   VALUES (?, 'held', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)
                   ON CONFLICT(id) DO UPDATE SET state='held', updated_at=excluded.updated_at,
                       stage=excluded.stage, reason=excluded.reason, modality=excluded.modality,
                       sop_class=excluded.sop_class, study_uid=excluded.study_uid,
                       series_uid=excluded.series_uid, sop_uid=excluded.sop_uid,
                       uncertainty=excluded.uncertainty, has_candidate=excluded.has_candidate,
                       decided_by=NULL, decision_note=NULL""",
                (entry_id, now, now, stage, reason, meta.get("modality"), meta.get("sop_class"),
                 meta.get("study_uid"), meta.get("series_uid"), meta.get("sop_uid"),
                 meta.get("uncertainty"), meta.get("original_ref"), int(candidate is not None)))
        return self.get(entry_id)

    def get(self, entry_id: str) -> Entry:
        self.folder(entry_id)
        with self._db() as db:
            row = db.execute("SELECT * FROM entries WHERE id = ?", (entry_id,)).fetchone()
        if row is None:
            raise QuarantineError(f"no quarantine entry {entry_id!r}; see 'deid-node quarantine list'")
        return Entry(**{f.name: row[f.name] for f in fields(Entry)})

    def list(self, state: str | None = "held") -> list[Entry]:
        query, args = "SELECT * FROM entries", ()
        if state:
            query, args = query + " WHERE state = ?", (state,)
        with self._db() as db:
            rows = db.execute(query + " ORDER BY created_at", args).fetchall()
        return [Entry(**{f.name: r[f.name] for f in fields(Entry)}) for r in rows]

    def counts(self) -> dict[str, int]:
        with self._db() as db:
            return {r[0]: r[1] for r in db.execute("SELECT state, count(*) FROM entries GROUP BY state")}

    def report(self, entry_id: str) -> dict[str, Any]:
        path = self.folder(entry_id) / "report.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}

    def original(self, entry_id: str) -> bytes:
        path = self.folder(entry_id) / "original.dcm"
        if not path.exists():
            raise QuarantineError(f"entry {entry_id} has no original any more (it was rejected)")
        return path.read_bytes()

    def candidate(self, entry_id: str) -> bytes:
        path = self.folder(entry_id) / "candidate.dcm"
        if not path.exists():
            raise QuarantineError(f"entry {entry_id} has no de-identified candidate (the pipeline "
                                  "stopped before one existed); use 'reprocess' or 'reject'")
        return path.read_bytes()

    def held(self, entry_id: str) -> Entry:
        """The entry, if it still waits for a decision; every admin action starts here."""
        entry = self.get(entry_id)
        if entry.state != "held":
            raise QuarantineError(f"entry {entry_id} is already {entry.state}; only held "
                                  "entries can be released, reprocessed or rejected")
        return entry

    def decide(self, entry_id: str, state: str, *, actor: str, note: str | None = None) -> Entry:
        if state not in STATES:
            raise ValueError(state)
        self.held(entry_id)
        with self._db() as db:
            db.execute("UPDATE entries SET state=?, updated_at=?, decided_by=?, decision_note=? "
                       "WHERE id=?", (state, time.time(), actor, note, entry_id))
        if state == "rejected":
            # The original stays at the hospital; keep no PHI copy of a rejected instance.
            for name in ("original.dcm", "candidate.dcm"):
                (self.folder(entry_id) / name).unlink(missing_ok=True)
            fsync_dir(self.folder(entry_id))
        return self.get(entry_id)

    def remove(self, entry_id: str) -> None:
        shutil.rmtree(self.folder(entry_id), ignore_errors=True)
        with self._db() as db:
            db.execute("DELETE FROM entries WHERE id=?", (entry_id,))
