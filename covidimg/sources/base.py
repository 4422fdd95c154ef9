"""What every source loader returns, and the ledger it keeps of files and findings."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field, fields

import pandas as pd

from covidimg import schema

__all__ = ["Ledger", "LoadError", "SourceTables", "StrictModeError", "display_path",
           "file_problem", "strict_mode", "walk"]


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


_STRICT: ContextVar[bool] = ContextVar("covidimg_strict", default=False)


@contextlib.contextmanager
def strict_mode(enabled: bool = True) -> Iterator[None]:
    """Within the block, a finding of severity ``error`` raises :class:`StrictModeError`.

    :func:`covidimg.load` uses this for ``strict=True``.

    Examples
    --------
    >>> from covidimg.sources.base import Ledger, StrictModeError, strict_mode
    >>> with strict_mode():
    ...     try:
    ...         Ledger("mhh").finding("unreadable_file", "truncated", path="x.png")
    ...     except StrictModeError as exc:
    ...         print(exc.finding["kind"])
    unreadable_file
    """
    token = _STRICT.set(bool(enabled))
    try:
        yield
    finally:
        _STRICT.reset(token)


def raise_if_strict(finding: dict[str, object]) -> None:
    """Raise :class:`StrictModeError` for ``finding`` if strict mode is on and it is an error."""
    if _STRICT.get() and schema.finding_severity(str(finding["kind"])) == "error":
        raise StrictModeError(finding)


@dataclass
class SourceTables:
    """The six harmonized tables one source loader produced.

    Loaders build plain DataFrames and call :meth:`conformed` before returning, so every table
    leaves the loader with the contract's columns and dtypes (see :mod:`covidimg.schema`).
    """

    source: str
    patients: pd.DataFrame = field(default_factory=lambda: schema.empty("patients"))
    images: pd.DataFrame = field(default_factory=lambda: schema.empty("images"))
    events: pd.DataFrame = field(default_factory=lambda: schema.empty("events"))
    labs: pd.DataFrame = field(default_factory=lambda: schema.empty("labs"))
    files: pd.DataFrame = field(default_factory=lambda: schema.empty("files"))
    findings: pd.DataFrame = field(default_factory=lambda: schema.empty("findings"))

    def tables(self) -> dict[str, pd.DataFrame]:
        """Return the tables as a mapping of table name to DataFrame."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "source"}

    def conformed(self) -> SourceTables:
        """Return a copy whose tables are conformed to, and validated against, the schema."""
        out = {}
        for name, frame in self.tables().items():
            out[name] = schema.validate(name, schema.conform(name, frame))
        return SourceTables(self.source, **out)


class Ledger:
    """Collects the ``files`` and ``findings`` rows of one source while it loads.

    Parameters
    ----------
    source
        The source name (``"mhh"``, ``"nccid"``, ...).
    root
        The source root; paths are recorded as given (absolute when the root is absolute).
    """

    def __init__(self, source: str, root: str | os.PathLike[str] = "") -> None:
        self.source = source
        self.root = os.fspath(root)
        self._files: dict[str, dict[str, object]] = {}
        self._findings: list[dict[str, object]] = []

    def file(self, path: str | os.PathLike[str], status: str, *, image_uid: str | None = None,
             reason: str = "") -> None:
        """Record what became of ``path`` (``used``, ``duplicate``, ``rejected``, ``ignored``).

        A later record of the same path replaces the earlier one, so a loader can first mark a
        file used and later downgrade it to duplicate.
        """
        if status not in schema.FILE_STATUS:
            raise ValueError(f"status {status!r} is not one of {schema.FILE_STATUS}")
        key = os.fspath(path)
        self._files[key] = {"path": key, "source": self.source, "status": status,
                            "image_uid": image_uid, "reason": reason}

    def status(self, path: str | os.PathLike[str]) -> str | None:
        """Return the recorded status of ``path``, or ``None`` if it is not recorded."""
        row = self._files.get(os.fspath(path))
        return None if row is None else str(row["status"])

    def finding(self, kind: str, detail: str, *, patient_uid: str | None = None,
                image_uid: str | None = None, path: str | os.PathLike[str] | None = None) -> None:
        """Record a data-quality finding.

        In strict mode (see :func:`strict_mode`) a finding of severity ``error`` raises
        :class:`StrictModeError` instead of letting the load go on.
        """
        row = {
            "kind": kind, "source": self.source, "patient_uid": patient_uid,
            "image_uid": image_uid, "path": None if path is None else os.fspath(path),
            "detail": detail,
        }
        self._findings.append(row)
        raise_if_strict(row)

    def files_frame(self) -> pd.DataFrame:
        """The ``files`` table recorded so far."""
        return pd.DataFrame(list(self._files.values()),
                            columns=schema.TABLES["files"].names)

    def findings_frame(self) -> pd.DataFrame:
        """The ``findings`` table recorded so far."""
        return pd.DataFrame(self._findings, columns=schema.TABLES["findings"].names)


# ---------------------------------------------------------------------- walking a source root
def display_path(path: str | os.PathLike[str]) -> str:
    """``path`` as text that can be stored: bytes that are not UTF-8 shown as ``\\xNN``.

    Examples
    --------
    >>> from covidimg.sources.base import display_path
    >>> display_path(b"/data/\\xff.dcm".decode("utf-8", "surrogateescape"))
    '/data/\\\\xff.dcm'
    """
    return os.fsencode(os.fspath(path)).decode("utf-8", "backslashreplace")


def file_problem(path: str | os.PathLike[str]) -> str | None:
    """Why ``path`` cannot be read as a regular file, or ``None`` if it can.

    Catches dangling and looping symbolic links, FIFOs, sockets and devices (reading them would
    fail or block), files without read permission and names that are not valid UTF-8.

    Examples
    --------
    >>> from covidimg.sources.base import file_problem
    >>> file_problem("/no/such/file")
    'the file does not exist'
    """
    path = os.fspath(path)
    if display_path(path) != path:
        return ("its name is not valid UTF-8 (the bytes are shown as \\xNN); rename it and "
                "load again")
    try:
        info = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            return (f"dangling symbolic link (its target {os.readlink(path)!r} does not exist); "
                    "replace it with the file itself")
        return "the file does not exist"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symbolic link loop (the link points back to itself); remove it"
        return f"cannot inspect the file ({exc.strerror}); check it and load again"
    if stat.S_ISDIR(info.st_mode):
        return None
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file (a FIFO, socket or device); it cannot be read as data"
    if not os.access(path, os.R_OK):
        return "permission denied; make the file readable (chmod +r) and load again"
    return None


def walk(root: str | os.PathLike[str], ledger: Ledger,
         ) -> Iterator[tuple[str, list[str], list[str]]]:
    """Walk ``root`` like :func:`os.walk`, yielding only files that can be read.

    Sorted, top-down, and never following links to folders. What cannot be read is recorded
    in ``ledger`` so that nothing found goes missing from ``files``:

    * a link to a folder: ``ignored`` with an ``unsafe_link`` finding (links can loop or lead
      outside the source folder);
    * a folder that cannot be listed: an ``unreadable_folder`` finding;
    * a dangling or looping link, a FIFO/socket/device, a file without read permission, a name
      that is not UTF-8: ``rejected`` with an ``unreadable_file`` finding (see
      :func:`file_problem`).

    Examples
    --------
    >>> import os, tempfile
    >>> from covidimg.sources.base import Ledger, walk
    >>> root = tempfile.mkdtemp()
    >>> os.symlink("missing.csv", os.path.join(root, "data.csv"))
    >>> ledger = Ledger("mhh", root)
    >>> [files for _, _, files in walk(root, ledger)]
    [[]]
    >>> ledger.findings_frame()["kind"].tolist()
    ['unreadable_file']
    """
    def on_error(exc: OSError) -> None:
        folder = display_path(exc.filename or root)
        ledger.finding("unreadable_folder", f"cannot list the folder ({exc.strerror}); the "
                       "files in it were not read. Make it readable (chmod +rx) and load again",
                       path=folder)

    for dirpath, dirnames, filenames in os.walk(root, onerror=on_error):
        kept = []
        for name in sorted(dirnames):
            full = os.path.join(dirpath, name)
            if os.path.islink(full):
                reason = (f"symbolic link to a folder ({os.readlink(full)!r}); not followed, "
                          "since links can loop or lead outside the source folder. Copy the "
                          "folder in if its files belong to this source")
                ledger.file(display_path(full), "ignored", reason=reason)
                ledger.finding("unsafe_link", reason, path=display_path(full))
            else:
                kept.append(name)
        dirnames[:] = kept
        readable = []
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            problem = file_problem(full)
            if problem is None:
                readable.append(name)
                continue
            ledger.file(display_path(full), "rejected", reason=problem)
            ledger.finding("unreadable_file", problem, path=display_path(full))
        yield dirpath, dirnames, readable
