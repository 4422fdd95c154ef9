"""How fast a filter change updates every dashboard view, on a 100,000-image cohort.

By default the cohort is the demo cohort tiled to 100,000 images with
:func:`covidimg.demo.large.large_cohort` (every source's quirks, ~45,000 patients, ~200,000 lab
values); its image rows keep pointing at the demo's real files, so the gallery renders real
thumbnails through :mod:`covidimg.imaging` (the thumbnail cache is warmed once first, as in a
session where the images have been seen). ``--cohort synthetic`` builds a simpler generated
cohort instead (5,000 patients with 20 images each). It creates
``Dashboard(cohort)`` and applies a sequence of realistic filter changes the way a user does,
by setting the controls' values (toggle buttons, yes/no/any switches, sliders), and times each
change until every view (timeline, labs, gallery, summary; hidden tabs included) has been
updated server side, and checks after each change (untimed) that every view shows the new
selection. Prints the median and 95th percentile, and the ratio to a baseline measured in the
same run: a bare ``cohort.filter(...)`` call with the same criteria. Then, per view, the time
each view's own update takes for the same selections (each view redrawn alone), and what
building the filtered cohort's tables costs (``CohortFilter.filtered``, built on first access;
the views do not need it). Nothing is cached between changes: every change builds a new
selection and every view recomputes from it.

Run: ``python benchmarks/interaction.py [--images 100000] [--rounds 3]
[--cohort tiled|synthetic]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
from _common import machine

import covidimg as ci
from covidimg.cohort import Cohort, Selection
from covidimg.demo.large import large_cohort as tiled_cohort
from covidimg.imaging import thumbnails
from covidimg.widgets import Dashboard

SOURCES = ("mhh", "nccid", "crdw", "midrc", "tcia")


def large_cohort(n_patients: int = 5000, images_per_patient: int = 20, seed: int = 0,
                 image_files: pd.DataFrame | None = None) -> Cohort:
    """A synthetic cohort of ``n_patients * images_per_patient`` images, built in memory.

    ``image_files`` (an ``images`` table, e.g. the demo's) gives real files the rows point at,
    cycled; otherwise paths are placeholders that the gallery shows as unreadable.
    """
    rng = np.random.default_rng(seed)
    source = rng.choice(SOURCES, n_patients)
    uid = np.char.add(np.char.add(source.astype(str), ":p"), np.arange(n_patients).astype(str))
    icu = rng.random(n_patients) < 0.35
    died = rng.random(n_patients) < 0.15
    age = rng.integers(18, 95, n_patients).astype(float)
    banded = rng.random(n_patients) < 0.3          # some sources publish age bands
    redacted = source == "mhh"
    patients = pd.DataFrame({
        "patient_uid": uid, "source": source, "source_patient_id": uid,
        "sex": rng.choice(["F", "M", "U"], n_patients, p=[0.45, 0.5, 0.05]),
        "covid_status": rng.choice(["positive", "negative", "unknown"], n_patients,
                                   p=[0.7, 0.2, 0.1]),
        "icu": pd.array(np.where(rng.random(n_patients) < 0.05, None, icu), dtype="boolean"),
        "died": pd.array(died, dtype="boolean"),
        "age_min": np.where(redacted, np.nan, np.where(banded, age // 10 * 10, age)),
        "age_max": np.where(redacted, np.nan, np.where(banded, age // 10 * 10 + 9, age)),
        "site": np.char.add("site-", rng.integers(0, 12, n_patients).astype(str))})
    n = n_patients * images_per_patient
    pid = np.repeat(uid, images_per_patient)
    psource = np.repeat(source, images_per_patient)
    day = rng.integers(-3, 40, n).astype(float)
    modality = rng.choice(["CR", "DX", "CT"], n, p=[0.5, 0.4, 0.1])
    view = np.where(modality == "CT", "AXIAL", rng.choice(["AP", "PA", "LAT"], n,
                                                           p=[0.6, 0.3, 0.1]))
    images = pd.DataFrame({
        "image_uid": np.char.add(np.char.add(psource.astype(str), ":i"),
                                 np.arange(n).astype(str)),
        "patient_uid": pid, "source": psource, "modality": modality, "view": view, "day": day,
        "admission_offset": -day, "icu_admission_offset": np.nan, "icu_release_offset": np.nan,
        "death_offset": np.nan, "study_uid": None, "series_uid": None,
        "n_instances": np.where(modality == "CT", 40, 1), "rows": 512, "columns": 512})
    if image_files is not None and len(image_files):
        pick = np.arange(n) % len(image_files)
        for column in ("path", "format", "preview_path", "n_instances", "modality", "view"):
            if column in image_files.columns:
                images[column] = image_files[column].to_numpy()[pick]
    else:
        images["path"], images["format"] = "/nonexistent/image.png", "png"
    icu_day = rng.integers(0, 10, n_patients).astype(float)
    events = pd.concat([
        pd.DataFrame({"patient_uid": uid, "event": "admission", "day": 0.0}),
        pd.DataFrame({"patient_uid": uid[icu], "event": "icu_admission", "day": icu_day[icu]}),
        pd.DataFrame({"patient_uid": uid[icu], "event": "icu_release",
                      "day": icu_day[icu] + rng.integers(3, 20, icu.sum())}),
        pd.DataFrame({"patient_uid": uid[died], "event": "death",
                      "day": 30.0 + rng.integers(0, 15, died.sum())}),
        pd.DataFrame({"patient_uid": uid[~died], "event": "discharge",
                      "day": 20.0 + rng.integers(0, 25, (~died).sum())})], ignore_index=True)
    lab_parts = []
    for analyte, unit, mu, sigma, limit in (("crp", "mg/L", 3.5, 1.0, 1.0),
                                            ("ldh", "U/L", 5.8, 0.4, 50.0),
                                            ("d_dimer", "mg/L", 0.0, 1.0, 0.1)):
        m = n // 3
        draw = rng.integers(0, n, m)
        v = np.round(rng.lognormal(mu, sigma, m), 1)
        lo, hi = v.copy(), v + 0.1
        below = v < limit
        lo[below], hi[below] = -np.inf, limit
        lab_parts.append(pd.DataFrame({
            "patient_uid": pid[draw], "image_uid": images["image_uid"].to_numpy()[draw],
            "analyte": analyte, "unit": unit, "lower": lo, "upper": hi,
            "censor": np.where(below, "left", "interval"), "day": day[draw], "offset": 0.0,
            "value_raw": v.astype(str)}))
    labs = pd.concat(lab_parts, ignore_index=True)
    flagged = rng.choice(n_patients, n_patients // 20, replace=False)
    findings = pd.DataFrame({
        "kind": rng.choice(["duplicate_exam", "remapped_patient", "unparseable_value"],
                           len(flagged)),
        "source": source[flagged], "patient_uid": uid[flagged], "image_uid": None,
        "path": None, "detail": "synthetic finding"})
    return Cohort.from_tables({"patients": patients, "images": images, "events": events,
                               "labs": labs, "findings": findings})


def changes(dashboard: Dashboard) -> list[tuple[str, Callable[[], None]]]:
    """Filter changes as a user makes them: press a button, move a slider, reset."""
    c = dashboard.filter.controls
    buttons = {name: dict(zip(c[name].options, c[name]._buttons, strict=True))
               for name in ("sex", "source", "modality", "view", "covid_status")}

    def press(name: str, value: str, on: bool = True) -> Callable[[], None]:
        def act() -> None:
            buttons[name][value].value = on
        return act

    def choose(name: str, value: str) -> Callable[[], None]:
        def act() -> None:
            c[name].buttons.value = value
        return act

    def slide(name: str, lo: float | None, hi: float | None) -> Callable[[], None]:
        def act() -> None:
            control = c[name]
            control.slider.value = (control.low if lo is None else lo,
                                    control.high if hi is None else hi)
        return act

    return [
        ("sex F", press("sex", "F")),
        ("ICU yes", choose("icu", "yes")),
        ("modality CR", press("modality", "CR")),
        ("+ modality DX", press("modality", "DX")),
        ("age 40-70", slide("age", 40, 70)),
        ("day 0-10", slide("day", 0, 10)),
        ("CRP >= 100", slide("lab:crp", 100, None)),
        ("source nccid", press("source", "nccid")),
        ("died yes", choose("died", "yes")),
        ("CRP any", slide("lab:crp", None, None)),
        ("source any", press("source", "nccid", False)),
        ("sex F off", press("sex", "F", False)),
        ("sex M", press("sex", "M")),
        ("reset", dashboard.filter.reset),
        ("view PA", press("view", "PA")),
        ("COVID negative", press("covid_status", "negative")),
        ("day -3-5", slide("day", None, 5)),
        ("reset", dashboard.filter.reset),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cohort", choices=("tiled", "synthetic"), default="tiled")
    args = parser.parse_args()
    setup = machine()
    with tempfile.TemporaryDirectory() as cache:
        os.environ["COVIDIMG_CACHE"] = cache
        demo = ci.load_demo()
        thumbnails(demo.images, size=160, use_preview=True, progress=False)   # warm cache
        if args.cohort == "tiled":
            cohort = tiled_cohort(args.images, base=demo)
            for column in ("path", "preview_path"):   # the copies show the demo's own files
                cohort.images[column] = cohort.images[column].str.replace(
                    r"~\d+$", "", regex=True)
        else:
            cohort = large_cohort(5000, max(args.images // 5000, 1), image_files=demo.images)
        print(f"cohort: {len(cohort.patients):,} patients, {len(cohort.images):,} images, "
              f"{len(cohort.labs):,} lab values, {len(cohort.events):,} events")
        start = time.perf_counter()
        dashboard = Dashboard(cohort)
        print(f"Dashboard(cohort) built in {time.perf_counter() - start:.2f} s")
        update_times, baseline_times, names = [], [], []
        views: dict[str, list[float]] = {type(v).__name__: [] for v in dashboard.views}
        tables_times = []
        for _round in range(args.rounds):
            for name, act in changes(dashboard):
                start = time.perf_counter()
                act()                                    # the widgets' own update path
                dashboard.refresh()     # and every hidden tab's view, as before they waited
                update_times.append(time.perf_counter() - start)
                check_views(dashboard)
                criteria = dashboard.filter.criteria
                start = time.perf_counter()
                expected = cohort.filter(**criteria)
                baseline_times.append(time.perf_counter() - start)
                names.append(name)
                selection = dashboard.filter.selection
                for view in dashboard.views:             # each view alone, from the masks
                    fresh = Selection(selection.arrays, selection.patients, selection.images,
                                      whole=selection.whole)
                    start = time.perf_counter()
                    with view.hold_sync():
                        view.update_selection(fresh)
                    views[type(view).__name__].append(time.perf_counter() - start)
                start = time.perf_counter()
                filtered = dashboard.filter.filtered
                tables_times.append(time.perf_counter() - start)
                assert len(filtered.patients) == len(expected.patients)
                assert len(filtered.labs) == len(expected.labs)
        assert dashboard.timeline.figure.layout.meta["n_patients"] == len(cohort.patients)
        per_change = pd.DataFrame({"change": names, "ms": np.array(update_times) * 1000})
        print(per_change.groupby("change", sort=False)["ms"].median().round(1).to_string())
        med = statistics.median(update_times)
        p95 = float(np.percentile(update_times, 95))
        base = statistics.median(baseline_times)
        print(f"filter changes: {len(update_times)} ({args.rounds} rounds; {setup})")
        print(f"baseline cohort.filter(...): median {base * 1000:.1f} ms")
        print(f"dashboard update (every view): median {med * 1000:.1f} ms, p95 "
              f"{p95 * 1000:.1f} ms, ratio to baseline {med / base:.1f}x")
        print("per view (each redrawn alone from the change's masks): " + ", ".join(
            f"{name} median {statistics.median(t) * 1000:.1f} ms / p95 "
            f"{float(np.percentile(t, 95)) * 1000:.1f} ms" for name, t in views.items()))
        print(f"filtered cohort's tables on first access (not part of the update): median "
              f"{statistics.median(tables_times) * 1000:.1f} ms")
        print(f"load average at the end: {os.getloadavg()[0]:.1f}")


def check_views(dashboard: Dashboard) -> None:
    """Every view, hidden tabs included, shows the filter's current selection."""
    selection = dashboard.filter.selection
    meta = dashboard.timeline.figure.layout.meta
    assert meta["n_patients"] == selection.n_patients, ("timeline", meta)
    assert dashboard.summary.meta["n_patients"] == selection.n_patients
    assert dashboard.labs.selection is selection and dashboard.summary.selection is selection
    assert dashboard.timeline.selection is selection
    gallery = dashboard.gallery
    assert gallery.n_pages == int(np.ceil(selection.n_images / gallery.page_size))
    assert len(gallery.captions) == min(selection.n_images, gallery.page_size)


if __name__ == "__main__":
    main()
