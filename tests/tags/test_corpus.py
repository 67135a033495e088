"""Every file of pydicom's test data goes through the tag path without a crash: it is either
de-identified (and dciodvfy finds no new error) or quarantined with a reason."""
from __future__ import annotations

import dataclasses
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from deid_node import identity as identity_mod
from deid_node.tags import ProfileSettings, TagEngine
from deid_node.tags.leakcheck import find_leaks

from .helpers import KEY, all_test_files, dciodvfy_errors, read, to_bytes

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
FILES = all_test_files()
# Files dciodvfy itself cannot read: their conformance cannot be compared.
_UNREADABLE = ("read failed", "Information Object Not found", "giving up")


def verdict(engine: TagEngine, path: Path) -> tuple[str, bytes | None]:
    """What the pipeline would do with the tag path's result: ("forward", bytes) or
    ("quarantine:<reason>", None)."""
    try:
        ds = read(path)
    except Exception:
        return "quarantine:unreadable", None
    ident = identity_mod.collect(ds)
    engine.apply(ds, ident)
    if find_leaks(ds, ident):
        return "quarantine:leak-check", None
    if "SOPClassUID" not in ds or "SOPInstanceUID" not in ds:
        return "quarantine:not-an-instance", None
    try:
        return "forward", to_bytes(ds)
    except Exception:
        return "quarantine:unwritable", None


def test_corpus_is_large_enough():
    names = {p.name for p in FILES}
    assert len(FILES) >= 150
    for needed in ("CT_small.dcm", "chrX1.dcm", "test-SR.dcm", "rtplan.dcm", "emri_small.dcm",
                   "MR_truncated.dcm", "no_meta.dcm", "bad_sequence.dcm", "US1_UNCR.dcm"):
        assert needed in names


@pytest.mark.parametrize("options", ["default", "basic"])
def test_every_file_is_deidentified_or_quarantined(options):
    opts = ProfileSettings.default().options if options == "default" else ()
    engine = TagEngine(dataclasses.replace(ProfileSettings.default(), options=opts), KEY)
    outcomes = {}
    for path in FILES:
        outcome, data = verdict(engine, path)      # an exception here fails the test
        outcomes[path.name] = outcome
        if data is not None:
            again = read(Path(_write(data)))
            assert again.PatientIdentityRemoved == "YES"
    forwarded = [n for n, o in outcomes.items() if o == "forward"]
    assert len(forwarded) >= 0.85 * len(FILES), {n: o for n, o in outcomes.items() if o != "forward"}
    assert all(o == "forward" or o.startswith("quarantine:") for o in outcomes.values())


_tmp = tempfile.mkdtemp(prefix="deid-tags-")


def _write(data: bytes) -> str:
    path = Path(_tmp) / f"{abs(hash(data))}.dcm"
    path.write_bytes(data)
    return str(path)


def _new_errors(engine: TagEngine, path: Path) -> tuple[str, set[str]] | None:
    outcome, data = verdict(engine, path)
    if data is None:
        return None
    before = dciodvfy_errors(path)
    if any(u in e for e in before for u in _UNREADABLE):
        return None
    return path.name, dciodvfy_errors(Path(_write(data))) - before


@pytest.mark.parametrize("options", ["default", "basic", "all"])
def test_dciodvfy_finds_no_new_errors(options):
    all_opts = ("clean_graphics", "clean_structured_content", "clean_descriptors",
                "retain_longitudinal_full_dates", "retain_patient_characteristics",
                "retain_device_identity", "retain_uids", "retain_safe_private",
                "retain_institution_identity")
    opts = {"default": ProfileSettings.default().options, "basic": (), "all": all_opts}[options]
    engine = TagEngine(dataclasses.replace(ProfileSettings.default(), options=opts), KEY)
    # Every second file (many are the same instance in another transfer syntax) for the
    # default profile, every sixth for the others: the run stays within the time budget.
    files = FILES[::2] if options == "default" else FILES[1::6]
    with ThreadPoolExecutor(2) as pool:
        results = [r for r in pool.map(lambda p: _new_errors(engine, p), files) if r]
    assert len(results) >= (70 if options == "default" else 20)
    bad = {name: sorted(errs) for name, errs in results if errs}
    assert bad == {}
