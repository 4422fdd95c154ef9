"""Plant the same images in two sources of a written demo, with the links a search must find.

Two copies, as they occur in the real collections:

* **UID-equal** (RICORD in TCIA and in MIDRC): one MIDRC radiograph is replaced by a TCIA
  RICORD radiograph, the same instance: its SOP and Series Instance UIDs and pixels (the
  MIDRC case keeps its patient id and study);
* **re-encoded** (Hannover PNGs republished elsewhere): one MHH image is replaced by a TCIA
  radiograph's pixels, rescaled to 8 bits, enlarged and saved as PNG: new file, new format,
  no shared UID, the same picture.

:func:`plant` runs after the source writers (``generate_demo(..., shared_images=True)``),
edits their files in place, corrects their truth (the image uids, sizes that changed) and
returns the links a correct search reports (:func:`planted_links` reads them back).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pydicom
from PIL import Image

from covidimg.demo.truth import DemoTruth

__all__ = ["LINKS_FILE", "PNG_COPY", "SOURCES", "UID_COPY", "plant", "planted_links"]

#: The two copies: (source of the original, source of the copy).
UID_COPY = ("tcia", "midrc")
PNG_COPY = ("tcia", "mhh")
#: The sources a plant needs.
SOURCES = tuple(sorted(set(UID_COPY + PNG_COPY)))
#: Where the planted links are saved, under the demo's ``truth/`` folder.
LINKS_FILE = "shared_images.parquet"
_RADIOGRAPH = ("CR", "DX")


def _dicom_files(root: Path) -> list[tuple[Path, str | None]]:
    """Every DICOM file or zip member under ``root``: (file, member or None)."""
    found: list[tuple[Path, str | None]] = []
    for path in sorted(root.rglob("*")):
        if path.suffix == ".dcm":
            found.append((path, None))
        elif path.suffix == ".zip":
            with zipfile.ZipFile(path) as zf:
                found += [(path, name) for name in zf.namelist() if name.endswith(".dcm")]
    return found


def _read(path: Path, member: str | None) -> pydicom.Dataset | None:
    try:
        if member is None:
            return pydicom.dcmread(path)
        with zipfile.ZipFile(path) as zf:
            return pydicom.dcmread(io.BytesIO(zf.read(member)))
    except Exception:   # the writers plant truncated files; they are not candidates
        return None


def _write(path: Path, member: str | None, dataset: pydicom.Dataset) -> None:
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    if member is None:
        path.write_bytes(buffer.getvalue())
        return
    with zipfile.ZipFile(path) as zf:
        members = [(info, zf.read(info.filename)) for info in zf.infolist()]
    with zipfile.ZipFile(path, "w") as zf:
        for info, data in members:
            zf.writestr(info, buffer.getvalue() if info.filename == member else data)


def _by_sop(root: Path) -> dict[str, list[tuple[Path, str | None, pydicom.Dataset]]]:
    out: dict[str, list[tuple[Path, str | None, pydicom.Dataset]]] = {}
    for path, member in _dicom_files(root):
        dataset = _read(path, member)
        if dataset is not None and "SOPInstanceUID" in dataset:
            out.setdefault(str(dataset.SOPInstanceUID), []).append((path, member, dataset))
    return out


def _candidates(truth: DemoTruth, files: dict, **equal: str) -> list[str]:
    """SOP uids of the truth's single-file MONOCHROME2 radiographs (``equal``: column values)."""
    images = truth.images
    chosen = images["modality"].isin(_RADIOGRAPH)
    for column, value in equal.items():
        chosen &= images[column] == value
    sops = [uid.split(":", 1)[1] for uid in images.loc[chosen, "image_uid"]]
    return [sop for sop in sops if len(files.get(sop, ())) == 1
            and str(files[sop][0][2].get("PhotometricInterpretation")) == "MONOCHROME2"
            and str(files[sop][0][2].get("ViewPosition", "")) != "LL"]


def _replace_uid(truth: DemoTruth, old: str, new: str, **values: object) -> DemoTruth:
    images = truth.images.copy()
    row = images["image_uid"] == old
    images.loc[row, "image_uid"] = new
    for column, value in values.items():
        images.loc[row, column] = value
    labs = truth.labs.copy()
    if "image_uid" in labs.columns:
        labs.loc[labs["image_uid"] == old, "image_uid"] = new
    truth.images, truth.labs = images, labs
    return truth


def plant(folder: str | Path, truths: dict[str, DemoTruth]) -> pd.DataFrame:
    """Plant the two copies in the demo written to ``folder``; return the planted links.

    ``truths`` (source -> truth, as :func:`covidimg.demo.generate_demo` returns) is corrected
    in place and saved again. The links are saved to ``folder/truth/shared_images.parquet``.

    Returns
    -------
    pandas.DataFrame
        ``kind`` (``same_image_as``), ``image_uid``, ``other_image_uid``, ``evidence``
        (``SOP Instance UID`` or ``pixel hash``), ``patient_uid``, ``other_patient_uid``.
    """
    folder = Path(folder)
    missing = [s for s in SOURCES if s not in truths]
    if missing:
        raise ValueError(f"shared_images needs the demo sources {list(SOURCES)}; "
                         f"{missing} were not written. Add them to sources=")
    tcia_files = _by_sop(folder / "tcia")
    midrc_files = _by_sop(folder / "midrc")
    ricord = _candidates(truths["tcia"], tcia_files, collection="MIDRC-RICORD-1C")
    others = _candidates(truths["tcia"], tcia_files, collection="COVID-19-AR")
    targets = _candidates(truths["midrc"], midrc_files)
    if not ricord or not others or not targets:
        raise ValueError("shared_images: the demo has too few radiographs to plant copies; "
                         "use n_patients >= 8")
    links = []

    # 1. The same instance in TCIA and MIDRC.
    source_sop, target_sop = ricord[0], targets[0]
    _path, _member, original = tcia_files[source_sop][0]
    path, member, copy = midrc_files[target_sop][0]
    copy.SOPInstanceUID = original.SOPInstanceUID
    copy.file_meta.MediaStorageSOPInstanceUID = original.SOPInstanceUID
    copy.SeriesInstanceUID = original.SeriesInstanceUID
    for keyword in ("Rows", "Columns", "BitsAllocated", "BitsStored", "HighBit",
                    "PixelRepresentation", "PixelData"):
        setattr(copy, keyword, getattr(original, keyword))
    _write(path, member, copy)
    tcia_uid, midrc_uid = f"tcia:{source_sop}", f"midrc:{source_sop}"
    _replace_uid(truths["midrc"], f"midrc:{target_sop}", midrc_uid,
                 rows=int(original.Rows), columns=int(original.Columns))
    links.append(("same_image_as", midrc_uid, tcia_uid, "SOP Instance UID"))

    # 2. A TCIA radiograph republished as an MHH PNG, rescaled and re-encoded.
    mhh = truths["mhh"].images
    mhh_uid = str(mhh["image_uid"].iloc[0])
    image_id = mhh_uid.split(":", 1)[1]
    source_sop = others[0]
    stored = tcia_files[source_sop][0][2].pixel_array.astype(np.float64)
    scaled = (stored - stored.min()) / max(float(np.ptp(stored)), 1.0)
    rows, columns = stored.shape[0] * 2, stored.shape[1] * 2
    png = Image.fromarray((scaled * 255).round().astype(np.uint8)).resize(
        (columns, rows), Image.Resampling.BICUBIC)
    png.save(folder / "mhh" / "png" / f"{image_id}.png")
    nifti = folder / "mhh" / "nii" / f"{image_id}.nii.gz"
    if nifti.exists():   # MHH stores its raw grey values transposed
        raw = (np.asarray(png, dtype=np.float64) / 255 * 4095).astype(np.int16)
        nib.save(nib.Nifti1Image(raw.T.copy(), affine=np.eye(4)), nifti)
    _replace_uid(truths["mhh"], mhh_uid, mhh_uid, rows=rows, columns=columns)
    links.append(("same_image_as", mhh_uid, f"tcia:{source_sop}", "pixel hash"))

    patient_of = {str(u): str(p) for t in truths.values()
                  for u, p in zip(t.images["image_uid"], t.images["patient_uid"], strict=True)}
    out = pd.DataFrame(links, columns=["kind", "image_uid", "other_image_uid", "evidence"])
    out["patient_uid"] = out["image_uid"].map(patient_of)
    out["other_patient_uid"] = out["other_image_uid"].map(patient_of)
    for source in SOURCES:
        truths[source].save(folder / "truth" / source)
    (folder / "truth").mkdir(parents=True, exist_ok=True)
    out.to_parquet(folder / "truth" / LINKS_FILE, index=False)
    return out


def planted_links(folder: str | Path) -> pd.DataFrame:
    """The links :func:`plant` planted in the demo written to ``folder``."""
    return pd.read_parquet(Path(folder) / "truth" / LINKS_FILE)
