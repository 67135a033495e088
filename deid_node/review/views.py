"""What the console's pages show: filtered, sorted, grouped lists; PHI-free report views;
a readable header dump. Pure functions over the quarantine's entries, easy to test."""
from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterable

from pydicom.dataset import Dataset

from deid_node.quarantine import Entry

SORTS = {"received": lambda e: e.created_at,
         "image-uncertainty": lambda e: getattr(e, "image_uncertainty", None) or 0.0,
         "header-uncertainty": lambda e: e.uncertainty or 0.0,
         "modality": lambda e: e.modality or "", "reason": lambda e: e.reason,
         "stage": lambda e: e.stage}
PHI_KEYS = {"box_texts", "message", "traceback", "texts", "error"}
HIDDEN = "(hidden: PHI, use Reveal)"


@dataclass(frozen=True)
class Filters:
    reason: str = ""
    modality: str = ""
    date_from: str = ""
    date_to: str = ""
    state: str = "held"
    sort: str = "received"
    order: str = "desc"
    page: int = 1

    @classmethod
    def parse(cls, q: Any) -> "Filters":
        def date(v: str) -> str:
            try:
                return dt.date.fromisoformat(v).isoformat() if v else ""
            except ValueError:
                return ""
        try:
            page = max(1, int(q.get("page", "1")))
        except ValueError:
            page = 1
        sort = q.get("sort", "received")
        return cls(reason=q.get("reason", "")[:64], modality=q.get("modality", "")[:16],
                   date_from=date(q.get("date_from", "")), date_to=date(q.get("date_to", "")),
                   state=q.get("state", "held") if q.get("state", "held") in
                   ("held", "released", "rejected", "reprocessed", "all") else "held",
                   sort=sort if sort in SORTS else "received",
                   order="asc" if q.get("order") == "asc" else "desc", page=page)

    def query(self, **change: Any) -> dict[str, Any]:
        d = {**self.__dict__, **change}
        return {k: v for k, v in d.items() if v not in ("", None)}


class Row:
    """An index entry plus what only its report knows (the image uncertainty)."""

    def __init__(self, entry: Entry, image_uncertainty: float | None) -> None:
        self.entry = entry
        self.image_uncertainty = image_uncertainty

    def __getattr__(self, name: str) -> Any:
        return getattr(self.entry, name)


class ReportFacts:
    """Image uncertainty per entry, read from report.json once per filing (not per page)."""

    def __init__(self, q: Any) -> None:
        self.q = q
        self._cache: dict[str, tuple[float, float | None]] = {}

    def rows(self, entries: Iterable[Entry]) -> list[Row]:
        out = []
        for e in entries:
            hit = self._cache.get(e.id)
            if hit is None or hit[0] != e.updated_at:
                try:
                    unc = (self.q.report(e.id).get("pixels") or {}).get("uncertainty")
                except (OSError, ValueError):
                    unc = None
                hit = (e.updated_at, float(unc) if isinstance(unc, (int, float)) else None)
                self._cache[e.id] = hit
            out.append(Row(e, hit[1]))
        return out


def local_date(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts).date().isoformat()


def filtered(entries: Iterable[Any], f: Filters) -> list[Any]:
    out = []
    for e in entries:
        if f.reason and e.reason != f.reason:
            continue
        if f.modality and (e.modality or "") != f.modality:
            continue
        day = local_date(e.created_at)
        if f.date_from and day < f.date_from or f.date_to and day > f.date_to:
            continue
        out.append(e)
    return out


def ordered(entries: list[Any], f: Filters) -> list[Any]:
    """Sorted by the chosen key, then grouped by study and series in order of first sight,
    so a series stays together on the page."""
    items = sorted(entries, key=SORTS[f.sort], reverse=f.order == "desc")
    studies: dict[str, dict[str, list[Any]]] = {}
    for e in items:
        studies.setdefault(e.study_uid or "", {}).setdefault(e.series_uid or "", []).append(e)
    return [e for series in studies.values() for group in series.values() for e in group]


def counts(entries: Iterable[Any], attr: str) -> list[tuple[str, int]]:
    return Counter(getattr(e, attr) or "-" for e in entries).most_common()


def page(items: list[Any], number: int, size: int) -> tuple[list[Any], int]:
    pages = max(1, (len(items) + size - 1) // size)
    number = min(number, pages)
    return items[(number - 1) * size: number * size], pages


def without_phi(obj: Any) -> Any:
    """The report minus what may hold PHI (OCR text, error messages)."""
    if isinstance(obj, dict):
        return {k: (HIDDEN if k in PHI_KEYS and v not in (None, [], "") else without_phi(v))
                for k, v in obj.items()}
    if isinstance(obj, list):
        return [without_phi(v) for v in obj]
    return obj


def reasons(report: dict[str, Any]) -> list[str]:
    holds = report.get("holds") or []
    out = [f"{stage}: {reason}" for stage, reason in holds] if holds else []
    if not out and report.get("reason"):
        out.append(f"{report.get('stage', '?')}: {report['reason']}")
    if report.get("leaks"):
        out.append(f"leak check: {len(report['leaks'])} hit(s) at " +
                   ", ".join(str(leak.get("path", "?")) for leak in report["leaks"][:5]))
    return out


def box_texts(report: dict[str, Any]) -> dict[int, str]:
    """OCR text by box index. The redactor lists rule regions first, without text."""
    pixels = report.get("pixels") or {}
    boxes = pixels.get("boxes") or []
    texts = pixels.get("box_texts") or []
    offset = sum(1 for b in boxes if b.get("decision") == "region")
    return {offset + i: t for i, t in enumerate(texts) if offset + i < len(boxes)}


def header_lines(ds: Dataset, depth: int = 0, limit: int = 4000) -> list[dict[str, str]]:
    """One row per element (pixel data and other bulk data shown by size only)."""
    rows: list[dict[str, str]] = []
    for elem in ds:
        if len(rows) >= limit:
            break
        tag = f"({elem.tag.group:04X},{elem.tag.element:04X})"
        if elem.VR == "SQ":
            rows.append({"tag": tag, "name": elem.keyword or elem.name, "vr": "SQ",
                         "value": f"{len(elem.value)} item(s)", "depth": str(depth)})
            for i, item in enumerate(elem.value):
                rows.append({"tag": "", "name": f"item {i + 1}", "vr": "", "value": "",
                             "depth": str(depth + 1)})
                rows.extend(header_lines(item, depth + 2, limit - len(rows)))
            continue
        if elem.VR in ("OB", "OW", "OF", "OD", "OL", "OV", "UN") or elem.tag == 0x7FE00010:
            size = len(elem.value) if isinstance(elem.value, (bytes, bytearray)) else 0
            value = f"<{size} bytes>"
        else:
            value = str(elem.value)
            if len(value) > 200:
                value = value[:200] + "…"
        rows.append({"tag": tag, "name": elem.keyword or elem.name, "vr": elem.VR, "value": value,
                     "depth": str(depth)})
    return rows
