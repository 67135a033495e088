"""Model weights under ``weights/`` and their MANIFEST.

Every weight file (or every file of a weight folder, such as a spaCy pipeline) is listed
in ``weights/MANIFEST.json`` with its sha256, the command and seed that made it and its
measured metrics. The node refuses to load a file whose hash differs, so a model can
never change silently under a running de-identification service.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Mapping

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
MANIFEST = WEIGHTS_DIR / "MANIFEST.json"


class WeightsError(RuntimeError):
    """A weight file is missing, unlisted or does not match its MANIFEST entry."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _files(target: Path) -> dict[str, str]:
    if target.is_file():
        return {".": sha256_file(target)}
    return {p.relative_to(target).as_posix(): sha256_file(p)
            for p in sorted(target.rglob("*")) if p.is_file()}


def load_manifest(manifest: Path = MANIFEST) -> dict[str, Any]:
    if not manifest.exists():
        return {"entries": {}}
    return json.loads(manifest.read_text(encoding="utf-8"))


def record(rel_path: str, *, command: str, seed: int | None, metrics: Mapping[str, Any],
           notes: str = "", weights_dir: Path = WEIGHTS_DIR) -> dict[str, Any]:
    """Add or replace the MANIFEST entry for ``weights/<rel_path>`` (a file or a folder)."""
    target = weights_dir / rel_path
    if not target.exists():
        raise WeightsError(f"{target}: nothing to record")
    entry = {
        "sha256": _files(target),
        "bytes": sum(p.stat().st_size for p in ([target] if target.is_file() else target.rglob("*"))
                     if p.is_file()),
        "command": command,
        "seed": seed,
        "metrics": dict(metrics),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "notes": notes,
    }
    manifest_path = weights_dir / "MANIFEST.json"
    # two recipes finishing at once on one machine must not lose each other's entry
    with open(weights_dir / ".MANIFEST.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        manifest = load_manifest(manifest_path)
        manifest.setdefault("entries", {})[rel_path] = entry
        fd, tmp = tempfile.mkstemp(dir=weights_dir, prefix=".MANIFEST.")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(manifest, fh, indent=2, sort_keys=True, ensure_ascii=False)
            fh.write("\n")
        os.replace(tmp, manifest_path)
    return entry


def verified(rel_path: str, weights_dir: Path = WEIGHTS_DIR) -> Path:
    """Return ``weights/<rel_path>`` after checking every file against the MANIFEST."""
    target = weights_dir / rel_path
    entry = load_manifest(weights_dir / "MANIFEST.json").get("entries", {}).get(rel_path)
    if entry is None:
        raise WeightsError(f"{target}: not listed in {weights_dir / 'MANIFEST.json'}; "
                           "train it with 'deid-node train ...' or restore the file from git")
    if not target.exists():
        raise WeightsError(f"{target}: missing; restore it from git (git checkout -- weights/)")
    actual = _files(target)
    if actual != entry["sha256"]:
        changed = sorted(set(actual.items()) ^ set(entry["sha256"].items()))
        raise WeightsError(f"{target}: sha256 differs from the MANIFEST ({len(changed)} file(s) "
                           "changed); the node will not run on unverified weights. Restore them "
                           "from git or retrain and record them.")
    return target


def lineage(rel_path: str) -> tuple[Path, str, str | None]:
    """For a recipe that trains further from shipped weights (``--init``): the verified
    file, its sha256 and the command that made it, read before ``--out`` may overwrite it."""
    path = verified(rel_path)
    return path, sha256_file(path), load_manifest()["entries"][rel_path].get("command")


def verify_all(weights_dir: Path = WEIGHTS_DIR) -> list[str]:
    """Check every MANIFEST entry; return their names. Raises on the first mismatch."""
    names = sorted(load_manifest(weights_dir / "MANIFEST.json").get("entries", {}))
    for name in names:
        verified(name, weights_dir)
    return names
