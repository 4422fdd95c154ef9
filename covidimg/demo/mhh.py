"""Write a synthetic cohort in the MHH native layout (data.csv, png/, nii/), with its truth."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from PIL import Image

from covidimg.demo.course import simulate_courses
from covidimg.demo.phantom import chest_radiograph
from covidimg.demo.truth import DemoTruth
from covidimg.schema import ANALYTES
from covidimg.sources.mhh import COLUMNS

__all__ = ["DETECTION_LIMITS", "write"]

#: Detection limits (low, high) of the synthetic assays, on each analyte's precision grid:
#: a value below ``low`` is published as ``-inf``, one at or above ``high`` as ``inf``.
DETECTION_LIMITS = {"crp": (2.0, 300.0), "d_dimer": (0.3, 8.0), "factor_xiii": (10.0, 200.0),
                    "ldh": (50.0, 2000.0), "lymphocytes": (0.1, 20.0),
                    "neutrophils": (0.1, 50.0), "po2": (45.0, 500.0), "pco2": (10.0, 150.0)}
IMAGE_SHAPE = (256, 224)
README = """Synthetic cohort in the layout of the Hannover COVID-19 Image Repository.
Written by covidimg's demo generator; every value is simulated.
"""


def _publish(value: float, precision: float, limits: tuple[float, float]) -> float:
    """The number MHH would publish: floored onto the grid, or +-inf beyond the limits."""
    low, high = limits
    if value < low:
        return -np.inf
    if value >= high:
        return np.inf
    return round(float(np.floor(value / precision + 1e-9) * precision), 6)


def _fmt(value: float, integer: bool = False) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if np.isinf(value):
        return "inf" if value > 0 else "-inf"
    return str(int(value)) if integer else repr(float(round(value, 6)))


def write(root: Path, *, rng: np.random.Generator, n_patients: int = 30,
          nifti_fraction: float = 0.8) -> DemoTruth:
    """Write ``n_patients`` simulated patients in the MHH layout under ``root``.

    One ICU patient is given an ICU admission before hospital admission (MHH FAQ 1), which the
    loader must keep and report as ``admission_after_icu``. The simulated ``data.csv`` is none
    of MHH's published revisions (``unknown_release``), and, as in the real data, nothing in it
    says the patients tested positive (``assumed_value``). Unlike the real data, about a third
    of the patients have their size and weight published (observations ``mhh:size`` and
    ``mhh:weight``, in the truth's ``observations``).

    Parameters
    ----------
    root
        Folder to write ``data.csv``, ``png/``, ``nii/`` and ``readme.md`` into.
    rng
        Random generator; the same seed writes the same files.
    n_patients
        Number of simulated patients (those whose first exam falls after their death are left
        out, as a real repository would not list them).
    nifti_fraction
        Share of images that also get a raw NIfTI file (the rest have only the PNG preview).

    Returns
    -------
    DemoTruth
        What a correct loader must return.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from covidimg.demo import mhh
    >>> truth = mhh.write(pathlib.Path(tempfile.mkdtemp()), rng=np.random.default_rng(0),
    ...                   n_patients=3)
    >>> truth.source
    'mhh'
    """
    root = Path(root)
    (root / "png").mkdir(parents=True, exist_ok=True)
    (root / "nii").mkdir(exist_ok=True)
    course = simulate_courses(rng, n_patients)
    events = course.events[course.events["event"].isin(
        ["admission", "icu_admission", "icu_release", "death"])].copy()
    icu_patients = events.loc[events["event"] == "icu_admission", "pid"].tolist()
    planted = icu_patients[0] if icu_patients else None
    if planted is not None:
        events.loc[(events["pid"] == planted) & (events["event"] == "icu_admission"), "day"] = -2.0
    event_day = events.pivot_table(index="pid", columns="event", values="day", aggfunc="first")
    patients = course.patients.set_index("pid")
    labs_by_exam = {key: grp for key, grp in course.labs.groupby("exam")}

    rows, images, labs = [], [], []
    taken = set(patients.index)
    n_files = 0
    for exam in course.exams.itertuples(index=False):
        image_id = f"{int(rng.integers(0, 2**32)):08x}"
        while image_id in taken:
            image_id = f"{int(rng.integers(0, 2**32)):08x}"
        taken.add(image_id)
        pid = exam.pid
        ev = event_day.loc[pid]
        row = {c: "" for c in COLUMNS}
        row.update(patient_id=pid, image_id=image_id, sex=patients.at[pid, "sex"].lower(),
                   admission_offset=_fmt(0.0 - exam.day, integer=True),
                   modality=exam.modality, projection=exam.view.lower())
        offsets = {}
        for event in ("icu_admission", "icu_release", "death"):
            day = ev.get(event, np.nan)
            offsets[event] = day - exam.day if pd.notna(day) else np.nan
            row[f"{event}_offset"] = _fmt(offsets[event])
        for lab in labs_by_exam.get(exam.exam, pd.DataFrame()).itertuples(index=False):
            analyte = ANALYTES[lab.analyte]
            published = _publish(lab.value, analyte.mhh_precision,
                                 DETECTION_LIMITS[lab.analyte])
            row[f"{analyte.mhh_column}_offset"] = _fmt(lab.offset)
            row[f"{analyte.mhh_column}_val"] = _fmt(published)
            labs.append({"patient_uid": f"mhh:{pid}", "image_uid": f"mhh:{image_id}",
                         "analyte": lab.analyte, "value": lab.value, "published": published,
                         "day": lab.day, "offset": lab.offset,
                         "censor": "left" if published == -np.inf else
                         "right" if published == np.inf else "interval"})
        rows.append(row)

        pixels = chest_radiograph(rng, IMAGE_SHAPE, severity=exam.severity, view=exam.view)
        png = (np.clip(pixels, 0, 1) * 255).astype(np.uint8)
        Image.fromarray(png).save(root / "png" / f"{image_id}.png", optimize=False)
        n_files += 1
        has_nifti = rng.random() < nifti_fraction
        if has_nifti:
            raw = (pixels * 4095).astype(np.int16)
            # MHH stores the gray values transposed: array axis 0 runs along the image's width.
            nib.save(nib.Nifti1Image(raw.T.copy(), affine=np.eye(4)),
                     root / "nii" / f"{image_id}.nii.gz")
            n_files += 1
        images.append({
            "image_uid": f"mhh:{image_id}", "patient_uid": f"mhh:{pid}",
            "modality": exam.modality, "view": exam.view, "day": exam.day,
            "admission_offset": 0.0 - exam.day,
            "icu_admission_offset": offsets["icu_admission"],
            "icu_release_offset": offsets["icu_release"], "death_offset": offsets["death"],
            "format": "nifti" if has_nifti else "png",
            "rows": IMAGE_SHAPE[0], "columns": IMAGE_SHAPE[1], "severity": exam.severity,
        })
    # Size and weight, redacted in the real data, published here for about a third of the
    # patients (on every row of theirs): the loader keeps them as observations.
    measured = {pid: (float(np.round(rng.normal(172, 9))), float(np.round(rng.normal(80, 14))))
                for pid in sorted({row["patient_id"] for row in rows}) if rng.random() < 1 / 3}
    for row in rows:
        if row["patient_id"] in measured:
            size, weight = measured[row["patient_id"]]
            row["size"], row["weight"] = _fmt(size, integer=True), _fmt(weight, integer=True)
    pd.DataFrame(rows, columns=list(COLUMNS)).to_csv(root / "data.csv", index=False)
    (root / "readme.md").write_text(README)
    n_files += 2

    listed = sorted(set(course.exams["pid"]))
    truth_patients = patients.loc[listed].reset_index()
    truth_patients = pd.DataFrame({
        "patient_uid": "mhh:" + truth_patients["pid"], "sex": truth_patients["sex"],
        "age_min": np.nan, "age_max": np.nan, "covid_status": "positive",
        "icu": truth_patients["pid"].isin(events.loc[events["event"] == "icu_admission", "pid"]),
        "died": truth_patients["pid"].isin(events.loc[events["event"] == "death", "pid"]),
    })
    truth_observations = pd.DataFrame(
        [{"patient_uid": f"mhh:{pid}", "field": f"mhh:{name}", "value": None,
          "value_num": number, "day": np.nan}
         for pid, (size, weight) in measured.items() if pid in listed
         for name, number in (("size", size), ("weight", weight))],
        columns=["patient_uid", "field", "value", "value_num", "day"])
    truth_events = events[events["pid"].isin(listed)]
    truth_events = pd.DataFrame({"patient_uid": "mhh:" + truth_events["pid"],
                                 "event": truth_events["event"], "day": truth_events["day"]})
    csv = str(root / "data.csv")
    findings = pd.DataFrame(
        ([{"kind": "admission_after_icu", "patient_uid": f"mhh:{planted}", "image_uid": None,
           "path": None, "detail": "ICU admission planted 2 days before hospital admission"}]
         if planted in listed else [])
        + [{"kind": "unknown_release", "patient_uid": None, "image_uid": None, "path": csv,
            "detail": "a simulated data.csv is none of the published revisions"},
           {"kind": "assumed_value", "patient_uid": None, "image_uid": None, "path": csv,
            "detail": "covid_status positive for every patient: data.csv has no test result"}],
        columns=["kind", "patient_uid", "image_uid", "path", "detail"])
    return DemoTruth(source="mhh", patients=truth_patients, images=pd.DataFrame(images),
                     events=truth_events.reset_index(drop=True), labs=pd.DataFrame(labs),
                     findings=findings, n_files=n_files, observations=truth_observations)
