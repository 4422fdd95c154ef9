"""ImageViewer: one image, large, with window preset, level / width and CT slice sliders, and
the image's annotated boxes and polygons drawn over it (a toggle per reader)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import ipywidgets as w
import numpy as np
import pandas as pd

from covidimg import imaging
from covidimg.imaging.thumbnails import render_png
from covidimg.plotting.overlay import plot_image_overlay
from covidimg.sources import idc
from covidimg.widgets._figures import FigureSlot
from covidimg.widgets._html import escape

__all__ = ["ImageViewer", "caption"]

#: Harmonized fields a caption may show (never DICOM identifying fields).
CAPTION_FIELDS = ("patient_uid", "day", "modality", "view", "source")
CUSTOM = "custom"
#: Annotation kinds drawn over the image.
REGION_KINDS = ("box", "polygon")


def _reader_name(reader: Any) -> str:
    return "consensus" if reader is None or pd.isna(reader) else f"reader {int(reader)}"


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

    When the image has boxes or polygons in ``annotations`` (MD.ai regions of RICORD, for
    instance), the image is shown as a plotly figure with each region drawn over it in the
    image's pixel coordinates, labelled with its label and reader (zoom and pan are plotly's);
    a toggle per reader shows or hides that reader's regions. A region of a CT slice is drawn
    on that slice only. :attr:`shapes` gives the regions drawn now.

    Parameters
    ----------
    size
        Side of the displayed square in pixels.
    annotations
        The cohort's ``annotations`` table (or ``None``: no overlays); :meth:`load` picks the
        rows of the image it shows. It can be replaced later (``viewer.annotations = ...``).

    Examples
    --------
    >>> import covidimg as ci
    >>> from covidimg.widgets.viewer import ImageViewer
    >>> cohort = ci.load_demo(n_patients=12)                          # doctest: +SKIP
    >>> v = ImageViewer(); v.load(cohort.images.iloc[0].to_dict())    # doctest: +SKIP
    >>> v.preset.value = "lung"                                       # doctest: +SKIP
    """

    def __init__(self, size: int = 512, annotations: pd.DataFrame | None = None) -> None:
        self.size = size
        self.annotations = annotations
        self._regions: list[dict[str, Any]] = []
        self.overlay = FigureSlot("image_overlay")
        self.overlay.layout.display = "none"
        self.reader_toggles: dict[str, w.ToggleButton] = {}
        self.readers = w.HBox(layout=w.Layout(display="none"))
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
        super().__init__([self.title, self.image, self.overlay, self.readers, self.preset,
                          self.level, self.width, self.slice, self.message, self.close_button],
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

    @property
    def shapes(self) -> list[dict[str, Any]]:
        """The regions drawn over the image now, as plotly shapes in pixel coordinates
        (``rect`` with ``x0, y0, x1, y1``; ``path`` for a polygon; ``name`` = label · reader)."""
        if self.overlay.layout.display == "none":
            return []
        return [shape.to_plotly_json() for shape in self.overlay.figure.layout.shapes]

    def load(self, row: Mapping[str, Any], annotations: pd.DataFrame | None = None) -> None:
        """Show the image of an ``images`` row (a mapping of its harmonized fields), with the
        boxes and polygons of ``annotations`` (default: :attr:`annotations`) on it."""
        self.row = dict(row)
        self._set_regions(self.annotations if annotations is None else annotations)
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
            self.overlay.layout.display = "none"
            self.image.layout.display = "flex"
            self.image.value = imaging.placeholder(self.size)
            self.message.value = ("<i>Not downloaded yet: use the gallery's Download button, "
                                  "or <code>cohort.download()</code>.</i>")
            return
        self._preset_changed()

    def show_reader(self, reader: str, visible: bool = True) -> None:
        """Show or hide the regions of ``reader`` (``"reader 1"``, ..., ``"consensus"``)."""
        if reader not in self.reader_toggles:
            raise ValueError(f"reader={reader!r} has no region on this image; its readers are "
                             f"{sorted(self.reader_toggles)}")
        self.reader_toggles[reader].value = visible

    def _set_regions(self, annotations: pd.DataFrame | None) -> None:
        """Keep the regions of the image shown and make a toggle per reader."""
        self._regions = []
        if annotations is not None and len(annotations) and self.row is not None:
            mine = annotations[(annotations["image_uid"] == self.image_uid)
                               & annotations["kind"].astype(str).isin(REGION_KINDS)]
            for note in mine.to_dict("records"):
                if pd.isna(note.get("geometry")):
                    continue
                note["reader_name"] = _reader_name(note.get("reader"))
                self._regions.append(note)
        names = sorted({r["reader_name"] for r in self._regions})
        self.reader_toggles = {name: w.ToggleButton(value=True, description=name,
                                                    tooltip=f"Show the regions of {name}",
                                                    layout=w.Layout(width="auto"))
                               for name in names}
        for toggle in self.reader_toggles.values():
            toggle.observe(lambda _c: self._render(), names="value")
        self.readers.children = tuple(self.reader_toggles.values())
        self.readers.layout.display = "flex" if names else "none"

    def _visible_regions(self) -> list[dict[str, Any]]:
        index = int(self.slice.value) if self.n_slices > 1 else None
        shown = []
        for region in self._regions:
            if not self.reader_toggles[region["reader_name"]].value:
                continue
            at = region.get("slice_index")
            if index is not None and at is not None and not pd.isna(at) and int(at) != index:
                continue
            shown.append(region)
        return shown

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
        # Each slider's min, max and value reach the page in one message (hold_sync): sent
        # one by one, the page's slider clamps the new value to the old range (a CT's lung
        # level -600 to a radiograph's 0..max) and sends the clamped value back, which read
        # as a user's move would turn the window to "custom" with the wrong level.
        self._quiet = True
        try:
            with self.level.hold_sync(), self.width.hold_sync(), \
                    self.level.hold_trait_notifications(), self.width.hold_trait_notifications():
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
        if self._regions:
            rows, columns = display.shape
            self.overlay.show(plot_image_overlay.spec(self.image.value, rows, columns,
                                                      self._visible_regions(),
                                                      size=self.size),
                              image_uid=self.image_uid)
        self.overlay.layout.display = "flex" if self._regions else "none"
        self.image.layout.display = "none" if self._regions else "flex"

    def _fail(self, err: Exception) -> None:
        self.image.value = imaging.placeholder(self.size)
        self.message.value = (f"<span style='color:#B00'>This image cannot be shown: "
                              f"{escape(err)}</span>")
