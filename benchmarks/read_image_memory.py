"""Benchmark: peak memory of ``read_image`` over the bytes of the array it returns.

For each image the script measures, in the same run and on the same files:

- the baseline: the straightforward pydicom path a user would write — ``dcmread``, then
  ``pixel_array``, ``apply_modality_lut``, ``apply_voi_lut`` on the whole image, ``astype``
  float32 (and a list of slices + ``np.stack`` for a series);
- ``read_image`` itself;

and prints the peak of :mod:`tracemalloc` (which counts numpy's allocations) over the result's
bytes, and the time, each the median of the repeats (time without tracing).

Images (synthetic, written with ``covidimg.demo.dicom_writer.write_dicom`` and pydicom into a
temporary folder): a 2048 x 2048 16-bit radiograph (MONOCHROME2 and MONOCHROME1, with a window
in the header), a 40-slice 512 x 512 CT series (files in a folder) and the same 40 frames in
one multi-frame file.

Run::

    python benchmarks/read_image_memory.py              # 3 repeats
    python benchmarks/read_image_memory.py --repeats 5
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
from pydicom.pixels import apply_modality_lut, apply_voi_lut

from covidimg.demo.dicom_writer import uid, write_dicom
from covidimg.imaging import read_image


def _write_images(root: Path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    common = {"patient_id": "P1", "study_uid": uid(rng), "study_date": datetime.date(2020, 3, 1)}
    images = {}
    for name, photometric in (("radiograph 2048x2048", "MONOCHROME2"),
                              ("radiograph 2048x2048 MONOCHROME1", "MONOCHROME1")):
        path = root / f"{photometric}.dcm"
        write_dicom(path, rng.random((2048, 2048), dtype=np.float32), modality="DX",
                    series_uid=uid(rng), sop_uid=uid(rng), photometric=photometric,  # type: ignore[arg-type]
                    **common)
        images[name] = path
    series = root / "series"
    series.mkdir()
    series_uid = uid(rng)
    for i in range(40):
        write_dicom(series / f"{i:03d}.dcm", rng.normal(0, 300, (512, 512)).astype(np.float32),
                    modality="CT", series_uid=series_uid, sop_uid=uid(rng),
                    position_z=float(i), instance_number=i + 1, **common)
    images["CT series 40x512x512 (files)"] = series
    files = sorted(series.iterdir())
    ds = pydicom.dcmread(files[0])
    ds.NumberOfFrames = len(files)
    ds.PixelData = b"".join(pydicom.dcmread(f).PixelData for f in files)
    multiframe = root / "multiframe.dcm"
    ds.save_as(multiframe)
    images["CT multi-frame 40x512x512 (one file)"] = multiframe
    return images


def _baseline_one(path: Path, voi: bool) -> np.ndarray:
    """The straightforward pydicom read (no orientation or ordering logic)."""
    ds = pydicom.dcmread(path)
    out = apply_modality_lut(ds.pixel_array, ds)
    if voi and "WindowCenter" in ds:
        out = apply_voi_lut(out, ds)
    out = out.astype(np.float32)
    if ds.PhotometricInterpretation == "MONOCHROME1":
        out = out.min() + out.max() - out
    return out


def baseline(path: Path, voi: bool) -> np.ndarray:
    if path.is_dir():
        return np.stack([_baseline_one(f, voi) for f in sorted(path.iterdir())])
    return _baseline_one(path, voi)


def _peak_ratio(read: Callable[[], np.ndarray]) -> float:
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        out = read()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / out.nbytes


def _seconds(read: Callable[[], np.ndarray]) -> float:
    start = time.perf_counter()
    read()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        images = _write_images(Path(tmp))
        print(f"{'image':40s} {'voi':5s} {'baseline peak':>14s} {'read_image peak':>16s} "
              f"{'baseline s':>11s} {'read_image s':>13s}")
        for name, path in images.items():
            for voi in (True, False):
                runs: dict[str, Callable[[], np.ndarray]] = {
                    "baseline": lambda p=path, v=voi: baseline(p, v),
                    "read_image": lambda p=path, v=voi: read_image(p, voi=v),
                }
                ratios = {k: statistics.median(_peak_ratio(run) for _ in range(args.repeats))
                          for k, run in runs.items()}
                times = {k: statistics.median(_seconds(run) for _ in range(args.repeats))
                         for k, run in runs.items()}
                print(f"{name:40s} {voi!s:5s} {ratios['baseline']:13.2f}x "
                      f"{ratios['read_image']:15.2f}x {times['baseline']:11.3f} "
                      f"{times['read_image']:13.3f}")


if __name__ == "__main__":
    main()
