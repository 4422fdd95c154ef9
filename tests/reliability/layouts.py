"""Broken files planted into the demo's native layouts, loaded with the real source loaders.

The demo writers produce each DICOM-reading source's layout (NCCID, CRDW, MIDRC, TCIA); this
module plants adversarial DICOM (and, for NCCID, DICOM-JSON) files into it, loads it with
:func:`covidimg.load`, and checks that the load finishes, that every file on disk is in the
``files`` table, that every unreadable planted file is named by a finding, and that a gallery
of every loaded image never raises.
"""

from __future__ import annotations

import io
import json
import os
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

import covidimg as ci
from covidimg.demo import generate_demo
from covidimg.errors import DicomReadError
from covidimg.imaging import read_image, thumbnails
from covidimg.sources._engine.dicom import read_header

from .corpus import IDENTIFYING, Case
from .harness import Tally, outcome

#: Patients per source: the smallest demo each writer accepts (it plants its quirks).
DEMO_PATIENTS = {"nccid": 4, "crdw": 4, "midrc": 4, "tcia": 8}
DICOM_SOURCES = tuple(DEMO_PATIENTS)


def write_layout(source: str, folder: Path, *, seed: int = 1) -> Path:
    """Write the demo of ``source`` under ``folder``; return the source root."""
    generate_demo(folder, sources=[source], seed=seed, n_patients=DEMO_PATIENTS[source])
    return folder / source


def disk_files(root: Path) -> set[str]:
    """Every regular file under ``root`` (what the ``files`` table must account for)."""
    out = set()
    for dirpath, _dirs, files in os.walk(root):
        out.update(os.path.join(dirpath, f) for f in files)
    return out


def _dicom_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.dcm") if p.is_file())


def header_readable(data: bytes) -> bool:
    try:
        read_header(io.BytesIO(data), label="<planted>")
    except DicomReadError:
        return False
    return True


def plant(source: str, root: Path, cases: Sequence[Case], *,
          json_cases: Sequence[Case] = (), seed: int = 0) -> dict[str, bytes]:
    """Plant ``cases`` into the layout; return ``{label: bytes}`` of every planted DICOM
    (``label`` is the path, or ``archive.zip::member`` for CRDW)."""
    rng = np.random.default_rng(seed)
    planted: dict[str, bytes] = {}
    if source == "crdw":
        zips = sorted(p for p in root.rglob("*.zip") if "IN-PROGRESS" not in str(p)
                      and p.name[0].isdigit())
        for i, case in enumerate(cases):
            archive = zips[i % len(zips)]
            with zipfile.ZipFile(archive, "a") as zf:
                member = f"planted/{case.filename}"
                zf.writestr(member, case.data)
            planted[f"{archive.resolve()}::{member}"] = case.data
        return planted
    existing = _dicom_files(root)
    overwrite = rng.choice(len(existing), size=min(5, len(existing), len(cases)), replace=False)
    for case, index in zip(cases, overwrite, strict=False):
        target = existing[int(index)]
        target.write_bytes(case.data)
        if source == "nccid":      # the header would come from the metadata; remove it
            _nccid_metadata(target).unlink(missing_ok=True)
        planted[str(target)] = case.data
    for i, case in enumerate(cases[len(overwrite):]):
        folder = existing[i % len(existing)].parent
        target = folder / f"planted-{case.filename}"
        target.write_bytes(case.data)
        planted[str(target)] = case.data
    if source == "nccid":
        with_meta = [p for p in _dicom_files(root) if _nccid_metadata(p).is_file()
                     and str(p) not in planted]
        for case, dcm in zip(json_cases, with_meta, strict=False):
            _nccid_metadata(dcm).write_bytes(case.data)
    return planted


def _nccid_metadata(dcm: Path) -> Path:
    """The DICOM-JSON file NCCID ships with an image (both bucket generations)."""
    parts = list(dcm.parts)
    for i, part in enumerate(parts):
        if part in ("xray", "ct", "mri"):
            parts[i] = f"{part}-metadata"
            break
        if part == "images":
            parts[i] = "images_metadata"
            break
    return Path(*parts).with_suffix(".json")


def check_load(source: str, root: Path, planted: dict[str, bytes], *,
               cache_dir: Path, category: str | None = None) -> Tally:
    """Load ``root`` and check the load, the files table, the findings and the gallery."""
    tally = Tally(category or f"loader: {source}", inputs=len(planted))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cohort = ci.load({source: str(root)}, progress=False)
    except Exception as exc:
        tally.crashes.append(f"load({source}) raised {type(exc).__name__}: {exc}")
        return tally
    recorded = set(cohort.files["path"])
    tally.unaccounted += sorted(disk_files(root) - recorded)
    named = set(cohort.findings["path"].dropna()) | set(
        cohort.files.loc[cohort.files["status"] == "rejected", "path"])
    for label, data in planted.items():
        if header_readable(data):
            continue
        tally.errors += 1
        if label in named:
            continue
        # The loader's header scan may accept a file whose pixel data is cut off (its header
        # is complete); then reading its pixels must fail with an error naming it.
        kind, detail = outcome(lambda label=label: read_image(label), label.split("::")[0])
        if kind != "error":
            tally.crashes.append(f"{label}: unreadable, but no finding or rejected row names "
                                 f"it and read_image gives {kind} {detail}")
    try:
        batch = thumbnails(cohort.images, size=32, cache_dir=cache_dir, progress=False)
    except Exception as exc:
        tally.crashes.append(f"gallery of {source} raised {type(exc).__name__}: {exc}")
        return tally
    if len(batch.findings) != batch.ok.count(False) or \
            batch.findings["path"].isna().any():
        tally.crashes.append(f"gallery of {source}: failures without a finding naming the file")
    return tally


# ---------------------------------------------------------------------- identifying fields
def _stamp_dataset(data: bytes) -> bytes:
    ds = pydicom.dcmread(io.BytesIO(data))
    for keyword, value in IDENTIFYING.items():
        setattr(ds, keyword, value)
    item = Dataset()
    item.PatientName = IDENTIFYING["PatientName"]
    item.InstitutionName = IDENTIFYING["InstitutionName"]
    ds.ReferencedPatientSequence = DicomSequence([item])
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=False)
    return out.getvalue()


def _identifying_json() -> dict[str, object]:
    ds = Dataset()
    for keyword, value in IDENTIFYING.items():
        setattr(ds, keyword, value)
    return ds.to_json_dict()


def stamp_identifying(root: Path) -> int:
    """Write the :data:`~.corpus.IDENTIFYING` values into every DICOM file (inside zips too)
    and DICOM-JSON metadata file under ``root``; return how many files were stamped."""
    n = 0
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        if path.suffix == ".dcm":
            try:
                path.write_bytes(_stamp_dataset(path.read_bytes()))
            except Exception:  # an already broken file stays as it is
                continue
            n += 1
        elif path.suffix == ".zip":
            try:
                with zipfile.ZipFile(path) as zf:
                    members = [(info, zf.read(info)) for info in zf.infolist()]
            except zipfile.BadZipFile:       # the demo's deliberately broken archive
                continue
            with zipfile.ZipFile(path, "w") as zf:
                for info, data in members:
                    if info.filename.endswith(".dcm"):
                        try:
                            data = _stamp_dataset(data)
                            n += 1
                        except Exception:
                            pass
                    zf.writestr(info, data)
        elif path.suffix == ".json" and "metadata" in str(path):
            obj = json.loads(path.read_text())
            if isinstance(obj, dict) and "00080018" in obj:
                obj.update(_identifying_json())
                path.write_text(json.dumps(obj))
                n += 1
    return n
