"""The UChicago CRDW COVID-19 Limited Datamart (images from HIRO, clinical tables from CRDW).

Layout (HIRO tip sheet, ``shared/sources/003``)::

    <root>/
      CXR-UPDATE-20200523-COMPLETE/                 one folder per weekly batch
        1234_20200301-140030_A003_XR-PORT-CHEST-1V.zip
          <series folder>/<instance>.dcm            one sub-folder per series inside each zip
      CT-UPDATE-20200602-IN-PROGRESS/               still uploading: skipped, reported
      C19_HIRO_LDS_REMAP_PUB-LIST.xlsx              old -> current C19 patient id
      datamart/patients.csv, encounters.csv, labs.xlsx   clinical datamart tables (CSV or xlsx)

Zip names are ``SSSS_yyyymmdd-hhmmss_AAAA_ExamDescription.zip``: SSSS = the C19 patient id,
the timestamp = date of service, AAAA = HIRO's exam identifier, then the Epic description.
Batch folders may sit anywhere under the root; zips outside a batch folder are read too.
DICOM is read from inside each zip (never extracted), headers only.

Clinical datamart tables
------------------------
CRDW's datamart schema is not public, so covidimg defines the tables it reads. Each is a ``.csv``
or ``.xlsx`` file anywhere under the root outside the batch folders, recognised by a word in its
file name (``patients``, ``encounters``, ``labs``; e.g. ``c19_labs_2020-06.xlsx``). Column names
are matched case-insensitively, spaces = underscores; ``c19_patient_id`` / ``c19_id`` /
``pat_id`` are accepted for ``patient_id``. Dates are ``YYYY-MM-DD`` or ``MM/DD/YYYY`` (US order),
optionally with a time (read by :func:`covidimg.sources._engine.dates.parse_date`).

``patients`` — one row per patient (a second row for a patient is reported, not read):
    ``patient_id`` (required; the current C19 patient id), ``sex`` (``F``/``M``/``Female``/
    ``Male``/other = ``U``), ``age`` (years at the COVID encounter; ``90+`` / ``>89`` = the
    band 90 to inf), ``covid_status`` (``positive``/``negative``/``detected``/
    ``not detected``/...), ``covid_encounter_date`` (the index event), ``covid_positive_date``
    (first positive test), ``death_date``; optionally ``race``, ``ethnicity`` (observations).
``encounters`` — one row per hospital encounter:
    ``patient_id`` (required), ``admission_date``, ``discharge_date``, ``icu_admission_date``,
    ``icu_discharge_date``, ``death_date``.
``labs`` — one row per result:
    ``patient_id``, ``lab_name``, ``value`` (required; text: ``"12.5"``, ``"<0.5"``,
    ``">20000"``), ``unit``, ``result_date``. Lab names are mapped to analytes by
    :data:`LAB_NAMES`, units converted to the schema's canonical unit by
    :func:`covidimg.units.convert` (CRDW reports US units: CRP mg/dL, D-dimer ng/mL FEU, counts
    K/uL, BUN mg/dL, ...).

Day axis (:mod:`covidimg.sources._engine.harmonize`): day 0 = the patient's first hospital
admission; else the COVID encounter date (the datamart's index event); else the first exam; else
the earliest dated event or lab draw. Exam days come from the zip name's date; lab days from
``result_date``.

Remap workbook: the first sheet holds one row per remap, the old id in a column whose name
contains ``old`` and the current id in a column whose name contains ``new`` or ``current``
(e.g. ``OLD_C19_PATIENT_ID``, ``CURRENT_C19_PATIENT_ID``). Chains are followed.

Quirks handled (each reported in ``findings``):

* ``IN-PROGRESS`` batches are skipped: each file in one is ``ignored`` and the batch gives one
  ``in_progress_batch`` finding;
* a zip whose name does not parse is ``rejected`` (``unparseable_name``); an unreadable zip or
  member gives ``unreadable_file``;
* old patient ids are remapped (``remapped_patient``, one per old id);
* images whose patient has no clinical data after remapping are kept, as ``orphan_image``;
* CT exams split into several zips minutes apart with the same patient and AAAA are merged into
  one exam (``split_exam_merged``);
* exams whose every SOP Instance UID was already seen in an earlier exam (cross-batch copies) are
  dropped (``duplicate_exam``; their zips are ``duplicate``);
* pediatric exams (``P`` after the modality code) present twice with the same timestamp, a
  different AAAA and identical content (same member names, same pixel data) are collapsed
  (``duplicate_exam``);
* identical timestamps alone never make a duplicate;
* exams dated before the patient's COVID encounter (``covid_encounter_date``) are the tip
  sheet's baseline exams (chest radiographs up to one year, chest CT up to one month before
  it): ``images.pre_encounter`` is True for them (NA for a patient without an encounter date),
  and one dated before its window is reported (``outside_inclusion_window``) and kept
  (:mod:`covidimg.sources.crdw.windows`). To leave them out of an analysis:
  ``cohort.images[cohort.images["pre_encounter"].fillna(False) == False]``;
* a second ``patients`` row for one patient (after remapping) does not override the first:
  the first is kept and the later one reported (``duplicate_row``, naming the fields that
  differ). ``encounters`` and ``labs`` hold many rows per patient by design.

Extra columns: ``images`` carries ``batch``, ``hiro_id``, ``acquired`` (the zip name's
timestamp, ISO 8601), ``photometric`` and ``transfer_syntax``; ``patients`` carries
``has_clinical_data``. The harmonized ``exam`` label reads the zip name's description together
with the DICOM descriptions (contrast: ``CT CHEST W CONTRAST``; ``CTA CHEST``; the tip sheet's
chest/abdomen scans: ``CT CHEST ABDOMEN`` or ``CT CHEST ABDOMEN PELVIS``); the description
texts themselves (``exam_description``, the zip name's, and ``study_description``,
``series_description``, ``protocol_name``) are columns only with
``covidimg.load(..., descriptions="keep")``. The zip's own name stays in ``path``.

Observations: a datamart column covidimg does not read into patients, events or labs is kept in
``observations`` (``race`` and ``ethnicity`` of ``patients`` under the harmonized fields of the
same names, with Epic's categories as their vocabulary; any other column as ``crdw:<column>``,
reported once per file as ``unexpected_field``; an encounter's on its admission day). A lab
result whose name or unit covidimg cannot map stays out of ``labs`` (``unknown_lab`` /
``unknown_unit``) and is kept as the observation ``crdw:lab:<NAME>`` with its number, unit and
day. ``provenance.release`` names the latest batch read (``batches up to YYYY-MM-DD``).
"""

from __future__ import annotations

import os

from covidimg.errors import LoadError
from covidimg.sources import rejects_unknown_options
from covidimg.sources._engine.ledger import SourceTables
from covidimg.sources.crdw.clinical import LAB_NAMES
from covidimg.sources.crdw.layout import (
    BATCH_PATTERN,
    REMAP_WORKBOOK,
    SPLIT_EXAM_MINUTES,
    ZIP_PATTERN,
    parse_zip_name,
)
from covidimg.sources.crdw.loader import CrdwLoader

__all__ = [
    "BATCH_PATTERN",
    "LAB_NAMES",
    "LOOKS_FOR",
    "NAME",
    "REMAP_WORKBOOK",
    "SPLIT_EXAM_MINUTES",
    "ZIP_PATTERN",
    "detect",
    "load",
    "parse_zip_name",
]

NAME = "crdw"
LOOKS_FOR = ("batch folders CXR-UPDATE-YYYYMMDD-COMPLETE / CT-UPDATE-...-IN-PROGRESS, exam zips "
             "SSSS_yyyymmdd-hhmmss_AAAA_Description.zip, or C19_HIRO_LDS_REMAP_PUB-LIST.xlsx")


# ---------------------------------------------------------------------- detection
def detect(root: str) -> bool:
    """Whether ``root`` looks like a CRDW download (see :data:`LOOKS_FOR`).

    Examples
    --------
    >>> from covidimg.sources.crdw import detect
    >>> detect("/nonexistent")
    False
    """
    if "://" in root or not os.path.isdir(root):
        return False
    try:
        entries = os.listdir(root)
    except OSError:
        return False
    for entry in entries:
        full = os.path.join(root, entry)
        if os.path.isdir(full) and BATCH_PATTERN.match(entry):
            return True
        if entry.lower() == REMAP_WORKBOOK.lower():
            return True
        if os.path.isfile(full) and parse_zip_name(entry) is not None:
            return True
    return False


@rejects_unknown_options
def load(root: str, *, progress: bool = False) -> SourceTables:
    """Load a CRDW download (batch folders of exam zips, remap workbook, datamart tables).

    Parameters
    ----------
    root
        The download folder (see the module docstring for the layout).
    progress
        Show a progress bar (notebook-aware) while the exam zips are read.

    Returns
    -------
    SourceTables
        Conformed tables; ``files`` has one row per file under ``root`` (zips, tables,
        workbook, everything else), ``findings`` names every quirk met.

    Raises
    ------
    LoadError
        If ``root`` is not a local folder.

    Examples
    --------
    >>> import covidimg as ci
    >>> cohort = ci.load({"crdw": "downloads/crdw"})   # doctest: +SKIP
    """
    root = os.fspath(root)
    if "://" in root:
        raise LoadError(f"crdw: root={root!r} is a URL; CRDW downloads are read from a local "
                        "folder. Download the batch folders first and pass that folder.")
    if not os.path.isdir(root):
        raise LoadError(f"crdw: root={root!r} is not a folder; pass the folder holding the "
                        "CXR-UPDATE-... / CT-UPDATE-... batch folders")
    return CrdwLoader(NAME, root, progress).run()
