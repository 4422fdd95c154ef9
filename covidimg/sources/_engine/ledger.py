"""What every source loader returns, and the ledger it keeps of files and findings."""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import os
import stat
import threading
import warnings
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field, fields

import pandas as pd

from covidimg import schema
from covidimg._validation import check_choice
from covidimg.errors import LoadError, StrictModeError, TableReadError

__all__ = ["MAX_FIELD_CHARS", "MAX_TABLE_CELLS", "MAX_TABLE_COLUMNS", "Ledger", "LoadError",
           "SourceTables", "StrictModeError", "TableReadError", "decode_text", "display_path",
           "file_problem", "folder_prefix", "outside_root", "read_text_table", "strict_mode",
           "walk"]


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
    """The harmonized tables one source loader produced.

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
    observations: pd.DataFrame = field(default_factory=lambda: schema.empty("observations"))
    annotations: pd.DataFrame = field(default_factory=lambda: schema.empty("annotations"))
    provenance: pd.DataFrame = field(default_factory=lambda: schema.empty("provenance"))

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

    def file(self, path: str | os.PathLike[str], status: schema.FileStatus, *,
             image_uid: str | None = None, reason: str = "") -> None:
        """Record what became of ``path`` (``used``, ``duplicate``, ``rejected``, ``ignored``).

        A later record of the same path replaces the earlier one, so a loader can first mark a
        file used and later downgrade it to duplicate.
        """
        check_choice(status, schema.FileStatus, "status")
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


def outside_root(path: str | os.PathLike[str], root: str | os.PathLike[str]) -> str | None:
    """Why reading ``path`` would leave the source folder ``root``, or ``None`` if it stays in.

    Symbolic links are resolved (in ``path`` and in ``root``), so a link inside the folder whose
    target lies outside it (``data.csv -> /etc/passwd``, a linked folder) is outside, and a link
    that stays inside is inside. Every file a loader reads is checked here: through
    :func:`walk`, :func:`read_text_table` and
    :func:`covidimg.sources._engine.workbook.read_workbook`, or directly for a file a loader
    opens by name. An empty ``root`` (no source folder) and
    remote roots (``s3://``, which have no links) are never outside.

    Examples
    --------
    >>> import os, tempfile
    >>> from covidimg.sources._engine.ledger import outside_root
    >>> root = tempfile.mkdtemp()
    >>> os.symlink("/etc/hostname", os.path.join(root, "data.csv"))
    >>> outside_root(os.path.join(root, "data.csv"), root)  # doctest: +ELLIPSIS
    "a symbolic link that leads outside the source folder (to '/etc/hostname'); not read..."
    >>> outside_root(os.path.join(root, "notes.txt"), root) is None
    True
    """
    root = os.fspath(root)
    if not root or "://" in root:
        return None
    return _outside(os.path.realpath(root), path)


def _outside(real_root: str, path: str | os.PathLike[str]) -> str | None:
    """:func:`outside_root` for a root already resolved with :func:`os.path.realpath`."""
    real = os.path.realpath(path)
    if real == real_root or real.startswith(os.path.join(real_root, "")):
        return None
    return (f"a symbolic link that leads outside the source folder (to {display_path(real)!r}); "
            "not read, since a source folder is all covidimg reads. Copy the file or folder "
            "in if it belongs to this source")


def walk(root: str | os.PathLike[str], ledger: Ledger,
         ) -> Iterator[tuple[str, list[str], list[str]]]:
    """Walk ``root`` like :func:`os.walk`, yielding only files that can be read.

    Sorted, top-down, and never following links to folders. What cannot be read is recorded
    in ``ledger`` so that nothing found goes missing from ``files``:

    * a link to a folder: ``ignored`` with an ``unsafe_link`` finding (links can loop or lead
      outside the source folder);
    * a link to a file outside ``root`` (see :func:`outside_root`): ``ignored`` with an
      ``unsafe_link`` finding, never read; links to files inside ``root`` are read;
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
    real_root = os.path.realpath(stack[0])
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
                if problem is None and entry.is_symlink():
                    escape = _outside(real_root, full)
                    if escape is not None:
                        ledger.file(display_path(full), "ignored", reason=escape)
                        ledger.finding("unsafe_link", escape, path=display_path(full))
                        continue
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
#: Most columns a text table (or a workbook sheet) may have. The sources' tables have at most a
#: few hundred; a header with more is rejected before the table is parsed, since pandas' time
#: grows faster than the column count (100,000 columns took 35 s, 1,000,000 did not finish in
#: 600 s).
MAX_TABLE_COLUMNS = 2_000
#: Most cells (rows times header columns) a text table (or a workbook, over all its sheets) may
#: have: about 1 GB of text once parsed. The largest real table read (a MIDRC export) has
#: about 3 million.
MAX_TABLE_CELLS = 10_000_000
#: Longest field a text table may hold, in characters (Python's csv module stops at 131,072).
#: A clinical field is at most a few thousand characters; a longer one is damage or an attack.
MAX_FIELD_CHARS = 1 << 20

_MAX_ROW_FINDINGS = 10
_CSV_LIMIT = threading.Lock()


@contextlib.contextmanager
def _csv_field_limit(limit: int) -> Iterator[None]:
    """Within the block, :mod:`csv` accepts fields up to ``limit`` characters.

    The limit is process-wide in :mod:`csv`; it is set for the scan only, under a lock, and the
    previous value is restored.
    """
    with _CSV_LIMIT:
        previous = csv.field_size_limit(limit)
        try:
            yield
        finally:
            csv.field_size_limit(previous)


def _scan_table(text: str, sep: str, path: str | os.PathLike[str],
                ) -> tuple[int, list[tuple[int, int]]]:
    """Check a table's size before pandas parses it, and find its short rows.

    One pass of :mod:`csv` over the text, in linear time: the header line first (more than
    :data:`MAX_TABLE_COLUMNS` fields stops there), then every record (a field longer than
    :data:`MAX_FIELD_CHARS`, or more than :data:`MAX_TABLE_CELLS` cells, stops there). Returns
    the header's column count and (line, fields found) for every row with fewer fields than
    the header.

    Raises
    ------
    TableReadError
        When a bound is exceeded (naming the count and the limit, and the line for a field) or
        the text cannot be parsed as CSV at all.
    """
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    short: list[tuple[int, int]] = []
    n_columns = records = 0
    with _csv_field_limit(MAX_FIELD_CHARS):
        try:
            for fields in reader:
                if not n_columns:
                    n_columns = len(fields)
                    if n_columns > MAX_TABLE_COLUMNS:
                        raise TableReadError(path, _too_many_columns(n_columns))
                    continue
                if not fields:
                    continue
                records += 1
                if records * n_columns > MAX_TABLE_CELLS:
                    raise TableReadError(path, _too_many_cells(n_columns))
                if len(fields) < n_columns:
                    short.append((reader.line_num, len(fields)))
        except csv.Error as exc:
            if "field limit" in str(exc):
                raise TableReadError(path, f"line {reader.line_num} holds a field longer than "
                                     f"{MAX_FIELD_CHARS:,} characters (the limit, "
                                     "covidimg.sources._engine.ledger.MAX_FIELD_CHARS); the "
                                     "table was not read. No clinical field is that long: "
                                     "the file is damaged, download or export it again"
                                     ) from None
            raise TableReadError(path, f"cannot be parsed as a table (line {reader.line_num}: "
                                 f"{exc})") from None
    return n_columns, short


def _report_short_rows(short: list[tuple[int, int]], n_columns: int,
                       path: str | os.PathLike[str], ledger: Ledger) -> None:
    """A ``short_row`` finding for rows with fewer fields than the header (pandas reads the
    missing fields as empty without a word; a file cut short ends in such a row)."""
    name = os.path.basename(path)
    for line, found in short[:_MAX_ROW_FINDINGS]:
        ledger.finding("short_row", f"{name}: row {line} has {found} of the header's "
                       f"{n_columns} fields; the missing ones read as empty (is the file cut "
                       "short? download or export it again)", path=f"{display_path(path)}:{line}")
    if len(short) > _MAX_ROW_FINDINGS:
        ledger.finding("short_row", f"{name}: {len(short) - _MAX_ROW_FINDINGS} more rows have "
                       "fewer fields than the header", path=display_path(path))


def _too_many_columns(count: int) -> str:
    return (f"has {count:,} columns, more than the limit of {MAX_TABLE_COLUMNS:,} "
            "(covidimg.sources._engine.ledger.MAX_TABLE_COLUMNS); the table was not read. "
            "Check that it is the file the source publishes, or raise the limit")


def _too_many_cells(count_columns: int) -> str:
    return (f"has more than {MAX_TABLE_CELLS:,} cells ({count_columns:,} columns), the limit "
            "(covidimg.sources._engine.ledger.MAX_TABLE_CELLS); the table was not read. Split "
            "it, or raise the limit")


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
    finding each; rows with fewer get a ``short_row`` finding; a file with a header but no rows
    gives an ``empty_table`` finding.

    Bounded: the header is checked first, and a table with more than
    :data:`MAX_TABLE_COLUMNS` columns or :data:`MAX_TABLE_CELLS` cells, or a field longer
    than :data:`MAX_FIELD_CHARS` characters, is not read (in time linear in the file's size).
    A path that leads outside ``ledger.root`` (a symbolic link, see :func:`outside_root`) is
    not read either.

    Raises
    ------
    TableReadError
        If the file lies outside the source folder, is empty, binary, above a bound, or cannot
        be parsed at all; the caller rejects the file.

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
    escape = outside_root(path, ledger.root)
    if escape is not None:
        raise TableReadError(path, escape)
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise TableReadError(path, f"cannot be opened ({exc.strerror})") from exc
    if not raw.strip():
        raise TableReadError(path, "the file is empty; download or export it again")
    text, encoding = decode_text(raw, path)
    del raw
    if encoding == "latin-1":
        ledger.finding("unexpected_encoding", f"{os.path.basename(path)} is not UTF-8; it was "
                       "read as Latin-1 (check accented text; save it as UTF-8 to be sure)",
                       path=display_path(path))
    n_columns, short = _scan_table(text, sep, path)
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
    _report_short_rows(short, n_columns, path, ledger)
    frame.columns = [str(c).strip().lstrip("\ufeff") for c in frame.columns]
    # Strip every cell, one column at a time: pandas keeps each text column as its own Arrow
    # array, and the strip is vectorised within it. Its per-column cost grows faster than the
    # column count, which the column bound above keeps small (2,000 columns: 0.3 s).
    frame = frame.apply(lambda column: column.str.strip()) if len(frame.columns) else frame
    if frame.empty:
        ledger.finding("empty_table", f"{os.path.basename(path)} has a header but no rows",
                       path=display_path(path))
    return frame
