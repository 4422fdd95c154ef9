"""Write a synthetic cohort in the NCCID bucket layouts, with every quirk, plus its truth.

(Over 600 lines: the layouts, clinical records and truth share one patient model and one
random stream, and splitting them would split every quirk across modules.)

What the writer plants (each one is something the NCCID loader must handle):

* every bucket layout generation: most patients in the current layout (``xray/``, ``ct/``,
  ``*-metadata/``, ``data/<pid>/data_*.json``), some in the early one
  (``<pid>/images/<date>/``, ``<pid>/images_metadata/<date>/``, ``<pid>/data/<date>/data.json``),
  some in the April 2020 one (``x-ray/<pid>/<DATE>/<uuid>.dcm``, ``data/<pid>/<DATE>/data.json``)
  and some in the April-May 2020 one (``x-ray/<pid>/<uuid>.dcm`` with a per-folder
  ``summary.json``), in ``training/`` and ``validation/`` alike;
* a ``training/`` and a ``validation/`` split, and a raw upload area (``raw-*/``) to be ignored;
* superseded clinical files: earlier ``data_*`` files with stale values, an earlier ``status_*``
  of a patient who later tested positive, an earlier early-layout ``data.json``;
* negative patients (``status_*`` only, with a ``SwabDates`` list) and an orphan patient
  (images, no clinical file);
* messy clinical values: human-label keys, ``SwabDate`` in DD/MM/YYYY and other dates in
  MM/DD/YYYY, ``[Text] - YYYY-MM-DD`` error cells, an Excel serial date, a date in the wrong
  order, numbers in text (``[120] - 2020-04-01``, ``[170/70] - ...``), the real trusts of NHSX's
  site-units table written with case, whitespace and apostrophe variants (d-dimer in mg/L,
  ng/mL or ug/L, troponin I in ng/L or ng/mL, PaO2 in kPa), a trust missing from the table,
  Cambridge's PaO2 in % (a saturation: unconvertible), FiO2 in litres (a bare ``1`` too),
  fractions and Venturi mask colours, a left-censored lymphocyte count, unparseable values, sex
  coded ``0``/``1``/``Female``/``M``; CXR severity and COVID code readings, the 2nd CXR's
  severity under the typo key ``CXR severity 3`` (:mod:`covidimg.demo.readings`); vital signs
  with a unit (``99.5 F``), an O2 saturation of ``10L``, an impossible temperature and a
  saturation over 100 %;
* DICOM: CR and DX radiographs (some ``MONOCHROME1``, some without View Position so the view
  comes from the description) and multi-slice CT series; DICOM-JSON metadata with binary values
  and the VOI LUT Sequence nulled and PatientAge without its ``Y`` unit; one ``.json`` without
  its ``.dcm``, one ``.dcm`` without its ``.json``, one image uploaded twice.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pydicom

from covidimg.demo.course import simulate_courses
from covidimg.demo.dicom_writer import uid, write_dicom
from covidimg.demo.phantom import chest_radiograph, ct_volume
from covidimg.demo.readings import plant_nccid_readings
from covidimg.demo.truth import DemoTruth
from covidimg.sources.nccid.clean import FIO2_LITRES, FIO2_MASK_COLOURS

__all__ = ["SITES", "write"]

#: Demo sites: the trust as written in ``SubmittingCentre`` (case, whitespace and apostrophe
#: variants of NHSX's names), its name in NHSX's site-units table (``None``: not in it, units
#: assumed and reported) and the units it reports d-dimer, PaO2 and troponin I in (as NHSX's
#: table says; Cambridge's "PaO2" in % is a saturation and cannot be converted).
SITES: dict[str, tuple[str | None, dict[str, str]]] = {
    "Imperial College Healthcare NHS Trust": (
        "Imperial College Healthcare NHS Trust",
        {"d_dimer": "mg/L", "po2": "kPa", "troponin_i": "ng/L"}),
    "cambridge university hospitals nhs foundation trust": (
        "Cambridge University Hospitals NHS Foundation Trust",
        {"d_dimer": "ng/mL", "po2": "%", "troponin_i": "ng/L"}),
    "  Royal Cornwall Hospitals  NHS Trust ": (
        "Royal Cornwall Hospitals NHS Trust",
        {"d_dimer": "ng/mL", "po2": "kPa", "troponin_i": "ng/L"}),
    "Sheffield Children’s NHS Foundation Trust": (
        "Sheffield Childrens NHS Foundation Trust",
        {"d_dimer": "ng/mL", "po2": "kPa", "troponin_i": "ng/mL"}),
    "Norfolk and Norwich University Hospitals NHS Foundation Trust": (
        "Norfolk and Norwich University Hospitals NHS Foundation Trust",
        {"d_dimer": "ug/L", "po2": "kPa", "troponin_i": "ng/L"}),
    "WEST SUFFOLK NHS FOUNDATION TRUST": (   # no troponin I unit in the table: assumed
        "West Suffolk NHS Foundation Trust",
        {"d_dimer": "ng/mL", "po2": "kPa", "troponin_i": "ng/L"}),
    "Royal Surrey NHS Foundation Trust": (   # not in the table: d-dimer, PaO2 units assumed
        None, {"d_dimer": "mg/L", "po2": "kPa", "troponin_i": "ng/L"}),
}
#: Independent unit factors for the truth (canonical = schema unit).
_TO_CANONICAL = {("d_dimer", "mg/L"): 1.0, ("d_dimer", "ng/mL"): 1e-3,
                 ("d_dimer", "ug/L"): 1e-3, ("po2", "mmHg"): 1.0,
                 ("po2", "kPa"): 760.0 / 101.325,  # 1 mmHg = 101325 / 760 Pa
                 ("troponin_i", "ng/L"): 1.0, ("troponin_i", "ng/mL"): 1e3}
_CANONICAL_UNIT = {"crp": "mg/L", "d_dimer": "mg/L", "lymphocytes": "10^9/L", "po2": "mmHg",
                   "fio2": "%", "troponin_i": "ng/L"}
XRAY_SHAPE = (256, 256)
CT_SHAPE = (64, 64)


@dataclass
class _Patient:
    pid: str
    group: str
    layout: str                      # "current" or "early"
    kind: str                        # "positive", "negative", "orphan"
    site: str
    sex: str
    age: float
    admission: dt.date | None = None
    first_exam: dt.date | None = None
    events: dict[str, dt.date] = field(default_factory=dict)
    tests: list[tuple[str, dt.date]] = field(default_factory=list)
    icu: bool | None = None
    died: bool | None = None
    labs: list[dict[str, Any]] = field(default_factory=list)
    vitals: dict[str, float] = field(default_factory=dict)
    findings: list[tuple[str, str | None]] = field(default_factory=list)  # (kind, path)
    readings: list[dict[str, Any]] = field(default_factory=list)  # annotations truth


def _us(date: dt.date) -> str:
    return f"{date.month:02d}/{date.day:02d}/{date.year}"


def _uk(date: dt.date) -> str:
    return f"{date.day:02d}/{date.month:02d}/{date.year}"


def _uuid(rng: np.random.Generator) -> str:
    return str(uuid.UUID(bytes=rng.bytes(16), version=4))


class _Writer:
    def __init__(self, root: Path, rng: np.random.Generator) -> None:
        self.root = root
        self.rng = rng
        self.n_files = 0
        self.images: list[dict[str, Any]] = []
        self.extra_findings: list[dict[str, Any]] = []
        self.summaries: dict[tuple[str, str], list[dict[str, str]]] = {}

    # ------------------------------------------------------------------ files
    def write_bytes(self, path: Path, data: bytes) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.n_files += 1
        return path

    def write_json(self, path: Path, obj: Any) -> Path:
        return self.write_bytes(path, json.dumps(obj, indent=1).encode())

    def dicom_bytes(self, pixels: np.ndarray, **kwargs: Any) -> bytes:
        buf = io.BytesIO()
        write_dicom(buf, pixels, **kwargs)
        return buf.getvalue()

    def metadata(self, data: bytes, *, bare_age: bool) -> dict[str, Any]:
        """NCCID's DICOM-JSON: every InlineBinary and the VOI LUT Sequence nulled."""
        ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
        obj = ds.to_json_dict(bulk_data_threshold=int(1e20))
        for element in obj.values():
            if isinstance(element, dict) and "InlineBinary" in element:
                element["InlineBinary"] = None
        obj["7FE00010"] = {"vr": "OW", "InlineBinary": None}
        obj["00283010"] = None
        if bare_age and "00101010" in obj:
            obj["00101010"]["Value"] = [obj["00101010"]["Value"][0].lstrip("0").rstrip("Y")]
        return obj

    # ------------------------------------------------------------------ layouts
    @staticmethod
    def relative(patient: _Patient, study_uid: str, series_uid: str, date: dt.date) -> Path:
        """An image's folder below its modality folder, by layout generation."""
        if patient.layout == "april":
            return Path(patient.pid, date.isoformat())
        if patient.layout == "may":
            return Path(patient.pid)
        return Path(patient.pid, study_uid, series_uid)

    def summarize(self, patient: _Patient, folder: str, rel: Path, name: str, *,
                  with_json: bool = True) -> None:
        """List an April-May-2020 upload in its folders' summary.json (written at the end)."""
        if patient.layout != "may":
            return
        for sub, suffix in ((folder, "dcm"), (f"{folder}-metadata", "json")):
            if suffix == "json" and not with_json:
                continue
            key = f"{patient.group}/{sub}/{rel.as_posix()}/{name}.{suffix}"
            self.summaries.setdefault((patient.group, sub), []).append({
                "patient_id": patient.pid, "modality": folder, "file_name": f"{name}.{suffix}",
                "file_key": key, "upload_date": "2020-05-01"})

    def write_summaries(self) -> None:
        for (group, sub), entries in sorted(self.summaries.items()):
            self.write_json(self.root / group / sub / "summary.json", entries)

    # ------------------------------------------------------------------ images
    def exam(self, patient: _Patient, exam: pd.Series, date: dt.date, *, with_json: bool = True,
             duplicate: bool = False) -> None:
        rng = self.rng
        modality = str(exam["modality"])
        study_uid, series_uid = uid(rng), uid(rng)
        group_dir = self.root / patient.group
        common = {"patient_id": patient.pid, "study_uid": study_uid, "series_uid": series_uid,
                  "study_date": date, "study_time": dt.time(int(rng.integers(7, 20)),
                                                            int(rng.integers(0, 60))),
                  "sex": patient.sex, "age_years": patient.age}
        if modality == "CT":
            n = 20
            volume = ct_volume(rng, n, CT_SHAPE, float(exam["severity"]))
            files = []
            for k in range(n):
                sop = uid(rng)
                data = self.dicom_bytes(volume[k], modality="CT", sop_uid=sop,
                                        instance_number=n - k, position_z=-300.0 + 5.0 * k,
                                        study_description="CT CHEST", **common)
                name = _uuid(rng)
                rel = self.relative(patient, study_uid, series_uid, date)
                files.append(self.write_bytes(group_dir / "ct" / rel / f"{name}.dcm", data))
                self.write_json(group_dir / "ct-metadata" / rel / f"{name}.json",
                                self.metadata(data, bare_age=False))
                self.summarize(patient, "ct", rel, name)
            self.images.append({"image_uid": f"nccid:{series_uid}", "pid": patient.pid,
                                "modality": "CT", "view": "AXIAL", "date": date,
                                "n_instances": n, "photometric": "MONOCHROME2",
                                "path": str(files[0].parent)})
            return
        view = str(exam["view"])
        photometric = "MONOCHROME1" if rng.random() < 0.25 else "MONOCHROME2"
        pixels = chest_radiograph(rng, XRAY_SHAPE, float(exam["severity"]), view)
        no_view_position = rng.random() < 0.2
        sop = uid(rng)
        data = self.dicom_bytes(
            pixels, modality=modality, sop_uid=sop, photometric=photometric,
            view=None if no_view_position else view,
            series_description=f"CHEST {view}" if no_view_position else "CHEST", **common)
        name = _uuid(rng)
        if patient.layout == "early":
            folder = date.isoformat()
            dcm = self.write_bytes(group_dir / patient.pid / "images" / folder / f"{name}.dcm",
                                   data)
            meta = group_dir / patient.pid / "images_metadata" / folder / f"{name}.json"
        else:
            rel = self.relative(patient, study_uid, series_uid, date)
            folder = "xray" if patient.layout == "current" else "x-ray"  # renamed 2020-05-22
            dcm = self.write_bytes(group_dir / folder / rel / f"{name}.dcm", data)
            meta = group_dir / f"{folder}-metadata" / rel / f"{name}.json"
            self.summarize(patient, folder, rel, name, with_json=with_json)
        if with_json:
            self.write_json(meta, self.metadata(data, bare_age=rng.random() < 0.5))
        else:
            patient.findings.append(("missing_metadata", str(dcm)))
        self.images.append({"image_uid": f"nccid:{sop}", "pid": patient.pid,
                            "modality": modality, "view": view, "date": date,
                            "n_instances": 1, "photometric": photometric, "path": str(dcm)})
        if duplicate:  # the same image uploaded again on a later date (early layout)
            later = (date + dt.timedelta(days=3)).isoformat()
            copy = self.write_bytes(group_dir / patient.pid / "images" / later / f"{name}.dcm",
                                    data)
            self.write_json(group_dir / patient.pid / "images_metadata" / later /
                            f"{name}.json", self.metadata(data, bare_age=False))
            patient.findings.append(("duplicate_image", str(copy)))

    def orphan_metadata(self, patient: _Patient, date: dt.date) -> None:
        """A DICOM-JSON file whose .dcm never arrived."""
        rng = self.rng
        study_uid, series_uid = uid(rng), uid(rng)
        data = self.dicom_bytes(chest_radiograph(rng, (32, 32), 0.2, "AP"), modality="DX",
                                patient_id=patient.pid, study_uid=study_uid,
                                series_uid=series_uid, sop_uid=uid(rng), study_date=date,
                                view="AP", sex=patient.sex, age_years=patient.age)
        meta = (self.root / patient.group / "xray-metadata" / patient.pid / study_uid /
                series_uid / f"{_uuid(rng)}.json")
        self.write_json(meta, self.metadata(data, bare_age=False))
        patient.findings.append(("missing_image_file", str(meta)))


# ---------------------------------------------------------------------------- clinical values
def _render_lab(rng: np.random.Generator, analyte: str, value: float, site: str,
                patient: _Patient) -> tuple[str, dict | None]:
    """Text for one lab value as a site would submit it, and the truth row it encodes."""
    canonical = _CANONICAL_UNIT[analyte]
    if analyte in ("d_dimer", "po2", "troponin_i"):
        table_name, units = SITES[site]
        unit = units[analyte]
        if unit == "%":  # PaO2 "in %": the site sent a saturation; it cannot be converted
            patient.findings.append(("unconvertible_unit", None))
            return f"{int(rng.integers(88, 100))}", None
        if table_name is None or \
                (table_name == "West Suffolk NHS Foundation Trust" and analyte == "troponin_i"):
            patient.findings.append(("unit_assumed", None))
        factor = _TO_CANONICAL[(analyte, unit)]
        if factor == 1.0 and analyte == "d_dimer":
            written = round(value, 2)
        elif analyte == "d_dimer":
            written = float(round(value / factor))
        elif analyte == "troponin_i":
            written = round(value / factor, 3)
        else:
            written = round(value / factor, 1) if unit == "kPa" else float(round(value))
        text = f"{written:g}"
        return text, {"analyte": analyte, "unit": canonical, "lower": written * factor,
                      "upper": written * factor, "censor": "none", "value_raw": text}
    written = float(round(value)) if analyte == "crp" else round(value, 1)
    if analyte == "lymphocytes" and written < 0.2:
        return "<0.2", {"analyte": analyte, "unit": canonical, "lower": -np.inf, "upper": 0.2,
                        "censor": "left", "value_raw": "<0.2"}
    text = f"{written:g}"
    if rng.random() < 0.2:  # spreadsheet error cell holding the value
        text = f"[{text}] - 2020-{int(rng.integers(3, 12)):02d}-0{int(rng.integers(1, 9))}"
        patient.findings.append(("recovered_value", None))
    return text, {"analyte": analyte, "unit": canonical, "lower": written, "upper": written,
                  "censor": "none", "value_raw": text}


def _fio2(rng: np.random.Generator, severity: float, icu: bool) -> tuple[str, dict]:
    choice = int(rng.integers(0, 5))
    if icu or severity > 0.6:
        text = ["60%", "0.6", "green", "80", "15L"][choice]
    elif severity > 0.3:
        text = ["4L", "white", "0.35", "yellow", "10L"][choice]
    else:
        text = ["21", "room air", "2L", "blue", "28%"][choice]
    lowered = text.lower()
    if lowered in FIO2_MASK_COLOURS:
        low = high = FIO2_MASK_COLOURS[lowered]
    elif lowered.endswith("l"):
        low, high = FIO2_LITRES[int(lowered[:-1])]
    elif lowered == "room air":
        low = high = 21.0
    else:
        number = float(lowered.rstrip("%"))
        low = high = round(number * 100, 6) if number <= 1 else number
    censor = "none" if low == high else "interval"
    return text, {"analyte": "fio2", "unit": "%", "lower": low, "upper": high,
                  "censor": censor, "value_raw": text}


def _vitals(rng: np.random.Generator, record: dict[str, Any], patient: _Patient,
            index: int) -> None:
    """Temperature and O2 saturation, with a unit in the text or impossible on some patients."""
    celsius = round(float(rng.uniform(36.0, 39.5)), 1)
    saturation = float(rng.integers(85, 100))
    if index == 3:      # Fahrenheit, named: 99.5 F = (99.5 - 32) / 1.8 = 37.5 °C
        record["Temperature on admission"] = "99.5 F"
        patient.vitals["temperature"] = 37.5
        patient.findings.append(("recovered_value", None))
    elif index == 5:    # not a body temperature (NHSX keeps 25-45 °C): reported, not kept
        record["Temperature on admission"] = "400"
        patient.findings.append(("implausible_value", None))
    else:
        record["Temperature on admission"] = f"{celsius:g}"
        patient.vitals["temperature"] = celsius
    if index == 6:      # litres of oxygen typed into the saturation: reported, not kept
        record["O2 saturation"] = "10L"
        patient.findings.append(("unconvertible_unit", None))
    elif index == 7:    # over 100 %: reported, not kept
        record["O2 saturation"] = "104"
        patient.findings.append(("implausible_value", None))
    else:
        record["O2 saturation"] = f"{saturation:g}"
        patient.vitals["o2_saturation"] = saturation


def _sex_code(rng: np.random.Generator, sex: str) -> Any:
    forms = {"F": ["0", 0, "Female", "F"], "M": ["1", 1, "Male", "M"]}[sex]
    return forms[int(rng.integers(0, len(forms)))]


def write(root: Path, *, rng: np.random.Generator, n_patients: int = 30) -> DemoTruth:
    """Write ``n_patients`` simulated NCCID patients under ``root``, with every quirk.

    Parameters
    ----------
    root
        The bucket root to write (``training/``, ``validation/`` and a ``raw-*/`` folder go
        inside); it is what a user passes to ``covidimg.load({"nccid": root})``.
    rng
        Random generator; the same seed writes the same files.
    n_patients
        Number of patients. The quirks are planted on the first eight patients (negative,
        orphan, early layout with a duplicate upload, ...), so with fewer some are missing;
        the truth always says which were planted.

    Returns
    -------
    DemoTruth
        The tables a correct loader returns, the findings it must report and the number of
        files written.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from pathlib import Path
    >>> from covidimg.demo import nccid
    >>> truth = nccid.write(Path(tempfile.mkdtemp()), rng=np.random.default_rng(0),
    ...                     n_patients=8)
    >>> sorted(truth.patients["covid_status"].unique())
    ['negative', 'positive', 'unknown']
    """
    if n_patients < 1:
        raise ValueError(f"n_patients={n_patients}: expected at least 1 (8 or more plant "
                         "every quirk)")
    root = Path(root)
    course = simulate_courses(rng, n_patients, modalities=("DX", "CR", "CT"),
                              modality_p=(0.62, 0.35, 0.03))
    writer = _Writer(root, rng)
    numbers = rng.choice(np.arange(1, 40000), size=n_patients, replace=False)
    pids = [f"Covid{int(n)}" for n in numbers]
    # Roles: patient 0 negative, 1 orphan, 2 early layout with duplicate upload, 3 early,
    # 4 negative-then-positive, 5 missing admission date, 6 and 8 April-2020 layout, 7 and 9
    # April-May-2020 layout (6, 7 in validation/); then a mix.
    patients: list[_Patient] = []
    site_names = list(SITES)
    for i, pid in enumerate(pids):
        row = course.patients.iloc[i]
        kind = "negative" if i == 0 or (i >= 8 and rng.random() < 0.15) else \
            "orphan" if i == 1 else "positive"
        layout = "early" if i in (2, 3) or (i >= 10 and rng.random() < 0.15) else \
            "april" if i in (6, 8) else "may" if i in (7, 9) else "current"
        group = "validation" if i in (6, 7) or (i >= 10 and layout == "current"
                                                and rng.random() < 0.25) else "training"
        patients.append(_Patient(pid, group, layout, kind, site_names[i % len(site_names)],
                                 str(row["sex"]), float(row["age"])))

    for i, patient in enumerate(patients):
        row = course.patients.iloc[i]
        pid_course = row["pid"]
        exams = course.exams[course.exams["pid"] == pid_course]
        if not len(exams) and patient.kind == "orphan":  # an orphan needs an image
            exams = pd.DataFrame([{"pid": pid_course, "exam": f"{pid_course}-0", "day": 0.0,
                                   "modality": "DX", "view": "AP",
                                   "severity": float(row["severity"])}])
        admission = dt.date(2020, 3, 1) + dt.timedelta(days=int(rng.integers(0, 270)))
        events = course.events[course.events["pid"] == pid_course].set_index("event")["day"]
        n_ct = 0
        for k, (_, exam) in enumerate(exams.iterrows()):
            date = admission + dt.timedelta(days=int(exam["day"]))
            n_ct += exam["modality"] == "CT"
            # The early layout has no CT folder; the flat 2020 ones put every CT slice of a
            # patient (or a date) in one folder: at most one CT each.
            flat_ct_again = patient.layout in ("april", "may") and n_ct > 1
            modality = "DX" if (patient.layout == "early" or flat_ct_again) and \
                exam["modality"] == "CT" else exam["modality"]
            if i == 5 and k == len(exams) - 1:  # at least one multi-slice CT series
                modality = "CT"
            exam = exam.copy()
            exam["modality"] = modality
            writer.exam(patient, exam, date,
                        with_json=not (i == 4 and k == 0),
                        duplicate=(i == 2 and k == 0))
        if i == 5:
            writer.orphan_metadata(patient, admission)
        if patient.kind == "positive":
            _positive(writer, patient, admission, row, events, course, i)
        elif patient.kind == "negative":
            _negative(writer, patient, admission, rng)
        else:
            patient.findings.append(("orphan_image", None))

    # A raw upload area, outside training/ and validation/: ignored.
    raw_pid = pids[min(4, n_patients - 1)]
    writer.write_json(root / "raw-centrea" / "2020-05-01" / "data" / f"{raw_pid}_data.json",
                      {"Pseudonym": raw_pid})
    writer.write_summaries()
    return _truth(writer, patients)


def _positive(writer: _Writer, patient: _Patient, admission: dt.date, row: pd.Series,
              events: pd.Series, course: Any, index: int) -> None:
    rng = writer.rng
    patient.icu, patient.died = bool(row["icu"]), bool(row["died"])
    swab = admission + dt.timedelta(days=int(events.get("covid_test_positive", 0)))
    record: dict[str, Any] = {
        "Pseudonym": patient.pid, "SubmittingCentre": patient.site, "SwabStatus": "1",
        "SwabDate": _uk(swab), "Age": f"{patient.age:g}" if index % 2 else patient.age,
        "Sex": _sex_code(rng, patient.sex), "Ethnicity": "A",
        "ITU admission": int(patient.icu), "Death": str(int(patient.died)),
        "PMH hypertension": str(int(rng.integers(0, 3))),
    }
    patient.tests.append(("covid_test_positive", swab))
    if index % 3 == 0:
        record["Date of Positive Covid Swab"] = _us(swab)
    if index == 5:
        record["Date of admission"] = ""           # missing: day 0 = first exam
    elif index == 3:
        serial = (admission - dt.date(1899, 12, 30)).days
        record["Date of admission"] = str(serial)  # Excel serial day number
        patient.admission = admission
        patient.findings.append(("recovered_value", None))
    elif index == 6 and admission.day > 12:
        record["Date of admission"] = _uk(admission)  # wrong order, impossible as MM/DD
        patient.admission = admission
        patient.findings.append(("recovered_value", None))
    else:
        record["Date of admission"] = _us(admission)
        patient.admission = admission
    if patient.icu:
        icu_date = admission + dt.timedelta(days=int(events["icu_admission"]))
        patient.events["icu_admission"] = icu_date
        if index % 4 == 1:
            record["Date of ITU admission"] = f"[Text] - {icu_date.isoformat()}"
            patient.findings.append(("recovered_value", None))
        else:
            record["Date of ITU admission"] = _us(icu_date)
    if patient.died:
        death = admission + dt.timedelta(days=int(events["death"]))
        patient.events["death"] = death
        record["Date of death"] = _us(death)
    sbp, dbp = int(rng.integers(100, 170)), int(rng.integers(55, 95))
    if rng.random() < 0.5:
        record["Systolic BP"] = record["Diastolic BP"] = f"[{sbp}/{dbp}] - {admission}"
    else:
        record["Systolic BP"], record["Diastolic BP"] = str(sbp), str(dbp)

    keys = {"crp": "CRP on admission", "d_dimer": "D-dimer on admission",
            "lymphocytes": "Lymphocyte count on admission", "po2": "PaO2"}
    labs = course.labs[course.labs["pid"] == row["pid"]]
    for analyte, key in keys.items():
        if index == 6 and analyte == "lymphocytes":  # below the reporting limit: censored
            record[key] = "<0.2"
            patient.labs.append({"analyte": analyte, "unit": "10^9/L", "lower": -np.inf,
                                 "upper": 0.2, "censor": "left", "value_raw": "<0.2"})
            continue
        values = labs[labs["analyte"] == analyte]
        if not len(values):
            continue
        value = float(values.iloc[int(np.argmin(np.abs(values["day"].to_numpy())))]["value"])
        text, truth = _render_lab(rng, analyte, value, patient.site, patient)
        record[key if not (analyte == "po2" and index % 5 == 0) else "Pa02"] = text
        if truth is not None:
            patient.labs.append(truth)
    text, truth = _fio2(rng, float(row["severity"]), patient.icu)
    if index == 9:     # a bare 1: NHSX's look-up reads 1 L/min (25 %), ambiguous -> reported
        text, truth = "1", {"analyte": "fio2", "unit": "%", "lower": 24.0, "upper": 25.0,
                            "censor": "interval", "value_raw": "1"}
        patient.findings.append(("recovered_value", None))
    record["FiO2"] = text
    patient.labs.append(truth)
    if index % 7 == 2:
        record["Troponin I"] = "see notes"
        patient.findings.append(("unparseable_value", None))
    else:
        text, truth = _render_lab(rng, "troponin_i", float(rng.uniform(3.0, 60.0)),
                                  patient.site, patient)
        record["Troponin I"] = text
        patient.labs.append(truth)
    _vitals(rng, record, patient, index)
    patient.readings = plant_nccid_readings(
        record, patient.pid, [im for im in writer.images if im["pid"] == patient.pid],
        float(row["severity"]), index)
    if index == 4:
        record["Sex"] = "t"                        # unreadable: DICOM PatientSex is used
        patient.findings.append(("unparseable_value", None))

    group_dir = writer.root / patient.group
    latest = admission + dt.timedelta(days=int(rng.integers(10, 40)))
    if patient.layout == "early":
        data_dir = group_dir / patient.pid / "data"
        writer.write_json(data_dir / (latest - dt.timedelta(days=7)).isoformat() / "data.json",
                          {"Pseudonym": patient.pid, "SubmittingCentre": patient.site,
                           "SwabStatus": "1", "SwabDate": _uk(swab)})
        writer.write_json(data_dir / latest.isoformat() / "data.json", record)
        return
    data_dir = group_dir / "data" / patient.pid
    if patient.layout == "april":   # data/<pid>/<DATE>/data.json, an earlier one superseded
        writer.write_json(data_dir / (latest - dt.timedelta(days=4)).isoformat() / "data.json",
                          {"Pseudonym": patient.pid, "SubmittingCentre": patient.site,
                           "SwabStatus": "1", "SwabDate": _uk(swab)})
        writer.write_json(data_dir / latest.isoformat() / "data.json", record)
        return
    if index % 2 == 0:  # an earlier, stale submission
        stale = {k: v for k, v in record.items() if not k.startswith(("Date of death", "Death"))}
        writer.write_json(data_dir / f"data_{(latest - dt.timedelta(days=5)).isoformat()}.json",
                          stale)
    if index == 4:      # first tested negative, later positive
        writer.write_json(data_dir / f"status_{(swab - dt.timedelta(days=6)).isoformat()}.json",
                          {"Pseudonym": patient.pid, "SubmittingCentre": patient.site,
                           "SwabDates": [{"SwabDate": _uk(swab - dt.timedelta(days=6)),
                                          "SwabStatus": "0"}]})
    writer.write_json(data_dir / f"data_{latest.isoformat()}.json", record)


def _negative(writer: _Writer, patient: _Patient, first: dt.date,
              rng: np.random.Generator) -> None:
    swabs = sorted({first + dt.timedelta(days=int(d)) for d in rng.integers(-5, 3, size=2)})
    for swab in swabs:
        patient.tests.append(("covid_test_negative", swab))
    record = {"Pseudonym": patient.pid, "SubmittingCentre": patient.site,
              "Sex": _sex_code(rng, patient.sex), "Age": patient.age,
              "SwabDates": [{"SwabDate": _uk(s), "SwabStatus": "0"} for s in swabs]}
    data_dir = writer.root / patient.group / "data" / patient.pid

    def name(date: dt.date) -> str:   # the April-2020 layout: data/<pid>/<DATE>/status.json
        return f"{date.isoformat()}/status.json" if patient.layout == "april" else \
            f"status_{date.isoformat()}.json"

    writer.write_json(data_dir / name(swabs[0]), {**record, "SwabDates": record["SwabDates"][:1]})
    writer.write_json(data_dir / name(swabs[-1]), record)
    if len(swabs) == 1:  # both files have the same name: count the overwrite once
        writer.n_files -= 1


def _truth(writer: _Writer, patients: list[_Patient]) -> DemoTruth:
    images = pd.DataFrame(writer.images)
    first_exam = images.groupby("pid")["date"].min() if len(images) else pd.Series(dtype=object)
    p_rows, e_rows, l_rows, f_rows, i_rows = [], [], [], [], []
    for patient in patients:
        uid_ = f"nccid:{patient.pid}"
        if patient.admission is not None:
            anchor = patient.admission
        elif patient.pid in first_exam.index:
            anchor = first_exam[patient.pid]
        else:
            anchor = min(d for _, d in patient.tests)

        def day(date: dt.date | None, anchor: dt.date = anchor) -> float:
            return np.nan if date is None else float((date - anchor).days)

        p_rows.append({"patient_uid": uid_, "sex": patient.sex, "age_min": patient.age,
                       "age_max": patient.age, "icu": patient.icu, "died": patient.died,
                       "covid_status": {"orphan": "unknown"}.get(patient.kind, patient.kind),
                       "site": None if patient.kind == "orphan" else patient.site.strip(),
                       **{k: patient.vitals.get(k, np.nan)
                          for k in ("temperature", "o2_saturation")},
                       "group": patient.group})
        if patient.admission is not None:
            e_rows.append((uid_, "admission", 0.0))
        for event, date in patient.events.items():
            e_rows.append((uid_, event, day(date)))
        for event, date in patient.tests:
            e_rows.append((uid_, event, day(date)))
        for lab in patient.labs:
            l_rows.append({"patient_uid": uid_, "image_uid": None, **lab,
                           "day": 0.0 if patient.admission is not None else np.nan})
        for kind, path in patient.findings:
            f_rows.append({"kind": kind, "patient_uid": uid_, "image_uid": None, "path": path,
                           "detail": ""})
        for _, image in images[images["pid"] == patient.pid].iterrows():
            exam_day = day(image["date"])
            offsets = {f"{event}_offset": day(date) - exam_day if date is not None else np.nan
                       for event, date in (("admission", patient.admission),
                                           ("icu_admission", patient.events.get(
                                               "icu_admission")),
                                           ("death", patient.events.get("death")))}
            i_rows.append({"image_uid": image["image_uid"], "patient_uid": uid_,
                           "modality": image["modality"], "view": image["view"],
                           "day": exam_day, **offsets, "icu_release_offset": np.nan,
                           "n_instances": image["n_instances"],
                           "photometric": image["photometric"], "path": image["path"]})
    events = pd.DataFrame(sorted(set(e_rows)), columns=["patient_uid", "event", "day"])
    return DemoTruth(
        source="nccid",
        patients=pd.DataFrame(p_rows),
        images=pd.DataFrame(i_rows),
        events=events,
        labs=pd.DataFrame(l_rows),
        findings=pd.DataFrame(f_rows, columns=["kind", "patient_uid", "image_uid", "path",
                                               "detail"]),
        n_files=writer.n_files,
        annotations=pd.DataFrame([r for p in patients for r in p.readings],
                                 columns=["annotation_uid", "patient_uid", "image_uid", "source",
                                          "scheme", "kind", "label", "score", "geometry",
                                          "instance", "reader"]),
    )
