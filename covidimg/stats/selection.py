"""Analyses of any selection of one cohort, from arrays computed once for the whole cohort.

A dashboard filters the same cohort over and over. :class:`CohortArrays` turns the cohort into
integer positions and per-patient arrays once; a :class:`Selection` (which patients and which
images are kept, as :meth:`covidimg.Cohort.filter` decides them) is then summarised with numpy
alone: the census of :func:`covidimg.stats.cohort_census`, the lab values of
:func:`covidimg.stats.lab_values` (as counts per distinct interval) and Table 1 of
:func:`covidimg.stats.table_one`, each equal to the general function applied to
``cohort.filter(...)`` (tests check it on many random selections).

Examples
--------
>>> import covidimg as ci
>>> from covidimg.stats.selection import CohortArrays
>>> cohort = ci.load_demo(n_patients=12)                         # doctest: +SKIP
>>> arrays = CohortArrays(cohort)                                # doctest: +SKIP
>>> women = arrays.select(arrays.patient_column("sex") == "F")   # doctest: +SKIP
>>> arrays.census(women).equals(ci.stats.cohort_census(cohort.filter(sex="F")))  # doctest: +SKIP
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from covidimg import schema
from covidimg.stats._common import KEY_EVENTS, UNKNOWN, group_labels, per_group_extreme
from covidimg.stats.distinct import DistinctIntervals
from covidimg.stats.summary import (
    CATEGORICAL,
    FLAGS,
    FirstValues,
    SummaryInputs,
    flag_codes,
    summarise,
)
from covidimg.stats.timeline import CENSUS_EVENTS, census_from_days

if TYPE_CHECKING:
    from covidimg.cohort import Cohort

__all__ = ["NA", "CohortArrays", "LabCounts", "Selection", "row_positions"]

#: Position of a row whose key is missing (``Cohort.filter`` keeps such files and findings
#: with any selection); a key absent from the referenced table is -1.
NA = -2


def row_positions(keys: pd.Series, universe: pd.Series) -> np.ndarray:
    """Position of each key in ``universe``: -1 when absent, :data:`NA` when missing.

    Examples
    --------
    >>> import pandas as pd
    >>> from covidimg.stats.selection import row_positions
    >>> row_positions(pd.Series(["b", None, "z"]), pd.Series(["a", "b"])).tolist()
    [1, -2, -1]
    """
    try:
        keys_arrow = pa.array(keys.astype(object).to_numpy(), from_pandas=True, type=pa.string())
        universe_arrow = pa.array(universe.astype(object).to_numpy(), from_pandas=True,
                                  type=pa.string())
        found = pc.index_in(keys_arrow, value_set=universe_arrow)
        out = np.asarray(found.fill_null(-1), dtype=np.int64)
    except (TypeError, pa.ArrowException):
        index = pd.Index(universe.astype(object).to_numpy())
        out = index.get_indexer(keys.astype(object).to_numpy()).astype(np.int64)
    out[keys.isna().to_numpy()] = NA
    return out


def _follow(positions: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """Rows whose referenced row is kept; rows with a missing key are kept too."""
    out = positions == NA
    present = positions >= 0
    out[present] = kept[positions[present]]
    return out


def _take(frame: pd.DataFrame, keep: np.ndarray) -> pd.DataFrame:
    if keep.all():
        return frame.reset_index(drop=True)
    return frame.iloc[np.flatnonzero(keep)].reset_index(drop=True)


class Selection:
    """Kept patients and images of a :class:`CohortArrays`' cohort, as boolean masks.

    Arrays derived from the masks (kept events and lab rows, key days) are computed on first
    use and shared by every analysis of this selection. ``whole`` marks the cohort itself (no
    criterion), which keeps rows that a filter would drop (lab rows pointing at an image the
    cohort does not hold).
    """

    def __init__(self, arrays: CohortArrays, patients: np.ndarray, images: np.ndarray, *,
                 whole: bool = False) -> None:
        self.arrays = arrays
        self.patients = np.asarray(patients, dtype=bool)
        self.images = np.asarray(images, dtype=bool)
        self.whole = whole
        if self.patients.shape != (arrays.n_patients,) or self.images.shape != (
                arrays.n_images,):
            raise ValueError(f"a selection needs {arrays.n_patients} patient and "
                             f"{arrays.n_images} image flags; got {self.patients.shape} and "
                             f"{self.images.shape}")

    @property
    def n_patients(self) -> int:
        """Number of patients kept."""
        return int(self.patient_index.size)

    @property
    def n_images(self) -> int:
        """Number of images kept."""
        return int(self.image_index.size)

    @cached_property
    def patient_index(self) -> np.ndarray:
        """Rows of ``patients`` kept, in order."""
        return np.flatnonzero(self.patients)

    @cached_property
    def image_index(self) -> np.ndarray:
        """Rows of ``images`` kept, in order."""
        return np.flatnonzero(self.images)

    @cached_property
    def remap(self) -> np.ndarray:
        """Row of the selection of each cohort patient (-1 when not kept), one extra -1 last."""
        out = np.full(self.arrays.n_patients + 1, -1, dtype=np.int64)
        out[self.patient_index] = np.arange(self.patient_index.size)
        return out

    def local(self, positions: np.ndarray) -> np.ndarray:
        """Cohort patient positions as positions among the kept patients (-1: not kept)."""
        return self.remap[np.where(positions >= 0, positions, -1)]

    @cached_property
    def event_rows(self) -> np.ndarray:
        """Events kept (those of kept patients)."""
        a = self.arrays
        if self.whole:
            return np.ones(a.event_patient.size, dtype=bool)
        return _follow(a.event_patient, self.patients) & (a.event_patient != NA)

    @cached_property
    def lab_rows(self) -> np.ndarray:
        """Lab rows kept: of kept patients, and of kept images (or of no image)."""
        a = self.arrays
        if self.whole:
            return np.ones(a.lab_patient.size, dtype=bool)
        keep = _follow(a.lab_patient, self.patients) & (a.lab_patient != NA)
        return keep & _follow(a.lab_image, self.images)

    @cached_property
    def complete(self) -> bool:
        """Every image of every kept patient is kept (no image criterion bit)."""
        a = self.arrays
        if self.whole:
            return True
        return bool(np.array_equal(self.images, a.image_valid & self.patients[
            np.maximum(a.image_patient, 0)]))

    @cached_property
    def cohort(self) -> Cohort:
        """The selection's tables, equal to ``cohort.filter(...)`` (built on first use)."""
        return self.arrays.subset(self)

    @cached_property
    def days(self) -> pd.DataFrame:
        """:func:`covidimg.stats.patient_days` of the selection."""
        a = self.arrays
        idx = self.patient_index
        if self.complete:
            full = a.days_whole if self.whole else a.days_filtered
            return full.iloc[idx] if idx.size != a.n_patients else full
        n = a.n_patients
        im_pos = np.where(self.images, a.image_patient, -1)
        lab_pos = np.where(self.lab_rows, a.lab_patient, -1)
        first_exam = per_group_extreme(im_pos, a.image_day, n, "min")
        last_exam = per_group_extreme(im_pos, a.image_day, n, "max")
        n_exams = np.bincount(im_pos[im_pos >= 0], minlength=n).astype(int)
        first_lab = per_group_extreme(lab_pos, a.lab_day, n, "min")
        last_lab = per_group_extreme(lab_pos, a.lab_day, n, "max")
        with np.errstate(invalid="ignore"):
            first_known = np.fmin(np.fmin(a.event_first, first_exam), first_lab)
            last_known = np.fmax(np.fmax(a.event_last, last_exam), last_lab)
        frame = a.event_days.iloc[idx].copy()
        frame["first_exam"] = first_exam[idx]
        frame["last_exam"] = last_exam[idx]
        frame["n_exams"] = n_exams[idx]
        frame["first_known"] = first_known[idx]
        frame["last_known"] = last_known[idx]
        frame["admission_known"] = frame["admission"].notna()
        return frame


@dataclass(eq=False)
class LabCounts:
    """The values of one analyte in a selection, as counts per group and distinct interval.

    ``values`` has columns ``group``, ``lower``, ``upper``, ``count`` (one row per group and
    interval holding values; ``count`` values fall in it); ``n_values`` and ``n_patients``
    count the values and their patients, as ``len(lab_values(...))`` and its number of
    distinct ``patient_uid``.
    """

    analyte: str
    unit: str
    values: pd.DataFrame
    n_values: int
    n_patients: int


class _Analyte:
    """The lab rows of one analyte, their distinct intervals, and how to pick per patient."""

    def __init__(self, rows: np.ndarray, arrays: CohortArrays) -> None:
        self.rows = rows
        self.patient = arrays.lab_patient[rows]
        self.key = arrays.lab_key[rows]               # patient_uid's rank, text order
        self.day = arrays.lab_day[rows]
        self.lower = arrays.lab_lower[rows]
        self.upper = arrays.lab_upper[rows]
        self.distinct = DistinctIntervals.of(self.lower, self.upper)
        # each distinct draw (a draw repeated on several exams is one), with its interval,
        # patient and patient_uid rank, which all its rows share
        _ids, draw = np.unique(arrays.lab_draw[rows], return_inverse=True)
        self.draw = draw.ravel().astype(np.int64)
        n_draws = int(self.draw.max(initial=-1)) + 1
        first = np.full(n_draws, rows.size, dtype=np.int64)
        np.minimum.at(first, self.draw, np.arange(rows.size))
        self.draw_interval = self.distinct.code[first]
        self.draw_patient = self.patient[first]
        self.draw_key = self.key[first]
        # rows by patient, then day (missing days last), then original order
        self.first_order = np.lexsort((np.arange(rows.size), self.day, self.key))


class CohortArrays:
    """A cohort as positions and per-patient arrays, for fast analyses of its selections.

    Parameters
    ----------
    cohort
        The cohort (not modified; keep it unchanged while these arrays are used).

    Attributes
    ----------
    image_patient, event_patient, lab_patient, lab_image, file_image, finding_patient
        Position of each row's patient (image) in ``patients`` (``images``); -1 absent,
        :data:`NA` missing.
    """

    def __init__(self, cohort: Cohort) -> None:
        self.cohort = cohort
        p, i, e, labs = cohort.patients, cohort.images, cohort.events, cohort.labs
        self.n_patients, self.n_images = len(p), len(i)
        self.patient_uid = p["patient_uid"].astype(str).to_numpy(dtype=object)
        self.image_patient = row_positions(i["patient_uid"], p["patient_uid"])
        self.image_valid = self.image_patient >= 0
        self.event_patient = row_positions(e["patient_uid"], p["patient_uid"])
        self.lab_patient = row_positions(labs["patient_uid"], p["patient_uid"])
        self.lab_image = row_positions(labs["image_uid"], i["image_uid"])
        self.image_day = i["day"].to_numpy(dtype=float)
        self.event_day = e["day"].to_numpy(dtype=float)
        self.lab_day = labs["day"].to_numpy(dtype=float)
        self.lab_lower = labs["lower"].to_numpy(dtype=float)
        self.lab_upper = labs["upper"].to_numpy(dtype=float)
        kind = e["event"].astype(str).to_numpy()
        self.event_is = {name: kind == name for name in {*KEY_EVENTS, *CENSUS_EVENTS}}
        self._event_key_days()
        self.days_whole = self._days(np.ones(labs.shape[0], dtype=bool))
        self.days_filtered = self._days(self.lab_image != -1)
        analyte = labs["analyte"].astype(object).where(labs["analyte"].notna())
        self.lab_analyte, names = pd.factorize(analyte.to_numpy(dtype=object), sort=True)
        self.analyte_names = [str(n) for n in names]
        key, _uids = pd.factorize(labs["patient_uid"].astype(str).to_numpy(dtype=object),
                                  sort=True)
        self.lab_key = np.asarray(key, dtype=np.int64)
        self.lab_unit = labs["unit"].astype(str).to_numpy(dtype=object)
        draws = pd.DataFrame({"a": self.lab_analyte, "p": self.lab_key, "d": self.lab_day,
                              "lo": self.lab_lower, "hi": self.lab_upper})
        self.lab_draw = draws.groupby(["a", "p", "d", "lo", "hi"], sort=False,
                                      dropna=False).ngroup().to_numpy(dtype=np.int64)
        self._analytes: dict[str, _Analyte] = {}
        self._groups: dict[str | None, tuple[np.ndarray, list[str]]] = {}
        self._categorical = {}
        for column, _label in CATEGORICAL:
            values = p[column].astype(object).where(p[column].notna())
            if column == "sex":
                values = values.where(values != "U")
            codes, levels = pd.factorize(values.to_numpy(dtype=object), sort=True)
            self._categorical[column] = (np.asarray(codes), [str(v) for v in levels])
        self._flags = {column: flag_codes(p[column]) for column, _label in FLAGS}
        self._age = ((p["age_min"] + p["age_max"]) / 2).to_numpy(dtype=float)
        codes, levels = pd.factorize(i["modality"].astype(object), sort=True)
        self._modality = (np.asarray(codes), [str(v) for v in levels])

    @cached_property
    def file_image(self) -> np.ndarray:
        """Position of each file's image (computed on first use: a cohort opened from disk
        reads its ``files`` table only when asked)."""
        c = self.cohort
        return row_positions(c.files["image_uid"], c.images["image_uid"])

    @cached_property
    def finding_patient(self) -> np.ndarray:
        """Position of each finding's patient (computed on first use)."""
        c = self.cohort
        return row_positions(c.findings["patient_uid"], c.patients["patient_uid"])

    # ------------------------------------------------------------------ selections
    def whole(self) -> Selection:
        """The cohort itself (no criterion)."""
        return Selection(self, np.ones(self.n_patients, dtype=bool),
                         np.ones(self.n_images, dtype=bool), whole=True)

    def select(self, patients: np.ndarray, images: np.ndarray | None = None) -> Selection:
        """The selection of ``patients`` (flags per patient) and ``images`` (default: every
        image of those patients), as a filter returns it."""
        patients = np.asarray(patients, dtype=bool)
        if images is None:
            images = self.image_valid & patients[np.maximum(self.image_patient, 0)]
        return Selection(self, patients, images)

    def subset(self, selection: Selection, tables: Sequence[str] | None = None) -> Cohort:
        """The cohort of the selected patients and images, and the rows that belong to them.

        ``tables`` names the tables to fill (default: all six); the others stay empty, which
        saves time when an analysis reads only some (e.g. a timeline: no files or findings).
        """
        from covidimg.cohort import Cohort

        c = self.cohort
        if selection.whole and tables is None:
            return c
        rows = {"patients": lambda: selection.patients, "images": lambda: selection.images,
                "events": lambda: selection.event_rows, "labs": lambda: selection.lab_rows,
                "files": lambda: _follow(self.file_image, selection.images),
                "findings": lambda: self.finding_rows(selection)}
        names = list(rows) if tables is None else list(tables)
        unknown = sorted(set(names) - set(rows))
        if unknown:
            raise ValueError(f"tables: unknown tables {unknown}; allowed values are {list(rows)}")
        return Cohort(**{name: _take(getattr(c, name), rows[name]()) for name in names})

    def finding_rows(self, selection: Selection) -> np.ndarray:
        """Findings kept: of kept patients, or of no patient."""
        if selection.whole:
            return np.ones(self.finding_patient.size, dtype=bool)
        return _follow(self.finding_patient, selection.patients)

    def patient_column(self, column: str) -> np.ndarray:
        """A column of ``patients`` as a numpy array (for building selections)."""
        return self.cohort.patients[column].to_numpy(dtype=object)

    # ------------------------------------------------------------------ key days
    def _event_key_days(self) -> None:
        n, pos, day = self.n_patients, self.event_patient, self.event_day
        columns = {name: per_group_extreme(pos[self.event_is[name]], day[self.event_is[name]], n,
                                 "max" if name == "icu_release" else "min")
                   for name in KEY_EVENTS}
        self.event_days = pd.DataFrame(columns, index=pd.Index(self.patient_uid,
                                                                name="patient_uid"))
        self.event_first = per_group_extreme(pos, day, n, "min")
        self.event_last = per_group_extreme(pos, day, n, "max")

    def _days(self, lab_rows: np.ndarray) -> pd.DataFrame:
        n = self.n_patients
        im_pos = self.image_patient
        lab_pos = np.where(lab_rows, self.lab_patient, -1)
        frame = self.event_days.copy()
        frame["first_exam"] = per_group_extreme(im_pos, self.image_day, n, "min")
        frame["last_exam"] = per_group_extreme(im_pos, self.image_day, n, "max")
        frame["n_exams"] = np.bincount(im_pos[im_pos >= 0], minlength=n).astype(int)
        with np.errstate(invalid="ignore"):
            frame["first_known"] = np.fmin(np.fmin(self.event_first, frame["first_exam"]),
                                           per_group_extreme(lab_pos, self.lab_day, n, "min"))
            frame["last_known"] = np.fmax(np.fmax(self.event_last, frame["last_exam"]),
                                          per_group_extreme(lab_pos, self.lab_day, n, "max"))
        frame["admission_known"] = frame["admission"].notna()
        return frame

    # ------------------------------------------------------------------ analyses
    def census(self, selection: Selection, align: str = "admission", *,
               unaligned: str = "drop") -> pd.DataFrame:
        """:func:`covidimg.stats.cohort_census` of the selection."""
        ev = selection.event_rows
        return census_from_days(
            selection.days, selection.local(self.event_patient[ev]), self.event_day[ev],
            {name: self.event_is[name][ev] for name in CENSUS_EVENTS},
            selection.local(self.image_patient[selection.images]),
            self.image_day[selection.images], align, unaligned=unaligned)

    def groups(self, by: str | None) -> tuple[np.ndarray, list[str]]:
        """Each patient's group (:func:`covidimg.stats.group_labels`) as codes and names."""
        if by not in self._groups:
            codes, names = pd.factorize(group_labels(self.cohort.patients, by).to_numpy(
                dtype=object))
            self._groups[by] = (np.asarray(codes), [str(n) for n in names])
        return self._groups[by]

    def analyte(self, name: str) -> _Analyte:
        """The lab rows of analyte ``name`` (computed on first use)."""
        if name not in self._analytes:
            code = self.analyte_names.index(name) if name in self.analyte_names else -3
            self._analytes[name] = _Analyte(np.flatnonzero(self.lab_analyte == code), self)
        return self._analytes[name]

    def _first_rows(self, a: _Analyte, keep: np.ndarray) -> np.ndarray:
        """Rows (of ``a``) of each patient's first kept value, in patient_uid order."""
        ordered = a.first_order[keep[a.first_order]]
        key = a.key[ordered]
        first = np.r_[True, key[1:] != key[:-1]] if key.size else np.array([], dtype=bool)
        return ordered[first]

    def measured(self, selection: Selection) -> list[str]:
        """Analytes with a value in the selection, sorted."""
        rows = selection.lab_rows
        present = np.bincount(self.lab_analyte[rows & (self.lab_analyte >= 0)],
                              minlength=len(self.analyte_names)) > 0
        return [n for n, p in zip(self.analyte_names, present, strict=True) if p]

    def _unit(self, name: str, a: _Analyte, rows: np.ndarray) -> str:
        info = schema.ANALYTES.get(name)
        if info:
            return info.unit
        return str(self.lab_unit[a.rows[rows[0]]]) if rows.size else ""

    def lab_counts(self, selection: Selection, analyte: str, *, by: str | None = None,
                   per_patient: str = "all") -> LabCounts:
        """The values :func:`covidimg.stats.lab_values` gives for the selection, as counts.

        Draws repeated on several exams count once (``dedupe=True``).
        """
        allowed = ("all", "first", "peak")
        if per_patient not in allowed:
            raise ValueError(f"per_patient={per_patient!r}; allowed values are {list(allowed)}")
        known = set(self.analyte_names) | set(schema.ANALYTES)
        if analyte not in known:
            raise ValueError(f"analyte={analyte!r} is unknown; analytes measured in this "
                             f"cohort are {self.analyte_names}, the schema knows "
                             f"{sorted(schema.ANALYTES)}")
        a = self.analyte(analyte)
        keep = selection.lab_rows[a.rows]
        codes, names = self.groups(by)
        unknown = np.int64(len(names))
        label_of = np.array([*names, UNKNOWN], dtype=object)
        if per_patient == "all":
            present = np.flatnonzero(np.bincount(a.draw[keep], minlength=a.draw_key.size))
            lower, upper = a.distinct.lower, a.distinct.upper
            interval, patient = a.draw_interval[present], a.draw_patient[present]
            keys = a.draw_key[present]
            rows = np.flatnonzero(keep)[:1]         # the first value lab_values keeps
            n_values = int(present.size)
        elif per_patient == "first":
            rows = self._first_rows(a, keep)
            lower, upper = a.distinct.lower, a.distinct.upper
            interval = a.distinct.code[rows]
        else:
            chosen = np.flatnonzero(keep)
            key = a.key[chosen]
            peaks = pd.DataFrame({"k": key, "lo": a.lower[chosen], "hi": a.upper[chosen],
                                  "r": chosen}).groupby("k", sort=False).agg(
                lo=("lo", "max"), hi=("hi", "max"), r=("r", "first"))
            rows = peaks["r"].to_numpy(dtype=np.int64)
            distinct = DistinctIntervals.of(peaks["lo"].to_numpy(), peaks["hi"].to_numpy())
            lower, upper, interval = distinct.lower, distinct.upper, distinct.code
        if per_patient != "all":
            patient, keys, n_values = a.patient[rows], a.key[rows], int(rows.size)
        group = np.where(patient >= 0, codes[np.maximum(patient, 0)], unknown)
        n_codes = lower.size
        counts = np.bincount(group * n_codes + interval,
                             minlength=(len(names) + 1) * n_codes).reshape(len(names) + 1,
                                                                           n_codes)
        g, j = np.nonzero(counts)
        values = pd.DataFrame({"group": label_of[g], "lower": lower[j], "upper": upper[j],
                               "count": counts[g, j]})
        n_patients = int(np.count_nonzero(np.bincount(keys, minlength=1)))
        # the unit of the row lab_values puts first (its text order for "first" values)
        if rows.size:
            head = rows[0] if per_patient == "first" else rows.min()
            unit = str(self.lab_unit[a.rows[head]])
        else:
            unit = self._unit(analyte, a, rows)
        return LabCounts(analyte=analyte, unit=unit, values=values, n_values=n_values,
                         n_patients=n_patients)

    def table_one(self, selection: Selection, by: str | None = None) -> pd.DataFrame:
        """:func:`covidimg.stats.table_one` of the selection (every measured analyte)."""
        idx, images = selection.patient_index, selection.image_index
        codes, names = self.groups(by)
        days = selection.days
        labs = {}
        for name in self.measured(selection):
            a = self.analyte(name)
            rows = self._first_rows(a, selection.lab_rows[a.rows])
            labs[name] = FirstValues(
                a.distinct.lower, a.distinct.upper, a.distinct.code[rows],
                selection.local(a.patient[rows]), self._unit(name, a, rows))
        modality_codes, modality_levels = self._modality
        inputs = SummaryInputs(
            by=by, group_codes=codes[idx], group_names=names,
            categorical={c: (v[idx], levels) for c, (v, levels) in self._categorical.items()},
            flags={c: v[idx] for c, v in self._flags.items()}, age=self._age[idx],
            n_exams=days["n_exams"].to_numpy(dtype=float),
            last_known=days["last_known"].to_numpy(dtype=float),
            admission=days["admission"].to_numpy(dtype=float),
            image_patient=selection.local(self.image_patient[images]),
            modality=(modality_codes[images], modality_levels), labs=labs)
        return summarise(inputs)
