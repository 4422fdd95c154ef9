"""Truncated, corrupt and identifying DICOM / DICOM-JSON through the real readers and loaders.

Every case must read, or fail with a documented error (a :class:`covidimg.LoadError`
subclass: DicomReadError, ImageReadError, MissingCodecError) naming the file; a gallery never
raises; a load never stops, and accounts for every file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from covidimg.errors import DicomReadError, ImageReadError, MissingCodecError
from covidimg.imaging import read_image
from covidimg.sources._engine.dicom import read_header
from covidimg.sources._engine.dicom_json import read_header_json

from . import corpus, layouts
from .harness import run_file_cases

CATEGORIES = sorted({c.category for c in corpus.dicom_corpus()})


@pytest.mark.parametrize("category", CATEGORIES)
def test_every_dicom_case_reads_or_names_the_file(tmp_path: Path, category: str) -> None:
    cases = [c for c in corpus.dicom_corpus() if c.category == category]
    tally = run_file_cases(cases, tmp_path, category)
    assert tally.inputs == len(cases) > 0
    assert tally.crashes == []


def test_truncation_is_tried_at_many_offsets() -> None:
    cases = corpus.truncated_dicom()
    assert len(cases) >= 50
    assert len({len(c.data) for c in cases}) == len(cases)


def _write(tmp_path: Path, name: str) -> Path:
    [case] = [c for c in corpus.dicom_corpus() if c.name == name]
    path = tmp_path / case.filename
    path.write_bytes(case.data)
    return path


@pytest.mark.parametrize("name, header_message", [
    ("truncated-at-00000", "not a DICOM file"),
    ("marker-DICX", "not a DICOM file"),
    ("random-bytes", "not a DICOM file"),
    ("png-named-dcm", "not a DICOM file"),
    ("patient-id-length-past-end", "PatientID cannot be trusted"),
    ("identifying-patient-id-length-200", "PatientID cannot be trusted"),
    ("identifying-series-uid-length-40", "SeriesInstanceUID cannot be trusted"),
])
def test_unreadable_headers_say_what_is_wrong(tmp_path: Path, name: str,
                                              header_message: str) -> None:
    path = _write(tmp_path, name)
    with pytest.raises(DicomReadError, match=header_message) as info:
        read_header(path)
    assert info.value.path == str(path)
    assert corpus.leaked(str(info.value)) == []


@pytest.mark.parametrize("name, message", [
    ("pixels-one-third", "pixel data is truncated"),
    ("rows-65535", "pixel data is truncated"),
    ("frames-400", "pixel data is truncated"),
    ("no-pixel-data", "no Pixel Data element"),
    ("photometric-cmyk", "unsupported PhotometricInterpretation 'CMYK'"),
    ("syntax-missing", "no TransferSyntaxUID"),
    ("bits-allocated-vr-FD", "BitsAllocated"),
    ("transfer-syntax-vr-US", "not a UID"),
])
def test_readable_header_unreadable_pixels(tmp_path: Path, name: str, message: str) -> None:
    path = _write(tmp_path, name)
    with pytest.raises(ImageReadError, match=message) as info:
        read_image(path)
    assert info.value.path == str(path)


@pytest.mark.parametrize("name", ["syntax-mpeg2", "syntax-unknown-uid", "syntax-private-uid"])
def test_unsupported_transfer_syntax_is_a_missing_codec(tmp_path: Path, name: str) -> None:
    path = _write(tmp_path, name)
    assert read_header(path).sop_uid == "2.25.3"          # the header is still indexed
    with pytest.raises(MissingCodecError) as info:
        read_image(path)
    assert info.value.transfer_syntax and str(path) in str(info.value)


def test_unreadable_window_shows_the_image_without_it(tmp_path: Path) -> None:
    path = _write(tmp_path, "window-text")
    with pytest.warns(UserWarning, match="WindowCenter cannot be read"):
        pixels = read_image(path)
    assert pixels.shape == (32, 32)


def test_identifying_fields_are_never_read(tmp_path: Path) -> None:
    for case in corpus.identifying_dicom():
        path = tmp_path / case.filename
        path.write_bytes(case.data)
        header = read_header(path)
        assert corpus.leaked(repr(header)) == []
    json_path = tmp_path / "identifying.json"
    [case] = [c for c in corpus.dicom_json_corpus() if c.name == "json-identifying"]
    json_path.write_bytes(case.data)
    assert corpus.leaked(case.data)                       # planted ...
    assert corpus.leaked(repr(read_header_json(json_path))) == []      # ... and not read


def test_malformed_dicom_json_names_the_file(tmp_path: Path) -> None:
    tally = run_file_cases(corpus.dicom_json_corpus(), tmp_path, "dicom_json")
    assert tally.crashes == []
    assert tally.errors >= 15
    path = tmp_path / "json-deep-nesting.json"
    with pytest.raises(DicomReadError, match="nests arrays and objects more than"):
        read_header_json(path)  # refused before parsing (MAX_JSON_DEPTH)
    with pytest.raises(DicomReadError, match="expected a DICOM-JSON object"):
        read_header_json(None, label="x.json")


@pytest.mark.parametrize("source", layouts.DICOM_SOURCES)
def test_loaders_go_on_past_every_bad_file_and_account_for_all(tmp_path: Path,
                                                               source: str) -> None:
    root = layouts.write_layout(source, tmp_path / "layout")
    cases = [c for c in corpus.dicom_corpus() if c.category != "truncated"]
    cases += corpus.truncated_dicom(12)
    planted = layouts.plant(source, root, cases, json_cases=corpus.dicom_json_corpus())
    tally = layouts.check_load(source, root, planted, cache_dir=tmp_path / "thumbs")
    assert tally.inputs == len(cases)
    assert tally.crashes == []
    assert tally.unaccounted == []
    assert tally.errors >= 20          # the unreadable ones were each named by a finding
