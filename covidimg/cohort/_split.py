"""Reproducible patient-level train / validation / test splits.

The rule follows NHSX's NCCID warehouse loader, whose ``patient_in_training_set`` puts a
patient in the training set when ``int(sha512(patient_id.strip().upper()).hexdigest(), 16) %
100 < training_percent`` ("a hashing (sha512) to get pseudo-randomisation based on ID, and do
the cut-off with a set percentage"; nhsx/covid-chest-imaging-database on GitHub): the
assignment needs no stored state and a patient keeps its side in every later data release.
Here:

1. Patients linked as the same person (:mod:`covidimg.cohort._links`: equal DICOM UIDs, or
   ``same_patient_as`` / ``same_image_as`` findings) form one group, named by its smallest
   patient uid; a group is split as one patient, so no image of one person is on two sides.
2. Each group gets a number in [0, 1): the first 8 bytes of SHA-512 of ``"<seed>:<group>"``
   as a big-endian integer, divided by 2**64. SHA-512 is the same on every machine and run
   (Python's ``hash`` is not: it changes with ``PYTHONHASHSEED``).
3. Without ``stratify``, the number decides alone: below ``test`` -> test, below ``test +
   validation`` -> validation, else train. A patient's side depends only on its group and the
   seed, so adding patients never moves one; each subgroup gets the fractions approximately
   (the test count of a subgroup of n is binomial: 20 +- 4 of 100 at 0.2).
4. With ``stratify``, each stratum (the first patient's values of the ``stratify`` columns)
   is dealt in the order of the numbers: each group goes to the side furthest below its
   fraction of the groups dealt so far (ties: the side the number gives), so every stratum
   holds its fractions within one group. A patient that already has a side
   (``patients.split``, saved with the cohort and kept by :meth:`~covidimg.Cohort.concat`)
   keeps it and counts for its stratum; only patients without one are dealt. Split a grown
   cohort that carries the earlier split, and no patient changes side.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import pandas as pd

from covidimg import schema

__all__ = ["assign_splits", "hash_fraction"]


def hash_fraction(key: str, seed: int) -> float:
    """A number in [0, 1) from SHA-512 of ``"<seed>:<key>"``: the same on every machine.

    Examples
    --------
    >>> from covidimg.cohort._split import hash_fraction
    >>> round(hash_fraction("mhh:024e7871", 0), 6)
    0.891441
    """
    digest = hashlib.sha512(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def _check_fractions(test: float, validation: float) -> tuple[float, float]:
    for name, value in (("test", test), ("validation", validation)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or \
                not 0.0 <= float(value) < 1.0:
            raise ValueError(f"split: {name}={value!r} is not a fraction in [0, 1); e.g. "
                             "test=0.2, validation=0.1")
    if float(test) + float(validation) >= 1.0:
        raise ValueError(f"split: test + validation = {float(test) + float(validation):g} "
                         "leaves no training patients; use fractions that sum below 1")
    return float(test), float(validation)


def _side(fraction: float, test: float, validation: float) -> str:
    return "test" if fraction < test else "validation" if fraction < test + validation \
        else "train"


def assign_splits(patients: pd.DataFrame, groups: pd.Series, *, test: float,
                  validation: float, seed: int, stratify: Sequence[str] | None,
                  keep_existing: bool) -> pd.Series:
    """The side of every patient, as a categorical of :data:`covidimg.schema.SPLITS`.

    Parameters
    ----------
    patients
        The ``patients`` table.
    groups
        The group of each patient (same order): linked patients share one
        (:func:`covidimg.cohort._links.patient_groups`).
    test, validation
        Fractions of patients (groups) on those sides; the rest is train.
    seed
        Mixed into the hash; another seed gives another split.
    stratify
        ``patients`` columns whose combinations are dealt separately (module docstring).
    keep_existing
        Patients with a side in ``patients.split`` keep it.
    """
    test, validation = _check_fractions(test, validation)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"split: seed={seed!r} must be an int")
    stratify = [stratify] if isinstance(stratify, str) else list(stratify or [])
    for column in stratify:
        if column not in patients.columns:
            raise ValueError(f"split: stratify names {column!r}, not a column of patients; "
                             f"columns are {list(patients.columns)}")
    group = groups.astype(str).to_numpy()
    existing = (patients["split"].astype("string").to_numpy(dtype=object, na_value=None)
                if keep_existing and "split" in patients.columns else [None] * len(patients))
    # One side per group: a side already given to a member (the first in uid order) wins.
    given: dict[str, str] = {}
    for g, side, _uid in sorted(zip(group, existing, patients["patient_uid"].astype(str),
                                   strict=True), key=lambda t: t[2]):
        if side is not None and g not in given:
            given[g] = side
    fractions = {g: hash_fraction(g, int(seed)) for g in dict.fromkeys(group)}
    if not stratify:
        sides = {g: given.get(g) or _side(f, test, validation) for g, f in fractions.items()}
    else:
        strata = patients[stratify].astype("string").fillna("<NA>").agg("\x1f".join, axis=1)
        first_member: dict[str, str] = {}
        for g, stratum, _uid in sorted(zip(group, strata, patients["patient_uid"].astype(str),
                                          strict=True), key=lambda t: t[2]):
            first_member.setdefault(g, stratum)
        target = {"test": test, "validation": validation, "train": 1.0 - test - validation}
        sides = dict(given)
        counts: dict[str, dict[str, int]] = {}
        for g, side in given.items():
            counts.setdefault(first_member[g], dict.fromkeys(target, 0))[side] += 1
        for g in sorted((g for g in fractions if g not in given),
                        key=lambda g: (fractions[g], g)):
            count = counts.setdefault(first_member[g], dict.fromkeys(target, 0))
            dealt = sum(count.values()) + 1
            natural = _side(fractions[g], test, validation)
            deficit = {s: target[s] * dealt - count[s] for s in target if target[s] > 0}
            best = max(deficit.values())
            side = natural if deficit.get(natural, -np.inf) >= best - 1e-12 else max(
                deficit, key=lambda s: (deficit[s], s == natural))
            sides[g] = side
            count[side] += 1
    return pd.Series(pd.Categorical([sides[g] for g in group], categories=list(schema.SPLITS)),
                     index=patients.index, name="split")
