"""Which slice of a volume a caller asked for."""

from __future__ import annotations

import numpy as np

__all__ = ["SliceIndex", "resolve_slice_index"]

#: ``None`` (every slice), an int (negatives count from the end) or ``"middle"``.
SliceIndex = int | str | None


def resolve_slice_index(slice_index: SliceIndex, n: int, label: str) -> int | None:
    """Turn ``slice_index`` into a position in ``range(n)``, or ``None`` for every slice.

    Parameters
    ----------
    slice_index
        ``None``, an int (negatives count from the end) or ``"middle"`` (``n // 2``).
    n
        Number of slices of the image named ``label``.
    label
        The file or series, named in the error message.

    Raises
    ------
    IndexError
        The index is outside ``-n..n-1``.
    TypeError, ValueError
        ``slice_index`` is neither an int, ``"middle"`` nor ``None``.

    Examples
    --------
    >>> from covidimg.imaging.slicing import resolve_slice_index
    >>> resolve_slice_index("middle", 5, "ct/"), resolve_slice_index(-1, 5, "ct/")
    (2, 4)
    """
    if slice_index is None:
        return None
    if isinstance(slice_index, str):
        if slice_index != "middle":
            raise ValueError(f"slice_index={slice_index!r} is not allowed; use an integer, "
                             "'middle' or None (all slices)")
        return n // 2
    if isinstance(slice_index, (bool, np.bool_)) or not isinstance(slice_index,
                                                                   (int, np.integer)):
        raise TypeError(f"slice_index must be an int, 'middle' or None; got "
                        f"{type(slice_index).__name__} {slice_index!r}")
    i = int(slice_index)
    if not -n <= i < n:
        raise IndexError(f"slice_index={i} is out of range for {label}: it has {n} slice(s); "
                         f"allowed are 0..{n - 1}, negatives from the end, 'middle' or None")
    return i % n
