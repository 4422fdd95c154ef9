"""One patient's course: their radiographs in day order, and the lab draws nearest each exam."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from covidimg.cohort import Cohort

__all__ = ["OFFSET_COLUMNS", "RADIOGRAPH_MODALITIES", "nearest_labs", "serial_exams"]

#: The modalities a serial comparison lays side by side (projection radiographs).
RADIOGRAPH_MODALITIES = ("CR", "DX")
#: The ``images`` columns holding the MHH-convention offsets (days from the exam to the event,
#: negative = the event came before the exam); read as the loaders wrote them.
OFFSET_COLUMNS = ("admission_offset", "icu_admission_offset", "icu_release_offset",
                  "death_offset")


def serial_exams(cohort: Cohort, patient_uid: str, *,
                 modalities: Sequence[str] = RADIOGRAPH_MODALITIES) -> pd.DataFrame:
    """The exams of one patient in day order (a course as a clinician reads it).

    Parameters
    ----------
    cohort
        The cohort holding the patient.
    patient_uid
        The patient (``"<source>:<id>"``).
    modalities
        The modalities kept (default: the radiographs, ``CR`` and ``DX``).

    Returns
    -------
    pandas.DataFrame
        The patient's ``images`` rows of those modalities (every column), sorted by ``day``
        (exams without a day last), then study, series and image uid, with a fresh index.
        ``attrs["other_modalities"]`` counts the patient's exams left out, by modality (e.g.
        ``{"CT": 2}``).

    Raises
    ------
    ValueError
        When ``patient_uid`` is not a patient of ``cohort``.

    Examples
    --------
    >>> import covidimg as ci
    >>> cohort = ci.load_demo(n_patients=12)                              # doctest: +SKIP
    >>> ci.stats.serial_exams(cohort, "mhh:4ecde8b8")[["day", "modality"]]  # doctest: +SKIP
    """
    patient_uid = str(patient_uid)
    known = cohort.patients["patient_uid"].astype(str)
    if not (known == patient_uid).any():
        examples = ", ".join(known.head(3))
        raise ValueError(f"patient_uid={patient_uid!r} is not a patient of this cohort "
                         f"({len(known)} patients, e.g. {examples}); pass one of "
                         "cohort.patients['patient_uid']")
    images = cohort.images
    mine = images[(images["patient_uid"].astype(str) == patient_uid).to_numpy(dtype=bool)]
    modality = mine["modality"].astype(str)
    wanted = modality.isin([str(m) for m in modalities]).to_numpy(dtype=bool)
    kept = mine[wanted].assign(_day=lambda f: f["day"].astype(float))
    kept = kept.sort_values(["_day", "study_uid", "series_uid", "image_uid"],
                            na_position="last", kind="stable").drop(columns="_day")
    out = kept.reset_index(drop=True)
    out.attrs["other_modalities"] = {str(k): int(v) for k, v in
                                     modality[~wanted].value_counts().sort_index().items()}
    out.attrs["patient_uid"] = patient_uid
    return out


def nearest_labs(cohort: Cohort, exams: pd.DataFrame, *,
                 within: float | None = None) -> pd.DataFrame:
    """For each exam and analyte, the patient's lab draw nearest the exam's day.

    The rule: among the draws of the exam's patient with a known day, the one with the
    smallest ``|lab day - exam day|``; of two equally near, the earlier (what was known when
    the image was read). A draw repeated on several rows (MHH attaches a draw to every exam
    it is near) counts once. Exams without a day get no labs.

    Parameters
    ----------
    cohort
        The cohort whose ``labs`` are searched.
    exams
        ``images`` rows (``image_uid``, ``patient_uid``, ``day``), e.g. from
        :func:`serial_exams`.
    within
        Keep only draws at most this many days from the exam (default: any distance).

    Returns
    -------
    pandas.DataFrame
        Columns ``image_uid, analyte, unit, lower, upper, censor, lab_day, days_from_exam``
        (``lab_day - exam day``: negative = drawn before the exam), ordered as ``exams``
        then by analyte.

    Examples
    --------
    >>> import covidimg as ci
    >>> cohort = ci.load_demo(n_patients=12)                              # doctest: +SKIP
    >>> exams = ci.stats.serial_exams(cohort, "mhh:4ecde8b8")           # doctest: +SKIP
    >>> ci.stats.nearest_labs(cohort, exams)                              # doctest: +SKIP
    """
    columns = ["image_uid", "analyte", "unit", "lower", "upper", "censor", "lab_day",
               "days_from_exam"]
    if within is not None and not within >= 0:
        raise ValueError(f"within={within!r}; pass a number of days >= 0, or None for any "
                         "distance")
    exam = pd.DataFrame({"image_uid": exams["image_uid"].astype(str).to_numpy(),
                         "patient_uid": exams["patient_uid"].astype(str).to_numpy(),
                         "exam_day": exams["day"].astype(float).to_numpy(),
                         "order": np.arange(len(exams))})
    exam = exam[np.isfinite(exam["exam_day"].to_numpy())]
    labs = cohort.labs
    wanted = labs["patient_uid"].astype(str).isin(set(exam["patient_uid"])).to_numpy(dtype=bool)
    draws = pd.DataFrame({"patient_uid": labs["patient_uid"].astype(str).to_numpy()[wanted],
                          "analyte": labs["analyte"].astype(str).to_numpy()[wanted],
                          "unit": labs["unit"].astype(str).to_numpy()[wanted],
                          "lower": labs["lower"].astype(float).to_numpy()[wanted],
                          "upper": labs["upper"].astype(float).to_numpy()[wanted],
                          "censor": labs["censor"].astype(str).to_numpy()[wanted],
                          "lab_day": labs["day"].astype(float).to_numpy()[wanted]})
    draws = draws[np.isfinite(draws["lab_day"].to_numpy())].drop_duplicates(
        ["patient_uid", "analyte", "lab_day", "lower", "upper"])
    pairs = exam.merge(draws, on="patient_uid")
    if not len(pairs):
        return pd.DataFrame({c: pd.Series(dtype=float if c in ("lower", "upper", "lab_day",
                                                                "days_from_exam") else object)
                             for c in columns})
    pairs["days_from_exam"] = pairs["lab_day"] - pairs["exam_day"]
    pairs["_distance"] = pairs["days_from_exam"].abs()
    if within is not None:
        pairs = pairs[pairs["_distance"] <= within]
    pairs = pairs.sort_values(["order", "analyte", "_distance", "lab_day"], kind="stable")
    nearest = pairs.drop_duplicates(["order", "analyte"])
    return nearest[columns].reset_index(drop=True)
