"""Structured audit log: JSON lines to a file and to stderr, never a PHI value.

Events carry new UIDs and keyed hashes of original values only. Callers pass values
through :func:`ref` for anything derived from the original header.
"""
from __future__ import annotations

import logging
import os
import sys
import threading
from pathlib import Path
from typing import Any

import structlog

from .sitekey import keyed_hash

_lock = threading.Lock()
_configured: dict[str, Any] = {}


class _JsonLinesFile:
    """Append-only JSON lines file, one write per event so lines from processes do not mix."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def write(self, line: str) -> None:
        os.write(self._fd, (line + "\n").encode("utf-8"))


def configure(path: Path | None, *, key: bytes, stderr: bool = True, component: str = "node") -> None:
    """Set up the process-wide audit logger (call once per process)."""
    sinks: list[Any] = []
    if path is not None:
        sinks.append(_JsonLinesFile(Path(path)))
    renderer = structlog.processors.JSONRenderer(sort_keys=False, ensure_ascii=False)
    echo = stderr

    def emit(_logger: Any, _name: str, event_dict: dict[str, Any]) -> str:
        line = renderer(_logger, _name, event_dict)
        with _lock:
            for sink in sinks:
                sink.write(line)
            if echo:
                print(line, file=sys.stderr, flush=True)
        raise structlog.DropEvent

    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.dict_tracebacks,
            emit,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        cache_logger_on_first_use=False,
    )
    _configured.update(key=key, component=component, pid=os.getpid())


def ref(value: str | None) -> str | None:
    """A keyed hash of an original (PHI-bearing) value, safe for the log."""
    if value in (None, ""):
        return None
    return keyed_hash(_configured.get("key", b"unconfigured"), str(value), purpose="audit")


def event(name: str, **fields: Any) -> None:
    """Write one audit event. *fields* must hold no PHI: new UIDs, hashes, counts, reasons."""
    log = structlog.get_logger("deid_node.audit")
    level = "error" if name == "error" else "info"
    getattr(log, level)(name, component=_configured.get("component", "node"), pid=os.getpid(),
                        **fields)
