"""Fail-closed leak check: the instance's own identifiers must not survive anywhere.

Every remaining text value (sequences at any depth, kept private elements and file meta
included) is searched for the identifying values collected before de-identification.
Matching forgives case, separators, DICOM's `^` name order and the common written forms of
a date, but keeps word boundaries so that a two-letter name part does not hit every word.
A `Leak` names where and what kind, never the value.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Iterable, Iterator

from pydicom.dataset import Dataset

from ..identity import Identity

DEFAULT_KINDS = ("name", "id", "birth_date", "address", "phone")
_SKIP_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010, 0x00120063, 0x00120064})
_SKIP_VRS = frozenset({"UI", "DS", "IS", "FL", "FD", "SL", "SS", "UL", "US", "SV", "UV", "AT",
                       "SQ", "OB", "OD", "OF", "OL", "OV", "OW", "UN"})
_BINARY_SEARCHED = frozenset({0x00420011})           # Encapsulated Document
_MAX_BINARY = 4 * 1024 * 1024
_L = r"(?<![^\W_])"                                    # no letter or digit just before
_R = r"(?![^\W_])"                                     # no letter or digit just after
_SEP = r"[\s\-./_:]?"
_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august",
           "september", "october", "november", "december")
# Placeholders written by the PHI analyzer's redaction: ours, not the instance's ("[ID]" is
# not a leak of a name part "ID"). Only these exact tokens are ignored.
_PLACEHOLDERS = re.compile(r"\[(?:NAME|ID|DATE|AGE|PHONE|EMAIL|URL|IP|ADDRESS|ORG|DEVICE|PHI)\]")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
                  r"\uff66-\uff9f]")


@dataclass(frozen=True)
class Leak:
    """Where an identifying value was found, and which kind; never the value itself."""

    path: str
    kind: str


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _name_pattern(part: str) -> str | None:
    part = _norm(part).strip()
    if len(part) < 2:
        return None
    if _CJK.search(part):
        return re.escape(part)                         # no word boundaries in CJK text
    return _L + r"\s*".join(re.escape(w) for w in part.split()) + _R


def _id_patterns(value: str) -> list[str]:
    """The whole ID with any separators, and a run of 5+ digits in it on its own (the
    number of "MRN-0012345" is often written without its prefix)."""
    core = re.sub(r"[\s\-./_:^]", "", _norm(value))
    if len(core) < 3:
        return []
    out = [_L + _SEP.join(re.escape(c) for c in core) + _R]
    for run in re.findall(r"\d{5,}", core):
        if run != core and len(set(run)) > 2:      # not 00000 or 10000: too common
            # not inside a decimal number (5.000000) either
            out.append(r"(?<![^\W_])(?<!\d[.,])" + re.escape(run) + r"(?![^\W_])(?![.,]\d)")
    return out


def _date_pattern(value: str) -> str | None:
    m = re.match(r"^(\d{4})\D?(\d{2})\D?(\d{2})", value.strip())
    if not m:
        return None
    y, mo, d = m.groups()
    if not (1 <= int(mo) <= 12 and 1 <= int(d) <= 31):
        return None
    mi, di = str(int(mo)), str(int(d))
    sep = r"[\-/. ]"
    ms = [mo, mi] if mo != mi else [mo]
    ds_ = [d, di] if d != di else [d]
    mm = "(?:" + "|".join(ms) + ")"
    dd = "(?:" + "|".join(ds_) + ")"
    name = _MONTHS[int(mo) - 1]
    mon = f"(?:{name}|{name[:3]}\\.?)"
    forms = [
        f"{y}{mo}{d}", f"{y}{sep}{mm}{sep}{dd}", f"{dd}{sep}{mm}{sep}{y}", f"{mm}{sep}{dd}{sep}{y}",
        f"{dd}[\\s\\-/.]*{mon}[\\s\\-/.,]*{y}", f"{mon}[\\s\\-/.]*{dd}(?:st|nd|rd|th)?,?\\s*{y}",
        f"{y}[\\s\\-/.]*{mon}[\\s\\-/.]*{dd}",
    ]
    return r"(?<!\d)(?:" + "|".join(forms) + r")(?!\d)"


def _address_patterns(value: str) -> list[str]:
    out = []
    for comp in re.split(r"[\^\n\r,;]+", value):
        comp = " ".join(_norm(comp).split())
        if len(comp) >= 4 or (len(comp) >= 3 and any(c.isdigit() for c in comp)):
            out.append(_L + r"\s*".join(re.escape(w) for w in comp.split()) + _R)
    return out


def _phone_patterns(value: str) -> list[str]:
    digits = re.sub(r"\D", "", value)
    if len(digits) < 7:
        return []
    seqs = {digits, digits[-10:]} if len(digits) > 10 else {digits}
    return [r"(?<!\d)" + r"[\s\-./()+]*".join(s) + r"(?!\d)" for s in sorted(seqs)]


def compile_identity(identity: Identity, kinds: Iterable[str] = DEFAULT_KINDS
                     ) -> list[tuple[str, re.Pattern[str]]]:
    """One regular expression per kind of identifier, built from *identity*'s values."""
    wanted = set(kinds)
    by_kind: dict[str, list[str]] = {}
    for kind, value in identity.items():
        if kind not in wanted or not value:
            continue
        if kind == "name":
            pats = [_name_pattern(value)]
        elif kind == "id":
            pats = _id_patterns(value)
        elif kind in ("birth_date", "event_date"):
            pats = [_date_pattern(value)]
        elif kind == "address" or kind == "institution":
            pats = list(_address_patterns(value))
        elif kind == "phone":
            pats = list(_phone_patterns(value))
        else:
            pats = [_name_pattern(value)]
        by_kind.setdefault(kind, []).extend(p for p in pats if p)
    return [(k, re.compile("|".join(dict.fromkeys(v)))) for k, v in by_kind.items() if v]


def _tag(t: int) -> str:
    return f"({t >> 16:04X},{t & 0xFFFF:04X})"


_TEMPORAL = re.compile(r"^[\d.+\- :]*$")
_DATE_KINDS = frozenset({"birth_date", "event_date"})


def _texts(ds: Dataset, prefix: str = "") -> Iterator[tuple[str, str, str]]:
    for tag in list(ds.keys()):
        t = int(tag)
        if t in _SKIP_TAGS:
            continue
        raw_vr = getattr(ds.get_item(tag), "VR", None)
        if raw_vr in _SKIP_VRS and raw_vr != "SQ" and not (t >> 16) & 1 \
                and t not in _BINARY_SEARCHED:
            continue                                    # a number or binary: not converted
        try:
            elem = ds[tag]
        except Exception:
            yield prefix + _tag(t), "\x00unreadable", ""
            continue
        vr = elem.VR
        path = prefix + _tag(t)
        if vr == "SQ":
            for i, item in enumerate(elem.value or ()):
                yield from _texts(item, f"{path}[{i}].")
            continue
        value = elem.value
        if value is None or value == "" or value == b"":
            continue
        if vr in _SKIP_VRS:
            private = bool((t >> 16) & 1)
            if isinstance(value, (bytes, bytearray)) and (private or t in _BINARY_SEARCHED):
                yield path, bytes(value[:_MAX_BINARY]).decode("latin-1"), vr
            elif private and vr in ("DS", "IS"):
                yield path, str(value), vr
            continue
        if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
            for v in value:
                yield path, str(v), vr
        elif isinstance(value, (bytes, bytearray)):
            yield path, bytes(value).decode("latin-1"), vr
        else:
            yield path, str(value), vr


def find_leaks(ds: Dataset, identity: Identity, kinds: Iterable[str] = DEFAULT_KINDS,
               ours: Iterable[str] = ()) -> list[Leak]:
    """Every (path, kind) where one of *identity*'s values is still present in *ds*.
    A value that is exactly one of *ours* (the dummies the tag engine writes, ``D``) came
    from the policy, not the instance: a name part "Removed" of "Removed by CTP" is no leak
    in the dummy "REMOVED" that replaced it."""
    matchers = compile_identity(identity, kinds)
    written = {_norm(v).strip() for v in ours}
    leaks: list[Leak] = []
    seen: set[tuple[str, str]] = set()
    sources = [("", ds)]
    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        sources.insert(0, ("", meta))
    for prefix, source in sources:
        for path, text, vr in _texts(source, prefix):
            if text == "\x00unreadable":
                if (path, "unreadable") not in seen:
                    seen.add((path, "unreadable"))
                    leaks.append(Leak(path, "unreadable"))
                continue
            if not matchers or _norm(text).strip() in written:
                continue
            norm = _norm(_PLACEHOLDERS.sub(" ", text))
            # A well-formed date or time can only hold a date: an ID's digits inside a
            # time's fraction are a coincidence, not a leak.
            dates_only = vr in ("DA", "DT", "TM") and _TEMPORAL.match(text) is not None
            for kind, rx in matchers:
                if dates_only and kind not in _DATE_KINDS:
                    continue
                if (path, kind) not in seen and rx.search(norm):
                    seen.add((path, kind))
                    leaks.append(Leak(path, kind))
    return leaks
