"""Benchmark: thumbnails per second (DICOM, NIfTI) and a 24-thumbnail gallery page from the cache.

Each measurement is a median over repeats, printed next to its baseline measured in the same
run on the same images: decoding the pixels only (``read_image``), the cost no thumbnailer can
avoid. The ratio says what windowing, shrinking, PNG encoding and caching add (or, for the
cached gallery page, save).

The demo cohort is written into a temporary folder with the demo writers (MHH NIfTI, MIDRC
DICOM in zips) and loaded with the real loaders; nothing touches the user's cache folder.

Run::

    python benchmarks/imaging.py                # defaults: 10 patients per source, 5 repeats
    python benchmarks/imaging.py --patients 20 --repeats 7 --jobs 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd


def _median_seconds(run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _demo_images(folder: Path, patients: int) -> pd.DataFrame:
    import covidimg as ci
    from covidimg.demo import generate_demo

    sources = ("mhh", "midrc")
    generate_demo(folder, sources=sources, n_patients=patients, seed=0)
    cohort = ci.load({s: folder / s for s in sources}, progress=False)
    return cohort.images


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10, help="demo patients per source")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--size", type=int, default=256, help="thumbnail side in pixels")
    parser.add_argument("--jobs", type=int, default=1, help="n_jobs for batch thumbnails")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["COVIDIMG_CACHE"] = str(Path(tmp) / "cache")
        from covidimg.imaging import read_image, thumbnails

        images = _demo_images(Path(tmp) / "demo", args.patients)
        films = images[images["modality"].isin(["CR", "DX"])]
        groups = {
            "DICOM radiographs": films[films["format"] == "dicom"],
            "NIfTI radiographs (MHH)": films[films["format"] == "nifti"],
            "DICOM CT series (middle slice)": images[images["modality"] == "CT"],
        }
        print(f"demo cohort: {len(images)} images; thumbnail {args.size}px, n_jobs={args.jobs}, "
              f"median of {args.repeats} runs; baseline = pixel decode only (same images, same "
              "run)")
        for label, rows in groups.items():
            if rows.empty:
                print(f"{label}: none in this demo")
                continue

            def decode(rows: pd.DataFrame = rows) -> None:
                for _, row in rows.iterrows():
                    read_image(row, slice_index="middle")

            def make(rows: pd.DataFrame = rows) -> None:
                batch = thumbnails(rows, size=args.size, cache=False, n_jobs=args.jobs,
                                   progress=False)
                assert all(batch.ok), batch.findings["detail"].tolist()[:3]

            base = _median_seconds(decode, args.repeats)
            thumb = _median_seconds(make, args.repeats)
            n = len(rows)
            print(f"{label:32s} n={n:3d}  thumbnails: {n / thumb:7.1f}/s "
                  f"(median {thumb * 1e3:8.1f} ms)  decode only: {n / base:7.1f}/s "
                  f"(median {base * 1e3:8.1f} ms)  ratio thumbnails/decode {thumb / base:5.2f}")

        page = films.head(24)
        cache = Path(tmp) / "gallery-cache"
        warm = thumbnails(page, size=args.size, cache_dir=cache, progress=False)
        assert all(warm.ok)

        def gallery() -> None:
            batch = thumbnails(page, size=args.size, cache_dir=cache, progress=False)
            assert all(p is not None for p in batch.paths)

        def decode_page() -> None:
            for _, row in page.iterrows():
                read_image(row)

        base = _median_seconds(decode_page, args.repeats)
        served = _median_seconds(gallery, args.repeats)
        print(f"{'gallery page from the cache':32s} n={len(page):3d}  page: "
              f"{served * 1e3:8.2f} ms ({len(page) / served:8.0f} thumbnails/s)  decode only: "
              f"{base * 1e3:8.1f} ms  ratio cached/decode {served / base:6.3f}")


if __name__ == "__main__":
    main()
