"""IDC's series index, read offline from the ``idc-index-data`` package.

``idc-index-data`` (the ``covidimg[idc]`` extra) ships NCI Imaging Data Commons' series-level
index as Parquet (``idc_index.parquet``, one row per DICOM series of every IDC collection, about
a million rows) and the collections' index (``collections_index.parquet``: names, DOIs,
licences and citations). Both are read here with :mod:`pyarrow`, keeping only the columns asked
for and the rows of the collections asked for, so a few collections load in a fraction of the
time the whole index takes. The column names are idc-index-data's (its
``idc_index_schema.json`` describes each); nothing of the index is copied into covidimg.

Examples
--------
>>> from covidimg.sources.idc import index
>>> table = index.read_series(["covid_19_ar"], ["PatientID", "Modality"])  # doctest: +SKIP
>>> table.num_rows                                                           # doctest: +SKIP
461
"""

from __future__ import annotations

import difflib
import functools
import html
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from covidimg.errors import LoadError

__all__ = ["COVID_COLLECTIONS", "collections", "collections_info", "data_version",
           "idc_version", "index_columns", "index_file", "lookup_series", "read_series",
           "references"]

#: IDC's collection ids of the TCIA COVID-19 collections that IDC hosts ("CT Images in
#: COVID-19" is NIfTI on TCIA and not in IDC).
COVID_COLLECTIONS: tuple[str, ...] = ("covid_19_ar", "covid_19_ny_sbu", "midrc_ricord_1a",
                                      "midrc_ricord_1b", "midrc_ricord_1c")

_INSTALL = ("install the IDC index with `pip install 'covidimg[idc]'` (it brings the "
            "idc-index-data package, which holds IDC's series index as Parquet)")


def _package() -> Any:
    try:
        import idc_index_data
    except ImportError as exc:
        raise LoadError(f"idc: the IDC index is not installed; {_INSTALL}") from exc
    return idc_index_data


def index_file() -> Path:
    """The series index of the installed ``idc-index-data`` (``idc_index.parquet``).

    Raises
    ------
    LoadError
        When ``idc-index-data`` is not installed (the message says how to install it).
    """
    path = _package().IDC_INDEX_PARQUET_FILEPATH
    if path is None or not Path(path).is_file():
        raise LoadError(f"idc: the installed idc-index-data has no idc_index.parquet; {_INSTALL}")
    return Path(path)


def _collections_file() -> Path | None:
    meta = getattr(_package(), "INDEX_METADATA", {}).get("collections_index", {})
    path = meta.get("parquet_filepath")
    return Path(path) if path is not None and Path(path).is_file() else None


def data_version() -> str:
    """The installed ``idc-index-data`` version (``"25.0.5"``)."""
    return str(_package().__version__)


def idc_version() -> str:
    """The IDC data release the installed index describes (``"v25"``), as idc-index names it
    (the major version of ``idc-index-data``).

    Examples
    --------
    >>> from covidimg.sources.idc.index import idc_version
    >>> idc_version()  # doctest: +SKIP
    'v25'
    """
    return f"v{data_version().split('.')[0]}"


@functools.lru_cache(maxsize=4)
def _collection_ids(path: str) -> tuple[str, ...]:
    column = pq.read_table(path, columns=["collection_id"])["collection_id"]
    return tuple(sorted(pc.unique(column).to_pylist()))


def collections() -> tuple[str, ...]:
    """Every collection id in the installed index, sorted."""
    return _collection_ids(str(index_file()))


def check_collections(ids: Iterable[str]) -> tuple[str, ...]:
    """``ids`` without repeats, each checked against the index.

    Raises
    ------
    ValueError
        For an id the index does not hold: the message names it, suggests close ids and lists
        the COVID-19 collections.
    """
    wanted = tuple(dict.fromkeys(str(i).strip() for i in ids))
    if not wanted or any(not i for i in wanted):
        raise ValueError(f"idc: collections={list(wanted)!r}; name at least one IDC collection "
                         f"id, e.g. {list(COVID_COLLECTIONS)}")
    known = set(collections())
    for name in wanted:
        if name not in known:
            close = difflib.get_close_matches(name.lower(), sorted(known), n=3)
            hint = f" Did you mean {close}?" if close else ""
            raise ValueError(
                f"idc: collection {name!r} is not in IDC's index {idc_version()} "
                f"(idc-index-data {data_version()}).{hint} The COVID-19 collections are "
                f"{list(COVID_COLLECTIONS)}; covidimg.sources.idc.index.collections() lists all "
                f"{len(known)}.")
    return wanted


def index_columns() -> tuple[str, ...]:
    """The columns of the installed series index (read from the Parquet footer)."""
    return tuple(pq.read_schema(index_file()).names)


def read_series(collection_ids: Sequence[str], columns: Sequence[str]) -> pa.Table:
    """The index rows of ``collection_ids``, with ``columns`` only (and ``collection_id``).

    Column projection, then a filter on ``collection_id`` in Arrow. The index is one Parquet
    row group, so no row can be skipped unread; reading the projected columns and filtering the
    Arrow table takes about a third of the time ``pq.read_table(filters=...)`` takes
    (``benchmarks/idc_load.py``). Columns missing from an older index are left out.
    """
    handle = pq.ParquetFile(index_file(), pre_buffer=True)
    have = set(handle.schema_arrow.names)
    columns = [c for c in dict.fromkeys(["collection_id", *columns]) if c in have]
    table = handle.read(columns=columns)
    wanted = pa.array(list(collection_ids), pa.large_string())
    keep = pc.is_in(table["collection_id"], value_set=wanted)
    if pc.all(keep).as_py():  # every collection (``idc://all``): no copy
        return table
    return table.filter(keep)


def lookup_series(series_uids: Iterable[str] = (), study_uids: Iterable[str] = ()
                  ) -> pd.DataFrame:
    """Index rows whose SeriesInstanceUID is in ``series_uids`` or whose StudyInstanceUID is in
    ``study_uids``: ``collection_id``, ``PatientID``, ``StudyInstanceUID``,
    ``SeriesInstanceUID``, in index order (offline; an empty frame when none match).

    They are found in a memory-mapped copy of these columns kept in covidimg's cache folder
    (:mod:`covidimg.sources.idc.uid_lookup`, written on first use: ~60 ms a look-up instead
    of reading the index, 0.7-2 s).
    """
    from covidimg.sources.idc import uid_lookup

    columns = list(uid_lookup.COLUMNS)
    series = pa.array(sorted(set(series_uids)), pa.large_string())
    studies = pa.array(sorted(set(study_uids)), pa.large_string())
    if not len(series) and not len(studies):
        return pd.DataFrame(columns=columns)
    path = index_file()

    def read_index() -> pa.Table:
        return pq.ParquetFile(path, pre_buffer=True).read(columns=columns)

    return uid_lookup.matching_rows(path, data_version(), pq.read_metadata(path).num_rows,
                                    series, studies, read_index).to_pandas()


_TAGS = re.compile(r"<[^>]{0,64}>")


def _plain(text: str | None) -> str | None:
    """A citation as IDC writes it (HTML italics and entities, hard line breaks) as plain text."""
    if text is None:
        return None
    return re.sub(r"\s+", " ", html.unescape(_TAGS.sub("", text))).strip()


def collections_info(collection_ids: Sequence[str]) -> pd.DataFrame:
    """What IDC's collections index says of each collection: one row per id, in order.

    Columns: ``collection_id``, ``collection`` (the collection's name, as TCIA names it:
    ``COVID-19-AR``), ``title``, ``doi``, ``license`` (short name), ``license_url``,
    ``citation`` (plain text), ``updated``. A collection missing from the collections index
    (an older idc-index-data) gets its id as name and empty fields.
    """
    rows = {i: {"collection_id": i, "collection": i, "title": None, "doi": None,
                "license": None, "license_url": None, "citation": None, "updated": None}
            for i in collection_ids}
    path = _collections_file()
    if path is not None:
        table = pq.read_table(path, columns=["collection_id", "collection_name", "sources",
                                             "updated"],
                              filters=[("collection_id", "in", list(collection_ids))])
        for record in table.to_pylist():
            row = rows[record["collection_id"]]
            row["collection"] = record["collection_name"] or record["collection_id"]
            row["updated"] = record["updated"]
            originals = [s for s in record["sources"] or []
                         if s.get("source_type") == "original_data"] or record["sources"] or []
            if originals:
                source = originals[0]
                licence = source.get("license") or {}
                row.update(title=source.get("source_title"), doi=source.get("source_doi"),
                           license=licence.get("license_short_name"),
                           license_url=licence.get("license_url"),
                           citation=_plain(source.get("citation")))
    return pd.DataFrame(list(rows.values()))


def references(dois: Iterable[str]) -> dict[str, dict[str, str | None]]:
    """What IDC's collections index says of the collections with these DOIs (any case):
    ``doi`` (lower case) -> ``collection``, ``title``, ``license``, ``citation`` (plain
    text). DOIs it does not know are left out; without ``idc-index-data``, nothing is known.

    Examples
    --------
    >>> from covidimg.sources.idc.index import references
    >>> references(["10.7937/TCIA.2020.PY71-5978"])["10.7937/tcia.2020.py71-5978"]["collection"]
    'COVID-19-AR'
    """
    wanted = {str(d).strip().lower() for d in dois if d}
    try:
        path = _collections_file()
    except LoadError:
        return {}
    if path is None or not wanted:
        return {}
    found: dict[str, dict[str, str | None]] = {}
    table = pq.read_table(path, columns=["collection_name", "sources"])
    for record in table.to_pylist():
        for source in record["sources"] or []:
            doi = str(source.get("source_doi") or "").lower()
            if doi in wanted and doi not in found:
                licence = source.get("license") or {}
                found[doi] = {"collection": record["collection_name"],
                              "title": source.get("source_title"),
                              "license": licence.get("license_short_name"),
                              "citation": _plain(source.get("citation"))}
    return found

