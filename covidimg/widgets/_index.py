"""Integer positions and codes of a cohort, computed once, so a filter change is numpy masks.

:class:`FilterIndex` gives the same cohort as :meth:`covidimg.Cohort.filter` (a test checks
it on many criteria) without hashing text on every change: each table's rows know the
position of their patient (and image) in the ``patients`` (``images``) table, and
categorical columns are small integer codes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from covidimg import schema
from covidimg.cohort import Cohort, range_bounds
from covidimg.stats.selection import CohortArrays, Selection

__all__ = ["FilterIndex"]

def _codes(series: pd.Series) -> tuple[np.ndarray, dict[str, int]]:
    codes, uniques = pd.factorize(series.astype(object), use_na_sentinel=True)
    return codes, {str(u): i for i, u in enumerate(uniques)}


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, str | bool) or not hasattr(value, "__iter__"):
        return [value]
    return list(value)


class FilterIndex:
    """Precomputed positions and codes of ``cohort`` for fast, repeated filtering."""

    _PATIENT_CHOICES = ("source", "patient_uid", "sex", "covid_status", "site")
    _IMAGE_CHOICES = ("modality", "view")

    def __init__(self, cohort: Cohort, arrays: CohortArrays | None = None) -> None:
        self.cohort = cohort
        self.arrays = arrays if arrays is not None else CohortArrays(cohort)
        p, i = cohort.patients, cohort.images
        self.n_patients, self.n_images = len(p), len(i)
        self.patient_codes = {c: _codes(p[c]) for c in self._PATIENT_CHOICES}
        self.image_codes = {c: _codes(i[c]) for c in self._IMAGE_CHOICES}
        self.flags = {c: (p[c].astype("boolean").fillna(False).to_numpy(dtype=bool),
                          p[c].isna().to_numpy()) for c in ("icu", "died")}
        self.age_min = p["age_min"].to_numpy(dtype=float)
        self.age_max = p["age_max"].to_numpy(dtype=float)
        self.day = i["day"].to_numpy(dtype=float)
        self.image_patient = self.arrays.image_patient
        labs = cohort.labs
        self.lab_patient = self.arrays.lab_patient
        analyte = labs["analyte"].astype(str).to_numpy()
        lower, upper = labs["lower"].to_numpy(dtype=float), labs["upper"].to_numpy(dtype=float)
        self.lab_rows = {}
        for name in np.unique(analyte):
            rows = np.flatnonzero(analyte == name)
            self.lab_rows[str(name)] = (lower[rows], upper[rows], self.lab_patient[rows])
        self.analytes = set(self.lab_rows) | set(schema.ANALYTES)

    # ------------------------------------------------------------------ masks
    def _choice(self, codes: tuple[np.ndarray, dict[str, int]], wanted: Any, name: str,
                table: str) -> np.ndarray:
        values = _as_list(wanted)
        allowed = schema.TABLES[table].column(name).allowed
        if allowed is not None:
            bad = [v for v in values if v not in allowed]
            if bad:
                raise ValueError(f"filter {name}={wanted!r}: {bad} not allowed; allowed values "
                                 f"are {list(allowed)}")
        array, lookup = codes
        wanted_codes = np.zeros(len(lookup) + 1, dtype=bool)   # the last one: missing (-1)
        wanted_codes[[lookup[str(v)] for v in values if str(v) in lookup]] = True
        return wanted_codes[array]

    def patient_mask(self, criteria: Mapping[str, Any]) -> np.ndarray:
        """Patients matching the patient criteria (before image criteria)."""
        keep = np.ones(self.n_patients, dtype=bool)
        for name in self._PATIENT_CHOICES:
            if criteria.get(name) is not None:
                keep &= self._choice(self.patient_codes[name], criteria[name], name, "patients")
        for name in ("icu", "died"):
            if criteria.get(name) is not None:
                value, missing = self.flags[name]
                keep &= (value == bool(criteria[name])) & ~missing
        if criteria.get("age") is not None:
            low, high = range_bounds(criteria["age"], "age")
            with np.errstate(invalid="ignore"):
                keep &= (self.age_max >= low) & (self.age_min <= high)
        if criteria.get("labs"):
            keep &= self._lab_mask(criteria["labs"], criteria.get("lab_match", "overlap"))
        return keep

    def _lab_mask(self, labs: Mapping[str, Any], lab_match: str) -> np.ndarray:
        if lab_match not in ("overlap", "within"):
            raise ValueError(f"lab_match={lab_match!r}; allowed values are 'overlap', 'within'")
        out = np.ones(self.n_patients, dtype=bool)
        for analyte, bounds in labs.items():
            if analyte not in self.analytes:
                raise ValueError(f"labs: unknown analyte {analyte!r}; known analytes are "
                                 f"{sorted(self.analytes)}")
            low, high = range_bounds(bounds, f"labs[{analyte!r}]")
            empty = np.array([], dtype=float)
            lo, hi, owner = self.lab_rows.get(analyte, (empty, empty, empty.astype(np.int64)))
            with np.errstate(invalid="ignore"):
                if lab_match == "overlap":
                    hit = (lo <= high) & (hi > low)
                else:
                    hit = (lo >= low) & (hi <= high)
            owners = owner[hit]
            found = np.zeros(self.n_patients, dtype=bool)
            found[owners[owners >= 0]] = True
            out &= found
        return out

    def masks(self, criteria: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """``(patients kept, images kept)`` as :meth:`covidimg.Cohort.filter` decides them."""
        patients = self.patient_mask(criteria)
        images = np.zeros(self.n_images, dtype=bool)
        valid = self.image_patient >= 0
        images[valid] = patients[self.image_patient[valid]]
        image_criteria = False
        for name in self._IMAGE_CHOICES:
            if criteria.get(name) is not None:
                image_criteria = True
                images &= self._choice(self.image_codes[name], criteria[name], name, "images")
        if criteria.get("day") is not None:
            image_criteria = True
            low, high = range_bounds(criteria["day"], "day")
            with np.errstate(invalid="ignore"):
                images &= (self.day >= low) & (self.day <= high)
        if image_criteria:
            with_images = np.zeros(self.n_patients, dtype=bool)
            with_images[self.image_patient[images & valid]] = True
            patients &= with_images
        return patients, images

    # ------------------------------------------------------------------ the cohort
    def filter(self, **criteria: Any) -> Cohort:
        """The filtered cohort, equal to ``cohort.filter(**criteria)``."""
        known = {*self._PATIENT_CHOICES, "icu", "died", "age", "labs", "lab_match",
                 *self._IMAGE_CHOICES, "day"}
        unknown = sorted(set(criteria) - known)
        if unknown:
            raise TypeError(f"filter got unknown criteria {unknown}; allowed are "
                            f"{sorted(known)}")
        patients, images = self.masks(criteria)
        return self.restrict(patients, images)

    def selection(self, criteria: Mapping[str, Any]) -> Selection:
        """The :class:`~covidimg.stats.selection.Selection` the criteria make (the whole
        cohort when there are none)."""
        if not criteria:
            return self.arrays.whole()
        patients, images = self.masks(criteria)
        return self.arrays.select(patients, images)

    def restrict(self, patients: np.ndarray, images: np.ndarray) -> Cohort:
        """The cohort of the kept patients and images, and the rows that belong to them."""
        return self.arrays.subset(self.arrays.select(patients, images))
