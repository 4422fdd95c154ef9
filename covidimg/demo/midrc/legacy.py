"""The MIDRC demo's cases without DICOM: one with only its case row, two legacy NIfTI cases
(one found by its folder, one named by a ``ct_series_file`` row), and a NIfTI file that names
no case."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from covidimg.demo.dicom_writer import uid
from covidimg.demo.midrc.common import BATCH_IDS, ObservationTruth, write_tsv
from covidimg.demo.phantom import ct_volume

__all__ = ["EXTRA_CASES", "write_extra_cases"]


def _write_nifti(path: Path, volume: np.ndarray, spacing: tuple[float, ...]) -> None:
    """Write ``volume`` (x, y[, z]) as NIfTI-1 with a RAS+ diagonal affine."""
    import nibabel as nib

    path.parent.mkdir(parents=True, exist_ok=True)
    affine = np.diag([*spacing, *(1.0,) * (3 - len(spacing)), 1.0])
    nib.save(nib.Nifti1Image(volume.astype(np.int16), affine), path)


#: Cases without DICOM: (case id, sex text, sex, age, race, ethnicity, covid19_positive, batch).
EXTRA_CASES = (("440808-800001", "Female", "F", 61, "Asian", "Hispanic or Latino", "No",
                 "RSNA_20230824"),
                ("419639-900001", "Male", "M", 70, "White", "Not Hispanic or Latino", "Yes",
                 "RSNA_20211026"),
                ("419639-900002", "Female", "F", 48, "Other", "Not Reported", "Yes",
                 "RSNA_20211026"))


def _as_ras(volume: np.ndarray) -> np.ndarray:
    """A display-ordered volume (slices feet -> head, rows anterior -> posterior, columns the
    patient's right -> left) as NIfTI voxels ``(x, y, z)`` for a RAS+ affine, whose axes run
    towards the patient's right, anterior and head."""
    return np.ascontiguousarray(volume[:, ::-1, ::-1].transpose(2, 1, 0))


def write_extra_cases(root: Path, rng: np.random.Generator, case_rows: list[dict[str, object]],
                       study_rows: list[dict[str, object]], t_patients: list[dict[str, object]],
                       t_images: list[dict[str, object]], findings: list[dict[str, object]],
                       obs: ObservationTruth) -> int:
    """A case with only its case row, two legacy NIfTI cases and an orphan NIfTI file."""
    for case_id, sex_text, sex, age, race, ethnicity, covid, batch in EXTRA_CASES:
        case_rows.append({"type": "case", "project_id": "Open-R1", "submitter_id": case_id,
                          "age_at_index": f"{age}.0", "age_at_index_gt89": "No", "sex": sex_text,
                          "race": race, "ethnicity": ethnicity, "covid19_positive": covid,
                          "site_id": case_id.split("-")[0], "zip": "941",
                          "datasets.id": BATCH_IDS[batch], "datasets.submitter_id": batch})
        puid = f"midrc:{case_id}"
        t_patients.append({"patient_uid": puid, "sex": sex, "age_min": float(age),
                           "age_max": float(age),
                           "covid_status": "positive" if covid == "Yes" else "negative",
                           "icu": None, "died": None})
        obs.case(puid, race=race, ethnicity=ethnicity, ventilation=None, long_covid=False,
                 treatment_info=None, batches=[batch])
    legacy = root / "legacy"
    # Found by its folder: a case id on the path; no data-file row gives its modality.
    volume = ct_volume(rng, 12, (36, 40), 0.5)
    _write_nifti(legacy / "419639-900001" / "chest_ct.nii.gz", _as_ras(volume), (0.8, 0.8, 5.0))
    t_images.append({"image_uid": "midrc:nifti/legacy/419639-900001/chest_ct.nii.gz",
                     "patient_uid": "midrc:419639-900001", "modality": "CT", "view": "AXIAL",
                     "rows": 36, "columns": 40, "n_instances": 12, "format": "nifti",
                     "study_uid": None, "photometric": None, "day": np.nan})
    # Named by a ct_series_file row, with its study listed in imaging_study (day 3).
    study_uid, series_uid = uid(rng), uid(rng)
    volume = ct_volume(rng, 10, (32, 30), 0.3)
    _write_nifti(legacy / "B_0001.nii.gz", _as_ras(volume), (0.7, 0.7, 5.0))
    study_rows.append({"type": "imaging_study", "submitter_id": "419639-900002_ct",
                       "cases.submitter_id": "419639-900002", "study_uid": study_uid,
                       "study_modality": "CT", "days_to_study": "3"})
    obs.add("midrc:419639-900002", "midrc:study_modality", value="CT", day=3.0)
    write_tsv(root / "ct_series_file.tsv",
               ["type", "submitter_id", "cases.submitter_id", "study_uid", "series_uid",
                "modality", "file_name", "data_format", "md5sum"],
               [{"type": "ct_series_file", "submitter_id": "419639-900002_ct_nii",
                 "cases.submitter_id": "419639-900002", "study_uid": study_uid,
                 "series_uid": series_uid, "modality": "CT", "file_name": "B_0001.nii.gz",
                 "data_format": "NIfTI", "md5sum": "0" * 32}])
    t_images.append({"image_uid": f"midrc:{series_uid}", "patient_uid": "midrc:419639-900002",
                     "modality": "CT", "view": "AXIAL", "rows": 32, "columns": 30,
                     "n_instances": 10, "format": "nifti", "study_uid": study_uid,
                     "photometric": None, "day": 3.0})
    # A NIfTI file that names no case.
    orphan = legacy / "unknown_scan.nii"
    _write_nifti(orphan, np.zeros((20, 24)), (1.0, 1.0))
    findings.append({"kind": "orphan_image", "patient_uid": None, "image_uid": None,
                     "path": str(orphan), "detail": "NIfTI"})
    return 4

