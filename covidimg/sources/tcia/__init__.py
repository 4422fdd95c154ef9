"""TCIA COVID-19 collections: the NBIA Data Retriever tree plus each collection's clinical sheet.

Layout (the folder the NBIA Data Retriever downloaded into; a ``manifest-<n>/`` level is fine)::

    <Collection>/<PatientID>/<MM-DD-YYYY-NA-StudyDescription-UID5>/<n.000000-Series-UID5>/1-1.dcm
    CT Images in COVID-19/volume-covid19-A-<NNNN>.nii.gz   that collection is NIfTI: one CT
                                                volume per file (:mod:`.volumes`), anywhere
    metadata.csv, LICENSE                       written by the retriever (ignored, with reason)
    clinical sheets, anywhere under the root, recognised by their columns:
      COVID-19-NY-SBU   CSV with to_patient_id, age.splits, visit_start_datetime, is_icu,
                        last.status, ... and LOINC-named lab columns
      COVID-19-AR       xlsx whose header row (PATIENT_ID, SEX, AGE, COVID TEST POSITIVE,
                        ICU Admit, MORTALITY, ...) sits below a title row
      MIDRC-RICORD-1C   metadata xlsx, sheet "CR Pos - TCIA Submission" (Anon MRN,
                        Anon TCIA Study Date, Anon Exam Description, Anon Study UID) and the
                        MD.ai annotation CSV (Anon MRN, Anon TCIA Study Date, Reader_id,
                        CLASS_label, GRADE_label, ...)
      MIDRC-RICORD-*    MD.ai annotation exports (.json, anywhere under the root)

``patient_uid`` is ``tcia:<PatientID>`` (TCIA patient ids are unique across its COVID
collections: AR and RICORD ids carry the collection name); should one id appear under two
collections, both become ``tcia:<Collection>/<PatientID>`` and a ``patient_id_collision`` finding
says so. Every patient and image carries a ``collection`` column.

Quirks handled:

* SBU ``age.splits`` are interval strings of whole years: ``[18,59]`` → 18..59, ``(59,74]`` →
  60..74 (an open end excludes its bound), ``(74,90]`` → 75..90;
* SBU dates (``visit_start_datetime`` M/D/YYYY and the DICOM dates) are shifted to around 1900
  for de-identification; they are only ever subtracted from each other (never an error). Day 0
  is the visit start; an ``Inpatient Visit`` gives an ``admission`` event on day 0, and
  ``last.status == discharged`` a ``discharge`` event on day ``length_of_stay``;
  ``deceased`` sets ``died`` (the sheet gives no death day);
* SBU lab columns are named ``<LOINC>_<name>`` in US units; :data:`SBU_LABS` maps each LOINC
  code to the quantity it measures and the sheet's unit, converted to the schema's canonical unit
  by :mod:`covidimg.units` (CRP mg/dL → mg/L, D-dimer ng/mL DDU → mg/L, creatinine mg/dL →
  µmol/L, urea nitrogen (BUN) mg/dL → urea mmol/L, troponin ng/mL → ng/L, ...). The sheet
  gives no draw date, so ``day`` and
  ``offset`` are NaN. ``NA`` means missing; ``<x`` / ``>x`` are censored; anything else that is
  not a number is an ``unparseable_value`` finding;
* AR's header row is found below its title row; ``Y`` / ``N`` flags;
* RICORD-1C's metadata lists each exam; studies listed but not downloaded are summarised in one
  finding, and study dates that disagree with the DICOM are reported. The MD.ai annotation
  labels are kept as extra image columns ``annotation_class`` / ``annotation_grade`` (the
  readers' labels, ``; ``-joined); reader names are not kept;
* the day axis follows :mod:`covidimg.sources._engine.harmonize`: an SBU inpatient visit is the
  admission, any SBU visit the index event; without a dated clinical sheet (AR, RICORD, CT
  Images in COVID-19), day 0 is the patient's first exam; sex and age then come from the
  DICOM header;
* "CT Images in COVID-19" volumes become CT rows (``format="nifti"``, ``n_instances`` = the
  axial slices, ``tcia:<file stem>`` as image and patient uid, see :mod:`.volumes`); a volume,
  the only exam of its patient and undated, is that patient's day 0;
* a download with no usable image (empty, or only files of no use) gives an empty cohort with a
  ``no_images`` finding and every file in ``files``, never an error;
* COVID-19 status defaults per collection (:data:`COLLECTIONS`: RICORD-1B is the negative
  control set, every other collection is COVID-19 positive) unless a sheet says otherwise.
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from covidimg.errors import LoadError
from covidimg.sources import rejects_unknown_options
from covidimg.sources._engine.dicom import HELPER_COLUMNS
from covidimg.sources._engine.index import images_from_index, index_dicom
from covidimg.sources._engine.ledger import Ledger, SourceTables, folder_prefix, walk
from covidimg.sources.tcia.annotations import AnnotationReader
from covidimg.sources.tcia.join import COLLECTIONS, SheetJoin, collection_defaults
from covidimg.sources.tcia.layouts import detect_layout, resolve_collections
from covidimg.sources.tcia.sheets import SBU_LABS, parse_age_band
from covidimg.sources.tcia.volumes import is_nifti_name, volume_rows

__all__ = ["COLLECTIONS", "LOOKS_FOR", "NAME", "SBU_LABS", "collection_defaults", "detect", "load",
           "parse_age_band"]

NAME = "tcia"
LOOKS_FOR = ("an NBIA Data Retriever tree <Collection>/<PatientID>/<study>/<series>/*.dcm of a "
             "TCIA COVID-19 collection (COVID-19-AR, COVID-19-NY-SBU, MIDRC-RICORD-1A/1B/1C), "
             "with its clinical sheets; the CT Images in COVID-19 NIfTI volumes "
             "(volume-covid19-A-<NNNN>.nii.gz); or an idc-index download "
             "(covid_19_ar/<PatientID>/<study>/<Modality>_<series>/), a tcia_utils download "
             "(tciaDownload/<SeriesInstanceUID>/) or a flat folder of such DICOM files")

_DOC_NAMES = ("license", "readme", ".")


def detect(root: str) -> bool:
    """Whether ``root`` (or a folder one or two levels down) holds a TCIA collection folder,
    or the CT Images in COVID-19 volumes (``volume-covid19-*.nii.gz``)."""
    base = Path(root)
    if not base.is_dir():
        return False
    if base.name in COLLECTIONS:
        return True
    for pattern in ("*", "*/*"):
        if any(p.is_dir() and p.name in COLLECTIONS for p in base.glob(pattern)):
            return True
    if any(p.is_file() for pattern in ("volume-covid19-*.nii*", "*/volume-covid19-*.nii*")
           for p in base.glob(pattern)):
        return True
    return detect_layout(root)  # an idc-index or tcia_utils download, a flat DICOM folder

class _Reader(SheetJoin, AnnotationReader):
    def __init__(self, root: str, progress: bool) -> None:
        self.root = os.fspath(Path(root))
        self.prefix = folder_prefix(self.root)
        self.start_sheets(NAME, Ledger(NAME, self.root))
        self.progress = progress
        self.volumes: list[str] = []  # NIfTI volumes (CT Images in COVID-19)
        self.json_files: list[str] = []  # MD.ai annotation exports, read with the images

    def sheet_collection(self, path: str) -> str | None:
        """The collection folder a sheet lies in (see :meth:`SheetJoin.annotate`)."""
        found = self.collection_of(path)
        return found if found in COLLECTIONS else None

    # ------------------------------------------------------------------ files
    def walk(self) -> list[str]:
        dicoms = []
        for dirpath, dirnames, filenames in walk(self.root, self.ledger):
            dirnames.sort()
            prefix = folder_prefix(dirpath)
            for name in sorted(filenames):
                path = prefix + name
                lower = name.lower()
                if lower.startswith(_DOC_NAMES) or lower.endswith((".txt", ".md", ".pdf")):
                    self.ledger.file(path, "ignored", reason="documentation, licence or system "
                                     "file, not data")
                elif lower.endswith(".tcia"):
                    self.ledger.file(path, "ignored", reason="NBIA manifest (lists series to "
                                     "download)")
                elif lower.endswith(".csv"):
                    self.read_csv(path)
                elif lower.endswith(".json"):
                    self.read_json(path)
                elif lower.endswith((".xlsx", ".xlsm")):
                    self.read_xlsx(path)
                elif lower.endswith((".dcm", ".dicom", ".zip")) or "." not in lower:
                    dicoms.append(path)
                elif is_nifti_name(lower):
                    self.volumes.append(path)
                else:
                    self.ledger.file(path, "ignored", reason="not part of the NBIA tree or a "
                                     "known clinical sheet")
        return dicoms
    # ------------------------------------------------------------------ assembly
    def relative_parts(self, disk_path: str) -> list[str]:
        """The parts of ``disk_path`` (a path the walk found) below the root."""
        return disk_path[len(self.prefix):].split(os.sep)

    def collection_of(self, disk_path: str) -> str | None:
        rel = self.relative_parts(disk_path)
        known = [p for p in (os.path.basename(self.root), *rel) if p in COLLECTIONS]
        if known:
            return known[-1]
        return rel[-5] if len(rel) >= 5 else None

    def patient_folder_of(self, disk_path: str) -> str | None:
        """The folder right below the collection folder holding ``disk_path`` (NBIA's patient
        folder), or None when the file sits in the collection folder itself or in no known
        collection. Counted from the collection, not from the file: a study or series zip may
        sit at any level below the patient folder."""
        parts = [os.path.basename(self.root), *self.relative_parts(disk_path)]
        at = [i for i, part in enumerate(parts) if part in COLLECTIONS]
        if not at or at[-1] + 2 >= len(parts):
            return None
        return parts[at[-1] + 1]

    def load(self) -> SourceTables:
        dicom_paths = self.walk()
        index = index_dicom(dicom_paths, self.ledger, progress=self.progress,
                            desc="TCIA DICOM headers")
        table = images_from_index(index, NAME)
        members = table["member_paths"].tolist()
        # the file on disk holding each image's first instance (a zip member's archive)
        first_files = [index.disk_file[labels[0]] for labels in members]
        table["collection"] = resolve_collections(
            table, [self.collection_of(disk) for disk in first_files],
            [[os.path.basename(self.root), *self.relative_parts(disk)] for disk in first_files],
            self.ledger)
        volumes = volume_rows(self.volumes, self.ledger, NAME, self.collection_of)
        if len(volumes):
            table = pd.concat([table, volumes], ignore_index=True)
            members += volumes["member_paths"].tolist()
            first_files += volumes["path"].tolist()
        if not len(table):  # an empty or image-less download: an empty cohort, said so
            self.ledger.finding("no_images", f"no usable image under {self.root}; looked for "
                                f"{LOOKS_FOR}", path=self.root)
        table["source_patient_id"] = table["patient_uid"].str.split(":", n=1).str[1]
        clash = table.groupby("source_patient_id")["collection"].nunique()
        clash = set(clash[clash > 1].index)
        for pid in sorted(clash):
            self.ledger.finding("patient_id_collision", f"PatientID {pid!r} appears in several "
                                "collections; its uids carry the collection",
                                patient_uid=f"{NAME}:{pid}")
        table["patient_uid"] = [f"{NAME}:{c}/{p}" if p in clash else f"{NAME}:{p}"
                                for c, p in zip(table["collection"], table["source_patient_id"],
                                                strict=True)]
        self.check_folders(table, first_files)
        patients, events, labs = self.join(table)  # the sheets (day 0, labels, patients)
        annotations = self.annotation_table(table)
        use = index.use
        for labels, image_uid in zip(members, table["image_uid"].tolist(), strict=True):
            for label in labels:
                use(label, image_uid)
        index.record(self.ledger)
        images = table.drop(columns=[*HELPER_COLUMNS, "study_date", "study_time", "age_years",
                                     "sex", "source_patient_id"])
        return SourceTables(NAME, patients=patients, images=images, events=events, labs=labs,
                            annotations=annotations, files=self.ledger.files_frame(),
                            findings=self.ledger.findings_frame()).conformed()

    def check_folders(self, table: pd.DataFrame, first_files: list[str]) -> None:
        """An ``inconsistent_value`` finding per image whose patient folder is not its
        PatientID (in a known collection's tree)."""
        folders = [self.patient_folder_of(disk) for disk in first_files]
        pids = table["source_patient_id"].tolist()
        known = table["collection"].isin(list(COLLECTIONS)).tolist()
        odd = [i for i, (folder, pid, k) in enumerate(zip(folders, pids, known, strict=True))
               if folder is not None and k and folder != pid]
        for i in odd:
            self.ledger.finding("inconsistent_value", f"file is in patient folder "
                                f"{folders[i]!r} but its PatientID is {pids[i]!r}; the header "
                                "wins", patient_uid=table["patient_uid"].iat[i],
                                image_uid=table["image_uid"].iat[i], path=table["path"].iat[i])

@rejects_unknown_options
def load(root: str | os.PathLike[str], *, progress: bool = False) -> SourceTables:
    """Read a TCIA download (NBIA tree plus clinical sheets) into harmonized tables.

    Parameters
    ----------
    root
        The NBIA Data Retriever download folder (holding collection folders, possibly inside a
        ``manifest-<n>`` folder), or one collection folder; clinical sheets anywhere below it.
    progress
        Show a progress bar while DICOM headers are read.

    Returns
    -------
    SourceTables
        The harmonized tables (patients, images, events, labs, observations, annotations,
        files, findings, provenance), conformed to the schema.

    Raises
    ------
    LoadError
        If ``root`` is not a folder.

    Examples
    --------
    >>> from covidimg.sources import tcia
    >>> tables = tcia.load("downloads/tcia")                    # doctest: +SKIP
    >>> tables.patients.groupby("collection").size()            # doctest: +SKIP
    """
    root = Path(root)
    if not root.is_dir():
        raise LoadError(f"tcia: {root} is not a folder; pass the folder the NBIA Data Retriever "
                        "downloaded into (it holds one folder per collection)")
    return _Reader(os.fspath(root), progress).load()
