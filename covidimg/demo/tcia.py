"""Write a synthetic cohort in the TCIA layout (NBIA Data Retriever tree + clinical sheets).

Four collections are written under ``root/manifest-1600000000000/``, patients dealt in turn:

* ``COVID-19-NY-SBU``: radiographs dated around 1900 (date-shifted like the real collection) and
  the clinical CSV (``age.splits`` interval strings, ``visit_start_datetime`` M/D/YYYY,
  ``is_icu``, ``last.status``, ``length_of_stay``, LOINC-named lab columns in US units);
* ``COVID-19-AR``: radiographs and the clinical xlsx with a title row above its header;
* ``MIDRC-RICORD-1C``: radiographs, the metadata xlsx (sheet ``CR Pos - TCIA Submission``) and
  the MD.ai annotation CSV;
* ``MIDRC-RICORD-1A``: CT series, no sheet (demographics from the DICOM header);

and ``CT Images in COVID-19/`` in the same folder: NIfTI CT volumes
``volume-covid19-A-<NNNN>.nii.gz`` (that collection is published as NIfTI, one volume per
patient, no DICOM), written by :func:`write_volume` so that ``read_image`` returns the volume
drawn, plus one volume cut short.

MD.ai annotation exports (:mod:`covidimg.demo.mdai`): one for RICORD-1C's radiographs in its
collection folder, one for RICORD-1A's CT series at the top of the download; their
annotations and the annotation CSV's labels are the truth's ``annotations``.

Quirks planted: an SBU lab value that is text (``pending``), a censored one (``<150``), an SBU
patient without images, an Emergency Room visit (no admission), an AR patient missing from its
sheet, a RICORD exam listed but not downloaded, a lateral film, a MONOCHROME1 film, the same
instance downloaded again into a second manifest folder, a truncated file, the retriever's
``metadata.csv`` and ``LICENSE`` files, a truncated NIfTI volume.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from openpyxl import Workbook

from covidimg.demo import mdai
from covidimg.demo.course import simulate_courses
from covidimg.demo.dicom_writer import uid, write_dicom
from covidimg.demo.phantom import chest_radiograph, ct_volume
from covidimg.demo.truth import DemoTruth
from covidimg.schema import ANALYTES

__all__ = ["NIFTI_COLLECTION", "SBU_LAB_COLUMNS", "VOLUME_SHAPE", "write", "write_volume"]

IMAGE_SHAPE = (128, 128)
CT_SHAPE = (48, 48)
CT_SLICES = 20
COLLECTION_ORDER = ("COVID-19-NY-SBU", "COVID-19-AR", "MIDRC-RICORD-1C", "MIDRC-RICORD-1A")
#: The collection published as NIfTI volumes, and the demo's volumes: (slices, rows, columns).
NIFTI_COLLECTION = "CT Images in COVID-19"
VOLUME_SHAPE = (12, 40, 48)
N_VOLUMES = 2
#: Analyte -> (SBU column, factor from the sheet's unit to the canonical unit).
SBU_LAB_COLUMNS = {
    "crp": ("1988-5_C reactive protein [Mass/volume] in Serum or Plasma", 10.0),
    "d_dimer": ("48058-2_Fibrin D-dimer DDU [Mass/volume] in Platelet poor plasma by "
                "Immunoassay", 0.001),
    "lymphocytes": ("731-0_Lymphocytes [#/volume] in Blood by Automated count", 1.0),
    "neutrophils": ("751-8_Neutrophils [#/volume] in Blood by Automated count", 1.0),
}
_LACTATE = "2524-7_Lactate [Moles/volume] in Serum or Plasma"
_FINDINGS = ["kind", "patient_uid", "image_uid", "path", "detail"]
_CLASSES = ("Typical Appearance", "Indeterminate Appearance", "Atypical Appearance",
            "Negative for Pneumonia")
_GRADES = ("Mild Opacities", "Moderate Opacities", "Severe Opacities")
_ANNOTATION_CSV = "MIDRC-RICORD-1C-annotations.csv"


def _band(age: float) -> tuple[str, float, float]:
    if age <= 59:
        return "[18,59]", 18.0, 59.0
    if age <= 74:
        return "(59,74]", 60.0, 74.0
    return "(74,90]", 75.0, 90.0


def write_volume(path: Path, volume: np.ndarray, spacing: tuple[float, float, float] = (
        0.7, 0.7, 5.0)) -> Path:
    """Write a CT volume as a gzipped NIfTI the way "CT Images in COVID-19" ships them.

    ``volume`` is ``(slices, rows, columns)`` in Hounsfield units, slices feet to head, each
    viewed from the feet (patient's right on the image's left, anterior up): the array
    :func:`covidimg.imaging.read_image` returns for the file. It is stored as int16 voxels in
    RAS+ order (x towards the patient's right reversed into columns, y anterior, z superior)
    with a diagonal affine of ``spacing`` (mm: columns, rows, slices).

    Examples
    --------
    >>> import pathlib, tempfile, numpy as np
    >>> from covidimg.demo.tcia import write_volume
    >>> from covidimg.imaging import read_image
    >>> vol = np.arange(2 * 3 * 4, dtype=np.int16).reshape(2, 3, 4)
    >>> path = write_volume(pathlib.Path(tempfile.mkdtemp()) / "volume-covid19-A-0001.nii.gz",
    ...                     vol)
    >>> bool((read_image(str(path)) == vol).all())
    True
    """
    voxels = np.ascontiguousarray(np.rint(volume[:, ::-1, ::-1]).astype(np.int16).transpose(
        2, 1, 0))
    affine = np.diag([spacing[0], spacing[1], spacing[2], 1.0])
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(voxels, affine), path)
    return path


def write(root: Path, *, rng: np.random.Generator, n_patients: int = 30) -> DemoTruth:
    """Write ``n_patients`` simulated patients in the TCIA layout under ``root``.

    Parameters
    ----------
    root
        The "download folder" to write into.
    rng
        Random generator; the same seed writes the same files.
    n_patients
        Number of patients with images (at least 8: two per collection).

    Returns
    -------
    DemoTruth
        What a correct loader must return.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from covidimg.demo import tcia
    >>> truth = tcia.write(pathlib.Path(tempfile.mkdtemp()), rng=np.random.default_rng(0),
    ...                    n_patients=8)
    >>> sorted(truth.patients["collection"].unique())[:2]
    ['COVID-19-AR', 'COVID-19-NY-SBU']
    """
    if n_patients < 8:
        raise ValueError(f"n_patients={n_patients}: the TCIA demo needs at least 8 patients "
                         "(two per collection) to plant its quirks")
    root = Path(root)
    base = root / "manifest-1600000000000"
    base.mkdir(parents=True, exist_ok=True)
    course = simulate_courses(rng, n_patients, max_exams=4)
    events_by = {pid: g.set_index("event")["day"] for pid, g in course.events.groupby("pid")}
    exams_by = {pid: g.reset_index(drop=True) for pid, g in course.exams.groupby("pid")}
    labs_by = {pid: g for pid, g in course.labs.groupby("pid")}

    t_patients, t_images, t_events, t_labs, findings = [], [], [], [], []
    sbu_rows, ar_rows, ricord_meta, annotations, nbia_meta = [], [], [], [], []
    files: list[Path] = []
    seen_collection: dict[str, int] = {}
    lateral_done = mono_done = False
    copy_source: Path | None = None
    ricord_images: dict[str, list[dict]] = {}
    csv_truth: list[dict] = []

    for k, patient in enumerate(course.patients.itertuples(index=False)):
        collection = COLLECTION_ORDER[k % 4]
        n_in = seen_collection[collection] = seen_collection.get(collection, 0) + 1
        ev = events_by[patient.pid]
        exams = exams_by[patient.pid]
        age = float(min(patient.age, 90.0))
        if collection == "COVID-19-NY-SBU":
            pid = f"A{int(rng.integers(100000, 999999))}"
            start = dt.date(1900, 12, 20) + dt.timedelta(days=int(rng.integers(0, 20)))
        elif collection == "COVID-19-AR":
            pid = f"COVID-19-AR-{int(rng.integers(10**7, 10**8))}"
            start = dt.date(2020, 4, 1) + dt.timedelta(days=int(rng.integers(0, 90)))
        else:
            pid = f"{collection}-419639-{n_in:06d}"
            start = dt.date(2020, 3, 1) + dt.timedelta(days=int(rng.integers(0, 90)))
        puid = f"tcia:{pid}"
        first_day = float(exams["day"].min())
        truth_patient = {"patient_uid": puid, "collection": collection, "sex": patient.sex,
                         "age_min": age, "age_max": age, "covid_status": "positive",
                         "icu": None, "died": None}

        for _, exam in exams.iterrows():
            date = start + dt.timedelta(days=int(exam["day"]))
            study_uid, series_uid = uid(rng), uid(rng)
            ct = collection == "MIDRC-RICORD-1A"
            view = exam["view"]
            if not ct and not lateral_done and collection == "COVID-19-AR":
                view, lateral_done = "LAT", True
            photometric = "MONOCHROME2"
            if not ct and not mono_done and collection == "MIDRC-RICORD-1C":
                photometric, mono_done = "MONOCHROME1", True
            desc = "CT CHEST W/O CONTRAST" if ct else f"XR CHEST {view}"
            # The retriever replaces characters that cannot be in a folder name.
            study_dir = (base / collection / pid /
                         f"{date:%m-%d-%Y}-NA-{desc.replace('/', '_')}-{study_uid[-5:]}" /
                         f"1.000000-{'AXIAL' if ct else view}-{series_uid[-5:]}")
            study_dir.mkdir(parents=True, exist_ok=True)
            common = dict(modality="CT" if ct else exam["modality"], patient_id=pid,
                          study_uid=study_uid, series_uid=series_uid, study_date=date,
                          sex=patient.sex, age_years=age, study_description=desc)
            if ct:
                volume = ct_volume(rng, CT_SLICES, CT_SHAPE, exam["severity"])
                sops = []
                for s in range(CT_SLICES):
                    path = study_dir / f"1-{s + 1:02d}.dcm"
                    sops.append(uid(rng))
                    write_dicom(path, volume[s], sop_uid=sops[-1], instance_number=s + 1,
                                position_z=5.0 * s, **common)
                    files.append(path)
                image_uid, shape, truth_view = f"tcia:{series_uid}", CT_SHAPE, "AXIAL"
            else:
                sop = uid(rng)
                pixels = chest_radiograph(rng, IMAGE_SHAPE, severity=exam["severity"],
                                          view="LAT" if view == "LAT" else view)
                path = study_dir / "1-1.dcm"
                write_dicom(path, pixels, sop_uid=sop, view=view, photometric=photometric,
                            series_description=f"CHEST {view}", **common)
                files.append(path)
                copy_source = copy_source or path
                image_uid, shape, truth_view = f"tcia:{sop}", IMAGE_SHAPE, view
                sops = [sop]
            if collection.startswith("MIDRC-RICORD"):
                ricord_images.setdefault(collection, []).append({
                    "patient_uid": puid, "image_uid": image_uid, "study_uid": study_uid,
                    "series_uid": series_uid, "sop_uids": sops, "rows": shape[0],
                    "columns": shape[1]})
            nbia_meta.append({"Series UID": series_uid, "Collection": collection,
                              "Subject ID": pid, "Study UID": study_uid,
                              "Study Date": f"{date:%m-%d-%Y}",
                              "Modality": common["modality"],
                              "Number of Images": CT_SLICES if ct else 1,
                              "File Location": "./" + str(study_dir.relative_to(base))})
            image = {"image_uid": image_uid, "patient_uid": puid, "collection": collection,
                     "modality": common["modality"], "view": truth_view,
                     "rows": shape[0], "columns": shape[1], "study_uid": study_uid,
                     "photometric": photometric, "annotation_class": None,
                     "n_instances": CT_SLICES if ct else 1, "format": "dicom",
                     "day": exam["day"] if collection == "COVID-19-NY-SBU"
                     else exam["day"] - first_day}
            if collection == "MIDRC-RICORD-1C":
                mrn = pid.removeprefix("MIDRC-RICORD-1C-")
                ricord_meta.append([mrn, f"{date.month}/{date.day}/{date.year}",
                                    "XR CHEST 1 VIEW AP", study_uid])
                labels = sorted({str(rng.choice(_CLASSES)) for _ in range(2)})
                for reader, label in enumerate(labels):
                    line = len(annotations) + 2
                    grade = _GRADES[reader % 3] if "Negative" not in label else ""
                    for what, text in (("class", label), ("grade", grade)):
                        if text:
                            csv_truth.append({
                                "annotation_uid": f"tcia:{_ANNOTATION_CSV}:{line}:{what}",
                                "patient_uid": puid, "image_uid": None, "study_uid": study_uid,
                                "scheme": "ricord", "kind": "label", "label": text,
                                "geometry": None, "instance": None, "slice_index": None,
                                "reader_id": f"U_{reader}"})
                    annotations.append({
                        "Anon MRN": mrn, "Anon TCIA Study Date": f"{date:%m/%d/%Y}",
                        "Reader_id": f"U_{reader}", "Reader_name": f"reader{reader}",
                        "CLASS_labelId": f"L_{_CLASSES.index(label)}", "CLASS_label": label,
                        "CLASS_label_description": "", "GRADE_labelId": "",
                        "GRADE_label": grade,
                        "GRADE_label_description": ""})
                image["annotation_class"] = "; ".join(labels)
            t_images.append(image)

        if collection == "COVID-19-NY-SBU":
            band, low, high = _band(age)
            truth_patient.update(age_min=low, age_max=high, icu=bool(patient.icu),
                                 died=bool(patient.died))
            er_visit = n_in == 2
            stay = float(ev.get("death", ev.get("discharge", np.nan)))
            row = {"to_patient_id": pid, "covid19_statuses": "positive",
                   "last.status": "deceased" if patient.died else "discharged",
                   "age.splits": band, "gender_concept_name": {"F": "FEMALE",
                                                               "M": "MALE"}[patient.sex],
                   "visit_start_datetime": f"{start.month}/{start.day}/{start.year}",
                   "visit_concept_name": "Emergency Room Visit" if er_visit
                   else "Inpatient Visit",
                   "is_icu": "TRUE" if patient.icu else "FALSE", "was_ventilated": "No",
                   "invasive_vent_days": "NA", "length_of_stay": f"{stay:g}",
                   "D_dimer.above3000": "NA", _LACTATE: "NA"}
            if not er_visit:
                t_events.append((puid, "admission", 0.0))
            if not patient.died:
                t_events.append((puid, "discharge", stay))
            labs = labs_by.get(patient.pid, pd.DataFrame(columns=["analyte", "value"]))
            for analyte, (column, factor) in SBU_LAB_COLUMNS.items():
                values = labs.loc[labs["analyte"] == analyte, "value"]
                if not len(values):
                    row[column] = "NA"
                    continue
                written = round(float(values.iloc[0]) / factor, 2)
                text = f"{written:g}"
                lower = upper = written * factor
                censor = "none"
                if analyte == "crp" and n_in == 1:
                    text = "pending"
                    # findings describe free text, never quote it
                    findings.append({"kind": "unparseable_value", "patient_uid": None,
                                     "image_uid": None, "path": None,
                                     "detail": "a text of 7 characters (letters) is not a number"})
                elif analyte == "d_dimer" and n_in == 1:
                    text, lower, upper, censor = "<150", -np.inf, 0.15, "left"
                row[column] = text
                if text != "pending":
                    t_labs.append({"patient_uid": puid, "image_uid": None,
                                   "analyte": analyte, "unit": ANALYTES[analyte].unit,
                                   "lower": lower, "upper": upper, "censor": censor,
                                   "day": np.nan})
            sbu_rows.append(row)
        elif collection == "COVID-19-AR":
            if n_in == 2:
                findings.append({"kind": "orphan_image", "patient_uid": puid,
                                 "image_uid": None, "path": None, "detail": pid})
            else:
                truth_patient.update(icu=bool(patient.icu), died=bool(patient.died))
                ar_rows.append([pid, patient.sex, "White", int(age), "Y",
                                "Y" if patient.icu else "N", 1 if patient.icu else 0,
                                "Y" if patient.died else "N"])
        t_patients.append(truth_patient)

    # An SBU patient without downloaded images.
    sbu_rows.append({"to_patient_id": "A000001", "covid19_statuses": "positive",
                     "last.status": "discharged", "age.splits": "[18,59]",
                     "gender_concept_name": "FEMALE", "visit_start_datetime": "12/27/1900",
                     "visit_concept_name": "Inpatient Visit", "is_icu": "FALSE",
                     "length_of_stay": "4"})
    findings.append({"kind": "patients_without_images", "patient_uid": None, "image_uid": None,
                     "path": None, "detail": "A000001"})
    sbu_columns = ["to_patient_id", "covid19_statuses", "last.status", "age.splits",
                   "gender_concept_name", "visit_start_datetime", "visit_concept_name",
                   "is_icu", "was_ventilated", "invasive_vent_days", "length_of_stay",
                   "D_dimer.above3000", *(c for c, _ in SBU_LAB_COLUMNS.values()), _LACTATE]
    sbu_path = base / "COVID-19-NY-SBU" / "deidentified_overlap_tcia.csv"
    with open(sbu_path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=sbu_columns, restval="NA")
        writer.writeheader()
        writer.writerows(sbu_rows)
    files.append(sbu_path)

    book = Workbook()
    sheet = book.active
    sheet.title = "Sheet1"
    sheet.append(["COVID-19-AR Clinical Correlates (synthetic)"])
    sheet.append(["PATIENT_ID", "SEX", "RACE", "AGE", "COVID TEST POSITIVE", "ICU Admit",
                  "# ICU admits", "MORTALITY"])
    for row in ar_rows:
        sheet.append(row)
    ar_path = base / "COVID-19-AR" / "COVID_19_AR_ClinicalCorrelates_July202020.xlsx"
    book.save(ar_path)
    files.append(ar_path)

    missing_study = uid(rng)
    ricord_meta.append([ricord_meta[0][0], ricord_meta[0][1], "XR CHEST 1 VIEW AP",
                        missing_study])
    findings.append({"kind": "study_without_images", "patient_uid": None, "image_uid": None,
                     "path": None, "detail": missing_study})
    book = Workbook()
    sheet = book.active
    sheet.title = "CR Pos - TCIA Submission"
    sheet.append(["Anon MRN", "Anon TCIA Study Date", "Anon Exam Description",
                  "Anon Study UID"])
    for row in ricord_meta:
        sheet.append(row)
    meta_path = base / "MIDRC-RICORD-1C" / "MIDRC-RICORD-1C-Clinical-Data-Jan-13-2021.xlsx"
    book.save(meta_path)
    files.append(meta_path)
    ann_path = base / "MIDRC-RICORD-1C" / _ANNOTATION_CSV
    pd.DataFrame(annotations).to_csv(ann_path, index=False)
    files.append(ann_path)

    # The retriever's own files, a re-downloaded copy and a truncated file.
    meta_csv = base / "metadata.csv"
    pd.DataFrame(nbia_meta).to_csv(meta_csv, index=False)
    files.append(meta_csv)
    for collection in COLLECTION_ORDER:
        licence = base / collection / "LICENSE"
        licence.write_text("Creative Commons Attribution 4.0 (synthetic demo data)\n")
        files.append(licence)
    assert copy_source is not None
    copy = root / "manifest-1600000000001" / copy_source.relative_to(base)
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_bytes(copy_source.read_bytes())
    files.append(copy)
    findings.append({"kind": "duplicate_instance", "patient_uid": None, "image_uid": None,
                     "path": str(copy), "detail": "re-downloaded copy"})
    broken = copy.parent / "1-2.dcm"
    broken.write_bytes(copy_source.read_bytes()[:200])
    files.append(broken)
    findings.append({"kind": "unreadable_file", "patient_uid": None, "image_uid": None,
                     "path": str(broken), "detail": "truncated"})

    # CT Images in COVID-19: NIfTI volumes, one per patient, undated (day 0: the patient's
    # only exam), sex and age unknown; and a volume cut short.
    volume_dir = base / NIFTI_COLLECTION
    for n in range(1, N_VOLUMES + 1):
        stem = f"volume-covid19-A-{n:04d}"
        volume = ct_volume(rng, VOLUME_SHAPE[0], VOLUME_SHAPE[1:], float(rng.uniform(0.2, 0.8)))
        files.append(write_volume(volume_dir / f"{stem}.nii.gz", volume))
        puid = f"tcia:{stem}"
        t_patients.append({"patient_uid": puid, "collection": NIFTI_COLLECTION, "sex": "U",
                           "age_min": np.nan, "age_max": np.nan, "covid_status": "positive",
                           "icu": None, "died": None})
        t_images.append({"image_uid": puid, "patient_uid": puid, "collection": NIFTI_COLLECTION,
                         "modality": "CT", "view": "AXIAL", "rows": VOLUME_SHAPE[1],
                         "columns": VOLUME_SHAPE[2], "study_uid": None, "photometric": None,
                         "annotation_class": None, "n_instances": VOLUME_SHAPE[0], "day": 0.0,
                         "format": "nifti"})
    cut = volume_dir / f"volume-covid19-A-{N_VOLUMES + 1:04d}.nii.gz"
    whole = files[-1].read_bytes()
    cut.write_bytes(whole[: len(whole) // 2])
    files.append(cut)
    findings.append({"kind": "unreadable_file", "patient_uid": None, "image_uid": None,
                     "path": str(cut), "detail": "truncated NIfTI volume"})

    # MD.ai exports: RICORD-1C's in its collection folder, RICORD-1A's at the top.
    exports = [(base / "MIDRC-RICORD-1C" / "MIDRC-RICORD-1c_annotations_labelgroup_all.json",
                "MIDRC-RICORD-1C", uid(rng)),
               (root / "MIDRC-RICORD-1a_annotations_labelgroup_all_2020-Dec-8.json",
                "MIDRC-RICORD-1A", None)]
    parts = [pd.DataFrame(csv_truth, columns=mdai.TRUTH_COLUMNS)]
    for path, collection, missing_sop in exports:
        parts.append(mdai.write_export(path, ricord_images.get(collection, []), rng=rng,
                                       missing_sop=missing_sop, project=collection))
        files.append(path)
        if missing_sop is not None:
            findings.append({"kind": "unmatched_annotation", "patient_uid": None,
                             "image_uid": None, "path": None, "detail": missing_sop})
    findings.append({"kind": "unparseable_value", "patient_uid": None, "image_uid": None,
                     "path": None, "detail": "region not read"})
    t_annotations = mdai.number_readers(pd.concat(parts, ignore_index=True))
    t_annotations["source"] = "tcia"
    t_annotations["score"] = np.nan

    return DemoTruth(
        source="tcia", patients=pd.DataFrame(t_patients), images=pd.DataFrame(t_images),
        events=pd.DataFrame(t_events, columns=["patient_uid", "event", "day"]),
        labs=pd.DataFrame(t_labs, columns=["patient_uid", "image_uid", "analyte", "unit",
                                           "lower", "upper", "censor", "day"]),
        findings=pd.DataFrame(findings, columns=_FINDINGS), n_files=len(files),
        annotations=t_annotations)
