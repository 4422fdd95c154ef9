"""The Hannover Medical School (MHH) COVID-19 Image Repository.

Layout (``github.com/ml-workgroup/covid-19-image-repository``)::

    data.csv                 28 columns, one row per image
    png/<image_id>.png       8-bit CLAHE previews, 640 px wide
    nii/<image_id>.nii.gz    raw gray values, 2-D, stored transposed (download DOI 10.25835/0090041)

Either image folder may be missing. Quirks handled:

* offsets are days from *each exam* to the event (negative = before the exam); the harmonized
  day axis puts admission at day 0, so an exam's day is ``-admission_offset`` and every event's
  day is ``exam day + offset``. Events must agree across a patient's exams; disagreements are
  reported (``inconsistent_event``) and the most frequent day is kept;
* ``admission_offset > icu_admission_offset`` (readme FAQ 1) is kept and reported
  (``admission_after_icu``);
* lab values are published on a precision grid with ``-inf`` / ``inf`` for values beyond the
  detection limits; each becomes an interval (:func:`covidimg.intervals.grid_intervals`), with
  its own offset;
* the ``factor_xii_*`` columns hold coagulation factor XIII (readme) → analyte ``factor_xiii``;
* ``age``, ``size`` and ``weight`` are redacted (empty) and become NaN;
* NIfTI files are stored transposed (MHH's ``nii2png.py`` reads them with ``.T``): images rows
  carry ``stored_transposed=True`` so readers display them upright;
* the withdrawn NIfTI release 1.0 (erratum 1: wrong offsets) is reported when recognised;
* ``data.csv`` was published three times (commits fedd705, 4025ea1, a9842c3) with the same
  header, and the first upload's offsets were wrong (repository issue #6). The revision is
  recognised by its content (:mod:`covidimg.sources.mhh.revisions`: the file's SHA-256, else
  a signature of its rows that ignores line endings, number spellings and row order) and
  recorded as the cohort's release; a superseded revision is reported
  (``superseded_release``, naming the revision and what was wrong), a table matching no
  published revision too (``unknown_release``);
* ``covid_status`` is ``positive`` for every patient by assumption: the repository is a
  COVID-19 collection, but ``data.csv`` has no test result and the readme's feature 20
  ("corona test type") has no column. Each load says so (``assumed_value``).
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from covidimg import schema
from covidimg.errors import LoadError, TableReadError
from covidimg.intervals import Convention, grid_intervals
from covidimg.sources import rejects_unknown_options
from covidimg.sources._engine.exam import MODALITY_CODES, exam_label
from covidimg.sources._engine.free_text import describe_value
from covidimg.sources._engine.harmonize import choose_day_zero, days_between
from covidimg.sources._engine.ledger import (
    Ledger,
    SourceTables,
    file_problem,
    outside_root,
    read_text_table,
    walk,
)
from covidimg.sources._engine.observations import Observations
from covidimg.sources._engine.provenance import provenance_frame, provenance_row
from covidimg.sources._engine.rows import drop_repeated_rows
from covidimg.sources.mhh.revisions import REVISIONS, Recognition, recognise

__all__ = ["COLUMNS", "LOOKS_FOR", "NAME", "detect", "load"]

NAME = "mhh"
LOOKS_FOR = ("data.csv with the MHH columns patient_id, image_id, admission_offset, ... and "
             "optional png/ and nii/ folders")
SITE = "Hannover Medical School"

COLUMNS: tuple[str, ...] = (
    "patient_id", "image_id", "sex", "age", "size", "weight", "admission_offset",
    "icu_admission_offset", "icu_release_offset", "death_offset", "modality", "projection",
    "crp_offset", "crp_val", "d-dimer_offset", "d-dimer_val", "factor_xii_offset",
    "factor_xii_val", "ldh_offset", "ldh_val", "lymphocytes_offset", "lymphocytes_val",
    "neutrophils_offset", "neutrophils_val", "pco2_offset", "pco2_val", "po2_offset", "po2_val",
)
_EVENT_COLUMNS = {"icu_admission_offset": "icu_admission", "icu_release_offset": "icu_release",
                  "death_offset": "death"}
_SEX = {"m": "M", "f": "F", "w": "F"}
_VIEW = {"ap": "AP", "pa": "PA", "lat": "LAT", "ll": "LAT", "rl": "LAT", "lateral": "LAT"}
#: Units of the data.csv columns that become observations (readme feature table).
_OBSERVATION_UNITS = {"size": "cm", "weight": "kg"}
_DOC_FILES = {"readme.md", "license", "source.md", ".gitignore", "nii2png.py", "readme.txt"}


def detect(root: str) -> bool:
    """Whether ``root`` holds an MHH ``data.csv``."""
    csv = Path(root) / "data.csv"
    if not csv.is_file() or outside_root(csv, root) is not None:
        return False
    try:
        with open(csv, encoding="utf-8", errors="replace") as handle:
            header = handle.readline()
    except OSError:
        return False
    names = {c.strip() for c in header.split(",")}
    return {"patient_id", "image_id", "admission_offset"} <= names


def _line(index: int) -> int:
    """data.csv line number of DataFrame row ``index`` (header is line 1)."""
    return int(index) + 2


class _Reader:
    """Reads one MHH root; keeps the ledger and the CSV path for messages."""

    def __init__(self, root: str, convention: Convention, progress: bool) -> None:
        self.root = Path(root)
        self.csv = self.root / "data.csv"
        self.ledger = Ledger(NAME, self.root)
        self.convention = convention
        self.progress = progress
        self.recognition: Recognition | None = None
        self.rows_read = 0
        self.extra_columns: list[str] = []

    # -------------------------------------------------------------- data.csv
    def read_csv(self) -> pd.DataFrame:
        try:
            raw = read_text_table(self.csv, self.ledger)
        except TableReadError as exc:
            raise LoadError(f"{self.csv}: cannot be read as CSV: {exc.reason}") from exc
        raw.columns = [c.strip() for c in raw.columns]
        missing = [c for c in ("patient_id", "image_id", "admission_offset", "modality",
                               "projection") if c not in raw.columns]
        if missing:
            raise LoadError(
                f"{self.csv}: required columns {missing} are missing (found "
                f"{list(raw.columns)}); expected the MHH header {list(COLUMNS)}"
            )
        self.recognition = recognise(self.csv, raw, COLUMNS)
        self.rows_read = len(raw)
        for col in COLUMNS:
            if col not in raw.columns:
                self.ledger.finding("missing_column", f"column {col!r} is missing; its values "
                                    "are treated as empty", path=self.csv)
                raw[col] = ""
        self.extra_columns = [c for c in raw.columns if c not in COLUMNS]
        for number, col in enumerate(raw.columns, start=1):
            if col not in COLUMNS:
                self.ledger.finding("unexpected_field", f"column {number}, named "
                                    f"{describe_value(col)}, is not part of the MHH layout; its "
                                    "values are kept as observations of the field 'mhh:' + "
                                    "that name", path=self.csv)
        raw = raw[[*COLUMNS, *self.extra_columns]]  # read_text_table stripped every value
        ok = (raw["patient_id"] != "") & (raw["image_id"] != "")
        for idx in raw.index[~ok]:
            self.ledger.finding("missing_identifier", f"line {_line(idx)}: empty patient_id or "
                                "image_id; row skipped", path=f"{self.csv}:{_line(idx)}")
        return drop_repeated_rows(
            raw[ok], "image_id", self.ledger, what="image_id",
            where=lambda idx: f"{self.csv}:{_line(idx)}",
            image_uid=lambda image_id: f"{NAME}:{image_id}",
            compare=[c for c in COLUMNS if c != "image_id"])

    def numeric(self, raw: pd.DataFrame, column: str) -> pd.Series:
        """Parse a numeric column; unparseable cells become NaN and a finding each."""
        text = raw[column]
        values = pd.to_numeric(text.replace("", np.nan), errors="coerce")
        bad = values.isna() & (text != "")
        for idx in raw.index[bad]:
            self.ledger.finding(
                "unparseable_value",
                f"line {_line(idx)}, column {column!r}: {describe_value(text[idx])} is not a "
                "number",
                patient_uid=f"{NAME}:{raw.at[idx, 'patient_id']}",
                image_uid=f"{NAME}:{raw.at[idx, 'image_id']}", path=f"{self.csv}:{_line(idx)}",
            )
        return values.astype(float)

    # -------------------------------------------------------------- image files
    def image_files(self) -> tuple[dict[str, Path], dict[str, Path]]:
        # files that cannot be read (dangling links, FIFOs, no permission) or that lead outside
        # the root (a linked png/ folder, a link to a file elsewhere) are left to
        # account_for_other_files, whose walk records them with the reason
        def readable(path: Path) -> bool:
            return file_problem(path) is None and outside_root(path, self.root) is None

        pngs = {p.name[: -len(".png")]: p for p in sorted((self.root / "png").glob("*.png"))
                if readable(p)}
        niis = {p.name[: -len(".nii.gz")]: p
                for p in sorted((self.root / "nii").glob("*.nii.gz")) if readable(p)}
        return pngs, niis

    def png_shape(self, path: Path) -> tuple[int, int] | None:
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as img:
                img.verify()
            with Image.open(path) as img:
                columns, rows = img.size
            return rows, columns
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            self.reject(path, f"unreadable PNG: {exc}")
            return None

    def nifti_shape(self, path: Path) -> tuple[int, int] | None:
        import nibabel as nib

        try:
            img = nib.load(path)
            shape = tuple(int(s) for s in img.shape if s != 1)
        except Exception as exc:  # nibabel raises many types for damaged files
            self.reject(path, f"unreadable NIfTI: {type(exc).__name__}: {exc}")
            return None
        if len(shape) != 2:
            self.reject(path, f"NIfTI has shape {img.shape}; MHH radiographs are 2-D")
            return None
        # Stored transposed: array axis 0 is the image's columns.
        return shape[1], shape[0]

    def reject(self, path: Path, reason: str) -> None:
        self.ledger.file(path, "rejected", reason=reason)
        self.ledger.finding("unreadable_file", f"{path.name}: {reason}", path=path)

    # -------------------------------------------------------------- tables
    def load(self) -> SourceTables:
        raw = self.read_csv()
        self.ledger.file(self.csv, "used", reason="MHH clinical table")
        num = {c: self.numeric(raw, c) for c in COLUMNS
               if c.endswith(("_offset", "_val")) or c in ("age", "size", "weight")}
        patient_uid = NAME + ":" + raw["patient_id"]
        image_uid = NAME + ":" + raw["image_id"]
        # Day 0 (harmonize): MHH gives days from each exam, so on an exam's own axis the exam
        # is at 0 and the admission at admission_offset. MHH records no index event and no exam
        # dates (exams cannot be ordered without the admission), so admission is the only
        # candidate: an exam without admission_offset has no day.
        anchor, _rule = choose_day_zero({"admission": num["admission_offset"]})
        day = pd.Series(days_between(np.zeros(len(raw)), anchor), index=raw.index)

        images, keep = self.images(raw, image_uid, patient_uid, day, num)
        self.report_revision()
        patients = self.patients(raw, patient_uid, num)
        if len(patients):
            self.ledger.finding(
                "assumed_value",
                f"covid_status is 'positive' for all {len(patients)} patients by assumption: "
                "the repository is a COVID-19 collection, but data.csv holds no test result "
                "and the readme's feature 20, 'corona test type', has no column or values",
                path=self.csv)
        events = self.events(raw, patient_uid, image_uid, day, num)
        labs = self.labs(raw[keep], patient_uid[keep], image_uid[keep], day[keep],
                         {k: v[keep] for k, v in num.items()})
        observations = self.observations(raw, patient_uid, num)
        self.account_for_other_files()
        provenance = provenance_frame([provenance_row(
            NAME, release=self.recognition.release if self.recognition else None,
            loaded_from=self.root, options={"convention": self.convention})])
        return SourceTables(
            NAME, patients=patients, images=images, events=events, labs=labs,
            files=self.ledger.files_frame(), findings=self.ledger.findings_frame(),
            observations=observations, provenance=provenance,
        ).conformed()

    def observations(self, raw: pd.DataFrame, patient_uid: pd.Series,
                     num: dict[str, pd.Series]) -> pd.DataFrame:
        """The data.csv columns that are no column of patients, images, events or labs:
        ``size`` (cm) and ``weight`` (kg), redacted (empty) in the published revisions, and any
        column outside the MHH layout. One row per patient and distinct value."""
        obs = Observations(NAME)
        for column in ("size", "weight", *self.extra_columns):
            unit = _OBSERVATION_UNITS.get(column)
            seen: set[tuple[str, str]] = set()
            for idx in raw.index[raw[column] != ""]:
                key = (patient_uid[idx], raw.at[idx, column])
                if key in seen:
                    continue
                seen.add(key)
                number = num[column][idx] if column in num else None
                known = number is not None and not np.isnan(number)
                obs.add(patient_uid[idx], obs.field(column), value_num=number,
                        unit=unit if known else None, value_raw=raw.at[idx, column],
                        origin=f"{self.csv.name} line {_line(idx)}: {column}")
        return obs.frame()

    def report_revision(self) -> None:
        """Report a superseded or unknown revision of data.csv (see :mod:`.revisions`)."""
        found = self.recognition
        if found is None:
            return
        revision = found.revision
        if revision is None:
            known = ", ".join(r.release for r in REVISIONS)
            self.ledger.finding(
                "unknown_release",
                f"data.csv ({self.rows_read} rows, content sha256 {found.content_sha256[:16]}, "
                "the same whatever the encoding, line endings or row order) matches none of the "
                f"published revisions covidimg knows ({known}) by file hash or by rows: a "
                "local edit, or a revision newer than this covidimg; loaded as given",
                path=self.csv)
            return
        if revision.superseded_by is not None:
            how = ("byte for byte" if found.matched == "file" else
                   "by its rows (the file's bytes differ: line endings, number spellings or "
                   "row order)")
            self.ledger.finding(
                "superseded_release",
                f"data.csv is revision {revision.release} of the MHH repository (recognised "
                f"{how}), superseded by {revision.superseded_by}: {revision.problem}. Use "
                "the current data.csv (covidimg.fetch_mhh() downloads it)",
                path=self.csv)

    def images(self, raw: pd.DataFrame, image_uid: pd.Series, patient_uid: pd.Series,
               day: pd.Series, num: dict[str, pd.Series]) -> tuple[pd.DataFrame, pd.Series]:
        pngs, niis = self.image_files()
        modality = raw["modality"].str.upper()
        bad_modality = ~modality.isin(schema.MODALITIES)
        for idx in raw.index[bad_modality]:
            self.ledger.finding(
                "unknown_value",
                f"line {_line(idx)}: modality "
                f"{describe_value(raw.at[idx, 'modality'], vocabulary=MODALITY_CODES)} is not "
                f"one of {list(schema.MODALITIES)}; image skipped",
                patient_uid=patient_uid[idx], image_uid=image_uid[idx],
                path=f"{self.csv}:{_line(idx)}")
        view = raw["projection"].str.lower().map(_VIEW)
        for idx in raw.index[view.isna()]:
            self.ledger.finding(
                "unknown_value",
                f"line {_line(idx)}: projection {describe_value(raw.at[idx, 'projection'])} is not "
                f"one of "
                f"{sorted(_VIEW)}; view set to UNKNOWN",
                patient_uid=patient_uid[idx], image_uid=image_uid[idx],
                path=f"{self.csv}:{_line(idx)}")
        for idx in raw.index[num["admission_offset"].isna()]:
            self.ledger.finding(
                "missing_value",
                f"line {_line(idx)}: admission_offset is empty; the exam has no day",
                patient_uid=patient_uid[idx], image_uid=image_uid[idx],
                path=f"{self.csv}:{_line(idx)}")
        rows = []
        iterator = tqdm(raw.index, desc="MHH images", unit="image", disable=not self.progress)
        for idx in iterator:
            image_id = raw.at[idx, "image_id"]
            uid = image_uid[idx]
            png, nii = pngs.get(image_id), niis.get(image_id)
            if bad_modality[idx]:
                for path in (png, nii):
                    if path is not None:
                        self.ledger.file(path, "rejected", image_uid=uid,
                                         reason="its data.csv row has an unknown modality")
                continue
            png_shape = self.png_shape(png) if png is not None else None
            nii_shape = self.nifti_shape(nii) if nii is not None else None
            if png_shape is not None:
                self.ledger.file(png, "used", image_uid=uid, reason="preview PNG")
            if nii_shape is not None:
                self.ledger.file(nii, "used", image_uid=uid, reason="raw NIfTI image")
            if nii_shape is not None:
                path, fmt, shape = nii, "nifti", nii_shape
            elif png_shape is not None:
                path, fmt, shape = png, "png", png_shape
            else:
                path, fmt, shape = self.root / "png" / f"{image_id}.png", "png", (None, None)
                self.ledger.finding(
                    "missing_image_file",
                    f"image {image_id}: no readable png/{image_id}.png or "
                    f"nii/{image_id}.nii.gz; the exam is kept without pixels",
                    patient_uid=patient_uid[idx], image_uid=uid, path=path)
            view_of = view[idx] if isinstance(view[idx], str) else "UNKNOWN"
            rows.append({
                "image_uid": uid, "patient_uid": patient_uid[idx], "source": NAME,
                "study_uid": image_id, "series_uid": image_id,
                "modality": modality[idx], "view": view_of,
                "exam": exam_label(modality[idx], view_of), "day": day[idx],
                "admission_offset": num["admission_offset"][idx],
                "icu_admission_offset": num["icu_admission_offset"][idx],
                "icu_release_offset": num["icu_release_offset"][idx],
                "death_offset": num["death_offset"][idx],
                "path": os.fspath(path), "format": fmt, "n_instances": 1,
                "rows": shape[0], "columns": shape[1],
                "preview_path": os.fspath(png) if png_shape is not None else None,
                "stored_transposed": fmt == "nifti",
            })
        return pd.DataFrame(rows), ~bad_modality

    def patients(self, raw: pd.DataFrame, patient_uid: pd.Series,
                 num: dict[str, pd.Series]) -> pd.DataFrame:
        sex_raw = raw["sex"].str.lower()
        sex = sex_raw.map(_SEX).fillna("U")
        for idx in raw.index[~sex_raw.isin(_SEX) & (sex_raw != "")]:
            self.ledger.finding("unknown_value", f"line {_line(idx)}: sex "
                                f"{describe_value(raw.at[idx, 'sex'])} is not m, f or w; "
                                "recorded as U",
                                patient_uid=patient_uid[idx], path=f"{self.csv}:{_line(idx)}")
        frame = pd.DataFrame({
            "patient_uid": patient_uid, "sex": sex, "age": num["age"],
            "icu": num["icu_admission_offset"].notna(), "died": num["death_offset"].notna(),
        })
        grouped = frame.groupby("patient_uid", sort=False)
        sexes = grouped["sex"].agg(lambda s: s.mode().iat[0] if len(set(s)) > 1 else s.iat[0])
        for uid, values in grouped["sex"]:
            if values.nunique() > 1:
                self.ledger.finding("inconsistent_value", f"sex differs between exams: "
                                    f"{sorted(values.unique())}; kept {sexes[uid]}",
                                    patient_uid=uid, path=self.csv)
        out = pd.DataFrame({
            "patient_uid": sexes.index,
            "source": NAME,
            "source_patient_id": [uid.split(":", 1)[1] for uid in sexes.index],
            "sex": sexes.to_numpy(),
            "age_min": grouped["age"].min().to_numpy(),
            "age_max": grouped["age"].max().to_numpy(),
            "covid_status": "positive",
            "icu": grouped["icu"].any().to_numpy(),
            "died": grouped["died"].any().to_numpy(),
            "site": SITE,
        })
        return out

    def events(self, raw: pd.DataFrame, patient_uid: pd.Series, image_uid: pd.Series,
               day: pd.Series, num: dict[str, pd.Series]) -> pd.DataFrame:
        rows = [{"patient_uid": uid, "event": "admission", "day": 0.0}
                for uid in patient_uid[day.notna()].unique()]
        for column, event in _EVENT_COLUMNS.items():
            event_day = day + num[column]
            known = event_day.notna()
            per_patient = pd.DataFrame({"patient_uid": patient_uid[known],
                                        "day": event_day[known]})
            for uid, days in per_patient.groupby("patient_uid", sort=False)["day"]:
                counts = Counter(days.round(6))
                best = min(counts, key=lambda d: (-counts[d], d))
                if len(counts) > 1:
                    self.ledger.finding(
                        "inconsistent_event",
                        f"{event} falls on different days depending on the exam: "
                        f"{dict(sorted(counts.items()))} (day: exams); kept day {best:g}",
                        patient_uid=uid, path=self.csv)
                rows.append({"patient_uid": uid, "event": event, "day": float(best)})
        after = num["admission_offset"] > num["icu_admission_offset"]
        for uid in patient_uid[after].unique():
            first = after[patient_uid == uid].idxmax()
            self.ledger.finding(
                "admission_after_icu",
                f"admission_offset {num['admission_offset'][first]:g} > icu_admission_offset "
                f"{num['icu_admission_offset'][first]:g} (line {_line(first)}): hospital "
                "admission recorded after ICU admission (MHH FAQ 1); kept as published",
                patient_uid=uid, image_uid=image_uid[first], path=f"{self.csv}:{_line(first)}")
        return pd.DataFrame(rows, columns=["patient_uid", "event", "day"])

    def labs(self, raw: pd.DataFrame, patient_uid: pd.Series, image_uid: pd.Series,
             day: pd.Series, num: dict[str, pd.Series]) -> pd.DataFrame:
        parts = []
        for analyte in schema.ANALYTES.values():
            if analyte.mhh_column is None:
                continue
            values = num[f"{analyte.mhh_column}_val"]
            offsets = num[f"{analyte.mhh_column}_offset"]
            present = values.notna()
            off_grid = present & np.isfinite(values) & ~np.isclose(
                values / analyte.mhh_precision, np.round(values / analyte.mhh_precision),
                atol=1e-6)
            for idx in raw.index[off_grid]:
                self.ledger.finding(
                    "off_grid_value",
                    f"line {_line(idx)}: {analyte.mhh_column}_val "
                    f"{describe_value(raw.at[idx, analyte.mhh_column + '_val'])} is not a "
                    "multiple of the "
                    f"published precision {analyte.mhh_precision:g}",
                    patient_uid=patient_uid[idx], image_uid=image_uid[idx],
                    path=f"{self.csv}:{_line(idx)}")
            for idx in raw.index[present & offsets.isna()]:
                self.ledger.finding(
                    "missing_value",
                    f"line {_line(idx)}: {analyte.mhh_column}_val is given but "
                    f"{analyte.mhh_column}_offset is empty; the draw has no day",
                    patient_uid=patient_uid[idx], image_uid=image_uid[idx],
                    path=f"{self.csv}:{_line(idx)}")
            lower, upper, censor = grid_intervals(values, analyte.mhh_precision,
                                                  convention=self.convention)
            parts.append(pd.DataFrame({
                "patient_uid": patient_uid, "image_uid": image_uid, "analyte": analyte.name,
                "unit": analyte.unit, "lower": lower, "upper": upper, "censor": censor,
                "day": day + offsets, "offset": offsets,
                "value_raw": raw[f"{analyte.mhh_column}_val"],
            })[present.to_numpy()])
        return pd.concat(parts, ignore_index=True) if parts else schema.empty("labs")

    def account_for_other_files(self) -> None:
        for dirpath, _, filenames in walk(self.root, self.ledger):
            for name in sorted(filenames):
                path = Path(dirpath) / name
                if self.ledger.status(path) is not None:
                    continue
                lower = name.lower()
                rel = path.relative_to(self.root)
                if lower in _DOC_FILES or lower.endswith((".md", ".txt")):
                    reason = "documentation, not data"
                elif "v1_cov19" in lower:
                    reason = "NIfTI release 1.0, withdrawn (MHH erratum 1: wrong offsets)"
                    self.ledger.finding("withdrawn_release", f"{rel}: {reason}; use version 2.0",
                                        path=path)
                elif lower.endswith(".tar"):
                    reason = "archive: extract it so that nii/<image_id>.nii.gz files appear"
                elif rel.parts[0] in ("png", "nii") and len(rel.parts) == 2 and \
                        lower.endswith((".png", ".nii.gz")):
                    reason = "no row in data.csv refers to this image"
                    self.ledger.finding("unreferenced_image", f"{rel}: {reason}", path=path)
                else:
                    reason = "not part of the MHH layout"
                self.ledger.file(path, "ignored", reason=reason)


@rejects_unknown_options
def load(root: str | os.PathLike[str], *, progress: bool = False,
         convention: Convention = "floor") -> SourceTables:
    """Read an MHH download (``data.csv``, ``png/``, ``nii/``) into harmonized tables.

    Parameters
    ----------
    root
        Folder holding ``data.csv``.
    progress
        Show a progress bar while image headers are read.
    convention
        Where a published lab value sits in its interval: ``"floor"`` (``[v, v + precision)``,
        the default) or ``"round"`` (see :mod:`covidimg.intervals`).

    Returns
    -------
    SourceTables
        The harmonized tables (patients, images, events, labs, observations, annotations,
        files, findings, provenance), conformed to the schema.

    Raises
    ------
    LoadError
        If ``data.csv`` is missing, unreadable, or lacks the identifying columns.

    Examples
    --------
    >>> from covidimg.sources import mhh
    >>> tables = mhh.load("shared/data/mhh")                     # doctest: +SKIP
    >>> len(tables.images)                                       # doctest: +SKIP
    243
    """
    root = Path(root)
    if not (root / "data.csv").is_file():
        raise LoadError(f"{root}: data.csv not found; an MHH folder holds data.csv plus png/ "
                        "and/or nii/")
    return _Reader(os.fspath(root), convention, progress).load()
