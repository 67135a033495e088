"""Synthetic DICOM instances full of PHI, for tests and benchmarks.

Deterministic for a given seed, so tests and benchmarks are repeatable. Every PHI value
put in is returned in :attr:`Phi` so tests can assert that none of it survives.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import UID, ExplicitVRLittleEndian

CT_IMAGE_STORAGE = UID("1.2.840.10008.5.1.4.1.1.2")
MR_IMAGE_STORAGE = UID("1.2.840.10008.5.1.4.1.1.4")
US_MULTIFRAME_STORAGE = UID("1.2.840.10008.5.1.4.1.1.3.1")
_ORG = "1.2.826.0.1.3680043.10.1135."  # test root for synthetic originals


@dataclass(frozen=True)
class Phi:
    """The identifying values planted in a synthetic instance."""

    patient_name: str
    patient_id: str
    birth_date: str
    accession: str
    institution: str
    referring: str
    address: str
    phone: str
    values: tuple[str, ...] = field(default=())


def make_phi(seed: int) -> Phi:
    rng = random.Random(seed)
    first = rng.choice(["JOHN", "MARIA", "WEI", "AMIR", "SOFIA", "DMITRI", "AIKO", "LUCAS"])
    last = rng.choice(["HARTWELL", "QUINTERO", "ZHANGSUN", "OKONKWO", "LINDQVIST", "FAIRBANKS"])
    phi = dict(
        patient_name=f"{last}^{first}",
        patient_id=f"MRN{rng.randrange(10**6, 10**7)}",
        birth_date=f"19{rng.randrange(30, 99)}{rng.randrange(1, 13):02d}{rng.randrange(1, 28):02d}",
        accession=f"ACC{rng.randrange(10**7, 10**8)}",
        institution=f"{rng.choice(['ST BRIGID', 'MERCYVALE', 'NORTHGATE'])} GENERAL HOSPITAL",
        referring=f"{rng.choice(['PEMBERTON', 'ABERNATHY'])}^{rng.choice(['ALICE', 'GEORGE'])}",
        address=f"{rng.randrange(10, 999)} {rng.choice(['MAPLE', 'HARBOR'])} STREET SPRINGFIELD",
        phone=f"555-{rng.randrange(100, 999)}-{rng.randrange(1000, 9999)}",
    )
    return Phi(**phi, values=tuple(phi.values()))


def _uid(rng: random.Random) -> UID:
    return UID(_ORG + ".".join(str(rng.randrange(1, 10**9)) for _ in range(3)))


def base_dataset(phi: Phi, sop_class: UID, *, rng: random.Random, study_uid: UID,
                 series_uid: UID, instance: int, modality: str) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = _uid(rng)
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = UID(str(study_uid) + ".9")
    ds.PatientName = phi.patient_name
    ds.PatientID = phi.patient_id
    ds.PatientBirthDate = phi.birth_date
    ds.PatientSex = "F"
    ds.PatientAge = "045Y"
    ds.PatientAddress = phi.address
    ds.PatientTelephoneNumbers = phi.phone
    ds.AccessionNumber = phi.accession
    ds.InstitutionName = phi.institution
    ds.ReferringPhysicianName = phi.referring
    ds.StudyDate = "20240524"
    ds.SeriesDate = "20240524"
    ds.ContentDate = "20240524"
    ds.StudyTime = "101500"
    ds.SeriesTime = "101600"
    ds.ContentTime = "101700"
    ds.StudyID = "4711"
    ds.SeriesNumber = 3
    ds.InstanceNumber = instance
    ds.Modality = modality
    ds.Manufacturer = "SYNTHETIC"
    ds.StudyDescription = f"CT CHEST for {phi.patient_name.replace('^', ' ')} {phi.patient_id}"
    ds.SeriesDescription = "AX 5mm"
    ds.ImageComments = f"call {phi.phone} if abnormal"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.PositionReferenceIndicator = ""
    ref = Dataset()
    ref.ReferencedSOPClassUID = sop_class
    ref.ReferencedSOPInstanceUID = UID(str(study_uid) + ".77")
    ds.ReferencedImageSequence = Sequence([ref])
    # a private block carrying PHI, as vendors do
    block = ds.private_block(0x0029, "SYNTH PRIVATE", create=True)
    block.add_new(0x10, "LO", phi.patient_name)
    block.add_new(0x11, "LO", phi.patient_id)
    return ds


def ct_series(n: int, *, seed: int = 1, size: int = 512) -> tuple[list[Dataset], Phi]:
    """A CT series of *n* 16-bit slices (512×512 by default) with PHI in the header."""
    rng = random.Random(seed)
    phi = make_phi(seed)
    study, series = _uid(rng), _uid(rng)
    nprng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    body = ((xx - size / 2) ** 2 + (yy - size / 2) ** 2) < (size * 0.42) ** 2
    out = []
    for i in range(n):
        ds = base_dataset(phi, CT_IMAGE_STORAGE, rng=rng, study_uid=study, series_uid=series,
                          instance=i + 1, modality="CT")
        img = np.where(body, 1000 + nprng.normal(40, 20, (size, size)), 24).astype(np.uint16)
        ds.Rows = ds.Columns = size
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
        ds.WindowCenter, ds.WindowWidth = 40, 400
        ds.PixelSpacing = [0.7, 0.7]
        ds.SliceThickness = 5
        ds.ImagePositionPatient = [-180, -180, -5.0 * i]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.SliceLocation = -5.0 * i
        ds.KVP = 120
        ds.PixelData = img.tobytes()
        out.append(ds)
    return out, phi


def write(datasets: list[Dataset], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, ds in enumerate(datasets):
        p = folder / f"{i:05d}.dcm"
        ds.save_as(p, enforce_file_format=True)
        paths.append(p)
    return paths
