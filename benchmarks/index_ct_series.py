"""CT series: indexing a series folder from three of its files against reading every slice.

Writes (once) ``--series`` CT series of ``--slices`` files each under ``--folder`` and, repeated
and interleaved in the same run, indexes them (one process, no cache, so only the sampling
differs):

- every slice: ``index_dicom(..., sample_series=False)`` (every header read, fast scanner);
- every slice, naive: ``pydicom.dcmread(stop_before_pixels=True)`` per file + DataFrame;
- every slice, pydicom ``specific_tags`` and GDCM's ``Scanner`` with the tags covidimg reads,
  + DataFrame (GDCM left out, with a note, when ``python-gdcm`` is not installed);
- sampled: ``index_dicom(..., sample_series=True)`` (first, middle, last file per folder,
  the assumption checked, the other headers inferred).

Checks that both give the same ``n_instances`` and slice order, then prints medians and the
ratio every-slice / sampled (target >= 20 for 100-slice series), and the cost of ``os.stat`` of
every slice (which the sampled index pays too: the size check and the cache key), a floor of
the per-file work that sampling cannot skip.

Run: ``python benchmarks/index_ct_series.py [--series 20] [--slices 100] [--repeats 5]``
"""

from __future__ import annotations

import argparse
import os
import tempfile

import pandas as pd
from _common import (
    GDCM_MISSING,
    gdcm_available,
    gdcm_index,
    machine,
    median,
    naive_index,
    specific_tags_index,
    timed,
    tree,
)

from covidimg.sources._engine.index import images_from_index, index_dicom
from covidimg.sources._engine.ledger import Ledger


def index(paths: list[str], sample: bool) -> pd.DataFrame:
    found = index_dicom(paths, Ledger("tcia"), cache=False, executor=False,
                        sample_series=sample)
    return images_from_index(found, "tcia")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", default=f"{tempfile.gettempdir()}/covidimg-bench-ct")
    parser.add_argument("--series", type=int, default=20)
    parser.add_argument("--slices", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    paths = tree(args.folder, n_radiographs=0, n_ct_series=args.series, slices=args.slices)
    print(f"{args.series} CT series x {args.slices} slices = {len(paths)} files; {machine()}")
    full, sampled = index(paths, False), index(paths, True)
    same = (full["n_instances"].tolist() == sampled["n_instances"].tolist()
            and full["member_paths"].tolist() == sampled["member_paths"].tolist())
    print(f"same n_instances and slice order as reading every slice: {same}")
    runs: dict[str, list[float]] = {"naive": [], "specific_tags": [], "gdcm": [], "full": [],
                                    "sampled": [], "stat": []}
    has_gdcm = gdcm_available()
    if not has_gdcm:
        print(GDCM_MISSING)
        del runs["gdcm"]
    for repeat in range(args.repeats):
        if repeat < 2:  # the naive loop is slow; two runs are enough for its median
            runs["naive"].append(timed(lambda: naive_index(paths)))
            runs["specific_tags"].append(timed(lambda: specific_tags_index(paths)))
        if has_gdcm:
            runs["gdcm"].append(timed(lambda: gdcm_index(paths)))
        runs["full"].append(timed(lambda: index(paths, False)))
        runs["sampled"].append(timed(lambda: index(paths, True)))
        runs["stat"].append(timed(lambda: [os.stat(p) for p in paths]))
    med = {k: median(v) for k, v in runs.items()}
    per_series = {k: 1000 * v / args.series for k, v in med.items()}
    print(f"every slice, naive pydicom loop   median {med['naive']:8.3f} s  "
          f"{per_series['naive']:8.1f} ms/series")
    print(f"every slice, specific_tags        median {med['specific_tags']:8.3f} s  "
          f"{per_series['specific_tags']:8.1f} ms/series")
    if has_gdcm:
        print(f"every slice, GDCM Scanner          median {med['gdcm']:8.3f} s  "
              f"{per_series['gdcm']:8.1f} ms/series")
    print(f"every slice, fast scanner          median {med['full']:8.3f} s  "
          f"{per_series['full']:8.1f} ms/series")
    print(f"sampled (3 files per series)       median {med['sampled']:8.3f} s  "
          f"{per_series['sampled']:8.1f} ms/series")
    print(f"os.stat of every slice              median {med['stat']:8.3f} s  "
          f"{per_series['stat']:8.1f} ms/series")
    print(f"speed-up of sampling over reading every slice: {med['full'] / med['sampled']:.1f}x "
          f"(target >= 20); over the naive loop: {med['naive'] / med['sampled']:.1f}x; over "
          f"specific_tags: {med['specific_tags'] / med['sampled']:.1f}x"
          + (f"; over GDCM: {med['gdcm'] / med['sampled']:.1f}x" if has_gdcm else ""))


if __name__ == "__main__":
    main()
