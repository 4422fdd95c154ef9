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

from covidimg.sources._engine.dates import parse_dicom_date
from covidimg.sources._engine.dicom import IMAGE_MODALITIES, harmonize_view, parse_age
from covidimg.sources._engine.exam import exam_label
from covidimg.sources._engine.free_text import describe_value, descriptions_kept
from covidimg.sources._engine.harmonize import OFFSET_EVENTS, choose_day_zero, days_between
from covidimg.sources._engine.ledger import Ledger, SourceTables
from covidimg.sources.idc import index
from covidimg.sources.idc.clinical import join_sheets

if TYPE_CHECKING:
    from covidimg.sources.tcia.join import SheetJoin

__all__ = ["COVID_ALIAS", "NAME", "SCHEME", "collection_ids", "load_collections", "root_of"]

NAME = "idc"
#: How an IDC root is written: ``idc://<collection_id>[,<collection_id>...]``.
SCHEME = "idc://"
#: ``idc://covid`` (or ``{"idc": "covid"}``) loads the five COVID-19 collections.
COVID_ALIAS = "covid"

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
    """The collection ids a root names (``idc://covid`` expanded), checked against the index.

    Raises
    ------
    ValueError
        For a collection the installed index does not hold (see
        :func:`covidimg.sources.idc.index.check_collections`).
    """
    parts = root_of(root)[len(SCHEME):].split(",")
    expanded: list[str] = []
    for part in parts:
        expanded.extend(index.COVID_COLLECTIONS if part.lower() == COVID_ALIAS else [part])
    return index.check_collections(expanded)


# ---------------------------------------------------------------------------- assembly
def _mapped(values: pd.Series, function) -> pd.Series:  # type: ignore[no-untyped-def]
    """``function`` of each value, computed once per distinct value."""
    uniques = values.dropna().unique()
    return values.map(dict(zip(uniques, map(function, uniques), strict=True)))


def _text(values: pd.Series) -> pd.Series:
    """Text values as object with ``None`` for missing and empty."""
    out = values.astype(object)
    return out.where(out.notna() & (out != ""), None)


def _series_paths(frame: pd.DataFrame) -> pd.Series:
    """``s3://<bucket>/<crdc_series_uuid>/`` per row (from ``series_aws_url`` on old indexes)."""
    if "crdc_series_uuid" in frame and "aws_bucket" in frame:
        return "s3://" + frame["aws_bucket"].astype(str) + "/" + \
            frame["crdc_series_uuid"].astype(str) + "/"
    return frame[_URL_COLUMN].astype(str).str.removesuffix("*")


def load_collections(ids: Sequence[str], ledger: Ledger, sheets: SheetJoin | None = None
                     ) -> tuple[SourceTables, pd.DataFrame]:
    """Build the source's tables for the collections ``ids`` (checked ids) from the index.

    ``sheets``: TCIA clinical sheets already read (:func:`.clinical.read_sheets`), joined onto
    the images as the TCIA loader joins them (day 0, patients, events, labs, labels).

    Returns the tables (conformed) and :func:`covidimg.sources.idc.index.collections_info` of
    the collections, for the provenance rows.
    """
    # Imported here: the TCIA loader's layouts look series up in this package's index.
    from covidimg.sources.tcia import collection_defaults

    info = index.collections_info(ids)
    names = dict(zip(info["collection_id"], info["collection"], strict=True))
    old_index = not {"crdc_series_uuid", "aws_bucket"} <= set(index.index_columns())
    frame = index.read_series(ids, [*COLUMNS, *([_URL_COLUMN] if old_index else [])]
                              ).to_pandas()
    for column in COLUMNS:  # an older index may lack a descriptive column
        if column not in frame and column not in ("crdc_series_uuid", "aws_bucket"):
            frame[column] = None
    frame["path"] = _series_paths(frame)
    modality = frame["Modality"].astype(object)
    is_image = modality.isin(IMAGE_MODALITIES).to_numpy()
    _record_other_series(frame[~is_image], names, ledger)
    frame = frame[is_image].reset_index(drop=True)

    pid = frame["PatientID"].astype(str)
    clash_counts = frame.groupby(pid)["collection_id"].nunique()
    clash = set(clash_counts[clash_counts > 1].index)
    for patient in sorted(clash):
        ledger.finding("patient_id_collision", f"PatientID {patient!r} appears in several IDC "
                       "collections; its uids carry the collection id",
                       patient_uid=f"{NAME}:{patient}")
    patient_uid = np.where(pid.isin(clash), NAME + ":" + frame["collection_id"].astype(str) +
                           "/" + pid, NAME + ":" + pid)
    frame["patient_uid"] = patient_uid
    frame["image_uid"] = NAME + ":" + frame["SeriesInstanceUID"].astype(str)
    frame["collection"] = frame["collection_id"].map(names)

    dates = _mapped(frame["StudyDate"].astype(object), parse_dicom_date)
    if sheets is not None:  # the TCIA join: day 0, patients, events, labs, labels
        patients, events, labs = join_sheets(frame, dates, sheets, ledger)
        return _tables(frame, patients, ledger, events=events, labs=labs), info
    # the day axis: day 0 = each patient's first exam (engine rule)
    date_days = np.array([d if d is not None and not pd.isna(d) else None for d in dates],
                         dtype="datetime64[D]")
    first = pd.Series(date_days).groupby(frame["patient_uid"]).min()
    start, _rules = choose_day_zero({"first_exam": frame["patient_uid"].map(first).to_numpy()})
    frame["day"] = days_between(date_days, start).astype(float)
    for row in np.flatnonzero(np.isnat(date_days)):
        given = frame["StudyDate"].iat[row]
        what = "no StudyDate" if given is None or pd.isna(given) else \
            f"a StudyDate that is not a date ({describe_value(given)})"
        ledger.finding("missing_value", f"{what} in IDC's index; the exam has no day",
                       patient_uid=frame["patient_uid"].iat[row],
                       image_uid=frame["image_uid"].iat[row], path=frame["path"].iat[row])

    patients = _patients(frame, collection_defaults, ledger)
    return _tables(frame, patients, ledger), info


def _tables(frame: pd.DataFrame, patients: pd.DataFrame, ledger: Ledger,
            **clinical: pd.DataFrame) -> SourceTables:
    """The conformed tables: images and files from ``frame``, ``patients``, the ledger's
    files and findings, and ``clinical`` (``events``, ``labs``) when sheets were joined."""
    images = _images(frame)
    files = pd.DataFrame({"path": frame["path"], "source": NAME, "status": "used",
                          "image_uid": frame["image_uid"],
                          "reason": "series in IDC's index (remote until downloaded)"})
    files = pd.concat([files, ledger.files_frame()], ignore_index=True)
    return SourceTables(NAME, patients=patients, images=images, files=files,
                        findings=ledger.findings_frame(), **clinical).conformed()


def _record_other_series(other: pd.DataFrame, names: dict[str, str], ledger: Ledger) -> None:
    """Series that are not CR/DX/CT/MR: ``ignored`` in ``files``, one finding per collection and
    modality with the count."""
    modality = other["Modality"].astype(object).fillna("(none)")
    for path, code in zip(other["path"], modality, strict=True):
        ledger.file(path, "ignored", reason=f"{code} series: not a CR, DX, CT or MR image "
                    "series, so not an image of the cohort")
    counts = other.groupby([other["collection_id"].astype(str), modality]).size()
    for (collection, code), count in counts.items():
        ledger.finding("unsupported_modality", f"{names.get(collection, collection)}: {count} "
                       f"{code} series in IDC's index are not loaded (not CR/DX/CT/MR); "
                       "files lists them as ignored")


def _images(frame: pd.DataFrame) -> pd.DataFrame:
    modality = frame["Modality"].astype(str)
    study_text = _text(frame["StudyDescription"])
    series_text = _text(frame["SeriesDescription"])
    body_part = _text(frame["BodyPartExamined"])
    keys = pd.Series(list(zip(modality, study_text, series_text, body_part, strict=True)))

    def label(key: tuple[str, str | None, str | None, str | None]) -> tuple[str, str]:
        code, study, series, part = key
        view = harmonize_view(code, None, series, study)
        return view, exam_label(code, view, study, series, body_part=part)

    labels = _mapped(keys, label)
    images = pd.DataFrame({
        "image_uid": frame["image_uid"], "patient_uid": frame["patient_uid"], "source": NAME,
        "study_uid": frame["StudyInstanceUID"], "series_uid": frame["SeriesInstanceUID"],
        "modality": modality, "view": labels.str[0], "exam": labels.str[1],
        "day": frame["day"], **dict.fromkeys(OFFSET_EVENTS, np.nan), "path": frame["path"],
        "format": "dicom", "n_instances": frame["instanceCount"],
        "rows": pd.array([pd.NA] * len(frame), dtype="Int64"),
        "columns": pd.array([pd.NA] * len(frame), dtype="Int64"),
        "collection": frame["collection"],
        "body_part": body_part, "manufacturer": _text(frame["Manufacturer"]),
        "model": _text(frame["ManufacturerModelName"]),
        "sop_class_uid": _text(frame["SOPClassUID"]),
        "series_number": pd.to_numeric(frame["SeriesNumber"], errors="coerce"),
        "transfer_syntax": _text(frame["TransferSyntaxUID"]),
        "photometric": _text(frame["PhotometricInterpretation"]),
        "license": _text(frame["license_short_name"]), "doi": _text(frame["source_DOI"]),
    })
    for column in ("admission_offset", "annotation_class", "annotation_grade"):
        if column in frame:  # set by the clinical sheets' join
            images[column] = frame[column].to_numpy()
    if descriptions_kept():
        images["study_description"] = study_text
        images["series_description"] = series_text
    return images


def _patients(frame: pd.DataFrame, collection_defaults, ledger: Ledger  # type: ignore[no-untyped-def]
              ) -> pd.DataFrame:
    """One row per patient, from its first exam (earliest day, then index order)."""
    order = np.lexsort((np.arange(len(frame)), np.nan_to_num(frame["day"].to_numpy(float),
                                                               nan=np.inf),
                        frame["patient_uid"].to_numpy()))
    first = frame.iloc[order].drop_duplicates("patient_uid")
    ages = _mapped(first["PatientAge"].astype(object), parse_age)
    for puid, given, age in zip(first["patient_uid"], first["PatientAge"], ages, strict=True):
        if given is not None and not pd.isna(given) and str(given).strip() and pd.isna(age):
            ledger.finding("unparseable_value", f"PatientAge {describe_value(given)} in IDC's "
                           "index is not a DICOM age; the age is unknown", patient_uid=puid)
    sex = first["PatientSex"].astype(object).str.strip().str.upper()
    defaults = [collection_defaults(c, p) for c, p in zip(first["collection"],
                                                         first["PatientID"], strict=True)]
    return pd.DataFrame({
        "patient_uid": first["patient_uid"].to_numpy(), "source": NAME,
        "source_patient_id": first["PatientID"].to_numpy(),
        "sex": sex.where(sex.isin(["F", "M"]), "U").to_numpy(),
        "age_min": ages.astype(float).to_numpy(), "age_max": ages.astype(float).to_numpy(),
        "covid_status": [covid or "unknown" for covid, _ in defaults],
        "icu": pd.array([pd.NA] * len(first), dtype="boolean"),
        "died": pd.array([pd.NA] * len(first), dtype="boolean"),
        "site": [site for _, site in defaults], "collection": first["collection"].to_numpy(),
    })
