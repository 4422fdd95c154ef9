"""Open a saved 1,000,000-image cohort from Parquet: time and memory.

Builds (once) a cohort of at least ``--images`` images by tiling the demo cohort
(:func:`covidimg.demo.large.large_cohort`), saves it with :meth:`Cohort.save` under
``--folder``, then, in fresh processes (so memory is measured from a clean start), repeatedly:

- open: ``Cohort.open(folder)``, which reads patients, images, events and labs and defers
  the provenance tables ``files`` and ``findings`` to their first access; then the first
  access of ``files`` and of ``findings``, timed one by one; then (outside the timings) checks
  every table against the schema;
- baseline: ``pyarrow.parquet.read_table`` of the same files (the raw Parquet read, no
  conversion to pandas), timed for the tables ``open`` reads and for all of them.

Prints medians of the time and of the memory each step adds to the process (peak RSS after
minus RSS before), the ratios to the baseline, and the memory each table takes.
Targets: open under 0.5 s and under 1 GB.

Run: ``python benchmarks/open_cohort.py [--images 1000000] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import machine, median

from covidimg.cohort import _storage as cohort_storage

CHILD = r"""
import json, sys, time
import pyarrow.parquet as pq
import covidimg as ci
from covidimg import schema
from covidimg.cohort import LAZY_TABLES
folder, mode = sys.argv[1], sys.argv[2]
def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 1e6
def peak_mb():  # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmHWM:")) * 1024 / 1e6
before = rss_mb()
steps = {}
def step(label, action):
    start, cpu = time.perf_counter(), time.process_time()
    out = action()
    steps[label] = {"seconds": time.perf_counter() - start, "added_mb": peak_mb() - before,
                    "cpu": time.process_time() - cpu}
    return out
if mode == "open":
    cohort = step("open", lambda: ci.Cohort.open(folder))
    unread = cohort.unread_tables()
    for name in unread:
        step(f"first access: {name}", lambda: getattr(cohort, name))
    tables = cohort.tables()
else:
    manifest = json.load(open(f"{folder}/manifest.json"))
    def read(names):
        return {n: pq.read_table(f"{folder}/{manifest['tables_dir']}/{n}.parquet",
                                 memory_map=True) for n in names}
    eager = [n for n in schema.TABLE_NAMES if n not in LAZY_TABLES]
    tables = step("raw: eager tables", lambda: read(eager))
    tables.update(step("raw: the others", lambda: read(LAZY_TABLES)))
sizes = {}
if mode == "open":
    for name, frame in tables.items():
        schema.validate(name, frame)
        sizes[name] = round(frame.memory_usage(deep=True).sum() / 1e6, 1)
print(json.dumps({"steps": steps, "sizes": sizes, "unread": unread if mode == "open" else [],
                  "rows": {n: len(t) for n, t in tables.items()}}))
"""


def run_child(folder: Path, mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(folder), mode], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", default=f"{tempfile.gettempdir()}/covidimg-bench-cohort")
    parser.add_argument("--images", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    folder = Path(args.folder)
    marker = folder / "bench.json"
    # Saved again when the size or the way Cohort.save writes tables changes.
    wanted = {"images": args.images, "compression": cohort_storage._COMPRESSION,
              "row_group": cohort_storage._ROW_GROUP,
              "format_version": cohort_storage.FORMAT_VERSION}
    if not (marker.is_file() and json.loads(marker.read_text()) == wanted):
        from covidimg.demo.large import large_cohort

        cohort = large_cohort(args.images)
        cohort.save(folder)
        marker.write_text(json.dumps(wanted))
        del cohort
    size = sum(p.stat().st_size for p in folder.rglob("*.parquet")) / 1e6
    print(f"saved cohort: {folder} ({size:.0f} MB of Parquet); {machine()}")
    runs: dict[str, list[dict]] = {"open": [], "raw": []}
    for _ in range(args.repeats):
        runs["raw"].append(run_child(folder, "raw"))
        runs["open"].append(run_child(folder, "open"))
    first = runs["open"][0]
    print("rows: " + ", ".join(f"{n} {r:,}" for n, r in first["rows"].items()))
    med = {label: (median([r["steps"][label]["seconds"] for r in v]),
                   median([r["steps"][label]["added_mb"] for r in v]),
                   median([r["steps"][label]["cpu"] for r in v]))
           for v in runs.values() for label in v[0]["steps"]}
    unread = ", ".join(first["unread"]) or "none"
    print("(medians of: wall seconds of the step; CPU seconds of all its threads; peak RSS "
          "added since the start, so each line includes the lines above it)")
    print(f"Cohort.open                        {med['open'][0]:6.2f} s  cpu {med['open'][2]:5.2f} s"
          f"  {med['open'][1]:6.0f} MB (targets: < 0.5 s, < 1000 MB; read on first access: "
          f"{unread})")
    for label in [k for k in med if k.startswith("first access")]:
        print(f"  then {label:29s} {med[label][0]:6.2f} s  cpu {med[label][2]:5.2f} s  "
              f"{med[label][1]:6.0f} MB")
    raw_eager, raw_rest = med["raw: eager tables"], med["raw: the others"]
    print(f"baseline: read_table of the same    {raw_eager[0]:6.2f} s  cpu {raw_eager[2]:5.2f} s  "
          f"{raw_eager[1]:6.0f} MB")
    print(f"  then of the deferred ones      {raw_rest[0]:6.2f} s  cpu {raw_rest[2]:5.2f} s  "
          f"{raw_rest[1]:6.0f} MB")
    touched = med["open"][0] + sum(v[0] for k, v in med.items() if k.startswith("first"))
    everything = max(v[1] for k, v in med.items() if k == "open" or k.startswith("first"))
    print(f"ratio open / raw read of the same tables: time {med['open'][0] / raw_eager[0]:.2f}x, "
          f"memory {med['open'][1] / raw_eager[1]:.2f}x")
    print(f"ratio open + first access of all / raw read of all: time "
          f"{touched / (raw_eager[0] + raw_rest[0]):.2f}x, "
          f"memory {everything / raw_rest[1]:.2f}x")
    print("memory of each table in pandas (MB): " + ", ".join(
        f"{n} {s}" for n, s in first["sizes"].items()))


if __name__ == "__main__":
    main()
