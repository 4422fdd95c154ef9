"""Helpers shared by the indexing and cohort benchmarks: timing, trees, baselines."""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom

from covidimg.demo.large import write_dicom_tree
from covidimg.sources._engine.dicom import HEADER_TAGS

#: Bytes read per file by the raw baseline: what the fast scanner reads first (a header of
#: this size holds every tag covidimg needs; real headers are 1-6 KiB).
HEADER_BYTES = 8192
#: Fields the naive loop collects (what the images table needs).
NAIVE_FIELDS = ("PatientID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID",
                "Modality", "ViewPosition", "StudyDate", "StudyTime", "Rows", "Columns",
                "PhotometricInterpretation", "PatientSex", "PatientAge", "InstanceNumber",
                "ImagePositionPatient", "StudyDescription", "SeriesDescription")

#: What the peers read: the file meta UIDs covidimg's scanner reads, then its ``HEADER_TAGS``.
PEER_TAGS = ("TransferSyntaxUID", "MediaStorageSOPClassUID", *HEADER_TAGS)


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median(values: list[float]) -> float:
    return statistics.median(values)


def tree(folder: str | os.PathLike[str], *, n_radiographs: int, n_ct_series: int,
         slices: int = 100, shape: tuple[int, int] = (64, 64)) -> list[str]:
    """Write (once) a synthetic DICOM tree of images of ``shape`` pixels and return its files,
    sorted."""
    folder = Path(folder)
    marker = folder / "tree.json"
    wanted: dict[str, object] = {"n_radiographs": n_radiographs, "n_ct_series": n_ct_series,
                                 "slices": slices}
    if shape != (64, 64):  # the indexing benchmarks' trees keep their marker
        wanted["shape"] = list(shape)
    if marker.is_file() and json.loads(marker.read_text()) == wanted:
        return sorted(str(p) for p in folder.rglob("*.dcm"))
    if folder.exists():
        import shutil

        shutil.rmtree(folder)
    written = write_dicom_tree(folder, n_radiographs=n_radiographs, n_ct_series=n_ct_series,
                               slices=slices, shape=shape, rng=np.random.default_rng(0))
    marker.write_text(json.dumps(wanted))
    return written.files


def naive_index(paths: list[str]) -> pd.DataFrame:
    """The loop a user would write: pydicom.dcmread(stop_before_pixels=True), then a frame."""
    rows = []
    for path in paths:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        rows.append({key: ds.get(key) for key in NAIVE_FIELDS} | {"path": path})
    return pd.DataFrame(rows)


def specific_tags_index(paths: list[str]) -> pd.DataFrame:
    """pydicom with ``specific_tags``: the tags covidimg reads (:data:`PEER_TAGS`), a frame."""
    tags, rows = list(HEADER_TAGS), []
    for path in paths:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=tags)
        row = {key: ds.file_meta.get(key) for key in PEER_TAGS[:2]}
        row.update({key: ds.get(key) for key in tags})
        row["path"] = path
        rows.append(row)
    return pd.DataFrame(rows)


def gdcm_available() -> bool:
    try:
        import gdcm  # noqa: F401
    except ImportError:
        return False
    return True


GDCM_MISSING = ("GDCM's Python bindings are missing, so its baseline is left out: "
                "pip install python-gdcm (or pip install -e '.[bench]')")


def gdcm_index(paths: list[str]) -> pd.DataFrame:
    """GDCM's ``Scanner`` with the tags covidimg reads (:data:`PEER_TAGS`), a frame."""
    import gdcm
    from pydicom.datadict import tag_for_keyword

    scanner, tags = gdcm.Scanner(), []
    for keyword in PEER_TAGS:
        number = tag_for_keyword(keyword)
        tag = gdcm.Tag(number >> 16, number & 0xFFFF)
        scanner.AddTag(tag)
        tags.append((keyword, tag))
    if not scanner.Scan(paths):
        raise RuntimeError("gdcm.Scanner failed")
    rows = []
    for path in paths:
        row = {keyword: scanner.GetValue(path, tag) for keyword, tag in tags}
        row["path"] = path
        rows.append(row)
    return pd.DataFrame(rows)


def raw_read(paths: list[str]) -> int:
    """Open each file and read its header bytes; nothing parsed."""
    total = 0
    for path in paths:
        with open(path, "rb") as handle:
            total += len(handle.read(HEADER_BYTES))
    return total


def machine() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{os.cpu_count()} cores, load average {load:.1f} at start"


def idc_uid_copy() -> tuple[Path | None, float]:
    """Write (once per installed IDC index) the copy of its UID columns that the TCIA loader
    looks series up in when no folder names their collection
    (:mod:`covidimg.sources.idc.uid_lookup`); return its path (``None`` without the index)
    and the seconds writing it took (0 when it was there)."""
    try:
        from covidimg.sources.idc import index, uid_lookup

        path = uid_lookup.copy_file(index.index_file(), index.data_version())
    except Exception:  # no idc-index-data
        return None, 0.0
    if path.exists():
        return path, 0.0
    start = time.perf_counter()
    index.lookup_series(["1.2.3"])          # writes the copy
    return (path if path.exists() else None), time.perf_counter() - start
