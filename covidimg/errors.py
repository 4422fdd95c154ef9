"""Every exception and warning class of covidimg, in one bottom module.

Other modules import their errors from here, so ``except covidimg.errors.LoadError`` catches
every loader's, and none of them needs to import another layer to name an error. The public
ones are also exported by ``covidimg`` itself.
"""

from __future__ import annotations

import os

__all__ = [
    "CohortFileError",
    "DatasetUnavailableError",
    "DicomReadError",
    "ImageReadError",
    "ImageTooLargeError",
    "IndexCacheWarning",
    "LoadError",
    "MissingCodecError",
    "RefusedMember",
    "SchemaError",
    "SourceDetectionError",
    "StrictModeError",
    "TableReadError",
    "TaskError",
    "UnitConversionError",
    "ValueProblem",
]


def _display_path(path: str | os.PathLike[str]) -> str:
    """``path`` as storable text: bytes that are not UTF-8 shown as ``\\xNN``."""
    return os.fsencode(os.fspath(path)).decode("utf-8", "backslashreplace")


class SchemaError(ValueError):
    """A table does not satisfy the harmonized cohort contract."""


class LoadError(ValueError):
    """A source root cannot be loaded at all (e.g. its main table lacks required columns).

    Problems confined to one file or one value never raise this: they become findings and the
    load goes on.
    """


class StrictModeError(LoadError):
    """Raised in strict mode (``covidimg.load(..., strict=True)``) by the first finding of
    severity ``error``; the message names the finding's kind, file and detail.

    Attributes
    ----------
    finding
        The finding as a ``findings`` row (a dict).
    """

    def __init__(self, finding: dict[str, object]) -> None:
        self.finding = finding
        super().__init__(
            f"strict mode: {finding['source']}: {finding['kind']} in {finding['path'] or '-'}: "
            f"{finding['detail']}. Fix or remove the file, or load without strict=True to skip "
            "it and see every problem in cohort.findings."
        )


class TableReadError(ValueError):
    """A CSV/TSV file cannot be read as a table at all (empty, binary, undecodable)."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = _display_path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class SourceDetectionError(ValueError):
    """No source (or more than one) matches the layout of a folder."""


class CohortFileError(OSError):
    """A saved cohort folder is missing, incomplete or of an unknown format."""


class DicomReadError(LoadError):
    """One DICOM file (or zip member, or DICOM-JSON file) cannot be read.

    Loaders turn it into a ``files`` row (``rejected`` with :attr:`reason`) and an
    ``unreadable_file`` finding; the load goes on.

    Parameters
    ----------
    path
        The file, or ``"archive.zip::member"``.
    reason
        What is wrong, with the offending value, and what to do next.

    Examples
    --------
    >>> from covidimg.sources._engine.dicom import DicomReadError
    >>> str(DicomReadError("/data/x.dcm", "not a DICOM file"))
    'cannot read DICOM header of /data/x.dcm: not a DICOM file'
    """

    def __init__(self, path: str, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot read DICOM header of {self.path}: {reason}")

    def __reduce__(self) -> tuple[type, tuple[str, str]]:
        return (type(self), (self.path, self.reason))


class RefusedMember(DicomReadError):
    """A zip member that was not read because it is unsafe or too large.

    Attributes
    ----------
    kind
        The finding kind: ``"unsafe_archive_member"`` or ``"archive_too_large"``.
    """

    def __init__(self, path: str, reason: str, kind: str = "unsafe_archive_member") -> None:
        super().__init__(path, reason)
        self.kind = kind
        self.args = (f"refused zip member {path}: {reason}",)

    def __str__(self) -> str:
        return f"refused zip member {self.path}: {self.reason}"

    def __reduce__(self) -> tuple[type, tuple[str, str, str]]:  # type: ignore[override]
        return (type(self), (self.path, self.reason, self.kind))


class ImageReadError(LoadError):
    """One image file (or archive member, or series) cannot be turned into pixels.

    A subclass of :class:`covidimg.LoadError`, so ``except covidimg.LoadError`` catches it too.
    The message names the file and says what to do next; :attr:`path` and :attr:`reason` hold
    the two parts separately, for findings tables.

    Parameters
    ----------
    path
        The file, ``"archive.zip::member"`` or series folder that failed.
    reason
        What went wrong, with the offending value, and what to do next.

    Examples
    --------
    >>> from covidimg.imaging import ImageReadError
    >>> err = ImageReadError("/data/x.dcm", "no Pixel Data element")
    >>> str(err)
    'cannot read image /data/x.dcm: no Pixel Data element'
    """

    def __init__(self, path: str, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot read image {self.path}: {reason}")

    def __reduce__(self) -> tuple[type, tuple[str, str]]:
        # Keep the two-argument constructor picklable (process pools send errors back).
        return (type(self), (self.path, self.reason))


class MissingCodecError(ImageReadError):
    """The pixel data is compressed with a transfer syntax no installed plugin can decode.

    :attr:`transfer_syntax` holds the transfer syntax UID; the message names it and the
    package extra (``covidimg[codecs]``) or tool that provides a decoder.

    Examples
    --------
    >>> from covidimg.errors import MissingCodecError
    >>> err = MissingCodecError("/data/x.dcm", "no decoder", "1.2.840.10008.1.2.4.80")
    >>> err.transfer_syntax
    '1.2.840.10008.1.2.4.80'
    """

    def __init__(self, path: str, reason: str, transfer_syntax: str = "") -> None:
        self.transfer_syntax = transfer_syntax
        super().__init__(path, reason)

    def __reduce__(self) -> tuple[type, tuple[str, str, str]]:  # type: ignore[override]
        return (type(self), (self.path, self.reason, self.transfer_syntax))


class ImageTooLargeError(ImageReadError):
    """An image is larger than the pixel memory ``read_image`` may use (``max_pixel_bytes``).

    Raised before any pixel is decoded, from the header's dimensions, and also when decoding
    runs out of memory (a :class:`MemoryError`): the file is not corrupt, it is too large for
    the limit or for this machine. The message gives both sizes and what to do next (pass a
    larger ``max_pixel_bytes``, or read one slice with ``slice_index``).

    Attributes
    ----------
    needed_bytes
        The bytes the read would need (the float32 result, or the stored pixel data read to
        make it, whichever is larger); 0 when unknown.
    max_pixel_bytes
        The limit in force; 0 when the error comes from running out of memory.

    Examples
    --------
    >>> from covidimg.errors import ImageReadError, ImageTooLargeError
    >>> err = ImageTooLargeError("/data/x.dcm", "too large", 2**31, 2**30)
    >>> isinstance(err, ImageReadError), err.needed_bytes
    (True, 2147483648)
    """

    def __init__(self, path: str, reason: str, needed_bytes: int = 0,
                 max_pixel_bytes: int = 0) -> None:
        self.needed_bytes = int(needed_bytes)
        self.max_pixel_bytes = int(max_pixel_bytes)
        super().__init__(path, reason)

    def __reduce__(self) -> tuple[type, tuple[str, str, int, int]]:  # type: ignore[override]
        return (type(self), (self.path, self.reason, self.needed_bytes, self.max_pixel_bytes))


class TaskError(RuntimeError):
    """A task run on an executor (a header read, a thumbnail, an exported image) failed: it
    raised, or the worker process running it died.

    :attr:`task` names the task (its file), :attr:`reason` the error, :attr:`where` the
    executor; the original exception is the ``__cause__``.

    Examples
    --------
    >>> from covidimg.errors import TaskError
    >>> str(TaskError("/data/x.dcm", "BrokenProcessPool: a worker died", "ProcessPoolExecutor"))
    '/data/x.dcm failed on ProcessPoolExecutor: BrokenProcessPool: a worker died. If a worker \
died, it may have run out of memory: pass fewer workers (n_jobs=) or executor=False to run in \
this process'
    """

    def __init__(self, task: str, reason: str, where: str) -> None:
        self.task, self.reason, self.where = str(task), str(reason), str(where)
        super().__init__(f"{self.task} failed on {self.where}: {self.reason}. If a worker died, "
                         "it may have run out of memory: pass fewer workers (n_jobs=) or "
                         "executor=False to run in this process")

    def __reduce__(self) -> tuple[type, tuple[str, str, str]]:  # type: ignore[override]
        return (type(self), (self.task, self.reason, self.where))


class ValueProblem(ValueError):
    """A value cannot be read; the message says what was expected."""


class UnitConversionError(ValueError):
    """A lab value's unit has no conversion to its analyte's canonical unit
    (:mod:`covidimg.units`); the message names the unit, the analyte and the known units."""


class IndexCacheWarning(UserWarning):
    """The index cache was unreadable or damaged and is being rebuilt."""


class DatasetUnavailableError(OSError):
    """A public dataset could not be downloaded (no network, or the server refused)."""
