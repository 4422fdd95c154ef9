"""``covidimg.load`` of a large DICOM tree, first load and re-load, against the index alone.

Writes (once) the tree the indexing benchmarks use (radiographs in their own series folders
plus 100-slice CT series, laid out as the NBIA retriever does) and loads it as a TCIA download;
with ``--midrc``, also as a MIDRC download (the same DICOM files hard-linked under a second root
next to Gen3 ``case`` / ``imaging_study`` / ``visit`` exports written for them). Repeated in
the same run, per source:

- first load: ``covidimg.load({source: root}, index_cache=<empty folder>)``;
- re-load: the same call again: the folder is unchanged, so the first load's saved result is
  opened (``docs/performance.md``); the key costs a ``scandir`` + ``stat`` walk;
- re-load after a change: the same call with the saved results removed (what a changed tree
  costs: the loaders run, the index comes from the warm cache);
- the baseline: ``index_dicom`` alone on the same files, with an empty cache folder (first
  index) and again with the warm cache, every header built (what the loader uses);
- the floor of any walk: one bare ``os.scandir`` of every folder of the root, and the floor of
  any check for changes: ``os.scandir`` + ``stat`` of every entry (target: re-load <= 1.5x);
- in fresh processes: ``python -c "import covidimg; covidimg.load(...)"`` of the unchanged
  tree against ``python -c`` of the ``scandir`` + ``stat`` walk (the user's second load
  tomorrow; the difference is mostly importing pandas and pyarrow).

Prints medians and the ratios load / index: what the loader adds over the index.

Run: ``python benchmarks/load_tree.py [--radiographs 3000] [--ct-series 10] [--repeats 3]
[--midrc]``
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _common import idc_uid_copy, machine, median, tree

import covidimg
from covidimg.sources._engine.index import index_dicom
from covidimg.sources._engine.ledger import Ledger


def midrc_tree(folder: str, dicom_root: str, paths: list[str]) -> list[str]:
    """Write (once) a MIDRC root: the DICOM files hard-linked (copied where links fail)
    under ``folder/dicom`` and Gen3 exports for them; return its DICOM files, sorted."""
    marker = os.path.join(folder, "tree.json")
    wanted = {"files": len(paths), "source": dicom_root}
    linked = [os.path.join(folder, "dicom", os.path.relpath(p, dicom_root)) for p in paths]
    if os.path.isfile(marker) and json.loads(Path(marker).read_text()) == wanted:
        return sorted(linked)
    shutil.rmtree(folder, ignore_errors=True)
    for source, target in zip(paths, linked, strict=True):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        try:
            os.link(source, target)
        except OSError:
            shutil.copy2(source, target)
    index = index_dicom(linked, Ledger("midrc"), cache=False)
    studies: dict[str, tuple[str, object]] = {}
    for h in index.headers:
        studies.setdefault(h.study_uid, (h.patient_id, h.study_date))
    patients = sorted({pid for pid, _ in studies.values()})
    first = {}
    for pid, date in studies.values():
        first[pid] = min(first.get(pid, date), date)

    def write(name: str, columns: list[str], rows: list[list[object]]) -> None:
        with open(os.path.join(folder, name), "w", newline="", encoding="utf-8") as handle:
            out = csv.writer(handle, delimiter="\t", lineterminator="\n")
            out.writerow(columns)
            out.writerows(rows)

    write("case.tsv", ["type", "project_id", "submitter_id", "age_at_index", "age_at_index_gt89",
                       "sex", "covid19_positive", "index_event", "icu_indicator", "site_id"],
          [["case", "Open-A1", pid, 40 + k % 50, "No", ("Female", "Male")[k % 2],
            "Yes", "COVID-19 Test", ("Yes", "No")[k % 3 > 0], "419639"]
           for k, pid in enumerate(patients)])
    write("imaging_study.tsv", ["type", "submitter_id", "cases.submitter_id", "study_uid",
                                "days_to_study", "days_from_study_to_pos_covid_test"],
          [["imaging_study", f"{pid}_s{k}", pid, study, (date - first[pid]).days, "[-1]"]
           for k, (study, (pid, date)) in enumerate(sorted(studies.items()))])
    write("visit.tsv", ["type", "submitter_id", "cases.submitter_id",
                        "days_to_hospital_admission", "days_to_hospital_discharge",
                        "discharge_type"],
          [["visit", f"{pid}_v", pid, 1, 9, ("Home", "Expired")[k % 7 == 0]]
           for k, pid in enumerate(patients) if k % 2 == 0])
    Path(marker).write_text(json.dumps(wanted))
    return sorted(linked)


def scandir_floor(root: str) -> int:
    """List every folder under ``root`` once with ``os.scandir``; return the files seen."""
    stack, files = [root], 0
    while stack:
        with os.scandir(stack.pop()) as listing:
            for entry in listing:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    files += 1
    return files


def stat_floor(root: str) -> int:
    """``os.scandir`` every folder under ``root`` and ``stat`` every entry; return the count."""
    stack, entries = [root], 0
    while stack:
        with os.scandir(stack.pop()) as listing:
            for entry in listing:
                entry.stat(follow_symlinks=False)
                entries += 1
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
    return entries


FRESH_LOAD = ("import covidimg; covidimg.load({{{source!r}: {root!r}}}, index_cache={cache!r}, "
              "progress=False)")
FRESH_FLOOR = ("import os\nstack = [{root!r}]\nwhile stack:\n    with os.scandir(stack.pop()) "
               "as ls:\n        for e in ls:\n            e.stat(follow_symlinks=False)\n"
               "            stack.append(e.path) if e.is_dir(follow_symlinks=False) else None\n")


def fresh(statement: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", statement], check=True)
    return time.perf_counter() - start


def bench(source: str, root: str, paths: list[str], repeats: int) -> dict[str, float]:
    """Medians (seconds) of first load, re-load, first index and re-index of one root."""
    runs: dict[str, list[float]] = {"load": [], "reload": [], "index": [], "reindex": [],
                                    "scandir": [], "stat": [], "changed": [], "fresh_reload": [],
                                    "fresh_floor": []}
    expected = None
    for _ in range(repeats):
        load_cache = tempfile.mkdtemp(prefix="covidimg-bench-load-")
        index_cache = tempfile.mkdtemp(prefix="covidimg-bench-index-")
        try:
            def load(cache: str = load_cache) -> covidimg.Cohort:
                return covidimg.load({source: root}, index_cache=cache, progress=False)

            def index(cache: str = index_cache) -> int:
                return len(index_dicom(paths, Ledger(source), cache=cache).headers)

            def changed(cache: str = load_cache) -> covidimg.Cohort:
                shutil.rmtree(os.path.join(cache, "cohorts"), ignore_errors=True)
                return load(cache)

            steps: list[tuple[str, Callable[[], object]]] = [
                ("load", load), ("index", index), ("reload", load), ("reindex", index),
                ("reload", load), ("reindex", index), ("scandir", lambda: scandir_floor(root)),
                ("stat", lambda: stat_floor(root)), ("changed", changed), ("reload", load),
                ("fresh_reload", lambda cache=load_cache: fresh(FRESH_LOAD.format(
                    source=source, root=root, cache=cache))),
                ("fresh_floor", lambda: fresh(FRESH_FLOOR.format(root=root)))]
            for key, step in steps:
                start = time.perf_counter()
                result = step()
                elapsed = time.perf_counter() - start
                runs[key].append(result if key.startswith("fresh") else elapsed)
                if isinstance(result, covidimg.Cohort):
                    shape = (len(result.images), len(result.files), len(result.findings))
                    assert expected in (None, shape), (expected, shape)
                    expected = shape
        finally:
            shutil.rmtree(load_cache)
            shutil.rmtree(index_cache)
    images, files, findings = expected or (0, 0, 0)
    print(f"{source}: {images} images, {files} files rows, {findings} findings")
    return {key: median(values) for key, values in runs.items()}


def report(source: str, med: dict[str, float]) -> None:
    print(f"  first load (empty index cache)   median {med['load'] * 1000:9.1f} ms")
    print(f"  baseline: first index_dicom      median {med['index'] * 1000:9.1f} ms   "
          f"load / index {med['load'] / med['index']:5.2f}x")
    print(f"  re-load (warm index cache)       median {med['reload'] * 1000:9.1f} ms")
    print(f"  baseline: re-index, headers used median {med['reindex'] * 1000:9.1f} ms   "
          f"re-load / re-index {med['reload'] / med['reindex']:5.2f}x")
    print(f"  loader's own work on a re-load   median "
          f"{(med['reload'] - med['reindex']) * 1000:9.1f} ms; first load / re-load "
          f"{med['load'] / med['reload']:.1f}x")
    print(f"  floor: os.scandir of every folder median {med['scandir'] * 1000:8.1f} ms "
          "(the part of the walk no loader can skip)")
    print(f"  floor: scandir + stat of every entry median {med['stat'] * 1000:6.1f} ms   "
          f"re-load / floor {med['reload'] / med['stat']:5.2f}x (target <= 1.5x: "
          f"{'met' if med['reload'] <= 1.5 * med['stat'] else 'MISSED'})")
    print(f"  re-load after a change (loaders run, warm index) median "
          f"{med['changed'] * 1000:7.1f} ms; / unchanged re-load "
          f"{med['changed'] / med['reload']:.1f}x")
    print(f"  fresh process: re-load {med['fresh_reload'] * 1000:7.1f} ms, scandir + stat walk "
          f"{med['fresh_floor'] * 1000:7.1f} ms   ratio "
          f"{med['fresh_reload'] / med['fresh_floor']:.2f}x (imports included)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", default=f"{tempfile.gettempdir()}/covidimg-bench-mixed")
    parser.add_argument("--midrc-folder",
                        default=f"{tempfile.gettempdir()}/covidimg-bench-midrc")
    parser.add_argument("--radiographs", type=int, default=3000)
    parser.add_argument("--ct-series", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--midrc", action="store_true", help="also load a MIDRC layout")
    args = parser.parse_args()
    paths = tree(args.folder, n_radiographs=args.radiographs, n_ct_series=args.ct_series)
    print(f"{len(paths)} files ({args.radiographs} radiographs, {args.ct_series} CT series of "
          f"100 slices); {machine()}; {args.repeats} repeats")
    # The tree's folders do not name the collection: the TCIA loader looks series up in IDC's
    # index, in the copy of its UID columns written once per installed index.
    uid_copy, seconds = idc_uid_copy()
    if uid_copy is not None:
        print(f"IDC's UID columns copied for look-ups ({seconds:.1f} s now, 0 when it was there)")
    report("tcia", bench("tcia", args.folder, paths, args.repeats))
    if args.midrc:
        midrc_paths = midrc_tree(args.midrc_folder, args.folder, paths)
        report("midrc", bench("midrc", args.midrc_folder, midrc_paths, args.repeats))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average {load:.1f} at the end")


if __name__ == "__main__":
    main()
