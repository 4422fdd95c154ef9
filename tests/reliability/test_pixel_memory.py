"""read_image's pixel memory: a size cap checked from the header, "too large" (never "corrupt")
when an image does not fit, and a peak of at most ~3x the array it returns."""

from __future__ import annotations

import datetime
import pickle
import subprocess
import sys
import textwrap
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from PIL import Image

from covidimg.demo.dicom_writer import uid, write_dicom
from covidimg.errors import ImageReadError, ImageTooLargeError
from covidimg.imaging import read_image, thumbnail, thumbnails
from covidimg.imaging.pixel_limits import DEFAULT_MAX_PIXEL_BYTES, MAX_PIXEL_BYTES_ENV

MiB = 2**20
#: The peak of tracemalloc over the bytes of the returned array may not pass this.
MAX_PEAK_RATIO = 3.5


def _radiograph(path: Path, rows: int, columns: int, *, seed: int = 0,
                photometric: str = "MONOCHROME2") -> Path:
    rng = np.random.default_rng(seed)
    write_dicom(path, rng.random((rows, columns), dtype=np.float32), modality="DX",
                patient_id="P1", study_uid=uid(rng), series_uid=uid(rng), sop_uid=uid(rng),
                study_date=datetime.date(2020, 3, 1), photometric=photometric)  # type: ignore[arg-type]
    return path


def _ct_series(folder: Path, slices: int, size: int, *, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    folder.mkdir()
    study, series = uid(rng), uid(rng)
    for i in range(slices):
        write_dicom(folder / f"{i:03d}.dcm", rng.normal(0, 300, (size, size)).astype(np.float32),
                    modality="CT", patient_id="P1", study_uid=study, series_uid=series,
                    sop_uid=uid(rng), study_date=datetime.date(2020, 3, 1),
                    position_z=float(slices - i), instance_number=i + 1)
    return folder


def _multiframe(series: Path, path: Path) -> Path:
    files = sorted(series.iterdir())
    ds = pydicom.dcmread(files[0])
    ds.NumberOfFrames = len(files)
    ds.PixelData = b"".join(pydicom.dcmread(f).PixelData for f in files)
    ds.save_as(path)
    return path


def _peak(read: Callable[[], np.ndarray]) -> tuple[int, np.ndarray | None]:
    """tracemalloc's peak during ``read`` (numpy's allocations are traced) and its result."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        out = read()
    except ImageReadError:
        out = None
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak, out


# --- the cap: checked from the header, before any pixel is read -----------------------------

def test_a_too_large_dicom_is_refused_from_its_header_without_reading_the_pixels(
        tmp_path: Path) -> None:
    path = _radiograph(tmp_path / "big.dcm", 2048, 2048)    # 8 MiB stored, 16 MiB as float32
    peak, out = _peak(lambda: read_image(path, max_pixel_bytes=4 * MiB))
    assert out is None
    assert peak < 1 * MiB          # neither the 8 MiB of stored pixels nor the result
    with pytest.raises(ImageTooLargeError) as info:
        read_image(path, max_pixel_bytes=4 * MiB)
    err = info.value
    assert isinstance(err, ImageReadError) and err.path == str(path)
    message = str(err)
    assert "too large" in message and "corrupt" not in message
    assert "2,048 x 2,048 pixels need 16.0 MiB (16,777,216 bytes)" in message
    assert "max_pixel_bytes=4,194,304" in message
    assert (err.needed_bytes, err.max_pixel_bytes) == (16 * MiB, 4 * MiB)
    assert read_image(path, max_pixel_bytes=16 * MiB).shape == (2048, 2048)


def test_a_too_large_series_or_multiframe_file_says_to_read_one_slice(tmp_path: Path) -> None:
    series = _ct_series(tmp_path / "series", 12, 128)        # 12 x 128 x 128 x 4 = 768 KiB
    multiframe = _multiframe(series, tmp_path / "mf.dcm")
    for source in (series, multiframe):
        with pytest.raises(ImageTooLargeError, match=r"12 x 128 x 128 pixels .* read one "
                                                     r"slice with slice_index=") as info:
            read_image(source, max_pixel_bytes=512 * 1024)
        assert info.value.path == str(source)
        one = read_image(source, slice_index="middle", max_pixel_bytes=512 * 1024)
        assert one.shape == (128, 128)


def test_a_too_large_nifti_is_refused_from_its_header(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = tmp_path / "big.nii.gz"
    nib.save(nib.Nifti1Image(rng.integers(0, 4000, (1024, 1024)).astype(np.int16), np.eye(4)),
             path)
    peak, out = _peak(lambda: read_image(path, max_pixel_bytes=2 * MiB))
    assert out is None and peak < 1 * MiB
    with pytest.raises(ImageTooLargeError, match=r"1,024 x 1,024 pixels need 4\.0 MiB .* "
                                                 r"max_pixel_bytes=2,097,152") as info:
        read_image(path, max_pixel_bytes=2 * MiB)
    assert info.value.path == str(path)
    # a volume: one slice fits where the whole does not
    volume = tmp_path / "vol.nii"
    nib.save(nib.Nifti1Image(rng.integers(0, 9, (64, 64, 40)).astype(np.int16), np.eye(4)),
             volume)
    with pytest.raises(ImageTooLargeError, match="read one slice with slice_index="):
        read_image(volume, max_pixel_bytes=64 * 1024)
    assert read_image(volume, slice_index=3, max_pixel_bytes=64 * 1024).shape == (64, 64)


def test_a_too_large_png_is_refused_from_its_size(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (1024, 1536, 3), np.uint8)) \
        .save(path)
    peak, out = _peak(lambda: read_image(path, max_pixel_bytes=2 * MiB))
    assert out is None and peak < 1 * MiB
    with pytest.raises(ImageTooLargeError, match=r"1,024 x 1,536 pixels need 6\.0 MiB") as info:
        read_image(path, max_pixel_bytes=2 * MiB)
    assert info.value.path == str(path)


def test_the_limit_comes_from_the_argument_the_environment_or_the_default(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert DEFAULT_MAX_PIXEL_BYTES == 2**30
    path = _radiograph(tmp_path / "x.dcm", 256, 256)          # 256 KiB as float32
    monkeypatch.setenv(MAX_PIXEL_BYTES_ENV, str(128 * 1024))
    with pytest.raises(ImageTooLargeError, match=MAX_PIXEL_BYTES_ENV):
        read_image(path)
    assert read_image(path, max_pixel_bytes=256 * 1024).shape == (256, 256)   # argument wins
    monkeypatch.setenv(MAX_PIXEL_BYTES_ENV, "lots")
    with pytest.raises(ValueError, match=f"{MAX_PIXEL_BYTES_ENV} is 'lots'"):
        read_image(path)
    monkeypatch.delenv(MAX_PIXEL_BYTES_ENV)
    for bad in (0, -1, 1.5, True, "1"):
        with pytest.raises(ValueError, match="max_pixel_bytes must be a positive int"):
            read_image(path, max_pixel_bytes=bad)  # type: ignore[arg-type]


def test_thumbnails_pass_the_limit_and_a_gallery_reports_too_large(tmp_path: Path) -> None:
    path = _radiograph(tmp_path / "x.dcm", 512, 512)
    with pytest.raises(ImageTooLargeError):
        thumbnail(path, size=32, cache=False, max_pixel_bytes=64 * 1024)
    batch = thumbnails([path], size=32, cache=False, progress=False, max_pixel_bytes=64 * 1024)
    assert batch.ok == [False]
    assert "too large" in batch.findings["detail"].iloc[0]
    assert thumbnails([path], size=32, cache=False, progress=False).ok == [True]


def test_the_error_survives_a_process_pool() -> None:
    err = ImageTooLargeError("/x.dcm", "too large: ...", 3, 2)
    back = pickle.loads(pickle.dumps(err))
    assert (type(back), str(back), back.needed_bytes, back.max_pixel_bytes) == \
        (ImageTooLargeError, str(err), 3, 2)


# --- running out of memory is "too large", never "corrupt" ----------------------------------

def test_memory_error_while_decoding_is_too_large(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from covidimg.imaging import dicom_frames

    def no_memory(*args: object, **kwargs: object) -> np.ndarray:
        raise MemoryError

    monkeypatch.setattr(dicom_frames, "pixel_array", no_memory)
    path = _radiograph(tmp_path / "x.dcm", 64, 64)
    with pytest.raises(ImageTooLargeError, match="too large for the memory available") as info:
        read_image(path)
    assert "corrupt" not in str(info.value) and info.value.path == str(path)


_UNDER_A_MEMORY_LIMIT = textwrap.dedent("""
    import resource, sys
    import numpy as np
    from covidimg.imaging import read_image
    from covidimg.errors import ImageTooLargeError
    read_image(sys.argv[1], slice_index=None)          # warm every import and cache up
    vm = next(int(line.split()[1]) for line in open("/proc/self/status")
              if line.startswith("VmSize:")) * 1024
    resource.setrlimit(resource.RLIMIT_AS, (vm + 24 * 2**20, vm + 24 * 2**20))
    try:
        read_image(sys.argv[2])
    except ImageTooLargeError as exc:
        print("TOO LARGE", exc)
    except Exception as exc:
        print("OTHER", type(exc).__name__, exc)
    else:
        print("READ")
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc")
def test_an_image_that_does_not_fit_in_memory_is_too_large_not_corrupt(tmp_path: Path) -> None:
    small = _radiograph(tmp_path / "small.dcm", 32, 32)
    big = _radiograph(tmp_path / "big.dcm", 4096, 4096)      # 32 MiB stored, 64 MiB result
    run = subprocess.run([sys.executable, "-c", _UNDER_A_MEMORY_LIMIT, str(small), str(big)],
                         capture_output=True, text=True, timeout=300, check=False)
    assert run.stdout.startswith("TOO LARGE"), run.stdout + run.stderr
    assert str(big) in run.stdout and "corrupt" not in run.stdout


# --- the peak ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def large_images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("large")
    series = _ct_series(root / "series", 40, 512)
    return {
        "radiograph": _radiograph(root / "dx.dcm", 2048, 2048),
        "radiograph MONOCHROME1": _radiograph(root / "cr.dcm", 2048, 2048, seed=1,
                                              photometric="MONOCHROME1"),
        "series": series,
        "multi-frame": _multiframe(series, root / "mf.dcm"),
    }


@pytest.mark.parametrize("name", ["radiograph", "radiograph MONOCHROME1", "series",
                                  "multi-frame"])
@pytest.mark.parametrize("voi", [True, False])
def test_the_peak_stays_under_3_5x_the_result(large_images: dict[str, Path], name: str,
                                              voi: bool) -> None:
    peak, out = _peak(lambda: read_image(large_images[name], voi=voi))
    assert out is not None and out.dtype == np.float32
    assert peak / out.nbytes < MAX_PEAK_RATIO, f"{name}: peak {peak:,} for {out.nbytes:,} bytes"


@pytest.mark.parametrize("affine, extra_axis", [
    (np.diag([-0.7, 0.8, -2.5, 1.0]), False),
    (np.array([[0, 0, -2.0, 0], [0.7, 0, 0, 0], [0, -0.9, 0, 0], [0, 0, 0, 1]]), False),
    (np.array([[0, 0, -2.0, 0], [0.7, 0, 0, 0], [0, -0.9, 0, 0], [0, 0, 0, 1]]), True),
])
def test_one_nifti_slice_reads_only_itself_and_matches_the_whole_volume(
        tmp_path: Path, affine: np.ndarray, extra_axis: bool) -> None:
    rng = np.random.default_rng(3)
    voxels = rng.integers(-1000, 2000, (30, 20, 9)).astype(np.int16)
    path = tmp_path / "v.nii"
    nib.save(nib.Nifti1Image(voxels[..., None] if extra_axis else voxels, affine), path)
    whole = read_image(path)
    for index in (0, 4, -1):
        np.testing.assert_array_equal(read_image(path, slice_index=index), whole[index])
