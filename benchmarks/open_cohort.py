"""Open a saved 1,000,000-image cohort from Parquet: time and memory.

Builds (once) a cohort of at least ``--images`` images by tiling the demo cohort
(:func:`covidimg.demo.large.large_cohort`), saves it with :meth:`Cohort.save` under
``--folder``, then, in fresh processes (so memory is measured from a clean start), repeatedly:

- open: ``Cohort.open(folder)``, then checks every table against the schema (outside the
  timing);
- baseline: ``pyarrow.parquet.read_table`` of the same six files (the raw Parquet read, no
  conversion to pandas);

and prints medians of the time and of the memory each adds to the process (peak RSS after
minus RSS before), their ratio, and the memory each table takes once open.
Targets: open under 1 s and under 1 GB.

Run: ``python benchmarks/open_cohort.py [--images 1000000] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import machine, median

CHILD = r"""
import json, resource, sys, time
import pyarrow.parquet as pq
import covidimg as ci
from covidimg import schema
folder, mode = sys.argv[1], sys.argv[2]
def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 1e6
before = rss_mb()
start = time.perf_counter()
if mode == "open":
    cohort = ci.Cohort.open(folder)
    tables = cohort.tables()
else:
    manifest = json.load(open(f"{folder}/manifest.json"))
    tables = {n: pq.read_table(f"{folder}/{manifest['tables_dir']}/{n}.parquet",
                               memory_map=True) for n in schema.TABLE_NAMES}
elapsed = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
sizes = {}
if mode == "open":
    for name, frame in tables.items():
        schema.validate(name, frame)
        sizes[name] = round(frame.memory_usage(deep=True).sum() / 1e6, 1)
print(json.dumps({"seconds": elapsed, "added_mb": peak - before, "sizes": sizes,
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
    if not (marker.is_file() and json.loads(marker.read_text()) == {"images": args.images}):
        from covidimg.demo.large import large_cohort

        cohort = large_cohort(args.images)
        cohort.save(folder)
        marker.write_text(json.dumps({"images": args.images}))
        del cohort
    size = sum(p.stat().st_size for p in folder.rglob("*.parquet")) / 1e6
    print(f"saved cohort: {folder} ({size:.0f} MB of Parquet); {machine()}")
    runs: dict[str, list[dict]] = {"open": [], "raw": []}
    for _ in range(args.repeats):
        runs["raw"].append(run_child(folder, "raw"))
        runs["open"].append(run_child(folder, "open"))
    rows = runs["open"][0]["rows"]
    print("rows: " + ", ".join(f"{n} {r:,}" for n, r in rows.items()))
    med = {k: (median([r["seconds"] for r in v]), median([r["added_mb"] for r in v]))
           for k, v in runs.items()}
    print(f"Cohort.open                     median {med['open'][0]:6.2f} s  "
          f"{med['open'][1]:7.0f} MB added (targets: < 1 s, < 1000 MB)")
    print(f"baseline: pyarrow read_table    median {med['raw'][0]:6.2f} s  "
          f"{med['raw'][1]:7.0f} MB added")
    print(f"ratio open / raw Parquet read: time {med['open'][0] / med['raw'][0]:.2f}x, "
          f"memory {med['open'][1] / med['raw'][1]:.2f}x")
    print("memory of each table once open (MB): " + ", ".join(
        f"{n} {s}" for n, s in runs["open"][0]["sizes"].items()))
    if os.environ.get("COVIDIMG_BENCH_KEEP") is None:
        pass  # the saved cohort stays in --folder for the next run


if __name__ == "__main__":
    main()
