"""Shifting DA, DT and TM values by a whole number of days, keeping their precision.

Whole days keep a date and its time attribute paired (StudyDate/StudyTime) and keep every
interval within a patient; the time of day is kept, as TCIA does; a DT's UTC offset is
dropped. A value that cannot be
parsed is reported as None so that the caller removes it (fail closed).
"""
from __future__ import annotations

import re
from datetime import date, timedelta

_DA = re.compile(r"^(\d{4})(?:\.?(\d{2})\.?(\d{2}))?$")
_DT = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2}(?:\d{2}(?:\d{2}(?:\.\d{1,6})?)?)?)?"
                 r"([+-]\d{4})?$")
_TM = re.compile(r"^\d{2}(:?\d{2}(:?\d{2}(\.\d{1,6})?)?)?$")


def _shift_ymd(y: str, m: str | None, d: str | None,
               days: int) -> tuple[str, str | None, str | None]:
    # A partial value is shifted from the middle of the period it names (mid-month,
    # mid-year), so that "202003" moved back 31 days reads "202002", not "202001".
    base = date(int(y), int(m or 7), int(d or (15 if m else 2)))
    new = base - timedelta(days=days)
    return f"{new.year:04d}", (f"{new.month:02d}" if m else None), (f"{new.day:02d}" if d else None)


def shift_da(value: str, days: int) -> str | None:
    value = value.strip()
    if not value:
        return value
    if "-" in value:                                      # range (queries, some legacy files)
        lo, _, hi = value.partition("-")
        parts = [shift_da(p, days) if p else "" for p in (lo, hi)]
        return None if None in parts else f"{parts[0]}-{parts[1]}"
    m = _DA.match(value)
    if not m or (m.group(2) is None and len(value) != 4):
        return None
    try:
        y, mo, d = _shift_ymd(m.group(1), m.group(2), m.group(3), days)
    except ValueError:
        return None
    return y + (mo or "") + (d or "")


def shift_dt(value: str, days: int) -> str | None:
    value = value.strip()
    if not value:
        return value
    m = _DT.match(value)
    if not m:
        if value.count("-") == 1 and not re.search(r"[+-]\d{4}$", value):
            lo, _, hi = value.partition("-")
            parts = [shift_dt(p, days) if p else "" for p in (lo, hi)]
            return None if None in parts else f"{parts[0]}-{parts[1]}"
        return None
    y, mo, d, rest, tz = m.groups()
    if d and not mo:
        return None
    try:
        ny, nmo, nd = _shift_ymd(y, mo, d, days)
    except ValueError:
        return None
    # The UTC offset names a region (like Timezone Offset From UTC, which PS3.15 removes):
    # it is dropped.
    return ny + (nmo or "") + (nd or "") + (rest or "")


def check_tm(value: str) -> str | None:
    """TM is kept under a whole-day shift; a malformed time is removed."""
    value = value.strip()
    if not value:
        return value
    if "-" in value:
        parts = [check_tm(p) if p else "" for p in value.split("-", 1)]
        return None if None in parts else value
    return value if _TM.match(value) else None


def shift(vr: str, value: str, days: int) -> str | None:
    if vr == "DA":
        return shift_da(value, days)
    if vr == "DT":
        return shift_dt(value, days)
    if vr == "TM":
        return check_tm(value)
    return None


_AS = re.compile(r"^(\d{3})([DWMY])$")
_PER_YEAR = {"D": 365.25, "W": 52.1775, "M": 12.0, "Y": 1.0}


def cap_age(value: str, max_years: int, cap: str) -> str | None:
    """Ages above *max_years* become *cap* (e.g. 090Y); a malformed age is removed."""
    value = value.strip()
    if not value:
        return value
    m = _AS.match(value)
    if not m:
        return None
    years = int(m.group(1)) / _PER_YEAR[m.group(2)]
    return cap if years > max_years else value
