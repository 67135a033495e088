"""The instance's own identifying values, collected before anything is removed.

The pixel stage uses them as a deny-list for OCR text (a patient name burned into an
ultrasound frame is caught even when no model would call it a name) and the leak check
uses them to prove they are gone after every stage.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from pydicom.datadict import keyword_for_tag
from pydicom.dataset import Dataset

# Attributes whose values identify the patient or the people and places of the visit.
_ID_KEYWORDS = (
    "PatientID", "OtherPatientIDs", "AccessionNumber", "StudyID", "MedicalRecordLocator",
    "IssuerOfPatientID", "PatientInsurancePlanCodeSequence", "MilitaryRank",
    "AdmissionID", "ServiceEpisodeID", "PerformedProcedureStepID", "RequestedProcedureID",
    "ScheduledProcedureStepID", "FillerOrderNumberImagingServiceRequest",
    "PlacerOrderNumberImagingServiceRequest", "ClinicalTrialSubjectID",
    "ClinicalTrialSubjectReadingID", "OtherPatientIDsSequence",
)
# DeviceSerialNumber is not here on purpose: it identifies a device, is kept under the
# Retain Device Identity option, and would make every such output a leak-check hit.
_BIRTH_DATE_KEYWORDS = ("PatientBirthDate",)
_EVENT_DATE_KEYWORDS = ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate",
                        "InstanceCreationDate", "AdmittingDate")
_ADDRESS_KEYWORDS = ("PatientAddress", "InstitutionAddress", "RegionOfResidence",
                     "CountryOfResidence", "PersonAddress")
_PHONE_KEYWORDS = ("PatientTelephoneNumbers", "PersonTelephoneNumbers", "PatientTelecomInformation",
                   "PersonTelecomInformation")
_INSTITUTION_KEYWORDS = ("InstitutionName", "InstitutionalDepartmentName", "StationName")
_WANTED = frozenset(_ID_KEYWORDS + _BIRTH_DATE_KEYWORDS + _EVENT_DATE_KEYWORDS + _ADDRESS_KEYWORDS
                    + _PHONE_KEYWORDS + _INSTITUTION_KEYWORDS)
_BINARY_VRS = frozenset({"OB", "OW", "OF", "OD", "OL", "OV", "UN"})
_SPLIT = re.compile(r"[\^=\s,.]+")
_MIN_PART = 2


@dataclass(frozen=True)
class Identity:
    """Identifying values of one instance, as decoded text (never logged)."""

    person_names: tuple[str, ...] = ()
    name_parts: tuple[str, ...] = ()
    ids: tuple[str, ...] = ()
    birth_dates: tuple[str, ...] = ()
    event_dates: tuple[str, ...] = ()
    addresses: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    institutions: tuple[str, ...] = ()
    _extra: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    def items(self) -> Iterator[tuple[str, str]]:
        """(kind, value) pairs: kind is one of name, id, birth_date, event_date, address,
        phone, institution."""
        for kind, values in (("name", self.name_parts), ("id", self.ids),
                             ("birth_date", self.birth_dates), ("event_date", self.event_dates),
                             ("address", self.addresses), ("phone", self.phones),
                             ("institution", self.institutions)):
            for v in values:
                yield kind, v
        yield from self._extra

    def __bool__(self) -> bool:
        return any(True for _ in self.items())


def _texts(value: object) -> Iterable[str]:
    if value is None:
        return ()
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return [str(v) for v in value if v not in (None, "")]
    text = str(value)
    return [text] if text else []


def _name_parts(name: str) -> list[str]:
    parts = [p for p in _SPLIT.split(name) if len(p) >= _MIN_PART]
    # Han names have no separators: keep the whole string and, for 3+ characters,
    # the given name after a one-character family name.
    for p in list(parts):
        if len(p) >= 3 and all(_is_cjk(c) for c in p):
            parts.append(p[1:])
    return parts


def _is_cjk(char: str) -> bool:
    code = ord(char)
    return (0x3040 <= code <= 0x30FF or 0x3400 <= code <= 0x9FFF or 0xAC00 <= code <= 0xD7AF
            or 0xF900 <= code <= 0xFAFF or 0xFF66 <= code <= 0xFF9F)


def _walk(ds: Dataset) -> Iterator[tuple[str, str, object]]:
    """(keyword, VR, value) for every element at any depth that can hold an identifier.

    Pixel data is skipped before its element is even converted from the raw file bytes;
    elements that cannot matter (binary, private non-names, standard attributes that are
    neither names nor listed above) are skipped unconverted, which keeps this fast; an
    element that cannot be read is skipped (the tag stage removes it)."""
    for tag in list(ds.keys()):
        if tag.group == 0x7FE0:
            continue
        raw_vr = getattr(ds.get_item(tag), "VR", None)
        if raw_vr == "UN" and not tag.group & 1:
            raw_vr = None                     # pydicom resolves a standard UN on conversion
        if raw_vr in _BINARY_VRS:
            continue
        if raw_vr is not None and raw_vr not in ("PN", "SQ"):
            if tag.group & 1 or keyword_for_tag(tag) not in _WANTED:
                continue
        try:
            elem = ds[tag]
        except Exception:
            continue
        if elem.VR == "SQ":
            for item in elem.value or ():
                yield from _walk(item)
            continue
        if elem.VR in _BINARY_VRS:
            continue
        yield elem.keyword, elem.VR, elem.value


def collect(ds: Dataset) -> Identity:
    """Collect identifying values from every level of *ds* (sequences included)."""
    names: list[str] = []
    parts: list[str] = []
    ids: list[str] = []
    births: list[str] = []
    events: list[str] = []
    addresses: list[str] = []
    phones: list[str] = []
    institutions: list[str] = []
    for keyword, vr, value in _walk(ds):
        if vr == "PN":
            for text in _texts(value):
                for group in str(text).split("="):
                    group = group.strip("^ ")
                    if group:
                        names.append(group)
                        parts.extend(_name_parts(group))
                        joined = "".join(c for c in group if c not in "^ ")
                        # CJK names are written without a space: 王^小東 appears as 王小東.
                        if len(joined) >= _MIN_PART and any(_is_cjk(c) for c in joined):
                            parts.append(joined)
        elif keyword in _ID_KEYWORDS:
            ids.extend(t.strip() for t in _texts(value) if t.strip())
        elif keyword in _BIRTH_DATE_KEYWORDS:
            births.extend(t.strip() for t in _texts(value) if t.strip())
        elif keyword in _EVENT_DATE_KEYWORDS:
            events.extend(t.strip() for t in _texts(value) if t.strip())
        elif keyword in _ADDRESS_KEYWORDS:
            addresses.extend(t.strip() for t in _texts(value) if t.strip())
        elif keyword in _PHONE_KEYWORDS:
            phones.extend(t.strip() for t in _texts(value) if t.strip())
        elif keyword in _INSTITUTION_KEYWORDS:
            institutions.extend(t.strip() for t in _texts(value) if t.strip())

    def uniq(values: list[str]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(v for v in values if v))

    return Identity(uniq(names), uniq(parts), uniq(ids), uniq(births), uniq(events),
                    uniq(addresses), uniq(phones), uniq(institutions))
