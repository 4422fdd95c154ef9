"""A fast reader for the header of a DICOM Part-10 file: scan the first bytes, decode few tags.

:func:`read_header_fast` reads the start of a file in one system call, walks its data elements
with :mod:`struct` up to the pixel data (as pydicom does, so a header cut short is noticed
alike), decodes only the tags of :data:`~covidimg.sources.dicom.HEADER_TAGS`, and hands the
values to :func:`covidimg.sources.dicom.header_from_values` -- so the fields are derived by
the shared reader, exactly as :func:`covidimg.sources.dicom.read_header` derives them, at a
fraction of pydicom's cost per file.

Whenever the file is anything but a plain Part-10 file in little endian (no ``DICM`` marker,
big endian or deflated transfer syntax, a character set other than the default / Latin-1 /
UTF-8, an element it cannot walk, a file cut short), the scan gives up and the file is read
by :func:`~covidimg.sources.dicom.read_header` (pydicom) instead, which also produces the
errors for broken files. The fast path therefore never changes a result, only its cost.
"""

from __future__ import annotations

import os
import struct
from typing import Any

from pydicom.datadict import dictionary_VR, tag_for_keyword

from covidimg.sources.dicom import HEADER_TAGS, DicomHeader, header_from_values, read_header

__all__ = ["read_header_fast", "scan_values"]

#: tag number -> (keyword, dictionary VR) of the tags read
_TAGS: dict[int, tuple[str, str]] = {
    tag_for_keyword(k): (k, dictionary_VR(tag_for_keyword(k))) for k in HEADER_TAGS}
_LAST_TAG = max(_TAGS)
_MEDIA_CLASS = 0x00020002
#: (7FE0,0008) Float Pixel Data and later: where pydicom's ``stop_before_pixels`` stops.
_PIXEL_TAGS = 0x7FE00008
_SYNTAX = 0x00020010

_IMPLICIT = "1.2.840.10008.1.2"
_BIG_ENDIAN = "1.2.840.10008.1.2.2"
_DEFLATED = "1.2.840.10008.1.2.1.99"
_LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN",
                       b"UR", b"UT", b"UV"})
_SINGLE_VALUE_TEXT = frozenset({"LT", "ST", "UT", "UR"})
_ENCODINGS = {None: "latin-1", "": "latin-1", "ISO_IR 6": "latin-1", "ISO_IR 100": "latin-1",
              "ISO_IR 192": "utf-8"}
_UNDEFINED = 0xFFFFFFFF
_ITEM, _ITEM_END, _SEQ_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_FIRST_READ = 8192

_HEAD = struct.Struct("<HH")
_EXPLICIT_SHORT = struct.Struct("<HH2sH")
_EXPLICIT_LONG = struct.Struct("<HH2s2xI")
_IMPLICIT_ELEM = struct.Struct("<HHI")
_US = struct.Struct("<H")


class _GiveUp(Exception):
    """The scan cannot read this file; pydicom will."""


class _Buffer:
    """The file's bytes, read in growing blocks as the walk needs them."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle
        self.data = handle.read(_FIRST_READ)

    def need(self, end: int) -> bytes:
        if end > len(self.data):
            more = self.handle.read(max(end - len(self.data), len(self.data)))
            if not more:
                raise _GiveUp("file ends inside the header")
            self.data += more
            if end > len(self.data):
                raise _GiveUp("file ends inside the header")
        return self.data


def _element(buf: _Buffer, pos: int, explicit: bool) -> tuple[int, str | None, int, int]:
    """Return (tag, VR or None, value length, value start) of the element at ``pos``."""
    data = buf.need(pos + 8)
    if explicit:
        group, elem, vr, length = _EXPLICIT_SHORT.unpack_from(data, pos)
        if group == 0xFFFE:  # item / delimiter tags carry no VR
            group, elem, length = _IMPLICIT_ELEM.unpack_from(data, pos)
            return (group << 16) | elem, None, length, pos + 8
        if vr in _LONG_VRS:
            data = buf.need(pos + 12)
            _, _, _, length = _EXPLICIT_LONG.unpack_from(data, pos)
            return (group << 16) | elem, vr.decode("ascii"), length, pos + 12
        if not (65 <= vr[0] <= 90 and 65 <= vr[1] <= 90):
            raise _GiveUp("not explicit VR")
        return (group << 16) | elem, vr.decode("ascii"), length, pos + 8
    group, elem, length = _IMPLICIT_ELEM.unpack_from(data, pos)
    return (group << 16) | elem, None, length, pos + 8


def _skip_undefined(buf: _Buffer, pos: int, explicit: bool) -> int:
    """Skip the items of an undefined-length sequence starting at ``pos``; return the end."""
    while True:
        tag, _, length, start = _element(buf, pos, False)
        if tag == _SEQ_END:
            return start
        if tag != _ITEM:
            raise _GiveUp("unexpected element inside a sequence")
        if length != _UNDEFINED:
            pos = start + length
            continue
        pos = start
        while True:  # the item's elements, up to its delimiter
            tag, vr, length, start = _element(buf, pos, explicit)
            if tag == _ITEM_END:
                pos = start
                break
            if length == _UNDEFINED:
                if explicit and vr not in ("SQ", None):
                    raise _GiveUp("undefined length outside a sequence")
                pos = _skip_undefined(buf, start, explicit)
            else:
                pos = start + length


def _decode(raw: bytes, vr: str, encoding: str) -> Any:
    if vr == "US":
        return _US.unpack_from(raw)[0] if len(raw) >= 2 else None
    text = raw.decode(encoding if vr in ("LO", "SH", "LT", "ST", "UT", "UC", "PN") else "latin-1")
    if vr in _SINGLE_VALUE_TEXT:
        return text.rstrip("\x00 ")
    values = [v.rstrip("\x00 ") for v in text.split("\\")]
    return values[0] if len(values) == 1 else values


def scan_values(path: str | os.PathLike[str]) -> tuple[dict[str, Any], str | None, str | None]:
    """Read the :data:`~covidimg.sources.dicom.HEADER_TAGS` values of a Part-10 file.

    Returns
    -------
    values, transfer_syntax, media_storage_class
        ``values`` maps keyword to value as pydicom's ``DataElement.value`` would hold it.

    Raises
    ------
    ValueError
        When the file is not one the scan can read (use :func:`read_header_fast`, which falls
        back to pydicom).
    """
    try:
        with open(path, "rb") as handle:
            return _scan(_Buffer(handle))
    except _GiveUp as exc:
        raise ValueError(f"{os.fspath(path)}: {exc}") from None
    except struct.error as exc:
        raise ValueError(f"{os.fspath(path)}: {exc}") from None


def _scan(buf: _Buffer) -> tuple[dict[str, Any], str | None, str | None]:
    data = buf.data
    if len(data) < 144 or data[128:132] != b"DICM":
        raise _GiveUp("no DICM marker")
    pos = 132
    syntax = media_class = None
    while True:  # file meta information: always explicit VR little endian
        data = buf.need(pos + 8)
        if _HEAD.unpack_from(data, pos)[0] != 0x0002:
            break
        tag, vr, length, start = _element(buf, pos, True)
        if length == _UNDEFINED:
            raise _GiveUp("undefined length in the file meta")
        if tag in (_SYNTAX, _MEDIA_CLASS):
            if vr != "UI":
                raise _GiveUp(f"file meta UID stored as {vr}")
            value = buf.need(start + length)[start:start + length].decode("latin-1")
            value = value.rstrip("\x00 ")
            if tag == _SYNTAX:
                syntax = value
            else:
                media_class = value
        pos = start + length
    if syntax is None or syntax in (_BIG_ENDIAN, _DEFLATED):
        raise _GiveUp(f"transfer syntax {syntax}")
    explicit = syntax != _IMPLICIT
    values: dict[str, Any] = {}
    encoding = "latin-1"
    data = buf.data
    size = len(data)
    unpack_short, unpack_long, unpack_implicit = (
        _EXPLICIT_SHORT.unpack_from, _EXPLICIT_LONG.unpack_from, _IMPLICIT_ELEM.unpack_from)
    tags, long_vrs = _TAGS, _LONG_VRS
    while True:
        if pos + 12 > size:
            try:
                data = buf.need(pos + 12)
            except _GiveUp:
                if pos + 8 > len(buf.data):
                    break  # the dataset ends before Columns: a header without pixel data
                data = buf.data
            size = len(data)
        if explicit:
            group, elem, vr_bytes, length = unpack_short(data, pos)
            if vr_bytes in long_vrs and group != 0xFFFE:
                length = unpack_long(data, pos)[3]
                start = pos + 12
            else:
                start = pos + 8
        else:
            group, elem, length = unpack_implicit(data, pos)
            vr_bytes = None
            start = pos + 8
        tag = (group << 16) | elem
        if tag >= _PIXEL_TAGS:
            break
        if tag > _LAST_TAG:  # walk on to the pixel data, as pydicom does, without decoding
            if length == _UNDEFINED:
                if explicit and vr_bytes != b"SQ":
                    raise _GiveUp("undefined length outside a sequence")
                pos = _skip_undefined(buf, start, explicit)
                data, size = buf.data, len(buf.data)
                continue
            pos = start + length
            continue
        if length == _UNDEFINED:
            if explicit and vr_bytes != b"SQ":
                raise _GiveUp("undefined length outside a sequence")
            pos = _skip_undefined(buf, start, explicit)
            data = buf.data
            size = len(data)
            continue
        pos = start + length
        wanted = tags.get(tag)
        if wanted is None:
            continue
        keyword, vr = wanted
        if vr_bytes is not None:
            if not (65 <= vr_bytes[0] <= 90 and 65 <= vr_bytes[1] <= 90):
                raise _GiveUp("not explicit VR")
            vr = vr_bytes.decode("ascii")
        if vr in ("SQ", "UN", "OB", "OW"):
            raise _GiveUp(f"{keyword} stored as {vr}")
        if pos > size:
            data = buf.need(pos)
            size = len(data)
        value = _decode(data[start:pos], vr, encoding)
        if keyword == "SpecificCharacterSet":
            if isinstance(value, list) or value not in _ENCODINGS:
                raise _GiveUp(f"character set {value!r}")
            encoding = _ENCODINGS[value]
        values[keyword] = value if value != "" else None
    return values, syntax, media_class


def read_header_fast(path: str | os.PathLike[str]) -> DicomHeader:
    """Read the header of one DICOM file, by the fast scan when it can, else by pydicom.

    The result is identical to :func:`covidimg.sources.dicom.read_header`'s.

    Raises
    ------
    covidimg.sources.dicom.DicomReadError
        As :func:`~covidimg.sources.dicom.read_header` does, naming the file and the problem.

    Examples
    --------
    >>> import datetime, os, tempfile, numpy as np
    >>> from covidimg.demo.dicom_writer import write_dicom
    >>> from covidimg.sources.dicom import read_header
    >>> from covidimg.sources.header_scan import read_header_fast
    >>> path = os.path.join(tempfile.mkdtemp(), "x.dcm")
    >>> write_dicom(path, np.zeros((8, 8), np.float32), modality="CR", patient_id="12",
    ...             study_uid="2.25.1", series_uid="2.25.2", sop_uid="2.25.3",
    ...             study_date=datetime.date(2020, 3, 1), view="PA", age_years=65)
    >>> read_header_fast(path) == read_header(path)
    True
    """
    label = os.fspath(path)
    try:
        values, syntax, media_class = scan_values(label)
    except (ValueError, UnicodeDecodeError, OSError):
        return read_header(label)
    if "SOPInstanceUID" not in values and "StudyInstanceUID" not in values:
        return read_header(label)  # let pydicom say what is wrong
    return header_from_values(values, label, transfer_syntax=syntax, media_class=media_class)
