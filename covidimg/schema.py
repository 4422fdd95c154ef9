"""The harmonized cohort contract, kept as data.

Every table of a :class:`covidimg.Cohort` and every column in it is described here once: its
dtype, unit, allowed values and a one-line description. Loaders pass their output through
:func:`conform` (which orders columns and casts dtypes) and :func:`validate` (which names the
table, the column and the offending values when the contract is broken). The data dictionary in
``docs/data-dictionary.md`` is generated from this module by :func:`data_dictionary_markdown`.

(Why this module is over 600 lines: the declaration of the nine tables' columns, the finding
kinds and the analytes is one piece of data, and validation, the filter's references and the
generated data dictionary all read it; split across modules, a column's dtype, allowed values,
pattern and reference would no longer be read in one place.)
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Literal

import numpy as np
import pandas as pd

from covidimg._validation import check_choice, choices
from covidimg.errors import SchemaError
from covidimg.registry import SOURCE_NAMES
from covidimg.registry import SOURCES as SOURCE_ENTRIES

__all__ = [
    "ANALYTES",
    "ANNOTATION_KINDS",
    "EXAMS",
    "FINDING_KINDS",
    "FINDING_SEVERITY",
    "OBSERVATION_FIELDS",
    "TABLES",
    "TABLE_NAMES",
    "Analyte",
    "Column",
    "FindingKind",
    "SchemaError",
    "Table",
    "analyte_table",
    "conform",
    "data_dictionary_markdown",
    "empty",
    "finding_severity",
    "quote_values",
    "relations_mermaid",
    "validate",
]

#: Allowed values of every ``source`` column: the registry's sources, in its order.
SOURCES = SOURCE_NAMES
SEX = ("F", "M", "U")
COVID_STATUS = ("positive", "negative", "unknown")
MODALITIES = ("CR", "DX", "CT", "MR")
VIEWS = ("AP", "PA", "LAT", "AXIAL", "UNKNOWN")
#: Harmonized exam labels (``images.exam``), derived from codes and description texts by
#: :func:`covidimg.sources._engine.exam.exam_label`: chest radiographs by view (``CXR`` when
#: the view is unknown; a portable film is AP), ``XR`` for a radiograph of another region, chest
#: CT without or with contrast, CT angiography, chest-abdomen CT (CRDW's "chest/abdomen
#: scans"), chest-abdomen-pelvis CT, ``CT`` when nothing names the region, ``MR``, and
#: ``UNKNOWN``.
EXAMS = ("CXR AP", "CXR PA", "CXR LAT", "CXR AP PORTABLE", "CXR", "XR", "CT CHEST",
         "CT CHEST W CONTRAST", "CTA CHEST", "CT CHEST ABDOMEN", "CT CHEST ABDOMEN PELVIS", "CT",
         "MR", "UNKNOWN")
FORMATS = ("dicom", "nifti", "png")
CENSOR = ("none", "left", "right", "interval")
#: What became of a file a source walked (``files.status``).
FileStatus = Literal["used", "duplicate", "rejected", "ignored"]
FILE_STATUS = choices(FileStatus)
#: ``labs.analyte``: a name of :data:`ANALYTES` or another lower-case identifier.
ANALYTE_PATTERN = r"[a-z][a-z0-9_]{0,63}"
#: ``labs.unit``: a unit's symbols (letters, digits, ``% / ^ * . µ μ · °``), no spaces or markup.
UNIT_PATTERN = r"[0-9A-Za-z%/^*.\u00b5\u03bc\u00b7\u00b0]{0,32}"
#: ``findings.kind``: a name of :data:`FINDING_KINDS` or another lower-case identifier.
KIND_PATTERN = r"[a-z][a-z0-9_]{0,63}"
#: ``observations.field``: a harmonized name (:data:`OBSERVATION_FIELDS`), or
#: ``<source>:<published key>`` for a field with no shared meaning. The key keeps the source's
#: spelling but no markup characters or control characters.
OBSERVATION_FIELD_PATTERN = r"[a-z][a-z0-9_]{0,63}(:[^<>&\"'`\x00-\x1f\x7f]{1,128})?"
#: ``annotations.kind``: what an annotation row holds.
ANNOTATION_KINDS = ("label", "score", "box", "polygon")
#: The harmonized ``observations.field`` names: a field with a shared meaning across sources
#: (the published key is kept in ``origin``, the published value in ``value_raw``).
OBSERVATION_FIELDS: dict[str, str] = {
    "ethnicity": "ethnic group as the source codes it",
    "race": "race as the source codes it",
    "smoking": "smoking status (never / former / current / unknown)",
    "smoking_pack_years": "pack years smoked",
    "comorbidity_hypertension": "past medical history: hypertension (yes / no / unknown)",
    "comorbidity_diabetes": "past medical history: diabetes (type II where the source says)",
    "comorbidity_lung": "past medical history: chronic lung disease",
    "comorbidity_cvd": "past medical history: cardiovascular disease",
    "comorbidity_ckd": "past medical history: chronic kidney disease (stage in `value`)",
    "medication_acei": "taking an ACE inhibitor at presentation",
    "medication_arb": "taking an angiotensin receptor blocker at presentation",
    "medication_nsaid": "taking an NSAID at presentation",
    "ventilation": "ventilation or oxygen support received",
    "news2": "NEWS2 score on arrival",
    "apache": "APACHE II score on ICU arrival",
    "symptom_duration": "days of symptoms before presentation",
    "long_covid": "long-COVID diagnosis",
    "treatment": "a treatment the patient received",
    "condition": "a diagnosed condition",
    "medication": "a medication the patient received",
    "procedure": "a procedure the patient underwent",
    "covid_test": "result of a COVID-19 test (`value`: positive / negative), `day` of the sample",
    "release_batch": "the release or data batch the patient's records were published in",
    "temperature": "body temperature on arrival",
    "o2_saturation": "oxygen saturation on arrival",
    "fio2": "fraction of inspired oxygen (or oxygen flow) on arrival",
    "cxr_severity": "chest radiograph severity as the source grades it",
    "covid_code": "the source's COVID-19 imaging code (e.g. NCCID's CVCX codes)",
}
#: ``patients.split``: the side of a patient-level train/validation/test split
#: (:meth:`covidimg.Cohort.split`).
SPLITS = ("train", "validation", "test")
EVENTS = (
    "admission",
    "icu_admission",
    "icu_release",
    "death",
    "covid_test_positive",
    "covid_test_negative",
    "discharge",
    "intubation",
    "last_known_alive",
)


@dataclass(frozen=True)
class Column:
    """One column of a harmonized table.

    Parameters
    ----------
    name
        Column name (part of the public contract).
    dtype
        pandas dtype the column is stored with (``"string"``, ``"category"``, ``"float64"``,
        ``"Int64"``, ``"boolean"``).
    description
        One line saying what the column holds.
    unit
        Physical unit, or ``""`` when the column has none.
    allowed
        The allowed values of a categorical column, or ``None`` when any value is allowed.
    nullable
        Whether missing values are allowed.
    required
        Whether every loader must provide the column. Optional columns are added (empty) by
        :func:`conform` when a loader does not provide them.
    references
        The key this column names, as ``"table.column"`` (e.g. ``"patients.patient_uid"``),
        or ``None``. A row follows the rows it references: filtering a cohort keeps a row when
        every row it references is kept (a missing value references nothing), and
        :meth:`covidimg.Cohort.validate` checks that each value names a row that exists.
    may_dangle
        With ``references``: the value may name a row the cohort does not hold (``files`` and
        ``findings`` record what a loader saw, kept or not), so validation does not check it.
    pattern
        A regular expression (Python ``re``) every value of a text column must match as a
        whole, or ``None``: the vocabulary of a column whose values are
        names (``labs.analyte``, ``labs.unit``, ``findings.kind``) but not a closed set.
        :func:`validate` and :meth:`covidimg.Cohort.open` refuse other values, so no text
        shaped like markup reaches a display through these columns.
    """

    name: str
    dtype: str
    description: str
    unit: str = ""
    allowed: tuple[str, ...] | None = None
    nullable: bool = True
    required: bool = True
    references: str | None = None
    may_dangle: bool = False
    pattern: str | None = None

    def refused(self, values: Iterable[str]) -> list[str]:
        """The values among ``values`` this column does not allow, sorted: outside
        ``allowed``, or not matching ``pattern`` as a whole. Pass the distinct values only.

        Examples
        --------
        >>> from covidimg.schema import TABLES
        >>> TABLES["labs"].column("analyte").refused(["crp", "<b>x</b>", "Bad Name"])
        ['<b>x</b>', 'Bad Name']
        """
        bad = set()
        if self.allowed is not None:
            bad.update(v for v in values if v not in self.allowed)
        if self.pattern is not None:
            bad.update(v for v in values if re.fullmatch(self.pattern, v) is None)
        return sorted(bad)

    @property
    def referenced(self) -> tuple[str, str] | None:
        """``references`` as ``(table, column)``, or ``None``."""
        if self.references is None:
            return None
        table, _dot, column = self.references.partition(".")
        return table, column


@dataclass(frozen=True)
class Table:
    """A harmonized table: its name, what one row is, and its columns."""

    name: str
    row: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = field(default_factory=tuple)

    @property
    def names(self) -> list[str]:
        """Column names in contract order."""
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        """Return the column called ``name``."""
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"table {self.name!r} has no column {name!r}; columns: {self.names}")

    @property
    def references(self) -> tuple[Column, ...]:
        """The columns that reference another table's key, in contract order."""
        return tuple(c for c in self.columns if c.references is not None)


def relations_mermaid() -> str:
    """The references between the tables as a Mermaid ``erDiagram`` (for the data dictionary).

    Examples
    --------
    >>> from covidimg.schema import relations_mermaid
    >>> print(relations_mermaid().splitlines()[1])
        patients ||--o{ images : "images.patient_uid"
    """
    lines = ["erDiagram"]
    for table in TABLES.values():
        for col in table.references:
            target, _key = col.referenced  # type: ignore[misc]
            one = "|o" if col.nullable or col.may_dangle else "||"
            lines.append(f'    {target} {one}--o{{ {table.name} : "{table.name}.{col.name}"')
    return "\n".join(lines)


_OFFSET = "days from this exam to the event; negative = before the exam (MHH convention)"

TABLES: dict[str, Table] = {
    "patients": Table(
        "patients",
        "one patient (after remapping old ids to current ones)",
        (
            Column("patient_uid", "string", "`<source>:<id>`, unique across sources",
                   nullable=False),
            Column("source", "category", "data system the patient comes from", allowed=SOURCES,
                   nullable=False),
            Column("source_patient_id", "string", "the patient id as the source spells it",
                   nullable=False),
            Column("sex", "category", "sex: F, M or U (unknown / not reported)", allowed=SEX,
                   nullable=False),
            Column("age_min", "float64", "lower end of the age (band); NaN when redacted", "years"),
            Column("age_max", "float64", "upper end of the age (band); equals age_min when exact",
                   "years"),
            Column("covid_status", "category", "COVID-19 status as the source reports it",
                   allowed=COVID_STATUS, nullable=False),
            Column("icu", "boolean", "admitted to intensive care at any time; NA when unknown"),
            Column("died", "boolean", "died in the observation window; NA when unknown"),
            Column("site", "string", "submitting site or hospital, when the source names one"),
            Column("split", "category",
                   "side of a patient-level split made by `Cohort.split` (a hash of the "
                   "patient uid and a seed; linked patients share a side); NA until split",
                   allowed=SPLITS, required=False),
        ),
        key=("patient_uid",),
    ),
    "images": Table(
        "images",
        "one radiograph, or one CT/MR series",
        (
            Column("image_uid", "string", "`<source>:<id>`, unique across sources", nullable=False),
            Column("patient_uid", "string", "the patient the image belongs to", nullable=False,
                   references="patients.patient_uid"),
            Column("source", "category", "data system", allowed=SOURCES, nullable=False),
            Column("study_uid", "string", "study (exam) identifier"),
            Column("series_uid", "string", "series identifier"),
            Column("modality", "category", "DICOM modality", allowed=MODALITIES, nullable=False),
            Column("view", "category", "projection / view", allowed=VIEWS, nullable=False),
            Column("exam", "category",
                   "harmonized exam label, derived from the modality, the view and the "
                   "description texts (StudyDescription, SeriesDescription, ProtocolName, CRDW's "
                   "zip name), which are not kept unless `descriptions=\"keep\"`; NA in a "
                   "cohort saved before the column existed", allowed=EXAMS, required=False),
            Column("day", "float64",
                   "exam day on the patient's timeline (day 0 = admission where known, else the "
                   "source's index event, else the first exam)", "days"),
            Column("admission_offset", "float64", f"hospital admission: {_OFFSET}", "days"),
            Column("icu_admission_offset", "float64", f"ICU admission: {_OFFSET}", "days"),
            Column("icu_release_offset", "float64", f"ICU release: {_OFFSET}", "days"),
            Column("death_offset", "float64", f"death: {_OFFSET}", "days"),
            Column("path", "string", "image file, or `archive.zip::member`", nullable=False),
            Column("format", "category", "file format of `path`", allowed=FORMATS, nullable=False),
            Column("n_instances", "Int64", "number of files / slices in the image or series"),
            Column("rows", "Int64", "pixel rows (height), as stored", "px"),
            Column("columns", "Int64", "pixel columns (width), as stored", "px"),
            Column("preview_path", "string",
                   "a ready-made 8-bit preview of the image (MHH's CLAHE PNG), when there is one",
                   required=False),
            Column("stored_transposed", "boolean",
                   "pixel array is stored transposed (MHH NIfTI); readers transpose it back",
                   required=False),
            Column("collection", "string", "the collection the image belongs to (TCIA / IDC "
                   "collection id, NCCID training or validation, MIDRC batch)", required=False),
            Column("body_part", "string", "body part examined (DICOM BodyPartExamined); this "
                   "and the technical columns below come from the first instance's DICOM "
                   "header (MIDRC, TCIA, NCCID, CRDW) or IDC's index", required=False),
            Column("manufacturer", "string", "equipment manufacturer (DICOM Manufacturer)",
                   required=False),
            Column("model", "string", "equipment model name (DICOM ManufacturerModelName)",
                   required=False),
            Column("sop_class_uid", "string", "DICOM SOP Class UID", required=False),
            Column("series_number", "Int64", "DICOM series number", required=False),
            Column("image_type", "string", "DICOM ImageType values, joined by `\\`",
                   required=False),
            Column("pixel_spacing_row", "float64",
                   "distance between rows as stored (PixelSpacing, else ImagerPixelSpacing: "
                   "at a radiograph's detector)", "mm", required=False),
            Column("pixel_spacing_col", "float64",
                   "distance between columns as stored (PixelSpacing, else "
                   "ImagerPixelSpacing)", "mm", required=False),
            Column("slice_thickness", "float64", "slice thickness (CT, MR)", "mm",
                   required=False),
            Column("kvp", "float64", "peak kilovoltage", "kV", required=False),
            Column("convolution_kernel", "string",
                   "CT reconstruction kernel (DICOM ConvolutionKernel, values joined by `\\`)",
                   required=False),
            Column("transfer_syntax", "string", "DICOM transfer syntax UID", required=False),
            Column("photometric", "string", "photometric interpretation (MONOCHROME1, ...)",
                   required=False),
            Column("license", "string", "the licence the image is published under",
                   required=False),
            Column("doi", "string", "the DOI to cite for the image's collection",
                   required=False),
            Column("pre_encounter", "boolean",
                   "the exam is dated before the patient's COVID encounter (CRDW includes chest "
                   "radiographs up to one year and chest CT up to one month before it: baseline "
                   "exams, not the COVID course); NA when the source gives no encounter date",
                   required=False),
        ),
        key=("image_uid",),
    ),
    "events": Table(
        "events",
        "one clinical event of a patient",
        (
            Column("patient_uid", "string", "the patient", nullable=False,
                   references="patients.patient_uid"),
            Column("event", "category", "what happened", allowed=EVENTS, nullable=False),
            Column("day", "float64", "day of the event, on the same axis as `images.day`", "days"),
        ),
        key=("patient_uid", "event", "day"),
    ),
    "labs": Table(
        "labs",
        "one laboratory measurement, as an interval",
        (
            Column("patient_uid", "string", "the patient", nullable=False,
                   references="patients.patient_uid"),
            Column("image_uid", "string", "the exam the source attached the value to, if any",
                   references="images.image_uid"),
            Column("analyte", "category", "what was measured (see the analyte table)",
                   nullable=False, pattern=ANALYTE_PATTERN),
            Column("unit", "string", "canonical unit of the analyte; values are converted to it",
                   nullable=False, pattern=UNIT_PATTERN),
            Column("lower", "float64", "lower bound of the value's interval (may be -inf)",
                   nullable=False),
            Column("upper", "float64", "upper bound of the value's interval (may be inf)",
                   nullable=False),
            Column("censor", "category",
                   "none (exact), left (below detection limit), right (above), interval",
                   allowed=CENSOR, nullable=False),
            Column("day", "float64", "day of the draw on the patient's timeline", "days"),
            Column("offset", "float64",
                   "days from the image to the draw (positive = after the image)", "days"),
            Column("value_raw", "string", "the value as the source wrote it"),
        ),
    ),
    "files": Table(
        "files",
        "one file found under a source root",
        (
            Column("path", "string", "the file (or `archive.zip::member`)", nullable=False),
            Column("source", "category", "data system", allowed=SOURCES, nullable=False),
            Column("status", "category", "what became of the file", allowed=FILE_STATUS,
                   nullable=False),
            Column("image_uid", "string", "the image the file contributes to, if any",
                   references="images.image_uid", may_dangle=True),
            Column("reason", "string", "why the file was not used, or what it was used for"),
        ),
        key=("path",),
    ),
    "findings": Table(
        "findings",
        "one data-quality finding",
        (
            Column("kind", "string",
                   "e.g. duplicate_exam, remapped_patient, unparseable_value, unreadable_file "
                   "(every kind and its severity: see Finding kinds)",
                   nullable=False, pattern=KIND_PATTERN),
            Column("source", "category", "data system", allowed=SOURCES, nullable=False),
            Column("patient_uid", "string", "the patient concerned, if any",
                   references="patients.patient_uid", may_dangle=True),
            Column("image_uid", "string",
                   "the image concerned, if any (it may name an image that was never loaded; "
                   "a finding belongs to its patient)"),
            Column("path", "string", "the file concerned, with row or member where relevant"),
            Column("detail", "string",
                   "what was found; a value is quoted only when it is a number, a date or a "
                   "known code, free text is described by its shape", nullable=False),
        ),
    ),
    "observations": Table(
        "observations",
        "one clinical field of a patient that is not a column of another table",
        (
            Column("patient_uid", "string", "the patient", nullable=False,
                   references="patients.patient_uid"),
            Column("source", "category", "data system", allowed=SOURCES, nullable=False),
            Column("field", "string",
                   "harmonized field name (see Observation fields), else "
                   "`<source>:<published key>`", nullable=False,
                   pattern=OBSERVATION_FIELD_PATTERN),
            Column("value", "string",
                   "harmonized value (a category or short text; typed-in free text is "
                   "described, never kept)", required=False),
            Column("value_num", "float64", "the value as a number, in `unit`; NaN when none",
                   required=False),
            Column("unit", "string", "unit of `value_num`", pattern=UNIT_PATTERN, required=False),
            Column("day", "float64", "day the value refers to, on the axis of `images.day`",
                   "days", required=False),
            Column("value_raw", "string",
                   "the value as published (subject to the free-text policy)", required=False),
            Column("origin", "string", "where it was read: file and key, column or line",
                   nullable=False),
        ),
    ),
    "annotations": Table(
        "annotations",
        "one expert label, score or drawn region",
        (
            Column("annotation_uid", "string", "`<source>:<id>`, unique", nullable=False),
            Column("patient_uid", "string", "the patient", nullable=False,
                   references="patients.patient_uid"),
            Column("image_uid", "string", "the image the annotation is on; NA for a study- or "
                   "patient-level label", references="images.image_uid", required=False),
            Column("source", "category", "data system", allowed=SOURCES, nullable=False),
            Column("scheme", "string", "labelling scheme (ricord, rale, mrale, "
                   "nccid_cxr_severity, nccid_covid_code, ...)", nullable=False,
                   pattern=KIND_PATTERN),
            Column("kind", "category", "label, score, box or polygon", allowed=ANNOTATION_KINDS,
                   nullable=False),
            Column("label", "string", "the label (the scheme's vocabulary)", required=False),
            Column("score", "float64", "the score, for kind `score`; NaN otherwise",
                   required=False),
            Column("geometry", "string",
                   "JSON in the image's pixel coordinates: `{\"x\":..,\"y\":..,\"w\":..,"
                   "\"h\":..}` or `{\"points\":[[x,y],...]}`", "px", required=False),
            Column("instance", "string",
                   "SOP Instance UID or slice index the geometry refers to", required=False),
            Column("reader", "Int64", "pseudonymous reader number (1..n per source; NA for a "
                   "consensus), never a name", required=False),
        ),
        key=("annotation_uid",),
    ),
    "provenance": Table(
        "provenance",
        "one source (and collection) a cohort was loaded from",
        (
            Column("source", "category", "data system", allowed=SOURCES, nullable=False),
            Column("collection", "string", "collection within the source, where it has them",
                   required=False),
            Column("release", "string", "release, revision or export date of the data",
                   required=False),
            Column("license", "string", "licence the data are published under", required=False),
            Column("citation", "string", "DOI or URL to cite", required=False),
            Column("terms", "string", "data-use terms in one line", required=False),
            Column("loaded_from", "string", "the folder, URL or index it was loaded from "
                   "(credentials removed)", required=False),
            Column("loaded_at", "string", "when it was loaded (ISO 8601, UTC)", required=False),
            Column("covidimg_version", "string", "covidimg version that loaded it", required=False),
            Column("options", "string", "the loader options, as JSON", required=False),
        ),
    ),
}
TABLE_NAMES: tuple[str, ...] = tuple(TABLES)

#: Severity of a finding: ``error`` = a file, member or table could not be used (data were left
#: out); ``warning`` = a value or row was doubtful or dropped, the file was used; ``info`` = a
#: documented quirk of the source was corrected (a remap, a merge, a dropped copy).
FINDING_SEVERITY = ("error", "warning", "info")


@dataclass(frozen=True)
class FindingKind:
    """One kind of data-quality finding: its severity and what it means."""

    name: str
    severity: str
    description: str


def _kinds(*rows: tuple[str, str, str]) -> dict[str, FindingKind]:
    return {name: FindingKind(name, severity, text) for name, severity, text in rows}


#: Every ``findings.kind`` a loader (or the thumbnail maker) writes, with its severity and
#: meaning; the ledger refuses a kind that is not here, and the data dictionary lists them all.
#: ``covidimg.load(..., strict=True)`` raises on the first finding whose severity is ``error``.
FINDING_KINDS: dict[str, FindingKind] = _kinds(
    ("unreadable_file", "error",
     "a file (or zip member) cannot be read: corrupt, truncated, wrong format, wrong encoding, "
     "permission denied, a dangling or looping link"),
    ("unsafe_archive_member", "error",
     "a zip member named with an absolute path, a `..` component or a link; never read"),
    ("archive_too_large", "error",
     "a zip member above the decompressed-size or compression-ratio limit; never read"),
    ("missing_column", "error", "a table lacks a column the loader needs"),
    ("missing_image_file", "error", "a table row refers to an image file that is not there"),
    ("unparseable_name", "error", "a file name does not follow the source's naming scheme"),
    ("unreadable_folder", "error", "a folder cannot be listed (permission denied)"),
    ("unparseable_value", "warning", "a value cannot be parsed (text in a number, bad date)"),
    ("recovered_value", "warning",
     "a value read from a form the field does not document (a date valid only in the other "
     "day/month order, an Excel serial day, a spreadsheet error cell `[Text] - date`, a bare "
     "FiO2 number read as litres of oxygen); kept, the detail says how it was read"),
    ("unit_assumed", "warning",
     "a lab value written without a unit, from a site missing from the site unit table; "
     "converted from the assumed unit the detail names"),
    ("unconvertible_unit", "warning",
     "a lab value whose unit (written in the value, or the site's) cannot be converted to the "
     "analyte's canonical unit; the value is dropped"),
    ("implausible_value", "warning",
     "a lab value outside the analyte's physiologically plausible range after conversion "
     "(a wrong unit?); kept"),
    ("unexpected_encoding", "warning", "a text file that is not UTF-8, read as Latin-1"),
    ("empty_table", "warning", "a table with a header but no rows"),
    ("short_row", "warning", "a table row with fewer fields than the header (cut short?)"),
    ("unknown_value", "warning", "a value outside the source's documented codes"),
    ("inconsistent_value", "warning", "values that contradict each other"),
    ("inconsistent_event", "warning", "event offsets that contradict each other"),
    ("admission_after_icu", "warning", "hospital admission recorded after ICU admission"),
    ("missing_value", "warning", "a required value is empty"),
    ("missing_identifier", "warning", "a row without a patient or image identifier; skipped"),
    ("missing_metadata", "warning", "an image without its metadata file"),
    ("missing_clinical_data", "warning", "a patient without clinical data"),
    ("unexpected_column", "warning", "a table has a column the loader does not know"),
    ("off_grid_value", "warning", "a lab value off the source's published precision grid"),
    ("unknown_lab", "warning", "a lab test the loader does not map to an analyte"),
    ("unknown_unit", "warning", "a lab unit the loader cannot convert"),
    ("unsupported_modality", "warning", "a DICOM instance that is not CR/DX/CT/MR; skipped"),
    ("patient_id_mismatch", "warning", "the DICOM patient id differs from the file name's"),
    ("patient_id_collision", "warning", "two patients share an identifier"),
    ("collection_not_found", "warning",
     "a TCIA image whose folders do not name its collection and whose series and study are "
     "not in IDC's index (or the index is not installed); its defaults are unknown"),
    ("orphan_image", "warning", "an image whose patient has no clinical data"),
    ("orphan_row", "warning", "a table row whose parent row is missing"),
    ("study_without_images", "warning", "a study listed in a table without DICOM files"),
    ("patients_without_images", "warning", "clinical rows for patients without images"),
    ("no_images", "warning",
     "a source folder in which no usable image was found: the cohort has none from it"),
    ("unmatched_annotation", "warning", "an annotation that matches no image"),
    ("unreferenced_image", "warning", "an image file no table row refers to"),
    ("unsafe_link", "warning",
     "a symbolic link to a folder, or to a file outside the source folder; not followed"),
    ("unreadable_image", "warning",
     "an image's pixels cannot be read or rendered when thumbnails are made "
     "(`covidimg.imaging.thumbnails`); a placeholder is shown"),
    ("withdrawn_release", "warning", "data from a release the publisher withdrew"),
    ("unknown_release", "info",
     "a table that matches none of the source's published revisions covidimg knows (by file "
     "hash or by rows): a local edit or a newer release; loaded as given"),
    ("assumed_value", "info",
     "a value the source does not publish, set by a documented assumption the detail names "
     "(MHH: covid_status `positive` for every patient; data.csv has no test result)"),
    ("outside_inclusion_window", "warning",
     "an exam before the source's documented inclusion window (CRDW: a chest radiograph more "
     "than one year, a CT more than one month before the COVID encounter): a wrong date or "
     "patient id?; kept"),
    ("duplicate_row", "info", "a repeated table row; the copy is dropped"),
    ("duplicate_image", "info", "the same image twice; the copy is dropped"),
    ("duplicate_instance", "info", "the same SOP Instance UID twice; the copy is dropped"),
    ("duplicate_archive_member", "warning",
     "a zip holds two members of one name; the first is read, later copies are not"),
    ("duplicate_instances", "info", "instances of an exam already read from another exam"),
    ("duplicate_exam", "info", "an exam repeated across zips or batches; the copy is dropped"),
    ("split_exam_merged", "info", "one CT exam split over several zips, merged"),
    ("remapped_patient", "info", "an old patient id remapped to the current one"),
    ("remap_cycle", "warning", "patient id remaps that form a cycle"),
    ("in_progress_batch", "info", "a batch still uploading; its files skipped"),
    ("title_row", "info", "a title row above a sheet's header, skipped"),
    ("unexpected_field", "warning",
     "a field (column or key) the loader does not know; the detail names the file and key"),
    ("same_image_as", "info",
     "an image that is the same as an image of another source or release: equal SOP Instance "
     "UID (or Series Instance UID) or a near-equal perceptual hash of its pixels; the detail "
     "names the other image and the evidence (`Cohort.links`)"),
    ("same_patient_as", "info",
     "a patient who is the same person as a patient of another source or release: they share "
     "an image or a Study Instance UID; the detail names the other patient and the evidence"),
    ("superseded_release", "warning",
     "a release (or revision) of the source that a later one replaced; the detail names it and "
     "what was wrong with it"),
)


def finding_severity(kind: str) -> str:
    """The severity of finding ``kind`` (``"warning"`` for a kind not in
    :data:`FINDING_KINDS`, e.g. one in a cohort saved by an older version).

    Examples
    --------
    >>> from covidimg.schema import finding_severity
    >>> finding_severity("unreadable_file"), finding_severity("duplicate_exam")
    ('error', 'info')
    """
    known = FINDING_KINDS.get(kind)
    return known.severity if known else "warning"


@dataclass(frozen=True)
class Analyte:
    """A laboratory analyte with its canonical unit and reference interval."""

    name: str
    label: str
    unit: str
    ref_low: float
    ref_high: float
    mhh_column: str | None = None
    mhh_precision: float | None = None
    note: str = ""


ANALYTES: dict[str, Analyte] = {
    a.name: a
    for a in (
        Analyte("crp", "C-reactive protein", "mg/L", -np.inf, 5.0, "crp", 1.0,
                "MHH reference: <= 5"),
        Analyte("d_dimer", "D-dimer", "mg/L", 0.0, 0.5, "d-dimer", 0.1),
        Analyte("factor_xiii", "Coagulation factor XIII", "%", 70.0, 140.0, "factor_xii", 5.0,
                "MHH's column says factor_xii; its readme says factor XIII"),
        Analyte("ldh", "Lactate dehydrogenase", "U/L", -np.inf, 248.0, "ldh", 5.0,
                "MHH reference: < 248"),
        Analyte("lymphocytes", "Lymphocytes", "10^9/L", 1.1, 4.0, "lymphocytes", 0.1,
                "Tsd/µl = 10^9/L"),
        Analyte("neutrophils", "Neutrophils", "10^9/L", 1.5, 7.7, "neutrophils", 0.1,
                "Tsd/µl = 10^9/L"),
        Analyte("po2", "Partial pressure of oxygen (pO2)", "mmHg", 75.0, 100.0, "po2", 5.0,
                "MHH gives no reference interval; arterial adult range shown"),
        Analyte("pco2", "Partial pressure of carbon dioxide (pCO2)", "mmHg", 35.0, 45.0, "pco2",
                5.0, "MHH gives no reference interval; arterial adult range shown"),
        Analyte("wcc", "White cell count", "10^9/L", 4.0, 11.0),
        Analyte("platelets", "Platelets", "10^9/L", 150.0, 400.0),
        Analyte("ferritin", "Ferritin", "ug/L", 30.0, 400.0),
        Analyte("creatinine", "Creatinine", "umol/L", 45.0, 110.0),
        Analyte("urea", "Urea", "mmol/L", 2.5, 7.8),
        Analyte("troponin_t", "Troponin T", "ng/L", -np.inf, 14.0),
        Analyte("troponin_i", "Troponin I", "ng/L", -np.inf, 34.0),
        Analyte("fibrinogen", "Fibrinogen", "g/L", 1.5, 4.0),
        Analyte("fio2", "Fraction of inspired oxygen", "%", 21.0, 21.0,
                note="room air = 21 %; litres and mask colours are converted"),
        Analyte("lactate", "Lactate", "mmol/L", 0.5, 2.2),
    )
}


def analyte_table() -> pd.DataFrame:
    """Return the analyte table (canonical unit, reference interval, MHH precision).

    Examples
    --------
    >>> from covidimg.schema import analyte_table
    >>> analyte_table().loc["crp", "unit"]
    'mg/L'
    """
    rows = [
        {
            "analyte": a.name,
            "label": a.label,
            "unit": a.unit,
            "ref_low": a.ref_low,
            "ref_high": a.ref_high,
            "mhh_column": a.mhh_column,
            "mhh_precision": a.mhh_precision,
            "note": a.note,
        }
        for a in ANALYTES.values()
    ]
    return pd.DataFrame(rows).set_index("analyte")


def _table(name: str) -> Table:
    try:
        check_choice(name, TABLE_NAMES, "table")
    except ValueError as exc:
        raise SchemaError(str(exc)) from None
    return TABLES[name]


def empty(name: str) -> pd.DataFrame:
    """Return an empty DataFrame with the columns and dtypes of table ``name``."""
    return _empty_template(_table(name).name).copy()


@cache
def _empty_template(name: str) -> pd.DataFrame:
    """The empty table ``name``, conformed once (a conform of nothing costs 1-8 ms, and every
    opened cohort makes the tables it lacks); callers get a copy."""
    return conform(name, pd.DataFrame())


def _has_categories(series: pd.Series, categories: list[str]) -> bool:
    """Whether ``series`` is an unordered categorical with exactly ``categories``, in order
    and of the same dtype (``==`` between categorical dtypes ignores their order)."""
    if not isinstance(series.dtype, pd.CategoricalDtype) or series.dtype.ordered:
        return False
    have, want = series.dtype.categories, pd.Index(categories)
    return have.dtype == want.dtype and have.equals(want)


def _cast(series: pd.Series, col: Column, table: str) -> pd.Series:
    dtype = col.dtype
    if dtype == "category":
        if col.allowed is not None and _has_categories(series, list(col.allowed)):
            return series  # already the contract's categorical (a conformed table)
        values = series.astype("string").astype(object).where(series.notna(), None)
        if col.allowed is not None:
            extra = sorted({v for v in values.dropna().unique() if v not in col.allowed})
            if extra:
                raise SchemaError(
                    f"{table}.{col.name}: values {extra[:10]} are not allowed; "
                    f"allowed values are {list(col.allowed)}"
                )
            return pd.Series(pd.Categorical(values, categories=list(col.allowed)),
                             index=series.index, name=col.name)
        return values.astype("category")
    try:
        if dtype == "Int64":
            numeric = pd.to_numeric(series, errors="raise")
            if len(numeric) and not np.all(np.isnan(numeric.astype(float)) |
                                           (numeric.astype(float) % 1 == 0)):
                bad = series[(numeric.astype(float) % 1 != 0) & numeric.notna()]
                raise SchemaError(
                    f"{table}.{col.name}: expected whole numbers, got {bad.head(5).tolist()}"
                )
            return numeric.astype("Int64")
        if dtype == "float64":
            return pd.to_numeric(series, errors="raise").astype("float64")
        if dtype == "boolean":
            return series.astype("boolean")
        return series.astype(dtype)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, SchemaError):
            raise
        raise SchemaError(
            f"{table}.{col.name}: cannot store values as {dtype} "
            f"(first values: {series.head(5).tolist()}): {exc}"
        ) from exc


def conform(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` with the contract's columns first, in order, with the contract's dtypes.

    Missing optional columns are added empty; extra columns a loader adds are kept after the
    contract's columns. Missing required columns raise :class:`SchemaError`, except on an empty
    frame, which gets every column.

    Parameters
    ----------
    name
        Table name, one of :data:`TABLE_NAMES`.
    frame
        The loader's table.

    Examples
    --------
    >>> import pandas as pd
    >>> from covidimg.schema import conform
    >>> conform("events", pd.DataFrame({"patient_uid": ["mhh:a"], "event": ["death"],
    ...                                 "day": [3]})).dtypes["day"]
    dtype('float64')
    """
    table = _table(name)
    frame = frame.reset_index(drop=True)
    missing = [c.name for c in table.columns if c.required and c.name not in frame.columns]
    if missing and len(frame):
        raise SchemaError(
            f"table {name!r} lacks required columns {missing}; it has {list(frame.columns)}"
        )
    out = {}
    for col in table.columns:
        series = frame[col.name] if col.name in frame.columns else pd.Series(
            [None] * len(frame), index=frame.index, dtype=object)
        out[col.name] = _cast(series, col, name)
    extras = [c for c in frame.columns if c not in out]
    result = pd.DataFrame(out, index=frame.index)
    for extra in extras:
        result[extra] = frame[extra]
    return result


def validate(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Check ``frame`` against table ``name`` of the contract; return it unchanged.

    Raises
    ------
    SchemaError
        Naming the table, the column and up to ten offending values: a missing column, a wrong
        dtype, a value outside the allowed set, a missing value in a non-nullable column, or a
        duplicated key.

    Examples
    --------
    >>> import pandas as pd
    >>> from covidimg.schema import conform, validate
    >>> ev = conform("events", pd.DataFrame({"patient_uid": ["mhh:a"], "event": ["death"],
    ...                                      "day": [3.0]}))
    >>> validate("events", ev) is ev
    True
    """
    table = _table(name)
    problems: list[str] = []
    for col in table.columns:
        if col.name not in frame.columns:
            problems.append(f"column {col.name!r} is missing")
            continue
        series = frame[col.name]
        if str(series.dtype) != col.dtype:
            problems.append(f"column {col.name!r} has dtype {series.dtype}, expected {col.dtype}")
            continue
        if not col.nullable and series.isna().any():
            rows = list(series.index[series.isna()][:10])
            problems.append(f"column {col.name!r} has missing values (rows {rows})")
        if col.allowed is not None or col.pattern is not None:
            bad = col.refused(_distinct_text(series))
            if bad:
                problems.append(f"column {col.name!r} has values {quote_values(bad)} outside "
                                + (f"{list(col.allowed)}" if col.allowed is not None else
                                   f"the pattern {col.pattern}"))
    if name == "labs" and {"lower", "upper"} <= set(frame.columns) and len(frame):
        inverted = frame["lower"] > frame["upper"]
        if inverted.any():
            problems.append(f"labs with lower > upper at rows {list(frame.index[inverted][:10])}")
    if table.key and set(table.key) <= set(frame.columns) and len(frame):
        dup = frame.duplicated(list(table.key), keep=False)
        if dup.any():
            sample = frame.loc[dup, list(table.key)].head(10).to_dict("records")
            problems.append(f"duplicated key {list(table.key)}: {sample}")
    if problems:
        raise SchemaError(f"table {name!r} breaks the contract: " + "; ".join(problems))
    return frame


def _distinct_text(series: pd.Series) -> set[str]:
    """The distinct non-missing values of ``series`` as text (a categorical's from its codes)."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        codes = series.cat.codes.to_numpy()
        return set(series.cat.categories[np.unique(codes[codes >= 0])].astype(str))
    return {str(v) for v in series.dropna().unique()}


#: Longest value :func:`quote_values` quotes; a longer one is described by its length.
_QUOTE_MAX = 40


def quote_values(values: Iterable[object], limit: int = 5) -> str:
    """The first ``limit`` of ``values`` for an error message: a short printable value quoted,
    a longer one (or one with control characters) described by its length, so a message
    never carries a long text from a file.

    Examples
    --------
    >>> from covidimg.schema import quote_values
    >>> quote_values(["crp", "x" * 500, "a", "b", "c", "d"])
    "['crp', a text of 500 characters, 'a', 'b', 'c', and 1 more]"
    """
    values = list(values)
    shown = [repr(v) if isinstance(v, str) and len(v) <= _QUOTE_MAX and v.isprintable()
             else f"a text of {len(str(v))} characters" for v in values[:limit]]
    if len(values) > limit:
        shown.append(f"and {len(values) - limit} more")
    return "[" + ", ".join(shown) + "]"


def _fmt_allowed(col: Column) -> str:
    if col.pattern is not None:
        return f"matching `{col.pattern}`"
    return ", ".join(f"`{v}`" for v in col.allowed) if col.allowed else ""


def _fmt_reference(col: Column) -> str:
    if col.references is None:
        return ""
    return f"`{col.references}`" + (" (may dangle)" if col.may_dangle else "")


def data_dictionary_markdown(tables: Iterable[str] | None = None) -> str:
    """Render the data dictionary (tables, columns, analytes) as Markdown.

    ``docs/data-dictionary.md`` is this function's output; a test keeps the two equal.
    Regenerate it with ``python -m covidimg.schema > docs/data-dictionary.md``.
    """
    lines = [
        "# covidimg data dictionary",
        "",
        "Generated from `covidimg/schema.py` by `python -m covidimg.schema > "
        "docs/data-dictionary.md`; do not edit by hand.",
        "",
        "Offsets follow the MHH sign convention: days from the exam to the event, "
        "negative = the event happened before the exam. `day` columns share one axis per patient: "
        "day 0 = hospital admission where known, else the source's index event, else the first "
        "exam.",
        "",
        "## Relations",
        "",
        "Each arrow is a column that names a row of another table (the `references` column "
        "below). A filtered cohort keeps a row when every row it references is kept (a "
        "missing value references nothing); `Cohort.validate` checks that every value names a "
        "row that exists, except where the table records what a loader saw, kept or not "
        "(`files`, `findings`: may dangle).",
        "",
        "```mermaid",
        relations_mermaid(),
        "```",
        "",
    ]
    for name in tables or TABLE_NAMES:
        table = TABLES[name]
        lines += [f"## `{name}`", "", f"One row = {table.row}.", ""]
        if table.key:
            lines += [f"Key: {', '.join(f'`{k}`' for k in table.key)}.", ""]
        lines += ["| column | dtype | unit | required | nullable | allowed | references | "
                  "description |",
                  "|---|---|---|---|---|---|---|---|"]
        for col in table.columns:
            lines.append(
                f"| `{col.name}` | {col.dtype} | {col.unit} | {'yes' if col.required else 'no'} "
                f"| {'yes' if col.nullable else 'no'} | {_fmt_allowed(col)} | "
                f"{_fmt_reference(col)} | {col.description} |"
            )
        lines.append("")
    lines += ["## Finding kinds", "",
              "`findings.kind` values. Severity `error`: a file, member or table could not be "
              "used; `warning`: a doubtful or dropped value or row; `info`: a documented quirk "
              "corrected. `covidimg.load(..., strict=True)` raises on the first `error`.", "",
              "| kind | severity | meaning |", "|---|---|---|"]
    for kind in FINDING_KINDS.values():
        lines.append(f"| `{kind.name}` | {kind.severity} | {kind.description} |")
    lines.append("")
    lines += ["## Observation fields", "",
              "Harmonized `observations.field` names: a field with a shared meaning across "
              "sources. A field without one is named `<source>:<published key>`.", "",
              "| field | meaning |", "|---|---|"]
    lines += [f"| `{name}` | {text} |" for name, text in OBSERVATION_FIELDS.items()]
    lines.append("")
    lines += ["## Sources: licences and terms", "",
              "What the `provenance` table records for each source unless a collection says "
              "otherwise (from `covidimg/registry.py`).", "",
              "| source | licence | cite | terms |", "|---|---|---|---|"]
    lines += [f"| `{e.name}` | {e.license} | {e.citation} | {e.terms} |"
              for e in SOURCE_ENTRIES.values()]
    lines.append("")
    lines += ["## Analytes", "",
              "One canonical unit per analyte; every source's values are converted to it.", "",
              "| analyte | label | unit | reference low | reference high | MHH column | "
              "MHH precision | note |", "|---|---|---|---|---|---|---|---|"]
    for a in ANALYTES.values():
        lines.append(
            f"| `{a.name}` | {a.label} | {a.unit} | {a.ref_low:g} | {a.ref_high:g} | "
            f"{'`' + a.mhh_column + '`' if a.mhh_column else ''} | "
            f"{'' if a.mhh_precision is None else f'{a.mhh_precision:g}'} | {a.note} |"
        )
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover - exercised through the docs test
    print(data_dictionary_markdown(), end="")
