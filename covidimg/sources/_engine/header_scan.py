"""A fast reader for the header of a DICOM Part-10 file: scan the first bytes, decode few tags.

:func:`read_header_fast` reads the start of a file in one system call, walks its data elements
with :mod:`struct` up to the pixel data (as pydicom does, so a header cut short is noticed
alike), decodes only the tags of :data:`~covidimg.sources._engine.dicom.HEADER_TAGS`, and hands the
values to :func:`covidimg.sources._engine.dicom.header_from_values` -- so the fields are derived by
the shared reader, exactly as :func:`covidimg.sources._engine.dicom.read_header` derives them, at a
fraction of pydicom's cost per file.

Whenever the file is anything but a plain Part-10 file in little endian (no ``DICM`` marker,
big endian or deflated transfer syntax, a character set other than the default / Latin-1 /
UTF-8, an unknown VR, an item tag outside a sequence, a tag read stored with an unusual VR or
an undefined length, data whose first element contradicts the transfer syntax, a file cut
short inside a value read), the scan gives up and the file is read by
:func:`~covidimg.sources._engine.dicom.read_header` (pydicom) instead, which also produces
the errors for broken files. The fast path therefore never changes a result, only its cost:
tests compare both readers on varied files, on files cut every 5 bytes and on headers with
bytes overwritten at random.
"""

from __future__ import annotations

import os
import struct
from typing import Any

from pydicom.datadict import dictionary_VR
from pydicom.valuerep import EXPLICIT_VR_LENGTH_16, EXPLICIT_VR_LENGTH_32

from covidimg.sources._engine.dicom import (
    HEADER_ELEMENTS,
    MAX_HEADER_BYTES,
    DicomHeader,
    check_pixel_data,
    header_from_values,
    pixel_header_size,
    read_header,
)

__all__ = ["read_header_fast", "scan_values"]

#: tag number -> (keyword, dictionary VR) of the tags read
_TAGS: dict[int, tuple[str, str]] = {tag: (k, vr) for k, (tag, vr) in HEADER_ELEMENTS.items()}
_MEDIA_CLASS = 0x00020002
#: Float, Double Float and Pixel Data: where pydicom's ``stop_before_pixels`` stops.
_STOP_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})
_SYNTAX = 0x00020010

_IMPLICIT = "1.2.840.10008.1.2"
_BIG_ENDIAN = "1.2.840.10008.1.2.2"
_DEFLATED = "1.2.840.10008.1.2.1.99"
_LONG_VRS = frozenset(vr.encode("ascii") for vr in EXPLICIT_VR_LENGTH_32)
#: VR bytes of an explicit-VR element -> bytes before its value (8, or 12 with a 4-byte length)
_HEADER_SIZE: dict[bytes, int] = {
    **{vr.encode("ascii"): 8 for vr in EXPLICIT_VR_LENGTH_16},
    **{vr.encode("ascii"): 12 for vr in EXPLICIT_VR_LENGTH_32}}
_ENCODINGS = {None: "latin-1", "": "latin-1", "ISO_IR 6": "latin-1", "ISO_IR 100": "latin-1",
              "ISO_IR 192": "utf-8"}
#: How a value of each VR the scan decodes is held: ``_US_KIND`` an unsigned short; text VRs
#: ``_TEXT`` (one value per backslash), ``_TEXT_CHARSET`` (the same, in the file's character
#: set) or ``_SINGLE`` (one value, in the file's character set). Any other VR on a tag read
#: makes the scan give up (pydicom reads the file).
_US_KIND, _TEXT, _TEXT_CHARSET, _SINGLE = 0, 1, 2, 3
_KIND_OF_VR: dict[str, int] = {
    "US": _US_KIND,
    **dict.fromkeys(("AE", "AS", "CS", "DA", "DS", "DT", "IS", "TM", "UI"), _TEXT),
    **dict.fromkeys(("LO", "SH", "PN", "UC"), _TEXT_CHARSET),
    **dict.fromkeys(("LT", "ST", "UT"), _SINGLE),
}
#: The same, keyed by the two VR bytes of an explicit-VR element.
_KIND_OF_VR_BYTES = {vr.encode("ascii"): kind for vr, kind in _KIND_OF_VR.items()}
#: tag -> (keyword, kind of its dictionary VR) for implicit-VR files (None: not decodable)
_IMPLICIT_TAGS = {tag: (keyword, _KIND_OF_VR.get(vr)) for tag, (keyword, vr) in _TAGS.items()}
_UNDEFINED = 0xFFFFFFFF
_ITEM, _ITEM_END, _SEQ_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_STOP = ("stop", None)
_ITEM_TAG = ("item", None)
#: Bytes read by the first system call; headers are 1-6 KiB, so one read nearly always does.
_FIRST_READ = 8192

_EXPLICIT_SHORT = struct.Struct("<HH2sH")
_EXPLICIT_LONG = struct.Struct("<HH2s2xI")
_IMPLICIT_ELEM = struct.Struct("<HHI")
_EXPLICIT_RAW = struct.Struct("<I2sH")
_IMPLICIT_RAW = struct.Struct("<II")
_U32 = struct.Struct("<I")
_US = struct.Struct("<H")
_O_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0)


class _GiveUp(Exception):
    """The scan cannot read this file; pydicom will."""


class _Buffer:
    """The file's bytes, read in growing blocks (plain ``os.read`` calls) as the walk needs,
    never past :data:`~covidimg.sources._engine.dicom.MAX_HEADER_BYTES` (the scan gives up
    there and the bounded pydicom reader decides)."""

    __slots__ = ("data", "fd")

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.data = os.read(fd, _FIRST_READ)

    def need(self, end: int) -> bytes:
        """Return the bytes read so far, at least ``end`` of them (else give up)."""
        data = self.data
        if end > MAX_HEADER_BYTES:  # never look further than any header read does
            raise _GiveUp("the header runs past MAX_HEADER_BYTES")
        while end > len(data):
            more = os.read(self.fd, min(max(end - len(data), len(data)),
                                        MAX_HEADER_BYTES - len(data)))
            if not more:
                raise _GiveUp("file ends inside the header")
            data += more
            self.data = data
        return data


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


def _value(raw: bytes, kind: int, encoding: str) -> Any:
    """The value pydicom's ``DataElement.value`` holds for ``raw`` (``None`` when empty)."""
    if kind == _US_KIND:
        if len(raw) != 2:
            raise _GiveUp("an unsigned short of another length than 2 bytes")
        return _US.unpack(raw)[0]
    text = raw.decode(encoding if kind != _TEXT else "latin-1")
    if kind == _SINGLE or b"\\" not in raw:
        text = text.rstrip("\x00 ")
        return text or None
    return [v.rstrip("\x00 ") for v in text.split("\\")]


def scan_values(path: str | os.PathLike[str]) -> tuple[dict[str, Any], str | None, str | None]:
    """Read the :data:`~covidimg.sources._engine.dicom.HEADER_TAGS` values of a Part-10 file.

    One ``os.read`` of the first :data:`_FIRST_READ` bytes (more only when the header is
    longer), then a walk over the data elements that decodes only the tags read and skips
    every other value without looking at it.

    Returns
    -------
    values, transfer_syntax, media_storage_class
        ``values`` maps keyword to value as pydicom's ``DataElement.value`` would hold it
        (``None`` for an empty value).

    Raises
    ------
    ValueError
        When the file is not one the scan can read (use :func:`read_header_fast`, which falls
        back to pydicom).
    OSError
        When the file cannot be opened.
    """
    return _scan_file(path)[:3]


def _scan_file(path: str | os.PathLike[str]
               ) -> tuple[dict[str, Any], str | None, str | None, _Buffer, int | None, int]:
    """:func:`scan_values`, with the bytes read, where the pixel data element starts (``None``
    when the file has none) and the file's size, for :func:`check_pixel_data`."""
    fd = os.open(path, _O_FLAGS)
    try:
        buf = _Buffer(fd)
        values, syntax, media_class, stop = _scan(buf)
        if stop is not None:
            head = pixel_header_size(buf.need(stop + 6), stop, syntax) or 8
            buf.need(stop + head)  # the element's header (else pydicom decides)
        return values, syntax, media_class, buf, stop, os.fstat(fd).st_size
    except _GiveUp as exc:
        raise ValueError(f"{os.fspath(path)}: {exc}") from None
    except struct.error as exc:
        raise ValueError(f"{os.fspath(path)}: {exc}") from None
    finally:
        os.close(fd)


def _file_meta(buf: _Buffer) -> tuple[int, str, str | None]:
    """Walk the file meta group; return (position after it, transfer syntax, media class)."""
    data = buf.data
    if len(data) < 144 or data[128:132] != b"DICM":
        raise _GiveUp("no DICM marker")
    pos = 132
    syntax = media_class = None
    unpack_short, long_vrs = _EXPLICIT_SHORT.unpack_from, _LONG_VRS
    while True:  # file meta information: always explicit VR little endian
        if pos + 12 > len(data):
            data = buf.need(pos + 8)
        group, elem, vr, length = unpack_short(data, pos)
        if group != 0x0002:
            break
        if vr in long_vrs:
            data = buf.need(pos + 12)
            length = _U32.unpack_from(data, pos + 8)[0]
            start = pos + 12
        else:
            if vr not in _HEADER_SIZE:  # pydicom would fail to convert it, or switch VRs
                raise _GiveUp(f"file meta element of VR {vr!r}")
            start = pos + 8
        if length == _UNDEFINED:
            raise _GiveUp("undefined length in the file meta")
        pos = start + length
        if elem == 0x0010 or elem == 0x0002:  # Transfer Syntax / Media Storage SOP Class UID
            if vr != b"UI":
                raise _GiveUp(f"file meta UID stored as {vr!r}")
            if pos > len(data):
                data = buf.need(pos)
            value = data[start:pos].decode("latin-1").rstrip("\x00 ")
            if value.strip("0123456789."):
                raise _GiveUp(f"file meta UID {value!r}")  # pydicom decides what it means
            if elem == 0x0010:
                syntax = value
            else:
                media_class = value
    if syntax is None or syntax in (_BIG_ENDIAN, _DEFLATED):
        raise _GiveUp(f"transfer syntax {syntax}")
    return pos, syntax, media_class


def _scan(buf: _Buffer) -> tuple[dict[str, Any], str | None, str | None, int | None]:
    pos, syntax, media_class = _file_meta(buf)
    explicit = syntax != _IMPLICIT
    data = buf.need(pos + 6)
    vr = data[pos + 4:pos + 6]
    if (0x40 < vr[0] < 0x5B and 0x40 < vr[1] < 0x5B) != explicit:
        raise _GiveUp("the first element's encoding is not the transfer syntax's")  # pydicom
        # would switch between implicit and explicit VR here
    values: dict[str, Any] = {}
    stop = (_walk_explicit if explicit else _walk_implicit)(buf, pos, values)
    return values, syntax, media_class, stop


# The two walks below are the hot loop of indexing: locals only, one unpack and two dict
# look-ups per element, tags compared as the 32-bit number their four bytes make (element
# number high, group low: :func:`_raw_tag`), and the values of tags not read skipped by their
# length without being looked at. A walk ends where pydicom's ``stop_before_pixels`` ends, or
# at the end of the file, so a file pydicom cannot read is not read here either; it returns
# where the pixel data element starts, or None at the end of the file. An element
# header running past the bytes read raises ``struct.error``, which reads more (or ends).
def _walk_explicit(buf: _Buffer, pos: int, values: dict[str, Any]) -> int | None:
    data = buf.data
    unpack, unpack_u32 = _EXPLICIT_RAW.unpack_from, _U32.unpack_from
    header_size, kind_of_vr, table, undefined = (
        _HEADER_SIZE, _KIND_OF_VR_BYTES, _RAW_TABLE, _UNDEFINED)
    encoding = "latin-1"
    while True:
        try:
            while True:
                raw_tag, vr, length = unpack(data, pos)
                head = header_size.get(vr)
                if head is None:
                    raise _GiveUp(f"element {_tag_text(raw_tag)} of VR {vr!r}")
                if head == 12:
                    length = unpack_u32(data, pos + 8)[0]
                entry = table.get(raw_tag)
                if entry is None:  # a tag not read: walk on to the pixel data, as pydicom does
                    if length == undefined:
                        _undefined_length_is_a_sequence(_tag(raw_tag), vr)
                        pos = _skip_undefined(buf, pos + head, True)
                        data = buf.data
                    else:
                        pos += head + length
                    continue
                if entry is _STOP:
                    return pos
                if entry is _ITEM_TAG or length == undefined:
                    raise _GiveUp(f"element {_tag_text(raw_tag)} of undefined length")
                start = pos + head
                pos = start + length
                kind = kind_of_vr.get(vr)
                if kind is None:
                    raise _GiveUp(f"{entry[0]} stored as {vr!r}")
                if pos > len(data):
                    data = buf.need(pos)
                encoding = _take(values, entry[0], kind, data[start:pos], encoding)
        except struct.error:
            if not _read_on(buf, pos):
                return None
            data = buf.data


def _walk_implicit(buf: _Buffer, pos: int, values: dict[str, Any]) -> int | None:
    data = buf.data
    unpack, table, undefined = _IMPLICIT_RAW.unpack_from, _RAW_TABLE, _UNDEFINED
    encoding = "latin-1"
    while True:
        try:
            while True:
                raw_tag, length = unpack(data, pos)
                entry = table.get(raw_tag)
                if entry is None:
                    if length == undefined:
                        _undefined_length_is_a_sequence(_tag(raw_tag), None)
                        pos = _skip_undefined(buf, pos + 8, False)
                        data = buf.data
                    else:
                        pos += 8 + length
                    continue
                if entry is _STOP:
                    return pos
                if entry is _ITEM_TAG or length == undefined:
                    raise _GiveUp(f"element {_tag_text(raw_tag)} of undefined length")
                start = pos + 8
                pos = start + length
                if entry[1] is None:
                    raise _GiveUp(f"{entry[0]} of a VR the scan does not decode")
                if pos > len(data):
                    data = buf.need(pos)
                encoding = _take(values, entry[0], entry[1], data[start:pos], encoding)
        except struct.error:
            if not _read_on(buf, pos):
                return None
            data = buf.data


def _read_on(buf: _Buffer, pos: int) -> bool:
    """The element header at ``pos`` runs past the bytes read: read more and say True, or say
    False at the end of the file (fewer than 8 bytes left: pydicom ends the dataset there)."""
    if pos + 12 <= len(buf.data):
        raise _GiveUp("unreadable element")  # not a short read: never loop
    try:
        buf.need(pos + 12)
        return True
    except _GiveUp:
        if pos + 8 > len(buf.data):
            return False
        raise _GiveUp("file ends inside an element header") from None  # pydicom decides


def _take(values: dict[str, Any], keyword: str, kind: int, raw: bytes, encoding: str) -> str:
    """Store the value of ``keyword``; return the character encoding of the values after it."""
    if keyword == "SpecificCharacterSet":
        value = _value(raw, kind, encoding)
        if isinstance(value, list) or value not in _ENCODINGS:
            raise _GiveUp(f"character set {value!r}")
        values[keyword] = value
        return _ENCODINGS[value]
    if kind == _TEXT and 92 not in raw:  # most values: one value, no backslash
        values[keyword] = raw.decode("latin-1").rstrip("\x00 ") or None
    else:
        values[keyword] = _value(raw, kind, encoding)
    return encoding


def _raw_tag(tag: int) -> int:
    """The tag as its four little-endian bytes read as one number (element high, group low)."""
    return ((tag & 0xFFFF) << 16) | (tag >> 16)


def _tag(raw_tag: int) -> int:
    return _raw_tag(raw_tag)  # the swap is its own inverse


def _tag_text(raw_tag: int) -> str:
    tag = _tag(raw_tag)
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


#: raw tag (see :func:`_raw_tag`) -> ``(keyword, kind of its dictionary VR)`` for the tags
#: read, :data:`_STOP` for the pixel data tags, :data:`_ITEM_TAG` for item and delimiter tags.
_RAW_TABLE: dict[int, tuple[str, int | None]] = {
    **{_raw_tag(tag): entry for tag, entry in _IMPLICIT_TAGS.items()},
    **{_raw_tag(tag): _STOP for tag in _STOP_TAGS},
    **{_raw_tag(tag): _ITEM_TAG for tag in (_ITEM, _ITEM_END, _SEQ_END)},
}


def _undefined_length_is_a_sequence(tag: int, vr: bytes | None) -> None:
    """Give up unless the undefined-length element at hand is a sequence not read."""
    if tag in _TAGS:
        raise _GiveUp(f"{_TAGS[tag][0]} with an undefined length")
    if vr is None:  # implicit VR: a sequence by the dictionary, or a private tag
        try:
            vr = b"SQ" if dictionary_VR(tag) == "SQ" else b"??"
        except KeyError:
            vr = b"SQ"  # pydicom looks for an item; so does the skip
    if vr != b"SQ":
        raise _GiveUp("undefined length outside a sequence")


def read_header_fast(path: str | os.PathLike[str]) -> DicomHeader:
    """Read the header of one DICOM file, by the fast scan when it can, else by pydicom.

    The result is identical to :func:`covidimg.sources._engine.dicom.read_header`'s.

    Raises
    ------
    covidimg.errors.DicomReadError
        As :func:`~covidimg.sources._engine.dicom.read_header` does, naming the file and the
        problem.

    Examples
    --------
    >>> import datetime, os, tempfile, numpy as np
    >>> from covidimg.demo.dicom_writer import write_dicom
    >>> from covidimg.sources._engine.dicom import read_header
    >>> from covidimg.sources._engine.header_scan import read_header_fast
    >>> path = os.path.join(tempfile.mkdtemp(), "x.dcm")
    >>> write_dicom(path, np.zeros((8, 8), np.float32), modality="CR", patient_id="12",
    ...             study_uid="2.25.1", series_uid="2.25.2", sop_uid="2.25.3",
    ...             study_date=datetime.date(2020, 3, 1), view="PA", age_years=65)
    >>> read_header_fast(path) == read_header(path)
    True
    """
    label = os.fspath(path)
    try:
        values, syntax, media_class, buf, stop, size = _scan_file(label)
    except (ValueError, UnicodeDecodeError, OSError):
        return read_header(label)
    if "SOPInstanceUID" not in values and "StudyInstanceUID" not in values:
        return read_header(label)  # let pydicom say what is wrong
    header = header_from_values(values, label, transfer_syntax=syntax, media_class=media_class)
    check_pixel_data(label, header.modality, buf.data, stop, syntax=syntax, file_size=size)
    return header
