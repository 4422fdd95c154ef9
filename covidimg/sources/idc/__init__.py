"""NCI Imaging Data Commons (IDC): TCIA's COVID-19 collections from IDC's index, pixels on demand.

IDC hosts five of TCIA's COVID-19 collections (COVID-19-AR, COVID-19-NY-SBU,
MIDRC-RICORD-1A/1B/1C) in public buckets that need no credentials, and publishes its series
index on the package registry as ``idc-index-data`` (the ``covidimg[idc]`` extra). This source
builds a cohort from that index alone, offline, and fetches the pixels of the series a user
selects when asked.

Layout (there is no folder: the root names collections)::

    idc://covid_19_ar,midrc_ricord_1c     collection ids of IDC's index (``collection_id``)
    idc://covid                           the five COVID-19 collections
    covidimg.load({"idc": ["covid_19_ar", "midrc_ricord_1c"]})   the same, as a list

Modules:

``index``
    the series index and the collections index of ``idc-index-data``, read with pyarrow
    (column projection, rows of the asked collections), and series look-ups by UID for the TCIA
    loader's local layouts;
``loader``
    index rows -> patients, images (one row per CR/DX/CT/MR series, ``path`` = the series in
    the bucket), files (the other series, ignored with the reason) and the day axis;
``fetch``
    :func:`download`: the series of an ``images`` table from the bucket (anonymous, endpoint
    configurable) into the cache or a folder, resumable and checked;
``viewer``
    :func:`viewer_url`: the series in IDC's web viewer (OHIF).

Quirks handled:

* the index is one Parquet row group: the columns needed are read and the rows of the asked
  collections kept in Arrow (a few collections load in about the time of reading those
  columns, ``benchmarks/idc_load.py``);
* StudyDate is shifted by TCIA's de-identification but consistent within a patient: day 0 is
  the patient's first exam;
* the SBU collection holds NM, OT, PT and SR series: listed in ``files`` as ignored, counted in
  one ``unsupported_modality`` finding per collection and modality;
* RICORD is licensed CC BY-NC 4.0, the others CC BY 4.0: ``license`` and ``doi`` are on every
  image, and the provenance table holds one row per collection;
* COVID-19 status and site default per collection as in the TCIA loader (RICORD-1B is the
  negative control set).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

import pandas as pd

from covidimg.sources import provenance_frame, provenance_row, rejects_unknown_options
from covidimg.sources._engine.ledger import Ledger, SourceTables
from covidimg.sources.idc import index
from covidimg.sources.idc.clinical import clinical_paths, read_sheets
from covidimg.sources.idc.fetch import DEFAULT_ENDPOINT, apply_paths, download, is_remote
from covidimg.sources.idc.index import COVID_COLLECTIONS
from covidimg.sources.idc.loader import NAME, SCHEME, collection_ids, load_collections, root_of
from covidimg.sources.idc.viewer import viewer_url

__all__ = ["COVID_COLLECTIONS", "DEFAULT_ENDPOINT", "LOOKS_FOR", "NAME", "SCHEME", "apply_paths",
           "collection_ids", "detect", "download", "index", "is_remote", "load", "root_of",
           "viewer_url"]

LOOKS_FOR = ("IDC collection ids instead of a folder: idc://covid_19_ar,midrc_ricord_1c (or "
             "{'idc': ['covid_19_ar', ...]}), read from the idc-index-data package")


def detect(root: str) -> bool:
    """Whether ``root`` is an IDC root (``idc://...``); a folder never is.

    Examples
    --------
    >>> from covidimg.sources import idc
    >>> idc.detect("idc://covid"), idc.detect("/data/tcia")
    (True, False)
    """
    return isinstance(root, str) and root.startswith(SCHEME)


@rejects_unknown_options
def load(root: str | os.PathLike[str], *, progress: bool = False,
         clinical: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None
         ) -> SourceTables:
    """Build the tables of IDC collections from IDC's series index (offline).

    Parameters
    ----------
    root
        ``idc://<collection_id>[,<collection_id>...]``, ``idc://covid`` for the five COVID-19
        collections, or what :func:`root_of` accepts (a collection id, a list of them).
    progress
        Unused: reading the index takes seconds.
    clinical
        TCIA clinical sheets to join (a path or a list; a folder is searched for ``.csv`` and
        ``.xlsx`` files): the COVID-19-NY-SBU CSV, the COVID-19-AR workbook, RICORD metadata
        and MD.ai annotation CSVs, joined exactly as the ``tcia`` source joins them onto an
        NBIA tree (:mod:`covidimg.sources.idc.clinical`).

    Returns
    -------
    SourceTables
        patients, images (``path`` = ``s3://...`` series until downloaded), files, findings;
        events and labs from clinical sheets.

    Raises
    ------
    LoadError
        If ``idc-index-data`` is not installed (the message says how to install it).
    ValueError
        If a collection is not in the installed index (the message suggests close ids).

    Examples
    --------
    >>> import covidimg as ci
    >>> cohort = ci.load({"idc": ["covid_19_ar", "midrc_ricord_1c"]})    # doctest: +SKIP
    >>> cohort.images.groupby("collection").size()                       # doctest: +SKIP
    """
    del progress
    text = root_of(root)
    ids = collection_ids(text)
    ledger = Ledger(NAME, text)
    paths = clinical_paths(clinical)
    sheets = read_sheets(paths, NAME, ledger) if paths else None
    tables, info = load_collections(ids, ledger, sheets)
    return dataclasses.replace(tables, provenance=_provenance(info))


def _provenance(info: pd.DataFrame) -> pd.DataFrame:
    """One ``provenance`` row per collection: its licence and DOI from IDC's collections index,
    the release the index describes (``v25``) and the index read."""
    release = index.idc_version()
    read = f"idc-index-data {index.data_version()}: {index.index_file()}"
    rows = [provenance_row(NAME, collection=row["collection"], release=release,
                           license=row["license"] or None,
                           citation=f"https://doi.org/{row['doi']}" if row["doi"] else None,
                           loaded_from=read)
            for row in info.to_dict("records")]
    return provenance_frame(rows)

