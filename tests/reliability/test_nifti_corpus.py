"""NIfTI files whose headers disagree with their data, and broken ``.nii.gz`` files.

Each must read, or raise :class:`~covidimg.imaging.ImageReadError` naming the file, before a
single oversized array is allocated; a gallery shows a placeholder and a finding instead.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from covidimg.errors import ImageReadError
from covidimg.imaging import read_image, thumbnails

from . import corpus
from .harness import run_file_cases

CATEGORIES = sorted({c.category for c in corpus.nifti_corpus()})


@pytest.mark.parametrize("category", CATEGORIES)
def test_every_nifti_case_reads_or_names_the_file(tmp_path: Path, category: str) -> None:
    cases = [c for c in corpus.nifti_corpus() if c.category == category]
    tally = run_file_cases(cases, tmp_path, category)
    assert tally.inputs == len(cases) > 0
    assert tally.crashes == []


def _write(tmp_path: Path, name: str) -> Path:
    [case] = [c for c in corpus.nifti_corpus() if c.name == name]
    path = tmp_path / case.filename
    path.write_bytes(case.data)
    return path


@pytest.mark.parametrize("name, message", [
    ("dims-larger-than-data", "but the file holds"),
    ("dims-huge", r"too large: 32,767 x 32,767 x 32,767 pixels .* above max_pixel_bytes"),
    ("dims-negative", "not all positive"),
    ("vox-offset-past-end", "but the file holds"),
    ("sform-nan", "affine"),
    ("sform-singular", "affine"),
    ("header-only", "but the file holds"),
    ("data-half", "but the file holds"),
    ("dims-4d-time-series", "time series"),
    ("gz-truncated-050", "NIfTI"),
    ("magic-wrong", "not a readable NIfTI file"),
])
def test_inconsistent_headers_say_what_is_wrong(tmp_path: Path, name: str,
                                                message: str) -> None:
    path = _write(tmp_path, name)
    with pytest.raises(ImageReadError, match=message) as info:
        read_image(path)
    assert info.value.path == str(path)


def test_zero_pixdim_and_a_wrong_gzip_checksum_still_read(tmp_path: Path) -> None:
    assert read_image(_write(tmp_path, "pixdim-zero")).shape == (30, 40)
    # the pixels are intact; only the trailer's CRC is wrong, and nibabel stops before it
    assert read_image(_write(tmp_path, "gz-crc-flipped")).shape == (30, 40)


def test_a_gallery_of_broken_nifti_never_raises(tmp_path: Path) -> None:
    paths = [str(tmp_path / c.filename) for c in corpus.nifti_corpus()]
    for case, path in zip(corpus.nifti_corpus(), paths, strict=True):
        Path(path).write_bytes(case.data)
    batch = thumbnails(paths, size=32, cache_dir=tmp_path / "thumbs", progress=False)
    assert len(batch) == len(paths)
    failed = [p for p, ok in zip(paths, batch.ok, strict=True) if not ok]
    assert sorted(batch.findings["path"]) == sorted(failed)
    assert len(failed) >= 25
