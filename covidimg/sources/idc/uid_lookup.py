"""Finding series and studies in IDC's index by UID, fast: a memory-mapped copy of four columns.

A TCIA download whose folders do not name the collection (NBIA's "classic" layout) is looked
up in IDC's series index by SeriesInstanceUID and StudyInstanceUID. Reading those columns of
the whole index (about a million rows: Parquet pages to decompress into ~230 MB of text) took
0.7-2 s on every first load. Here, once per installed index, the four columns a look-up
returns are written uncompressed to an Arrow IPC file in covidimg's cache folder
(``idc-uids/``, ~175 MB). A look-up memory-maps that file and compares the UIDs in place: no
decompression and no copy, ~60 ms.

The file is used only when it belongs to the user and others cannot write it
(:func:`covidimg.paths.trusted_file_problem`), is at most :data:`MAX_BYTES`, and has exactly
the expected columns and as many rows as the index; a damaged one of the user's is written
anew, and whenever the copy cannot be used the index itself is read. Writing the copy of a
new index removes the user's copies of earlier ones, and staging files a killed process left.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from covidimg.paths import (
    STALE_STAGING_SECONDS,
    cache_dir,
    private_file,
    trusted_file_problem,
)

__all__ = ["COLUMNS", "MAX_BYTES", "SUBDIR", "copy_file", "matching", "matching_rows"]

#: Cache sub-folder of the copies.
SUBDIR = "idc-uids"
#: What a look-up returns, in the index's own names.
COLUMNS = ("collection_id", "PatientID", "StudyInstanceUID", "SeriesInstanceUID")
#: Format of the file: a new layout is a new name, never a misread old file.
_FORMAT = 1
#: Largest copy used (the real index's is ~0.2 GB).
MAX_BYTES = 2 * 1024**3
_SCHEMA = pa.schema([(name, pa.large_string()) for name in COLUMNS])


def matching(table: pa.Table, series: pa.Array, studies: pa.Array) -> pa.Table:
    """The rows of ``table`` (:data:`COLUMNS`) whose SeriesInstanceUID is among ``series`` or
    whose StudyInstanceUID is among ``studies`` (large-string arrays), in order."""
    keep = pc.or_(pc.is_in(table["SeriesInstanceUID"].cast(pa.large_string()),
                           value_set=series),
                  pc.is_in(table["StudyInstanceUID"].cast(pa.large_string()),
                           value_set=studies))
    return table.select(list(COLUMNS)).filter(keep)


def copy_file(index_path: Path, version: str) -> Path:
    """Where the copy of the index ``index_path`` (of idc-index-data ``version``) is kept: the
    name changes with the version, the index file's size and modification time, and the
    file's format."""
    st = index_path.stat()
    return cache_dir(SUBDIR) / f"idc-index-data-{version}-{st.st_size}-{st.st_mtime_ns}-" \
                               f"v{_FORMAT}.arrow"


def _write(index_table: pa.Table, path: Path) -> None:
    """Write the copy through a private temporary file renamed into place (a reader never
    sees a partial file), then remove the user's own copies of earlier indexes. A folder that
    cannot be written leaves no file."""
    table = pa.table({name: index_table[name].cast(pa.large_string()) for name in COLUMNS},
                     schema=_SCHEMA).combine_chunks()
    staging = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        with private_file(staging) as handle, pa.ipc.new_file(handle, _SCHEMA) as writer:
            writer.write_table(table, max_chunksize=max(len(table), 1))
        os.replace(staging, path)
    except OSError:
        staging.unlink(missing_ok=True)
        return
    now = time.time()
    for older in [*path.parent.glob("idc-index-data-*.arrow"),    # of an index since replaced
                  *path.parent.glob(".idc-index-data-*.tmp")]:     # left by a killed process
        with contextlib.suppress(OSError):
            st = older.lstat()
            stale = older.suffix == ".arrow" or now - st.st_mtime > STALE_STAGING_SECONDS
            if older != path and stale and trusted_file_problem(st) is None:
                older.unlink()


def _matching_in_copy(path: Path, rows: int, series: pa.Array, studies: pa.Array
                      ) -> pa.Table | None:
    # Mapped, not read: only the pages compared are touched. A copy is only ever replaced
    # by renaming a new file over it (never rewritten in place), so a mapping stays valid.
    with pa.memory_map(os.fspath(path)) as source:
        table = pa.ipc.open_file(source).read_all()
        if table.schema != _SCHEMA or table.num_rows != rows:
            return None
        # filter copies the matching rows out of the mapped file before it is closed
        return matching(table, series, studies)


def matching_rows(index_path: Path, version: str, rows: int, series: pa.Array,
                  studies: pa.Array, read_index: Callable[[], pa.Table]) -> pa.Table:
    """:func:`matching` rows of the index ``index_path`` (``rows`` rows, from its footer),
    found in its memory-mapped copy.

    ``read_index()`` reads the index's :data:`COLUMNS`. It is called to write the copy when
    it is missing or damaged, and its table is searched instead when the copy cannot be used
    (a file of another user or one others may write, which is left alone; a folder that
    cannot be written).
    """
    path = copy_file(index_path, version)
    table: pa.Table | None = None      # the index, once read
    for attempt in range(2):
        if attempt or not path.exists():
            table = read_index()
            _write(table, path)
        try:
            st = path.stat()
            if trusted_file_problem(st) is not None:
                break
            if st.st_size <= MAX_BYTES:
                found = _matching_in_copy(path, rows, series, studies)
                if found is not None:
                    return found
        except (OSError, pa.ArrowException):
            pass        # damaged or unreadable: written anew once
    return matching(read_index() if table is None else table, series, studies)
