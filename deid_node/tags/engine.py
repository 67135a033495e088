"""The tag rule engine: every element of an instance gets exactly one decision.

Order of a run: file meta, then the dataset depth-first (sequences at any depth), free text
batched through the PHI analyzer at the end (tier 2), then the de-identification marks.
Pixel data is never read: its elements are kept without being converted or decoded.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from ..identity import Identity
from . import charsets, dates, freetext, structured
from .profile import (OPTION_ORDER, TEMPORAL_OPTIONS, ProfileSettings, Rule, RuleSet,
                      load_rules)
from .pseudonym import Crosswalk, Pseudonymizer

charsets.apply_fixes()

CID_7050 = {
    "113100": "Basic Application Confidentiality Profile",
    "113101": "Clean Pixel Data Option",
    "113102": "Clean Recognizable Visual Features Option",
    "113103": "Clean Graphics Option",
    "113104": "Clean Structured Content Option",
    "113105": "Clean Descriptors Option",
    "113106": "Retain Longitudinal Temporal Information Full Dates Option",
    "113107": "Retain Longitudinal Temporal Information Modified Dates Option",
    "113108": "Retain Patient Characteristics Option",
    "113109": "Retain Device Identity Option",
    "113110": "Retain UIDs Option",
    "113111": "Retain Safe Private Option",
    "113112": "Retain Institution Identity Option",
}
_OPTION_CODE = {"clean_pixel_data": "113101", "clean_recognizable_visual_features": "113102",
                "clean_graphics": "113103", "clean_structured_content": "113104",
                "clean_descriptors": "113105", "retain_longitudinal_full_dates": "113106",
                "retain_longitudinal_modified_dates": "113107",
                "retain_patient_characteristics": "113108", "retain_device_identity": "113109",
                "retain_uids": "113110", "retain_safe_private": "113111",
                "retain_institution_identity": "113112"}
_PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})
_PATIENT_NAME, _PATIENT_ID = 0x00100010, 0x00100020
_SOP_INSTANCE_UID = 0x00080018
_MARK_TAGS = frozenset({0x00120062, 0x00120063, 0x00120064, 0x00280303})
_TEXT_VRS = frozenset({"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST",
                       "TM", "UC", "UI", "UR", "UT"})
_NUMERIC_VRS = frozenset({"FL", "FD", "SL", "SS", "UL", "US", "SV", "UV", "AT"})
_BINARY_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})
_PLAIN_VRS = _TEXT_VRS | _NUMERIC_VRS | {"SQ", "OB", "OW", "OF", "OD", "OL", "OV"}
_KEEPABLE_ON_C = frozenset({"CS", "DS", "IS"}) | _NUMERIC_VRS
_IS = re.compile(r"^[ ]*[+-]?\d{1,12}[ ]*$")
_DS = re.compile(r"^[ ]*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?[ ]*$")
_CS = re.compile(r"^[A-Z0-9 _]{0,16}$")


class TagEngineError(RuntimeError):
    """The engine could not finish an instance; the pipeline quarantines it."""


@dataclass
class TagReport:
    """What the tag stage did, as counts only: it never holds a value from the instance."""

    actions: dict[str, int] = field(default_factory=dict)
    private_removed: int = 0
    private_kept: int = 0
    tier2_elements: int = 0
    tier2_spans: dict[str, int] = field(default_factory=dict)
    tier2_fail_closed: int = 0      # free texts replaced because no analyzer could clean them
    uncertainty: float = 0.0
    uncertain_spans: int = 0
    unreadable_removed: int = 0
    compound_resolved: dict[str, int] = field(default_factory=dict)
    codes: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    rules_fingerprint: str = ""
    dates_shifted: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Job:
    ds: Dataset
    tag: int
    vr: str
    values: list[str]
    fallback: str


@dataclass
class _Run:
    identity: Identity
    offset: int
    basis: str
    actions: Counter = field(default_factory=Counter)
    compound: Counter = field(default_factory=Counter)
    jobs: list[_Job] = field(default_factory=list)
    private_removed: int = 0
    private_kept: int = 0
    unreadable: int = 0
    shifted: int = 0
    tier2_fail_closed: int = 0


def _values(elem: Any) -> list[Any]:
    v = elem.value
    if v is None or v == "":
        return []
    if isinstance(v, (list, tuple)) or type(v).__name__ == "MultiValue":
        return list(v)
    return [v]


def _set_values(elem: Any, values: list[Any]) -> None:
    if not values:
        elem.value = "" if elem.VR in _TEXT_VRS else None
    else:
        elem.value = values[0] if len(values) == 1 else values


def _raw_vr(ds: Dataset, tag: Any) -> str | None:
    """The VR of an element without converting its value; None when only conversion can
    tell (implicit VR not in the dictionary, or UN that pydicom may resolve)."""
    raw = ds.get_item(tag)
    vr = getattr(raw, "VR", None)
    if vr is None:
        try:
            vr = dictionary_VR(tag)
        except KeyError:
            return None
        return vr if vr in _PLAIN_VRS else None
    return None if vr == "UN" else vr


def patient_basis(ds: Dataset) -> str:
    """What a patient's pseudonym and date offset are derived from (in order of trust)."""
    def text(tag: int) -> str:
        elem = ds.get(tag)
        return str(elem.value).strip() if elem is not None and elem.value not in (None, "") else ""

    pid = text(_PATIENT_ID)
    if pid:
        return "id:" + pid
    name = text(_PATIENT_NAME)
    if name:
        return "name:" + name + "|" + text(0x00100030)
    for tag, kind in ((0x0020000D, "study:"), (_SOP_INSTANCE_UID, "sop:")):
        value = text(tag)
        if value:
            return kind + value
    return "unknown"


class TagEngine:
    """PS3.15 Annex E rule engine; build once per worker process, then `apply` per instance."""

    def __init__(self, settings: ProfileSettings, key: bytes, analyzer: Any = None) -> None:
        self.settings = settings
        self.rules: RuleSet = load_rules(settings)
        policy = self.rules.policy
        shift = policy.get("date_shift") or {}
        crosswalk = Crosswalk(settings.crosswalk_path) if settings.crosswalk_enabled else None
        self.pseudo = Pseudonymizer(key, settings.pseudonym_prefix,
                                    min_days=int(shift.get("min_days", 1)),
                                    max_days=int(shift.get("max_days", 3652)),
                                    crosswalk=crosswalk)
        self.analyzer = analyzer
        self.options = tuple(o for o in OPTION_ORDER if o in settings.options)
        self.dummies: dict[str, str] = {k: str(v) for k, v in (policy.get("dummies") or {}).items()}
        self.not_in_table: dict[str, str] = dict(policy.get("not_in_table") or {})
        self.compound_types: dict[str, int] = dict(policy.get("compound_types") or {})
        self.free_text_vrs = frozenset(policy.get("free_text_vrs") or ())
        self.observer = dict(policy.get("observer_context") or {})
        age = policy.get("age") or {}
        self.age_max = int(age.get("max_years", 89))
        self.age_cap = str(age.get("cap_value", "090Y"))
        self.dummy_code = dict(policy.get("dummy_code") or {"CodeValue": "REMOVED",
                                                           "CodingSchemeDesignator": "99DEID",
                                                           "CodeMeaning": "removed"})
        self.uid_keep = frozenset(policy.get("uid_keep_keywords") or ())
        self.clean_fallback = str(policy.get("clean_fallback", "X"))
        self.remove_overlays = policy.get("overlays", "remove") == "remove"
        self.remove_curves = policy.get("curves", "remove") == "remove"
        self.keep_reference_sequences = bool(policy.get("reference_sequences_keep", True))
        self.meta_remove = [int(t.strip("()").replace(",", ""), 16)
                            for t in policy.get("file_meta_remove") or ()]
        self.modified_dates = settings.has("retain_longitudinal_modified_dates")
        self.full_dates = settings.has("retain_longitudinal_full_dates")
        self.clean_sr = settings.has("clean_structured_content")
        self.safe_private_on = settings.has("retain_safe_private")
        self._method = (f"deid-node PS3.15 Basic Profile, {len(self.options)} options, "
                        f"rules {self.rules.fingerprint}")[:64]
        # what D writes: the leak check does not take these for the instance's own values
        self.written_values = frozenset([*self.dummies.values(),
                                         *map(str, self.dummy_code.values())])

    @classmethod
    def from_settings(cls, settings: ProfileSettings, analyzer: Any = None, *,
                      create_key: bool = True) -> "TagEngine":
        """Build with the site key of ``settings.key_file`` (created 0600, with a warning on
        stderr, when missing and *create_key*)."""
        from ..sitekey import load_or_create
        return cls(settings, load_or_create(settings.key_file, create=create_key), analyzer)

    # ------------------------------------------------------------------ public
    def apply(self, ds: Dataset, identity: Identity, extra_codes: Sequence[str] = ()) -> TagReport:
        """De-identify *ds* in place (file meta included) and say what was done."""
        for code in extra_codes:
            if code not in CID_7050:
                raise ValueError(f"extra code {code!r} is not a CID 7050 code; expected one of "
                                 f"{', '.join(sorted(CID_7050))}")
        basis = patient_basis(ds)
        run = _Run(identity=identity, offset=self.pseudo.date_offset_days(basis), basis=basis)
        self._record_crosswalk(ds, basis, run)
        self._walk(ds, run, in_content=False, root=True)
        stats = self._tier2(run)
        codes = self._mark(ds, extra_codes)
        self._file_meta(ds)
        return TagReport(
            actions={k: v for k, v in sorted(run.actions.items()) if v},
            private_removed=run.private_removed, private_kept=run.private_kept, tier2_elements=stats.elements,
            tier2_spans=dict(sorted(stats.spans.items())),
            tier2_fail_closed=run.tier2_fail_closed,
            uncertainty=round(min(1.0, max(0.0, stats.uncertainty)), 4),
            uncertain_spans=stats.uncertain_spans, unreadable_removed=run.unreadable,
            compound_resolved=dict(sorted(run.compound.items())), codes=codes,
            options=self.options, rules_fingerprint=self.rules.fingerprint,
            dates_shifted=run.shifted)

    # ------------------------------------------------------------------ walk
    def _walk(self, ds: Dataset, run: _Run, in_content: bool, root: bool = False) -> None:
        creators: list[int] = []
        creator_names: dict[int, str] = {}
        kept_blocks: set[tuple[int, int]] = set()
        observer = structured.observer_action(ds, self.observer, self.options) \
            if in_content else None
        local_basis: str | None = None
        for tag in list(ds.keys()):
            t = int(tag)
            group, elem_no = t >> 16, t & 0xFFFF
            if t in _PIXEL_TAGS:
                run.actions["K"] += 1                      # never converted, never decoded
                continue
            if group & 1 and not 0x0010 <= elem_no <= 0x00FF \
                    and self._safe_entry(ds, t, creator_names) is None:
                del ds[tag]                                # removed unconverted: fast
                run.private_removed += 1
                run.actions["X"] += 1
                continue
            if root and t in _MARK_TAGS:
                continue                                    # rewritten by _mark
            if not group & 1:
                # Decide from the tag and the VR before converting the value: most elements
                # are removed or kept as they are, and pydicom's conversion is the cost.
                vr = _raw_vr(ds, tag)
                if vr is not None:
                    action, rule = self._decide(ds, t, vr, in_content, observer)
                    if action == "X" and t not in (_PATIENT_NAME, _PATIENT_ID):
                        del ds[tag]
                        run.actions["X"] += 1
                        continue
                    if action == "K" and vr not in ("SQ", "AS"):
                        run.actions["K"] += 1
                        continue
            try:
                elem = ds[tag]
                vr = elem.VR
            except Exception:
                self._drop(ds, t, run, unreadable=True)
                continue
            if group & 1:
                if 0x0010 <= elem_no <= 0x00FF:
                    creators.append(t)
                elif self._private(ds, elem, run, creator_names):
                    kept_blocks.add((group, elem_no >> 8))
                continue
            if (t in (_PATIENT_NAME, _PATIENT_ID)) and local_basis is None:
                local_basis = run.basis if root else patient_basis(ds)
            action, rule = self._decide(ds, t, vr, in_content, observer)
            try:
                self._do(ds, t, elem, vr, action, rule, run, in_content, local_basis)
            except TagEngineError:
                raise
            except Exception:
                self._drop(ds, t, run, unreadable=True)
        for c in creators:
            if (c >> 16, c & 0xFF) not in kept_blocks:
                del ds[c]
                run.actions["X"] += 1

    def _decide(self, ds: Dataset, t: int, vr: str, in_content: bool,
                observer: str | None) -> tuple[str, Rule | None]:
        group, elem_no = t >> 16, t & 0xFFFF
        if group == 0x0002 or elem_no == 0x0000:
            return "X", None                              # meta in the body, group lengths
        if 0x6000 <= group <= 0x601E and self.remove_overlays and \
                not any(k.startswith("(60") for k in self.rules.overrides):
            return "X", None
        if 0x5000 <= group <= 0x501E and self.remove_curves:
            return "X", None
        if in_content:
            if observer is not None and t in structured.VALUE_TAGS:
                return observer, None
            if t == structured.TEXT_VALUE:
                return ("C" if self.clean_sr else "D"), None
        rule = self.rules.lookup(t)
        if rule is not None:
            return rule.action, rule
        if not keyword_for_tag(t):
            return "X", None                              # unknown even-group element
        action = self.not_in_table.get(vr, self.not_in_table.get("default", "X"))
        if action == "date":
            if self.modified_dates:
                return "C", None
            return ("K" if self.full_dates else "X"), None
        return str(action), None

    # ------------------------------------------------------------------ actions
    def _drop(self, ds: Dataset, t: int, run: _Run, unreadable: bool = False) -> None:
        try:
            del ds[t]
        except Exception:
            pass
        run.actions["X"] += 1
        if unreadable:
            run.unreadable += 1

    def _resolve_compound(self, action: str, keyword: str, vr: str, run: _Run) -> str:
        if action == "X/Z/U*":
            resolved = "K" if self.keep_reference_sequences and vr == "SQ" else "Z"
        else:
            letters = action.split("/")
            typ = self.compound_types.get(keyword)
            if typ == 3 and "X" in letters:
                resolved = "X"
            elif typ == 2 and "Z" in letters:
                resolved = "Z"
            elif vr == "SQ":
                resolved = "D"          # keep the items and clean them (see _dummy)
            else:
                resolved = "D" if "D" in letters else "Z"
        run.compound[f"{action}->{resolved}"] += 1
        return resolved

    def _do(self, ds: Dataset, t: int, elem: Any, vr: str, action: str, rule: Rule | None,
            run: _Run, in_content: bool, basis: str | None) -> None:
        if "/" in action:
            action = self._resolve_compound(action, keyword_for_tag(t), vr, run)
        if t in (_PATIENT_NAME, _PATIENT_ID) and action in ("Z", "D", "C"):
            pseudo = self.pseudo.patient(basis or run.basis)
            elem.value = pseudo
            run.actions["pseudonym"] += 1
            return
        if vr == "UN" and action not in ("X", "Z"):
            action = "X"                                   # an unreadable value is not kept
        if action == "X":
            del ds[t]
        elif action == "Z":
            elem.value = [] if vr == "SQ" else ("" if vr in _TEXT_VRS else None)
        elif action == "K":
            self._keep(elem, vr, run, in_content or t in structured.CONTENT_SEQUENCES)
        elif action == "U":
            self._uid(elem, vr, ds, t)
        elif action == "D":
            self._dummy(ds, t, elem, vr, run, in_content or t in structured.CONTENT_SEQUENCES)
        elif action == "C":
            action = self._clean(ds, t, elem, vr, rule, run, in_content)
        else:
            raise TagEngineError(f"unknown action {action!r} for ({t >> 16:04X},{t & 0xFFFF:04X});"
                                 " fix rules/ (actions are D Z X K C U and compounds)")
        run.actions[action] += 1

    def _keep(self, elem: Any, vr: str, run: _Run, content: bool) -> None:
        if vr == "SQ":
            for item in elem.value:
                self._walk(item, run, content)
        elif vr == "AS":
            values = [dates.cap_age(str(v), self.age_max, self.age_cap) for v in _values(elem)]
            _set_values(elem, [v for v in values if v])

    def _uid(self, elem: Any, vr: str, ds: Dataset, t: int) -> None:
        if vr == "SQ":
            raise TagEngineError(f"U on a sequence ({t >> 16:04X},{t & 0xFFFF:04X})")
        if vr != "UI":
            del ds[t]
            return
        if self.rules.lookup(t) is None and keyword_for_tag(t) in self.uid_keep:
            return
        _set_values(elem, [self.pseudo.uid(str(v)) for v in _values(elem)])

    def _dummy(self, ds: Dataset, t: int, elem: Any, vr: str, run: _Run, content: bool) -> None:
        if vr == "SQ":
            if keyword_for_tag(t).endswith("CodeSequence"):
                elem.value = DicomSequence([self._dummy_code()])
            else:
                self._keep(elem, vr, run, content)   # D on a sequence: keep items, clean each
        elif vr == "UI":
            self._uid(elem, vr, ds, t)
        elif vr in self.dummies:
            elem.value = self.dummies[vr]
        elif vr in _NUMERIC_VRS and vr != "AT":
            elem.value = 0
        elif vr in _BINARY_VRS:
            elem.value = b"\x00\x00"
        else:
            del ds[t]

    def _dummy_code(self) -> Dataset:
        item = Dataset()
        for keyword, value in self.dummy_code.items():
            setattr(item, keyword, str(value))
        return item

    def _fallback(self, rule: Rule | None, in_content: bool) -> str:
        """The action used when a C cannot be done (see clean_fallback in rules/policy.yaml)."""
        basic = rule.basic if rule is not None else "X"
        if basic.startswith("X") and (self.clean_fallback == "D" or in_content):
            return "D"
        return basic

    def _clean(self, ds: Dataset, t: int, elem: Any, vr: str, rule: Rule | None, run: _Run,
               in_content: bool) -> str:
        temporal = rule is not None and rule.origin in TEMPORAL_OPTIONS
        if vr == "SQ":
            self._keep(elem, vr, run, True if t in structured.CONTENT_SEQUENCES else in_content)
            return "C"
        if vr in ("DA", "DT", "TM"):
            out = [dates.shift(vr, str(v), run.offset) for v in _values(elem)]
            if any(v is None for v in out):
                return self._redo(ds, t, elem, vr, self._fallback(rule, in_content), rule, run)
            _set_values(elem, out)
            run.shifted += 1
            return "C"
        if temporal:                       # e.g. Timezone Offset: not a date, so not "modified"
            return self._redo(ds, t, elem, vr, rule.basic if rule else "X", rule, run)
        if vr == "PN":
            elem.value = self.dummies.get("PN", "REMOVED")
            return "C"
        if vr == "UI":
            self._uid(elem, vr, ds, t)
            return "C"
        if vr == "AE":
            _set_values(elem, [self.pseudo.ae_title(str(v)) for v in _values(elem)])
            return "C"
        if vr == "AS":
            self._keep(elem, vr, run, in_content)
            return "C"
        if vr in _KEEPABLE_ON_C:
            return "C"
        if vr in self.free_text_vrs:
            values = [str(v) for v in _values(elem)]
            if values:
                run.jobs.append(_Job(ds, t, vr, values, self._fallback(rule, in_content)))
            return "C"
        return self._redo(ds, t, elem, vr, self._fallback(rule, in_content), rule, run)

    def _redo(self, ds: Dataset, t: int, elem: Any, vr: str, action: str, rule: Rule | None,
              run: _Run) -> str:
        if "/" in action:
            action = self._resolve_compound(action, keyword_for_tag(t), vr, run)
        if action in ("C", "K"):
            action = "X"                    # cannot clean and must not keep: remove
        self._do(ds, t, elem, vr, action, None, run, False, None)
        run.actions[action] -= 1            # counted once, as fail-closed
        return "fail-closed"

    # ------------------------------------------------------------------ private
    def _safe_entry(self, ds: Dataset, t: int, names: dict[int, str]) -> Any:
        """The safe-private list entry for private element *t*, or None."""
        if not self.safe_private_on:
            return None
        group, block = t >> 16, (t & 0xFFFF) >> 8
        if block < 0x10:
            return None
        creator_tag = (group << 16) | block
        name = names.get(creator_tag)
        if name is None:
            try:
                creator = ds.get(creator_tag)
                name = str(creator.value).strip() if creator is not None and creator.value else ""
            except Exception:
                name = ""
            names[creator_tag] = name
        return self.rules.safe_private.get((name, group, t & 0xFF))

    def _private(self, ds: Dataset, elem: Any, run: _Run, names: dict[int, str]) -> bool:
        """Keep a private element only if it is on the safe list and its value fits its VR."""
        t = int(elem.tag)
        entry = self._safe_entry(ds, t, names)
        if entry is not None and self._safe_value(ds, elem, str(entry["vr"]), entry.get("pattern")):
            run.private_kept += 1
            run.actions["K"] += 1
            return True
        del ds[t]
        run.private_removed += 1
        run.actions["X"] += 1
        return False

    def _safe_value(self, ds: Dataset, elem: Any, vr: str, pattern: str | None) -> bool:
        if elem.VR == "UN":
            raw = elem.value or b""
            if vr in ("IS", "DS", "CS", "SH", "LO"):
                try:
                    text = bytes(raw).decode("ascii").strip(" \x00")
                except UnicodeDecodeError:
                    return False
                elem.VR, elem.value = vr, text.split("\\") if "\\" in text else text
            else:
                return False
        elif elem.VR != vr:
            return False
        for v in _values(elem):
            s = str(v)
            if vr == "IS" and not _IS.match(s) or vr == "DS" and not _DS.match(s) \
                    or vr == "CS" and not _CS.match(s):
                return False
            if pattern and not re.match(pattern, s):
                return False
        return True

    # ------------------------------------------------------------------ tier 2
    def _tier2(self, run: _Run) -> freetext.Tier2Stats:
        stats = freetext.Tier2Stats()
        if not run.jobs:
            return stats
        if self.analyzer is None:
            for job in run.jobs:
                elem = job.ds.get(job.tag)
                if elem is not None:
                    self._redo(job.ds, job.tag, elem, job.vr, job.fallback, None, run)
                    run.actions["C"] -= 1
                    run.actions["fail-closed"] += 1
                    run.tier2_fail_closed += 1
            return stats
        flat = [v for job in run.jobs for v in job.values]
        cleaned = freetext.clean_texts(self.analyzer, flat, run.identity, stats)
        pos = 0
        for job in run.jobs:
            new = cleaned[pos:pos + len(job.values)]
            pos += len(job.values)
            elem = job.ds.get(job.tag)
            if elem is None:
                continue
            _set_values(elem, [freetext.fit(job.vr, v) for v in new])
            stats.elements += 1
        return stats

    # ------------------------------------------------------------------ marks
    def _mark(self, ds: Dataset, extra_codes: Sequence[str]) -> tuple[str, ...]:
        codes = ["113100"] + [_OPTION_CODE[o] for o in self.options]
        for c in extra_codes:
            if c not in codes:
                codes.append(c)
        items = []
        for c in codes:
            item = Dataset()
            item.CodeValue = c
            item.CodingSchemeDesignator = "DCM"
            item.CodeMeaning = CID_7050[c]
            items.append(item)
        ds.PatientIdentityRemoved = "YES"
        ds.DeidentificationMethod = self._method
        ds.DeidentificationMethodCodeSequence = DicomSequence(items)
        ds.LongitudinalTemporalInformationModified = (
            "MODIFIED" if self.modified_dates else "UNMODIFIED" if self.full_dates else "REMOVED")
        return tuple(codes)

    def _file_meta(self, ds: Dataset) -> None:
        meta = getattr(ds, "file_meta", None)
        if meta is None:
            return
        for t in self.meta_remove:
            if t in meta:
                del meta[t]
        if self.settings.has("retain_uids"):
            return
        sop = ds.get(_SOP_INSTANCE_UID)
        if sop is not None and sop.value:
            meta.MediaStorageSOPInstanceUID = str(sop.value)
        elif "MediaStorageSOPInstanceUID" in meta:
            meta.MediaStorageSOPInstanceUID = self.pseudo.uid(str(meta.MediaStorageSOPInstanceUID))

    def _record_crosswalk(self, ds: Dataset, basis: str, run: _Run) -> None:
        cw = self.pseudo.crosswalk
        if cw is None:
            return
        cw.record("patient", basis, self.pseudo.patient(basis), date_offset_days=-run.offset)
        study = ds.get(0x0020000D)
        if study is not None and study.value and not self.settings.has("retain_uids"):
            cw.record("study", str(study.value), self.pseudo.uid(str(study.value)))
