"""Pixels: DICOM, NIfTI and PNG images as arrays, windowing, and cached thumbnails.

>>> from covidimg.imaging import read_image, window, thumbnail     # doctest: +SKIP
>>> pixels = read_image(cohort.images.iloc[0])                      # doctest: +SKIP
>>> png = thumbnail(cohort.images.iloc[0], size=256, window="auto") # doctest: +SKIP

No plotting or widget code lives here; the gallery widgets call these functions.
"""

from __future__ import annotations

from covidimg.errors import ImageReadError, ImageTooLargeError, MissingCodecError
from covidimg.imaging.phash import difference_hash, image_hashes
from covidimg.imaging.read import read_image
from covidimg.imaging.thumbnails import (
    ThumbnailBatch,
    browser_jpeg,
    placeholder,
    thumbnail,
    thumbnails,
)
from covidimg.imaging.windowing import (
    WINDOW_PRESETS,
    WindowPreset,
    resolve_window,
    window,
    window_bounds,
)


def __getattr__(name: str) -> object:
    """``PixelSpacing`` and ``pixel_spacing`` on first use: they read DICOM headers with
    pydicom, which the gallery and the dashboard do not otherwise need to import."""
    if name in ("PixelSpacing", "pixel_spacing"):
        from covidimg.imaging import spacing

        return getattr(spacing, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "WINDOW_PRESETS",
    "ImageReadError",
    "ImageTooLargeError",
    "MissingCodecError",
    "PixelSpacing",
    "ThumbnailBatch",
    "WindowPreset",
    "browser_jpeg",
    "difference_hash",
    "image_hashes",
    "pixel_spacing",
    "placeholder",
    "read_image",
    "resolve_window",
    "thumbnail",
    "thumbnails",
    "window",
    "window_bounds",
]
