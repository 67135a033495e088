"""Fixtures for the pixel redactor tests: real pydicom test files, synthetic DICOM images."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

warnings.filterwarnings("ignore", message=".*Expected explicit VR.*")


def data_file(name: str) -> Path:
    """A pydicom test file by name (never the glob API: some files are download-only)."""
    from pydicom.data import get_testdata_file
    p = get_testdata_file(name)
    if p is None:
        pytest.fail(f"pydicom test file {name} is missing; install pydicom-data")
    return Path(p)


def read(name: str) -> Dataset:
    return pydicom.dcmread(data_file(name))


def make_dataset(pixels: np.ndarray, *, modality: str = "US", photometric: str | None = None,
                 sop_class: str = "1.2.840.10008.5.1.4.1.1.6.1", image_type: str | None = None,
                 burned_in: str | None = None, patient_name: str = "DOE^JOHN",
                 patient_id: str = "PID4471923", birth_date: str = "19800315",
                 study_date: str = "20240102", institution: str = "Lakeview Clinic",
                 manufacturer: str = "ACME", model: str = "Sono 5000", signed: bool = False
                 ) -> Dataset:
    """A minimal valid image instance (native Explicit VR LE) around ``pixels``.

    pixels: (H, W) or (F, H, W) grey, (H, W, 3) or (F, H, W, 3) RGB.
    """
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality = modality
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = patient_name, patient_id, birth_date
    ds.StudyDate, ds.InstitutionName = study_date, institution
    ds.Manufacturer, ds.ManufacturerModelName = manufacturer, model
    if image_type:
        ds.ImageType = image_type.split("\\")
    if burned_in:
        ds.BurnedInAnnotation = burned_in
    colour = pixels.shape[-1] == 3 and pixels.ndim in (3, 4)
    frames = pixels.shape[0] if pixels.ndim == (4 if colour else 3) else 1
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.Rows, ds.Columns = pixels.shape[-3:-1] if colour else pixels.shape[-2:]
    ds.SamplesPerPixel = 3 if colour else 1
    if colour:
        ds.PlanarConfiguration = 0
    ds.PhotometricInterpretation = photometric or ("RGB" if colour else "MONOCHROME2")
    bits = pixels.dtype.itemsize * 8
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = bits, bits, bits - 1
    ds.PixelRepresentation = 1 if signed else 0
    ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    ds["PixelData"].VR = "OB" if bits == 8 else "OW"
    return ds


def draw_text(img: np.ndarray, text: str, xy: tuple[int, int], size: int = 20,
              colour: int | tuple[int, int, int] = 255,
              font: str = "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf"
              ) -> tuple[int, int, int, int]:
    """Burn ``text`` into ``img`` (H×W or H×W×3 uint8) in place; returns its ink box."""
    from PIL import Image, ImageDraw, ImageFont
    f = ImageFont.truetype(font, size)
    mask = Image.new("L", (img.shape[1], img.shape[0]), 0)
    ImageDraw.Draw(mask).text(xy, text, font=f, fill=255)
    m = np.asarray(mask) > 0
    if img.ndim == 3:
        img[m] = colour if isinstance(colour, tuple) else (colour,) * 3
    else:
        img[m] = colour if isinstance(colour, int) else colour[0]
    ys, xs = np.nonzero(m)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


@pytest.fixture(scope="session")
def analyzer():
    """The real PHI analyzer (without its model if that is not recorded yet)."""
    from deid_node.pixels.evaluate import load_analyzer
    return load_analyzer()[0]


@pytest.fixture(scope="session")
def redactor(analyzer):
    from deid_node.pixels import PixelRedactor, PixelSettings
    return PixelRedactor.load(PixelSettings.default(), analyzer)
