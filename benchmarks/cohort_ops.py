"""Combining and checking a large cohort: ``Cohort.concat`` and ``Cohort.validate``.

``covidimg.load`` combines its sources with ``Cohort.concat``, which conforms every table to
the schema and validates the result (dtypes, allowed values, keys, and the references between
tables); users call both on their own cohorts. Builds a cohort of ``--images`` images by tiling
the demo (:func:`covidimg.demo.large.large_cohort`), splits it by source into two parts, and
prints medians of:

- ``Cohort.concat([part_a, part_b])`` and ``cohort.validate()``;
- ``cohort.filter(sex="F", modality=["CR", "DX"], labs={"crp": (100, None)})``, on a fresh
  cohort object (the first filter of a session) and again on the same one;
- the baseline, measured in the same run: ``pandas.concat`` of the two parts' six tables (the
  least any concatenation does, with no schema work);

and the ratio of each to the baseline.

Run: ``python benchmarks/cohort_ops.py [--images 200000] [--repeats 3]``
"""

from __future__ import annotations

import argparse

import pandas as pd
from _common import machine, median, timed

from covidimg import schema
from covidimg.cohort import Cohort
from covidimg.demo.large import large_cohort


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cohort = large_cohort(args.images)
    parts = [cohort.filter(source="mhh"),
             cohort.filter(source=["nccid", "crdw", "midrc", "tcia"])]
    print(f"cohort: {len(cohort.patients):,} patients, {len(cohort.images):,} images, "
          f"{len(cohort.labs):,} lab values, {len(cohort.files):,} files rows; parts of "
          f"{len(parts[0].images):,} and {len(parts[1].images):,} images; {machine()}")

    def raw_concat() -> None:
        for name in schema.TABLE_NAMES:
            pd.concat([getattr(part, name) for part in parts], ignore_index=True)

    criteria = {"sex": "F", "modality": ["CR", "DX"], "labs": {"crp": (100, None)}}
    runs: dict[str, list[float]] = {"baseline": [], "concat": [], "validate": [],
                                    "filter_first": [], "filter_again": []}
    for _ in range(args.repeats):
        runs["baseline"].append(timed(raw_concat))
        runs["concat"].append(timed(lambda: Cohort.concat(parts)))
        runs["validate"].append(timed(cohort.validate))
        fresh = Cohort(**cohort.tables())
        runs["filter_first"].append(timed(lambda fresh=fresh: fresh.filter(**criteria)))
        runs["filter_again"].append(timed(lambda fresh=fresh: fresh.filter(**criteria)))
    base = median(runs["baseline"])
    print(f"baseline: pandas.concat of the tables  median {base:8.3f} s")
    for key, label in (("concat", "Cohort.concat of the two parts"),
                       ("validate", "Cohort.validate of the whole"),
                       ("filter_first", "Cohort.filter, first call"),
                       ("filter_again", "Cohort.filter, again")):
        value = median(runs[key])
        print(f"{label:<38} median {value:8.3f} s   ratio to baseline {value / base:6.1f}x")


if __name__ == "__main__":
    main()
