"""How much pixel memory one ``read_image`` call may use, checked from the header.

Every reader (DICOM, NIfTI, PNG) works out, before decoding anything, how many bytes the read
needs — the float32 array it returns, or the stored pixel data it must hold to make it,
whichever is larger — and refuses with :class:`~covidimg.errors.ImageTooLargeError` when that
is above the limit. A :class:`MemoryError` while decoding becomes the same error: an image that
does not fit is too large, not corrupt.

The limit is, in order: the ``max_pixel_bytes`` argument, the environment variable
``COVIDIMG_MAX_PIXEL_BYTES``, :data:`DEFAULT_MAX_PIXEL_BYTES` (1 GiB: a 16,384 x 16,384 image,
or 1,000 CT slices of 512 x 512).

>>> from covidimg.imaging.pixel_limits import resolve_max_pixel_bytes
>>> resolve_max_pixel_bytes(2**20)
1048576
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from covidimg.errors import ImageTooLargeError

__all__ = [
    "DEFAULT_MAX_PIXEL_BYTES",
    "MAX_PIXEL_BYTES_ENV",
    "check_pixel_bytes",
    "memory_error_as_too_large",
    "resolve_max_pixel_bytes",
]

#: The default limit: 1 GiB of decoded float32 pixels.
DEFAULT_MAX_PIXEL_BYTES = 2**30
#: The environment variable that overrides :data:`DEFAULT_MAX_PIXEL_BYTES` (bytes, an integer).
MAX_PIXEL_BYTES_ENV = "COVIDIMG_MAX_PIXEL_BYTES"
#: Bytes per pixel of the array read_image returns.
OUTPUT_ITEMSIZE = 4


def resolve_max_pixel_bytes(max_pixel_bytes: int | None = None) -> int:
    """The limit in force: the argument, else ``COVIDIMG_MAX_PIXEL_BYTES``, else the default.

    Raises
    ------
    ValueError
        The argument or the environment variable is not a positive whole number of bytes.
    """
    if max_pixel_bytes is None:
        raw = os.environ.get(MAX_PIXEL_BYTES_ENV, "").strip()
        if not raw:
            return DEFAULT_MAX_PIXEL_BYTES
        try:
            value = int(raw.replace("_", ""))
        except ValueError:
            value = 0
        if value <= 0:
            raise ValueError(f"the environment variable {MAX_PIXEL_BYTES_ENV} is {raw!r}; it "
                             "must be a positive whole number of bytes (e.g. 4294967296 for "
                             "4 GiB), or unset for the default of "
                             f"{DEFAULT_MAX_PIXEL_BYTES:,}")
        return value
    if isinstance(max_pixel_bytes, bool) or not isinstance(max_pixel_bytes, int) or \
            max_pixel_bytes <= 0:
        raise ValueError(f"max_pixel_bytes must be a positive int (bytes) or None for the "
                         f"default ({DEFAULT_MAX_PIXEL_BYTES:,}); got {max_pixel_bytes!r}")
    return int(max_pixel_bytes)


def _size(n_bytes: float) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.1f} {unit}"
    return f"{n_bytes:.0f} bytes"


def _shape_text(shape: Sequence[int]) -> str:
    return " x ".join(f"{n:,}" for n in shape)


def check_pixel_bytes(label: str, shape: Sequence[int], limit: int, *,
                      stored_bytes: int = 0, sliceable: bool = False) -> int:
    """Raise ImageTooLargeError when reading an array of ``shape`` would pass ``limit``.

    Parameters
    ----------
    label
        The file (or series) named in the message.
    shape
        The shape of the float32 array the read returns.
    limit
        The limit in force (see :func:`resolve_max_pixel_bytes`).
    stored_bytes
        The stored pixel data the read holds to make it (raw frames, the file's voxels), when
        that can exceed the result.
    sliceable
        Whether reading one slice (``slice_index=``) would be smaller: the message says so.

    Returns
    -------
    int
        The bytes the read needs.

    Examples
    --------
    >>> from covidimg.imaging.pixel_limits import check_pixel_bytes
    >>> check_pixel_bytes("/x.dcm", (512, 512), 2**30)
    1048576
    >>> check_pixel_bytes("/x.dcm", (40, 512, 512), 2**20, sliceable=True)
    Traceback (most recent call last):
    ...
    covidimg.errors.ImageTooLargeError: cannot read image /x.dcm: too large: 40 x 512 x 512 \
pixels need 40.0 MiB (41,943,040 bytes) as float32, above max_pixel_bytes=1,048,576 (1.0 MiB); \
pass read_image(..., max_pixel_bytes=N) or set COVIDIMG_MAX_PIXEL_BYTES to read it whole, or \
read one slice with slice_index=
    """
    n_pixels = 1
    for n in shape:
        n_pixels *= max(int(n), 0)
    output = n_pixels * OUTPUT_ITEMSIZE
    needed = max(output, int(stored_bytes))
    if needed <= limit:
        return needed
    what = f"{_shape_text(shape)} pixels need {_size(output)} ({output:,} bytes) as float32"
    if stored_bytes > output:
        what = (f"{_shape_text(shape)} pixels are made from {_size(stored_bytes)} "
                f"({stored_bytes:,} bytes) of stored pixel data")
    advice = (f"pass read_image(..., max_pixel_bytes=N) or set {MAX_PIXEL_BYTES_ENV} to read "
              "it" + (" whole, or read one slice with slice_index=" if sliceable else ""))
    raise ImageTooLargeError(label, f"too large: {what}, above max_pixel_bytes={limit:,} "
                             f"({_size(limit)}); {advice}", needed, limit)


@contextmanager
def memory_error_as_too_large(label: str, needed: int = 0) -> Iterator[None]:
    """Turn a MemoryError inside the block into ImageTooLargeError naming ``label``.

    Examples
    --------
    >>> from covidimg.imaging.pixel_limits import memory_error_as_too_large
    >>> with memory_error_as_too_large("/x.dcm", 2**30):
    ...     raise MemoryError
    Traceback (most recent call last):
    ...
    covidimg.errors.ImageTooLargeError: cannot read image /x.dcm: too large for the memory \
available: decoding needs about 1.0 GiB (1,073,741,824 bytes) and ran out of memory; free \
memory, read one slice with slice_index=, or lower max_pixel_bytes so it is refused up front
    """
    try:
        yield
    except MemoryError as exc:
        raise too_large_for_memory(label, needed) from exc


def too_large_for_memory(label: str, needed: int = 0) -> ImageTooLargeError:
    """The ImageTooLargeError for a MemoryError while reading ``label``."""
    size = f"about {_size(needed)} ({needed:,} bytes)" if needed else "more than is free"
    return ImageTooLargeError(
        label, f"too large for the memory available: decoding needs {size} and ran out of "
        "memory; free memory, read one slice with slice_index=, or lower max_pixel_bytes so "
        "it is refused up front", needed, 0)
