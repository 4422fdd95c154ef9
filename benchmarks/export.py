"""Benchmark: PNG export of the demo's images with 1 and with 2 worker threads.

Each run exports every image of the demo cohort into a fresh folder (nothing resumed) through
``covidimg.export.export_cohort`` (the thumbnails' pipeline: read, window, shrink, PNG) and is
timed; the median over repeats is printed for 1 and 2 workers with their ratio. The demo is
written into a temporary folder and loaded with the real loaders; nothing touches the user's
cache folder (the export does not use the thumbnail cache).

Run::

    python benchmarks/export.py                 # defaults: 20 patients per source, 5 repeats
    python benchmarks/export.py --patients 30 --repeats 7 --size 512
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=20, help="patients per source")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--size", type=int, default=256, help="side of the exported PNGs")
    args = parser.parse_args(argv)

    import covidimg as ci
    from covidimg.demo import generate_demo
    from covidimg.export import export_cohort

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sources = ("mhh", "midrc", "tcia")
        generate_demo(folder / "demo", sources=sources, n_patients=args.patients, seed=0)
        cohort = ci.load({s: folder / "demo" / s for s in sources}, progress=False)
        print(f"{len(cohort.images)} images ({', '.join(sources)}), PNG {args.size} px, "
              f"median of {args.repeats}")
        medians = {}
        for jobs in (1, 2):
            times = []
            for repeat in range(args.repeats):
                dest = folder / f"out-{jobs}-{repeat}"
                start = time.perf_counter()
                export_cohort(cohort, dest, images="png", size=args.size, n_jobs=jobs,
                              progress=False)
                times.append(time.perf_counter() - start)
                shutil.rmtree(dest)
            medians[jobs] = statistics.median(times)
            print(f"  {jobs} worker{'s' if jobs > 1 else ''}: {medians[jobs]:.2f} s "
                  f"({len(cohort.images) / medians[jobs]:.0f} images/s)")
        print(f"  ratio 1 / 2 workers: {medians[1] / medians[2]:.2f}")


if __name__ == "__main__":
    main()
