"""Profile settings and the compiled rule table (rules/ as data -> one action per tag).

The Basic Profile action of each Table E.1-1 row is changed by every selected option that
lists the row; when several options change one row the safest of their actions wins, and a
site override replaces the result. Compound codes stay compound here: they depend on the
instance (is the attribute present, what Type is it) and are resolved in :mod:`actions`.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from ..config import PROJECT_ROOT, ConfigError, Section

RULES_DIR = PROJECT_ROOT / "rules"
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)   # libyaml: 10x faster, same safety
OPTION_ORDER = (
    "clean_pixel_data", "clean_recognizable_visual_features", "clean_graphics",
    "clean_structured_content", "clean_descriptors", "retain_longitudinal_full_dates",
    "retain_longitudinal_modified_dates", "retain_patient_characteristics",
    "retain_device_identity", "retain_uids", "retain_safe_private",
    "retain_institution_identity",
)
# Options the tag engine applies itself (the two pixel options belong to the pixel stage).
TAG_OPTIONS = frozenset(OPTION_ORDER[2:])
DEFAULT_OPTIONS = (
    "retain_longitudinal_modified_dates", "retain_patient_characteristics",
    "retain_device_identity", "clean_descriptors", "clean_structured_content",
    "clean_graphics", "retain_safe_private",
)
TEMPORAL_OPTIONS = frozenset({"retain_longitudinal_full_dates",
                              "retain_longitudinal_modified_dates"})
# Safer first: when two selected options disagree on a row, the earlier action wins.
SAFETY_ORDER = ("X", "Z", "D", "U", "C", "K")
SIMPLE_ACTIONS = frozenset({"D", "Z", "X", "K", "C", "U"})
COMPOUND_ACTIONS = frozenset({"Z/D", "X/Z", "X/D", "X/Z/D", "X/Z/U*"})
_PREFIX = re.compile(r"^[A-Z0-9_-]{1,16}$")
_TAG = re.compile(r"^\(([0-9A-F]{2}[0-9A-FX]{2}),([0-9A-FX]{4})\)$")
_PROFILE_KEYS = {"options", "rules_dir", "site_overrides", "safe_private", "pseudonym_prefix",
                 "key_file", "crosswalk"}
_CROSSWALK_KEYS = {"enabled", "path"}


@dataclass(frozen=True)
class ProfileSettings:
    """The `profile` section of the config: which options, where the rules and key live."""

    options: tuple[str, ...] = DEFAULT_OPTIONS
    rules_dir: Path = RULES_DIR
    site_overrides: Path = RULES_DIR / "site-overrides.yaml"
    safe_private: Path = RULES_DIR / "safe-private.yaml"
    pseudonym_prefix: str = "DEID"
    key_file: Path = PROJECT_ROOT / "var" / "site.key"
    crosswalk_enabled: bool = False
    crosswalk_path: Path = PROJECT_ROOT / "var" / "crosswalk.jsonl"

    @classmethod
    def default(cls) -> "ProfileSettings":
        return cls()

    @classmethod
    def from_section(cls, section: Section) -> "ProfileSettings":
        """Parse and validate the `profile` section; every error names its key."""
        for key in section.keys():
            if key not in _PROFILE_KEYS:
                raise section._fail(key, f"is not a profile setting; known: "
                                         f"{', '.join(sorted(_PROFILE_KEYS))}")
        d = cls()
        options = tuple(section.str_list("options", list(DEFAULT_OPTIONS)))
        for opt in options:
            if opt not in TAG_OPTIONS:
                raise section._fail("options", f"has unknown option {opt!r}; known: "
                                               f"{', '.join(sorted(TAG_OPTIONS))}")
        if TEMPORAL_OPTIONS <= set(options):
            raise section._fail("options", "cannot hold both retain_longitudinal_full_dates "
                                           "and retain_longitudinal_modified_dates; pick one")
        prefix = section.str("pseudonym_prefix", d.pseudonym_prefix)
        if not _PREFIX.match(prefix):
            raise section._fail("pseudonym_prefix", "must be 1-16 characters of A-Z 0-9 _ -, "
                                                    f"got {prefix!r}")
        cw = section.section("crosswalk")
        for key in cw.keys():
            if key not in _CROSSWALK_KEYS:
                raise cw._fail(key, "is not a crosswalk setting; known: enabled, path")
        rules_dir = section.path("rules_dir", str(d.rules_dir))
        return cls(
            options=tuple(dict.fromkeys(options)),
            rules_dir=rules_dir,
            site_overrides=section.path("site_overrides", str(rules_dir / "site-overrides.yaml")),
            safe_private=section.path("safe_private", str(rules_dir / "safe-private.yaml")),
            pseudonym_prefix=prefix,
            key_file=section.path("key_file", str(d.key_file)),
            crosswalk_enabled=cw.bool("enabled", False),
            crosswalk_path=cw.path("path", str(d.crosswalk_path)),
        )

    def has(self, option: str) -> bool:
        return option in self.options


@dataclass(frozen=True)
class Rule:
    """The action for one attribute (or group wildcard) under the selected profile."""

    tag: str
    name: str
    action: str            # D Z X K C U or a compound code
    basic: str             # the Basic Profile action: the fail-closed fallback for C
    origin: str            # "basic", the option that set the action, or "site"
    keyword: str = ""


@dataclass
class RuleSet:
    """All rule files, loaded and compiled once per worker process."""

    exact: dict[int, Rule]
    masked: list[tuple[int, int, Rule]]          # (mask, value, rule) for 50XX/60XX rows
    private: Rule
    policy: Mapping[str, Any]
    safe_private: dict[tuple[str, int, int], Mapping[str, Any]]
    options_meta: Mapping[str, Mapping[str, str]]
    edition: str
    fingerprint: str
    overrides: dict[str, Rule] = field(default_factory=dict)

    def lookup(self, tag: int) -> Rule | None:
        rule = self.exact.get(tag)
        if rule is not None:
            return rule
        for mask, value, r in self.masked:
            if tag & mask == value:
                return r
        return None


def _read_yaml(path: Path, what: str) -> Any:
    if not path.is_file():
        raise ConfigError(f"{path}: {what} not found; restore it from the repository's rules/")
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None


def _parse_tag(text: str, where: str) -> tuple[int, int]:
    """'(gggg,eeee)' with X wildcards -> (mask, value)."""
    m = _TAG.match(str(text).strip().upper())
    if not m:
        raise ConfigError(f"{where}: tag {text!r} must look like (0008,0080) or (60XX,3000)")
    digits = m.group(1) + m.group(2)
    mask = int("".join("0" if c == "X" else "F" for c in digits), 16)
    value = int(digits.replace("X", "0"), 16)
    return mask, value


def _effective(row: Mapping[str, Any], options: tuple[str, ...]) -> tuple[str, str]:
    chosen = [(row["options"][o], o) for o in options if o in (row.get("options") or {})]
    if not chosen:
        return row["basic"], "basic"
    chosen.sort(key=lambda ao: (SAFETY_ORDER.index(ao[0]) if ao[0] in SAFETY_ORDER else 0))
    return chosen[0]


def _load_safe_private(path: Path) -> dict[tuple[str, int, int], Mapping[str, Any]]:
    data = _read_yaml(path, "safe private list") or {}
    out: dict[tuple[str, int, int], Mapping[str, Any]] = {}
    for i, entry in enumerate(data.get("entries") or []):
        where = f"{path}: entries[{i}]"
        for key in ("creator", "element", "vr", "source"):
            if not entry.get(key):
                raise ConfigError(f"{where}: '{key}' is required (every safe entry needs a source)")
        m = re.match(r"^\(([0-9A-F]{4}),XX([0-9A-F]{2})\)$", str(entry["element"]).upper())
        if not m or int(m.group(1), 16) % 2 == 0:
            raise ConfigError(f"{where}: element {entry['element']!r} must look like (0019,xx0C) "
                              "with an odd group")
        if "pattern" in entry:
            re.compile(entry["pattern"])
        out[(str(entry["creator"]).strip(), int(m.group(1), 16), int(m.group(2), 16))] = entry
    return out


def load_rules(settings: ProfileSettings) -> RuleSet:
    """Read rules/ and compile the actions for *settings* (fails with a ConfigError)."""
    annex_path = Path(settings.rules_dir) / "annex-e.yaml"
    annex = _read_yaml(annex_path, "Annex E rule file")
    policy = _read_yaml(Path(settings.rules_dir) / "policy.yaml", "policy file") or {}
    site = _read_yaml(Path(settings.site_overrides), "site override file") or {}
    digest = hashlib.sha256()
    for p in (annex_path, Path(settings.rules_dir) / "policy.yaml", Path(settings.site_overrides),
              Path(settings.safe_private)):
        digest.update(p.read_bytes())
    exact: dict[int, Rule] = {}
    masked: list[tuple[int, int, Rule]] = []
    private: Rule | None = None
    for row in annex.get("rules") or []:
        action, origin = _effective(row, settings.options)
        rule = Rule(row["tag"], row["name"], action, row["basic"], origin, row.get("keyword", ""))
        if row["tag"] == "private":
            private = rule
            continue
        mask, value = _parse_tag(row["tag"], str(annex_path))
        if mask == 0xFFFFFFFF:
            exact[value] = rule
        else:
            masked.append((mask, value, rule))
    if private is None or len(exact) + len(masked) + 1 != annex.get("row_count"):
        raise ConfigError(f"{annex_path}: incomplete rule file; regenerate it with "
                          "python -m deid_node.tags.build_rules")
    overrides: dict[str, Rule] = {}
    for i, entry in enumerate(site.get("overrides") or []):
        where = f"{settings.site_overrides}: overrides[{i}]"
        if not isinstance(entry, Mapping) or set(entry) - {"tag", "action", "reason"}:
            raise ConfigError(f"{where}: each override has tag, action and reason only")
        action = str(entry.get("action", ""))
        if action not in SIMPLE_ACTIONS:
            raise ConfigError(f"{where}: action {action!r} must be one of D Z X K C U")
        if not entry.get("reason"):
            raise ConfigError(f"{where}: 'reason' is required (overrides are audited)")
        mask, value = _parse_tag(entry.get("tag", ""), where)
        old = exact.get(value) if mask == 0xFFFFFFFF else None
        rule = Rule(str(entry["tag"]).upper(), old.name if old else "site override", action,
                    old.basic if old else "X", "site", old.keyword if old else "")
        overrides[rule.tag] = rule
        if mask == 0xFFFFFFFF:
            exact[value] = rule
        else:
            masked.insert(0, (mask, value, rule))
    return RuleSet(exact, masked, private, policy, _load_safe_private(Path(settings.safe_private)),
                   annex.get("options") or {}, str(annex.get("edition", "")),
                   digest.hexdigest()[:12], overrides)
