"""How many bytes a NIfTI file holds, told cheaply: the one check for volumes cut short.

Shared by the loaders that index NIfTI volumes and by :mod:`covidimg.imaging.nifti_pixels`
(through :func:`covidimg.sources.nifti_stored_bytes`), so a file the loader accepts is one the
reader accepts, and a file one refuses as truncated the other refuses too.
"""

from __future__ import annotations

import os
import zlib
from typing import BinaryIO

__all__ = ["MAX_COUNTED_BYTES", "stored_bytes"]

#: The most decompressed bytes :func:`stored_bytes` counts before it gives up (a CT volume is
#: some hundred MiB; a gzip bomb's header may declare terabytes).
MAX_COUNTED_BYTES = 2**31
_BLOCK = 2**20


def stored_bytes(path: str | os.PathLike[str], declared: int) -> int | None:
    """The bytes ``path`` holds once decompressed, counted no further than ``declared``.

    A ``.nii`` holds its size. A gzip stream records its decompressed size (modulo 2**32) in
    its last four bytes: when that matches ``declared`` (header plus voxels), reading them is
    all it costs. Otherwise -- the file is cut short, or it is a stream of several gzip members
    (as parallel gzip writes them) whose last member records only its own size -- the stream is
    decompressed block by block, counting, never beyond ``declared`` bytes.

    Parameters
    ----------
    path
        The file.
    declared
        The bytes its header says it holds (voxel offset plus voxel bytes).

    Returns
    -------
    int or None
        The bytes held (``declared`` when there are at least as many), or ``None`` when it
        cannot be told within :data:`MAX_COUNTED_BYTES` of decompression.

    Raises
    ------
    OSError
        The file cannot be opened.

    Examples
    --------
    >>> import gzip, os, tempfile
    >>> from covidimg.sources._engine.nifti import stored_bytes
    >>> path = os.path.join(tempfile.mkdtemp(), "v.nii.gz")
    >>> with open(path, "wb") as fh:
    ...     _ = fh.write(gzip.compress(bytes(600)) + gzip.compress(bytes(400)))
    >>> stored_bytes(path, 1000), stored_bytes(path, 1200)
    (1000, 1000)
    """
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        if fh.read(2) != b"\x1f\x8b":
            return size
        fh.seek(max(size - 4, 0))
        if size >= 18 and int.from_bytes(fh.read(4), "little") == declared % 2**32:
            return declared
    if declared > MAX_COUNTED_BYTES:
        return None
    with open(path, "rb") as fh:
        return min(_count(fh, declared), declared)


def _count(fh: BinaryIO, limit: int) -> int:
    """Decompressed bytes of the gzip members in ``fh``, up to about ``limit``: everything up
    to the first damaged or missing byte counts."""
    total, pending = 0, b""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    while total < limit:
        if not pending:
            pending = fh.read(_BLOCK)
            if not pending:
                break
        try:
            total += len(inflater.decompress(pending, _BLOCK))
        except zlib.error:
            break
        pending = inflater.unconsumed_tail
        if inflater.eof:  # the member ends: another may follow
            pending = inflater.unused_data + pending
            inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    return total
