"""Write a synthetic UChicago CRDW download, with every quirk of the HIRO tip sheet.

The layout is the one :mod:`covidimg.sources.crdw` reads: weekly batch folders of exam zips
(``SSSS_yyyymmdd-hhmmss_AAAA_Description.zip``, one sub-folder per series of real DICOM files),
the remap workbook and the clinical datamart tables (``datamart/patients.csv``,
``datamart/encounters.csv``, ``datamart/labs.xlsx``). Planted quirks, each in the truth:

* remapped patients: early exams filed under an old C19 id (one through a chain of two remaps);
* an orphan patient: exams, but no clinical data and no remap;
* a pediatric exam (``XR-P-PORT-CHEST-1-VIEW``) present twice with the same timestamp, another
  HIRO id, new UIDs and identical member names and pixel data; plus a same-timestamp pediatric
  exam with different images (not a duplicate);
* an adult exam with the same timestamp as another of the patient's exams, a different HIRO id
  and different images (not a duplicate: identical timestamps alone never make one);
* a CT exam split into two zips nine minutes apart with the same HIRO id;
* a chest radiograph copied into a later batch under another HIRO id (identical SOP UIDs);
* an IN-PROGRESS CT batch; a zip whose name does not parse; a truncated zip; a stray text file;
* MONOCHROME1 radiographs, radiographs without View Position (the view is in the descriptions),
  PA + lateral exams, multi-slice CT series (20–40 slices);
* US lab units (CRP mg/dL, D-dimer ng/mL FEU), censored values (``<0.5``, ``>20000``), an
  unparseable value and an unknown lab name;
* exams before the COVID encounter (``pre_encounter``; the course's own exams a few days
  before admission, plus baseline exams): a chest radiograph 200 days and a CT 20 days before
  it (inside the tip sheet's windows), a chest radiograph 400 days and a CT 45 days before it
  (outside them: ``outside_inclusion_window``);
* CT descriptions of every kind the exam label reads: without and with contrast, CTA,
  chest/abdomen, chest/abdomen/pelvis (the truth's ``exam`` is written by hand per
  description, :data:`EXAM_LABELS`);
* a second ``patients.csv`` row for one patient, saying another age and ``Negative``
  (``duplicate_row``: the first row is kept);
* ``race`` and ``ethnicity`` in Epic's categories and a ``bmi`` column covidimg does not read
  (``unexpected_field``), all kept as observations, as is the unknown lab (the truth's
  ``observations``).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from covidimg.demo.course import simulate_courses
from covidimg.demo.dicom_writer import uid, write_dicom
from covidimg.demo.phantom import chest_radiograph, ct_volume
from covidimg.demo.truth import DemoTruth

__all__ = ["BASELINE_EXAMS", "CT_SHAPE", "EXAM_LABELS", "RADIOGRAPH_SHAPE", "write"]

SOURCE = "crdw"
RADIOGRAPH_SHAPE = (256, 256)
CT_SHAPE = (64, 64)
_FIRST_BATCH = dt.date(2020, 3, 14)
_BATCH_DAYS = 14
_LAB_RENDER = {
    # analyte -> (datamart lab name, unit, factor from canonical to the rendered unit, decimals)
    "crp": ("C-REACTIVE PROTEIN", "mg/dL", 0.1, 2),
    "d_dimer": ("D-DIMER", "ng/mL FEU", 1000.0, 0),
    "factor_xiii": ("FACTOR XIII ACTIVITY", "%", 1.0, 0),
    "ldh": ("LACTATE DEHYDROGENASE", "U/L", 1.0, 0),
    "lymphocytes": ("LYMPHOCYTES, ABSOLUTE", "K/uL", 1.0, 2),
    "neutrophils": ("NEUTROPHILS, ABSOLUTE", "K/uL", 1.0, 2),
    "po2": ("PO2, ARTERIAL", "mmHg", 1.0, 0),
    "pco2": ("PCO2, ARTERIAL", "mmHg", 1.0, 0),
}
_CENSOR_LOW = {"crp": 0.5}  # in the rendered unit: "<0.5" mg/dL
#: Race and ethnicity as Epic writes them (the loader's vocabulary), cycled over the patients.
_RACES = ("White", "Black or African American", "Asian", "Other", "Patient Declined")
_ETHNICITIES = ("Not Hispanic or Latino", "Hispanic or Latino", "Unknown")
#: The harmonized exam label each written description stands for, by hand (CT: per
#: description; radiographs: per view, since AP films are only written in portable exams).
EXAM_LABELS = {"CT-CHEST-WO": "CT CHEST", "CT-CHEST-W": "CT CHEST W CONTRAST",
               "CTA-CHEST-PE": "CTA CHEST", "CT-CHEST-ABDOMEN-W-CONTRAST": "CT CHEST ABDOMEN",
               "CT-CHEST-ABD-PELVIS-W": "CT CHEST ABDOMEN PELVIS",
               "AP": "CXR AP PORTABLE", "PA": "CXR PA", "LAT": "CXR LAT"}
_CT_DESCRIPTIONS = ("CT-CHEST-WO", "CTA-CHEST-PE", "CT-CHEST-W", "CT-CHEST-ABD-PELVIS-W")
#: Baseline exams planted before one patient's COVID encounter: (modality, days before the
#: encounter, CT description or None, outside the tip sheet's window).
BASELINE_EXAMS = (("DX", 200, None, False), ("CT", 20, "CT-CHEST-ABDOMEN-W-CONTRAST", False),
                  ("CR", 400, None, True), ("CT", 45, "CTA-CHEST-PE", True))
_CENSOR_HIGH = {"d_dimer": 20000.0}  # ">20000" ng/mL FEU


@dataclass(eq=False)
class _Image:
    """One radiograph, or one CT series, inside an exam zip."""

    modality: str
    view: str  # harmonized truth view
    view_tag: str | None  # View Position written (None = left out)
    series_description: str
    photometric: str
    pixels: list[np.ndarray]
    series_uid: str
    sop_uids: list[str]
    folder: str


@dataclass
class _Exam:
    patient_id: str  # the id in the zip name and DICOM (may be an old id)
    current_id: str
    timestamp: dt.datetime
    hiro_id: str
    description: str
    study_uid: str
    day: float
    sex: str
    age: float
    images: list[_Image] = field(default_factory=list)

    @property
    def zip_name(self) -> str:
        return (f"{self.patient_id}_{self.timestamp:%Y%m%d-%H%M%S}_{self.hiro_id}_"
                f"{self.description}.zip")


class _Writer:
    def __init__(self, root: Path, rng: np.random.Generator) -> None:
        self.root = Path(os.path.abspath(root))
        self.rng = rng
        self.ids: set[str] = set()
        self.hiro_counter: dict[str, int] = {}
        self.n_files = 0
        self.findings: list[dict[str, object]] = []
        #: Truth of the observations: patient_uid, field, value, value_num, day.
        self.observations: list[dict[str, object]] = []

    # -------------------------------------------------------------- helpers
    def new_id(self) -> str:
        while True:
            candidate = str(int(self.rng.integers(1000, 99999)))
            if candidate not in self.ids:
                self.ids.add(candidate)
                return candidate

    def hiro(self, patient_id: str) -> str:
        self.hiro_counter[patient_id] = self.hiro_counter.get(patient_id, 0) + 1
        return f"A{self.hiro_counter[patient_id]:03d}"

    def finding(self, kind: str, *, patient_uid: str | None = None,
                image_uid: str | None = None, path: str | None = None) -> None:
        self.findings.append({"kind": kind, "patient_uid": patient_uid, "image_uid": image_uid,
                              "path": path, "detail": ""})

    def radiograph(self, modality: str, view: str, severity: float, *, series: int,
                   photometric: str | None = None, omit_view: bool | None = None) -> _Image:
        rng = self.rng
        pixels = chest_radiograph(rng, RADIOGRAPH_SHAPE, severity, view)
        if photometric is None:
            photometric = "MONOCHROME1" if modality == "CR" and rng.random() < 0.4 \
                else "MONOCHROME2"
        if omit_view is None:
            omit_view = bool(rng.random() < 0.2)
        description = {"AP": "AP PORTABLE", "PA": "PA", "LAT": "LATERAL"}[view]
        return _Image(modality, view, None if omit_view else view, description, photometric,
                      [pixels], uid(rng), [uid(rng)], f"{series}-{description.replace(' ', '_')}")

    def ct_series(self, severity: float, *, series: int, kernel: str) -> _Image:
        n_slices = int(self.rng.integers(20, 41))
        volume = ct_volume(self.rng, n_slices, CT_SHAPE, severity)
        return _Image("CT", "AXIAL", None, f"AXIAL {kernel}", "MONOCHROME2", list(volume),
                      uid(self.rng), [uid(self.rng) for _ in range(n_slices)],
                      f"{series}-AXIAL_{kernel}")

    def exam(self, patient_id: str, current_id: str, timestamp: dt.datetime, day: float,
             modality: str, view: str, severity: float, sex: str, age: float,
             *, pediatric: bool = False, ct_description: str | None = None) -> _Exam:
        rng = self.rng
        if modality == "CT":
            description = ct_description or str(rng.choice(_CT_DESCRIPTIONS))
            images = [self.ct_series(severity, series=2, kernel="STANDARD")]
        elif pediatric:
            description = "XR-P-PORT-CHEST-1-VIEW"
            images = [self.radiograph(modality, "AP", severity, series=1)]
        elif view == "AP":
            description = str(rng.choice(["XR-PORT-CHEST-1V", "XR-CHEST-AP-PORTABLE"]))
            images = [self.radiograph(modality, "AP", severity, series=1)]
        elif rng.random() < 0.5:
            description = "XR-CHEST-PA-LATERAL"
            images = [self.radiograph(modality, "PA", severity, series=1),
                      self.radiograph(modality, "LAT", severity, series=2)]
        else:
            description = "XR-CHEST-PA"
            images = [self.radiograph(modality, "PA", severity, series=1)]
        return _Exam(patient_id, current_id, timestamp, self.hiro(patient_id), description,
                     uid(rng), day, sex, age, images)

    def write_zip(self, folder: Path, exam: _Exam, images: list[_Image] | None = None,
                  timestamp: dt.datetime | None = None, name: str | None = None) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        stamp = timestamp or exam.timestamp
        path = folder / (name or (f"{exam.patient_id}_{stamp:%Y%m%d-%H%M%S}_{exam.hiro_id}_"
                                  f"{exam.description}.zip"))
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for number, image in enumerate(images if images is not None else exam.images, 1):
                n = len(image.pixels)
                for k, (pixels, sop) in enumerate(zip(image.pixels, image.sop_uids,
                                                      strict=True)):
                    with zf.open(f"{image.folder}/IM-{number:04d}-{k + 1:04d}.dcm", "w") as fh:
                        write_dicom(
                            fh, pixels, modality=image.modality, patient_id=exam.patient_id,
                            study_uid=exam.study_uid, series_uid=image.series_uid, sop_uid=sop,
                            study_date=stamp.date(), study_time=stamp.time(),
                            view=image.view_tag, photometric=image.photometric,
                            instance_number=k + 1,
                            position_z=(-300.0 + 5.0 * k) if n > 1 else None,
                            sex=exam.sex, age_years=exam.age,
                            study_description=exam.description.replace("-", " "),
                            series_description=image.series_description,
                            extra={"SeriesNumber": number})
        self.n_files += 1
        return path


def _batch_folder(kind: str, date: dt.date) -> str:
    steps = max(0, -(-(date - _FIRST_BATCH).days // _BATCH_DAYS))
    batch = _FIRST_BATCH + dt.timedelta(days=steps * _BATCH_DAYS)
    return f"{kind}-UPDATE-{batch:%Y%m%d}-COMPLETE"


def _render_lab(analyte: str, value: float) -> tuple[str, str, str, float, float, str]:
    """(lab name, unit, text, lower, upper, censor) with bounds in the canonical unit."""
    name, unit, factor, decimals = _LAB_RENDER[analyte]
    shown = round(value * factor, decimals)
    low, high = _CENSOR_LOW.get(analyte), _CENSOR_HIGH.get(analyte)
    if low is not None and shown < low:
        return name, unit, f"<{low:g}", -np.inf, low / factor, "left"
    if high is not None and shown > high:
        return name, unit, f">{high:g}", high / factor, np.inf, "right"
    text = f"{shown:.{decimals}f}"
    return name, unit, text, float(text) / factor, float(text) / factor, "none"


def write(root: Path, *, rng: np.random.Generator, n_patients: int) -> DemoTruth:
    """Write a CRDW download under ``root`` and return the truth it encodes.

    Parameters
    ----------
    root
        The folder a user would pass to ``covidimg.load({"crdw": root})``; created if needed.
    rng
        Random generator; the same seed writes the same files.
    n_patients
        Patients with clinical data (at least 4); one orphan and one pediatric patient are added.

    Returns
    -------
    DemoTruth
        Expected patients, images, events, labs, the findings the loader must report and the
        number of files written.

    Examples
    --------
    >>> import numpy as np, tempfile
    >>> from pathlib import Path
    >>> from covidimg.demo import crdw
    >>> truth = crdw.write(Path(tempfile.mkdtemp()), rng=np.random.default_rng(0),
    ...                    n_patients=4)  # doctest: +SKIP
    >>> sorted(set(truth.findings["kind"]))  # doctest: +SKIP
    ['duplicate_exam', 'in_progress_batch', 'orphan_image', ...]
    """
    if n_patients < 4:
        raise ValueError(f"n_patients={n_patients}: the CRDW demo needs at least 4 patients to "
                         "plant its quirks")
    w = _Writer(Path(root), rng)
    w.root.mkdir(parents=True, exist_ok=True)
    course = simulate_courses(rng, n_patients, modalities=("CR", "DX", "CT"),
                              modality_p=(0.55, 0.3, 0.15), max_exams=5)
    kid = simulate_courses(rng, 1, max_exams=2)
    orphan_course = simulate_courses(rng, 1, max_exams=2)

    # Patients: course patients + the pediatric patient (clinical data); the orphan (none).
    patients = pd.concat([course.patients, kid.patients], ignore_index=True)
    patients.loc[patients.index[-1], "age"] = float(rng.integers(4, 12))
    events = pd.concat([course.events, kid.events], ignore_index=True)
    exams = pd.concat([course.exams, kid.exams], ignore_index=True)
    labs = pd.concat([course.labs, kid.labs], ignore_index=True)
    kid_pid = kid.patients["pid"].iloc[0]
    ids = {pid: w.new_id() for pid in patients["pid"]}
    admission = {pid: dt.date(2020, 3, 1) + dt.timedelta(days=int(rng.integers(0, 240)))
                 for pid in patients["pid"]}
    info = patients.set_index("pid")

    # Make sure there is a CT exam to split, and radiographs to copy.
    if not (exams["modality"] == "CT").any():
        exams.loc[exams.index[0], "modality"] = "CT"

    # Remaps: the first exam of two patients is filed under an old id (one via a chain).
    remapped = [p for p in patients["pid"] if p != kid_pid][:2]
    old_ids = {remapped[0]: w.new_id(), remapped[1]: w.new_id()}
    middle_id = w.new_id()
    remap_rows = [(old_ids[remapped[0]], ids[remapped[0]]),
                  (old_ids[remapped[1]], middle_id), (middle_id, ids[remapped[1]]),
                  (w.new_id(), w.new_id()), (w.new_id(), w.new_id())]

    written: list[tuple[_Exam, Path]] = []
    first_exam_of: dict[str, int] = {}
    for i, row in exams.iterrows():
        pid = row["pid"]
        first_exam_of.setdefault(pid, i)
        filed_as = old_ids[pid] if pid in old_ids and first_exam_of[pid] == i else ids[pid]
        date = admission[pid] + dt.timedelta(days=int(row["day"]))
        hours = (8, 20) if row["modality"] == "CT" else (0, 24)
        stamp = dt.datetime.combine(date, dt.time(int(rng.integers(*hours)),
                                                  int(rng.integers(0, 60)),
                                                  int(rng.integers(0, 60))))
        exam = w.exam(filed_as, ids[pid], stamp, float(row["day"]), str(row["modality"]),
                      str(row["view"]), float(row["severity"]), str(info.at[pid, "sex"]),
                      float(info.at[pid, "age"]), pediatric=pid == kid_pid)
        kind = "CT" if exam.images[0].modality == "CT" else "CXR"
        folder = w.root / _batch_folder(kind, date)
        if kind == "CT" and not any(e.images[0].modality == "CT" for e, _ in written):
            # Split this CT into two zips, nine minutes apart, same HIRO id.
            exam.images.append(w.ct_series(float(row["severity"]), series=3, kernel="LUNG"))
            w.write_zip(folder, exam, exam.images[:1])
            later = stamp + dt.timedelta(minutes=9)
            part = w.write_zip(folder, exam, exam.images[1:], timestamp=later)
            w.finding("split_exam_merged", path=str(part))
            written.append((exam, part))
            continue
        path = w.write_zip(folder, exam)
        written.append((exam, path))

    # Pediatric copy: same timestamp, next HIRO id, new UIDs, identical names and pixels.
    kid_exams = [(e, p) for e, p in written if e.current_id == ids[kid_pid]]
    original, original_path = kid_exams[0]
    copy = _Exam(original.patient_id, original.current_id, original.timestamp,
                 w.hiro(original.patient_id), original.description, uid(rng), original.day,
                 original.sex, original.age,
                 [_Image(im.modality, im.view, im.view_tag, im.series_description,
                         im.photometric, im.pixels, uid(rng), [uid(rng) for _ in im.sop_uids],
                         im.folder) for im in original.images])
    copy_path = w.write_zip(original_path.parent, copy)
    w.finding("duplicate_exam", path=str(copy_path))
    # ... and a same-timestamp pediatric exam with different images: not a duplicate.
    other = w.exam(original.patient_id, original.current_id, original.timestamp, original.day,
                   "CR", "AP", 0.2, original.sex, original.age, pediatric=True)
    written.append((other, w.write_zip(original_path.parent, other)))

    # Adult exam with the same timestamp as an earlier one, different images: not a duplicate.
    adult, adult_path = next((e, p) for e, p in written
                             if e.current_id != ids[kid_pid] and e.images[0].modality != "CT")
    twin = w.exam(adult.patient_id, adult.current_id, adult.timestamp, adult.day, "DX", "AP",
                  0.4, adult.sex, adult.age)
    written.append((twin, w.write_zip(adult_path.parent, twin)))

    # Cross-batch duplicate: the same zip content in a later batch under another HIRO id.
    source_exam, source_path = next((e, p) for e, p in written
                                    if e.images[0].modality != "CT" and e is not twin
                                    and e.current_id != ids[kid_pid])
    later_batch = _batch_folder("CXR", source_exam.timestamp.date() +
                                dt.timedelta(days=_BATCH_DAYS))
    copy_name = (f"{source_exam.patient_id}_{source_exam.timestamp:%Y%m%d-%H%M%S}_"
                 f"{w.hiro(source_exam.patient_id)}_{source_exam.description}.zip")
    (w.root / later_batch).mkdir(parents=True, exist_ok=True)
    cross_copy = w.root / later_batch / copy_name
    shutil.copyfile(source_path, cross_copy)
    w.n_files += 1
    w.finding("duplicate_exam", path=str(cross_copy))

    # Orphan patient: exams under an id with no clinical data.
    orphan_id = w.new_id()
    orphan_sex = str(orphan_course.patients["sex"].iloc[0])
    orphan_age = float(orphan_course.patients["age"].iloc[0])
    orphan_start = dt.date(2020, 4, 1) + dt.timedelta(days=int(rng.integers(0, 120)))
    orphan_exams = []
    first_day = float(orphan_course.exams["day"].min())
    for _, row in orphan_course.exams.iterrows():
        day = float(row["day"]) - first_day
        stamp = dt.datetime.combine(orphan_start + dt.timedelta(days=int(day)), dt.time(10, 30))
        exam = w.exam(orphan_id, orphan_id, stamp, day, "DX", str(row["view"]),
                      float(row["severity"]), orphan_sex, orphan_age)
        path = w.write_zip(w.root / _batch_folder("CXR", stamp.date()), exam)
        orphan_exams.append(exam)
        written.append((exam, path))

    # Baseline exams before one patient's COVID encounter (day 0 = admission = encounter):
    # two inside the tip sheet's windows, two outside them.
    baseline_pid = next(p for p in reversed(list(patients["pid"]))
                        if p not in old_ids and p != kid_pid)
    for modality, days_before, ct_description, outside in BASELINE_EXAMS:
        date = admission[baseline_pid] - dt.timedelta(days=days_before)
        stamp = dt.datetime.combine(date, dt.time(10, 0))
        exam = w.exam(ids[baseline_pid], ids[baseline_pid], stamp, float(-days_before),
                      modality, "PA", 0.1, str(info.at[baseline_pid, "sex"]),
                      float(info.at[baseline_pid, "age"]), ct_description=ct_description)
        kind = "CT" if modality == "CT" else "CXR"
        path = w.write_zip(w.root / _batch_folder(kind, date), exam)
        written.append((exam, path))
        if outside:
            w.finding("outside_inclusion_window", patient_uid=f"{SOURCE}:{ids[baseline_pid]}",
                      path=str(path))

    # An IN-PROGRESS CT batch: skipped entirely.
    last = max(e.timestamp for e, _ in written).date() + dt.timedelta(days=7)
    in_progress = w.root / f"CT-UPDATE-{last:%Y%m%d}-IN-PROGRESS"
    pid0 = patients["pid"].iloc[0]
    for k in range(2):
        stamp = dt.datetime.combine(last - dt.timedelta(days=k + 1), dt.time(9, 15))
        pending = w.exam(ids[pid0], ids[pid0], stamp, 0.0, "CT", "AXIAL", 0.3, "M", 60.0)
        w.write_zip(in_progress, pending)
    w.finding("in_progress_batch", path=str(in_progress))

    # A zip whose name does not parse, a truncated zip, a stray file.
    bad_exam = w.exam(ids[pid0], ids[pid0], dt.datetime(2020, 5, 5, 10, 0), 0.0, "DX", "AP",
                      0.3, "M", 60.0)
    first_cxr = sorted(p for p in w.root.glob("CXR-UPDATE-*-COMPLETE") if p.is_dir())[0]
    bad_name = w.write_zip(first_cxr, bad_exam, name="exam export (1).zip")
    w.finding("unparseable_name", path=str(bad_name))
    truncated_exam = w.exam(ids[pid0], ids[pid0], dt.datetime(2020, 5, 6, 11, 0), 0.0, "CR",
                            "AP", 0.3, "M", 60.0)
    truncated = w.write_zip(first_cxr, truncated_exam)
    truncated.write_bytes(truncated.read_bytes()[:300])
    w.finding("unreadable_file", path=str(truncated))
    (w.root / "README.txt").write_text("CRDW COVID-19 limited datamart download (synthetic)\n")
    w.n_files += 1

    # The remap workbook.
    pd.DataFrame(remap_rows, columns=["OLD_C19_PATIENT_ID", "CURRENT_C19_PATIENT_ID"]).to_excel(
        w.root / "C19_HIRO_LDS_REMAP_PUB-LIST.xlsx", index=False, sheet_name="remap")
    w.n_files += 1
    for pid in remapped:
        w.finding("remapped_patient", patient_uid=f"{SOURCE}:{ids[pid]}")

    truth_labs = _write_datamart(w, patients, events, labs, ids, admission)

    # ------------------------------------------------------------------ truth tables
    truth_patients = pd.DataFrame({
        "patient_uid": [f"{SOURCE}:{ids[p]}" for p in patients["pid"]],
        "sex": patients["sex"].to_numpy(),
        "age_min": patients["age"].to_numpy(float),
        "age_max": patients["age"].to_numpy(float),
        "covid_status": "positive",
        "icu": patients["icu"].to_numpy(bool),
        "died": patients["died"].to_numpy(bool),
    })
    truth_patients = pd.concat([truth_patients, pd.DataFrame({
        "patient_uid": [f"{SOURCE}:{orphan_id}"], "sex": [orphan_sex],
        "age_min": [orphan_age], "age_max": [orphan_age], "covid_status": ["unknown"],
        "icu": [pd.NA], "died": [pd.NA]})], ignore_index=True)
    truth_patients["icu"] = truth_patients["icu"].astype("boolean")
    truth_patients["died"] = truth_patients["died"].astype("boolean")

    truth_events = pd.DataFrame({
        "patient_uid": [f"{SOURCE}:{ids[p]}" for p in events["pid"]],
        "event": events["event"].to_numpy(), "day": events["day"].to_numpy(float)})
    first_event = truth_events.groupby(["patient_uid", "event"])["day"].min()

    image_rows = []
    for exam, _ in written:
        patient_uid = f"{SOURCE}:{exam.current_id}"
        for image in exam.images:
            image_id = image.series_uid if image.modality == "CT" else image.sop_uids[0]
            image_uid = f"{SOURCE}:{image_id}"
            row = {"image_uid": image_uid, "patient_uid": patient_uid,
                   "modality": image.modality, "view": image.view, "day": exam.day,
                   "n_instances": len(image.sop_uids), "photometric": image.photometric,
                   "exam": EXAM_LABELS[exam.description if image.modality == "CT"
                                       else image.view],
                   # the encounter is the admission day (day 0); the orphan has none
                   "pre_encounter": pd.NA if exam in orphan_exams else exam.day < 0}
            for column, event in (("admission_offset", "admission"),
                                  ("icu_admission_offset", "icu_admission"),
                                  ("icu_release_offset", "icu_release"),
                                  ("death_offset", "death")):
                key = (patient_uid, event)
                row[column] = first_event[key] - exam.day if key in first_event.index else np.nan
            image_rows.append(row)
            if exam in orphan_exams:
                w.finding("orphan_image", patient_uid=patient_uid, image_uid=image_uid)
    truth_images = pd.DataFrame(image_rows)
    truth_images["pre_encounter"] = truth_images["pre_encounter"].astype("boolean")

    return DemoTruth(SOURCE, patients=truth_patients, images=truth_images, events=truth_events,
                     labs=truth_labs, findings=pd.DataFrame(w.findings), n_files=w.n_files,
                     observations=pd.DataFrame(w.observations,
                                               columns=["patient_uid", "field", "value",
                                                        "value_num", "day"]))


def _write_datamart(w: _Writer, patients: pd.DataFrame, events: pd.DataFrame,
                    labs: pd.DataFrame, ids: dict[str, str],
                    admission: dict[str, dt.date]) -> pd.DataFrame:
    """Write patients.csv, encounters.csv and labs.xlsx; return the truth labs."""
    folder = w.root / "datamart"
    folder.mkdir(exist_ok=True)

    def date_of(pid: str, day: float, us: bool = False) -> str:
        date = admission[pid] + dt.timedelta(days=int(day))
        return f"{date.month}/{date.day}/{date.year}" if us else date.isoformat()

    ev = {(p, e): d for p, e, d in events[["pid", "event", "day"]].itertuples(index=False)}
    patient_rows, encounter_rows = [], []
    for k, row in enumerate(patients.itertuples(index=False)):
        pid = row.pid
        patient_rows.append({
            "patient_id": ids[pid], "sex": {"F": "Female", "M": "Male"}[row.sex],
            "age": int(row.age), "covid_status": "Positive",
            "covid_encounter_date": date_of(pid, 0),
            "covid_positive_date": date_of(pid, ev[(pid, "covid_test_positive")]),
            "race": _RACES[k % len(_RACES)], "ethnicity": _ETHNICITIES[k % len(_ETHNICITIES)],
            "bmi": f"{18 + (k * 7) % 20}.{k % 10}",
        })
        us = k % 3 == 1  # some encounter rows use MM/DD/YYYY
        encounter_rows.append({
            "patient_id": ids[pid], "admission_date": date_of(pid, 0, us),
            **{column: date_of(pid, ev[(pid, event)], us) if (pid, event) in ev else ""
               for column, event in (("discharge_date", "discharge"),
                                     ("icu_admission_date", "icu_admission"),
                                     ("icu_discharge_date", "icu_release"),
                                     ("death_date", "death"))},
        })
    # A second row for one patient, as if appended by a later export: another age and a
    # negative status. The first row is kept; the loader reports this one.
    repeated = dict(patient_rows[1], age=patient_rows[1]["age"] + 1, covid_status="Negative")
    patient_rows.append(repeated)
    pd.DataFrame(patient_rows).to_csv(folder / "patients.csv", index=False)
    w.finding("duplicate_row", patient_uid=f"{SOURCE}:{repeated['patient_id']}",
              path=f"{os.path.abspath(folder / 'patients.csv')} row {len(patient_rows) + 1}")
    # bmi is no column covidimg reads: an observation, reported once as unexpected_field
    w.finding("unexpected_field", path=os.path.abspath(folder / "patients.csv"))
    for row in patient_rows[:-1]:  # the repeated row is dropped
        for name, value, number in (("race", row["race"], np.nan),
                                    ("ethnicity", row["ethnicity"], np.nan),
                                    ("crdw:bmi", None, float(row["bmi"]))):
            w.observations.append({"patient_uid": f"{SOURCE}:{row['patient_id']}",
                                   "field": name, "value": value, "value_num": number,
                                   "day": np.nan})
    pd.DataFrame(encounter_rows).to_csv(folder / "encounters.csv", index=False)

    lab_rows, truth = [], []
    for row in labs.itertuples(index=False):
        if row.analyte not in _LAB_RENDER:
            continue
        name, unit, text, lower, upper, censor = _render_lab(row.analyte, row.value)
        hour = int(w.rng.integers(0, 24))
        when = dt.datetime.combine(admission[row.pid] + dt.timedelta(days=int(row.day)),
                                   dt.time(hour, 5))
        lab_rows.append({"patient_id": ids[row.pid], "lab_name": name, "value": text,
                         "unit": unit, "result_date": when.strftime("%Y-%m-%d %H:%M")})
        truth.append({"patient_uid": f"{SOURCE}:{ids[row.pid]}", "image_uid": None,
                      "analyte": row.analyte, "lower": lower, "upper": upper,
                      "censor": censor, "day": float(row.day)})
    pid0 = patients["pid"].iloc[0]
    when = f"{admission[pid0]:%Y-%m-%d} 08:00"
    bad_rows = [
        {"patient_id": ids[pid0], "lab_name": "C-REACTIVE PROTEIN", "value": "HEMOLYZED",
         "unit": "mg/dL", "result_date": when},
        {"patient_id": ids[pid0], "lab_name": "HEMOGLOBIN A1C", "value": "6.1", "unit": "%",
         "result_date": when},
    ]
    frame = pd.DataFrame(lab_rows + bad_rows,
                         columns=["patient_id", "lab_name", "value", "unit", "result_date"])
    labs_path = folder / "labs.xlsx"
    frame.to_excel(labs_path, index=False, sheet_name="labs")
    w.finding("unparseable_value", patient_uid=f"{SOURCE}:{ids[pid0]}",
              path=f"{os.path.abspath(labs_path)} row {len(lab_rows) + 2}")
    w.finding("unknown_lab", path=f"{os.path.abspath(labs_path)} row {len(lab_rows) + 3}")
    w.observations.append({"patient_uid": f"{SOURCE}:{ids[pid0]}",
                           "field": "crdw:lab:HEMOGLOBIN A1C", "value": None,
                           "value_num": 6.1, "day": 0.0})
    w.n_files += 3
    return pd.DataFrame(truth, columns=["patient_uid", "image_uid", "analyte", "lower", "upper",
                                        "censor", "day"])
