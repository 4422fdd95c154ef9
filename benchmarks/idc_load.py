"""Load TCIA's COVID-19 collections from IDC's series index: time against a plain Parquet read.

In one process, alternating, ``--repeats`` times each:

- load: ``covidimg.load({"idc": <collections>})`` -- read the index columns the source needs
  (pyarrow, column projection), keep the collections' rows, build patients, images (the view
  and exam labels, the day axis), files, findings and provenance, and validate the cohort;
- baseline: ``pandas.read_parquet`` of the same columns of the index, all rows (what a user
  would write first: ``pd.read_parquet(path, columns=...)``, then filter), without any of the
  work that follows.

Prints the medians and their ratio (load / baseline), measured in the same run.
Target: the five COVID-19 collections in seconds.

Run: ``python benchmarks/idc_load.py [--repeats 5] [--collections covid]``
"""

from __future__ import annotations

import argparse
import time

import pandas as pd
import pyarrow.parquet as pq
from _common import machine, median

import covidimg as ci
from covidimg.sources.idc import index
from covidimg.sources.idc.loader import COLUMNS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--collections", default="covid",
                        help="IDC collection ids, comma-separated, or 'covid' (the five)")
    args = parser.parse_args()
    columns = [c for c in ("collection_id", *COLUMNS) if c in index.index_columns()]
    path = index.index_file()
    ci.load({"idc": args.collections}, progress=False)  # imports and file cache warm
    loads, baselines = [], []
    for _ in range(args.repeats):
        start = time.perf_counter()
        cohort = ci.load({"idc": args.collections}, progress=False)
        loads.append(time.perf_counter() - start)
        start = time.perf_counter()
        pd.read_parquet(path, columns=columns)
        baselines.append(time.perf_counter() - start)
    print(machine())
    print(f"idc-index-data {index.data_version()}; {args.collections}: "
          f"{len(cohort.patients):,} patients, {len(cohort.images):,} images")
    print(f"load      median {median(loads):.2f} s  (runs: "
          f"{', '.join(f'{t:.2f}' for t in loads)})")
    rows = pq.ParquetFile(path).metadata.num_rows
    print(f"baseline  median {median(baselines):.2f} s  (pd.read_parquet of the "
          f"{len(columns)} columns, all {rows:,} rows)")
    print(f"ratio load / baseline: {median(loads) / median(baselines):.2f}")


if __name__ == "__main__":
    main()
