"""Perceptual hashes of images: the same picture re-encoded, resized or re-windowed hashes
(nearly) the same.

:func:`difference_hash` is the dHash of Krawetz ("Kind of Like That", 2013): the image
shrunk to ``side + 1`` x ``side`` grey levels, one bit per pair of horizontal neighbours (is
the left one brighter?). It ignores brightness, contrast and gamma, and resizing and lossy
re-encoding flip few bits. :func:`image_hashes` hashes the radiographs of an ``images``
table from small greyscale thumbnails made by the thumbnails' pipeline (its reader, its auto
window, its cache), so it costs what a gallery page costs.
"""

from __future__ import annotations

import io
import os
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from covidimg.imaging.thumbnails import thumbnails

__all__ = ["HASH_MODALITIES", "difference_hash", "image_hashes"]

#: The modalities hashed by :func:`image_hashes`: radiographs (a CT/MR series has its UIDs).
HASH_MODALITIES = ("CR", "DX")
_THUMBNAIL_SIZE = 64


def difference_hash(pixels: np.ndarray, side: int = 16) -> str:
    """The dHash of a 2-D image: ``side * side`` bits as hexadecimal text.

    Examples
    --------
    >>> import numpy as np
    >>> from covidimg.imaging.phash import difference_hash
    >>> ramp = np.tile(np.arange(64.0), (64, 1))
    >>> difference_hash(ramp, side=4), difference_hash(ramp[:, ::-1], side=4)
    ('0000', 'ffff')
    """
    if pixels.ndim != 2:
        raise ValueError(f"difference_hash needs a 2-D image; got shape {pixels.shape}")
    if not 2 <= side <= 64 or (side * side) % 8:
        raise ValueError(f"side={side!r}: expected an even number of bits per row, 2..64 "
                         "(side * side a multiple of 8)")
    small = np.asarray(Image.fromarray(np.ascontiguousarray(pixels, dtype=np.float32),
                                       mode="F").resize((side + 1, side),
                                                        Image.Resampling.BOX))
    bits = (small[:, :-1] > small[:, 1:]).ravel()
    return np.packbits(bits).tobytes().hex()


def image_hashes(images: pd.DataFrame, *, side: int = 16, n_jobs: int | None = None,
                 progress: bool = False, cache: bool = True,
                 cache_dir: str | os.PathLike[str] | None = None) -> pd.Series:
    """dHash of each radiograph (``modality`` CR or DX) of an ``images`` table.

    Each image goes through :func:`~covidimg.imaging.thumbnails` (read, auto window,
    MONOCHROME1 inverted, letterboxed into a 64-pixel square, cached), then
    :func:`difference_hash`. Images that are not radiographs, not local (a remote ``s3://``
    series) or not readable get no hash.

    Returns
    -------
    pandas.Series
        Hash text per ``image_uid`` (the index); missing where there is none.

    Examples
    --------
    >>> import covidimg as ci, tempfile
    >>> from covidimg.imaging import image_hashes
    >>> cohort = ci.load_demo(n_patients=3, sources=["mhh"])
    >>> hashes = image_hashes(cohort.images, cache_dir=tempfile.mkdtemp())
    >>> hashes.str.len().unique().tolist()
    [64]
    """
    uids = images["image_uid"].astype(str)
    out = pd.Series(pd.NA, index=pd.Index(uids, name="image_uid"), dtype="string")
    path = images["path"].astype(str)
    chosen = images[images["modality"].astype(str).isin(HASH_MODALITIES).to_numpy()
                    & ~path.str.contains("://", regex=False).to_numpy()]
    if not len(chosen):
        return out
    batch = thumbnails(chosen, size=_THUMBNAIL_SIZE, window="auto", cache=cache,
                       cache_dir=cache_dir, n_jobs=n_jobs, progress=progress)
    values: list[Any] = []
    for png, ok in zip(batch.images, batch.ok, strict=True):
        values.append(difference_hash(np.asarray(Image.open(io.BytesIO(png)).convert("L"),
                                                 dtype=np.float32), side) if ok else pd.NA)
    out.loc[chosen["image_uid"].astype(str).to_numpy()] = values
    return out
