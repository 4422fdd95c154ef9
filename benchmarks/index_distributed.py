"""Indexing on executors: one process, the default local process pool, a Dask cluster.

Writes (once) a tree of radiographs under ``--folder`` and indexes it (no cache, no
sampling), repeated and interleaved in the same run:

- one process: ``index_dicom(..., executor=False)`` (the baseline);
- local process pool: ``executor=None`` (the default: a ``ProcessPoolExecutor``);
- Dask: ``executor=client.get_executor()`` on a ``distributed.LocalCluster`` of
  ``--workers`` worker processes (one thread each) -- the same code a real cluster runs.

Checks that every executor gives the same headers, then prints medians, files/s and the ratio
to one process. On a 2-core machine the ceiling is 2x; Dask adds its scheduling cost.

Run: ``python benchmarks/index_distributed.py [--radiographs 3000] [--workers 2]``
"""

from __future__ import annotations

import argparse
import tempfile

from _common import machine, median, timed, tree
from distributed import Client, LocalCluster

from covidimg.sources._engine.index import index_dicom
from covidimg.sources._engine.ledger import Ledger


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", default=f"{tempfile.gettempdir()}/covidimg-bench-tree")
    parser.add_argument("--radiographs", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    paths = tree(args.folder, n_radiographs=args.radiographs, n_ct_series=0)
    cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=50)
    client = Client(cluster)
    print(f"{len(paths)} files; Dask LocalCluster of {args.workers} worker processes; "
          f"{machine()}")
    executors = {"one process": False, "local process pool": None,
                 "dask LocalCluster": client.get_executor()}
    reference = index_dicom(paths, Ledger("tcia"), executor=False, cache=False).headers
    runs: dict[str, list[float]] = {name: [] for name in executors}
    try:
        for name, executor in executors.items():  # warm-up and equality check
            found = index_dicom(paths, Ledger("tcia"), executor=executor, cache=False)
            assert found.headers == reference, name
        for _ in range(args.repeats):
            for name, executor in executors.items():
                runs[name].append(timed(lambda e=executor: index_dicom(
                    paths, Ledger("tcia"), executor=e, cache=False)))
    finally:
        client.close()
        cluster.close()
    base = median(runs["one process"])
    for name, values in runs.items():
        med = median(values)
        print(f"{name:22s} median {med:7.3f} s  {len(paths) / med:8.0f} files/s  "
              f"ratio to one process {base / med:5.2f}x")
    print("same headers from every executor: True")


if __name__ == "__main__":
    main()
