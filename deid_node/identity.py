"""The instance's own identifying values, collected before anything is removed.

The pixel stage uses them as a deny-list for OCR text (a patient name burned into an
ultrasound frame is caught even when no model would call it a name) and the leak check
uses them to prove they are gone after every stage.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

# Attributes whose values identify the patient or the people and places of the visit.
_ID_KEYWORDS = (
    "PatientID", "OtherPatientIDs", "AccessionNumber", "StudyID", "MedicalRecordLocator",
    "IssuerOfPatientID", "PatientInsurancePlanCodeSequence", "MilitaryRank",
    "AdmissionID", "ServiceEpisodeID", "PerformedProcedureStepID", "RequestedProcedureID",
    "ScheduledProcedureStepID", "FillerOrderNumberImagingServiceRequest",
    "PlacerOrderNumberImagingServiceRequest", "DeviceSerialNumber", "PatientInsurancePlanCodeSequence",
)
_BIRTH_DATE_KEYWORDS = ("PatientBirthDate",)
_EVENT_DATE_KEYWORDS = ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate",
                        "InstanceCreationDate", "AdmittingDate")
_ADDRESS_KEYWORDS = ("PatientAddress", "InstitutionAddress", "RegionOfResidence",
                     "CountryOfResidence", "PersonAddress")
_PHONE_KEYWORDS = ("PatientTelephoneNumbers", "PersonTelephoneNumbers", "PatientTelecomInformation",
                   "PersonTelecomInformation")
_INSTITUTION_KEYWORDS = ("InstitutionName", "InstitutionalDepartmentName", "StationName")
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
    return parts


def _walk(ds: Dataset) -> Iterator[tuple[str, str, object]]:
    """(keyword, VR, value) for every element at any depth, pixel data excluded."""
    for elem in ds.iterall():
        if elem.tag.group in (0x7FE0,) or elem.VR in ("OB", "OW", "OF", "OD", "OL", "OV", "UN", "SQ"):
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
