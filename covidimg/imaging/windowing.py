"""Windowing: grey levels → 8-bit display values, the one function thumbnails and galleries use."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from covidimg._validation import check_choice

__all__ = ["WINDOW_PRESETS", "WindowPreset", "resolve_window", "window", "window_bounds"]

# Percentiles of large images are estimated on a regular subsample of about this many
# pixels (a 0.5 % tail of 65,536 samples is ~330 pixels: stable to a grey level or two).
_PERCENTILE_SAMPLE = 1 << 16


@dataclass(frozen=True)
class WindowPreset:
    """A display window: a fixed centre/width, or percentiles of the image itself.

    Attributes
    ----------
    name
        Short name (the key in :data:`WINDOW_PRESETS`).
    label
        What a menu shows.
    center, width
        Fixed window in modality units (Hounsfield units for CT), or ``None``.
    percentiles
        ``(low, high)`` percentiles mapped to black and white, or ``None``.
    """

    name: str
    label: str
    center: float | None = None
    width: float | None = None
    percentiles: tuple[float, float] | None = None

    @property
    def uses_modality_values(self) -> bool:
        """True when the window is in modality units, so the header's own VOI must be off."""
        return self.percentiles is None

    def key(self) -> str:
        """A stable text form, for cache keys."""
        if self.percentiles is not None:
            return f"pct:{self.percentiles[0]:g}:{self.percentiles[1]:g}"
        return f"cw:{self.center:g}:{self.width:g}"


#: Named windows. CT windows are the usual centre/width in Hounsfield units; ``"auto"`` (for
#: radiographs, and any image whose header window is already applied) stretches the 0.5th to
#: 99.5th percentile to black and white.
WINDOW_PRESETS: Mapping[str, WindowPreset] = MappingProxyType({
    "auto": WindowPreset("auto", "Auto (0.5–99.5 percentile)", percentiles=(0.5, 99.5)),
    "lung": WindowPreset("lung", "CT lung (C −600, W 1500)", center=-600.0, width=1500.0),
    "mediastinum": WindowPreset("mediastinum", "CT mediastinum (C 50, W 350)", center=50.0,
                                width=350.0),
    "bone": WindowPreset("bone", "CT bone (C 400, W 1800)", center=400.0, width=1800.0),
})


def resolve_window(preset: str | WindowPreset | None = "auto", *, center: float | None = None,
                   width: float | None = None,
                   percentiles: tuple[float, float] | None = None) -> WindowPreset:
    """Turn a preset name, or an explicit centre/width or percentile pair, into a WindowPreset.

    Explicit ``center`` and ``width`` (both) or ``percentiles`` take precedence over
    ``preset``.

    Raises
    ------
    ValueError
        Unknown preset name, only one of centre/width, a width that is not positive, or
        percentiles not ordered within 0..100. The message names the argument and the
        allowed values.

    Examples
    --------
    >>> from covidimg.imaging.windowing import resolve_window
    >>> resolve_window("lung").center, resolve_window(center=40, width=400).key()
    (-600.0, 'cw:40:400')
    """
    if (center is None) != (width is None):
        raise ValueError(f"give both center and width for an explicit window; got "
                         f"center={center!r}, width={width!r}")
    if center is not None and width is not None:
        if not np.isfinite(width) or width <= 0 or not np.isfinite(center):
            raise ValueError(f"width must be a positive finite number and center finite; got "
                             f"center={center!r}, width={width!r}")
        return WindowPreset("custom", f"C {center:g}, W {width:g}", center=float(center),
                            width=float(width))
    if percentiles is not None:
        low, high = (float(p) for p in percentiles)
        if not 0.0 <= low < high <= 100.0:
            raise ValueError(f"percentiles must be (low, high) with 0 <= low < high <= 100; "
                             f"got {percentiles!r}")
        return WindowPreset("percentiles", f"{low:g}–{high:g} percentile",
                            percentiles=(low, high))
    if isinstance(preset, WindowPreset):
        return preset
    if preset is None:
        return WINDOW_PRESETS["auto"]
    check_choice(preset, WINDOW_PRESETS, "preset",
                 hint="Or pass center= and width=, or percentiles=(low, high).")
    return WINDOW_PRESETS[preset]


def _percentile_bounds(values: np.ndarray, percentiles: tuple[float, float]) -> tuple[float, float]:
    flat = values.ravel()
    if flat.size > _PERCENTILE_SAMPLE:
        flat = flat[:: flat.size // _PERCENTILE_SAMPLE]
    flat = flat[np.isfinite(flat)]
    if not flat.size:
        return 0.0, 1.0
    low, high = np.percentile(flat, percentiles)
    return float(low), float(high)


def window_bounds(image: np.ndarray, preset: str | WindowPreset | None = "auto", *,
                  center: float | None = None, width: float | None = None,
                  percentiles: tuple[float, float] | None = None) -> tuple[float, float]:
    """The grey levels a window maps to black and white, for ``image``.

    Fixed windows give ``center ∓ width / 2``; percentile windows are measured on the image
    (a regular subsample of large images). :func:`window` uses this; thumbnails call it on
    the full image before shrinking it, so a thumbnail has the contrast of the full view.

    Examples
    --------
    >>> import numpy as np
    >>> from covidimg.imaging.windowing import window_bounds
    >>> window_bounds(np.zeros((2, 2)), "lung")
    (-1350.0, 150.0)
    >>> window_bounds(np.arange(1001.0), percentiles=(10, 90))
    (100.0, 900.0)
    """
    spec = resolve_window(preset, center=center, width=width, percentiles=percentiles)
    if spec.percentiles is None:
        return (spec.center - spec.width / 2.0,  # type: ignore[operator]
                spec.center + spec.width / 2.0)  # type: ignore[operator]
    return _percentile_bounds(np.asarray(image), spec.percentiles)


def window(image: np.ndarray, preset: str | WindowPreset | None = "auto", *,
           center: float | None = None, width: float | None = None,
           percentiles: tuple[float, float] | None = None) -> np.ndarray:
    """Map grey levels to 8-bit display values with a named or explicit window.

    Values at or below the window's lower end become 0, at or above its upper end 255, linear
    in between (rounded to the nearest level); NaN becomes 0. The same function makes
    thumbnails and gallery images, so both look the same.

    Parameters
    ----------
    image
        A 2-D image or a 3-D stack (percentile windows are computed over the whole stack).
    preset
        A key of :data:`WINDOW_PRESETS` (``"auto"``, ``"lung"``, ``"mediastinum"``,
        ``"bone"``) or a :class:`WindowPreset`.
    center, width
        An explicit window in the image's units; overrides ``preset``.
    percentiles
        ``(low, high)`` percentiles of the image mapped to black and white; overrides
        ``preset``.

    Returns
    -------
    numpy.ndarray
        uint8 array of the same shape.

    Examples
    --------
    >>> import numpy as np
    >>> from covidimg.imaging import window
    >>> hu = np.array([[-1400.0, -600.0, 150.0]])
    >>> window(hu, "lung").tolist()
    [[0, 128, 255]]
    >>> window(hu, center=0, width=2000).tolist()
    [[0, 51, 147]]
    """
    values = np.asarray(image, dtype=np.float32)
    low, high = window_bounds(values, preset, center=center, width=width,
                              percentiles=percentiles)
    span = high - low if high > low else 1.0
    scaled = values - np.float32(low)
    scaled *= np.float32(255.0 / span)
    np.fmax(scaled, np.float32(0.0), out=scaled)     # fmax/fmin also turn NaN into 0
    np.fmin(scaled, np.float32(255.0), out=scaled)
    scaled += np.float32(0.5)
    return scaled.astype(np.uint8)
