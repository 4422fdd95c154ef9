"""What an image reference points at: a file, a zip member, or a series folder.

An ``images`` row, a plain path and ``"/abs/archive.zip::member/path.dcm"`` all resolve to an
:class:`ImageRef`; the readers only ever see ``ImageRef`` objects and the two byte accessors
here, so zip handling lives in one place and nothing is ever extracted to disk.
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from covidimg.errors import ImageReadError
from covidimg.table_paths import MEMBER_SEP, member_path, split_path

__all__ = ["ZIP_ERRORS", "ZIP_SEP", "ImageRef", "first_members", "image_ref", "opener",
           "series_members"]

#: Separator between an archive and a member inside it, as in ``images.path``
#: (:mod:`covidimg.table_paths` spells and reads such paths).
ZIP_SEP = MEMBER_SEP

FORMATS = ("dicom", "nifti", "png")
#: What the zipfile module raises for damaged archives: bad structure, unsupported versions or
#: compression methods, encrypted members, short reads.
ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError,
              EOFError, OSError, ValueError)
_SUFFIX_FORMATS = {
    ".dcm": "dicom", ".dicom": "dicom", ".ima": "dicom",
    ".nii": "nifti", ".nii.gz": "nifti",
    ".png": "png",
}


@dataclass(frozen=True)
class ImageRef:
    """A resolved image reference.

    Attributes
    ----------
    path
        The reference as written in ``images.path``.
    archive
        The zip archive, when the image lives inside one; else ``None``.
    member
        The member inside ``archive`` (a folder prefix ending in ``/`` for a series).
    format
        ``"dicom"``, ``"nifti"`` or ``"png"``.
    is_series
        True when ``path`` is a folder (or zip folder) holding one file per slice.
    stored_transposed
        For NIfTI: True when the array is stored transposed (MHH), False when it is stored in
        display order, ``None`` when unknown (the NIfTI convention, x = columns, is used).
    preview_path
        A ready-made 8-bit preview (MHH's PNG), when the row names one.
    series_uid
        The row's Series Instance UID, when it names one: which series of a folder to read.
    """

    path: str
    archive: str | None
    member: str | None
    format: str
    is_series: bool = False
    stored_transposed: bool | None = None
    preview_path: str | None = None
    series_uid: str | None = None

    @property
    def file(self) -> str:
        """The file on disk that holds the image (the archive for zip members)."""
        return self.archive if self.archive is not None else split_path(self.path)[0]

    def label(self, member: str | None = None) -> str:
        """How the tables write one file of this image (``member``: a member of the archive,
        or a file of the series folder; ``None``: the image itself)."""
        if member is None:
            return self.path
        return member_path(self.archive, member) if self.archive is not None else member


def _clean(value: Any) -> Any:
    """Turn pandas/numpy missing markers into ``None``."""
    if value is None:
        return None
    try:
        import pandas as pd

        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value


def _row_fields(image: Any) -> dict[str, Any]:
    if isinstance(image, (str, os.PathLike)):
        return {"path": os.fspath(image)}
    getter = getattr(image, "get", None)
    if isinstance(image, Mapping) or callable(getter):
        keys = ("path", "format", "stored_transposed", "preview_path", "series_uid")
        return {key: _clean(image.get(key)) for key in keys}  # type: ignore[union-attr]
    if hasattr(image, "path"):
        keys = ("path", "format", "stored_transposed", "preview_path", "series_uid")
        return {key: _clean(getattr(image, key, None)) for key in keys}
    raise TypeError(
        f"image must be a path, an 'archive.zip::member' string or an images row (a mapping "
        f"or pandas Series with a 'path' key); got {type(image).__name__}: {image!r:.80}"
    )


def _format_from_name(name: str) -> str | None:
    lower = name.lower().rstrip("/")
    for suffix in sorted(_SUFFIX_FORMATS, key=len, reverse=True):
        if lower.endswith(suffix):
            return _SUFFIX_FORMATS[suffix]
    return None


def _sniff_dicom(head: bytes) -> bool:
    return len(head) >= 132 and head[128:132] == b"DICM"


def image_ref(image: Any) -> ImageRef:
    """Resolve a path, ``archive.zip::member`` string or ``images`` row to an :class:`ImageRef`.

    Parameters
    ----------
    image
        A path (file or series folder), ``"/abs/archive.zip::member"`` (``member/`` for a series
        folder inside the archive), or an ``images`` row with ``path`` and optionally
        ``format``, ``stored_transposed`` and ``preview_path``.

    Returns
    -------
    ImageRef

    Raises
    ------
    ImageReadError
        The path does not exist, the archive or member is missing, or the format cannot be
        told from the row, the name or the file's first bytes.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from covidimg.imaging.refs import image_ref
    >>> file = pathlib.Path(tempfile.mkdtemp()) / "a.nii.gz"
    >>> _ = file.write_bytes(b"")
    >>> ref = image_ref({"path": str(file), "stored_transposed": True})
    >>> ref.format, ref.stored_transposed
    ('nifti', True)
    """
    fields = _row_fields(image)
    path = fields.get("path")
    if not path:
        raise ImageReadError(str(image)[:120], "the images row has no 'path'; give a path to "
                             "a file, a series folder or 'archive.zip::member'")
    path = os.fspath(path)
    fmt = fields.get("format")
    if fmt is not None and fmt not in FORMATS:
        raise ImageReadError(path, f"format={fmt!r} is not one of {list(FORMATS)}; fix the "
                             "images row or leave 'format' empty to detect it from the file")
    transposed = fields.get("stored_transposed")
    transposed = None if transposed is None else bool(transposed)
    preview = fields.get("preview_path")
    preview = None if preview is None else os.fspath(preview)

    disk, member = split_path(path)
    archive = disk if member is not None else None
    if member is not None:
        is_series = member.endswith("/") or member == ""
        if not os.path.isfile(archive):
            raise ImageReadError(path, f"archive {archive!r} does not exist; check the path "
                                 "or reload the cohort")
        try:
            with zipfile.ZipFile(archive) as zf:
                names = zf.namelist()
        except ZIP_ERRORS as exc:
            raise ImageReadError(path, f"{archive!r} is not a readable zip archive "
                                 f"({type(exc).__name__}: {exc}); download it again") from exc
        if is_series:
            if not any(n.startswith(member) and not n.endswith("/") for n in names):
                raise ImageReadError(path, f"archive has no files under {member!r}")
        elif member not in names:
            raise ImageReadError(path, f"archive has no member {member!r}; it holds "
                                 f"{len(names)} members, e.g. {names[:3]}")
        head = b""
        if fmt is None and not is_series and _format_from_name(member) is None:
            try:
                with zipfile.ZipFile(archive) as zf, zf.open(first_members(zf)[member]) as fh:
                    head = fh.read(132)
            except ZIP_ERRORS as exc:
                raise ImageReadError(path, f"the zip member cannot be read "
                                     f"({type(exc).__name__}: {exc}); download the archive "
                                     "again") from exc
        name = member
    else:
        if not os.path.exists(disk):
            raise ImageReadError(path, "file not found; check the path, or reload the cohort "
                                 "if the files moved")
        is_series = os.path.isdir(disk)
        head = b""
        if fmt is None and not is_series and _format_from_name(disk) is None:
            with open(disk, "rb") as fh:
                head = fh.read(132)
        name = disk

    if fmt is None:
        if is_series:
            fmt = "dicom"
        else:
            fmt = _format_from_name(name) or ("dicom" if _sniff_dicom(head) else None)
    if fmt is None:
        raise ImageReadError(path, f"cannot tell the format from the name {Path(name).name!r} "
                             f"or the first bytes; name a format in the row ({list(FORMATS)}) "
                             "or use a .dcm, .nii(.gz) or .png file")
    if is_series and fmt != "dicom":
        raise ImageReadError(path, f"a folder is read as a DICOM series, but format={fmt!r}")
    series_uid = fields.get("series_uid")
    return ImageRef(path=path, archive=archive, member=member, format=fmt, is_series=is_series,
                    stored_transposed=transposed, preview_path=preview,
                    series_uid=None if series_uid is None else str(series_uid))


@contextmanager
def opener(ref: ImageRef) -> Iterator[Callable[..., IO[bytes]]]:
    """Yield a function that opens ``ref``'s bytes, or one file of its series, for reading.

    The archive of a zip member is opened once for the whole ``with`` block, so reading the
    headers of a 300-slice series costs one pass over the zip directory. The returned
    function takes an optional member (a path in the series folder, or a member name) and
    ``header_only=True`` to stream a zip member instead of loading it into memory. Nothing is
    ever extracted to disk.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from covidimg.imaging.refs import image_ref, opener
    >>> file = pathlib.Path(tempfile.mkdtemp()) / "x.png"
    >>> _ = file.write_bytes(b"PNG bytes")
    >>> with opener(image_ref(str(file))) as open_, open_() as fh:
    ...     fh.read(3)
    b'PNG'
    """
    if ref.archive is None:
        def open_file(member: str | None = None, header_only: bool = False) -> IO[bytes]:
            return open(member if member is not None else ref.file, "rb")

        yield open_file
        return
    try:
        zf = zipfile.ZipFile(ref.archive)
    except ZIP_ERRORS as exc:
        raise ImageReadError(ref.path, f"{ref.archive!r} is not a readable zip archive "
                             f"({type(exc).__name__}: {exc}); download it again") from exc
    with zf:
        first = first_members(zf)

        def open_zip(member: str | None = None, header_only: bool = False) -> IO[bytes]:
            info = first[member if member is not None else ref.member]  # type: ignore[index]
            if header_only:
                return zf.open(info)
            return io.BytesIO(zf.read(info))

        yield open_zip


def first_members(zf: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    """Member name -> its first entry. A zip may hold two members of one name; ``ZipFile``
    opens the last, the index reads the first (the later ones are ``duplicate``), so every
    reader opens the first too."""
    first: dict[str, zipfile.ZipInfo] = {}
    for info in zf.infolist():
        first.setdefault(info.filename, info)
    return first


def series_members(ref: ImageRef) -> list[str]:
    """List the files of a series: paths in a folder, or member names under a zip folder.

    Hidden files (``.*``) are skipped; everything else is returned, sorted by name, and left
    for the DICOM reader to accept or reject.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from covidimg.imaging.refs import image_ref, series_members
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "1.dcm").write_bytes(b""); _ = (folder / ".DS_Store").write_bytes(b"")
    >>> [pathlib.Path(p).name for p in series_members(image_ref(str(folder)))]
    ['1.dcm']
    """
    if ref.archive is not None:
        prefix = ref.member or ""
        try:
            with zipfile.ZipFile(ref.archive) as zf:
                names = [n for n in first_members(zf)
                         if n.startswith(prefix) and not n.endswith("/")
                         and not Path(n).name.startswith(".")]
        except ZIP_ERRORS as exc:
            raise ImageReadError(ref.path, f"{ref.archive!r} is not a readable zip archive "
                                 f"({type(exc).__name__}: {exc}); download it again") from exc
        return sorted(names)
    out = []
    for root, dirs, files in os.walk(ref.file):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        out.extend(os.path.join(root, f) for f in files if not f.startswith("."))
    return sorted(out)
