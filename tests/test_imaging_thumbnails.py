"""Windowing, thumbnails and their cache, batch galleries with failures, privacy, real data."""

from __future__ import annotations

import io
import os
import struct
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
from PIL import Image
from test_imaging_support import (
    INSTITUTION,
    PATIENT_NAME,
    correlation,
    ct_phantom,
    heart_side,
    radiograph,
    write_ct_series,
    write_mhh_nifti,
    write_radiograph_dcm,
)

from covidimg import schema
from covidimg.errors import ImageReadError
from covidimg.imaging import WINDOW_PRESETS, placeholder, read_image, thumbnail, thumbnails, window
from covidimg.imaging.thumbcache import png_is_intact


def decode(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as img:
        return np.asarray(img)


def png_chunks(png: bytes) -> list[bytes]:
    kinds, pos = [], 8
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos:pos + 4])
        kinds.append(png[pos + 4:pos + 8])
        pos += 12 + length
    return kinds


def cache_files(folder: Path) -> list[Path]:
    return sorted(p for p in (folder / "thumbnails").rglob("*") if p.is_file())


# -- windowing ---------------------------------------------------------------------------------


def test_presets_are_the_usual_ct_windows_and_auto() -> None:
    assert {"auto", "lung", "mediastinum", "bone"} <= set(WINDOW_PRESETS)
    lung = WINDOW_PRESETS["lung"]
    assert (lung.center, lung.width) == (-600.0, 1500.0)
    assert WINDOW_PRESETS["auto"].percentiles == (0.5, 99.5)


def test_explicit_window_is_linear_and_clipped() -> None:
    values = np.array([[-1000.0, -200.0, 0.0, 100.0, 200.0, 3000.0]])
    out = window(values, center=0, width=400)
    assert out.dtype == np.uint8
    assert out.tolist() == [[0, 0, 128, 191, 255, 255]]


def test_lung_window_separates_air_lung_and_soft_tissue() -> None:
    out = window(np.array([-1350.0, -850.0, 40.0, 150.0]), "lung")
    assert out[0] == 0 and out[-1] == 255 and 0 < out[1] < out[2] < 255


def test_auto_window_stretches_percentiles_and_ignores_outliers() -> None:
    rng = np.random.default_rng(4)
    image = rng.normal(100, 10, size=(200, 200)).astype(np.float32)
    image[0, 0] = 1e6                                    # a hot pixel must not wash out the rest
    out = window(image)
    assert np.percentile(out, 50) == pytest.approx(128, abs=6)
    assert out.min() == 0 and out.max() == 255
    assert window(np.full((5, 5), 7.0)).max() == 0       # flat image: no division by zero
    nan_image = np.where(np.eye(5, dtype=bool), np.nan, 1.0)
    assert window(nan_image)[0, 0] == 0


def test_window_errors_name_the_argument_and_allowed_values() -> None:
    with pytest.raises(ValueError,
                       match=r"preset='brain' is not allowed; allowed values are \['auto', 'lung'"):
        window(np.zeros((2, 2)), "brain")
    with pytest.raises(ValueError, match="width must be a positive"):
        window(np.zeros((2, 2)), center=0, width=0)
    with pytest.raises(ValueError, match="give both center and width"):
        window(np.zeros((2, 2)), center=0)
    with pytest.raises(ValueError, match="percentiles must be"):
        window(np.zeros((2, 2)), percentiles=(90, 10))


def test_ct_series_thumbnail_uses_hounsfield_units_for_ct_presets(tmp_path: Path) -> None:
    vol = ct_phantom()
    write_ct_series(tmp_path / "ct", vol)
    hu = read_image(tmp_path / "ct", slice_index="middle", voi=False)
    png = thumbnail(tmp_path / "ct", size=40, window="lung", cache=False)
    expected = window(hu, "lung")
    got = decode(png)
    # 48x40 slice letterboxed into 40x40 is 40x33: compare the picture area.
    assert got.shape == (40, 40)
    assert correlation(np.asarray(Image.fromarray(expected).resize((33, 40))),
                       got[:, 3:36]) > 0.95


# -- single thumbnails and the cache -----------------------------------------------------------


def test_thumbnail_is_a_fixed_size_png_with_the_image_letterboxed(tmp_path: Path) -> None:
    image = radiograph(shape=(192, 160))
    path = write_radiograph_dcm(tmp_path / "pa.dcm", image)
    png = thumbnail(path, size=96, cache_dir=tmp_path / "cache")
    pixels = decode(png)
    assert pixels.shape == (96, 96) and pixels.dtype == np.uint8
    assert pixels[:, :4].max() == 0 and pixels[:, -4:].max() == 0     # black side bars
    assert heart_side(pixels[:, 8:88]) == "right"


def test_second_call_is_served_from_the_cache(tmp_path: Path) -> None:
    path = write_radiograph_dcm(tmp_path / "pa.dcm", radiograph())
    cache = tmp_path / "cache"
    first = thumbnail(path, size=64, cache_dir=cache)
    [entry] = cache_files(cache)
    assert entry.read_bytes() == first
    # Replace the entry with another valid PNG: the next call must return it unread from DICOM.
    marker = io.BytesIO()
    Image.new("L", (64, 64), 77).save(marker, format="PNG")
    entry.write_bytes(marker.getvalue())
    assert thumbnail(path, size=64, cache_dir=cache) == marker.getvalue()
    # Other parameters are other entries.
    thumbnail(path, size=32, cache_dir=cache)
    thumbnail(path, size=64, window="bone", cache_dir=cache)
    assert len(cache_files(cache)) == 3


def test_a_changed_file_gets_a_new_thumbnail(tmp_path: Path) -> None:
    path = tmp_path / "pa.dcm"
    cache = tmp_path / "cache"
    write_radiograph_dcm(path, radiograph(seed=1))
    before = thumbnail(path, size=64, cache_dir=cache)
    stat = path.stat()
    write_radiograph_dcm(path, radiograph(seed=1)[:, ::-1])
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    after = thumbnail(path, size=64, cache_dir=cache)
    assert before != after
    assert heart_side(decode(after)) == "left"        # the mirrored picture, not the old one
    assert len(cache_files(cache)) == 2


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "empty"])
def test_a_corrupted_cache_entry_is_detected_and_rebuilt(tmp_path: Path, damage: str) -> None:
    path = write_radiograph_dcm(tmp_path / "pa.dcm", radiograph())
    cache = tmp_path / "cache"
    good = thumbnail(path, size=64, cache_dir=cache)
    [entry] = cache_files(cache)
    data = bytearray(good)
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip":
        data[len(data) // 2] ^= 0xFF
    elif damage == "garbage":
        data = bytearray(b"not a png at all")
    else:
        data = bytearray()
    entry.write_bytes(bytes(data))
    assert not png_is_intact(bytes(data))
    assert thumbnail(path, size=64, cache_dir=cache) == good
    assert entry.read_bytes() == good


def test_cache_writes_leave_no_temporary_files(tmp_path: Path) -> None:
    path = write_radiograph_dcm(tmp_path / "pa.dcm", radiograph())
    thumbnails([path] * 6, size=48, cache_dir=tmp_path / "cache", n_jobs=3, progress=False)
    files = cache_files(tmp_path / "cache")
    assert len(files) == 1 and files[0].suffix == ".png"


def test_default_cache_folder_is_covidimg_cache(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COVIDIMG_CACHE", str(tmp_path / "env-cache"))
    path = write_radiograph_dcm(tmp_path / "pa.dcm", radiograph())
    thumbnail(path, size=32)
    assert len(cache_files(tmp_path / "env-cache")) == 1
    thumbnail(path, size=32, cache=False)
    assert len(cache_files(tmp_path / "env-cache")) == 1


def test_preview_png_is_used_when_asked(tmp_path: Path) -> None:
    image = radiograph()
    nii = write_mhh_nifti(tmp_path / "a.nii.gz", image)
    preview = tmp_path / "a.png"
    Image.fromarray(np.full((50, 40), 200, np.uint8)).save(preview)  # recognisably different
    row = {"path": str(nii), "format": "nifti", "stored_transposed": True,
           "preview_path": str(preview)}
    from_nifti = decode(thumbnail(row, size=40, cache=False))
    from_preview = decode(thumbnail(row, size=40, cache=False, use_preview=True))
    assert heart_side(from_nifti[:, 4:36]) == "right"
    assert np.unique(from_preview[:, 10:30]).size <= 2     # flat grey preview (+ black bars)


def test_thumbnail_raises_image_read_error_for_one_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(b"DICM? no")
    with pytest.raises(ImageReadError) as info:
        thumbnail(bad, cache_dir=tmp_path / "cache")
    assert str(bad) in str(info.value)
    with pytest.raises(ValueError, match="size must be an int between 8 and 4096"):
        thumbnail(bad, size=3)


# -- privacy -----------------------------------------------------------------------------------


def test_thumbnails_carry_pixels_only_no_dicom_identifiers(tmp_path: Path) -> None:
    path = write_radiograph_dcm(tmp_path / "pa.dcm", radiograph())
    assert str(pydicom.dcmread(path).PatientName) == PATIENT_NAME
    batch = thumbnails([path, tmp_path / "missing.dcm"], size=64, cache_dir=tmp_path / "c",
                       progress=False)
    for png in batch.images:
        assert set(png_chunks(png)) <= {b"IHDR", b"IDAT", b"IEND"}
        for secret in (PATIENT_NAME, "Doe", INSTITUTION, "19500101", "Covid0001"):
            assert secret.encode() not in png
    for path_on_disk in cache_files(tmp_path / "c"):
        assert PATIENT_NAME.encode() not in path_on_disk.read_bytes()
    text = batch.findings.to_csv()
    assert "Doe" not in text and INSTITUTION not in text


# -- batches: galleries never stop for a bad image ---------------------------------------------


def _gallery(tmp_path: Path) -> pd.DataFrame:
    good_dcm = write_radiograph_dcm(tmp_path / "good.dcm", radiograph(seed=2))
    good_nii = write_mhh_nifti(tmp_path / "good.nii.gz", radiograph(seed=3))
    write_ct_series(tmp_path / "ct", ct_phantom(n_slices=6))
    truncated = tmp_path / "truncated.dcm"
    truncated.write_bytes(good_dcm.read_bytes()[:-3000])
    odd = write_radiograph_dcm(tmp_path / "odd.dcm", radiograph())
    ds = pydicom.dcmread(odd)
    ds.PhotometricInterpretation = "HSV"
    ds.save_as(odd)
    rows = [
        ("nccid:1", good_dcm, "dicom", None), ("nccid:2", truncated, "dicom", None),
        ("mhh:3", good_nii, "nifti", True), ("tcia:4", tmp_path / "ct", "dicom", None),
        ("nccid:5", odd, "dicom", None), ("mhh:6", tmp_path / "gone.nii.gz", "nifti", True),
    ]
    return pd.DataFrame({
        "image_uid": [r[0] for r in rows], "patient_uid": [f"{r[0]}-p" for r in rows],
        "source": [r[0].split(":")[0] for r in rows], "path": [str(r[1]) for r in rows],
        "format": [r[2] for r in rows], "stored_transposed": [r[3] for r in rows],
    })


@pytest.mark.parametrize("parallel", ["serial", "threads", "executor"])
def test_batch_returns_placeholders_and_findings_for_failures(tmp_path: Path,
                                                              parallel: str) -> None:
    images = _gallery(tmp_path)
    kwargs: dict = {"size": 48, "cache_dir": tmp_path / "cache", "progress": parallel == "serial"}
    if parallel == "threads":
        kwargs["n_jobs"] = 2
    if parallel == "executor":
        with ThreadPoolExecutor(max_workers=2) as pool:
            batch = thumbnails(images, executor=pool, **kwargs)
    else:
        batch = thumbnails(images, **kwargs)
    assert len(batch) == 6
    assert batch.ok == [True, False, True, True, False, False]
    for i, ok in enumerate(batch.ok):
        assert png_is_intact(batch.images[i])
        assert (batch.images[i] == placeholder(48)) == (not ok)
        assert (batch.paths[i] is not None) == ok
    findings = batch.findings
    assert list(findings.columns[:6]) == schema.TABLES["findings"].names
    schema.validate("findings", findings)
    assert findings["kind"].tolist() == ["unreadable_image"] * 3
    assert findings["image_uid"].tolist() == ["nccid:2", "nccid:5", "mhh:6"]
    assert findings["source"].tolist() == ["nccid", "nccid", "mhh"]
    assert findings["patient_uid"].tolist() == ["nccid:2-p", "nccid:5-p", "mhh:6-p"]
    details = findings.set_index("image_uid")["detail"]
    assert "truncated" in details["nccid:2"]
    assert "'HSV'" in details["nccid:5"]
    assert "file not found" in details["mhh:6"]
    assert findings.set_index("image_uid").loc["nccid:2", "path"].endswith("truncated.dcm")


def test_batch_output_order_matches_input_and_single_thumbnails(tmp_path: Path) -> None:
    paths = [write_radiograph_dcm(tmp_path / f"{i}.dcm", radiograph(seed=i)) for i in range(5)]
    batch = thumbnails(paths, size=40, cache_dir=tmp_path / "cache", n_jobs=2, progress=False)
    for path, png in zip(paths, batch.images, strict=True):
        assert png == thumbnail(path, size=40, cache=False)


def test_batch_from_cache_reads_files_only(tmp_path: Path) -> None:
    paths = [write_radiograph_dcm(tmp_path / f"{i}.dcm", radiograph(seed=i)) for i in range(4)]
    cache = tmp_path / "cache"
    first = thumbnails(paths, size=40, cache_dir=cache, progress=False)
    for path in paths:                        # the originals are gone; the cache still serves
        stat = path.stat()
        path.write_bytes(b"")                 # (keep size/mtime unchanged is impossible, so
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # only the content changed)
    second = thumbnails(paths, size=40, cache_dir=cache, progress=False)
    assert not any(second.ok)                 # size changed -> new key -> unreadable, reported
    for path, p in zip(paths, first.paths, strict=True):
        assert p is not None and p.is_file() and str(path) != str(p)


def test_batch_in_a_process_pool(tmp_path: Path) -> None:
    paths = [write_radiograph_dcm(tmp_path / f"{i}.dcm", radiograph(seed=i)) for i in range(3)]
    paths.append(tmp_path / "missing.dcm")
    with ProcessPoolExecutor(max_workers=2) as pool:
        batch = thumbnails(paths, size=32, cache_dir=tmp_path / "cache", executor=pool,
                           progress=False)
    assert batch.ok == [True, True, True, False]
    assert all(p.is_file() for p in batch.paths[:3])


# -- real and demo data ------------------------------------------------------------------------


def test_every_real_mhh_png_thumbnails(mhh_dir: Path, tmp_path: Path) -> None:
    pngs = sorted((mhh_dir / "png").glob("*.png"))
    batch = thumbnails(pngs, size=64, cache_dir=tmp_path / "cache", n_jobs=2, progress=False)
    assert len(batch) == 243 and all(batch.ok), batch.findings["detail"].tolist()[:3]
    assert batch.findings.empty


@pytest.mark.slow   # the shared demo_cohort fixture takes ~40 s to write once per session
def test_every_demo_image_reads_and_thumbnails_upright(demo_cohort, tmp_path: Path) -> None:
    images = demo_cohort.images
    assert len(images) > 0 and set(images["format"]) >= {"dicom", "nifti"}
    batch = thumbnails(images, size=32, cache_dir=tmp_path / "cache", n_jobs=2, progress=False)
    assert all(batch.ok), batch.findings["detail"].tolist()[:3]
    # The demo draws every film as displayed (heart on the image's right, see the phantom
    # tests): MHH NIfTI must come back as its display-order preview PNG, DICOM films as
    # stored (MONOCHROME1 inverted) - never transposed or mirrored.
    nifti = images[images["format"] == "nifti"].head(8)
    assert len(nifti) > 0
    for _, row in nifti.iterrows():
        got, preview = read_image(row), read_image(row["preview_path"])
        assert got.shape == preview.shape
        assert correlation(got, preview) > 0.99, row["path"]
        assert correlation(got[:, ::-1], preview) < 0.99        # a mirror would fail
        assert correlation(got[::-1, :], preview) < 0.99        # and so would upside down
    films = images[(images["format"] == "dicom") & images["view"].isin(["PA", "AP"])]
    assert len(films) > 0
    for _, row in films.groupby("source", observed=True).head(4).iterrows():
        got = read_image(row, voi=False)
        ds = pydicom.dcmread(io.BytesIO(_member_bytes(row["path"])))
        stored = ds.pixel_array.astype(float)
        sign = -1.0 if ds.PhotometricInterpretation == "MONOCHROME1" else 1.0
        assert correlation(got, sign * stored) > 0.999, row["path"]
    for _, row in images[images["modality"] == "CT"].head(6).iterrows():
        middle = read_image(row, slice_index="middle", voi=False)
        assert middle.ndim == 2 and middle.min() < -500          # Hounsfield units, air/lung


def _member_bytes(path: str) -> bytes:
    if "::" in path:
        import zipfile

        archive, member = path.split("::", 1)
        with zipfile.ZipFile(archive) as zf:
            return zf.read(member)
    return Path(path).read_bytes()
