"""Scan policy as data: ``rules/pixels.yaml`` → a header-only decision per instance.

The pipeline asks :meth:`ScanRules.decide` first for every instance, so it reads only
header attributes (never the pixel data): a CT original is skipped without decoding.
"""
from __future__ import annotations

import re

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml
from pydicom.dataset import Dataset

from deid_node.config import ConfigError

_WHEN_KEYS = {"modality", "sop_class", "image_type_any", "image_type_none", "burned_in",
              "manufacturer", "model", "rows", "columns", "min_frames"}
_ACTIONS = ("scan", "skip")


@dataclass(frozen=True)
class Region:
    name: str
    boxes: tuple[tuple[int, int, int, int], ...]


@dataclass(frozen=True)
class ScanDecision:
    """What to do with an instance's pixels; truthy when anything will touch them."""

    action: str                       # "skip" | "scan" | "regions" | "scan+regions"
    rule: str                         # name of the scan rule that decided
    regions: tuple[Region, ...] = ()
    reason: str = ""

    @property
    def scan(self) -> bool:
        return self.action in ("scan", "scan+regions")

    def __bool__(self) -> bool:
        return self.action != "skip"


@dataclass(frozen=True)
class _Rule:
    name: str
    when: Mapping[str, Any]
    action: str = "scan"
    boxes: tuple[tuple[int, int, int, int], ...] = ()


def _as_list(v: Any) -> list[str]:
    if v is None:
        return []
    if not isinstance(v, (list, tuple)):
        v = [v]
    # YAML 1.1 reads a bare YES/NO as a boolean: take it back as the DICOM word
    return ["YES" if x is True else "NO" if x is False else str(x) for x in v]


def _values(ds: Dataset, keyword: str) -> list[str]:
    v = ds.get(keyword)
    if v is None or v == "":
        return []
    if isinstance(v, (list, tuple)) or type(v).__name__ == "MultiValue":
        return [str(x).strip().upper() for x in v]
    return [str(v).strip().upper()]


def _matches(when: Mapping[str, Any], ds: Dataset) -> bool:
    if "modality" in when:
        if str(ds.get("Modality", "")).strip().upper() not in {m.upper() for m in _as_list(when["modality"])}:
            return False
    if "sop_class" in when:
        if str(ds.get("SOPClassUID", "")).strip() not in set(_as_list(when["sop_class"])):
            return False
    itype = set(_values(ds, "ImageType"))
    if "image_type_any" in when and not itype & {v.upper() for v in _as_list(when["image_type_any"])}:
        return False
    if "image_type_none" in when and itype & {v.upper() for v in _as_list(when["image_type_none"])}:
        return False
    if "burned_in" in when:
        val = str(ds.get("BurnedInAnnotation", "") or "").strip().upper() or "MISSING"
        if val not in {v.upper() for v in _as_list(when["burned_in"])}:
            return False
    for key, kw in (("manufacturer", "Manufacturer"), ("model", "ManufacturerModelName")):
        if key in when:
            have = str(ds.get(kw, "") or "").lower()
            if not any(w.lower() in have for w in _as_list(when[key])) or not have:
                return False
    for key, kw in (("rows", "Rows"), ("columns", "Columns")):
        if key in when and int(ds.get(kw, -1) or -1) not in {int(x) for x in _as_list(when[key])}:
            return False
    if "min_frames" in when and int(ds.get("NumberOfFrames", 1) or 1) < int(when["min_frames"]):
        return False
    return True


@dataclass
class ScanRules:
    scan_rules: list[_Rule] = field(default_factory=list)
    regions: list[_Rule] = field(default_factory=list)
    source: str = "<default>"
    phi_labels: tuple[str, ...] = ()
    phi_patterns: tuple[Any, ...] = ()   # compiled regular expressions
    safe_words: frozenset[str] = frozenset()  # upper-cased device/setting terms
    phi_context_labels: tuple[str, ...] = ()  # a box read as only one of these: PHI context
    phi_words: tuple[str, ...] = ()  # a reading holding one of these names an institution

    @classmethod
    def load(cls, path: Path) -> "ScanRules":
        """Parse and validate the rules file; errors name the file and the entry."""
        if not Path(path).is_file():
            raise ConfigError(f"{path}: pixel rules file not found; restore rules/pixels.yaml "
                              "from git or point pixels.rules at your copy")
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from None
        return cls.from_mapping(data, str(path))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str) -> "ScanRules":
        unknown = set(data) - {"version", "scan_rules", "regions", "phi_labels", "phi_patterns",
                              "safe_words", "phi_context_labels", "phi_words"}
        if unknown:
            raise ConfigError(f"{source}: unknown top-level key(s) {sorted(unknown)}; expected "
                              "version, scan_rules, regions, phi_labels, phi_patterns, "
                              "safe_words, phi_context_labels, phi_words")
        rules = []
        for i, r in enumerate(data.get("scan_rules") or []):
            where = f"{source}: scan_rules[{i}]"
            rules.append(_parse(r, where, need_action=True))
        if not rules:
            raise ConfigError(f"{source}: scan_rules is empty; without it nothing is scanned")
        regions = []
        for i, r in enumerate(data.get("regions") or []):
            regions.append(_parse(r, f"{source}: regions[{i}]", need_action=False))
        labels = data.get("phi_labels") or []
        if not isinstance(labels, list) or not all(isinstance(x, str) and x for x in labels):
            raise ConfigError(f"{source}: phi_labels must be a list of words")
        pats = data.get("phi_patterns") or []
        if not isinstance(pats, list) or not all(isinstance(x, str) and x for x in pats):
            raise ConfigError(f"{source}: phi_patterns must be a list of regular expressions")
        compiled = []
        for i, pat in enumerate(pats):
            try:
                compiled.append(re.compile(pat))
            except re.error as exc:
                raise ConfigError(f"{source}: phi_patterns[{i}] {pat!r}: {exc}") from exc
        safe = data.get("safe_words") or []
        if not isinstance(safe, list) or not all(isinstance(x, str) and x.strip() for x in safe):
            raise ConfigError(f"{source}: safe_words must be a list of words")
        ctx = data.get("phi_context_labels") or []
        if not isinstance(ctx, list) or not all(isinstance(x, str) and x.strip() for x in ctx):
            raise ConfigError(f"{source}: phi_context_labels must be a list of labels")
        words = data.get("phi_words") or []
        if not isinstance(words, list) or not all(isinstance(x, str) and x.strip() for x in words):
            raise ConfigError(f"{source}: phi_words must be a list of words")
        return cls(rules, regions, source, tuple(labels), tuple(compiled),
                   frozenset(w.strip().upper() for w in safe), tuple(x.strip() for x in ctx),
                   tuple(x.strip() for x in words))

    def decide(self, ds: Dataset) -> ScanDecision:
        """Header only. No PixelData → skip; otherwise the first matching rule."""
        if "PixelData" not in ds and "FloatPixelData" not in ds and \
                "DoubleFloatPixelData" not in ds:
            return ScanDecision("skip", "no-pixel-data", (), "the instance has no pixel data")
        regions = tuple(Region(r.name, r.boxes) for r in self.regions if _matches(r.when, ds))
        for rule in self.scan_rules:
            if _matches(rule.when, ds):
                scan = rule.action == "scan"
                break
        else:  # no rule matched: fail closed
            rule, scan = _Rule("no-rule-matched", {}), True
        if scan:
            action = "scan+regions" if regions else "scan"
        else:
            action = "regions" if regions else "skip"
        return ScanDecision(action, rule.name, regions, f"rule {rule.name!r}")


def _parse(r: Any, where: str, need_action: bool) -> _Rule:
    if not isinstance(r, Mapping):
        raise ConfigError(f"{where}: must be a mapping with name, when and "
                          f"{'action' if need_action else 'boxes'}")
    allowed = {"name", "when", "action"} if need_action else {"name", "when", "boxes"}
    extra = set(r) - allowed
    if extra:
        raise ConfigError(f"{where}: unknown key(s) {sorted(extra)}; allowed: {sorted(allowed)}")
    when = r.get("when") or {}
    if not isinstance(when, Mapping):
        raise ConfigError(f"{where}.when: must be a mapping of conditions")
    bad = set(when) - _WHEN_KEYS
    if bad:
        raise ConfigError(f"{where}.when: unknown condition(s) {sorted(bad)}; allowed: "
                          f"{sorted(_WHEN_KEYS)}")
    name = str(r.get("name") or where)
    if need_action:
        action = str(r.get("action", ""))
        if action not in _ACTIONS:
            raise ConfigError(f"{where}.action: must be one of {_ACTIONS}, got {action!r}")
        return _Rule(name, dict(when), action)
    boxes = []
    for j, b in enumerate(r.get("boxes") or []):
        if (not isinstance(b, (list, tuple)) or len(b) != 4
                or not all(isinstance(v, int) and v >= 0 for v in b) or b[2] <= b[0] or b[3] <= b[1]):
            raise ConfigError(f"{where}.boxes[{j}]: must be [x0, y0, x1, y1] non-negative "
                              f"integers with x1 > x0 and y1 > y0, got {b!r}")
        boxes.append(tuple(b))
    if not boxes:
        raise ConfigError(f"{where}: a region rule needs at least one box")
    return _Rule(name, dict(when), "region", tuple(boxes))
