"""The on-disk thumbnail cache: keys that change with the file, atomic writes, intact reads.

A key hashes the image's identity (absolute path, size, modification and status-change times in
nanoseconds and inode — of every file, for a series folder: a same-size copy that keeps the
modification time, as ``cp -p`` or ``rsync -a`` make, still changes the key) together with
everything that shapes the picture (window, thumbnail size, slice, preview or not), so a changed
file gets a new thumbnail and the old one is simply never read again. Entries are written to a
temporary file and moved into place with :func:`os.replace`, so readers never see half a file;
an entry that fails the PNG integrity check (signature, chunk lengths, CRCs, final IEND — the
checks a decoder makes, without decoding pixels) is deleted and rebuilt. Entries are created
readable by their owner only, in folders only the owner can enter; an entry that belongs to
another user or that others can write (a shared cache folder) is never served, and no entry is
read past :data:`MAX_ENTRY_BYTES`.
"""

from __future__ import annotations

import hashlib
import os
import struct
import tempfile
import zlib
from pathlib import Path

from covidimg.imaging.refs import ImageRef, series_members
from covidimg.paths import trusted_file_problem

__all__ = ["CACHE_VERSION", "MAX_ENTRY_BYTES", "cache_entry", "cache_key", "png_is_intact",
           "png_size", "read_cached", "source_fingerprint", "write_atomic"]

#: Bumped whenever the rendering changes, so old entries are not served.
CACHE_VERSION = "thumb-v2"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: The largest cache entry read: a thumbnail is at most a few hundred kB.
MAX_ENTRY_BYTES = 16 * 2**20


def _stat(path: str) -> str:
    st = os.stat(path)
    return f"{os.path.abspath(path)}|{st.st_size}|{st.st_mtime_ns}|{st.st_ctime_ns}|{st.st_ino}"


def source_fingerprint(ref: ImageRef, use_preview: bool = False) -> str:
    """Text that changes whenever the pixels a thumbnail is made from can have changed.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from covidimg.imaging.refs import image_ref
    >>> from covidimg.imaging.thumbcache import source_fingerprint
    >>> file = pathlib.Path(tempfile.mkdtemp()) / "a.png"
    >>> _ = file.write_bytes(b"x")
    >>> st = file.stat()
    >>> source_fingerprint(image_ref(str(file))).endswith(
    ...     f"|1|{st.st_mtime_ns}|{st.st_ctime_ns}|{st.st_ino}")
    True
    """
    if use_preview and ref.preview_path:
        return "preview:" + _stat(ref.preview_path)
    if ref.archive is not None:
        return f"zip:{_stat(ref.archive)}::{ref.member}"
    if ref.is_series:
        parts = [_stat(member) for member in series_members(ref)]
        return "series:" + hashlib.sha256("\n".join(parts).encode()).hexdigest()
    return "file:" + _stat(ref.file)


def cache_key(fingerprint: str, *, window_key: str, size: int, slice_index: object,
              use_preview: bool, transposed: bool | None) -> str:
    """The cache key (hex SHA-256) of one thumbnail.

    Examples
    --------
    >>> from covidimg.imaging.thumbcache import cache_key
    >>> a = cache_key("file:/a|1|2", window_key="pct:0.5:99.5", size=256, slice_index="middle",
    ...               use_preview=False, transposed=None)
    >>> b = cache_key("file:/a|1|3", window_key="pct:0.5:99.5", size=256, slice_index="middle",
    ...               use_preview=False, transposed=None)
    >>> len(a), a == b
    (64, False)
    """
    text = "\n".join([CACHE_VERSION, fingerprint, window_key, str(int(size)),
                      repr(slice_index), str(bool(use_preview)), repr(transposed)])
    return hashlib.sha256(text.encode()).hexdigest()


def cache_entry(folder: Path, key: str) -> Path:
    """Where the thumbnail with ``key`` lives: ``folder/<2 hex>/<key>.png``."""
    return Path(folder) / key[:2] / f"{key}.png"


def png_is_intact(data: bytes) -> bool:
    """Check a PNG's structure without decoding its pixels.

    Verifies the signature, that every chunk's length fits, every chunk's CRC-32, and that the
    file ends with ``IEND`` — so truncated, partially written or bit-flipped files are caught.

    Examples
    --------
    >>> import io
    >>> from PIL import Image
    >>> from covidimg.imaging.thumbcache import png_is_intact
    >>> buf = io.BytesIO(); Image.new("L", (4, 4)).save(buf, format="PNG")
    >>> png_is_intact(buf.getvalue()), png_is_intact(buf.getvalue()[:-5])
    (True, False)
    """
    if not data.startswith(_PNG_SIGNATURE):
        return False
    pos = len(_PNG_SIGNATURE)
    end = len(data)
    while pos + 12 <= end:
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        chunk_end = pos + 12 + length
        if chunk_end > end:
            return False
        kind = data[pos + 4:pos + 8]
        (crc,) = struct.unpack(">I", data[chunk_end - 4:chunk_end])
        if zlib.crc32(data[pos + 4:chunk_end - 4]) != crc:
            return False
        if kind == b"IEND":
            return chunk_end == end
        pos = chunk_end
    return False


def png_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` from a PNG's IHDR chunk, or ``None`` if there is none.

    Examples
    --------
    >>> import io
    >>> from PIL import Image
    >>> from covidimg.imaging.thumbcache import png_size
    >>> buf = io.BytesIO(); Image.new("L", (5, 3)).save(buf, format="PNG")
    >>> png_size(buf.getvalue())
    (5, 3)
    """
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def read_cached(entry: Path, size: int | None = None) -> bytes | None:
    """The cached PNG bytes, or ``None`` when absent or corrupt (a corrupt entry is removed).

    Corrupt means: fails :func:`png_is_intact`, or (with ``size``) is not ``size`` x ``size``
    pixels — an intact PNG of another size was not written for this key.
    """
    try:
        with open(entry, "rb") as handle:
            if trusted_file_problem(os.fstat(handle.fileno())) is not None:
                return None  # planted or shared: never served, never removed
            data = handle.read(MAX_ENTRY_BYTES + 1)
    except OSError:
        return None
    if len(data) <= MAX_ENTRY_BYTES and png_is_intact(data) and \
            (size is None or png_size(data) == (size, size)):
        return data
    try:
        entry.unlink()
    except OSError:
        pass
    return None


def write_atomic(entry: Path, data: bytes) -> None:
    """Write ``data`` to ``entry`` through a temporary file in the same folder + os.replace.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from covidimg.imaging.thumbcache import write_atomic
    >>> entry = pathlib.Path(tempfile.mkdtemp()) / "ab" / "ab12.png"
    >>> write_atomic(entry, b"data"); entry.read_bytes()
    b'data'
    """
    entry.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{entry.stem}.", suffix=".tmp", dir=entry.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, entry)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
