"""How long the analyses the dashboard calls on every filter change take on a large cohort.

Builds a synthetic cohort (5,000 patients, 100,000 images and lab values) in memory and prints,
for each analysis, the median of repeated runs and its ratio to a baseline measured in the same
run (one vectorised pandas group-by over the images table), so the numbers compare across
machines. Run: ``python benchmarks/stats.py``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

import covidimg.plotting as cp
import covidimg.stats as st
from covidimg.cohort import Cohort


def synthetic(n_patients: int = 5000, images_per_patient: int = 20, seed: int = 0) -> Cohort:
    rng = np.random.default_rng(seed)
    uid = np.array([f"mhh:p{i}" for i in range(n_patients)])
    icu = rng.random(n_patients) < 0.4
    died = rng.random(n_patients) < 0.15
    patients = pd.DataFrame({
        "patient_uid": uid, "source": "mhh", "source_patient_id": uid,
        "sex": rng.choice(["F", "M"], n_patients), "covid_status": "positive", "icu": icu,
        "died": died, "age_min": rng.integers(20, 90, n_patients).astype(float), "site": None})
    patients["age_max"] = patients["age_min"]
    n = n_patients * images_per_patient
    pid = np.repeat(uid, images_per_patient)
    day = rng.integers(0, 40, n).astype(float)
    images = pd.DataFrame({
        "image_uid": [f"mhh:i{i}" for i in range(n)], "patient_uid": pid, "source": "mhh",
        "modality": "CR", "view": "AP", "day": day, "admission_offset": -day,
        "icu_admission_offset": np.nan, "icu_release_offset": np.nan, "death_offset": np.nan,
        "path": "/x.png", "format": "png", "study_uid": None, "series_uid": None,
        "n_instances": None, "rows": None, "columns": None})
    icu_day = rng.integers(0, 10, n_patients).astype(float)
    events = pd.concat([
        pd.DataFrame({"patient_uid": uid, "event": "admission", "day": 0.0}),
        pd.DataFrame({"patient_uid": uid[icu], "event": "icu_admission", "day": icu_day[icu]}),
        pd.DataFrame({"patient_uid": uid[icu], "event": "icu_release",
                      "day": icu_day[icu] + 12}),
        pd.DataFrame({"patient_uid": uid[died], "event": "death",
                      "day": 41.0 + rng.integers(0, 5, died.sum())})], ignore_index=True)
    v = np.floor(rng.lognormal(3.5, 1.0, n))
    lo, hi = v.copy(), v + 1
    lo[v < 5], hi[v < 5] = -np.inf, 5
    labs = pd.DataFrame({
        "patient_uid": pid, "image_uid": images["image_uid"], "analyte": "crp", "unit": "mg/L",
        "lower": lo, "upper": hi, "censor": np.where(v < 5, "left", "interval"), "day": day,
        "offset": 0.0, "value_raw": v.astype(str)})
    return Cohort.from_tables({"patients": patients, "images": images, "events": events,
                               "labs": labs})


def median_seconds(func: Callable[[], object], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    cohort = synthetic()
    baseline = median_seconds(
        lambda: cohort.images.groupby("patient_uid")["day"].agg(["min", "max"]))
    cases: dict[str, Callable[[], object]] = {
        "timeline": lambda: st.timeline(cohort),
        "timeline + census figure": lambda: cp.plot_timeline(st.timeline(cohort)),
        "cohort_census + figure (fast path)": lambda: cp.plot_census(st.cohort_census(cohort)),
        "compare_labs (first per patient)": lambda: st.compare_labs(cohort, "crp", by="icu"),
        "compare_labs (all values)": lambda: st.compare_labs(cohort, "crp", by="icu",
                                                             per_patient="all"),
        "kaplan_meier by sex": lambda: st.kaplan_meier(cohort, by="sex"),
        "table_one by icu": lambda: st.table_one(cohort, by="icu"),
        "lab histogram figure": lambda: cp.plot_lab_distribution(
            st.compare_labs(cohort, "crp", by="icu", per_patient="all")),
    }
    print(f"cohort: {len(cohort.patients)} patients, {len(cohort.images)} images, "
          f"{len(cohort.labs)} lab values")
    print(f"baseline (groupby over images): median {baseline * 1000:.1f} ms")
    for name, func in cases.items():
        seconds = median_seconds(func)
        print(f"{name:36s} median {seconds * 1000:8.1f} ms  ratio {seconds / baseline:7.1f}x")


if __name__ == "__main__":
    main()
