"""ImageViewer: one image, large, with window preset, level / width and CT slice sliders."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import ipywidgets as w
import numpy as np

from covidimg import imaging
from covidimg.imaging.thumbnails import render_png
from covidimg.sources import idc
from covidimg.widgets._html import escape

__all__ = ["ImageViewer", "caption"]

#: Harmonized fields a caption may show (never DICOM identifying fields).
CAPTION_FIELDS = ("patient_uid", "day", "modality", "view", "source")
CUSTOM = "custom"


def caption(row: Mapping[str, Any]) -> str:
    """The caption of an image: patient, exam day, modality, view and source.

    Only harmonized fields are used, so no name, birth date or institution from a DICOM
    header can appear.

    Examples
    --------
    >>> from covidimg.widgets.viewer import caption
    >>> caption({"patient_uid": "mhh:p1", "day": 3.0, "modality": "CR", "view": "AP",
    ...          "source": "mhh", "path": "/secret/name.png"})
    'mhh:p1 · day 3 · CR AP · mhh'
    """
    day = row.get("day")
    day_text = "day ?" if day is None or not np.isfinite(float(day)) else f"day {float(day):g}"
    return (f"{row.get('patient_uid')} · {day_text} · {row.get('modality')} {row.get('view')} · "
            f"{row.get('source')}")


def _remote_note(row: Mapping[str, Any]) -> str:
    """For an IDC series: its licence and DOI, and a link to it in IDC's viewer (HTML)."""
    if row.get("source") != "idc":
        return ""
    parts = [escape(row[k]) for k in ("license", "doi") if isinstance(row.get(k), str)]
    try:
        url = idc.viewer_url(str(row.get("study_uid")), str(row.get("series_uid")))
        parts.append(f"<a href='{escape(url)}' target='_blank' rel='noopener noreferrer'>"
                     "open in IDC's viewer</a>")
    except ValueError:
        pass
    return "".join(f" · {p}" for p in parts)


class ImageViewer(w.VBox):
    """One image at a readable size with display controls (mouse only, no keyboard needed).

    The window preset menu offers :data:`covidimg.imaging.WINDOW_PRESETS` (``auto`` stretches
    the image's own percentiles; ``lung``, ``mediastinum``, ``bone`` are CT windows in
    Hounsfield units); the level and width sliders set any window (the preset then reads
    ``custom``). A CT or MR series (``n_instances > 1``) gets a slice slider that reads only
    the slice shown. Pixels come from :func:`covidimg.imaging.read_image` in modality units.

    Parameters
    ----------
    size
        Side of the displayed square in pixels.

    Examples
    --------
    >>> import covidimg as ci
    >>> from covidimg.widgets.viewer import ImageViewer
    >>> cohort = ci.load_demo(n_patients=12)                          # doctest: +SKIP
    >>> v = ImageViewer(); v.load(cohort.images.iloc[0].to_dict())    # doctest: +SKIP
    >>> v.preset.value = "lung"                                       # doctest: +SKIP
    """

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self.row: dict[str, Any] | None = None
        self._slices: OrderedDict[int, np.ndarray] = OrderedDict()
        self._quiet = False
        self.title = w.HTML()
        self.image = w.Image(format="png", layout=w.Layout(width=f"{size}px",
                                                          height=f"{size}px"))
        self.preset = w.Dropdown(
            options=[(p.label, name) for name, p in imaging.WINDOW_PRESETS.items()]
            + [("custom (sliders)", CUSTOM)], value="auto", description="Window",
            layout=w.Layout(width="330px"))
        self.level = w.FloatSlider(description="Level", continuous_update=False,
                                   readout_format=".0f", layout=w.Layout(width="420px"))
        self.width = w.FloatSlider(description="Width", min=1.0, continuous_update=False,
                                   readout_format=".0f", layout=w.Layout(width="420px"))
        self.slice = w.IntSlider(description="Slice", min=0, max=0, continuous_update=False,
                                 layout=w.Layout(width="420px", display="none"))
        self.close_button = w.Button(description="Close", icon="times",
                                     tooltip="Back to the thumbnails")
        self.message = w.HTML()
        self.preset.observe(self._preset_changed, names="value")
        self.level.observe(self._slider_changed, names="value")
        self.width.observe(self._slider_changed, names="value")
        self.slice.observe(lambda _c: self._render(), names="value")
        super().__init__([self.title, self.image, self.preset, self.level, self.width,
                          self.slice, self.message, self.close_button],
                         layout=w.Layout(display="none"))
        self.add_class("covidimg-viewer")

    # ------------------------------------------------------------------ public
    @property
    def image_uid(self) -> str | None:
        """The image shown, or ``None``."""
        return None if self.row is None else str(self.row.get("image_uid"))

    @property
    def n_slices(self) -> int:
        """Number of slices of the image shown (1 for a radiograph)."""
        if self.row is None:
            return 0
        n = self.row.get("n_instances")
        try:
            return max(1, int(n))
        except (TypeError, ValueError):
            return 1

    def load(self, row: Mapping[str, Any]) -> None:
        """Show the image of an ``images`` row (a mapping of its harmonized fields)."""
        self.row = dict(row)
        self._slices.clear()
        n = self.n_slices
        self._quiet = True
        try:
            with self.slice.hold_trait_notifications():
                self.slice.max = max(n - 1, 0)
                self.slice.value = n // 2
            self.slice.layout.display = "flex" if n > 1 else "none"
            self.preset.value = "lung" if str(self.row.get("modality")) == "CT" else "auto"
        finally:
            self._quiet = False
        self.title.value = (f"<b>{escape(caption(self.row))}</b>"
                            + (f" · {n} slices" if n > 1 else "") + _remote_note(self.row))
        self.layout.display = "flex"
        if idc.is_remote(self.row.get("path")):
            self.image.value = imaging.placeholder(self.size)
            self.message.value = ("<i>Not downloaded yet: use the gallery's Download button, "
                                  "or <code>cohort.download()</code>.</i>")
            return
        self._preset_changed()

    def hide(self) -> None:
        """Hide the viewer (the widget stays usable)."""
        self.layout.display = "none"

    # ------------------------------------------------------------------ drawing
    def _pixels(self) -> np.ndarray:
        index = int(self.slice.value) if self.n_slices > 1 else None
        key = -1 if index is None else index
        if key not in self._slices:
            self._slices[key] = imaging.read_image(self.row, slice_index=index, voi=False)
            while len(self._slices) > 8:
                self._slices.popitem(last=False)
        self._slices.move_to_end(key)
        pixels = self._slices[key]
        return pixels if pixels.ndim == 2 else pixels[pixels.shape[0] // 2]

    def _fit_sliders(self, pixels: np.ndarray, center: float, width: float) -> None:
        finite = pixels[np.isfinite(pixels)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        centers = [p.center for p in imaging.WINDOW_PRESETS.values() if p.center is not None]
        c_min, c_max = min(lo, center, *centers), max(hi, center, *centers)
        w_max = max(2 * (hi - lo), width, *[p.width for p in imaging.WINDOW_PRESETS.values()
                                            if p.width is not None])
        self._quiet = True
        try:
            with self.level.hold_trait_notifications(), self.width.hold_trait_notifications():
                self.level.min, self.level.max = -1e9, 1e9
                self.level.value = center
                self.level.min, self.level.max = np.floor(c_min), np.ceil(c_max)
                self.width.min, self.width.max = 1.0, 1e9
                self.width.value = max(width, 1.0)
                self.width.max = np.ceil(w_max)
        finally:
            self._quiet = False

    def _preset_changed(self, _change: Any = None) -> None:
        if self._quiet or self.row is None:
            return
        name = self.preset.value
        if name == CUSTOM:
            self._render()
            return
        try:
            pixels = self._pixels()
        except (imaging.ImageReadError, OSError, ValueError, IndexError) as err:
            self._fail(err)
            return
        low, high = imaging.window_bounds(pixels, name)
        self._fit_sliders(pixels, (low + high) / 2, high - low)
        self._render()

    def _slider_changed(self, _change: Any) -> None:
        if self._quiet or self.row is None:
            return
        if self.preset.value != CUSTOM:
            self._quiet = True
            try:
                self.preset.value = CUSTOM
            finally:
                self._quiet = False
        self._render()

    def _render(self) -> None:
        if self._quiet or self.row is None:
            return
        try:
            pixels = self._pixels()
        except (imaging.ImageReadError, OSError, ValueError, IndexError) as err:
            self._fail(err)
            return
        if self.preset.value == CUSTOM:
            display = imaging.window(pixels, center=self.level.value, width=self.width.value)
        else:
            display = imaging.window(pixels, self.preset.value)
        self.image.value = render_png(display, self.size)
        self.message.value = ""

    def _fail(self, err: Exception) -> None:
        self.image.value = imaging.placeholder(self.size)
        self.message.value = (f"<span style='color:#B00'>This image cannot be shown: "
                              f"{escape(err)}</span>")
