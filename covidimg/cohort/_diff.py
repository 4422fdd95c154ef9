"""Release drift: what changed between two cohorts (two releases of a source, two loads).

Rows are matched on their table's key (``patients.patient_uid``, ``images.image_uid``,
``annotations.annotation_uid``); tables without one on their natural key plus the row's rank
within it (``events``: patient, event; ``labs``: patient, image, analyte; ``observations``:
patient, field; ranked by ``day``, so the n-th CRP of an exam meets the n-th). A row of one
side only is added or removed; a matched row's cells that differ are changed (numbers equal
within 1e-9, missing equals missing). Columns that say where files are (``path``,
``preview_path``) differ whenever the folders do, so they are left out unless asked for.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from covidimg._validation import check_choice
from covidimg.cohort._model import Cohort
from covidimg.cohort._storage import is_saved_cohort

__all__ = ["DIFF_TABLES", "CohortDiff", "diff"]

#: Tables compared, and the columns (before the rank) that match their rows.
DIFF_TABLES: dict[str, tuple[str, ...]] = {
    "patients": ("patient_uid",),
    "images": ("image_uid",),
    "events": ("patient_uid", "event"),
    "labs": ("patient_uid", "image_uid", "analyte"),
    "observations": ("patient_uid", "field"),
    "annotations": ("annotation_uid",),
}
_RANKED = ("events", "labs", "observations")
_LOCATION = ("path", "preview_path")


def _frame(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="string") for c in columns})


@dataclass(eq=False)
class CohortDiff:
    """What changed from an old cohort to a new one.

    Attributes
    ----------
    added, removed
        ``table``, ``key``: rows only in the new (old) cohort; ``key`` is the row's key
        values joined by `` / `` (with the rank, ``#n``, for ranked tables).
    changed
        ``table``, ``key``, ``column``, ``old``, ``new``: one row per differing cell, the
        values as text.
    """

    added: pd.DataFrame = field(default_factory=lambda: _frame(["table", "key"]))
    removed: pd.DataFrame = field(default_factory=lambda: _frame(["table", "key"]))
    changed: pd.DataFrame = field(default_factory=lambda: _frame(
        ["table", "key", "column", "old", "new"]))

    def summary(self) -> pd.DataFrame:
        """Rows added and removed and cells changed, per table."""
        parts = {"added": self.added.groupby("table").size(),
                 "removed": self.removed.groupby("table").size(),
                 "cells_changed": self.changed.groupby("table").size()}
        table = pd.DataFrame(parts).reindex(list(DIFF_TABLES)).fillna(0).astype(int)
        table.index.name = "table"
        return table[(table != 0).any(axis=1)]

    def __repr__(self) -> str:
        return (f"<CohortDiff: {len(self.added)} rows added, {len(self.removed)} removed, "
                f"{len(self.changed)} cells changed>")


def _as_cohort(value: Cohort | str | os.PathLike[str], name: str) -> Cohort:
    if isinstance(value, Cohort):
        return value
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"diff: {name} must be a Cohort, a saved cohort folder or a source "
                        f"folder; got {type(value).__name__}")
    if is_saved_cohort(Path(value)):
        return Cohort.open(value, lazy=())
    from covidimg.cohort._load import load

    return load(value, progress=False)


def _keyed(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    keys = list(DIFF_TABLES[table])
    out = frame.reset_index(drop=True)
    text = out[keys].astype("string").fillna("<NA>")
    key = text.agg(" / ".join, axis=1) if len(out) else pd.Series([], dtype="string")
    if table in _RANKED:
        order = out.sort_values([*keys, "day"], kind="stable", na_position="last").index
        rank = pd.Series(0, index=out.index)
        rank.loc[order] = text.loc[order].groupby(keys, sort=False).cumcount().to_numpy()
        key = key + " #" + (rank + 1).astype(str)
    return out.set_index(pd.Index(key.astype(str), name="key"))


def _text(values: pd.Series) -> pd.Series:
    return values.astype("string").fillna("<NA>")


def _differs(old: pd.Series, new: pd.Series) -> np.ndarray:
    missing_old, missing_new = old.isna().to_numpy(), new.isna().to_numpy()
    numeric = pd.api.types.is_numeric_dtype(old) and pd.api.types.is_numeric_dtype(new) and \
        not pd.api.types.is_bool_dtype(old)
    if numeric:
        a = old.to_numpy(dtype=float, na_value=np.nan)
        b = new.to_numpy(dtype=float, na_value=np.nan)
        with np.errstate(invalid="ignore"):
            same = np.isclose(a, b, rtol=0, atol=1e-9) | (a == b)
    else:
        same = (_text(old) == _text(new)).to_numpy(dtype=bool)
    return ~(same | (missing_old & missing_new))


def diff(old: Cohort | str | os.PathLike[str], new: Cohort | str | os.PathLike[str], *,
         tables: Sequence[str] | None = None, locations: bool = False) -> CohortDiff:
    """Compare two cohorts: rows added, removed, and cells changed (key-matched).

    Parameters
    ----------
    old, new
        Cohorts, folders saved with :meth:`Cohort.save`, or source folders (loaded with
        :func:`covidimg.load`), e.g. two releases of one source.
    tables
        Tables to compare; default all of :data:`DIFF_TABLES`.
    locations
        Also compare the columns that say where files are (``path``, ``preview_path``).

    Returns
    -------
    CohortDiff

    Examples
    --------
    >>> import covidimg as ci
    >>> old = ci.load_demo(n_patients=6, sources=["mhh"])
    >>> new = ci.Cohort.concat([old])
    >>> new.images = new.images.assign(view=new.images["view"].where(
    ...     new.images.index != 0, "LAT"))
    >>> ci.diff(old, new).changed[["table", "column", "new"]].values.tolist()
    [['images', 'view', 'LAT']]
    """
    chosen = list(DIFF_TABLES) if tables is None else [tables] if isinstance(tables, str) \
        else list(tables)
    for name in chosen:
        check_choice(name, tuple(DIFF_TABLES), "tables")
    before, after = _as_cohort(old, "old"), _as_cohort(new, "new")
    added, removed, changed = [], [], []
    for name in chosen:
        a, b = _keyed(getattr(before, name), name), _keyed(getattr(after, name), name)
        only_new = b.index.difference(a.index)
        only_old = a.index.difference(b.index)
        added.append(pd.DataFrame({"table": name, "key": only_new.astype(str)}))
        removed.append(pd.DataFrame({"table": name, "key": only_old.astype(str)}))
        common = a.index.intersection(b.index)
        if not len(common):
            continue
        a, b = a.loc[common], b.loc[common]
        columns = [c for c in a.columns if c in b.columns and c not in DIFF_TABLES[name]
                   and (locations or c not in _LOCATION)]
        for column in columns:
            mask = _differs(a[column], b[column])
            if mask.any():
                changed.append(pd.DataFrame({
                    "table": name, "key": common[mask].astype(str), "column": column,
                    "old": _text(a[column][mask]).to_numpy(),
                    "new": _text(b[column][mask]).to_numpy()}))
    out = CohortDiff()
    if added:
        out.added = pd.concat([out.added, *added], ignore_index=True).astype("string")
    if removed:
        out.removed = pd.concat([out.removed, *removed], ignore_index=True).astype("string")
    if changed:
        out.changed = pd.concat([out.changed, *changed], ignore_index=True).astype("string")
    return out
