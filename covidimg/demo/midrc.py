"""Write a synthetic cohort in the MIDRC layout (Gen3 TSV exports + gen3-client DICOM zips).

The layout under ``root``::

    case.tsv, imaging_study.tsv, visit.tsv, measurement.tsv, procedure.tsv   Gen3 exports
    manifest.json                                    the gen3-client download manifest
    dicom/<study_uid>.zip                            one zip per study, <series_uid>/<n>.dcm
    dicom/<case_id>/<study_uid>/<series_uid>/*.dcm   studies the user has unzipped
    dicom/redownload/*.dcm                           a second copy of one radiograph

Quirks planted (and listed in the truth's findings where the loader must report them):
``days_to_*`` counted from three different index events, cases with and without a hospital
admission visit, ``days_from_study_to_pos_covid_test`` lists in both JSON and comma-separated
form (some with two tests), one patient older than 89 (``age_at_index_gt89``), one ``Not
Reported`` sex, one DICOM study without an imaging_study row (orphan), one imaging_study row
without DICOM, one duplicated instance, one truncated DICOM file, a MONOCHROME1 radiograph, a
radiograph without View Position (portable description), CT series of many slices, a Gen3 node
the loader does not read, and the 3-digit zip code the loader must not copy.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from covidimg.demo.course import simulate_courses
from covidimg.demo.dicom_writer import uid, write_dicom
from covidimg.demo.phantom import chest_radiograph, ct_volume
from covidimg.demo.truth import DemoTruth

__all__ = ["CASE_COLUMNS", "CT_SHAPE", "EXPORT_DATE", "IMAGE_SHAPE", "write", "write_case_export"]

IMAGE_SHAPE = (128, 128)
CT_SHAPE = (48, 48)
CT_SLICES = 20
SITES = ("419639", "440808")
INDEX_EVENTS = ("COVID-19 Test", "First Imaging Study", "Study Enrollment")
_FINDING_COLUMNS = ["kind", "patient_uid", "image_uid", "path", "detail"]


#: The columns of the portal's case export (the real midrc_data_download-2025-01-29_0.tsv).
CASE_COLUMNS = ["type", "id", "project_id", "submitter_id", "age_at_index", "age_at_index_gt89",
                "case_ids", "country_of_residence", "covid19_positive", "ethnicity",
                "gen3_linked_subjects_available", "icu_indicator", "index_event",
                "linked_external_data", "long_covid_diagnosis", "race", "sex", "site_id",
                "token_record_id", "treatment_info", "ventilator_indicator", "zip",
                "datasets.id", "datasets.submitter_id"]
#: Release batches (``dataset`` nodes) and their Gen3 record ids.
_BATCH_IDS = {"RSNA_20211026": "8c3f3c52-6a0e-4d0e-9d7e-2f6f6b0d2a01",
              "RSNA_20220308": "2ec8acaf-0000-4e5c-8000-5288210b1389",
              "RSNA_20230824": "7cb4eb3a-0000-4f47-8000-8d3f19c1c91d"}
#: (code system, code, name, observation field, value) of the planted conditions.
_CONDITIONS = (
    ("ICD-10-CM", "I10", "Essential (primary) hypertension", "comorbidity_hypertension", "yes"),
    ("", "", "Asthma", "comorbidity_lung", "yes"),
    ("ICD-10-CM", "J18.9", "Pneumonia, unspecified organism", "midrc:condition",
     "ICD-10-CM:J18.9"),
    ("ICD-10-CM", "E11.9", "Type 2 diabetes mellitus without complications",
     "comorbidity_diabetes", "yes"),
)
#: (medication_type, medication_name (free text), observation field, value).
_MEDICATIONS = (
    ("ACE inhibitors", "lisinopril 10 mg once daily", "medication_acei", "yes"),
    ("Systemic steroids", "dexamethasone 6 mg daily", "midrc:medication_type",
     "Systemic steroids"),
)
_OBSERVATION_COLUMNS = ["patient_uid", "field", "value", "value_num", "unit", "day"]


class _ObservationTruth:
    """The observations a correct loader must return (``day`` on the cohort's axis)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, object]] = []

    def add(self, patient_uid: str, field: str, *, value: str | None = None,
            value_num: float | None = None, unit: str | None = None,
            day: float | None = None) -> None:
        self.rows.append({"patient_uid": patient_uid, "field": field, "value": value,
                          "value_num": np.nan if value_num is None else float(value_num),
                          "unit": unit, "day": np.nan if day is None else float(day)})

    def case(self, puid: str, *, race: str, ethnicity: str, ventilation: str | None,
             long_covid: bool, treatment_info: bool | None, batches: list[str],
             linked_subjects: bool | None = None) -> None:
        """The observations of one case row's fields, as the writer chose them."""
        self.add(puid, "race", value=race)
        self.add(puid, "ethnicity", value=ethnicity)
        if ventilation is not None:
            self.add(puid, "ventilation", value=ventilation)
        if long_covid:
            self.add(puid, "midrc:long_covid_diagnosis", value="Positive")
        if treatment_info is not None:
            self.add(puid, "midrc:treatment_info", value="yes" if treatment_info else "no")
        if linked_subjects is not None:
            self.add(puid, "midrc:gen3_linked_subjects_available",
                     value="yes" if linked_subjects else "no")
        for batch in batches:
            self.add(puid, "midrc:datasets.submitter_id", value=batch)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=_OBSERVATION_COLUMNS)


def _truth(patients: list[dict[str, object]], images: list[dict[str, object]],
           events: pd.DataFrame, findings: list[dict[str, object]], n_files: int,
           observations: _ObservationTruth) -> DemoTruth:
    truth = DemoTruth(source="midrc", patients=pd.DataFrame(patients),
                      images=pd.DataFrame(images), events=events,
                      labs=pd.DataFrame(columns=["patient_uid", "image_uid", "analyte",
                                                 "lower", "upper", "censor", "day"]),
                      findings=pd.DataFrame(findings, columns=_FINDING_COLUMNS),
                      n_files=n_files)
    truth.observations = observations.frame()  # type: ignore[attr-defined]
    return truth


def _write_nifti(path: Path, volume: np.ndarray, spacing: tuple[float, ...]) -> None:
    """Write ``volume`` (x, y[, z]) as NIfTI-1 with a RAS+ diagonal affine."""
    import nibabel as nib

    path.parent.mkdir(parents=True, exist_ok=True)
    affine = np.diag([*spacing, *(1.0,) * (3 - len(spacing)), 1.0])
    nib.save(nib.Nifti1Image(volume.astype(np.int16), affine), path)


def _as_ras(volume: np.ndarray) -> np.ndarray:
    """A display-ordered volume (slices feet -> head, rows anterior -> posterior, columns the
    patient's right -> left) as NIfTI voxels ``(x, y, z)`` for a RAS+ affine, whose axes run
    towards the patient's right, anterior and head."""
    return np.ascontiguousarray(volume[:, ::-1, ::-1].transpose(2, 1, 0))


def _write_extra_cases(root: Path, rng: np.random.Generator, case_rows: list[dict[str, object]],
                       study_rows: list[dict[str, object]], t_patients: list[dict[str, object]],
                       t_images: list[dict[str, object]], findings: list[dict[str, object]],
                       obs: _ObservationTruth) -> int:
    """A case with only its case row, two legacy NIfTI cases and an orphan NIfTI file."""
    extra = (("440808-800001", "Female", "F", 61, "Asian", "Hispanic or Latino", "No",
              "RSNA_20230824"),
             ("419639-900001", "Male", "M", 70, "White", "Not Hispanic or Latino", "Yes",
              "RSNA_20211026"),
             ("419639-900002", "Female", "F", 48, "Other", "Not Reported", "Yes",
              "RSNA_20211026"))
    for case_id, sex_text, sex, age, race, ethnicity, covid, batch in extra:
        case_rows.append({"type": "case", "project_id": "Open-R1", "submitter_id": case_id,
                          "age_at_index": f"{age}.0", "age_at_index_gt89": "No", "sex": sex_text,
                          "race": race, "ethnicity": ethnicity, "covid19_positive": covid,
                          "site_id": case_id.split("-")[0], "zip": "941",
                          "datasets.id": _BATCH_IDS[batch], "datasets.submitter_id": batch})
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
    _write_tsv(root / "ct_series_file.tsv",
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


def _write_tsv(path: Path, columns: list[str], rows: list[dict[str, object]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, delimiter="\t",
                                lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: "" if row.get(c) is None else row.get(c) for c in columns})


def _day_text(value: float) -> str:
    return str(round(float(value)))


class _Study:
    """One exam rendered as DICOM instances: (relative member path, bytes)."""

    def __init__(self, study_uid: str) -> None:
        self.study_uid = study_uid
        self.instances: list[tuple[str, bytes]] = []


def _render_exam(rng: np.random.Generator, exam: pd.Series, case_id: str, sex: str,
                 age: float, date: dt.date, *, photometric: str = "MONOCHROME2",
                 view_known: bool = True) -> tuple[_Study, dict[str, object]]:
    study = _Study(uid(rng))
    series_uid = uid(rng)
    common = dict(modality=exam["modality"], patient_id=case_id, study_uid=study.study_uid,
                  series_uid=series_uid, study_date=date, sex=sex,
                  age_years=min(age, 90.0))
    if exam["modality"] == "CT":
        volume = ct_volume(rng, CT_SLICES, CT_SHAPE, exam["severity"])
        for k in range(CT_SLICES):
            buf = io.BytesIO()
            write_dicom(buf, volume[k], sop_uid=uid(rng), instance_number=k + 1,
                        position_z=float(k * 5.0), study_description="CT CHEST W/O CONTRAST",
                        **common)
            study.instances.append((f"{series_uid}/{k + 1:04d}.dcm", buf.getvalue()))
        image_uid, view, shape = f"midrc:{series_uid}", "AXIAL", CT_SHAPE
    else:
        pixels = chest_radiograph(rng, IMAGE_SHAPE, severity=exam["severity"],
                                  view=exam["view"])
        sop = uid(rng)
        buf = io.BytesIO()
        description = f"XR CHEST 1 VIEW {exam['view']}" if view_known else "XR CHEST PORT"
        write_dicom(buf, pixels, sop_uid=sop, view=exam["view"] if view_known else None,
                    photometric=photometric, study_description=description, **common)
        study.instances.append((f"{series_uid}/0001.dcm", buf.getvalue()))
        image_uid = f"midrc:{sop}"
        view = exam["view"] if view_known else "AP"
        shape = IMAGE_SHAPE
    return study, {"image_uid": image_uid, "modality": exam["modality"], "view": view,
                   "rows": shape[0], "columns": shape[1], "photometric": photometric,
                   "n_instances": len(study.instances), "study_uid": study.study_uid}


def write(root: Path, *, rng: np.random.Generator, n_patients: int = 30) -> DemoTruth:
    """Write ``n_patients`` simulated MIDRC cases under ``root``, with the truth they encode.

    Parameters
    ----------
    root
        Folder to write the Gen3 TSV exports and the ``dicom/`` download into.
    rng
        Random generator; the same seed writes the same files.
    n_patients
        Number of cases (at least 3, so that every quirk can be planted).

    Returns
    -------
    DemoTruth
        What a correct loader must return.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from covidimg.demo import midrc
    >>> truth = midrc.write(pathlib.Path(tempfile.mkdtemp()), rng=np.random.default_rng(0),
    ...                     n_patients=4)
    >>> truth.source, truth.n_files > 4
    ('midrc', True)
    """
    if n_patients < 3:
        raise ValueError(f"n_patients={n_patients}: the MIDRC demo needs at least 3 cases to "
                         "plant its quirks")
    root = Path(root)
    dicom_dir = root / "dicom"
    dicom_dir.mkdir(parents=True, exist_ok=True)
    course = simulate_courses(rng, n_patients, modalities=("CR", "DX", "CT"),
                              modality_p=(0.6, 0.25, 0.15), max_exams=6)
    ev_by_pid = {pid: grp for pid, grp in course.events.groupby("pid")}
    exams_by_pid = {pid: grp for pid, grp in course.exams.groupby("pid")}

    case_rows, study_rows, visit_rows, meas_rows = [], [], [], []
    procedure_rows: list[dict[str, object]] = []
    condition_rows: list[dict[str, object]] = []
    medication_rows: list[dict[str, object]] = []
    annotation_rows: list[dict[str, object]] = []
    obs = _ObservationTruth()
    t_patients, t_images, t_events, findings = [], [], [], []
    n_files = 0
    loose_patients = set(course.patients["pid"].iloc[1::3])
    monochrome_done = portable_done = False
    duplicate_source: tuple[str, bytes] | None = None
    orphan_case: tuple[str, str, float, pd.Series] | None = None

    for k, patient in enumerate(course.patients.itertuples(index=False)):
        pid = patient.pid
        case_id = f"{SITES[k % 2]}-{k + 1:06d}"
        puid = f"midrc:{case_id}"
        events = ev_by_pid[pid].set_index("event")["day"]
        exams = exams_by_pid[pid].reset_index(drop=True)
        index_event = INDEX_EVENTS[k % 3]
        if index_event == "COVID-19 Test":
            index_day = float(events["covid_test_positive"])
        elif index_event == "First Imaging Study":
            index_day = float(exams["day"].min())
        else:
            index_day = float(rng.integers(-2, 3))
        has_visit = k % 4 != 3
        # Truth axis: admission when the visit is exported, else the index event.
        axis0 = 0.0 if has_visit else index_day
        age = 93.0 if k == 0 else float(patient.age)
        sex_text = "Not Reported" if k == 1 else {"F": "Female", "M": "Male"}[patient.sex]
        race = str(rng.choice(["White", "Black or African American", "Asian", "Not Reported"]))
        # Gen3 booleans: the portal writes True/False, older exports Yes/No.
        icu_text = ("True" if patient.icu else "False") if k % 2 else \
            ("Yes" if patient.icu else "No")
        ventilator = ("True" if patient.icu else "False") if k % 3 != 2 else ""
        batches = ["RSNA_20211026"] + (["RSNA_20220308"] if k % 2 else [])
        case_rows.append({
            "type": "case", "project_id": "Open-R1", "submitter_id": case_id,
            "age_at_index": "" if age > 89 else f"{int(age)}.0",
            "age_at_index_gt89": "Yes" if age > 89 else "No",
            "sex": sex_text, "race": race, "ethnicity": "Not Reported",
            "covid19_positive": "Yes", "index_event": index_event,
            "icu_indicator": icu_text, "ventilator_indicator": ventilator,
            "long_covid_diagnosis": "Positive" if k % 5 == 2 else "",
            "treatment_info": "False" if k % 4 == 1 else "",
            "site_id": SITES[k % 2], "zip": f"{int(rng.integers(100, 999))}",
            "country_of_residence": "US",
            "datasets.id": ",".join(_BATCH_IDS[b] for b in batches),
            "datasets.submitter_id": ",".join(batches),
        })
        obs.case(puid, race=race, ethnicity="Not Reported",
                 ventilation=({"True": "mechanical", "False": "none"}.get(ventilator)),
                 long_covid=k % 5 == 2, treatment_info=False if k % 4 == 1 else None,
                 batches=batches)
        t_patients.append({"patient_uid": puid, "sex": "U" if k == 1 else patient.sex,
                           "age_min": 90.0 if age > 89 else age,
                           "age_max": np.inf if age > 89 else age,
                           "covid_status": "positive", "icu": bool(patient.icu),
                           "died": bool(patient.died) if has_visit else None})

        # COVID-19 tests: the course's positive test, a second positive for some, a negative.
        positives = [float(events["covid_test_positive"])]
        if k % 2 == 0:
            positives.append(positives[0] + 7.0)
        negatives = [positives[0] - 3.0] if k % 3 == 1 else []
        for day in positives:
            meas_rows.append({"type": "measurement", "submitter_id": f"{case_id}_pcr_{day:g}",
                              "cases.submitter_id": case_id, "test_name": "COVID-19",
                              "test_method": "RT-PCR", "test_result_text": "Positive",
                              "test_days_from_index": _day_text(day - index_day)})
            t_events.append((puid, "covid_test_positive", day - axis0))
            obs.add(puid, "midrc:test_method", value="RT-PCR", day=day - axis0)
        for day in negatives:
            meas_rows.append({"type": "measurement", "submitter_id": f"{case_id}_pcr_{day:g}",
                              "cases.submitter_id": case_id, "test_name": "COVID-19",
                              "test_method": "RT-PCR", "test_result_text": "Negative",
                              "test_days_from_index": _day_text(day - index_day)})
            t_events.append((puid, "covid_test_negative", day - axis0))
            obs.add(puid, "midrc:test_method", value="RT-PCR", day=day - axis0)

        if has_visit:
            visit = {"type": "visit", "submitter_id": f"{case_id}_visit",
                     "cases.submitter_id": case_id,
                     "days_to_hospital_admission": _day_text(0.0 - index_day)}
            t_events.append((puid, "admission", 0.0))
            for event, column in (("icu_admission", "days_to_icu_admission"),
                                  ("icu_release", "days_to_icu_discharge")):
                if event in events:
                    visit[column] = _day_text(events[event] - index_day)
                    t_events.append((puid, event, float(events[event])))
            end_event = "death" if "death" in events else "discharge"
            visit["days_to_hospital_discharge"] = _day_text(events[end_event] - index_day)
            visit["discharge_type"] = "Expired" if end_event == "death" else "Home"
            t_events.append((puid, end_event, float(events[end_event])))
            obs.add(puid, "midrc:discharge_type", value=visit["discharge_type"],
                    day=float(events[end_event]))
            visit_rows.append(visit)
            if patient.icu:
                # Mechanical ventilation over the ICU stay (a procedure row).
                start = float(events["icu_admission"])
                end = float(events["icu_release"]) if "icu_release" in events else None
                procedure_rows.append({
                    "type": "procedure", "submitter_id": f"{case_id}_vent",
                    "cases.submitter_id": case_id, "procedure_name": "Breathing Support",
                    "breathing_support_type": "Mechanical Ventilation",
                    "days_to_procedure_start": _day_text(start - index_day),
                    "days_to_procedure_end": "" if end is None else _day_text(end - index_day)})
                obs.add(puid, "ventilation", value="mechanical", day=start,
                        value_num=None if end is None else end - start,
                        unit=None if end is None else "days")
        condition = _CONDITIONS[k % len(_CONDITIONS)]
        condition_rows.append({
            "type": "condition", "submitter_id": f"{case_id}_cond",
            "cases": {"submitter_id": case_id}, "condition_name": condition[2],
            "condition_code": condition[1], "condition_code_system": condition[0],
            "days_to_condition_start": -400 - int(index_day), "days_to_condition_end": None})
        obs.add(puid, condition[3], value=condition[4], day=-400.0 - int(index_day) +
                index_day - axis0)
        if k % 4 in (0, 2):
            kind, name, field, value = _MEDICATIONS[k % 4 // 2]
            medication_rows.append({
                "type": "medication", "submitter_id": f"{case_id}_med", "case_ids": [case_id],
                "medication_type": kind, "medication_name": name,
                "days_to_medication_start": 1 - int(index_day),
                "days_to_medication_end": 6 - int(index_day)})
            obs.add(puid, field, value=value, day=1.0 - int(index_day) + index_day - axis0,
                    value_num=5.0, unit="days")

        admission_date = dt.date(2020, 3, 1) + dt.timedelta(days=int(rng.integers(0, 240)))
        scored = False
        for i, exam in exams.iterrows():
            date = admission_date + dt.timedelta(days=int(exam["day"]))
            radiograph = exam["modality"] != "CT"
            photometric = "MONOCHROME2"
            view_known = True
            if radiograph and not monochrome_done and k >= 1:
                photometric, monochrome_done = "MONOCHROME1", True
            elif radiograph and not portable_done and k >= 2 and exam["view"] == "AP":
                view_known, portable_done = False, True
            study, image = _render_exam(rng, exam, case_id, patient.sex, age, date,
                                        photometric=photometric, view_known=view_known)
            tests = [d - exam["day"] for d in positives]
            neg_tests = [d - exam["day"] for d in negatives]
            serial = (json.dumps([int(t) for t in tests]) if i % 2 == 0
                      else ",".join(str(int(t)) for t in tests))
            exam_day = float(exam["day"]) - axis0
            obs.add(puid, "midrc:study_modality", value=exam["modality"], day=exam_day)
            obs.add(puid, "midrc:age_at_imaging_gt89", value="Yes" if age > 89 else "No",
                    day=exam_day)
            if age <= 89:
                obs.add(puid, "midrc:age_at_imaging", value_num=float(int(age)), unit="years",
                        day=exam_day)
            study_submitter = f"{case_id}_{study.study_uid[-8:]}"
            if radiograph and k % 2 == 0 and not scored:
                score = round(float(exam["severity"]) * 24)
                annotation_rows.append({
                    "type": "annotation", "submitter_id": f"{study_submitter}_mrale",
                    "cases.submitter_id": case_id,
                    "imaging_studies.submitter_id": study_submitter,
                    "annotation_name": "midrc_mRALE_Mastermind_Challenge",
                    "annotation_method": "Retrospective_expert",
                    "annotator_id": f"reader{k % 3}@{SITES[k % 2]}",
                    "midrc_mRALE_score": score})
                obs.add(puid, "midrc:midrc_mRALE_score", value_num=float(score), unit="points",
                        day=exam_day)
                obs.add(puid, "midrc:annotation_name", value="midrc_mRALE_Mastermind_Challenge",
                        day=exam_day)
                obs.add(puid, "midrc:annotation_method", value="Retrospective_expert",
                        day=exam_day)
                scored = True
            study_rows.append({
                "type": "imaging_study", "submitter_id": study_submitter,
                "cases.submitter_id": case_id, "study_uid": study.study_uid,
                "study_modality": exam["modality"],
                "study_description": "CT CHEST" if not radiograph else "XR CHEST",
                "days_to_study": _day_text(exam["day"] - index_day),
                "days_from_study_to_pos_covid_test": serial,
                "days_from_study_to_neg_covid_test": json.dumps([int(t) for t in neg_tests])
                if neg_tests else "",
                "age_at_imaging": "" if age > 89 else int(age),
                "age_at_imaging_gt89": "Yes" if age > 89 else "No",
            })
            if pid in loose_patients:
                for member, data in study.instances:
                    path = dicom_dir / case_id / study.study_uid / member
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(data)
                    n_files += 1
            else:
                with zipfile.ZipFile(dicom_dir / f"{study.study_uid}.zip", "w") as zf:
                    for member, data in study.instances:
                        zf.writestr(member, data)
                n_files += 1
            if radiograph and duplicate_source is None:
                duplicate_source = study.instances[0]
            t_images.append({**image, "patient_uid": puid, "day": exam["day"] - axis0})
        if orphan_case is None and k == 2:
            orphan_case = (case_id, patient.sex, age, exams.iloc[0])
        if k == 1:
            # An imaging_study row whose DICOM was not downloaded.
            missing_uid = uid(rng)
            study_rows.append({
                "type": "imaging_study", "submitter_id": f"{case_id}_{missing_uid[-8:]}",
                "cases.submitter_id": case_id, "study_uid": missing_uid,
                "study_modality": "CR", "study_description": "XR CHEST",
                "days_to_study": _day_text(exams["day"].max() - index_day),
                "days_from_study_to_pos_covid_test": "",
            })
            obs.add(puid, "midrc:study_modality", value="CR",
                    day=float(exams["day"].max()) - axis0)
            findings.append({"kind": "study_without_images", "patient_uid": puid,
                             "image_uid": None, "path": None, "detail": missing_uid})

    # The orphan: a downloaded study the imaging_study export does not list.
    assert orphan_case is not None
    case_id, sex, age, exam = orphan_case
    study, _ = _render_exam(rng, exam, case_id, sex, age, dt.date(2020, 6, 1))
    with zipfile.ZipFile(dicom_dir / f"{study.study_uid}.zip", "w") as zf:
        for member, data in study.instances:
            zf.writestr(member, data)
    n_files += 1
    findings.append({"kind": "orphan_image", "patient_uid": None, "image_uid": None,
                     "path": str(dicom_dir / f"{study.study_uid}.zip"),
                     "detail": study.study_uid})
    # A second copy of one instance (re-downloaded); it sorts after the first copy.
    assert duplicate_source is not None
    dup_path = dicom_dir / "redownload" / Path(duplicate_source[0]).name
    dup_path.parent.mkdir(parents=True, exist_ok=True)
    dup_path.write_bytes(duplicate_source[1])
    n_files += 1
    findings.append({"kind": "duplicate_instance", "patient_uid": None, "image_uid": None,
                     "path": str(dup_path), "detail": "re-downloaded copy"})
    # A truncated download.
    broken = dicom_dir / "redownload" / "truncated.dcm"
    broken.write_bytes(duplicate_source[1][:300])
    n_files += 1
    findings.append({"kind": "unreadable_file", "patient_uid": None, "image_uid": None,
                     "path": str(broken), "detail": "truncated DICOM"})

    # Cases whose data come without DICOM: one with only its case row, two legacy cases with
    # NIfTI volumes (one found by its folder name, one named by a ct_series_file row), and a
    # NIfTI file that names no case.
    n_files += _write_extra_cases(root, rng, case_rows, study_rows, t_patients, t_images,
                                  findings, obs)
    first_case = case_rows[0]["submitter_id"]
    procedure_rows.append({"type": "procedure", "submitter_id": f"{first_case}_p1",
                           "cases.submitter_id": first_case,
                           "procedure_name": "Breathing Support",
                           "breathing_support_type": "Supplemental oxygen"})
    obs.add(f"midrc:{first_case}", "ventilation", value="supplemental_oxygen")

    _write_tsv(root / "case.tsv", CASE_COLUMNS, case_rows)
    _write_tsv(root / "imaging_study.tsv",
               ["type", "submitter_id", "cases.submitter_id", "study_uid", "study_modality",
                "study_description", "days_to_study", "days_from_study_to_pos_covid_test",
                "days_from_study_to_neg_covid_test", "age_at_imaging", "age_at_imaging_gt89"],
               study_rows)
    _write_tsv(root / "visit.tsv", ["type", "submitter_id", "cases.submitter_id",
                                    "days_to_hospital_admission", "days_to_hospital_discharge",
                                    "days_to_icu_admission", "days_to_icu_discharge",
                                    "discharge_type"], visit_rows)
    _write_tsv(root / "measurement.tsv", ["type", "submitter_id", "cases.submitter_id",
                                          "test_name", "test_method", "test_result_text",
                                          "test_days_from_index"], meas_rows)
    _write_tsv(root / "procedure.tsv", ["type", "submitter_id", "cases.submitter_id",
                                        "procedure_name", "breathing_support_type",
                                        "days_to_procedure_start", "days_to_procedure_end"],
               procedure_rows)
    _write_tsv(root / "annotation.tsv", ["type", "submitter_id", "cases.submitter_id",
                                         "imaging_studies.submitter_id", "annotation_name",
                                         "annotation_method", "annotator_id",
                                         "midrc_mRALE_score"], annotation_rows)
    # JSON exports (the portal and the Gen3 SDK write every node as JSON too): the submission
    # API's {"<node>": [records]} and a bare list of records, nested links as objects.
    (root / "condition.json").write_text(json.dumps({"condition": condition_rows}, indent=1))
    (root / "medication.json").write_text(json.dumps(medication_rows, indent=1))
    # A Gen3 node covidimg does not read.
    _write_tsv(root / "dataset.tsv", ["type", "submitter_id", "project_id", "full_name"],
               [{"type": "dataset", "submitter_id": b, "project_id": "Open-R1",
                 "full_name": "RSNA release"} for b in _BATCH_IDS])
    (root / "manifest.json").write_text(json.dumps(
        [{"object_id": f"dg.MD1R/{uid(rng)[5:17]}"} for _ in range(3)], indent=2))
    n_files += 10

    events = pd.DataFrame(t_events, columns=["patient_uid", "event", "day"]).drop_duplicates()
    return _truth(t_patients, t_images, events.reset_index(drop=True), findings, n_files, obs)


#: The export date the portal's case export carries in its name.
EXPORT_DATE = "2025-01-29"


def write_case_export(root: Path, *, rng: np.random.Generator, n_patients: int = 40,
                      fmt: str = "tsv") -> DemoTruth:
    """Write a portal case export alone (no imaging_study, no images), with its truth.

    What a user gets from the MIDRC portal's "download clinical data" of a case cohort before
    any images: ``midrc_data_download-2025-01-29_0.tsv`` with the real export's 24 columns and
    spellings (ages ``79.0``, Gen3 booleans ``True``/``False``, empty cells, release batches
    comma-separated in ``datasets.submitter_id``), or the same records as JSON
    (``fmt="json"``: arrays as lists, booleans and numbers as JSON values, the release batches
    as nested ``datasets`` objects).

    Parameters
    ----------
    root
        Folder to write the export into.
    rng
        Random generator; the same seed writes the same file.
    n_patients
        Number of cases.
    fmt
        ``"tsv"`` or ``"json"``.

    Returns
    -------
    DemoTruth
        The patients and observations a correct loader must return (no images, no events);
        ``truth.release`` is the export date.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from covidimg.demo import midrc
    >>> truth = midrc.write_case_export(pathlib.Path(tempfile.mkdtemp()),
    ...                                 rng=np.random.default_rng(0), n_patients=5)
    >>> len(truth.patients), truth.n_files, truth.release
    (5, 1, '2025-01-29')
    """
    if fmt not in ("tsv", "json"):
        raise ValueError(f"fmt={fmt!r}: the MIDRC case export is written as 'tsv' or 'json'")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    obs = _ObservationTruth()
    records, t_patients = [], []
    races = ("White", "Asian", "Not Reported", "Black or African American", "Other")
    ethnicities = ("Not Hispanic or Latino", "Hispanic or Latino", "Not Reported")
    batches_all = list(_BATCH_IDS)
    for k in range(n_patients):
        case_id = f"419639-{k + 1:06d}"
        puid = f"midrc:{case_id}"
        gt89 = k % 9 == 4
        age = None if gt89 else float(rng.integers(18, 90))
        sex_text = "Not Reported" if k % 17 == 16 else ("Female", "Male")[k % 2]
        race, ethnicity = races[k % len(races)], ethnicities[k % len(ethnicities)]
        covid = "Yes" if k % 6 == 0 else "No"
        icu = (True, False, None)[k % 3]
        ventilator = (None, False, None, True)[k % 4] if icu else (None if k % 2 else False)
        long_covid = k % 10 == 3
        treatment = False if k % 7 == 2 else None
        linked = False if k % 5 == 1 else None
        batches = [batches_all[k % 3]] + ([batches_all[(k + 1) % 3]] if k % 4 == 0 else [])
        records.append({
            "type": "case", "id": f"00000000-0000-4000-8000-{k:012d}", "project_id": "Open-R1",
            "submitter_id": case_id, "age_at_index": age,
            "age_at_index_gt89": "Yes" if gt89 else "No", "case_ids": [case_id],
            "country_of_residence": "US", "covid19_positive": covid, "ethnicity": ethnicity,
            "gen3_linked_subjects_available": linked, "icu_indicator": icu,
            "index_event": "COVID-19 Test" if k % 2 else None, "linked_external_data": [],
            "long_covid_diagnosis": "Positive" if long_covid else None, "race": race,
            "sex": sex_text, "site_id": "419639", "token_record_id": None,
            "treatment_info": treatment, "ventilator_indicator": ventilator, "zip": "941",
            "datasets": [{"id": _BATCH_IDS[b], "submitter_id": b} for b in batches]})
        t_patients.append({
            "patient_uid": puid, "sex": {"Female": "F", "Male": "M"}.get(sex_text, "U"),
            "age_min": 90.0 if gt89 else age, "age_max": np.inf if gt89 else age,
            "covid_status": "positive" if covid == "Yes" else "negative", "icu": icu,
            "died": None})
        obs.case(puid, race=race, ethnicity=ethnicity,
                 ventilation=None if ventilator is None else
                 ("mechanical" if ventilator else "none"),
                 long_covid=long_covid, treatment_info=treatment, batches=batches,
                 linked_subjects=linked)
    name = f"midrc_data_download-{EXPORT_DATE}_0.{fmt}"
    if fmt == "json":
        (root / name).write_text(json.dumps(records, indent=1))
    else:
        rows = []
        for record in records:
            row = {k: v for k, v in record.items() if k != "datasets"}
            row["datasets.id"] = ",".join(d["id"] for d in record["datasets"])
            row["datasets.submitter_id"] = ",".join(d["submitter_id"] for d in record["datasets"])
            row["case_ids"] = ",".join(record["case_ids"])
            row["linked_external_data"] = ""
            for key, value in row.items():
                if isinstance(value, bool):
                    row[key] = "True" if value else "False"
                elif isinstance(value, float):
                    row[key] = f"{value:.1f}"
            rows.append(row)
        _write_tsv(root / name, CASE_COLUMNS, rows)
    truth = _truth(t_patients, [], pd.DataFrame(columns=["patient_uid", "event", "day"]), [],
                   1, obs)
    truth.release = EXPORT_DATE  # type: ignore[attr-defined]
    return truth
