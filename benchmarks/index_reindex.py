"""Re-index of an unchanged tree through the index cache, against the first index.

Writes (once) a tree of radiographs and CT series under ``--folder`` and, repeated in the same
run:

- first index: ``index_dicom`` with an empty cache folder (every header read or sampled,
  local process pool, the cache written);
- re-index: the same call again (every file stat-ed, the index taken from the cache's
  snapshot; its headers are built when first used);
- re-index and use every header (what a loader does next: the deferred header build);
- re-index after touching one radiograph (that file alone is read again);
- the floor: ``os.stat`` of every file, which any cache keyed by size and mtime must do
  (timed right before each unchanged re-index, under the same load).

Prints medians and the ratio first / re-index (target >= 50).

Run: ``python benchmarks/index_reindex.py [--radiographs 3000] [--ct-series 10] [--repeats 5]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time

from _common import machine, median, timed, tree

from covidimg.sources._engine.index import index_dicom
from covidimg.sources._engine.ledger import Ledger


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", default=f"{tempfile.gettempdir()}/covidimg-bench-mixed")
    parser.add_argument("--radiographs", type=int, default=3000)
    parser.add_argument("--ct-series", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    paths = tree(args.folder, n_radiographs=args.radiographs, n_ct_series=args.ct_series)
    print(f"{len(paths)} files ({args.radiographs} radiographs, {args.ct_series} CT series of "
          f"100 slices); {machine()}")
    radiograph = next(p for p in paths if os.path.basename(p) == "1-1.dcm")
    runs: dict[str, list[float]] = {"first": [], "again": [], "headers": [], "touched": [],
                                    "stat": []}
    for _ in range(args.repeats):
        cache = tempfile.mkdtemp(prefix="covidimg-bench-cache-")
        try:
            # the unchanged re-index and the stat floor alternate, three of each per repeat
            for key in ("first", "stat", "again", "stat", "again", "stat", "again", "headers",
                        "touched"):
                if key == "stat":
                    runs[key].append(timed(lambda: [os.stat(path) for path in paths]))
                    continue
                if key == "touched":
                    os.utime(radiograph)  # a new mtime: the file counts as changed
                start = time.perf_counter()
                index = index_dicom(paths, Ledger("tcia"), cache=cache)
                if key == "headers":
                    assert len(index.headers) == len(paths)
                runs[key].append(time.perf_counter() - start)
                expected = {"first": 0, "touched": len(paths) - 1}.get(key, len(paths))
                assert index.counts["cached"] == expected, (key, index.counts)
        finally:
            shutil.rmtree(cache)
    med = {k: median(v) for k, v in runs.items()}
    print(f"first index (empty cache)          median {med['first'] * 1000:9.1f} ms")
    print(f"re-index, unchanged                median {med['again'] * 1000:9.1f} ms  "
          f"{1e6 * med['again'] / len(paths):6.1f} us/file")
    print(f"re-index, then every header built  median {med['headers'] * 1000:9.1f} ms")
    print(f"re-index, one file changed         median {med['touched'] * 1000:9.1f} ms")
    print(f"floor: os.stat of every file       median {med['stat'] * 1000:9.1f} ms  "
          f"{1e6 * med['stat'] / len(paths):6.1f} us/file")
    print(f"speed-up of the re-index over the first index: {med['first'] / med['again']:.1f}x "
          f"(target >= 50); re-index / stat floor: {med['again'] / med['stat']:.2f}x; "
          f"first index / stat floor: {med['first'] / med['stat']:.1f}x (the bound on the "
          f"speed-up); with every header built: {med['first'] / med['headers']:.1f}x")


if __name__ == "__main__":
    main()
