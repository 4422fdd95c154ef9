"""Adversarial inputs, built by code: broken DICOM, DICOM-JSON and NIfTI, and byte mutants.

Every builder returns :class:`Case` objects (a name, a category, the bytes and a file suffix);
nothing is stored on disk until a test writes the cases into its own temporary folder.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import nibabel as nib
import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import JPEGBaseline8Bit, RLELossless

from covidimg.demo.dicom_writer import write_dicom

#: Identifying DICOM attributes and the distinctive values the privacy tests plant in them.
IDENTIFYING: dict[str, str] = {
    "PatientName": "Mustermann^Erika",
    "PatientBirthDate": "19230417",
    "PatientAddress": "Kastanienallee 12",
    "InstitutionName": "St Elsewhere General",
    "InstitutionAddress": "Wurmbergweg 77 Quakenbrueck",
    "ReferringPhysicianName": "Quaxenbart^Hieronymus",
    "OtherPatientNames": "Gablerova^Hedwiga",
    "PatientMotherBirthName": "Ibsenstrom^Nora",
    "PatientTelephoneNumbers": "0511-5550199",
    "InstitutionalDepartmentName": "Tulpenstation Sieben",
    "PerformingPhysicianName": "Zhivagoff^Yurij",
    "OperatorsName": "Kareninowa^Anja",
}


def forbidden_strings() -> list[str]:
    """Every planted identifying value, with ``^`` as written and replaced by a space, and
    each name component of at least five letters on its own (matched case-insensitively)."""
    out: set[str] = set()
    for value in IDENTIFYING.values():
        out.add(value)
        out.add(value.replace("^", " "))
        out.update(part for part in value.split("^") if len(part) >= 5)
    return sorted(out)


def leaked(text: str | bytes) -> list[str]:
    """The planted identifying strings that occur in ``text`` (case-insensitive)."""
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    lower = text.lower()
    return [s for s in forbidden_strings() if s.lower() in lower]


@dataclass(frozen=True)
class Case:
    """One adversarial input."""

    name: str
    category: str
    data: bytes
    suffix: str = ".dcm"

    @property
    def filename(self) -> str:
        return f"{self.name}{self.suffix}"


# ---------------------------------------------------------------------- valid seeds
def radiograph_bytes(*, seed: int = 0, size: int = 32, identifying: bool = False,
                     extra: Mapping[str, object] | None = None, sop: str = "2.25.3") -> bytes:
    """A small, valid CR radiograph (explicit VR little endian)."""
    rng = np.random.default_rng(seed)
    fields: dict[str, object] = dict(IDENTIFYING) if identifying else {}
    fields.update(extra or {})
    buf = io.BytesIO()
    write_dicom(buf, rng.random((size, size)).astype(np.float32), modality="CR",
                patient_id="Covid9001", study_uid="2.25.1", series_uid="2.25.2", sop_uid=sop,
                study_date=dt.date(2020, 3, 1), view="PA", age_years=70, extra=fields)
    return buf.getvalue()


def _reencode(data: bytes, change) -> bytes:  # type: ignore[no-untyped-def]
    """Read ``data``, let ``change(ds)`` alter it, write it back as it is (no validation)."""
    ds = pydicom.dcmread(io.BytesIO(data))
    change(ds)
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=False)
    return out.getvalue()


def _element_offset(data: bytes, group: int, element: int) -> int:
    """Offset of an explicit-VR little-endian element's tag in ``data``."""
    tag = struct.pack("<HH", group, element)
    pos = data.find(tag, 132)
    if pos < 0:
        raise KeyError(f"({group:04X},{element:04X}) not in the seed file")
    return pos


def _set_short_length(data: bytes, group: int, element: int, length: int) -> bytes:
    pos = _element_offset(data, group, element)
    return data[:pos + 6] + struct.pack("<H", length) + data[pos + 8:]


def _set_short_value(data: bytes, group: int, element: int, value: bytes) -> bytes:
    """Replace a short (2-byte length) element's value bytes, fixing its length."""
    if len(value) % 2:
        value += b" "
    pos = _element_offset(data, group, element)
    (length,) = struct.unpack("<H", data[pos + 6:pos + 8])
    return data[:pos + 6] + struct.pack("<H", len(value)) + value + data[pos + 8 + length:]


def _set_vr(data: bytes, group: int, element: int, vr: bytes) -> bytes:
    pos = _element_offset(data, group, element)
    return data[:pos + 4] + vr + data[pos + 6:]


# ---------------------------------------------------------------------- DICOM corpus
def truncated_dicom(n_offsets: int = 48) -> list[Case]:
    """The seed file cut at boundary offsets and at ``n_offsets`` evenly spaced ones."""
    seed = radiograph_bytes()
    meta_end = _element_offset(seed, 0x0008, 0x0005)
    pixel = _element_offset(seed, 0x7FE0, 0x0010)
    offsets = {0, 1, 64, 127, 128, 130, 132, 136, 140, meta_end - 1, meta_end, meta_end + 3,
               pixel - 1, pixel, pixel + 4, pixel + 8, pixel + 12, len(seed) - 1}
    offsets.update(int(o) for o in np.linspace(0, len(seed) - 1, n_offsets))
    return [Case(f"truncated-at-{o:05d}", "truncated", seed[:o]) for o in sorted(offsets)]


def header_corruptions() -> list[Case]:
    """Bad preambles, missing markers, lengths past the end, wrong VRs, non-DICOM bytes."""
    seed = radiograph_bytes()
    rng = np.random.default_rng(7)
    pixel = _element_offset(seed, 0x7FE0, 0x0010)
    meta_len = _element_offset(seed, 0x0002, 0x0000)
    cases = [
        Case("preamble-random", "bad_preamble",
             rng.integers(0, 256, 128, dtype=np.uint8).tobytes() + seed[128:]),
        Case("preamble-missing", "bad_preamble", seed[128:]),
        Case("marker-DICX", "missing_dicm", seed[:128] + b"DICX" + seed[132:]),
        Case("marker-missing-no-meta", "missing_dicm", seed[:128] + seed[132:]),
        Case("dataset-only-no-preamble", "missing_dicm",
             seed[_element_offset(seed, 0x0008, 0x0005):]),
        Case("empty-file", "missing_dicm", b""),
        Case("random-bytes", "missing_dicm", rng.integers(0, 256, 4096, dtype=np.uint8).tobytes()),
        Case("text-file", "missing_dicm", b"this is a readme, not an image\n" * 20),
        Case("png-named-dcm", "missing_dicm", _png_bytes()),
        Case("zeros-with-marker", "missing_dicm", b"\0" * 128 + b"DICM" + b"\0" * 256),
        Case("meta-group-length-huge", "length_past_end",
             seed[:meta_len + 8] + struct.pack("<I", 0x7FFFFFF0) + seed[meta_len + 12:]),
        Case("patient-id-length-past-end", "length_past_end",
             _set_short_length(seed, 0x0010, 0x0020, 0xFFFE)),
        Case("modality-length-past-end", "length_past_end",
             _set_short_length(seed, 0x0008, 0x0060, 0xFFF0)),
        Case("pixel-length-past-end", "length_past_end",
             seed[:pixel + 8] + struct.pack("<I", len(seed) * 4) + seed[pixel + 12:]),
        Case("pixel-length-odd-huge", "length_past_end",
             seed[:pixel + 8] + struct.pack("<I", 0xFFFFFFF1) + seed[pixel + 12:]),
        Case("rows-vr-DA", "wrong_vr", _set_vr(seed, 0x0028, 0x0010, b"DA")),
        Case("rows-vr-invalid", "wrong_vr", _set_vr(seed, 0x0028, 0x0010, b"\x00\x01")),
        Case("patient-id-vr-SQ", "wrong_vr", _set_vr(seed, 0x0010, 0x0020, b"SQ")),
        Case("study-uid-vr-OB", "wrong_vr", _set_vr(seed, 0x0020, 0x000D, b"OB")),
        Case("pixel-vr-UN", "wrong_vr", _set_vr(seed, 0x7FE0, 0x0010, b"UN")),
        Case("age-vr-US", "wrong_vr", _set_vr(seed, 0x0010, 0x1010, b"US")),
        Case("bits-allocated-vr-FD", "wrong_vr", _set_vr(seed, 0x0028, 0x0100, b"FD")),
        Case("transfer-syntax-vr-US", "wrong_vr", _set_vr(seed, 0x0002, 0x0010, b"US")),
    ]
    return cases


def _png_bytes() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _with_sequence(seed: bytes) -> bytes:
    def add(ds: Dataset) -> None:
        items = []
        for i in range(3):
            item = Dataset()
            item.CodeValue = f"CODE{i}"
            item.CodingSchemeDesignator = "99LOCAL"
            item.CodeMeaning = "Chest radiograph, two views"
            inner = Dataset()
            inner.CodeValue = f"INNER{i}"
            item.ConceptNameCodeSequence = Sequence([inner])
            items.append(item)
        ds.ProcedureCodeSequence = Sequence(items)
        ds["ProcedureCodeSequence"].is_undefined_length = True
        for item in ds.ProcedureCodeSequence:
            item.is_undefined_length_sequence_item = True
        ds["PatientID"].value = "Covid9001"
    return _reencode(seed, add)


def sequence_cuts() -> list[Case]:
    """An undefined-length sequence (with nested sequences) cut off at several points, and
    one whose delimiters are removed."""
    seed = _with_sequence(radiograph_bytes())
    start = _element_offset(seed, 0x0008, 0x1032)
    end = seed.find(b"\xfe\xff\xdd\xe0", start)    # sequence delimitation item
    cases = [Case(f"sequence-cut-{k}", "sequence_cut", seed[:start + int(k * (end - start))])
             for k in (0.05, 0.2, 0.35, 0.5, 0.65, 0.8, 0.95)]
    no_delims = seed.replace(b"\xfe\xff\xdd\xe0\x00\x00\x00\x00", b"").replace(
        b"\xfe\xff\x0d\xe0\x00\x00\x00\x00", b"")
    cases.append(Case("sequence-without-delimiters", "sequence_cut", no_delims))
    cases.append(Case("sequence-delimiter-garbled", "sequence_cut",
                      seed[:end] + b"\xfe\xff\xdd\xe1" + seed[end + 4:]))
    return cases


def pixel_mismatches() -> list[Case]:
    """Pixel data shorter than the header declares, and absurd declared sizes."""
    seed = radiograph_bytes()

    def short(ds: Dataset) -> None:
        ds.PixelData = ds.PixelData[: len(ds.PixelData) // 3]

    def rows(value: int):  # type: ignore[no-untyped-def]
        def change(ds: Dataset) -> None:
            ds.Rows = value
        return change

    def frames(ds: Dataset) -> None:
        ds.NumberOfFrames = 400

    def bits(ds: Dataset) -> None:
        ds.BitsAllocated = 32
        ds.BitsStored = 32
        ds.HighBit = 31

    def no_pixels(ds: Dataset) -> None:
        del ds.PixelData

    def bad_photometric(ds: Dataset) -> None:
        ds.PhotometricInterpretation = "CMYK"

    def samples(ds: Dataset) -> None:
        ds.SamplesPerPixel = 3

    def zero_rows(ds: Dataset) -> None:
        ds.Rows = 0

    return [
        Case("pixels-one-third", "pixel_short", _reencode(seed, short)),
        Case("rows-doubled", "pixel_short", _reencode(seed, rows(64))),
        Case("rows-65535", "pixel_short", _reencode(seed, rows(65535))),
        Case("rows-zero", "pixel_short", _reencode(seed, zero_rows)),
        Case("frames-400", "pixel_short", _reencode(seed, frames)),
        Case("bits-32", "pixel_short", _reencode(seed, bits)),
        Case("samples-3", "pixel_short", _reencode(seed, samples)),
        Case("no-pixel-data", "pixel_short", _reencode(seed, no_pixels)),
        Case("photometric-cmyk", "pixel_short", _reencode(seed, bad_photometric)),
        Case("instance-number-text", "pixel_short",
             _set_short_value(seed, 0x0020, 0x0013, b"not-a-number")),
        Case("window-text", "pixel_short",
             _set_short_value(_set_short_value(seed, 0x0028, 0x1050, b"abc"), 0x0028, 0x1051,
                              b"-5")),
        Case("window-width-zero", "pixel_short", _set_short_value(seed, 0x0028, 0x1051, b"0")),
        Case("age-garbage", "pixel_short", _set_short_value(seed, 0x0010, 0x1010, b"X" * 40)),
        Case("date-garbage", "pixel_short",
             _set_short_value(seed, 0x0008, 0x0020, b"2020-99-99T" * 3)),
    ]


def transfer_syntaxes() -> list[Case]:
    """Pixel data under transfer syntaxes nothing decodes, or with garbage compressed data."""
    seed = radiograph_bytes()

    def syntax(uid: str, encapsulate: bool):  # type: ignore[no-untyped-def]
        def change(ds: Dataset) -> None:
            ds.file_meta.TransferSyntaxUID = uid
            if encapsulate:
                from pydicom.encaps import encapsulate as wrap

                ds.PixelData = wrap([b"\xff\xd8\xff\xe0 garbage frame \x00" * 8])
                ds["PixelData"].VR = "OB"
                ds["PixelData"].is_undefined_length = True
        return change

    return [
        Case("syntax-mpeg2", "transfer_syntax",
             _reencode(seed, syntax("1.2.840.10008.1.2.4.100", True))),
        Case("syntax-unknown-uid", "transfer_syntax", _reencode(seed, syntax("1.2.3.4.5", False))),
        Case("syntax-private-uid", "transfer_syntax",
             _reencode(seed, syntax("1.2.826.0.1.3680043.9.9999.1", True))),
        Case("syntax-jpeg-garbage", "transfer_syntax",
             _reencode(seed, syntax(JPEGBaseline8Bit, True))),
        Case("syntax-rle-garbage", "transfer_syntax", _reencode(seed, syntax(RLELossless, True))),
        Case("syntax-deflate-not-deflated", "transfer_syntax",
             _reencode(seed, syntax("1.2.840.10008.1.2.1.99", False))),
        Case("syntax-missing", "transfer_syntax",
             _reencode(seed, lambda ds: delattr(ds.file_meta, "TransferSyntaxUID"))),
    ]


def identifying_dicom() -> list[Case]:
    """Valid files carrying identifying fields (they must read, and nothing may leak)."""
    return [
        Case("identifying-radiograph", "identifying", radiograph_bytes(identifying=True)),
        Case("identifying-in-sequence", "identifying",
             _reencode(radiograph_bytes(identifying=True), _identifying_sequence)),
    ]


def _identifying_sequence(ds: Dataset) -> None:
    item = Dataset()
    item.PatientName = IDENTIFYING["PatientName"]
    item.InstitutionName = IDENTIFYING["InstitutionName"]
    ds.ReferencedPatientSequence = Sequence([item])


def identifying_corruptions() -> list[Case]:
    """Files carrying identifying fields whose corrupt lengths make a reader swallow the
    identifying elements into the fields it keeps (patient id, UIDs, modality)."""
    seed = radiograph_bytes(identifying=True, sop="2.25.77")
    cases = []
    for keyword, (group, element) in {"patient-id": (0x0010, 0x0020),
                                      "modality": (0x0008, 0x0060),
                                      "series-uid": (0x0020, 0x000E),
                                      "study-date": (0x0008, 0x0020)}.items():
        for length in (40, 200, 0xFFFE):
            cases.append(Case(f"identifying-{keyword}-length-{length}", "identifying",
                              _set_short_length(seed, group, element, length)))
    return cases


def dicom_corpus() -> list[Case]:
    """The whole DICOM file corpus."""
    return [*truncated_dicom(), *header_corruptions(), *sequence_cuts(), *pixel_mismatches(),
            *transfer_syntaxes(), *identifying_dicom(), *identifying_corruptions()]


# ---------------------------------------------------------------------- DICOM-JSON
def _json_seed(identifying: bool = False) -> dict[str, object]:
    ds = pydicom.dcmread(io.BytesIO(radiograph_bytes(identifying=identifying)),
                         stop_before_pixels=True)
    obj = ds.to_json_dict(bulk_data_threshold=int(1e20))
    obj["00283010"] = None                          # NCCID nulls the VOI LUT Sequence
    return obj


def dicom_json_corpus() -> list[Case]:
    """Malformed DICOM-JSON metadata files, as NCCID ships next to each image."""
    good = _json_seed()
    text = json.dumps(good)

    def variant(name: str, obj: object) -> Case:
        return Case(name, "dicom_json", json.dumps(obj).encode(), ".json")

    def changed(tag: str, elem: object) -> dict[str, object]:
        return {**good, tag: elem}

    return [
        Case("json-not-json", "dicom_json", b"{not json at all", ".json"),
        Case("json-truncated", "dicom_json", text[: len(text) // 2].encode(), ".json"),
        Case("json-empty", "dicom_json", b"", ".json"),
        Case("json-latin1", "dicom_json", "{\"00100020\": \"M\xfcller\"}".encode("latin-1"),
             ".json"),
        Case("json-binary", "dicom_json", bytes(range(256)), ".json"),
        variant("json-list-of-two", [good, good]),
        variant("json-number", 42),
        variant("json-string", "00100020"),
        variant("json-null", None),
        variant("json-empty-object", {}),
        variant("json-element-not-mapping", changed("00100020", ["Covid1"])),
        variant("json-value-not-list", changed("00100020", {"vr": "LO", "Value": "Covid1"})),
        variant("json-bad-vr", changed("00080060", {"vr": "XX", "Value": ["CR"]})),
        variant("json-vr-number", changed("00080060", {"vr": 7, "Value": ["CR"]})),
        variant("json-uid-as-number", changed("00080018", {"vr": "UI", "Value": [1.5]})),
        variant("json-rows-text", changed("00280010", {"vr": "US", "Value": ["many"]})),
        variant("json-rows-nested", changed("00280010", {"vr": "US", "Value": [[1, 2]]})),
        variant("json-date-object", changed("00080020", {"vr": "DA", "Value": [{"y": 2020}]})),
        variant("json-age-huge", changed("00101010", {"vr": "AS", "Value": ["9" * 400]})),
        variant("json-position-text",
                changed("00200032", {"vr": "DS", "Value": ["a", "b", "c"]})),
        variant("json-inline-binary-bad",
                changed("00080018", {"vr": "OB", "InlineBinary": "***not base64***"})),
        variant("json-bulkdata-uri", changed("00080018", {"vr": "OB",
                                                          "BulkDataURI": "file:///etc/passwd"})),
        variant("json-sex-sequence", changed("00100040", {"vr": "SQ", "Value": [{"x": 1}]})),
        variant("json-no-uids", {k: v for k, v in good.items()
                                 if k not in ("00080018", "0020000D")}),
        variant("json-tag-not-hex", {**good, "PatientID": {"vr": "LO", "Value": ["x"]}}),
        variant("json-inline-binary-null",
                changed("7FE00010", {"vr": "OW", "InlineBinary": None})),
        variant("json-identifying", _json_seed(identifying=True)),
        Case("json-deep-nesting", "dicom_json", b"[" * 5000 + b"]" * 5000, ".json"),
    ]


# ---------------------------------------------------------------------- NIfTI corpus
def _nifti(data: np.ndarray, affine: np.ndarray | None = None, *,
           gz: bool = False, **header: object) -> bytes:
    img = nib.Nifti1Image(data, np.eye(4) if affine is None else affine)
    for key, value in header.items():
        img.header[key] = value
    raw = img.to_bytes()
    return gzip.compress(raw, mtime=0) if gz else raw


def _patch_header(raw: bytes, offset: int, fmt: str, *values: object) -> bytes:
    packed = struct.pack("<" + fmt, *values)
    return raw[:offset] + packed + raw[offset + len(packed):]


def nifti_corpus() -> list[Case]:
    """NIfTI-1 files whose headers disagree with their data, and broken .nii.gz files."""
    rng = np.random.default_rng(3)
    image = rng.random((40, 30)).astype(np.float32)
    volume = rng.random((16, 16, 6)).astype(np.float32)
    raw2d = _nifti(image)
    raw3d = _nifti(volume)
    gz2d = gzip.compress(raw2d, mtime=0)
    # NIfTI-1 header offsets: dim at 40 (8 x int16), datatype 70, bitpix 72, pixdim 76
    # (8 x float32), vox_offset 108 (float32), scl_slope 112, scl_inter 116, qform_code 252,
    # sform_code 254, quatern_b..qoffset_z 256, srow_x/y/z 280, magic 344.
    cases = [
        Case("dims-larger-than-data", "nifti_dims",
             _patch_header(raw2d, 40, "8h", 2, 400, 300, 1, 1, 1, 1, 1), ".nii"),
        Case("dims-3d-larger", "nifti_dims",
             _patch_header(raw3d, 40, "8h", 3, 16, 16, 60, 1, 1, 1, 1), ".nii"),
        Case("dims-negative", "nifti_dims",
             _patch_header(raw2d, 40, "8h", 2, -40, 30, 1, 1, 1, 1, 1), ".nii"),
        Case("dims-zero", "nifti_dims", _patch_header(raw2d, 40, "8h", 2, 0, 30, 1, 1, 1, 1, 1),
             ".nii"),
        Case("dims-ndim-9", "nifti_dims", _patch_header(raw2d, 40, "h", 9), ".nii"),
        Case("dims-huge", "nifti_dims",
             _patch_header(raw3d, 40, "8h", 3, 32767, 32767, 32767, 1, 1, 1, 1), ".nii"),
        Case("dims-4d-time-series", "nifti_dims",
             _nifti(rng.random((8, 8, 3, 4)).astype(np.float32)), ".nii"),
        Case("vox-offset-past-end", "nifti_vox_offset",
             _patch_header(raw2d, 108, "f", float(len(raw2d) + 4096)), ".nii"),
        Case("vox-offset-negative", "nifti_vox_offset", _patch_header(raw2d, 108, "f", -352.0),
             ".nii"),
        Case("vox-offset-nan", "nifti_vox_offset", _patch_header(raw2d, 108, "f", float("nan")),
             ".nii"),
        Case("vox-offset-inside-header", "nifti_vox_offset",
             _patch_header(raw2d, 108, "f", 100.0), ".nii"),
        Case("pixdim-zero", "nifti_pixdim",
             _patch_header(raw2d, 76, "8f", 1, 0, 0, 0, 0, 0, 0, 0), ".nii"),
        Case("pixdim-nan", "nifti_pixdim",
             _patch_header(raw3d, 76, "8f", *[float("nan")] * 8), ".nii"),
        Case("pixdim-inf-3d", "nifti_pixdim",
             _patch_header(raw3d, 76, "8f", 1, float("inf"), 1, 1, 1, 1, 1, 1), ".nii"),
        Case("sform-nan", "nifti_pixdim", _patch_header(
            _patch_header(raw3d, 252, "hh", 0, 1), 280, "12f", *[float("nan")] * 12), ".nii"),
        Case("sform-singular", "nifti_pixdim", _patch_header(
            _patch_header(raw3d, 252, "hh", 0, 1), 280, "12f", *[0.0] * 12), ".nii"),
        Case("qform-quaternion-nan", "nifti_pixdim", _patch_header(
            _patch_header(raw2d, 252, "hh", 1, 0), 256, "6f", *[float("nan")] * 6), ".nii"),
        Case("datatype-unknown", "nifti_header", _patch_header(raw2d, 70, "h", 1234), ".nii"),
        Case("datatype-bitpix-mismatch", "nifti_header", _patch_header(raw2d, 72, "h", 8),
             ".nii"),
        Case("scl-slope-nan", "nifti_header", _patch_header(raw2d, 112, "ff", float("nan"), 0.0),
             ".nii"),
        Case("magic-wrong", "nifti_header", _patch_header(raw2d, 344, "4s", b"xyz\0"), ".nii"),
        Case("sizeof-hdr-wrong", "nifti_header", _patch_header(raw2d, 0, "i", 12345), ".nii"),
        Case("header-only", "nifti_truncated", raw2d[:348], ".nii"),
        Case("data-half", "nifti_truncated", raw2d[: 352 + image.nbytes // 2], ".nii"),
        Case("empty", "nifti_truncated", b"", ".nii"),
        Case("gz-empty", "nifti_truncated", b"", ".nii.gz"),
        Case("gz-not-gzip", "nifti_truncated", raw2d, ".nii.gz"),
        Case("gz-garbage", "nifti_truncated", b"\x1f\x8b" + bytes(200), ".nii.gz"),
        Case("gz-crc-flipped", "nifti_truncated", gz2d[:-8] + bytes(4) + gz2d[-4:], ".nii.gz"),
        *[Case(f"gz-truncated-{k:03d}", "nifti_truncated", gz2d[: int(len(gz2d) * k / 100)],
               ".nii.gz") for k in (1, 5, 10, 25, 50, 75, 90, 99)],
    ]
    return cases


# ---------------------------------------------------------------------- mutants
def mutants(data: bytes, rng: np.random.Generator, n: int, *,
            protect: int = 0) -> Iterator[bytes]:
    """``n`` mutants of ``data``: byte flips, truncations, insertions, deletions, and copies
    of a random span elsewhere (which garble element lengths). ``protect`` leading bytes are
    kept (e.g. a zip's local header) for some mutants so the parser gets further."""
    size = len(data)
    for _ in range(n):
        kind = int(rng.integers(0, 5))
        buf = bytearray(data)
        low = protect if rng.random() < 0.5 else 0
        if kind == 0:                                     # flip 1-8 bytes
            for pos in rng.integers(low, size, int(rng.integers(1, 9))):
                buf[int(pos)] ^= int(rng.integers(1, 256))
        elif kind == 1:                                   # truncate
            buf = buf[: int(rng.integers(low, size))]
        elif kind == 2:                                   # insert random bytes
            pos = int(rng.integers(low, size))
            buf[pos:pos] = rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8).tobytes()
        elif kind == 3:                                   # delete a span
            pos = int(rng.integers(low, size))
            del buf[pos: pos + int(rng.integers(1, 64))]
        else:                                             # overwrite with 0xFF (huge lengths)
            pos = int(rng.integers(low, max(low + 1, size - 4)))
            buf[pos:pos + 4] = b"\xff\xff\xff\xff"
        yield bytes(buf)

