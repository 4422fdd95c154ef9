"""read_image on real files: pydicom's test files, phantoms written as DICOM/NIfTI, MHH PNGs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.pixels import apply_modality_lut, apply_voi_lut
from pydicom.uid import RLELossless
from test_imaging_support import (
    correlation,
    ct_phantom,
    heart_side,
    pydicom_file,
    radiograph,
    write_ct_series,
    write_mhh_nifti,
    write_nifti,
    write_radiograph_dcm,
    zip_files,
)

import covidimg
from covidimg.errors import ImageReadError, MissingCodecError
from covidimg.imaging import read_image

# -- DICOM: pydicom's own test files ----------------------------------------------------------


def test_ct_is_returned_in_hounsfield_units_without_voi() -> None:
    path = pydicom_file("CT_small.dcm")
    ds = pydicom.dcmread(path)
    hu = read_image(path, voi=False)
    np.testing.assert_array_equal(hu, apply_modality_lut(ds.pixel_array, ds))
    assert hu.dtype == np.float32 and hu.min() < -500       # air/lung in HU, not stored values


def test_header_voi_lut_sequence_is_applied() -> None:
    path = pydicom_file("vlut_04.dcm")
    ds = pydicom.dcmread(path)
    assert "VOILUTSequence" in ds
    with_voi, without = read_image(path), read_image(path, voi=False)
    np.testing.assert_array_equal(with_voi, apply_voi_lut(ds.pixel_array, ds))
    assert not np.array_equal(with_voi, without)


def test_voi_lut_values_are_the_lut_entries(tmp_path: Path) -> None:
    # A LUT that maps stored value v to 16 * (4095 - v): reading must return exactly that.
    image = radiograph()
    lut = (4095 - np.arange(4096)) * 16
    path = write_radiograph_dcm(tmp_path / "voi.dcm", image, voi_lut=lut)
    stored = pydicom.dcmread(path).pixel_array.astype(np.int64)
    np.testing.assert_array_equal(read_image(path), lut[stored])


def test_window_center_width_from_header_clips(tmp_path: Path) -> None:
    image = np.linspace(0, 1, 64 * 64, dtype=np.float32).reshape(64, 64)
    path = write_radiograph_dcm(tmp_path / "w.dcm", image, window=(2048, 1024))
    out = read_image(path)
    stored = pydicom.dcmread(path).pixel_array
    assert np.all(out[stored <= 2048 - 512] == out.min())
    assert np.all(out[stored > 2048 + 512] == out.max())
    middle = (stored > 1700) & (stored < 2400)
    assert np.all(np.diff(out[middle]) >= 0)                 # monotone inside the window


@pytest.mark.parametrize("name", ["RG1_UNCI.dcm", "RG3_UNCR.dcm", "RG3_J2KI.dcm"])
def test_monochrome1_is_inverted_so_air_is_dark(name: str) -> None:
    path = pydicom_file(name)
    ds = pydicom.dcmread(path)
    assert ds.PhotometricInterpretation == "MONOCHROME1"
    raw = apply_modality_lut(ds.pixel_array, ds).astype(np.float32)
    out = read_image(path, voi=False)
    np.testing.assert_allclose(out, raw.max() + raw.min() - raw)
    assert correlation(read_image(path)[::4, ::4], raw[::4, ::4]) < -0.9   # with header VOI too


def test_monochrome1_phantom_reads_like_the_monochrome2_one(tmp_path: Path) -> None:
    image = radiograph()
    mono1 = read_image(write_radiograph_dcm(tmp_path / "m1.dcm", image, photometric="MONOCHROME1"))
    mono2 = read_image(write_radiograph_dcm(tmp_path / "m2.dcm", image))
    assert correlation(mono1, image) > 0.999
    np.testing.assert_allclose(mono1 - mono1.min(), mono2 - mono2.min(), atol=1)


def test_multiframe_file_returns_every_frame_and_one_frame_on_request() -> None:
    path = pydicom_file("emri_small.dcm")
    frames = pydicom.dcmread(path).pixel_array
    vol = read_image(path)
    assert vol.shape == (10, 64, 64)
    np.testing.assert_array_equal(vol, frames)
    np.testing.assert_array_equal(read_image(path, slice_index=3), frames[3])
    np.testing.assert_array_equal(read_image(path, slice_index=-1), frames[9])
    np.testing.assert_array_equal(read_image(path, slice_index="middle"), frames[5])


def test_enhanced_multiframe_frames_are_ordered_by_position(tmp_path: Path) -> None:
    ds = pydicom.dcmread(pydicom_file("eCT_Supplemental.dcm"))
    per_frame = ds.PerFrameFunctionalGroupsSequence
    z = [float(f.PlanePositionSequence[0].ImagePositionPatient[2]) for f in per_frame]
    ascending = read_image(pydicom_file("eCT_Supplemental.dcm"), voi=False)
    # Swap the two frames' positions: the frames must come back in the other order.
    first = per_frame[0].PlanePositionSequence[0].ImagePositionPatient
    second = per_frame[1].PlanePositionSequence[0].ImagePositionPatient
    per_frame[0].PlanePositionSequence[0].ImagePositionPatient = second
    per_frame[1].PlanePositionSequence[0].ImagePositionPatient = first
    swapped_path = tmp_path / "swapped.dcm"
    ds.save_as(swapped_path)
    swapped = read_image(swapped_path, voi=False)
    assert z[0] != z[1]
    np.testing.assert_array_equal(swapped[0], ascending[1])
    np.testing.assert_array_equal(swapped[1], ascending[0])
    # Each frame gets the rescale of its functional groups: Hounsfield units, air near -1024.
    assert ascending.min() == -1024


@pytest.mark.parametrize("compressed, reference", [
    ("MR_small_jp2klossless.dcm", "MR_small.dcm"),
    ("MR_small_jpeg_ls_lossless.dcm", "MR_small.dcm"),
    ("MR_small_RLE.dcm", "MR_small.dcm"),
    ("emri_small_jpeg_2k_lossless.dcm", "emri_small.dcm"),
    ("RG3_J2KR.dcm", "RG3_UNCR.dcm"),
    ("MR2_J2KR.dcm", "MR2_UNCR.dcm"),
    ("US1_J2KR.dcm", "US1_UNCR.dcm"),
    ("SC_rgb_jpeg_gdcm.dcm", "SC_rgb.dcm"),
])
def test_compressed_transfer_syntaxes_decode_to_the_uncompressed_pixels(
        compressed: str, reference: str) -> None:
    assert pydicom.dcmread(pydicom_file(compressed)).file_meta.TransferSyntaxUID.is_compressed
    got = read_image(pydicom_file(compressed), voi=False)
    want = read_image(pydicom_file(reference), voi=False)
    np.testing.assert_allclose(got, want, rtol=1e-6)


@pytest.mark.parametrize("lossy, reference", [
    ("RG3_J2KI.dcm", "RG3_UNCI.dcm"),
    ("SC_rgb_jpeg_dcmtk.dcm", "SC_rgb.dcm"),
])
def test_lossy_transfer_syntaxes_decode_to_nearly_the_same_picture(
        lossy: str, reference: str) -> None:
    got = read_image(pydicom_file(lossy), voi=False)
    want = read_image(pydicom_file(reference), voi=False)
    assert got.shape == want.shape and correlation(got, want) > 0.99


def test_rle_compressed_phantom_round_trips(tmp_path: Path) -> None:
    image = radiograph()
    plain = read_image(write_radiograph_dcm(tmp_path / "plain.dcm", image))
    rle = read_image(write_radiograph_dcm(tmp_path / "rle.dcm", image, compress=RLELossless))
    assert pydicom.dcmread(tmp_path / "rle.dcm").file_meta.TransferSyntaxUID == RLELossless
    np.testing.assert_array_equal(rle, plain)


def test_colour_images_become_luminance() -> None:
    out = read_image(pydicom_file("SC_rgb.dcm"))
    rgb = pydicom.dcmread(pydicom_file("SC_rgb.dcm")).pixel_array.astype(np.float64)
    assert out.ndim == 2
    np.testing.assert_allclose(out, rgb @ [0.299, 0.587, 0.114], rtol=1e-5)


# -- DICOM: orientation of a PA film -----------------------------------------------------------


def test_pa_phantom_dicom_has_heart_on_image_right(tmp_path: Path) -> None:
    image = radiograph()
    out = read_image(write_radiograph_dcm(tmp_path / "pa.dcm", image))
    assert heart_side(out) == "right"
    assert correlation(out, image) > 0.999


@pytest.mark.parametrize("orientation, stored", [
    (("R", "F"), lambda a: a[:, ::-1]),          # stored mirrored
    (("L", "H"), lambda a: a[::-1, :]),          # stored upside down
    (("R", "H"), lambda a: a[::-1, ::-1]),       # stored rotated half a turn
    (("F", "L"), lambda a: a.T),                 # stored rotated a quarter turn (transposed)
])
def test_patient_orientation_turns_a_film_upright(tmp_path: Path, orientation, stored) -> None:
    image = radiograph()
    path = write_radiograph_dcm(tmp_path / "x.dcm", np.ascontiguousarray(stored(image)),
                                orientation=orientation)
    out = read_image(path)
    assert out.shape == image.shape
    assert heart_side(out) == "right"
    assert correlation(out, image) > 0.999


# -- DICOM: multi-file series, folders and zips ------------------------------------------------


def test_series_folder_is_ordered_by_position_not_by_name(tmp_path: Path) -> None:
    vol = ct_phantom()
    write_ct_series(tmp_path / "ct", vol)
    out = read_image(tmp_path / "ct", voi=False)
    np.testing.assert_allclose(out, np.rint(vol + 1024).clip(0, 4095) - 1024)
    np.testing.assert_array_equal(read_image(tmp_path / "ct", slice_index=4, voi=False), out[4])
    np.testing.assert_array_equal(read_image(tmp_path / "ct", slice_index="middle", voi=False),
                                  out[len(vol) // 2])


def test_series_without_positions_falls_back_to_instance_number(tmp_path: Path) -> None:
    vol = ct_phantom(n_slices=6)
    write_ct_series(tmp_path / "ct", vol, with_positions=False)
    out = read_image(tmp_path / "ct", voi=False)
    np.testing.assert_allclose(out, np.rint(vol + 1024).clip(0, 4095) - 1024)


def test_series_and_single_file_read_from_inside_a_zip(tmp_path: Path) -> None:
    vol = ct_phantom(n_slices=5)
    files = write_ct_series(tmp_path / "ct", vol)
    film = write_radiograph_dcm(tmp_path / "cr.dcm", radiograph())
    archive = zip_files(tmp_path / "exam.zip",
                        {**{f"series1/{p.name}": p for p in files}, "cr/0001.dcm": film})
    series = read_image({"path": f"{archive}::series1/", "format": "dicom"}, voi=False)
    np.testing.assert_array_equal(series, read_image(tmp_path / "ct", voi=False))
    np.testing.assert_array_equal(read_image(f"{archive}::series1/", slice_index=2, voi=False),
                                  series[2])
    np.testing.assert_array_equal(read_image(f"{archive}::cr/0001.dcm"), read_image(film))
    assert sorted(os.listdir(tmp_path)) == ["cr.dcm", "ct", "exam.zip"]   # nothing extracted


def test_images_row_from_a_dataframe_is_accepted(tmp_path: Path) -> None:
    import pandas as pd

    film = write_radiograph_dcm(tmp_path / "cr.dcm", radiograph())
    rows = pd.DataFrame({"path": [str(film)], "format": ["dicom"], "modality": ["DX"],
                         "n_instances": [1], "stored_transposed": [pd.NA]})
    assert read_image(rows.iloc[0]).shape == radiograph().shape


def test_slice_index_out_of_range_names_the_argument_and_range(tmp_path: Path) -> None:
    write_ct_series(tmp_path / "ct", ct_phantom(n_slices=4))
    with pytest.raises(IndexError, match=r"slice_index=9 .* 4 slice\(s\); allowed are 0\.\.3"):
        read_image(tmp_path / "ct", slice_index=9)
    with pytest.raises(ValueError, match="slice_index='top'"):
        read_image(tmp_path / "ct", slice_index="top")


# -- DICOM: errors name the file ---------------------------------------------------------------


def test_truncated_pixel_data_names_the_file_and_the_byte_counts(tmp_path: Path) -> None:
    path = pydicom_file("MR_truncated.dcm")
    with pytest.raises(ImageReadError, match=r"truncated: 8130 bytes .* need 8192") as info:
        read_image(path)
    assert info.value.path == path and path in str(info.value)


def test_file_cut_short_names_the_file(tmp_path: Path) -> None:
    source = write_radiograph_dcm(tmp_path / "full.dcm", radiograph())
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(source.read_bytes()[:-5000])
    with pytest.raises(ImageReadError, match="truncated") as info:
        read_image(cut)
    assert str(cut) in str(info.value)
    compressed_cut = pydicom_file("emri_small_jpeg_2k_lossless_too_short.dcm")
    with pytest.raises(ImageReadError, match="truncated"):
        read_image(compressed_cut)


@pytest.mark.parametrize("photometric", ["CMYK", "HSV", "ARGB"])
def test_unsupported_photometric_interpretation_names_file_and_value(
        tmp_path: Path, photometric: str) -> None:
    path = write_radiograph_dcm(tmp_path / "odd.dcm", radiograph())
    ds = pydicom.dcmread(path)
    ds.PhotometricInterpretation = photometric
    ds.save_as(path)
    with pytest.raises(ImageReadError, match=f"unsupported PhotometricInterpretation "
                                             f"'{photometric}'.*MONOCHROME2") as info:
        read_image(path)
    assert str(path) in str(info.value)


def test_transfer_syntax_without_any_decoder_is_a_missing_codec(tmp_path: Path) -> None:
    path = tmp_path / "part2.dcm"
    shutil.copy(pydicom_file("MR_small_jp2klossless.dcm"), path)
    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.92"   # JPEG 2000 Part 2
    ds.save_as(path)
    with pytest.raises(MissingCodecError, match="JPEG 2000 Part 2 Multi-component") as info:
        read_image(path)
    assert info.value.transfer_syntax == "1.2.840.10008.1.2.4.92"
    assert str(path) in str(info.value)


def test_missing_codec_names_transfer_syntax_and_extra(tmp_path: Path) -> None:
    # A Python where the pylibjpeg plugins (and gdcm, pyjpegls) are not installed.
    script = textwrap.dedent(f"""
        import sys
        for name in ("pylibjpeg", "libjpeg", "openjpeg", "rle", "gdcm", "jpeg_ls"):
            sys.modules[name] = None          # what an absent package looks like to import
        from covidimg.imaging import MissingCodecError, read_image
        try:
            read_image({pydicom_file("MR_small_jpeg_ls_lossless.dcm")!r})
        except MissingCodecError as exc:
            print("MISSING", exc)
        else:
            print("DECODED")
    """)
    env = {**os.environ, "PYTHONPATH": str(Path(covidimg.__file__).parents[1])}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env=env, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("MISSING"), out
    assert "JPEG-LS Lossless" in out and "covidimg[codecs]" in out
    assert "MR_small_jpeg_ls_lossless.dcm" in out


def test_not_a_dicom_file_and_missing_file(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.dcm"
    bogus.write_text("this is not DICOM")
    with pytest.raises(ImageReadError, match="not a DICOM file") as info:
        read_image(bogus)
    assert str(bogus) in str(info.value)
    with pytest.raises(ImageReadError, match="file not found"):
        read_image(tmp_path / "gone.dcm")
    with pytest.raises(ImageReadError, match="no member 'x.dcm'"):
        archive = tmp_path / "a.zip"
        with zipfile.ZipFile(archive, "w") as zf:
            zf.writestr("y.dcm", b"")
        read_image(f"{archive}::x.dcm")


def test_image_read_error_is_a_covidimg_load_error() -> None:
    assert issubclass(ImageReadError, covidimg.LoadError)
    assert issubclass(MissingCodecError, ImageReadError)


# -- NIfTI -------------------------------------------------------------------------------------


@pytest.mark.parametrize("transposed_flag", [True, None])
def test_mhh_style_nifti_is_upright_with_heart_on_right(tmp_path: Path, transposed_flag) -> None:
    image = radiograph()
    path = write_mhh_nifti(tmp_path / "mhh.nii.gz", image)
    out = read_image({"path": str(path), "format": "nifti",
                      "stored_transposed": transposed_flag})
    assert out.shape == image.shape
    assert heart_side(out) == "right"
    np.testing.assert_allclose(out, image, atol=1e-6)


def test_nifti_stored_in_display_order_is_kept(tmp_path: Path) -> None:
    image = radiograph()
    path = write_nifti(tmp_path / "plain.nii", image)
    out = read_image({"path": str(path), "stored_transposed": False})
    np.testing.assert_allclose(out, image, atol=1e-6)


def test_nifti_radiograph_orientation_comes_from_a_coronal_affine(tmp_path: Path) -> None:
    image = radiograph()
    # RAS coronal: first axis towards the patient's right, second towards the head.
    ras = np.array([[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]], float)
    path = write_nifti(tmp_path / "ras.nii.gz", image[::-1, ::-1].T, ras)
    np.testing.assert_allclose(read_image(path), image, atol=1e-6)
    # LPS-like: first axis towards the patient's left, second towards the feet.
    lps = np.array([[-1, 0, 0, 0], [0, 0, 1, 0], [0, -1, 0, 0], [0, 0, 0, 1]], float)
    path = write_nifti(tmp_path / "lps.nii.gz", image.T, lps)
    assert nib.aff2axcodes(lps)[:2] == ("L", "I")
    out = read_image(path)
    assert heart_side(out) == "right"
    np.testing.assert_allclose(out, image, atol=1e-6)


def test_nifti_volume_becomes_axial_slices_feet_to_head(tmp_path: Path) -> None:
    vol = ct_phantom()
    # RAS+ storage: x towards the patient's right (image column decreasing), y anterior (row
    # decreasing), z superior (slice increasing).
    ras = write_nifti(tmp_path / "ras.nii.gz", vol[:, ::-1, ::-1].transpose(2, 1, 0))
    np.testing.assert_allclose(read_image(ras), vol, atol=1e-3)
    # The same volume stored LPS (as a DICOM converter might), with the affine saying so.
    lps = write_nifti(tmp_path / "lps.nii.gz", vol.transpose(2, 1, 0),
                      np.diag([-1.0, -1.0, 1.0, 1.0]))
    np.testing.assert_allclose(read_image(lps), vol, atol=1e-3)
    np.testing.assert_allclose(read_image(lps, slice_index=3), vol[3], atol=1e-3)


def test_nifti_inside_a_zip(tmp_path: Path) -> None:
    image = radiograph()
    path = write_mhh_nifti(tmp_path / "mhh.nii.gz", image)
    archive = zip_files(tmp_path / "n.zip", {"nii/a.nii.gz": path})
    out = read_image({"path": f"{archive}::nii/a.nii.gz", "stored_transposed": True})
    np.testing.assert_allclose(out, image, atol=1e-6)


def test_truncated_nifti_names_the_file(tmp_path: Path) -> None:
    path = write_mhh_nifti(tmp_path / "mhh.nii.gz", radiograph())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    assert str(path) in str(info.value)


# -- PNG ---------------------------------------------------------------------------------------


def test_real_mhh_pngs_read_as_stored(mhh_dir: Path) -> None:
    pngs = sorted((mhh_dir / "png").glob("*.png"))
    assert len(pngs) == 243
    for path in pngs[:20]:
        with Image.open(path) as img:
            want = np.asarray(img.convert("L"), dtype=np.float32)
        np.testing.assert_array_equal(read_image(path), want)


def test_broken_png_names_the_file(tmp_path: Path, mhh_dir: Path) -> None:
    source = next((mhh_dir / "png").glob("*.png"))
    cut = tmp_path / "cut.png"
    cut.write_bytes(source.read_bytes()[:2000])
    with pytest.raises(ImageReadError, match="not a readable PNG") as info:
        read_image(cut)
    assert str(cut) in str(info.value)
