"""MIDRC (Gen3 data commons): exported node tables plus the images gen3-client downloaded.

Layout (anything under the root; names are not fixed, contents decide)::

    case*.tsv | *.json       Gen3 ``case`` node export (the portal's "download clinical data",
                             e.g. midrc_data_download-2025-01-29_0.tsv): submitter_id,
                             age_at_index, age_at_index_gt89, sex, race, ethnicity,
                             covid19_positive, index_event, icu_indicator, ventilator_indicator,
                             long_covid_diagnosis, treatment_info, site_id, project_id,
                             datasets.submitter_id (release batches), ...
    imaging_study*           study_uid, days_to_study, days_from_study_to_pos_covid_test (a
                             list), loinc_*, study_modality, cases.submitter_id, ...
    visit*                   days_to_hospital_admission / _discharge, days_to_icu_*,
                             discharge_type
    measurement*             COVID-19 tests (test_result_text, test_method,
                             test_days_from_index)
    procedure*, condition*, medication*
                             breathing support, conditions (codes), medications, with
                             days_to_*_start / _end
    annotation*              image annotations: midrc_mRALE_score, class_covid19_pneumonia, ...
    *_series_file*           data-file nodes: file_name -> case, study, series (for NIfTI)
    <anything>.zip / .dcm    DICOM as gen3-client downloads it (one zip per study or series),
                             or unzipped
    <anything>.nii[.gz]      legacy NIfTI images (the MIDRC FAQ: some legacy datasets)

Every node may come as TSV or as JSON (the portal and the Gen3 SDK export both; JSON is
bounded in bytes and nesting, see :mod:`covidimg.sources.midrc.nodes`). An export's node is its
``type`` field, else its file name prefix. Child rows link to their case through
``cases.submitter_id`` (submission TSVs), ``case_ids`` or ``case_submitter_id`` (portal
exports); the first one present is used. A case export alone (no imaging_study, no images)
loads: the patients, their events and observations.

Where each field goes is written once, in :mod:`covidimg.sources.midrc.fields`: a patients
column, an event, an observation (``race``, ``ethnicity``, ``ventilation``,
``comorbidity_*``, ``medication_*`` where the cohort has a harmonized field, else
``midrc:<key>``, e.g. ``midrc:datasets.submitter_id`` for each release batch), or deliberately
nowhere (the 3-digit ``zip``, ``country_of_residence``, ``token_record_id``, record ids: the
reason is in the export's ``files`` row). A field not in the dictionary is an
``unexpected_field`` finding naming the file and the key.

Quirks handled:

* every ``days_to_*`` counts from the case's ``index_event`` (day 0 of MIDRC). The cohort's day
  axis (:mod:`covidimg.sources._engine.harmonize`) puts hospital admission at day 0 where known:
  when the case has a visit with ``days_to_hospital_admission``, every MIDRC day (images,
  events, observations) is shifted by the earliest such value; otherwise the index event stays
  day 0 (the rule's fallback);
* ``days_from_study_to_pos_covid_test`` / ``..._neg_covid_test`` are integer lists, serialized
  as JSON (``[-2, 5]``) or comma separated (``-2,5``); each element becomes a
  ``covid_test_positive`` / ``covid_test_negative`` event on ``study day + value``;
* ``age_at_index_gt89 == "Yes"`` means the age is 90 or more and is withheld: the age band is
  ``age_min = 90``, ``age_max = inf`` (open-ended). A number in ``age_at_index`` is an exact age;
* ``sex`` ``Female`` / ``Male`` / ``Not Reported`` -> ``F`` / ``M`` / ``U``; Gen3 booleans
  arrive as ``True`` / ``False`` (portal) or ``Yes`` / ``No``;
* death is taken from ``visit.discharge_type`` (``Expired``, ``Deceased``, ``Died``, ...): the
  discharge day becomes the death day;
* DICOM studies are matched to ``imaging_study.study_uid``; a study with no imaging_study row is
  an orphan (``orphan_image`` finding, files ignored), an imaging_study row without downloaded
  DICOM is reported (``study_without_images``); the same SOP Instance twice (a zip and its
  unzipped copy, a re-download) keeps the first copy and marks the other ``duplicate``;
* legacy NIfTI files become images with ``format="nifti"``
  (:mod:`covidimg.sources.midrc.nifti`);
* mRALE scores and the other annotation fields are observations on the study's day
  (``midrc:midrc_mRALE_score``); mRALE scores are also ``annotations`` (scheme ``mrale``, kind
  ``score``, on the study; ``annotator_id`` kept only as a reader number), and RICORD's MD.ai
  exports (``.json``) fill ``annotations`` with labels, boxes and polygons
  (:mod:`covidimg.sources._engine.mdai`);
* free-text clinical fields (``condition_name``, ``medication_name``, ...) are reduced to
  harmonized values and not stored unless ``descriptions="keep"``; ``study_description`` is a
  description, kept (under ``descriptions="keep"``) only in ``images``, from the DICOM.

MIDRC's ``measurement`` node holds COVID-19 tests only; there are no laboratory values.
"""

from __future__ import annotations

import os
from pathlib import Path

from covidimg.errors import LoadError
from covidimg.sources import rejects_unknown_options
from covidimg.sources._engine.ledger import SourceTables, outside_root
from covidimg.sources.midrc.loader import CASE_LINK_COLUMNS, NAME, NODES, Reader
from covidimg.sources.midrc.values import parse_day_list

__all__ = [
    "CASE_LINK_COLUMNS",
    "LOOKS_FOR",
    "NAME",
    "NODES",
    "detect",
    "load",
    "parse_day_list",
]

LOOKS_FOR = ("Gen3 exports (TSV or JSON): a case table (submitter_id with age_at_index / "
             "index_event), optionally imaging_study (study_uid, days_to_study) and other "
             "nodes, plus DICOM files or zips downloaded by gen3-client")


def _read_tsv_header(path: Path) -> list[str]:
    try:
        with open(path, encoding="utf-8-sig", errors="replace", newline="") as handle:
            return [c.strip() for c in handle.readline(65536).rstrip("\r\n").split("\t")]
    except OSError:
        return []


def _json_looks_like_case(path: Path) -> bool:
    """Whether a JSON file's first bytes hold a Gen3 case record (cheap: 4 KB, no parse)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    return b'"submitter_id"' in head and (b'"age_at_index"' in head or
                                          b'"index_event"' in head)


def detect(root: str) -> bool:
    """Whether ``root`` (or a folder of tables one level down) holds a Gen3 ``case`` export.

    A table one level down counts only in a folder holding no folders (an export folder beside
    the DICOM download): a sub-folder with folders of its own is a whole MIDRC root, e.g.
    ``midrc/`` inside a folder holding several sources, and ``root`` is not one.
    """
    base = Path(root)
    if not base.is_dir():
        return False

    def holds_folders(folder: Path) -> bool:
        try:
            return any(entry.is_dir() for entry in folder.iterdir())
        except OSError:
            return True

    def tables(pattern: str) -> list[Path]:
        return [path for path in list(base.glob(pattern)) + [
            path for path in base.glob(f"*/{pattern}") if not holds_folders(path.parent)]
            if outside_root(path, base) is None]

    for path in tables("*.tsv")[:50]:
        header = set(_read_tsv_header(path))
        if "submitter_id" in header and ({"index_event", "age_at_index"} & header
                                         or ("study_uid" in header and "days_to_study" in header)):
            return True
    return any(_json_looks_like_case(path) for path in tables("*.json")[:50])


@rejects_unknown_options
def load(root: str | os.PathLike[str], *, progress: bool = False) -> SourceTables:
    """Read a MIDRC download (Gen3 exports plus gen3-client DICOM or NIfTI) into tables.

    Parameters
    ----------
    root
        Folder holding the exported node tables (TSV or JSON) and the downloaded images (DICOM
        files or zips, NIfTI), in any sub-folders. A case export alone is enough.
    progress
        Show a progress bar while DICOM headers are read.

    Returns
    -------
    SourceTables
        patients, images, events, observations, provenance, files and findings (MIDRC has no
        lab values), conformed to the schema.

    Raises
    ------
    LoadError
        If ``root`` is not a folder or holds no case export.

    Examples
    --------
    >>> from covidimg.sources import midrc
    >>> tables = midrc.load("downloads/midrc")                 # doctest: +SKIP
    >>> tables.images[["image_uid", "day", "admission_offset"]]  # doctest: +SKIP
    """
    root = Path(root)
    if not root.is_dir():
        raise LoadError(f"midrc: {root} is not a folder; pass the folder holding the Gen3 "
                        "exports and the gen3-client download")
    return Reader(os.fspath(root), progress).load()
