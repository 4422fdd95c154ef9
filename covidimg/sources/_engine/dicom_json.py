"""DICOM-JSON headers (PS3.18 F.2), as NCCID's metadata files hold them.

The same header fields :func:`covidimg.sources._engine.dicom.read_header` reads from a file,
taken from a DICOM-JSON object: only the tags of :data:`~covidimg.sources._engine.dicom.
HEADER_TAGS`, NCCID's nulled binary values and sequences repaired, the nesting bounded
(:data:`MAX_JSON_DEPTH`) before the text is parsed.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Any

import pydicom
from pydicom.datadict import dictionary_VR

from covidimg.errors import DicomReadError
from covidimg.sources._engine.dicom import (
    _JSON_KEYS,
    DicomHeader,
    _check_is_image_object,
    _header_from_dataset,
)

__all__ = ["MAX_JSON_DEPTH", "json_depth", "load_json", "read_header_json"]


_PATIENT_AGE_TAG = "00101010"


def _with_age_unit(elem: dict[str, Any]) -> dict[str, Any]:
    """NCCID's DICOM-JSON writes PatientAge without its unit (``"81"``): add the ``Y``.

    A bare number is read as years anyway (:func:`parse_age`); adding the unit keeps pydicom from
    warning about an invalid AS value once per image.
    """
    value = elem.get("Value")
    if isinstance(value, list) and value and re.fullmatch(r"\d{1,3}", str(value[0]).strip()):
        return {**elem, "Value": [f"{int(str(value[0]).strip()):03d}Y"]}
    return elem


def _clean_json(obj: Mapping[str, Any]) -> dict[str, Any]:
    """Keep the header tags only; repair NCCID's nulled binary values and sequences."""
    out: dict[str, Any] = {}
    for key, elem in obj.items():
        tag = str(key).upper()
        if tag not in _JSON_KEYS:
            continue
        if elem is None:
            try:
                vr = dictionary_VR(int(tag, 16))
            except KeyError:
                continue
            out[tag] = {"vr": vr}
            continue
        if not isinstance(elem, Mapping):
            continue
        elem = dict(elem)
        if "InlineBinary" in elem and elem["InlineBinary"] is None:
            elem["InlineBinary"] = ""
        if tag == _PATIENT_AGE_TAG:
            elem = _with_age_unit(elem)
        if "vr" not in elem:
            try:
                elem["vr"] = dictionary_VR(int(tag, 16))
            except KeyError:
                continue
        out[tag] = elem
    return out


#: The deepest nesting of arrays and objects a JSON file may have. A DICOM-JSON header nests
#: three levels per sequence (element, value list, item), and real headers nest a few
#: sequences; a file nested deeper is rejected before it is parsed (Python's parser would
#: raise RecursionError near 1,000 levels, and every walk over the value after it could too).
MAX_JSON_DEPTH = 64
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")


def json_depth(data: bytes, limit: int = MAX_JSON_DEPTH) -> int:
    """How deeply the arrays and objects of JSON text nest (counting stops past ``limit``).

    Examples
    --------
    >>> from covidimg.sources._engine.dicom_json import json_depth
    >>> json_depth(b'{"a": [1, {"b": "[[[["}]}'), json_depth(b"[" * 5000, limit=64)
    (3, 65)
    """
    brackets = _NOT_BRACKET.sub(b"", _JSON_STRING.sub(b"", data))
    depth = deepest = 0
    for byte in brackets:
        if byte in b"[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    break
        else:
            depth -= 1
    return deepest


def load_json(data: bytes, label: str) -> Any:
    """Parse JSON bytes (UTF-8, with or without a BOM) nested at most :data:`MAX_JSON_DEPTH`.

    Raises
    ------
    DicomReadError
        Naming ``label``, if the bytes are not UTF-8 JSON or nest too deeply.

    Examples
    --------
    >>> from covidimg.sources._engine.dicom_json import load_json
    >>> load_json(b'{"00080060": {"vr": "CS", "Value": ["CR"]}}', "x.json")["00080060"]["vr"]
    'CS'
    >>> load_json(b"[" * 100_000, "deep.json")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    covidimg.errors.DicomReadError: cannot read DICOM header of deep.json: its JSON nests ...
    """
    if json_depth(data) > MAX_JSON_DEPTH:
        raise DicomReadError(label, f"its JSON nests arrays and objects more than "
                                    f"{MAX_JSON_DEPTH} levels deep; no DICOM-JSON header does "
                                    "(the file is damaged or not a header)")
    try:
        return json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise DicomReadError(label, f"not a JSON file ({type(exc).__name__}: {exc})") from exc


def read_header_json(source: str | os.PathLike[str] | Mapping[str, Any], *,
                     label: str | None = None) -> DicomHeader:
    """Read a header from a DICOM-JSON (PS3.18 F.2) object, as NCCID's metadata files hold.

    NCCID nulls binary values (``"InlineBinary": null``) and some whole elements (the VOI LUT
    Sequence ``"00283010": null``); both are repaired (empty bytes, empty sequence) before
    :meth:`pydicom.Dataset.from_json`. Only the tags in :data:`HEADER_TAGS` are taken. A
    one-element list (a QIDO-style response) is accepted.

    Parameters
    ----------
    source
        A path to a ``.json`` file, or the parsed JSON value (anything but a ``str`` or
        path-like; a value that is not a DICOM-JSON object raises :class:`DicomReadError`).
    label
        The path to record (e.g. the matching ``.dcm``); defaults to the JSON file's path.

    Raises
    ------
    DicomReadError
        If the file is not JSON, or not a DICOM-JSON object.

    Examples
    --------
    >>> from covidimg.sources._engine.dicom_json import read_header_json
    >>> h = read_header_json({"00100020": {"vr": "LO", "Value": ["Covid123"]},
    ...                       "00080060": {"vr": "CS", "Value": ["DX"]},
    ...                       "00080018": {"vr": "UI", "Value": ["2.25.7"]},
    ...                       "00283010": None,
    ...                       "7FE00010": {"vr": "OW", "InlineBinary": None}}, label="x.json")
    >>> h.patient_id, h.modality, h.sop_uid
    ('Covid123', 'DX', '2.25.7')
    """
    if not isinstance(source, str | os.PathLike):   # already parsed: any JSON value
        obj: Any = source
        label = label or "<DICOM-JSON object>"
    else:
        label = label or os.fspath(source)
        try:
            with open(source, "rb") as handle:
                raw = handle.read()
        except FileNotFoundError:
            raise DicomReadError(label, "the file does not exist") from None
        except OSError as exc:
            raise DicomReadError(label, f"not a JSON file ({type(exc).__name__}: {exc})") \
                from exc
        obj = load_json(raw, label)
    if isinstance(obj, list) and len(obj) == 1:
        obj = obj[0]
    if not isinstance(obj, Mapping):
        raise DicomReadError(label, f"expected a DICOM-JSON object (tag -> element), got "
                                    f"{type(obj).__name__}")
    try:
        ds = pydicom.Dataset.from_json(_clean_json(obj))
    except Exception as exc:
        raise DicomReadError(label, f"not a valid DICOM-JSON object ({type(exc).__name__}: "
                                    f"{exc})") from exc
    _check_is_image_object(ds, label, None)
    return _header_from_dataset(ds, label, None)
