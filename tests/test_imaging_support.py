"""Writers of real test images (DICOM with pydicom, NIfTI with nibabel) and their own checks.

The imaging tests import these helpers; the tests at the bottom check that what they write is
what a DICOM/NIfTI reader other than covidimg's sees, so a writer bug cannot hide a reader bug.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from covidimg.demo.phantom import chest_radiograph, ct_volume

DX_STORAGE = "1.2.840.10008.5.1.4.1.1.1.1"   # Digital X-Ray Image Storage - For Presentation
PATIENT_NAME = "Doe^Jane"
INSTITUTION = "Hannover Test Hospital"


def pydicom_file(name: str) -> str:
    """A pydicom test file from the installed packages (pydicom, pydicom-data); never downloads."""
    path = get_testdata_file(name, download=False)
    if path is None:
        import pytest

        pytest.fail(f"pydicom test file {name!r} is not installed; `pip install pydicom-data` "
                    "(the test extra) provides it")
    return str(path)


def radiograph(seed: int = 0, shape: tuple[int, int] = (192, 160)) -> np.ndarray:
    """The lead's PA phantom: float32 in [0, 1], heart on the image's right."""
    return chest_radiograph(np.random.default_rng(seed), shape=shape, severity=0.4, view="PA")


def ct_phantom(seed: int = 0, n_slices: int = 12, shape: tuple[int, int] = (48, 40)) -> np.ndarray:
    """The lead's CT phantom in Hounsfield units, slices feet → head."""
    return ct_volume(np.random.default_rng(seed), n_slices=n_slices, shape=shape, severity=0.4)


def _base_dataset(sop_class: str, modality: str) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = modality
    ds.PatientName = PATIENT_NAME
    ds.PatientID = "Covid0001"
    ds.PatientBirthDate = "19500101"
    ds.InstitutionName = INSTITUTION
    return ds


def write_radiograph_dcm(path: Path, image01: np.ndarray, *, photometric: str = "MONOCHROME2",
                         orientation: Sequence[str] | None = ("L", "F"),
                         view: str = "PA", bits: int = 12, window: tuple[float, float] | None
                         = None, voi_lut: np.ndarray | None = None,
                         compress: str | None = None) -> Path:
    """Write a DX radiograph whose stored values are ``image01`` scaled to ``bits`` bits.

    With ``photometric="MONOCHROME1"`` the stored values are inverted (air bright), as a
    MONOCHROME1 detector stores them, so a correct reader shows the same picture.
    """
    ds = _base_dataset(DX_STORAGE, "DX")
    top = 2 ** bits - 1
    stored = np.rint(np.clip(image01, 0, 1) * top).astype(np.uint16)
    if photometric == "MONOCHROME1":
        stored = (top - stored).astype(np.uint16)
    ds.set_pixel_data(stored, photometric_interpretation=photometric, bits_stored=bits)
    ds.ViewPosition = view
    if orientation is not None:
        ds.PatientOrientation = list(orientation)
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    if voi_lut is not None:
        item = Dataset()
        item.LUTDescriptor = [len(voi_lut), 0, 16]
        item.add_new("LUTData", "US", [int(v) for v in voi_lut])
        ds.VOILUTSequence = [item]
    if compress is not None:
        ds.compress(compress)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def write_ct_series(folder: Path, volume_hu: np.ndarray, *, rng_seed: int = 1,
                    with_positions: bool = True) -> list[Path]:
    """Write one CT file per slice; file names and Instance Numbers are shuffled.

    Slice ``k`` sits at z = 2.5 k mm (axial, rows towards P, columns towards L), so only the
    positions give the true order; without positions the Instance Numbers do.
    """
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(rng_seed)
    n = volume_hu.shape[0]
    names = rng.permutation(n)
    study, series = generate_uid(), generate_uid()
    paths = []
    for k in range(n):
        ds = _base_dataset(CTImageStorage, "CT")
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        stored = np.rint(volume_hu[k] + 1024).clip(0, 4095).astype(np.uint16)
        ds.set_pixel_data(stored, photometric_interpretation="MONOCHROME2", bits_stored=12)
        ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = -1024, 1, "HU"
        ds.WindowCenter, ds.WindowWidth = 40, 400
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        if with_positions:
            ds.ImagePositionPatient = [-50.0, -60.0, -100.0 + 2.5 * k]
            ds.InstanceNumber = int(rng.integers(1000))   # deliberately meaningless
        else:
            ds.InstanceNumber = k + 1
        path = folder / f"{int(names[k]):04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def write_nifti(path: Path, data: np.ndarray, affine: np.ndarray | None = None) -> Path:
    """Save ``data`` with ``affine`` (identity by default) as NIfTI-1."""
    path.parent.mkdir(parents=True, exist_ok=True)
    img = nib.Nifti1Image(np.asarray(data, dtype=np.float32),
                          np.eye(4) if affine is None else affine)
    nib.save(img, path)
    return path


def write_mhh_nifti(path: Path, display: np.ndarray) -> Path:
    """Store a radiograph as MHH does: 2-D, transposed (MHH reads it with ``get_data().T``)."""
    return write_nifti(path, np.ascontiguousarray(display.T))


def zip_files(archive: Path, files: dict[str, Path]) -> Path:
    """Put ``files`` (member name → file) into a new zip archive."""
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for member, file in files.items():
            zf.write(file, member)
    return archive


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two images of the same shape."""
    return float(np.corrcoef(np.asarray(a, float).ravel(), np.asarray(b, float).ravel())[0, 1])


def heart_side(image: np.ndarray) -> str:
    """``"right"`` when the heart shadow (bright, lower middle) lies on the image's right.

    Compares the band where the heart sits (rows 55–70 %) just right and just left of the
    midline: the heart is dense, the lung on the other side is dark.
    """
    rows, cols = image.shape
    band = image[int(0.55 * rows):int(0.70 * rows)]
    right = band[:, int(0.55 * cols):int(0.68 * cols)].mean()
    left = band[:, int(0.32 * cols):int(0.45 * cols)].mean()
    return "right" if right > left else "left"


# -- checks of the writers themselves, with readers other than covidimg's ----------------------

def test_phantom_heart_is_on_the_image_right() -> None:
    assert heart_side(radiograph()) == "right"
    assert heart_side(radiograph()[:, ::-1]) == "left"


def test_radiograph_writer_round_trips_through_pydicom(tmp_path: Path) -> None:
    image = radiograph()
    path = write_radiograph_dcm(tmp_path / "a.dcm", image, photometric="MONOCHROME1")
    ds = pydicom.dcmread(path)
    assert ds.PhotometricInterpretation == "MONOCHROME1"
    assert list(ds.PatientOrientation) == ["L", "F"]
    assert correlation(ds.pixel_array, image) < -0.99        # stored inverted


def test_ct_series_writer_puts_slice_k_at_its_position(tmp_path: Path) -> None:
    vol = ct_phantom()
    paths = write_ct_series(tmp_path / "ct", vol)
    for k, path in enumerate(paths):
        ds = pydicom.dcmread(path)
        assert float(ds.ImagePositionPatient[2]) == -100.0 + 2.5 * k
        np.testing.assert_allclose(ds.pixel_array - 1024.0,
                                   np.rint(vol[k] + 1024).clip(0, 4095) - 1024)
    assert sorted(p.name for p in paths) != [p.name for p in paths]  # names do not give order


def test_mhh_nifti_writer_stores_the_transpose(tmp_path: Path) -> None:
    image = radiograph()
    stored = nib.load(write_mhh_nifti(tmp_path / "x.nii.gz", image)).get_fdata()
    np.testing.assert_allclose(stored.T, image, atol=1e-6)   # what MHH's nii2png.py does
