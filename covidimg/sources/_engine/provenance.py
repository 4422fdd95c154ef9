"""The ``provenance`` rows of a load: where the data came from, under which licence and terms.

Every loader returns one row per collection it read (one row when the source has none). The
licence, citation and terms come from the source's entry in :mod:`covidimg.registry` unless the
collection states its own (a TCIA or IDC collection's licence and DOI).

Examples
--------
>>> from covidimg.sources._engine.provenance import provenance_frame, provenance_row
>>> row = provenance_row("mhh", release="2020-06-18", loaded_from="/data/mhh")
>>> row["license"], row["citation"]
('CC BY 3.0', 'https://doi.org/10.6084/m9.figshare.12275009')
>>> provenance_frame([row])["source"].tolist()
['mhh']
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

import pandas as pd

from covidimg import schema
from covidimg.registry import source_entry
from covidimg.table_paths import redact_credentials

__all__ = ["covidimg_version", "provenance_frame", "provenance_row"]


@lru_cache(maxsize=1)
def covidimg_version() -> str:
    """The installed covidimg version (read once: each look-up scans the installed
    distributions, ~4 ms, and a load writes one provenance row per collection)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("covidimg")
    except PackageNotFoundError:  # run from a source tree that is not installed
        return "unknown"


def _options_json(options: Mapping[str, Any] | None) -> str:
    """The options as JSON (values that are not JSON types as their text; credentials out)."""
    return redact_credentials(json.dumps(dict(options or {}), sort_keys=True, default=str))


def provenance_row(source: str, *, collection: str | None = None, release: str | None = None,
                   license: str | None = None, citation: str | None = None,
                   terms: str | None = None,
                   loaded_from: str | os.PathLike[str] | Iterable[str] | None = None,
                   options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One ``provenance`` row.

    Parameters
    ----------
    source
        The source name.
    collection, release
        The collection within the source and its release, revision or export date.
    license, citation, terms
        The collection's own licence, DOI and terms; the registry's for the source when not
        given.
    loaded_from
        The folder, URL or index read (credentials in URLs are removed).
    options
        The loader options used (stored as JSON).
    """
    entry = source_entry(source)
    if loaded_from is not None and not isinstance(loaded_from, str | os.PathLike):
        loaded_from = ", ".join(str(x) for x in loaded_from)
    return {
        "source": source, "collection": collection, "release": release,
        "license": license or entry.license, "citation": citation or entry.citation or None,
        "terms": terms or entry.terms,
        "loaded_from": None if loaded_from is None else redact_credentials(
            os.fspath(loaded_from)),
        "loaded_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "covidimg_version": covidimg_version(),
        "options": _options_json(options),
    }


def provenance_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """``rows`` (from :func:`provenance_row`) as a conformed ``provenance`` table."""
    rows = list(rows)
    if not rows:
        return schema.empty("provenance")
    return schema.conform("provenance", pd.DataFrame.from_records(rows))
