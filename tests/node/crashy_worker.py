"""Worker functions for the dispatcher tests: run in real spawned worker processes.

A job whose bytes start with POISON kills its process, as a crashing codec would; one
that starts with FLAKY raises an ordinary error; any other job "succeeds" by naming a
ready/ result.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def init(settings: Any) -> None:
    pass


def run(paths: list[str]) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    for path in paths:
        head = Path(path).read_bytes()[:6]
        if head == b"POISON":
            os._exit(3)
        results.append({"error": "OSError"} if head == b"FLAKY!" else {"ready": path + ".ready"})
    return results
