"""The fast indexer (byte scanner, process pool, sampling, cache) and the plain pydicom loop
give identical results on the same tree."""

from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import io
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from covidimg.demo.dicom_writer import uid, write_dicom
from covidimg.demo.large import write_dicom_tree
from covidimg.errors import DicomReadError
from covidimg.sources._engine.dicom import read_header
from covidimg.sources._engine.header_scan import read_header_fast, scan_values
from covidimg.sources._engine.index import images_from_index, index_dicom, index_options
from covidimg.sources._engine.ledger import Ledger


def _write_variants(folder: Path, rng: np.random.Generator) -> list[Path]:
    """Files that exercise every branch of the scanner (and its fallbacks)."""
    folder.mkdir(parents=True, exist_ok=True)
    pixels = rng.random((8, 8)).astype(np.float32)
    common = dict(patient_id="VAR-1", study_uid=uid(rng), study_date=dt.date(2020, 4, 2))
    paths = []

    def write(name: str, **kwargs: object) -> Path:
        path = folder / name
        args = {"modality": "CR", "series_uid": uid(rng), "sop_uid": uid(rng), **common,
                **kwargs}
        write_dicom(path, pixels, **args)  # type: ignore[arg-type]
        paths.append(path)
        return path

    write("plain.dcm", view="PA", age_years=44)
    write("no_view.dcm", view=None, series_description="CHEST PORTABLE")
    write("utf8.dcm", view="AP", study_description="Thorax \u00fcbersicht",
          extra={"SpecificCharacterSet": "ISO_IR 192"})
    write("latin1.dcm", view="AP", study_description="Thorax \u00fcbersicht")
    write("greek.dcm", view="AP", study_description="\u03b8\u03ce\u03c1\u03b1\u03ba\u03b1\u03c2",
          extra={"SpecificCharacterSet": "ISO_IR 126"})  # the scanner leaves this to pydicom
    seq_item = Dataset()
    seq_item.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
    seq_item.ReferencedSOPInstanceUID = uid(rng)
    path = write("sequence.dcm", view="LAT",
                 extra={"ReferencedStudySequence": Sequence([seq_item])})
    ds = pydicom.dcmread(path)  # an undefined-length sequence before the tags read
    ds.ReferencedStudySequence.is_undefined_length = True
    for item in ds.ReferencedStudySequence:
        item.is_undefined_length_sequence_item = True
    ds.save_as(folder / "undefined_seq.dcm", enforce_file_format=True)
    paths.append(folder / "undefined_seq.dcm")
    ds = pydicom.dcmread(folder / "plain.dcm")
    ds.SOPInstanceUID = uid(rng)
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
    ds.save_as(folder / "implicit.dcm", implicit_vr=True, little_endian=True)
    paths.append(folder / "implicit.dcm")
    ds.SOPInstanceUID = uid(rng)
    buf = io.BytesIO()
    ds.save_as(buf, implicit_vr=True, little_endian=True)  # no preamble, no file meta
    (folder / "raw_dataset.dcm").write_bytes(buf.getvalue()[128 + 4:] if
                                             buf.getvalue()[128:132] == b"DICM" else
                                             buf.getvalue())
    paths.append(folder / "raw_dataset.dcm")
    good = (folder / "plain.dcm").read_bytes()
    (folder / "truncated.dcm").write_bytes(good[:300])
    (folder / "text.dcm").write_text("not a DICOM file\n")
    (folder / "empty.dcm").write_bytes(b"")
    paths += [folder / "truncated.dcm", folder / "text.dcm", folder / "empty.dcm"]
    shutil.copy(folder / "plain.dcm", folder / "plain_copy.dcm")  # a duplicate instance
    paths.append(folder / "plain_copy.dcm")
    return paths


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fast_tree")
    write_dicom_tree(root / "synthetic", n_radiographs=40, n_ct_series=2, slices=25,
                     rng=np.random.default_rng(1))
    _write_variants(root / "variants", np.random.default_rng(2))
    return root


def _paths(root: Path) -> list[str]:
    return sorted(str(p) for p in root.rglob("*") if p.is_file())


def _outcome(reader, path: str):  # type: ignore[no-untyped-def]
    try:
        return reader(path)
    except DicomReadError as exc:
        return ("error", exc.path, exc.reason)


def test_fast_reader_equals_pydicom_reader_on_every_file(tree: Path) -> None:
    paths = _paths(tree)
    for path in paths:
        assert _outcome(read_header_fast, path) == _outcome(read_header, path), path


def test_scanner_reads_the_common_files_itself(tree: Path) -> None:
    """The fast path is really taken (not a silent fallback) for plain, sequence, UTF-8,
    Latin-1 and implicit-VR files; and refused for the ones it must leave to pydicom."""
    variants = tree / "variants"
    for name in ("plain.dcm", "utf8.dcm", "latin1.dcm", "undefined_seq.dcm",
                 "implicit.dcm", "sequence.dcm"):
        values, syntax, _ = scan_values(variants / name)
        assert values["SOPInstanceUID"], name
        assert (syntax == "1.2.840.10008.1.2") == (name == "implicit.dcm")
    assert scan_values(variants / "utf8.dcm")[0]["StudyDescription"] == "Thorax \u00fcbersicht"
    for name in ("greek.dcm", "raw_dataset.dcm", "truncated.dcm", "text.dcm", "empty.dcm"):
        with pytest.raises(ValueError):
            scan_values(variants / name)


def _tables(index, ledger: Ledger) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:  # type: ignore[no-untyped-def]
    images = images_from_index(index, "tcia")
    for row in images.itertuples():
        for label in row.member_paths:
            index.use(label, row.image_uid)
    index.record(ledger)
    return images, ledger.files_frame(), ledger.findings_frame()


def _plain(paths: list[str]):  # type: ignore[no-untyped-def]
    ledger = Ledger("tcia")
    index = index_dicom(paths, ledger, executor=False, cache=False, sample_series=False,
                        fast_headers=False)
    return index, ledger


def test_fast_path_gives_the_same_tables_as_the_plain_loop(tree: Path, tmp_path: Path) -> None:
    paths = _paths(tree)
    plain_index, plain_ledger = _plain(paths)
    with cf.ProcessPoolExecutor(max_workers=2) as pool:
        ledger = Ledger("tcia")
        index = index_dicom(paths, ledger, executor=pool, cache=tmp_path, sample_series=False)
    assert index.headers == plain_index.headers
    assert index.state == plain_index.state
    fast_tables = _tables(index, ledger)
    plain_tables = _tables(plain_index, plain_ledger)
    for fast, plain in zip(fast_tables, plain_tables, strict=True):
        pd.testing.assert_frame_equal(fast, plain)
    assert len(plain_tables[0]) > 40  # radiographs, variants and two CT series


def test_sampled_index_gives_the_same_images_table(tree: Path, tmp_path: Path) -> None:
    paths = _paths(tree)
    plain_index, plain_ledger = _plain(paths)
    ledger = Ledger("tcia")
    with index_options(cache=tmp_path, executor=False):
        index = index_dicom(paths, ledger)
    assert index.counts["inferred"] == 2 * (25 - 3)
    fast_images, fast_files, fast_findings = _tables(index, ledger)
    plain_images, plain_files, plain_findings = _tables(plain_index, plain_ledger)
    pd.testing.assert_frame_equal(fast_images.drop(columns="sop_uids"),
                                  plain_images.drop(columns="sop_uids"))
    pd.testing.assert_frame_equal(fast_findings, plain_findings)
    # the files table says which headers were inferred; statuses and images are the same
    pd.testing.assert_frame_equal(fast_files.drop(columns="reason"),
                                  plain_files.drop(columns="reason"))
    inferred = fast_files["reason"].str.contains("inferred from the series").sum()
    assert inferred == 2 * (25 - 3)


def test_unreadable_and_duplicate_files_are_accounted_for(tree: Path) -> None:
    paths = _paths(tree / "variants")
    ledger = Ledger("tcia")
    index = index_dicom(paths, ledger, executor=False, cache=False)
    status = {Path(k).name: v[0] for k, v in index.state.items()}
    assert status["truncated.dcm"] == status["text.dcm"] == status["empty.dcm"] == "rejected"
    assert status["plain_copy.dcm"] == "duplicate"
    assert set(index.disk_file) == set(paths)


def test_fast_reader_equals_pydicom_on_files_cut_anywhere(tree: Path, tmp_path: Path) -> None:
    """A header cut short (or a file cut in its pixel data) gives what pydicom gives: the
    scan walks on to the pixel data as pydicom does, and leaves every doubt to pydicom."""
    good = (tree / "variants" / "sequence.dcm").read_bytes()
    for cut in range(0, len(good), 5):
        path = tmp_path / f"cut-{cut:05d}.dcm"
        path.write_bytes(good[:cut])
        assert _outcome(read_header_fast, str(path)) == _outcome(read_header, str(path)), cut
    syntax = good.index(b"\x02\x00\x10\x00UI")  # Transfer Syntax UID with another VR
    path = tmp_path / "syntax-vr.dcm"
    path.write_bytes(good[:syntax + 4] + b"US" + good[syntax + 6:])
    assert _outcome(read_header_fast, str(path)) == _outcome(read_header, str(path))


def test_fast_reader_equals_pydicom_on_corrupted_headers(tree: Path, tmp_path: Path) -> None:
    """Bytes overwritten anywhere in the header (lengths, VRs, tags, values) give what pydicom
    gives: the scan either reads the same values or leaves the file to pydicom."""
    rng = np.random.default_rng(7)
    sources = [tree / "variants" / name for name in ("sequence.dcm", "implicit.dcm",
                                                      "utf8.dcm")]
    taken = 0
    for source in sources:
        good = source.read_bytes()
        header_end = good.index(b"\xe0\x7f\x10\x00")  # the Pixel Data element
        for k in range(120):
            data = bytearray(good)
            for _ in range(int(rng.integers(1, 4))):
                at = int(rng.integers(132, header_end))
                data[at] = int(rng.integers(0, 256))
            path = tmp_path / f"{source.stem}-{k:03d}.dcm"
            path.write_bytes(bytes(data))
            try:
                scan_values(path)
                taken += 1
            except (ValueError, UnicodeDecodeError):
                pass
            assert _outcome(read_header_fast, str(path)) == _outcome(read_header, str(path)), \
                (path.name, [(i, good[i], data[i]) for i in range(len(good)) if good[i] != data[i]])
    assert taken > 100  # most damaged files are still read by the scan itself


def test_scanner_leaves_unusual_encodings_of_the_tags_it_reads_to_pydicom(
        tmp_path: Path) -> None:
    """Rows as two values, Modality as a sequence or as OB: the scan gives up and the result is
    pydicom's."""
    rng = np.random.default_rng(3)
    base = tmp_path / "base.dcm"
    write_dicom(base, np.zeros((4, 4), np.float32), modality="CR", patient_id="P",
                study_uid=uid(rng), series_uid=uid(rng), sop_uid=uid(rng),
                study_date=dt.date(2020, 1, 2), view="PA")
    ds = pydicom.dcmread(base)
    variants = {}
    two_rows = ds.copy()
    two_rows["Rows"].value = [4, 4]
    variants["rows_vm2"] = two_rows
    as_ob = ds.copy()
    as_ob["Modality"].VR = "OB"
    as_ob["Modality"].value = b"CR"
    variants["modality_ob"] = as_ob
    for name, variant in variants.items():
        path = tmp_path / f"{name}.dcm"
        variant.save_as(path, enforce_file_format=True)
        with pytest.raises(ValueError):
            scan_values(path)
        assert _outcome(read_header_fast, str(path)) == _outcome(read_header, str(path)), name


def test_the_pool_is_started_for_reads_not_for_the_files_a_sampled_series_lists(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ten 30-slice CT series are 300 files but 30 header reads when sampled: below the
    pool's threshold, so they are read in this process; unsampled, the 300 reads use it."""
    import concurrent.futures as cf

    from covidimg.demo.large import write_dicom_tree
    from covidimg.sources._engine import index as index_module

    write_dicom_tree(tmp_path / "tree", n_radiographs=0, n_ct_series=10, slices=30,
                     rng=np.random.default_rng(3))
    paths = sorted(str(p) for p in (tmp_path / "tree").rglob("*.dcm"))
    assert len(paths) == 300 >= index_module.POOL_MIN_FILES
    started: list[int] = []

    class CountedPool(cf.ProcessPoolExecutor):
        def __init__(self, *args, **kwargs):
            started.append(1)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(index_module.cf, "ProcessPoolExecutor", CountedPool)
    sampled = index_dicom(paths, Ledger("tcia"), cache=False, sample_series=True)
    assert started == [] and len(sampled.headers) == 300
    full = index_dicom(paths, Ledger("tcia"), cache=False, sample_series=False)
    assert started == [1] and len(full.headers) == 300
