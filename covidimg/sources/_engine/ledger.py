"""What every source loader returns, and the ledger it keeps of files and findings."""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import os
import stat
import warnings
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field, fields

import pandas as pd

from covidimg import schema
from covidimg.errors import LoadError, StrictModeError, TableReadError

__all__ = ["Ledger", "LoadError", "SourceTables", "StrictModeError", "TableReadError",
           "decode_text", "display_path", "file_problem", "folder_prefix", "read_text_table",
           "strict_mode", "walk"]


_STRICT: ContextVar[bool] = ContextVar("covidimg_strict", default=False)


@contextlib.contextmanager
def strict_mode(enabled: bool = True) -> Iterator[None]:
    """Within the block, a finding of severity ``error`` raises :class:`StrictModeError`.

    :func:`covidimg.load` uses this for ``strict=True``.

    Examples
    --------
    >>> from covidimg.sources._engine.ledger import Ledger, StrictModeError, strict_mode
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


@dataclass(eq=False)
class SourceTables:
    """The six harmonized tables one source loader produced.

    Loaders build plain DataFrames and call :meth:`conformed` before returning, so every table
    leaves the loader with the contract's columns and dtypes (see :mod:`covidimg.schema`).
    They are validated once, when :func:`covidimg.load` combines the sources into a cohort
    (:meth:`covidimg.Cohort.concat` validates every table and the references between them).
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
        """Return a copy whose tables have the schema's columns, in order, and dtypes.

        Not validated here: the combined cohort is validated once, which checks every row of
        every source (checking each source first would read every table twice).
        """
        return SourceTables(self.source, **{name: schema.conform(name, frame)
                                            for name, frame in self.tables().items()})


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

        Raises
        ------
        ValueError
            If ``kind`` is not declared in :data:`covidimg.schema.FINDING_KINDS` (a programming
            error: every kind a loader writes is declared there with its severity and
            description, which the data dictionary lists).

        Examples
        --------
        >>> from covidimg.sources._engine.ledger import Ledger
        >>> Ledger("mhh").finding("odd_value", "3 is odd")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: finding kind 'odd_value' is not declared in covidimg.schema.FINDING_KINDS; ...
        """
        if kind not in schema.FINDING_KINDS:
            raise ValueError(f"finding kind {kind!r} is not declared in "
                             "covidimg.schema.FINDING_KINDS; declare it there with its severity "
                             "and description, or use a declared kind")
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
    >>> from covidimg.sources._engine.ledger import display_path
    >>> display_path(b"/data/\\xff.dcm".decode("utf-8", "surrogateescape"))
    '/data/\\\\xff.dcm'
    """
    return os.fsencode(os.fspath(path)).decode("utf-8", "backslashreplace")


_NOT_READABLE = "permission denied; make the file readable (chmod +r) and load again"


def file_problem(path: str | os.PathLike[str]) -> str | None:
    """Why ``path`` cannot be read as a regular file, or ``None`` if it can.

    Catches dangling and looping symbolic links, FIFOs, sockets and devices (reading them would
    fail or block), files without read permission and names that are not valid UTF-8.

    Examples
    --------
    >>> from covidimg.sources._engine.ledger import file_problem
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
        return _NOT_READABLE
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
    >>> from covidimg.sources._engine.ledger import Ledger, walk
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

    # One os.scandir per folder: its entries' types come from the listing, so a plain file
    # costs one access() call and a plain folder none; links and special files take the slow,
    # explaining path of file_problem.
    stack = [os.fspath(root)]
    while stack:
        dirpath = stack.pop()
        try:
            with os.scandir(dirpath) as listing:
                entries = sorted(listing, key=_entry_name)
        except OSError as exc:
            on_error(exc)
            continue
        folder_ok = dirpath.isascii() or display_path(dirpath) == dirpath
        dirnames: list[str] = []
        files: list[os.DirEntry[str]] = []
        for entry in entries:  # folders first, then files, as os.walk lists them
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            if not is_dir:
                files.append(entry)
            elif entry.is_symlink():
                full = entry.path
                reason = (f"symbolic link to a folder ({os.readlink(full)!r}); not followed, "
                          "since links can loop or lead outside the source folder. Copy the "
                          "folder in if its files belong to this source")
                ledger.file(display_path(full), "ignored", reason=reason)
                ledger.finding("unsafe_link", reason, path=display_path(full))
            else:
                dirnames.append(entry.name)
        readable: list[str] = []
        for entry in files:
            full = entry.path
            if folder_ok and entry.is_file(follow_symlinks=False) and \
                    (entry.name.isascii() or display_path(entry.name) == entry.name):
                problem = None if os.access(full, os.R_OK) else _NOT_READABLE
            else:
                problem = file_problem(full)
            if problem is None:
                readable.append(entry.name)
                continue
            ledger.file(display_path(full), "rejected", reason=problem)
            ledger.finding("unreadable_file", problem, path=display_path(full))
        listed = set(dirnames)
        yield dirpath, dirnames, readable
        # the caller may prune or reorder dirnames, as with os.walk
        for name in reversed(dirnames):
            child = os.path.join(dirpath, name)
            if name in listed or not os.path.islink(child):
                stack.append(child)


def folder_prefix(dirpath: str) -> str:
    """The text that, followed by a file name, gives the path of a file in ``dirpath``.

    ``dirpath`` is a folder :func:`walk` yielded for a root spelled as :mod:`pathlib` spells it
    (``os.fspath(Path(root))``); the result spells file paths as ``Path(dirpath) / name`` would,
    without building a ``Path`` per file.

    Examples
    --------
    >>> from covidimg.sources._engine.ledger import folder_prefix
    >>> folder_prefix("/data/tcia") + "1-1.dcm", folder_prefix("/") + "x.csv"
    ('/data/tcia/1-1.dcm', '/x.csv')
    >>> folder_prefix(".") + "x.csv", folder_prefix("./a/b") + "x.csv"
    ('x.csv', 'a/b/x.csv')
    """
    if dirpath == os.curdir:
        return ""
    if dirpath.startswith(os.curdir + os.sep):
        dirpath = dirpath[len(os.curdir + os.sep):]
    return dirpath if dirpath.endswith(os.sep) else dirpath + os.sep


def _entry_name(entry: os.DirEntry[str]) -> str:
    return entry.name


# ---------------------------------------------------------------------- text tables
_MAX_ROW_FINDINGS = 10


def _report_short_rows(text: str, sep: str, n_columns: int, path: str | os.PathLike[str],
                       ledger: Ledger) -> None:
    """A ``short_row`` finding for rows with fewer fields than the header (pandas reads the
    missing fields as empty without a word; a file cut short ends in such a row)."""
    short = [(number, len(fields)) for number, fields in
             enumerate(csv.reader(io.StringIO(text), delimiter=sep), start=1)
             if number > 1 and fields and len(fields) < n_columns]
    name = os.path.basename(path)
    for number, found in short[:_MAX_ROW_FINDINGS]:
        ledger.finding("short_row", f"{name}: row {number} has {found} of the header's "
                       f"{n_columns} fields; the missing ones read as empty (is the file cut "
                       "short? download or export it again)", path=f"{display_path(path)}:{number}")
    if len(short) > _MAX_ROW_FINDINGS:
        ledger.finding("short_row", f"{name}: {len(short) - _MAX_ROW_FINDINGS} more rows have "
                       "fewer fields than the header", path=display_path(path))


_UTF8_BOM = b"\xef\xbb\xbf"


def decode_text(raw: bytes, path: str | os.PathLike[str]) -> tuple[str, str]:
    """Decode a text file: UTF-8 (with or without byte-order mark), UTF-16 with a byte-order
    mark, else Latin-1. Returns ``(text, encoding used)``.

    Raises
    ------
    TableReadError
        If the bytes are binary data (NUL bytes outside UTF-16), not text.

    Examples
    --------
    >>> from covidimg.sources._engine.ledger import decode_text
    >>> decode_text("café".encode("latin-1"), "x.csv")
    ('café', 'latin-1')
    """
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as exc:
            raise TableReadError(path, f"starts with a UTF-16 byte-order mark but is not valid "
                                       f"UTF-16 ({exc}); save it again as UTF-8") from exc
    if b"\x00" in raw:
        raise TableReadError(path, "holds binary data, not text (NUL bytes); it may be "
                                   "damaged or not the file it is named as: download it again")
    if raw.startswith(_UTF8_BOM):
        raw = raw[len(_UTF8_BOM):]
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return raw.decode("latin-1"), "latin-1"


def read_text_table(path: str | os.PathLike[str], ledger: Ledger, *,
                    sep: str = ",") -> pd.DataFrame:
    """Read a CSV/TSV file as text columns, reporting what is odd instead of failing.

    Every value is a stripped string (empty for missing). A file that is not UTF-8 is read as
    Latin-1 with an ``unexpected_encoding`` finding; a UTF-16 file (with byte-order mark) is
    read; rows with more fields than the header are skipped with an ``unparseable_value``
    finding each; a file with a header but no rows gives an ``empty_table`` finding.

    Raises
    ------
    TableReadError
        If the file is empty, binary, or cannot be parsed at all; the caller rejects the file.

    Examples
    --------
    >>> import os, tempfile
    >>> from covidimg.sources._engine.ledger import Ledger, read_text_table
    >>> path = os.path.join(tempfile.mkdtemp(), "t.csv")
    >>> _ = open(path, "w").write("a,b\\n1,2\\n3,4,5\\n")
    >>> ledger = Ledger("mhh")
    >>> read_text_table(path, ledger).shape, ledger.findings_frame()["kind"].tolist()
    ((1, 2), ['unparseable_value'])
    """
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise TableReadError(path, f"cannot be opened ({exc.strerror})") from exc
    if not raw.strip():
        raise TableReadError(path, "the file is empty; download or export it again")
    text, encoding = decode_text(raw, path)
    if encoding == "latin-1":
        ledger.finding("unexpected_encoding", f"{os.path.basename(path)} is not UTF-8; it was "
                       "read as Latin-1 (check accented text; save it as UTF-8 to be sure)",
                       path=display_path(path))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            frame = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False,
                                na_values=[], index_col=False, on_bad_lines="warn")
        except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
            raise TableReadError(path, f"cannot be parsed as a table ({exc})") from exc
    for warning in caught:
        message = str(warning.message).strip()
        if issubclass(warning.category, pd.errors.ParserWarning) or "Skipping line" in message:
            ledger.finding("unparseable_value", f"{os.path.basename(path)}: {message}; the "
                           "row's extra fields do not match the header", path=display_path(path))
    _report_short_rows(text, sep, len(frame.columns), path, ledger)
    frame.columns = [str(c).strip().lstrip("\ufeff") for c in frame.columns]
    frame = frame.apply(lambda column: column.str.strip()) if len(frame.columns) else frame
    if frame.empty:
        ledger.finding("empty_table", f"{os.path.basename(path)} has a header but no rows",
                       path=display_path(path))
    return frame
