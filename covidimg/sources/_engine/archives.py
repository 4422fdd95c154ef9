"""Safe reading of zip archives: member-name checks and decompressed-size limits.

Loaders read DICOM from inside zips (CRDW exam zips, gen3-client downloads, NBIA bundles) and
never extract them. Even so, a crafted or damaged archive must not be trusted: every member goes
through :func:`check_member` before a byte of it is read, and a member that is refused becomes a
finding naming the archive and the member, while the other members are still read.

A member is refused when

* its name is unsafe (``unsafe_archive_member``): an absolute path (``/x``, ``C:\\x``,
  ``\\\\server\\x``), a ``..`` component that climbs out of the archive, a NUL byte, or an
  entry that is a symbolic link;
* its name repeats an earlier member's (``duplicate_archive_member``): a zip may hold two
  members of one name; the first is read (by every reader: :mod:`covidimg.imaging.refs` opens
  the first too) and each later copy is labelled ``archive.zip::member::2``, ``::3``, ...
  (:func:`covidimg.table_paths.member_path`) and reported;
* it is too large (``archive_too_large``): its declared uncompressed size exceeds
  :attr:`ArchiveLimits.max_member_bytes`, or its compression ratio exceeds
  :attr:`ArchiveLimits.max_ratio` (the signature of a zip bomb).

The limits are a setting: :func:`covidimg.load` takes ``max_member_bytes`` and
``max_compression_ratio``, and :func:`archive_limits` sets them for a block of code.

Examples
--------
>>> from covidimg.sources._engine.archives import unsafe_name_problem
>>> unsafe_name_problem("../../etc/passwd")
"its name climbs out of the archive ('..' component)"
>>> unsafe_name_problem("series1/0001.dcm") is None
True
>>> with archive_limits(max_member_bytes=1_000_000):
...     current_limits().max_member_bytes
1000000
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import zipfile
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, replace

from covidimg.errors import DicomReadError, RefusedMember
from covidimg.sources._engine.dicom import DicomHeader, read_header
from covidimg.table_paths import member_path

__all__ = [
    "DEFAULT_MAX_COMPRESSION_RATIO",
    "DEFAULT_MAX_MEMBER_BYTES",
    "ArchiveLimits",
    "RefusedMember",
    "archive_limits",
    "check_member",
    "current_limits",
    "finding_kind",
    "iter_zip_headers",
    "unsafe_name_problem",
]

#: Default largest uncompressed size of one archive member: 4 GiB (a large multi-frame DICOM
#: is well below; a zip bomb declares far more).
DEFAULT_MAX_MEMBER_BYTES = 4 * 2**30
#: Default largest compression ratio (uncompressed / compressed size) of a member. DICOM
#: compresses a few-fold, rarely beyond 50; deflate tops out near 1030 on runs of zeros.
DEFAULT_MAX_COMPRESSION_RATIO = 200.0
#: Members smaller than this are never refused for their ratio (they cannot exhaust anything).
RATIO_EXEMPT_BYTES = 1 * 2**20

_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class ArchiveLimits:
    """Limits applied to every zip member before it is read.

    Parameters
    ----------
    max_member_bytes
        Largest declared uncompressed size of one member, in bytes.
    max_ratio
        Largest ratio of uncompressed to compressed size, for members of at least
        :data:`RATIO_EXEMPT_BYTES`.
    """

    max_member_bytes: int = DEFAULT_MAX_MEMBER_BYTES
    max_ratio: float = DEFAULT_MAX_COMPRESSION_RATIO

    def __post_init__(self) -> None:
        if not isinstance(self.max_member_bytes, int) or self.max_member_bytes <= 0:
            raise ValueError(f"max_member_bytes={self.max_member_bytes!r}: expected a positive "
                             "number of bytes, e.g. 2 * 2**30 for 2 GiB")
        if not self.max_ratio > 1:
            raise ValueError(f"max_compression_ratio={self.max_ratio!r}: expected a number "
                             f"greater than 1 (default {DEFAULT_MAX_COMPRESSION_RATIO:g})")


_DEFAULT_LIMITS = ArchiveLimits()
_LIMITS: ContextVar[ArchiveLimits | None] = ContextVar("covidimg_archive_limits", default=None)


def current_limits() -> ArchiveLimits:
    """The archive limits in force (the defaults unless inside :func:`archive_limits`)."""
    return _LIMITS.get() or _DEFAULT_LIMITS


@contextlib.contextmanager
def archive_limits(*, max_member_bytes: int | None = None,
                   max_ratio: float | None = None) -> Iterator[ArchiveLimits]:
    """Set the archive limits for the duration of a ``with`` block.

    ``None`` keeps the limit in force. :func:`covidimg.load` uses this for its
    ``max_member_bytes`` and ``max_compression_ratio`` arguments.

    Examples
    --------
    >>> from covidimg.sources._engine.archives import archive_limits
    >>> with archive_limits(max_ratio=50) as limits:
    ...     limits.max_ratio
    50
    """
    limits = current_limits()
    if max_member_bytes is not None:
        limits = replace(limits, max_member_bytes=max_member_bytes)
    if max_ratio is not None:
        limits = replace(limits, max_ratio=max_ratio)
    token = _LIMITS.set(limits)
    try:
        yield limits
    finally:
        _LIMITS.reset(token)


def finding_kind(error: DicomReadError) -> str:
    """The finding kind for a member that could not be read (``unreadable_file`` by default)."""
    return getattr(error, "kind", "unreadable_file")


def unsafe_name_problem(name: str) -> str | None:
    """Why the member name ``name`` is unsafe, or ``None`` if it is a plain relative path."""
    if "\x00" in name:
        return "its name contains a NUL byte"
    normalized = name.replace("\\", "/")
    if normalized.startswith("/") or _WINDOWS_DRIVE.match(normalized):
        return "its name is an absolute path"
    if ".." in normalized.split("/"):
        return "its name climbs out of the archive ('..' component)"
    return None


def check_member(info: zipfile.ZipInfo,
                 limits: ArchiveLimits | None = None) -> tuple[str, str] | None:
    """Return ``(finding kind, reason)`` if ``info`` must not be read, else ``None``."""
    limits = limits or current_limits()
    problem = unsafe_name_problem(info.filename)
    if problem:
        return "unsafe_archive_member", f"{problem}; it was not read"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "unsafe_archive_member", "it is a symbolic link; it was not read"
    if info.file_size > limits.max_member_bytes:
        return "archive_too_large", (
            f"it declares {info.file_size:,} bytes uncompressed, above the limit of "
            f"{limits.max_member_bytes:,}; it was not read. If the member is genuine, raise the "
            "limit: covidimg.load(..., max_member_bytes=N)")
    if info.file_size >= RATIO_EXEMPT_BYTES:
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > limits.max_ratio:
            return "archive_too_large", (
                f"it compresses {ratio:,.0f}:1 ({info.compress_size:,} -> {info.file_size:,} "
                f"bytes), above the limit of {limits.max_ratio:g}:1 (a zip bomb?); it was not "
                "read. If the member is genuine, raise the limit: "
                "covidimg.load(..., max_compression_ratio=R)")
    return None


def iter_zip_headers(
    zip_path: str | os.PathLike[str],
) -> Iterator[tuple[str, DicomHeader | DicomReadError]]:
    """Read the DICOM header of every safe member of a zip archive, from inside the archive.

    Every member first goes through :func:`check_member`: a refused member yields a
    :class:`RefusedMember` (whose ``kind`` is the finding kind) and is never opened. A member
    repeating the SOP Instance UID of an earlier member is a copy of that instance: it yields
    a :class:`RefusedMember` of kind ``duplicate_instance`` (so no loader counts an instance
    twice). Nothing is ever extracted.

    Raises
    ------
    DicomReadError
        If the archive itself cannot be opened (not a zip, truncated, unreadable).

    Examples
    --------
    >>> import io, os, tempfile, zipfile
    >>> from covidimg.sources._engine.archives import iter_zip_headers
    >>> path = os.path.join(tempfile.mkdtemp(), "bad.zip")
    >>> with zipfile.ZipFile(path, "w") as zf:
    ...     zf.writestr("../../evil.dcm", b"x")
    >>> [(label.endswith("bad.zip::../../evil.dcm"), error.kind)
    ...  for label, error in iter_zip_headers(path)]
    [(True, 'unsafe_archive_member')]
    """
    archive = os.path.abspath(os.fspath(zip_path))
    limits = current_limits()
    try:
        zf = zipfile.ZipFile(archive)
    except FileNotFoundError:
        raise DicomReadError(archive, "the zip file does not exist") from None
    except PermissionError as exc:
        raise DicomReadError(archive, f"permission denied ({exc.strerror}); make the file "
                                      "readable (chmod +r) and load again") from exc
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise DicomReadError(archive, f"not a readable zip archive ({exc}); the download may be "
                                      "incomplete: download it again") from exc
    copies: dict[str, int] = {}
    sops: dict[str, str] = {}  # SOP Instance UID -> the first member holding it
    with zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            copy = copies[info.filename] = copies.get(info.filename, 0) + 1
            label = member_path(archive, info.filename, copy)
            if copy > 1:
                yield label, RefusedMember(label, (
                    f"the archive holds {copy} members named {info.filename!r}; only the first "
                    "is read (it is the one every reader opens), this copy is not"),
                    "duplicate_archive_member")
                continue
            refused = check_member(info, limits)
            if refused:
                yield label, RefusedMember(label, refused[1], refused[0])
                continue
            try:
                with zf.open(info) as member:
                    header = read_header(member, label=label, size=info.file_size)
            except DicomReadError as exc:
                yield label, exc
                continue
            except (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError,
                    EOFError, ValueError) as exc:
                yield label, DicomReadError(label, f"cannot read the zip member ({exc})")
                continue
            first = sops.setdefault(header.sop_uid, label) if header.sop_uid else label
            if first != label:
                yield label, RefusedMember(label, (
                    f"same SOP Instance UID {header.sop_uid} as {first}: a copy of that "
                    "instance; only the first is read"), "duplicate_instance")
                continue
            yield label, header
