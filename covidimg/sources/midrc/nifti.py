"""MIDRC's legacy NIfTI images (the MIDRC FAQ: "some legacy datasets are in the NIfTI format
rather than DICOM") as ``images`` rows with ``format="nifti"``.

A ``.nii`` / ``.nii.gz`` file finds its case, in this order:

1. a row of a Gen3 data-file node export (``ct_series_file``, ``dx_series_file``, ...) whose
   ``file_name`` is the file's name: its case link, ``study_uid``, ``series_uid`` and
   ``modality``;
2. a case ``submitter_id`` that is a folder on the file's path, or that the file name starts
   with (``419639-000082_ct.nii.gz``).

A file that finds no case is an orphan (``orphan_image`` finding, file ``ignored``); a file
nibabel cannot read, or that is not 2-D or 3-D, is ``rejected`` with an ``unreadable_file``
finding. Only the header is read here; pixels are read by :func:`covidimg.read_image`.

Without a modality from the data-file node, a 3-D volume is taken as ``CT`` (the legacy
collections are chest CT) and a 2-D image as ``DX``; the file's ``files`` row says so.
Volumes are ``AXIAL``, with ``rows`` x ``columns`` the axial slice (anterior-posterior x
right-left, as :func:`covidimg.read_image` shows it) and ``n_instances`` the slice count; a 2-D
image's ``rows`` / ``columns`` follow the NIfTI convention (first axis = columns).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from covidimg.sources._engine.ledger import Ledger
from covidimg.table_paths import file_path

__all__ = ["NiftiLink", "is_nifti_name", "nifti_row"]

_MODALITIES = {"CT": "CT", "MR": "MR", "CR": "CR", "DX": "DX"}


def is_nifti_name(name: str) -> bool:
    """Whether a file name is a NIfTI image (``.nii``, ``.nii.gz``)."""
    lower = name.lower()
    return lower.endswith((".nii", ".nii.gz"))


@dataclass(frozen=True)
class NiftiLink:
    """What links a NIfTI file to the case: the case id, and from a data-file node row the
    study, series and modality, and the row's place."""

    case_id: str
    study_uid: str = ""
    series_uid: str = ""
    modality: str = ""
    where: str = ""


def find_case(path: str, root: str, known: set[str],
              by_file_name: Mapping[str, NiftiLink]) -> NiftiLink | None:
    """The link of a NIfTI file (see the module docstring), or ``None`` for an orphan."""
    name = os.path.basename(path)
    link = by_file_name.get(name)
    if link is not None and link.case_id in known:
        return link
    relative = os.path.relpath(path, root).split(os.sep)
    for part in relative[:-1]:
        if part in known:
            return NiftiLink(part)
    prefixes = [name[:i] for i, char in enumerate(name) if char in "_-. "]
    matches = [prefix for prefix in prefixes if prefix in known]
    return NiftiLink(max(matches, key=len)) if matches else None


def _shape(path: str) -> tuple[tuple[int, ...], np.ndarray]:
    import nibabel as nib

    img = nib.load(path)   # reads the header only; the voxels stay on disk
    return tuple(int(n) for n in img.shape), np.asarray(img.affine, dtype=float)


def nifti_row(path: str, link: NiftiLink, ledger: Ledger) -> dict[str, object] | None:
    """The ``images`` row of one NIfTI file (without ``day`` and offsets), or ``None`` when
    the file is rejected (recorded in ``ledger``)."""
    import nibabel as nib

    name = os.path.basename(path)
    try:
        shape, affine = _shape(path)
    except Exception as exc:   # nibabel raises many types for damaged files
        reason = f"unreadable NIfTI: {type(exc).__name__}: {exc}"
        ledger.file(file_path(path), "rejected", reason=reason)
        ledger.finding("unreadable_file", f"{name}: {reason}", path=path)
        return None
    spatial = [n for n in shape[:3] if n > 1]
    if len(spatial) not in (2, 3) or any(n > 1 for n in shape[3:]):
        reason = (f"NIfTI of shape {shape}: covidimg reads 2-D radiographs and 3-D volumes; "
                  "a time series or vector image is not one")
        ledger.file(file_path(path), "rejected", reason=reason)
        ledger.finding("unreadable_file", f"{name}: {reason}", path=path)
        return None
    modality = _MODALITIES.get(link.modality.strip().upper(), "")
    assumed = not modality
    if len(spatial) == 3:
        try:
            axes = [int(a) for a in nib.orientations.io_orientation(affine)[:, 0]]
            x_len, y_len, z_len = (shape[axes.index(k)] for k in range(3))
        except (ValueError, np.linalg.LinAlgError):
            x_len, y_len, z_len = shape[:3]
        rows, columns, n_instances = y_len, x_len, z_len
        modality = modality or "CT"
    else:
        plane = [n for n in shape[:3] if n > 1]
        rows, columns, n_instances = plane[1], plane[0], 1
        modality = modality or "DX"
    view = "AXIAL" if modality in ("CT", "MR") else "UNKNOWN"
    relative = os.path.relpath(path, ledger.root) if ledger.root else name
    image_uid = f"midrc:{link.series_uid}" if link.series_uid else \
        f"midrc:nifti/{relative.replace(os.sep, '/')}"
    ledger.file(file_path(path), "used", image_uid=image_uid, reason=(
        f"legacy NIfTI image of case {link.case_id} ({len(spatial)}-D"
        + (f", modality {modality} assumed: no data-file node row names it" if assumed
           else "") + ")"))
    return {"image_uid": image_uid, "patient_uid": f"midrc:{link.case_id}", "source": "midrc",
            "study_uid": link.study_uid or None, "series_uid": link.series_uid or None,
            "modality": modality, "view": view, "path": file_path(path), "format": "nifti",
            "n_instances": n_instances, "rows": rows, "columns": columns}
