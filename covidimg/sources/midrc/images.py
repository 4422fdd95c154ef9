"""MIDRC images: DICOM from gen3-client matched to imaging_study rows, and legacy NIfTI."""

from __future__ import annotations

import pandas as pd

from covidimg.sources._engine.dicom import HELPER_COLUMNS
from covidimg.sources._engine.harmonize import DayAxis, event_offsets
from covidimg.sources._engine.index import images_from_index, index_dicom
from covidimg.sources._engine.ledger import Ledger
from covidimg.sources.midrc.nifti import NiftiLink, find_case, nifti_row
from covidimg.table_paths import file_path

__all__ = ["dicom_images", "nifti_images", "place_on_axis"]

NAME = "midrc"


def dicom_images(dicom_paths: list[str], studies: pd.DataFrame, ledger: Ledger, *,
                 progress: bool, other_images: frozenset[str] = frozenset()) -> pd.DataFrame:
    """``images`` rows of the DICOM studies listed in ``imaging_study`` (with ``index_day``).

    A downloaded study the export does not list is an orphan (``orphan_image``, files
    ignored); a listed study with neither DICOM nor a NIfTI image (``other_images``: their
    study UIDs) is ``study_without_images``; a DICOM PatientID that differs from the study's
    case is ``inconsistent_value`` (the case is kept).
    """
    index = index_dicom(dicom_paths, ledger, progress=progress, desc="MIDRC DICOM headers")
    study_of = studies.set_index("study_uid")
    table = images_from_index(index, NAME)
    listed = set(study_of.index.tolist())
    keep = pd.Series([study in listed for study in table["study_uid"].tolist()],
                     index=table.index, dtype=bool)
    orphans = table[~keep]
    for study, labels in zip(orphans["study_uid"].tolist(), orphans["member_paths"].tolist(),
                             strict=True):
        reason = (f"orphan: StudyInstanceUID {study} has no imaging_study row; "
                  "export imaging_study for this case to use it")
        for label in labels:
            index.ignore(label, reason)
    for study, group in orphans.groupby("study_uid", dropna=False):
        ledger.finding("orphan_image", f"DICOM study {study} (PatientID "
                       f"{group['patient_uid'].iat[0].split(':', 1)[1]}, "
                       f"{len(group)} images) has no imaging_study row; not loaded",
                       path=group["path"].iat[0])
    table = table[keep].copy()
    downloaded = set(table["study_uid"]) | other_images
    for study in study_of.index.difference(sorted(downloaded)):
        ledger.finding("study_without_images", f"imaging_study {study} has no downloaded "
                       "DICOM under the root", patient_uid=study_of.at[study, "patient_uid"],
                       path=study_of.at[study, "_where"])
    dicom_pid = table["patient_uid"]
    table["patient_uid"] = table["study_uid"].map(study_of["patient_uid"])
    pairs = pd.DataFrame({"study": table["study_uid"], "pid": dicom_pid,
                          "uid": table["patient_uid"]}).dropna().drop_duplicates()
    for study, pid, uid in sorted(pairs.itertuples(index=False, name=None)):
        if str(pid).split(":", 1)[-1] != str(uid).split(":", 1)[-1]:
            ledger.finding("inconsistent_value", f"study {study}: DICOM PatientID "
                           f"{str(pid).split(':', 1)[-1]!r} differs from the imaging_study's "
                           f"case {str(uid).split(':', 1)[-1]!r}; the case is kept",
                           patient_uid=uid)
    table["index_day"] = table["study_uid"].map(study_of["index_day"]).astype(float)
    use = index.use
    for labels, image_uid in zip(table["member_paths"].tolist(), table["image_uid"].tolist(),
                                 strict=True):
        for label in labels:
            use(label, image_uid)
    index.record(ledger)
    return table.drop(columns=[*HELPER_COLUMNS, "study_date", "study_time", "age_years", "sex"])


def nifti_images(paths: list[str], root: str, known: set[str],
                 by_file_name: dict[str, NiftiLink], studies: pd.DataFrame,
                 ledger: Ledger) -> pd.DataFrame:
    """``images`` rows (with ``index_day``) of the legacy NIfTI files that find their case."""
    day_of = studies.set_index("study_uid")["index_day"].to_dict() if len(studies) else {}
    rows = []
    for path in paths:
        link = find_case(path, root, known, by_file_name)
        if link is None:
            ledger.file(file_path(path), "ignored", reason="orphan: a NIfTI file that no "
                        "data-file node row names and whose path names no case of the export")
            ledger.finding("orphan_image", "NIfTI file names no case of the export (no "
                           "data-file node row with its file_name, no case id in its path); "
                           "not loaded", path=path)
            continue
        row = nifti_row(path, link, ledger)
        if row is not None:
            row["index_day"] = day_of.get(link.study_uid, float("nan"))
            rows.append(row)
    return pd.DataFrame(rows)


def place_on_axis(images: pd.DataFrame, axis: DayAxis, events: pd.DataFrame) -> pd.DataFrame:
    """``day`` from ``index_day`` on the cohort's axis, and the offsets to the events."""
    if images.empty:
        return images.drop(columns="index_day", errors="ignore")
    images = images.copy()
    images["day"] = axis.days(images["patient_uid"].tolist(), images["index_day"])
    for column, values in event_offsets(images["patient_uid"], images["day"], events).items():
        images[column] = values
    return images.drop(columns="index_day")
