"""Write a synthetic cohort in the MIDRC layout (Gen3 exports + gen3-client DICOM zips + NIfTI).

The layout under ``root``::

    case.tsv, imaging_study.tsv, visit.tsv, measurement.tsv, procedure.tsv, annotation.tsv,
    ct_series_file.tsv, dataset.tsv                  Gen3 exports as TSV
    condition.json, medication.json                  Gen3 exports as JSON
    manifest.json                                    the gen3-client download manifest
    dicom/<study_uid>.zip                            one zip per study, <series_uid>/<n>.dcm
    dicom/<case_id>/<study_uid>/<series_uid>/*.dcm   studies the user has unzipped
    dicom/redownload/*.dcm                           a second copy of one radiograph
    legacy/<case_id>/chest_ct.nii.gz, legacy/B_0001.nii.gz, legacy/unknown_scan.nii
                                                     legacy NIfTI (from 9 cases on)

Quirks planted (and listed in the truth's findings where the loader must report them):
``days_to_*`` counted from three different index events, cases with and without a hospital
admission visit, ``days_from_study_to_pos_covid_test`` lists in both JSON and comma-separated
form (some with two tests), one patient older than 89 (``age_at_index_gt89``), one ``Not
Reported`` sex, one DICOM study without an imaging_study row (orphan), one imaging_study row
without DICOM, one duplicated instance, one truncated DICOM file, a MONOCHROME1 radiograph, a
radiograph without View Position (portable description), CT series of many slices, a Gen3 node
the loader does not read (``dataset``), and the 3-digit zip code the loader must not copy.
Round two: Gen3 booleans spelled ``True``/``False`` (portal) and ``Yes``/``No``, the case fields
``race``, ``ethnicity``, ``ventilator_indicator``, ``long_covid_diagnosis``, ``treatment_info``
and the release batches (``datasets.submitter_id``, comma-separated), mechanical ventilation
over each ICU stay (``procedure``), ICD-10 and name-only conditions and medications (JSON, one
in the submission API's ``{"condition": [...]}`` form, one a bare list, links nested as
objects), mRALE scores (``annotation``, linked to the study by its submitter_id), free text the
loader must not store (study descriptions, medication names, annotator ids); from 9 cases on,
a case with only its case row, two legacy NIfTI cases (one found by its folder, one named by a
``ct_series_file`` row) and a NIfTI file that names no case. The truth's ``observations`` lists
every observation the loader must return. :func:`write_case_export` writes the portal's
case-only export (TSV or JSON) alone.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from covidimg.demo.course import simulate_courses
from covidimg.demo.dicom_writer import uid, write_dicom
from covidimg.demo.midrc.common import (
    BATCH_IDS,
    CASE_COLUMNS,
    ObservationTruth,
    make_truth,
    write_tsv,
)
from covidimg.demo.midrc.legacy import EXTRA_CASES, write_extra_cases
from covidimg.demo.phantom import chest_radiograph, ct_volume
from covidimg.demo.truth import DemoTruth

__all__ = ["CT_SHAPE", "IMAGE_SHAPE", "write"]

IMAGE_SHAPE = (128, 128)
CT_SHAPE = (48, 48)
CT_SLICES = 20
SITES = ("419639", "440808")
INDEX_EVENTS = ("COVID-19 Test", "First Imaging Study", "Study Enrollment")
#: (code system, code, name, observation field, value) of the planted conditions.
_CONDITIONS = (
    ("ICD-10-CM", "I10", "Essential (primary) hypertension", "comorbidity_hypertension", "yes"),
    ("", "", "Asthma", "comorbidity_lung", "yes"),
    ("ICD-10-CM", "J18.9", "Pneumonia, unspecified organism", "condition",
     "ICD-10-CM:J18.9"),
    ("ICD-10-CM", "E11.9", "Type 2 diabetes mellitus without complications",
     "comorbidity_diabetes", "yes"),
)
#: (medication_type, medication_name (free text), observation field, value).
_MEDICATIONS = (
    ("ACE inhibitors", "lisinopril 10 mg once daily", "medication_acei", "yes"),
    ("Systemic steroids", "dexamethasone 6 mg daily", "medication", "Systemic steroids"),
)


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
    # From 9 cases on, three of them come without DICOM (see _write_extra_cases).
    n_extra = len(EXTRA_CASES) if n_patients >= 9 else 0
    course = simulate_courses(rng, n_patients - n_extra, modalities=("CR", "DX", "CT"),
                              modality_p=(0.6, 0.25, 0.15), max_exams=6)
    ev_by_pid = {pid: grp for pid, grp in course.events.groupby("pid")}
    exams_by_pid = {pid: grp for pid, grp in course.exams.groupby("pid")}

    case_rows, study_rows, visit_rows, meas_rows = [], [], [], []
    procedure_rows: list[dict[str, object]] = []
    condition_rows: list[dict[str, object]] = []
    medication_rows: list[dict[str, object]] = []
    annotation_rows: list[dict[str, object]] = []
    obs = ObservationTruth()
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
            "datasets.id": ",".join(BATCH_IDS[b] for b in batches),
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
        condition_day = -400.0 - int(index_day) + index_day - axis0
        obs.add(puid, condition[3], value=condition[4], day=condition_day)
        obs.add(puid, "midrc:condition_name", day=condition_day)    # free text: its shape
        if k % 4 in (0, 2):
            kind, name, field, value = _MEDICATIONS[k % 4 // 2]
            medication_rows.append({
                "type": "medication", "submitter_id": f"{case_id}_med", "case_ids": [case_id],
                "medication_type": kind, "medication_name": name,
                "days_to_medication_start": 1 - int(index_day),
                "days_to_medication_end": 6 - int(index_day)})
            medication_day = 1.0 - int(index_day) + index_day - axis0
            obs.add(puid, field, value=value, day=medication_day, value_num=5.0, unit="days")
            obs.add(puid, "midrc:medication_name", day=medication_day)  # free text

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
    if n_extra:
        n_files += write_extra_cases(root, rng, case_rows, study_rows, t_patients, t_images,
                                      findings, obs)
    first_case = case_rows[0]["submitter_id"]
    procedure_rows.append({"type": "procedure", "submitter_id": f"{first_case}_p1",
                           "cases.submitter_id": first_case,
                           "procedure_name": "Breathing Support",
                           "breathing_support_type": "Supplemental oxygen"})
    obs.add(f"midrc:{first_case}", "ventilation", value="supplemental_oxygen")

    write_tsv(root / "case.tsv", CASE_COLUMNS, case_rows)
    write_tsv(root / "imaging_study.tsv",
               ["type", "submitter_id", "cases.submitter_id", "study_uid", "study_modality",
                "study_description", "days_to_study", "days_from_study_to_pos_covid_test",
                "days_from_study_to_neg_covid_test", "age_at_imaging", "age_at_imaging_gt89"],
               study_rows)
    write_tsv(root / "visit.tsv", ["type", "submitter_id", "cases.submitter_id",
                                    "days_to_hospital_admission", "days_to_hospital_discharge",
                                    "days_to_icu_admission", "days_to_icu_discharge",
                                    "discharge_type"], visit_rows)
    write_tsv(root / "measurement.tsv", ["type", "submitter_id", "cases.submitter_id",
                                          "test_name", "test_method", "test_result_text",
                                          "test_days_from_index"], meas_rows)
    write_tsv(root / "procedure.tsv", ["type", "submitter_id", "cases.submitter_id",
                                        "procedure_name", "breathing_support_type",
                                        "days_to_procedure_start", "days_to_procedure_end"],
               procedure_rows)
    write_tsv(root / "annotation.tsv", ["type", "submitter_id", "cases.submitter_id",
                                         "imaging_studies.submitter_id", "annotation_name",
                                         "annotation_method", "annotator_id",
                                         "midrc_mRALE_score"], annotation_rows)
    # JSON exports (the portal and the Gen3 SDK write every node as JSON too): the submission
    # API's {"<node>": [records]} and a bare list of records, nested links as objects.
    (root / "condition.json").write_text(json.dumps({"condition": condition_rows}, indent=1))
    (root / "medication.json").write_text(json.dumps(medication_rows, indent=1))
    # A Gen3 node covidimg does not read.
    write_tsv(root / "dataset.tsv", ["type", "submitter_id", "project_id", "full_name"],
               [{"type": "dataset", "submitter_id": b, "project_id": "Open-R1",
                 "full_name": "RSNA release"} for b in BATCH_IDS])
    (root / "manifest.json").write_text(json.dumps(
        [{"object_id": f"dg.MD1R/{uid(rng)[5:17]}"} for _ in range(3)], indent=2))
    n_files += 10

    events = pd.DataFrame(t_events, columns=["patient_uid", "event", "day"]).drop_duplicates()
    return make_truth(t_patients, t_images, events.reset_index(drop=True), findings, n_files, obs)

