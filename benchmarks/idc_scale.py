"""IDC's whole series index as one cohort: load time and memory, filters, the dashboard.

Steps, all in one run:

1. load, in fresh processes (``--repeats`` times each, alternating), time and memory (peak RSS
   minus RSS before the call, after the imports):

   - load: ``covidimg.load({"idc": <collections>})`` -- read the index columns the source
     needs, build patients, images (view/exam labels, the day axis), files (every series of
     the index), findings and provenance, and validate the cohort;
   - baseline: ``pyarrow.parquet.ParquetFile(...).read(columns=...)`` of the same columns of
     the index, all rows (the floor: reading what the loader reads, nothing built).

2. ``Cohort.filter`` on the loaded cohort: a few typical filters, ``--filter-repeats`` times
   each (the first call of all, which builds the filter engine's positions, shown apart).
3. ``covidimg.widgets.Dashboard(cohort)`` built in the kernel (no browser; the widget modules
   imported before the clock starts), twice (the first build in a process also loads
   plotly's figure widget), then filter changes made through its controls, each timed until
   every view (hidden tabs included) has updated server side.

Prints medians, the ratio load / baseline, and the load average before and after.

Run: ``python benchmarks/idc_scale.py [--collections all|covid|<ids>] [--repeats 3]
[--filter-repeats 5] [--no-dashboard]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

from _common import machine

CHILD = r"""
import json, sys, time

def rss_mb(field):
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field):
                return int(line.split()[1]) / 1024
    return float("nan")

mode, collections = sys.argv[1], sys.argv[2]
import pyarrow.parquet as pq
import covidimg as ci
from covidimg.sources.idc import index
from covidimg.sources.idc.loader import COLUMNS
columns = [c for c in ("collection_id", *COLUMNS) if c in index.index_columns()]
path = index.index_file()
before = rss_mb("VmRSS")
start = time.perf_counter()
if mode == "load":
    result = ci.load({"idc": collections}, progress=False)
    size = {"patients": len(result.patients), "images": len(result.images),
            "files": len(result.files)}
else:
    result = pq.ParquetFile(path, pre_buffer=True).read(columns=columns)
    size = {"rows": result.num_rows, "columns": len(columns)}
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "mb": rss_mb("VmHWM") - before, **size}))
"""

FILTERS: dict[str, dict[str, object]] = {
    "modality CT": {"modality": "CT"},
    "sex F, age 40-70": {"sex": "F", "age": (40, 70)},
    "CR/DX, day 0-30": {"modality": ["CR", "DX"], "day": (0, 30)},
    "COVID positive": {"covid_status": "positive"},
    "MR, sex M, age >= 60": {"modality": "MR", "sex": "M", "age": (60, None)},
}


def child(mode: str, collections: str) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [os.getcwd(), *filter(None, [os.environ.get("PYTHONPATH")])]))
    out = subprocess.run([sys.executable, "-c", CHILD, mode, collections], check=True,
                         capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _runs(results: list[dict[str, float]]) -> str:
    return ", ".join(f"{r['seconds']:.2f}" for r in results)


def changes(dashboard) -> list[tuple[str, Callable[[], None]]]:  # type: ignore[no-untyped-def]
    """Filter changes a user makes, through the dashboard's own controls."""
    c = dashboard.filter.controls
    buttons = {name: dict(zip(c[name].options, c[name]._buttons, strict=True))
               for name in ("sex", "modality") if name in c}

    def press(name: str, value: str, on: bool = True) -> Callable[[], None]:
        def act() -> None:
            if value in buttons.get(name, {}):
                buttons[name][value].value = on
        return act

    def slide(name: str, lo: float | None, hi: float | None) -> Callable[[], None]:
        def act() -> None:
            control = c[name]
            control.slider.value = (control.low if lo is None else lo,
                                    control.high if hi is None else hi)
        return act

    return [("sex F", press("sex", "F")), ("modality CT", press("modality", "CT")),
            ("age 40-70", slide("age", 40, 70)), ("modality CT off",
                                                  press("modality", "CT", False)),
            ("+ modality CR", press("modality", "CR")), ("reset", dashboard.filter.reset)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collections", default="all",
                        help="'all' (the whole index), 'covid' (the five), or ids, "
                        "comma-separated")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--filter-repeats", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2, help="rounds of dashboard changes")
    parser.add_argument("--no-dashboard", action="store_true")
    args = parser.parse_args()
    print(machine())

    loads, baselines = [], []
    for _ in range(args.repeats):
        loads.append(child("load", args.collections))
        baselines.append(child("baseline", args.collections))
    load_s = statistics.median(r["seconds"] for r in loads)
    base_s = statistics.median(r["seconds"] for r in baselines)
    load_mb = statistics.median(r["mb"] for r in loads)
    base_mb = statistics.median(r["mb"] for r in baselines)
    size = loads[0]
    print(f"idc {args.collections}: {size['patients']:,} patients, {size['images']:,} images, "
          f"{size['files']:,} series in files")
    print(f"load      median {load_s:.2f} s, {load_mb:,.0f} MB  (runs: "
          f"{_runs(loads)} s)")
    print(f"baseline  median {base_s:.2f} s, {base_mb:,.0f} MB  (pyarrow read of the "
          f"{baselines[0]['columns']} columns, {baselines[0]['rows']:,} rows; runs: "
          f"{_runs(baselines)} s)")
    print(f"ratio load / baseline: time {load_s / base_s:.1f}x, memory "
          f"{load_mb / base_mb:.1f}x; target < 10 s: {'met' if load_s < 10 else 'missed'}")
    print(f"load average after the loads: {os.getloadavg()[0]:.1f}")

    import covidimg as ci

    cohort = ci.load({"idc": args.collections}, progress=False)
    first = time.perf_counter()
    cohort.filter(modality="CT")
    first = time.perf_counter() - first
    per_filter: dict[str, float] = {}
    every = []
    for name, criteria in FILTERS.items():
        times = []
        for _ in range(args.filter_repeats):
            start = time.perf_counter()
            cohort.filter(**criteria)  # type: ignore[arg-type]
            times.append(time.perf_counter() - start)
        per_filter[name] = statistics.median(times)
        every += times
    print(f"Cohort.filter: first call {first * 1000:.0f} ms; medians " + ", ".join(
        f"{name} {t * 1000:.1f} ms" for name, t in per_filter.items()))
    overall = statistics.median(every)
    print(f"Cohort.filter median of all: {overall * 1000:.1f} ms; target < 50 ms: "
          f"{'met' if overall < 0.05 else 'missed'}")

    if args.no_dashboard:
        return
    start = time.perf_counter()
    from covidimg.widgets import Dashboard
    imported = time.perf_counter() - start
    start = time.perf_counter()
    Dashboard(cohort)
    first_built = time.perf_counter() - start
    start = time.perf_counter()
    dashboard = Dashboard(cohort)
    built = time.perf_counter() - start
    print(f"Dashboard(cohort): first in the process {first_built:.2f} s (plotly's figure "
          f"widget loaded on first use), again {built:.2f} s (`import covidimg.widgets` "
          f"before: {imported:.2f} s)")
    timings: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        for name, act in changes(dashboard):
            start = time.perf_counter()
            act()
            timings.setdefault(name, []).append(time.perf_counter() - start)
    all_changes = [t for times in timings.values() for t in times]
    print("dashboard filter changes (every view updated): " + ", ".join(
        f"{name} {statistics.median(t) * 1000:.0f} ms" for name, t in timings.items()))
    print(f"dashboard change median {statistics.median(all_changes) * 1000:.0f} ms, max "
          f"{max(all_changes) * 1000:.0f} ms ({len(all_changes)} changes)")
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
