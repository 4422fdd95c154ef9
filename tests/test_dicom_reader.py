"""The shared DICOM header reader and the demo DICOM writer, on real Part-10 files."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import zipfile
from dataclasses import asdict

import numpy as np
import pydicom
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian

from covidimg import schema
from covidimg.demo.dicom_writer import uid, write_dicom
from covidimg.demo.phantom import chest_radiograph, ct_volume
from covidimg.errors import DicomReadError
from covidimg.sources._engine.archives import iter_zip_headers
from covidimg.sources._engine.dicom import (
    HELPER_COLUMNS,
    DicomHeader,
    harmonize_view,
    parse_age,
    pixel_digest,
    read_header,
)
from covidimg.sources._engine.dicom_json import read_header_json
from covidimg.sources._engine.series import series_table

SECRETS = {
    "PatientName": "Doe^Jane",
    "PatientBirthDate": "19500102",
    "PatientAddress": "1 Secret Street, Chicago",
    "InstitutionName": "Secret General Hospital",
    "InstitutionAddress": "5841 S Maryland Ave",
    "ReferringPhysicianName": "House^Gregory",
    "OtherPatientIDs": "MRN-998877",
}


def _write(target, rng, **kw):
    args = dict(modality="CR", patient_id="1234", study_uid=uid(rng), series_uid=uid(rng),
                sop_uid=uid(rng), study_date=dt.date(2020, 3, 1))
    args.update(kw)
    pixels = args.pop("pixels", None)
    if pixels is None:
        pixels = chest_radiograph(rng, (32, 32), 0.3, "PA")
    write_dicom(target, pixels, **args)
    return args


def test_radiograph_round_trip_from_path(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "a.dcm"
    args = _write(path, rng, modality="DX", view="PA", sex="F", age_years=65,
                  study_time=dt.time(14, 0, 30), study_description="XR CHEST PA",
                  series_description="PA", instance_number=3)
    header = read_header(path)
    assert header == DicomHeader(
        path=str(path), patient_id="1234", study_uid=args["study_uid"],
        series_uid=args["series_uid"], sop_uid=args["sop_uid"], modality="DX", view="PA",
        study_date=dt.date(2020, 3, 1), study_time=dt.time(14, 0, 30), rows=32, columns=32,
        photometric="MONOCHROME2", sex="F", age_years=65.0, instance_number=3,
        position_z=None, study_description="XR CHEST PA", series_description="PA",
        transfer_syntax=ExplicitVRLittleEndian,
        # what the writer states about the acquisition: a DX's SOP class, series 1, the
        # chest, ImageType ORIGINAL\PRIMARY\<empty>, ImagerPixelSpacing 0.5 mm
        sop_class_uid="1.2.840.10008.5.1.4.1.1.1.1", series_number=1, body_part="CHEST",
        image_type="ORIGINAL\\PRIMARY\\", pixel_spacing_row=0.5, pixel_spacing_col=0.5)


def test_written_file_is_valid_part10(tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "a.dcm"
    _write(path, rng, modality="CT", pixels=ct_volume(rng, 1, (16, 16), 0.3)[0],
           position_z=-120.0)
    raw = path.read_bytes()
    assert raw[128:132] == b"DICM"
    ds = pydicom.dcmread(path)
    assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2"
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert float(ds.ImagePositionPatient[2]) == -120.0
    assert UID(ds.SOPInstanceUID).is_valid


def test_ct_stored_values_rescale_to_hounsfield(tmp_path):
    rng = np.random.default_rng(2)
    hu = ct_volume(rng, 1, (16, 16), 0.5)[0]
    path = tmp_path / "ct.dcm"
    _write(path, rng, modality="CT", pixels=hu)
    ds = pydicom.dcmread(path)
    restored = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    np.testing.assert_allclose(restored, np.round(hu), atol=0.5)


def test_monochrome1_inverts_stored_values(tmp_path):
    rng = np.random.default_rng(3)
    pixels = chest_radiograph(rng, (24, 24), 0.4, "AP")
    common = dict(study_uid="2.25.1", series_uid="2.25.2", sop_uid="2.25.3", pixels=pixels)
    _write(tmp_path / "m2.dcm", rng, **common)
    _write(tmp_path / "m1.dcm", rng, photometric="MONOCHROME1", **common)
    m1, m2 = (pydicom.dcmread(tmp_path / f"{n}.dcm") for n in ("m1", "m2"))
    assert m1.PhotometricInterpretation == "MONOCHROME1"
    np.testing.assert_array_equal(m1.pixel_array.astype(int), 4095 - m2.pixel_array.astype(int))
    assert read_header(tmp_path / "m1.dcm").photometric == "MONOCHROME1"


def test_identifying_fields_never_reach_the_header_or_table(tmp_path):
    rng = np.random.default_rng(4)
    path = tmp_path / "a.dcm"
    _write(path, rng, extra=SECRETS)
    assert pydicom.dcmread(path).InstitutionName == SECRETS["InstitutionName"]  # in the file
    header = read_header(path)
    text = repr(asdict(header))
    table = series_table([header], source="crdw")
    text += table.to_csv()
    for value in SECRETS.values():
        assert value not in text
        assert value.split("^")[0] not in text


def test_read_header_from_zip_member_without_extracting(tmp_path):
    rng = np.random.default_rng(5)
    archive = tmp_path / "exam.zip"
    sops = []
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for k in range(3):
            with zf.open(f"2-AXIAL/IM-{k:04d}.dcm", "w") as fh:
                sops.append(_write(fh, rng, modality="CT", study_uid="2.25.9",
                                   series_uid="2.25.10", instance_number=k + 1,
                                   position_z=float(10 - k),
                                   pixels=np.zeros((8, 8), np.float32))["sop_uid"])
        zf.writestr("2-AXIAL/", "")
        zf.writestr("notes.txt", "not dicom")
    before = sorted(os.listdir(tmp_path))
    results = list(iter_zip_headers(archive))
    assert sorted(os.listdir(tmp_path)) == before  # nothing extracted
    labels = [label for label, _ in results]
    assert labels == [f"{archive}::2-AXIAL/IM-{k:04d}.dcm" for k in range(3)] + \
        [f"{archive}::notes.txt"]
    headers = [r for _, r in results if isinstance(r, DicomHeader)]
    assert [h.sop_uid for h in headers] == sops
    error = results[-1][1]
    assert isinstance(error, DicomReadError)
    assert error.path == f"{archive}::notes.txt"
    assert "notes.txt" in str(error)

    row = series_table(headers, source="crdw").iloc[0]
    assert row["path"] == f"{archive}::2-AXIAL/"
    assert row["n_instances"] == 3
    assert row["view"] == "AXIAL"
    assert row["sop_uids"] == tuple(reversed(sops))  # ordered feet to head by position


def test_corrupt_zip_raises_naming_the_archive(tmp_path):
    archive = tmp_path / "1234_20200301-140030_A001_XR.zip"
    archive.write_bytes(b"PK\x03\x04 this is not really a zip")
    with pytest.raises(DicomReadError, match="1234_20200301-140030_A001_XR.zip"):
        list(iter_zip_headers(archive))


@pytest.mark.parametrize("content, message", [
    (b"", "not a DICOM file"),
    (b"hello world, definitely not DICOM" * 20, "not a DICOM file"),
])
def test_non_dicom_files_give_a_clear_error(tmp_path, content, message):
    path = tmp_path / "x.dcm"
    path.write_bytes(content)
    with pytest.raises(DicomReadError, match=message) as info:
        read_header(path)
    assert str(path) in str(info.value)


def test_truncated_and_missing_files(tmp_path):
    rng = np.random.default_rng(6)
    full = tmp_path / "full.dcm"
    _write(full, rng)
    truncated = tmp_path / "truncated.dcm"
    truncated.write_bytes(full.read_bytes()[:180])
    with pytest.raises(DicomReadError, match="truncated.dcm"):
        read_header(truncated)
    with pytest.raises(DicomReadError, match="does not exist"):
        read_header(tmp_path / "missing.dcm")


def test_dicomdir_is_not_an_image(tmp_path):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.1.3.10"
    meta.MediaStorageSOPInstanceUID = "2.25.77"
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset("", {}, file_meta=meta, preamble=b"\0" * 128)
    ds.FileSetID = "DEMO"
    ds.SOPInstanceUID = "2.25.77"
    path = tmp_path / "DICOMDIR"
    ds.save_as(path, enforce_file_format=True)
    with pytest.raises(DicomReadError, match="DICOMDIR"):
        read_header(path)


def test_file_without_preamble_is_read(tmp_path):
    rng = np.random.default_rng(7)
    buf = io.BytesIO()
    args = _write(buf, rng)
    path = tmp_path / "bare.dcm"
    path.write_bytes(buf.getvalue()[132:])  # strip preamble and "DICM"
    assert read_header(path).sop_uid == args["sop_uid"]


def test_header_from_file_object_uses_label(tmp_path):
    rng = np.random.default_rng(8)
    buf = io.BytesIO()
    _write(buf, rng)
    buf.seek(0)
    assert read_header(buf, label="/data/a.zip::x.dcm").path == "/data/a.zip::x.dcm"


def _nccid_json(ds: pydicom.Dataset) -> dict:
    """DICOM-JSON as NCCID ships it: binary values and the VOI LUT Sequence nulled."""
    obj = ds.to_json_dict(bulk_data_threshold=10**9)
    for element in obj.values():
        if "InlineBinary" in element:
            element["InlineBinary"] = None
    obj["00283010"] = None
    obj["7FE00010"] = {"vr": "OW", "InlineBinary": None}
    return obj


def test_read_header_json_matches_the_file(tmp_path):
    rng = np.random.default_rng(9)
    path = tmp_path / "a.dcm"
    _write(path, rng, modality="DX", view=None, series_description="AP PORTABLE",
           age_years=81, sex="M", extra=SECRETS)
    obj = _nccid_json(pydicom.dcmread(path))
    json_path = tmp_path / "a.json"
    json_path.write_text(json.dumps(obj))
    from_json = read_header_json(json_path, label=str(path))
    from_file = read_header(path)
    assert from_json == DicomHeader(**{**asdict(from_file), "transfer_syntax": None})
    assert from_json.view == "AP"
    for value in SECRETS.values():
        assert value not in repr(from_json)
    assert read_header_json([obj], label="x").sop_uid == from_file.sop_uid


def test_read_header_json_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DicomReadError, match="bad.json"):
        read_header_json(bad)
    with pytest.raises(DicomReadError, match="expected a DICOM-JSON object"):
        read_header_json([1, 2], label="list.json")
    with pytest.raises(DicomReadError, match="no SOP Instance UID"):
        read_header_json({"00100010": {"vr": "PN", "Value": [{"Alphabetic": "Doe^Jane"}]}},
                         label="names-only.json")


@pytest.mark.parametrize("text, years", [
    ("065Y", 65.0), ("81", 81.0), ("030M", 2.5), ("002W", 14 / 365.25),
    ("010D", 10 / 365.25), (" 7y ", 7.0), ("", None), (None, None), ("abc", None),
    ("65 years", None),
])
def test_parse_age(text, years):
    result = parse_age(text)
    if years is None:
        assert result is None
    else:
        assert result == pytest.approx(years, rel=1e-5)


@given(st.integers(0, 999), st.sampled_from("YMWD"))
def test_parse_age_scales_each_unit(n, unit):
    factor = {"Y": 1, "M": 1 / 12, "W": 7 / 365.25, "D": 1 / 365.25}[unit]
    assert parse_age(f"{n:03d}{unit}") == pytest.approx(n * factor, abs=1e-5)


@pytest.mark.parametrize("modality, position, descriptions, view", [
    ("CR", "PA", (), "PA"),
    ("DX", "AP", ("XR CHEST PA",), "AP"),
    ("CR", "LL", (), "LAT"),
    ("CR", "RL", (), "LAT"),
    ("CR", "", ("LATERAL",), "LAT"),
    ("DX", None, (None, "XR-PORT-CHEST-1V"), "AP"),
    ("DX", None, ("CHEST PA AND LATERAL", "XR CHEST PA"), "PA"),
    ("CR", None, ("CHEST PA AND LATERAL",), "UNKNOWN"),
    ("CR", None, ("SPAIN",), "UNKNOWN"),  # words, not substrings
    ("CR", "LLD", (), "UNKNOWN"),
    ("CT", None, ("CHEST PA",), "AXIAL"),
    ("MR", "", (), "AXIAL"),
])
def test_harmonize_view(modality, position, descriptions, view):
    assert harmonize_view(modality, position, *descriptions) == view


def test_series_table_rows_and_schema(tmp_path):
    rng = np.random.default_rng(10)
    folder = tmp_path / "series"
    folder.mkdir()
    headers = []
    order = rng.permutation(5)
    for k in order:
        path = folder / f"{k}.dcm"
        _write(path, rng, modality="CT", study_uid="2.25.1", series_uid="2.25.2",
               sop_uid=f"2.25.3{k}", instance_number=int(k) + 1, position_z=float(k),
               pixels=np.zeros((8, 8), np.float32))
        headers.append(read_header(path))
    for view in ("PA", "LAT"):
        path = tmp_path / f"{view}.dcm"
        _write(path, rng, view=view, photometric="MONOCHROME1")
        headers.append(read_header(path))
    sr = DicomHeader(str(tmp_path / "sr.dcm"), "1234", "2.25.1", "2.25.8", "2.25.9", "SR",
                     "UNKNOWN", None, None, None, None, None, "U", None, None, None, None, None,
                     None)
    table = series_table([*headers, sr], source="crdw",
                         patient_uid=lambda h: f"crdw:remapped-{h.patient_id}")
    assert len(table) == 3
    ct = table[table["modality"] == "CT"].iloc[0]
    assert ct["image_uid"] == "crdw:2.25.2"
    assert ct["path"] == str(folder)
    assert ct["n_instances"] == 5
    assert ct["sop_uids"] == tuple(f"2.25.3{k}" for k in range(5))
    radiographs = table[table["modality"] == "CR"]
    assert sorted(radiographs["view"]) == ["LAT", "PA"]
    assert set(radiographs["photometric"]) == {"MONOCHROME1"}
    assert set(table["patient_uid"]) == {"crdw:remapped-1234"}
    images = schema.conform("images", table.drop(columns=list(HELPER_COLUMNS)))
    schema.validate("images", images)


def test_series_table_empty():
    table = series_table([], source="crdw")
    assert len(table) == 0
    schema.validate("images", schema.conform("images", table.drop(columns=list(HELPER_COLUMNS))))


def test_pixel_digest_sees_content_not_uids(tmp_path):
    rng = np.random.default_rng(11)
    pixels = chest_radiograph(rng, (16, 16), 0.2, "PA")
    _write(tmp_path / "a.dcm", rng, pixels=pixels)
    _write(tmp_path / "b.dcm", rng, pixels=pixels)
    _write(tmp_path / "c.dcm", rng, pixels=pixels[::-1].copy())
    digests = [pixel_digest(tmp_path / f"{n}.dcm") for n in "abc"]
    assert digests[0] == digests[1] != digests[2]
    (tmp_path / "x.dcm").write_bytes(b"no pixels here" * 10)
    with pytest.raises(DicomReadError, match="x.dcm"):
        pixel_digest(tmp_path / "x.dcm")


def test_uid_is_deterministic_and_valid():
    a = [uid(np.random.default_rng(42)) for _ in range(2)]
    assert a[0] == a[1]
    rng = np.random.default_rng(42)
    many = {uid(rng) for _ in range(200)}
    assert len(many) == 200
    assert all(UID(u).is_valid and len(u) <= 64 for u in many)


@pytest.mark.parametrize("kw, message", [
    ({"modality": "US"}, "modality='US'"),
    ({"pixels": np.zeros((2, 4, 4), np.float32)}, "2-D"),
    ({"photometric": "RGB"}, "photometric"),
    ({"view": "OBLIQUE"}, "view='OBLIQUE'"),
    ({"pixels": np.full((4, 4), 5000, np.int32)}, r"\[0, 4095\]"),
])
def test_writer_rejects_bad_arguments(kw, message):
    with pytest.raises(ValueError, match=message):
        _write(io.BytesIO(), np.random.default_rng(0), **kw)


def test_study_date_and_time_fallbacks(tmp_path):
    rng = np.random.default_rng(12)
    path = tmp_path / "a.dcm"
    _write(path, rng, extra={"StudyDate": "", "StudyTime": "093015.25", "SeriesDate": "20200402"})
    header = read_header(path)
    assert header.study_date == dt.date(2020, 4, 2)
    assert header.study_time == dt.time(9, 30, 15, 250000)


def test_json_patient_age_without_unit_reads_as_years_without_warning(recwarn):
    from covidimg.sources._engine.dicom_json import read_header_json

    header = read_header_json({
        "00101010": {"vr": "AS", "Value": ["81"]},
        "00080060": {"vr": "CS", "Value": ["CR"]},
        "00080018": {"vr": "UI", "Value": ["1.2.3.4"]},
        "0020000D": {"vr": "UI", "Value": ["1.2.3"]},
    }, label="x.json")
    assert header.age_years == 81.0
    assert not [w for w in recwarn if "AS" in str(w.message)]


#: What a real CT header states about its equipment and acquisition (as in IDC's index).
TECHNICAL = {"Manufacturer": "SIEMENS", "ManufacturerModelName": "SOMATOM Definition AS+",
             "ConvolutionKernel": ["I30f", "3"], "KVP": "120", "SliceThickness": "1.5",
             "SeriesNumber": 4, "BodyPartExamined": "CHEST",
             "PixelSpacing": ["0.703125", "0.65"]}


def test_equipment_and_acquisition_reach_the_images_table(tmp_path):
    """Every reader (pydicom's, the byte scanner, DICOM-JSON) gives the technical fields, and
    the images row holds them as the header states them (spacing as stored: rows first)."""
    from covidimg.sources._engine.header_scan import read_header_fast

    rng = np.random.default_rng(21)
    path = tmp_path / "ct.dcm"
    _write(path, rng, modality="CT", position_z=0.0, pixels=np.zeros((8, 8), np.float32),
           extra={**TECHNICAL, **SECRETS})
    header = read_header(path)
    assert read_header_fast(str(path)) == header
    json_header = read_header_json(_nccid_json(pydicom.dcmread(path)), label=str(path))
    assert json_header == DicomHeader(**{**asdict(header), "transfer_syntax": None})
    row = series_table([header], source="tcia").iloc[0]
    assert (row["manufacturer"], row["model"], row["convolution_kernel"]) == \
        ("SIEMENS", "SOMATOM Definition AS+", "I30f\\3")
    assert (row["kvp"], row["slice_thickness"], row["series_number"]) == (120.0, 1.5, 4)
    assert (row["pixel_spacing_row"], row["pixel_spacing_col"]) == (0.703125, 0.65)
    assert (row["body_part"], row["image_type"]) == ("CHEST", "ORIGINAL\\PRIMARY\\AXIAL")
    assert row["sop_class_uid"] == "1.2.840.10008.5.1.4.1.1.2"
    images = schema.conform("images", series_table([header], source="tcia")
                            .drop(columns=list(HELPER_COLUMNS)))
    schema.validate("images", images)
    for value in SECRETS.values():
        assert value not in repr(header) and value not in images.to_csv()


@pytest.mark.parametrize(("elements", "row", "col"), [
    ({"ImagerPixelSpacing": ["0.139", "0.14"]}, 0.139, 0.14),        # a radiograph's detector
    ({"PixelSpacing": ["0.2", "0.2"], "ImagerPixelSpacing": ["0.139", "0.139"]}, 0.2, 0.2),
    ({"PixelSpacing": ["0", "0.2"], "ImagerPixelSpacing": ["0.139", "0.139"]}, 0.139, 0.139),
    ({"PixelSpacing": ["0.2"], "ImagerPixelSpacing": ["0.1", "0"]}, None, None),  # no pair
    ({"KVP": "-5", "SliceThickness": "0"}, 0.5, 0.5),   # not positive: missing (the writer's
])                                                      # ImagerPixelSpacing is 0.5 mm)
def test_spacing_and_numbers_need_positive_values(tmp_path, elements, row, col):
    rng = np.random.default_rng(22)
    path = tmp_path / "x.dcm"
    _write(path, rng, extra=elements)
    header = read_header(path)
    assert (header.pixel_spacing_row, header.pixel_spacing_col) == (row, col)
    assert header.kvp is None and header.slice_thickness is None


def test_header_elements_are_the_standards_tags_and_vrs():
    """The written-out table of the tags read agrees with pydicom's data dictionary."""
    from pydicom.datadict import dictionary_VR, tag_for_keyword

    from covidimg.sources._engine.dicom import HEADER_ELEMENTS

    for keyword, (tag, vr) in HEADER_ELEMENTS.items():
        assert (tag, vr) == (tag_for_keyword(keyword), dictionary_VR(tag)), keyword
