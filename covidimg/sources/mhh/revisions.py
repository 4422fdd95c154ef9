"""The published revisions of MHH's ``data.csv``, recognised by their content.

The Hannover repository (``github.com/ml-workgroup/covid-19-image-repository``) published
``data.csv`` three times with the same 28 columns; the first upload's date offsets were wrong
(repository issue #6), so which revision a user holds matters and cannot be seen from the
header. The known revisions and where each fact about them comes from are package data
(``covidimg/data/mhh_revisions.json``); :func:`recognise` names the revision of a table by two
signatures:

* ``file_sha256``: the SHA-256 of the file's bytes, as the repository serves it;
* ``content_sha256`` (:func:`content_signature`): the SHA-256 of its rows as values, so a copy
  whose bytes changed but whose values did not is still recognised. The rows are read as
  text (any line ending, with or without a UTF-8 byte-order mark, UTF-8, UTF-16 or Latin-1,
  surrounding spaces stripped: :func:`covidimg.sources._engine.ledger.read_text_table`), each
  numeric cell (offsets, lab values, age, size, weight) is written in one spelling
  (``0``, ``0.0`` and ``0e0`` are one number; ``-inf`` stays ``-inf``), identifiers and codes
  stay as written, and the rows are sorted, so row order does not matter either. A row
  added, removed or changed gives another signature.

Examples
--------
>>> from covidimg.sources.mhh.revisions import REVISIONS
>>> [(r.short, r.date, r.rows, r.superseded_by) for r in REVISIONS]
[('fedd705', '2020-05-12', 172, '4025ea1'), ('4025ea1', '2020-05-28', 183, 'a9842c3'), \
('a9842c3', '2020-07-16', 243, None)]
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass
from importlib import resources
from typing import Literal

import pandas as pd

__all__ = ["REVISIONS", "Recognition", "Revision", "content_signature", "file_signature",
           "recognise"]

#: Bytes read at a time when hashing a file.
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Revision:
    """One published revision of MHH's ``data.csv`` (one entry of the package data).

    Attributes
    ----------
    commit
        The repository commit that uploaded it (40 hex digits).
    date
        The commit's date, ``YYYY-MM-DD``.
    rows, patients
        Its number of rows (images) and of distinct ``patient_id``.
    file_sha256, content_sha256
        Its two signatures (see the module docstring).
    superseded_by
        The short commit of the revision that replaced it, or ``None`` for the current one.
    problem
        What was wrong with it or what changed after it, for the ``superseded_release``
        finding; empty for the current revision.
    facts_from
        Where each fact comes from (field -> source), as the package data records it.
    """

    commit: str
    date: str
    rows: int
    patients: int
    file_sha256: str
    content_sha256: str
    superseded_by: str | None
    problem: str
    facts_from: dict[str, str]

    @property
    def short(self) -> str:
        """The commit's first seven hex digits, as the repository's history shows it."""
        return self.commit[:7]

    @property
    def release(self) -> str:
        """The revision as the cohort's provenance names it: ``"<short commit> (<date>)"``."""
        return f"{self.short} ({self.date})"


def _load_revisions() -> tuple[Revision, ...]:
    text = resources.files("covidimg.data").joinpath("mhh_revisions.json").read_text("utf-8")
    entries = json.loads(text)["revisions"]
    return tuple(Revision(**entry) for entry in entries)


#: The known revisions, oldest first (from ``covidimg/data/mhh_revisions.json``).
REVISIONS: tuple[Revision, ...] = _load_revisions()

#: Columns whose cells are numbers: written in one spelling before hashing.
_NUMERIC = frozenset({"age", "size", "weight"})


def _is_numeric(column: str) -> bool:
    return column in _NUMERIC or column.endswith(("_offset", "_val"))


def _canonical_number(text: str) -> str:
    if text == "":
        return ""
    try:
        value = float(text)
    except ValueError:
        return text
    if math.isnan(value):
        return "nan"
    return repr(value)


def content_signature(table: pd.DataFrame, columns: tuple[str, ...]) -> str:
    """The content signature of an MHH table read as text: SHA-256 of its sorted rows.

    Parameters
    ----------
    table
        The table as :func:`~covidimg.sources._engine.ledger.read_text_table` reads it (every
        cell a stripped string, empty for missing).
    columns
        The columns to hash, in this order (MHH's published header).

    Returns
    -------
    str
        64 hex digits.

    Examples
    --------
    >>> import pandas as pd
    >>> from covidimg.sources.mhh.revisions import content_signature
    >>> a = pd.DataFrame({"image_id": ["x", "y"], "crp_val": ["5", "-inf"]})
    >>> b = pd.DataFrame({"image_id": ["y", "x"], "crp_val": ["-inf", "5.0"]})
    >>> content_signature(a, ("image_id", "crp_val")) == content_signature(
    ...     b, ("image_id", "crp_val"))
    True
    """
    cells = [table[c].map(_canonical_number) if _is_numeric(c) else table[c]
             for c in columns]
    rows = sorted("\x1f".join(values) for values in zip(*cells, strict=True)) if cells else []
    digest = hashlib.sha256("\x1f".join(columns).encode("utf-8"))
    for row in rows:
        digest.update(b"\n" + row.encode("utf-8"))
    return digest.hexdigest()


def file_signature(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of a file's bytes (read in 1 MiB pieces), as 64 hex digits."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Recognition:
    """Which revision a ``data.csv`` is.

    Attributes
    ----------
    revision
        The known revision, or ``None`` when neither signature matches one.
    matched
        ``"file"`` (byte for byte), ``"content"`` (same rows, other bytes) or ``None``.
    file_sha256, content_sha256
        The table's own signatures.
    """

    revision: Revision | None
    matched: Literal["file", "content"] | None
    file_sha256: str
    content_sha256: str

    @property
    def release(self) -> str:
        """The provenance's ``release``: the revision, or ``unknown`` with the hash of its rows
        (:func:`content_signature`: the same for a re-encoded copy)."""
        if self.revision is None:
            return f"unknown (data.csv rows sha256 {self.content_sha256[:16]})"
        return self.revision.release


def recognise(path: str | os.PathLike[str], table: pd.DataFrame,
              columns: tuple[str, ...]) -> Recognition:
    """Name the revision of the ``data.csv`` at ``path``, read as ``table``.

    Parameters
    ----------
    path
        The file (hashed as bytes).
    table
        Its rows as read (see :func:`content_signature`); ``columns`` missing from it make
        the content signature one no revision has.
    columns
        MHH's published header, in order.

    Returns
    -------
    Recognition

    Examples
    --------
    >>> from covidimg.sources import mhh
    >>> from covidimg.sources.mhh.revisions import recognise
    >>> import pandas as pd
    >>> table = pd.read_csv("shared/data/mhh/data.csv", dtype=str,
    ...                     keep_default_na=False)                      # doctest: +SKIP
    >>> recognise("shared/data/mhh/data.csv", table, mhh.COLUMNS).release  # doctest: +SKIP
    'a9842c3 (2020-07-16)'
    """
    file_sha = file_signature(path)
    present = tuple(c for c in columns if c in table.columns)
    content_sha = content_signature(table, present)
    for revision in REVISIONS:
        if revision.file_sha256 == file_sha:
            return Recognition(revision, "file", file_sha, content_sha)
    if present == tuple(columns):
        for revision in REVISIONS:
            if revision.content_sha256 == content_sha:
                return Recognition(revision, "content", file_sha, content_sha)
    return Recognition(None, None, file_sha, content_sha)
