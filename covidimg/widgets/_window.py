"""The window controls of the viewer and the serial comparison: a preset menu with level and
width sliders, fitted to the pixels shown, and the window they choose applied to pixels."""

from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as w
import numpy as np

from covidimg import imaging

__all__ = ["CUSTOM", "fit_sliders", "show_custom", "window_controls", "windowed"]

#: The preset menu's value when the sliders set the window.
CUSTOM = "custom"


def window_controls(custom_label: str = "custom (sliders)", slider_width: str = "420px"
                    ) -> tuple[w.Dropdown, w.FloatSlider, w.FloatSlider]:
    """The preset menu (:data:`covidimg.imaging.WINDOW_PRESETS`, then ``custom``) and the
    level and width sliders."""
    preset = w.Dropdown(
        options=[(p.label, name) for name, p in imaging.WINDOW_PRESETS.items()]
        + [(custom_label, CUSTOM)], value="auto", description="Window",
        layout=w.Layout(width="330px"))
    level = w.FloatSlider(description="Level", continuous_update=False, readout_format=".0f",
                          layout=w.Layout(width=slider_width))
    width = w.FloatSlider(description="Width", min=1.0, continuous_update=False,
                          readout_format=".0f", layout=w.Layout(width=slider_width))
    return preset, level, width


def fit_sliders(level: w.FloatSlider, width: w.FloatSlider, pixels: Sequence[np.ndarray],
                center: float, window_width: float) -> None:
    """Set the sliders to ``center`` / ``window_width``, with ranges covering ``pixels`` and
    every preset's window.

    Each slider's min, max and value reach the page in one message (``hold_sync``): sent one
    by one, the page's slider clamps the new value to the old range (a CT's lung level -600
    to a radiograph's 0..max) and sends the clamped value back, which read as a user's move
    would turn the window to "custom" with the wrong level. The caller keeps its own
    handlers quiet meanwhile.
    """
    finite = [p[np.isfinite(p)] for p in pixels]
    lo = min((float(f.min()) for f in finite if f.size), default=0.0)
    hi = max((float(f.max()) for f in finite if f.size), default=1.0)
    presets = list(imaging.WINDOW_PRESETS.values())
    centers = [p.center for p in presets if p.center is not None]
    c_min, c_max = min(lo, center, *centers), max(hi, center, *centers)
    w_max = max(2 * (hi - lo), window_width, *[p.width for p in presets if p.width is not None])
    with level.hold_sync(), width.hold_sync(), \
            level.hold_trait_notifications(), width.hold_trait_notifications():
        level.min, level.max = -1e9, 1e9
        level.value = center
        level.min, level.max = float(np.floor(c_min)), float(np.ceil(c_max))
        width.min, width.max = 1.0, 1e9
        width.value = max(window_width, 1.0)
        width.max = float(np.ceil(w_max))


def show_custom(preset: w.Dropdown) -> bool:
    """A slider was moved: the preset menu reads ``custom`` from now on. Returns whether the
    menu changed (its observers see the change: the caller keeps them quiet meanwhile)."""
    if preset.value == CUSTOM:
        return False
    preset.value = CUSTOM
    return True


def windowed(pixels: np.ndarray, preset: w.Dropdown, level: w.FloatSlider,
             width: w.FloatSlider) -> np.ndarray:
    """``pixels`` through the window the controls choose (0..255)."""
    if preset.value == CUSTOM:
        return imaging.window(pixels, center=level.value, width=width.value)
    return imaging.window(pixels, preset.value)
