"""First index of a DICOM tree: the fast indexer against the naive loop and the raw file reads.

Writes (once) a tree of radiographs (one file each) under ``--folder``, then, repeated and
interleaved in the same run:

- naive: ``pydicom.dcmread(f, stop_before_pixels=True)`` for every file, then a DataFrame;
- pydicom ``specific_tags`` and GDCM's ``Scanner``, each reading the tags covidimg reads, then a
  DataFrame (GDCM left out, with a note, when ``python-gdcm`` is not installed);
- raw: open every file and read its first 8 KiB (the header bytes), nothing parsed;
- raw, system calls: the same with ``os.open`` / ``os.read`` / ``os.close`` (what the scanner
  itself does per file: the stricter floor);
- fast: ``index_dicom`` + ``images_from_index`` (byte scanner, local process pool, no cache);
- fast, one process: the same with ``executor=False`` (what the scanner alone gives).

Prints medians, files/s and the two ratios of the target: fast speed / naive speed (>= 3) and
fast time / raw time (<= 10), and the ratio to the stricter system-call floor.

Run: ``python benchmarks/index_first.py [--radiographs 3000] [--ct-series 0] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import os
import tempfile

from _common import (
    GDCM_MISSING,
    HEADER_BYTES,
    gdcm_available,
    gdcm_index,
    machine,
    median,
    naive_index,
    raw_read,
    specific_tags_index,
    timed,
    tree,
)

from covidimg.sources._engine.index import images_from_index, index_dicom
from covidimg.sources._engine.ledger import Ledger


def raw_syscalls(paths: list[str]) -> int:
    """Open each file and read its header bytes with bare system calls; nothing parsed."""
    total = 0
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            total += len(os.read(fd, HEADER_BYTES))
        finally:
            os.close(fd)
    return total


def fast(paths: list[str], executor: object = None) -> None:
    index = index_dicom(paths, Ledger("tcia"), cache=False, executor=executor)
    images_from_index(index, "tcia")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", default=f"{tempfile.gettempdir()}/covidimg-bench-tree")
    parser.add_argument("--radiographs", type=int, default=3000)
    parser.add_argument("--ct-series", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    paths = tree(args.folder, n_radiographs=args.radiographs, n_ct_series=args.ct_series)
    print(f"{len(paths)} files ({args.radiographs} radiographs, {args.ct_series} CT series); "
          f"{machine()}")
    runs: dict[str, list[float]] = {"naive": [], "specific_tags": [], "gdcm": [], "raw": [],
                                    "raw_os": [], "fast": [], "fast_1proc": []}
    has_gdcm = gdcm_available()
    if not has_gdcm:
        print(GDCM_MISSING)
        del runs["gdcm"]
    for _ in range(args.repeats):
        runs["naive"].append(timed(lambda: naive_index(paths)))
        runs["specific_tags"].append(timed(lambda: specific_tags_index(paths)))
        if has_gdcm:
            runs["gdcm"].append(timed(lambda: gdcm_index(paths)))
        runs["raw"].append(timed(lambda: raw_read(paths)))
        runs["raw_os"].append(timed(lambda: raw_syscalls(paths)))
        runs["fast"].append(timed(lambda: fast(paths)))
        runs["fast_1proc"].append(timed(lambda: fast(paths, executor=False)))
    med = {k: median(v) for k, v in runs.items()}
    labels = {"naive": "naive pydicom loop + DataFrame",
              "specific_tags": "pydicom specific_tags + DataFrame",
              "gdcm": "GDCM Scanner + DataFrame", "raw": "raw open + read header bytes",
              "raw_os": "raw os.open + os.read (syscalls)",
              "fast": "fast index (process pool)", "fast_1proc": "fast index (one process)"}
    for key, label in labels.items():
        if key not in med:
            continue
        print(f"{label:34s} median {med[key]:8.3f} s  {len(paths) / med[key]:9.0f} files/s")
    print(f"speed-up over the naive loop: {med['naive'] / med['fast']:.2f}x (target >= 3); "
          f"one process: {med['naive'] / med['fast_1proc']:.2f}x")
    for key in ("specific_tags", "gdcm"):
        if key in med:
            print(f"speed-up over {labels[key].split(' +')[0]}: {med[key] / med['fast']:.2f}x; "
                  f"one process: {med[key] / med['fast_1proc']:.2f}x")
    print(f"cost relative to raw header reads: {med['fast'] / med['raw']:.2f}x (target <= 10); "
          f"one process: {med['fast_1proc'] / med['raw']:.2f}x")
    print(f"relative to bare system calls: {med['fast'] / med['raw_os']:.2f}x; "
          f"one process: {med['fast_1proc'] / med['raw_os']:.2f}x")


if __name__ == "__main__":
    main()
