"""IDC collections from the series index alone: patients, one image row per series, the day axis.

The root of an IDC load names collections, not a folder: ``idc://covid_19_ar,midrc_ricord_1c``
(:func:`root_of` writes it from a list, ``{"idc": ["covid_19_ar", ...]}``), or ``idc://covid``
for the five COVID-19 collections (:data:`~covidimg.sources.idc.index.COVID_COLLECTIONS`).
Nothing is read but the index of the installed ``idc-index-data`` (offline).

What each index row (one DICOM series) becomes:

* a CR, DX, CT or MR series: one ``images`` row, ``image_uid = idc:<SeriesInstanceUID>``,
  ``n_instances`` = ``instanceCount``, ``path`` = the series in IDC's public bucket
  (``s3://<aws_bucket>/<crdc_series_uuid>/``) until :func:`~covidimg.sources.idc.download`
  fetches it; ``view`` and ``exam`` from the modality and the description texts (kept as text
  only with ``descriptions="keep"``); body part, manufacturer, model, SOP class, series number,
  transfer syntax, photometric interpretation, ``collection`` (TCIA's name, e.g.
  ``COVID-19-AR``), ``license`` and ``doi``;
* any other modality (SBU's NM, OT, PT and SR series): a ``files`` row, ``ignored``, with the
  reason, and one ``unsupported_modality`` finding per collection and modality with the count;
* each patient: ``patient_uid = idc:<PatientID>`` (``idc:<collection_id>/<PatientID>`` with a
  ``patient_id_collision`` finding should an id appear in two collections), sex (DICOM ``O``
  reads as ``U``) and age (``PatientAge``, ``067Y``) of the first exam, the COVID-19 status and
  site the TCIA loader gives the collection (:func:`covidimg.sources.tcia.collection_defaults`);
* the day axis: day 0 is the patient's first exam (``StudyDate``, shifted by TCIA's
  de-identification but consistent within a patient), by the engine's day-0 rule.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from covidimg import schema
from covidimg.sources._engine.dates import parse_dicom_date
from covidimg.sources._engine.dicom import IMAGE_MODALITIES, harmonize_view, parse_age
from covidimg.sources._engine.exam import exam_label
from covidimg.sources._engine.free_text import describe_value, descriptions_kept
from covidimg.sources._engine.harmonize import OFFSET_EVENTS, choose_day_zero, days_between
from covidimg.sources._engine.ledger import Ledger, SourceTables
from covidimg.sources.idc import frames, index
from covidimg.sources.idc.clinical import join_sheets

if TYPE_CHECKING:
    from covidimg.sources.tcia.join import SheetJoin

__all__ = ["ALL_ALIAS", "COVID_ALIAS", "NAME", "SCHEME", "collection_ids", "load_collections",
           "root_of"]

NAME = "idc"
#: How an IDC root is written: ``idc://<collection_id>[,<collection_id>...]``.
SCHEME = "idc://"
#: ``idc://covid`` (or ``{"idc": "covid"}``) loads the five COVID-19 collections.
COVID_ALIAS = "covid"
#: ``idc://all`` (or ``{"idc": "all"}``) loads every collection of the installed index.
ALL_ALIAS = "all"

#: The index columns read (idc-index-data's names).
COLUMNS = ("PatientID", "StudyInstanceUID", "SeriesInstanceUID", "Modality", "PatientAge",
           "PatientSex", "StudyDate", "StudyDescription", "SeriesDescription",
           "BodyPartExamined", "Manufacturer", "ManufacturerModelName", "SOPClassUID",
           "SeriesNumber", "TransferSyntaxUID", "PhotometricInterpretation", "instanceCount",
           "license_short_name", "source_DOI", "aws_bucket", "crdc_series_uuid")
#: Read instead of ``aws_bucket`` / ``crdc_series_uuid`` from an index without them.
_URL_COLUMN = "series_aws_url"


def root_of(value: str | os.PathLike[str] | Sequence[str]) -> str:
    """The root string of an IDC load: ``idc://`` and the collection ids, comma-separated.

    Parameters
    ----------
    value
        A collection id (``"covid_19_ar"``), several comma-separated, a list or tuple of them,
        ``"covid"`` for the five COVID-19 collections, or a root already written
        ``idc://...``.

    Examples
    --------
    >>> from covidimg.sources.idc import root_of
    >>> root_of(["covid_19_ar", "midrc_ricord_1c"]), root_of("covid")
    ('idc://covid_19_ar,midrc_ricord_1c', 'idc://covid')
    """
    if isinstance(value, str | os.PathLike):
        text = os.fspath(value).strip()
        text = text[len(SCHEME):] if text.startswith(SCHEME) else text
        parts = [p.strip() for p in text.split(",")]
    elif isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
        parts = [v.strip() for v in value]
    else:
        raise ValueError(f"idc: {value!r} is not a collection id or a list of them; pass e.g. "
                         f"{{'idc': {list(index.COVID_COLLECTIONS[:2])}}} or {{'idc': 'covid'}}")
    if not parts or not all(parts):
        raise ValueError(f"idc: {value!r} names no collection; pass IDC collection ids, e.g. "
                         f"{list(index.COVID_COLLECTIONS)}, or 'covid' for those five")
    return SCHEME + ",".join(dict.fromkeys(parts))


def collection_ids(root: str) -> tuple[str, ...]:
    """The collection ids a root names (``idc://covid`` and ``idc://all`` expanded), checked
    against the index.

    Raises
    ------
    ValueError
        For a collection the installed index does not hold (see
        :func:`covidimg.sources.idc.index.check_collections`).
    """
    parts = root_of(root)[len(SCHEME):].split(",")
    expanded: list[str] = []
    for part in parts:
        if part.lower() == ALL_ALIAS:
            expanded.extend(index.collections())
        else:
            expanded.extend(index.COVID_COLLECTIONS if part.lower() == COVID_ALIAS else [part])
    return index.check_collections(expanded)


# ---------------------------------------------------------------------------- assembly
def _series_paths(frame: pd.DataFrame) -> pd.Series:
    """``s3://<bucket>/<crdc_series_uuid>/`` per row (from ``series_aws_url`` on old indexes)."""
    if "crdc_series_uuid" in frame and "aws_bucket" in frame:
        return ("s3://" + frame["aws_bucket"].astype("string") + "/" +
                frame["crdc_series_uuid"].astype("string") + "/")
    return frame[_URL_COLUMN].astype("string").str.removesuffix("*")


def load_collections(ids: Sequence[str], ledger: Ledger, sheets: SheetJoin | None = None
                     ) -> tuple[SourceTables, pd.DataFrame]:
    """Build the source's tables for the collections ``ids`` (checked ids) from the index.

    ``sheets``: TCIA clinical sheets already read (:func:`.clinical.read_sheets`), joined onto
    the images as the TCIA loader joins them (day 0, patients, events, labs, labels).

    Whole columns at a time (:mod:`.frames`): the whole index (about a million series) loads
    in seconds (``benchmarks/idc_scale.py``).

    Returns the tables (conformed) and :func:`covidimg.sources.idc.index.collections_info` of
    the collections, for the provenance rows.
    """
    # Imported here: the TCIA loader's layouts look series up in this package's index.
    from covidimg.sources.tcia import collection_defaults

    info = index.collections_info(ids)
    names = dict(zip(info["collection_id"], info["collection"], strict=True))
    old_index = not {"crdc_series_uuid", "aws_bucket"} <= set(index.index_columns())
    table = index.read_series(ids, [*COLUMNS, *([_URL_COLUMN] if old_index else [])])
    modalities = pa.array(sorted(IMAGE_MODALITIES), table.schema.field("Modality").type)
    is_image = pc.fill_null(pc.is_in(table["Modality"], value_set=modalities), False)
    kept = [c for c in ("collection_id", "Modality", "aws_bucket", "crdc_series_uuid",
                        _URL_COLUMN) if c in table.column_names]
    other = frames.strings(table.select(kept).filter(pc.invert(is_image)))
    other["path"] = _series_paths(other)
    other = _other_series(other, names, ledger)
    frame = frames.strings(table.filter(is_image))  # filtered in Arrow: no pandas copy
    del table
    for column in COLUMNS:  # an older index may lack a descriptive column
        if column not in frame and column not in ("crdc_series_uuid", "aws_bucket"):
            frame[column] = pd.Series(pd.NA, index=frame.index, dtype="string")
    frame["path"] = _series_paths(frame)

    pid = frame["PatientID"].astype("string")
    collection_id = frame["collection_id"].astype("string")
    clash_counts = collection_id.groupby(pid).nunique()
    clash = sorted(clash_counts[clash_counts > 1].index)
    for patient in clash:
        ledger.finding("patient_id_collision", f"PatientID {patient!r} appears in several IDC "
                       "collections; its uids carry the collection id",
                       patient_uid=f"{NAME}:{patient}")
    patient_uid = (NAME + ":" + pid).astype("string")
    if clash:
        clashing = pid.isin(clash).to_numpy(bool)
        patient_uid[clashing] = NAME + ":" + collection_id[clashing] + "/" + pid[clashing]
    frame["patient_uid"] = patient_uid
    frame["image_uid"] = NAME + ":" + frame["SeriesInstanceUID"].astype("string")
    frame["collection"] = collection_id.map(names).astype("string")

    dates = frames.per_value(frame["StudyDate"], parse_dicom_date)
    if sheets is not None:  # the TCIA join: day 0, patients, events, labs, labels
        patients, events, labs = join_sheets(frame, pd.Series(dates), sheets, ledger)
        return _tables(frame, patients, other, ledger, events=events, labs=labs), info
    # the day axis: day 0 = each patient's first exam (engine rule)
    date_days = pd.to_datetime(pd.Series(dates)).to_numpy("datetime64[D]")
    codes, _ = pd.factorize(frame["patient_uid"], sort=True)
    first = pd.Series(date_days).groupby(codes).min().to_numpy("datetime64[D]")
    start, _rules = choose_day_zero({"first_exam": first[codes]})
    frame["day"] = days_between(date_days, start).astype(float)
    for row in np.flatnonzero(np.isnat(date_days)):
        given = frame["StudyDate"].iat[row]
        what = "no StudyDate" if given is None or pd.isna(given) else \
            f"a StudyDate that is not a date ({describe_value(given)})"
        ledger.finding("missing_value", f"{what} in IDC's index; the exam has no day",
                       patient_uid=frame["patient_uid"].iat[row],
                       image_uid=frame["image_uid"].iat[row], path=frame["path"].iat[row])

    patients = _patients(frame, codes, collection_defaults, ledger)
    return _tables(frame, patients, other, ledger), info


def _tables(frame: pd.DataFrame, patients: pd.DataFrame, other: pd.DataFrame, ledger: Ledger,
            **clinical: pd.DataFrame) -> SourceTables:
    """The conformed tables: images and files from ``frame``, ``patients``, the other series'
    ``files`` rows, the ledger's files and findings, and ``clinical`` (``events``, ``labs``)
    when sheets were joined."""
    images = _images(frame)
    n = len(frame)
    used = pd.DataFrame({"path": frame["path"],
                         "source": frames.constant_category(NAME, n, "files", "source"),
                         "status": frames.constant_category("used", n, "files", "status"),
                         "image_uid": frame["image_uid"],
                         "reason": pd.Series("series in IDC's index (remote until "
                                             "downloaded)", index=frame.index, dtype="string")})
    recorded = schema.conform("files", ledger.files_frame())  # sheets, walked folders
    files = pd.concat([part for part in (used, other, recorded) if len(part)] or [used],
                      ignore_index=True)
    return SourceTables(NAME, patients=patients, images=images, files=files,
                        findings=ledger.findings_frame(), **clinical).conformed()


def _other_series(other: pd.DataFrame, names: dict[str, str], ledger: Ledger) -> pd.DataFrame:
    """Series that are not CR/DX/CT/MR: their ``files`` rows (``ignored``, with the reason),
    and one finding per collection and modality with the count."""
    modality = other["Modality"].astype("string").fillna("(none)")
    n = len(other)
    rows = pd.DataFrame({
        "path": other["path"].astype("string"),
        "source": frames.constant_category(NAME, n, "files", "source"),
        "status": frames.constant_category("ignored", n, "files", "status"),
        "image_uid": pd.Series(pd.NA, index=other.index, dtype="string"),
        "reason": pd.Series(frames.per_value(modality, lambda code: (
            f"{code} series: not a CR, DX, CT or MR image series, so not an image of the "
            "cohort")), index=other.index).astype("string")})
    counts = other.groupby([other["collection_id"].astype("string"), modality]).size()
    for (collection, code), count in counts.items():
        ledger.finding("unsupported_modality", f"{names.get(collection, collection)}: {count} "
                       f"{code} series in IDC's index are not loaded (not CR/DX/CT/MR); "
                       "files lists them as ignored")
    return rows


def _view_and_exam(code: str | None, study: str | None, series: str | None,
                   part: str | None) -> tuple[str, str]:
    view = harmonize_view(code or "", None, series, study)
    return view, exam_label(code or "", view, study, series, body_part=part)


def _images(frame: pd.DataFrame) -> pd.DataFrame:
    modality = frame["Modality"].astype("string")
    study_text = frames.text(frame["StudyDescription"])
    series_text = frames.text(frame["SeriesDescription"])
    body_part = frames.text(frame["BodyPartExamined"])
    labels = frames.per_group(pd.DataFrame({"m": modality, "st": study_text,
                                            "se": series_text, "bp": body_part}),
                              _view_and_exam)
    view = [v for v, _ in labels]
    exam = [e for _, e in labels]
    n = len(frame)
    series_number = frames.per_value(frame["SeriesNumber"],
                                     lambda v: pd.to_numeric(v, errors="coerce"))
    images = pd.DataFrame({
        "image_uid": frame["image_uid"], "patient_uid": frame["patient_uid"],
        "source": frames.constant_category(NAME, n, "images", "source"),
        "study_uid": frame["StudyInstanceUID"], "series_uid": frame["SeriesInstanceUID"],
        "modality": frames.category(modality.to_numpy(object), "images", "modality"),
        "view": frames.category(view, "images", "view"),
        "exam": frames.category(exam, "images", "exam"),
        "day": frame["day"], **dict.fromkeys(OFFSET_EVENTS, np.nan), "path": frame["path"],
        "format": frames.constant_category("dicom", n, "images", "format"),
        "n_instances": frame["instanceCount"].astype("Int64"),
        "rows": pd.array([pd.NA] * n, dtype="Int64"),
        "columns": pd.array([pd.NA] * n, dtype="Int64"),
        "collection": frame["collection"],
        "body_part": body_part, "manufacturer": frames.text(frame["Manufacturer"]),
        "model": frames.text(frame["ManufacturerModelName"]),
        "sop_class_uid": frames.text(frame["SOPClassUID"]),
        "series_number": pd.array(series_number, dtype="Float64").astype("Int64")
        if n else pd.array([], dtype="Int64"),
        "transfer_syntax": frames.text(frame["TransferSyntaxUID"]),
        "photometric": frames.text(frame["PhotometricInterpretation"]),
        "license": frames.text(frame["license_short_name"]),
        "doi": frames.text(frame["source_DOI"]),
    })
    for column in ("admission_offset", "annotation_class", "annotation_grade"):
        if column in frame:  # set by the clinical sheets' join
            images[column] = frame[column].to_numpy()
    if descriptions_kept():
        images["study_description"] = study_text
        images["series_description"] = series_text
    return images


def _patients(frame: pd.DataFrame, codes: np.ndarray, collection_defaults,  # type: ignore[no-untyped-def]
              ledger: Ledger) -> pd.DataFrame:
    """One row per patient (``codes``: the rows' patient, factorized in sorted order), from its
    first exam (earliest day, then index order)."""
    order = np.lexsort((np.arange(len(frame)), np.nan_to_num(frame["day"].to_numpy(float),
                                                               nan=np.inf), codes))
    starts = np.flatnonzero(np.r_[True, codes[order][1:] != codes[order][:-1]]) if len(
        frame) else np.array([], dtype=int)
    first = frame.iloc[order[starts]]
    ages = pd.Series(frames.per_value(first["PatientAge"], parse_age), dtype=object)
    given = first["PatientAge"].astype("string")
    bad = (given.fillna("").str.strip() != "").to_numpy(bool) & ages.isna().to_numpy(bool)
    for puid, value in zip(first["patient_uid"][bad], given[bad], strict=True):
        ledger.finding("unparseable_value", f"PatientAge {describe_value(value)} in IDC's "
                       "index is not a DICOM age; the age is unknown", patient_uid=puid)
    sex = first["PatientSex"].astype("string").str.strip().str.upper()
    defaults = [collection_defaults(c, p) for c, p in zip(first["collection"].tolist(),
                                                         first["PatientID"].tolist(),
                                                         strict=True)]
    age = ages.astype(float).to_numpy()
    return pd.DataFrame({
        "patient_uid": first["patient_uid"].to_numpy(), "source": NAME,
        "source_patient_id": first["PatientID"].to_numpy(),
        "sex": sex.where(sex.isin(["F", "M"]), "U").to_numpy(object),
        "age_min": age, "age_max": age,
        "covid_status": [covid or "unknown" for covid, _ in defaults],
        "icu": pd.array([pd.NA] * len(first), dtype="boolean"),
        "died": pd.array([pd.NA] * len(first), dtype="boolean"),
        "site": [site for _, site in defaults], "collection": first["collection"].to_numpy(),
    })
