"""Seeded random filter criteria over a cohort's own values, for tests that compare a fast
selection path with ``Cohort.filter``."""

from __future__ import annotations

from typing import Any

import numpy as np

import covidimg as ci


def random_criteria(rng: np.random.Generator, cohort: ci.Cohort) -> dict[str, Any]:
    """Criteria for ``Cohort.filter``: each kind of criterion drawn with some probability,
    choices taken from the values present in ``cohort``."""
    p, i = cohort.patients, cohort.images
    options = {
        "source": sorted(p["source"].astype(str).unique()),
        "sex": sorted(p["sex"].astype(str).unique()),
        "covid_status": sorted(p["covid_status"].astype(str).unique()),
        "modality": sorted(i["modality"].astype(str).unique()),
        "view": sorted(i["view"].astype(str).unique()),
    }
    criteria: dict[str, Any] = {}
    for name, values in options.items():
        if rng.random() < 0.4:
            criteria[name] = list(rng.choice(values, size=rng.integers(1, len(values) + 1),
                                             replace=False))
    for name in ("icu", "died"):
        if rng.random() < 0.3:
            criteria[name] = bool(rng.random() < 0.5)
    if rng.random() < 0.3:
        criteria["day"] = (float(rng.integers(-3, 3)), None if rng.random() < 0.5 else 8.0)
    if rng.random() < 0.3:
        criteria["age"] = (30, 70)
    if rng.random() < 0.4:
        criteria["labs"] = {"crp": (float(rng.integers(0, 100)), None)}
        criteria["lab_match"] = "overlap" if rng.random() < 0.5 else "within"
    return criteria
