"""Indexing, thumbnails and export on executors: one worker, the default pool, a Dask cluster.

Writes (once) a tree of DICOM radiographs (``--pixels`` square, laid out as the NBIA retriever
does) under ``--folder``, loads it as a TCIA download, then times on the same files, repeated
and interleaved in the same run:

- indexing: ``index_dicom(paths, ..., cache=False)`` (every header read);
- thumbnails: ``covidimg.imaging.thumbnails(images, size=--size, cache=False)``;
- export: ``covidimg.export.export_cohort(cohort, dest, images="png", size=--size)`` into a
  fresh folder (tables, manifests and every image);

each with ``executor=False`` (one worker: this process; the baseline), ``executor=None`` (the
default local process pool; ``n_jobs=--workers`` for thumbnails and export, every CPU for
indexing) and ``executor=client.get_executor()`` on a ``distributed.LocalCluster`` of
``--workers`` worker processes of one thread each -- the same code a real cluster runs.

A first, untimed round warms every executor up (the Dask workers import covidimg) and checks
that each gives the same headers, thumbnails and exported files as one worker. Then prints,
per task, the median seconds, items per second and the speed-up over one worker, and the load
average before and after (the machine is shared: with 2 cores the ceiling is 2x, and only on
an idle machine).

Run: ``python benchmarks/index_distributed.py [--radiographs 1000] [--pixels 512]
[--workers 2] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import machine, median, timed, tree
from distributed import Client, LocalCluster

import covidimg as ci
from covidimg.export import export_cohort
from covidimg.imaging import thumbnails
from covidimg.sources._engine.index import index_dicom
from covidimg.sources._engine.ledger import Ledger


def _exported(dest: Path) -> dict[str, bytes]:
    return {str(p.relative_to(dest)): p.read_bytes() for p in sorted(dest.rglob("*"))
            if p.is_file() and p.name not in ("README.md", "export.json")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", default=f"{tempfile.gettempdir()}/covidimg-bench-executors")
    parser.add_argument("--radiographs", type=int, default=1000)
    parser.add_argument("--pixels", type=int, default=512, help="side of the radiographs")
    parser.add_argument("--size", type=int, default=256, help="side of thumbnails and PNGs")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("COVIDIMG_CACHE", tempfile.mkdtemp(prefix="covidimg-bench-cache-"))
    paths = tree(args.folder, n_radiographs=args.radiographs, n_ct_series=0,
                 shape=(args.pixels, args.pixels))
    cohort = ci.load({"tcia": args.folder}, progress=False, executor=False, index_cache=False)
    out = Path(tempfile.mkdtemp(prefix="covidimg-bench-export-"))
    start_load = machine()
    cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=50)
    client = Client(cluster)
    print(f"{len(paths)} radiographs of {args.pixels}x{args.pixels} px, {len(cohort.images)} "
          f"images; thumbnails and PNGs of {args.size} px; {args.repeats} repeats; "
          f"{start_load}")
    executors: dict[str, dict[str, Any]] = {
        "one worker": {"executor": False},
        f"default pool, {args.workers} workers": {"executor": None, "n_jobs": args.workers},
        f"Dask LocalCluster, {args.workers} workers": {"executor": client.get_executor()},
    }
    if (os.cpu_count() or 1) != args.workers:
        print(f"(the default pool indexes with every CPU: {os.cpu_count()} workers)")
    runs = [0]

    def index(how: dict[str, Any]) -> Any:
        return index_dicom(paths, Ledger("tcia"), executor=how["executor"], cache=False).headers

    def thumbs(how: dict[str, Any]) -> Any:
        return thumbnails(cohort.images, size=args.size, cache=False, progress=False,
                          **how).images

    def export(how: dict[str, Any]) -> Any:
        runs[0] += 1
        dest = export_cohort(cohort, out / str(runs[0]), images="png", size=args.size,
                             progress=False, **how)
        files = _exported(dest)
        shutil.rmtree(dest)
        return files

    tasks: dict[str, tuple[Callable[[dict[str, Any]], Any], int, str]] = {
        "indexing": (index, len(paths), "files"),
        "thumbnails": (thumbs, len(cohort.images), "images"),
        "export": (export, len(cohort.images), "images"),
    }
    times: dict[tuple[str, str], list[float]] = {}
    try:
        for task, (run, _, _) in tasks.items():  # warm-up and equality check
            reference = run(executors["one worker"])
            for name, how in executors.items():
                assert run(how) == reference, f"{task} on {name} differs from one worker"
        for _ in range(args.repeats):
            for task, (run, _, _) in tasks.items():
                for name, how in executors.items():
                    times.setdefault((task, name), []).append(
                        timed(lambda r=run, h=how: r(h)))
    finally:
        client.close()
        cluster.close()
        shutil.rmtree(out, ignore_errors=True)
    for task, (_, count, unit) in tasks.items():
        base = median(times[(task, "one worker")])
        print(f"{task} ({count} {unit})")
        for name in executors:
            med = median(times[(task, name)])
            print(f"  {name:30s} median {med:7.3f} s  {count / med:8.0f} {unit}/s  "
                  f"speed-up {base / med:5.2f}x")
    print("same headers, thumbnails and exported files on every executor: True")
    print(f"at the end: {machine().replace(' at start', '')}")


if __name__ == "__main__":
    main()
