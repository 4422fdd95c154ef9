"""Index a CT / MR series folder from three of its files instead of all of them.

A series folder as PACS exports and the NBIA retriever write it holds one file per slice, all
of about the same size, named in slice order. When that holds, the first, middle and last files say
everything the ``images`` table needs: the series' fields, and -- because instance numbers and
slice positions step evenly with the file order -- each slice's instance number and position.
:func:`index_series_folder` checks that assumption on the files themselves and falls back to
reading every file whenever any part of it fails, saying why.

The assumption, checked in this order:

1. the folder holds at least :data:`MIN_SERIES_FILES` DICOM files, all of the same size
   (within :data:`SIZE_TOLERANCE_BYTES`);
2. the first, middle and last file (in natural name order) are readable CT / MR instances of
   one series: same Series, Study and Patient ID, matrix, transfer syntax and descriptions,
   three different SOP Instance UIDs;
3. their instance numbers step by exactly one per file (up or down), the middle one included;
4. their slice positions are all missing, or step evenly (the middle one within 0.01 mm of
   halfway).

Examples
--------
>>> from covidimg.sources._engine.series_sampling import natural_key
>>> sorted(["1-10.dcm", "1-9.dcm", "1-100.dcm"], key=natural_key)
['1-9.dcm', '1-10.dcm', '1-100.dcm']
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from covidimg.errors import DicomReadError
from covidimg.sources._engine.dicom import SERIES_MODALITIES, DicomHeader
from covidimg.sources._engine.exam import MODALITY_CODES
from covidimg.sources._engine.free_text import describe_value
from covidimg.sources._engine.header_scan import read_header_fast

__all__ = ["MIN_SERIES_FILES", "SeriesResult", "index_series_folder", "natural_key"]

#: Folders with fewer DICOM files are read in full (sampling would save little).
MIN_SERIES_FILES = 20
#: Files a sampled series folder reads when its sampling holds: the first, middle and last.
SAMPLED_READS = 3
#: Largest difference in size between files of a series folder (a localizer or a file of
#: another kind differs far more; even-length padding of text values differs by a few bytes).
SIZE_TOLERANCE_BYTES = 64
#: Largest gap, in mm, between the middle slice's position and halfway between first and last.
POSITION_TOLERANCE_MM = 0.01

_DIGITS = re.compile(r"(\d+)")
#: Header fields that must be equal on the sampled slices (all but path, SOP UID and the
#: per-slice instance number and position).
_SERIES_FIELDS = tuple(f.name for f in dataclasses.fields(DicomHeader)
                       if f.name not in ("path", "sop_uid", "instance_number", "position_z"))


def natural_key(name: str) -> tuple[object, ...]:
    """Sort key ordering ``1-9.dcm`` before ``1-10.dcm`` (numbers compared as numbers)."""
    parts: list[object] = _DIGITS.split(name)  # text, digits, text, ...: digits at odd places
    parts[1::2] = map(int, parts[1::2])  # type: ignore[arg-type]
    return tuple(parts)


#: Maps every ASCII digit to "0": names of one "shape" differ only in their digits.
_DIGIT_SHAPE = str.maketrans("0123456789", "0000000000")


def _natural_order(files: Sequence[str]) -> list[str]:
    """``files`` sorted by :func:`natural_key` of their names.

    When every name has the same shape (the same characters but for digits, as ``1-001.dcm``
    ... ``1-100.dcm``), plain string order is natural order -- the first difference is
    between two digit runs of equal length -- and costs far less than a key per name.
    """
    sep = os.sep
    names = [p.rpartition(sep)[2] for p in files]
    if len({name.translate(_DIGIT_SHAPE) for name in names}) <= 1:
        return [p for _, p in sorted(zip(names, files, strict=True))]
    return sorted(files, key=lambda p: natural_key(p.rpartition(sep)[2]))


@dataclass
class SeriesResult:
    """What indexing one series folder gave.

    Attributes
    ----------
    folder
        The folder.
    results
        ``(path, header or DicomReadError)`` for every file, in natural name order.
    sampled
        True when only three files were read and the others' headers were inferred.
    reason
        Why the folder was sampled, or why it was read in full.
    inferred
        Paths whose header was inferred, not read.
    """

    folder: str
    results: list[tuple[str, DicomHeader | DicomReadError]]
    sampled: bool
    reason: str
    inferred: frozenset[str] = frozenset()


def _similar_sizes(sizes: Sequence[int]) -> bool:
    """Whether file sizes differ by no more than :data:`SIZE_TOLERANCE_BYTES` (text values
    such as slice positions vary in length by a few bytes from slice to slice)."""
    return not sizes or max(sizes) - min(sizes) <= SIZE_TOLERANCE_BYTES


def _read(path: str, reader: Callable[[str], DicomHeader]) -> DicomHeader | DicomReadError:
    try:
        return reader(path)
    except DicomReadError as exc:
        return exc


def _why_not(files: Sequence[str], sizes: Sequence[int] | None,
             sample: list[DicomHeader | DicomReadError]) -> str | None:
    """Return why the sampling assumption fails on this folder, or None when it holds."""
    if len(files) < MIN_SERIES_FILES:
        return f"{len(files)} files, fewer than {MIN_SERIES_FILES}"
    if sizes is not None and not _similar_sizes(sizes):
        return f"file sizes differ ({min(sizes)} to {max(sizes)} bytes)"
    for h in sample:
        if isinstance(h, DicomReadError):
            return f"a sampled file is unreadable ({h.reason})"
    first = sample[0]
    if first.modality not in SERIES_MODALITIES:
        modality = describe_value(first.modality, vocabulary=MODALITY_CODES)
        return f"modality {modality} is not a series modality"
    if not first.series_uid:
        return "no Series Instance UID"
    for field in _SERIES_FIELDS:
        values = {getattr(h, field) for h in sample}
        if len(values) > 1:
            return f"the sampled files differ in {field}"
    if len({h.sop_uid for h in sample}) < 3:
        return "the sampled files share a SOP Instance UID"
    numbers = [h.instance_number for h in sample]
    if None in numbers:
        return "a sampled file has no Instance Number"
    n, mid = len(files), len(files) // 2
    step = (numbers[2] - numbers[0]) / (n - 1)
    if abs(step) != 1 or numbers[1] != numbers[0] + step * mid:
        return (f"instance numbers {numbers} of files 1, {mid + 1} and {n} do not step by one "
                "per file in name order")
    positions = [h.position_z for h in sample]
    if any(p is not None for p in positions):
        if None in positions:
            return "a sampled file has no slice position"
        expected = positions[0] + (positions[2] - positions[0]) * mid / (n - 1)
        if abs(positions[1] - expected) > POSITION_TOLERANCE_MM:
            return (f"slice positions {positions} of files 1, {mid + 1} and {n} are not "
                    "evenly spaced")
    return None


def index_series_folder(files: Sequence[str], sizes: Sequence[int] | None = None, *,
                        reader: Callable[[str], DicomHeader] = read_header_fast
                        ) -> SeriesResult:
    """Index the DICOM files of one folder, from three of them when the folder allows it.

    Parameters
    ----------
    files
        Every DICOM file of the folder (zip archives excluded).
    sizes
        Their sizes in bytes, when known (they are checked to be equal).
    reader
        Reads one header.

    Returns
    -------
    SeriesResult
        With ``sampled=False`` and every file read when the assumption fails; ``reason`` says
        which part failed.

    Examples
    --------
    >>> from covidimg.sources._engine.series_sampling import index_series_folder
    >>> index_series_folder([]).reason
    '0 files, fewer than 20'
    """
    ordered = _natural_order(files)
    folder = os.path.dirname(ordered[0]) if ordered else ""
    if sizes is not None and len(sizes) != len(files):
        raise ValueError(f"index_series_folder: {len(files)} files but {len(sizes)} sizes; "
                         "pass one size per file, in the same order")
    reason = None
    sample: list[DicomHeader | DicomReadError] = []
    if len(ordered) >= MIN_SERIES_FILES and (sizes is None or _similar_sizes(sizes)):
        picks = (0, len(ordered) // 2, len(ordered) - 1)
        sample = [_read(ordered[k], reader) for k in picks]
    reason = _why_not(ordered, sizes, sample)
    if reason is not None:
        return SeriesResult(folder, [(p, _read(p, reader)) for p in ordered], False, reason)
    first, middle, last = sample
    assert isinstance(first, DicomHeader) and isinstance(last, DicomHeader)
    n = len(ordered)
    step = 1 if last.instance_number > first.instance_number else -1  # type: ignore[operator]
    dz = None if first.position_z is None else (last.position_z - first.position_z) / (n - 1)
    read = {ordered[0]: first, ordered[n // 2]: middle, ordered[-1]: last}
    results: list[tuple[str, DicomHeader | DicomReadError]] = []
    template = dict(first.__dict__, sop_uid=None)
    for k, path in enumerate(ordered):
        header = read.get(path)
        if header is None:  # the frozen dataclass's fields, set directly (no re-validation)
            header = object.__new__(DicomHeader)
            header.__dict__.update(
                template, path=path,
                instance_number=first.instance_number + step * k,  # type: ignore[operator]
                position_z=None if dz is None else first.position_z + dz * k)
        results.append((path, header))
    inferred = frozenset(ordered) - set(read)
    return SeriesResult(folder, results, True,
                        f"{n} files of one series, read 3 (first, middle, last)", inferred)
