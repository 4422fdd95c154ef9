"""ImageViewer: one image, large, as a plotly figure (zoom and pan), with window preset, level /
width, invert and CT slice controls, the image's annotated boxes and polygons drawn over it (a
toggle per reader), a distance tool, the pixel value under the cursor and keyboard shortcuts."""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import ipywidgets as w
import numpy as np
import pandas as pd

from covidimg import imaging
from covidimg.imaging.spacing import SPACING_SOURCES, PixelSpacing, pixel_spacing
from covidimg.imaging.thumbnails import render_png
from covidimg.plotting.overlay import MEASURE_NAME, plot_image_overlay
from covidimg.sources import idc
from covidimg.widgets._figures import FigureSlot
from covidimg.widgets._html import escape
from covidimg.widgets._window import (
    CUSTOM,
    fit_sliders,
    show_custom,
    window_controls,
    windowed,
)

__all__ = ["SHORTCUTS", "ImageViewer", "caption"]

#: Harmonized fields a caption may show (never DICOM identifying fields).
CAPTION_FIELDS = ("patient_uid", "day", "modality", "view", "source")
#: Annotation kinds drawn over the image.
REGION_KINDS = ("box", "polygon")
#: Keyboard shortcuts of the viewer (the image takes them once clicked): key -> what it does.
SHORTCUTS: dict[str, str] = {
    "ArrowUp": "next slice", "ArrowDown": "previous slice",
    "PageUp": "next slice", "PageDown": "previous slice",
    **{str(i + 1): f"window: {name}" for i, name in enumerate(imaging.WINDOW_PRESETS)},
    "i": "invert the grey scale", "m": "measure a distance (toggle)", "r": "reset the zoom",
}
_SLICE_STEP = {"ArrowUp": 1, "PageUp": 1, "ArrowDown": -1, "PageDown": -1}
_SHAPE_KEY = re.compile(r"^shapes\[(\d+)\]\.([xy][01])$")
_HELP = ("Keys (click the image first): ↑ ↓ or PgUp PgDn slice · "
         + " ".join(str(i + 1) for i in range(len(imaging.WINDOW_PRESETS)))
         + " window preset · i invert · m measure · r reset zoom. Drag to pan; zoom with the "
         "toolbar over the image (+, −, or its box zoom).")


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


class _Shown:
    """The PNG the viewer draws now, as ``.value`` (what ``viewer.image.value`` gave when the
    viewer showed an ipywidgets ``Image``)."""

    def __init__(self, value: bytes) -> None:
        self.value = value


class ImageViewer(w.VBox):
    """One image at a readable size, with zoom, pan, windowing, measurement and a pixel readout.

    The image is drawn as the plotly figure of
    :func:`covidimg.plotting.overlay.plot_image_overlay`, whose axes are the image's pixel
    coordinates (x to the right, y down, origin at the top-left corner of the first pixel).
    Zoom (the plotly toolbar over the image: +, −, box zoom) and pan (drag) are plotly's own;
    they are kept when the slice or the window changes and reset when another image is
    loaded (or with "Reset zoom").

    The window preset menu offers :data:`covidimg.imaging.WINDOW_PRESETS` (``auto`` stretches
    the image's own percentiles; ``lung``, ``mediastinum``, ``bone`` are CT windows in
    Hounsfield units); the level and width sliders set any window (the preset then reads
    ``custom``); "Invert" inverts the grey scale after windowing. A CT or MR series
    (``n_instances > 1``) gets a slice slider that reads only the slice shown. Pixels come from
    :func:`covidimg.imaging.read_image` in modality units (``voi=False``).

    **Boxes and polygons.** When the image has boxes or polygons in ``annotations`` (MD.ai
    regions of RICORD, for instance), each is drawn over it in the image's pixel coordinates,
    labelled with its label and reader; a toggle per reader shows or hides that reader's
    regions. A region of a CT slice is drawn on that slice only. :attr:`shapes` gives the
    regions drawn now.

    **Distance.** With "Measure" on, a drag draws a line (plotly's ``drawline``); the viewer
    shows its length in millimetres from the image's pixel spacing
    (:func:`covidimg.imaging.spacing.pixel_spacing`: the DICOM header's PixelSpacing, else its
    ImagerPixelSpacing, which is the spacing at the detector: a radiograph's anatomy is
    magnified onto it by roughly 10 %; the images row's ``pixel_spacing_row/col`` when there
    is no header to read), naming the source, and in pixels. Without a spacing (PNG, NIfTI)
    it shows pixels only. The line can be dragged by its ends; a new line replaces it.
    :attr:`measurement` holds the last one.

    **Pixel value.** Moving the mouse over the image shows ``x, y: value`` of the pixel under
    it, read from the slice the viewer holds (Hounsfield units for CT): :attr:`pixel_value`.

    **Keyboard** (once the image has been clicked, so that it has the focus):

    ============================  =============================================
    ``ArrowUp`` / ``PageUp``      next slice
    ``ArrowDown`` / ``PageDown``  previous slice
    ``1`` .. ``4``                window preset auto, lung, mediastinum, bone
    ``i``                         invert the grey scale
    ``m``                         measure a distance (toggle)
    ``r``                         reset the zoom
    ============================  =============================================

    Parameters
    ----------
    size
        Side of the displayed square in pixels.
    annotations
        The cohort's ``annotations`` table (or ``None``: no overlays); :meth:`load` picks the
        rows of the image it shows. It can be replaced later (``viewer.annotations = ...``).

    Attributes
    ----------
    measurement
        The last distance measured on the image shown, or ``None``: a dict with ``x0, y0, x1,
        y1`` (pixel coordinates), ``slice_index``, ``pixels`` (the length in pixels), ``mm``
        (``None`` without a spacing), ``spacing_source`` (``"PixelSpacing"``,
        ``"ImagerPixelSpacing"``, ``"images table"`` or ``None``) and ``spacing_mm`` (row,
        column).
    pixel_value
        The pixel under the mouse, or ``None``: ``x`` (column), ``y`` (row), ``value`` in
        modality units and ``unit`` (``"HU"`` for CT, else ``""``).
    zoom
        The axis ranges the user zoomed or panned to (``{"x": [left, right], "y": [bottom,
        top]}``, as the page reports them), or ``None`` for the whole image.

    Examples
    --------
    >>> import covidimg as ci
    >>> from covidimg.widgets.viewer import ImageViewer
    >>> cohort = ci.load_demo(n_patients=12)                          # doctest: +SKIP
    >>> v = ImageViewer(); v.load(cohort.images.iloc[0].to_dict())    # doctest: +SKIP
    >>> v.preset.value = "lung"                                       # doctest: +SKIP
    >>> v.measure.value = True        # then draw a line on the image  # doctest: +SKIP
    >>> v.measurement["mm"]                                           # doctest: +SKIP
    """

    def __init__(self, size: int = 512, annotations: pd.DataFrame | None = None) -> None:
        self.size = size
        self.annotations = annotations
        self._regions: list[dict[str, Any]] = []
        self.overlay = FigureSlot("image_overlay")
        self.overlay.layout.width = f"{size}px"
        self.overlay.plot.shortcut_keys = list(SHORTCUTS)
        self.overlay.on_event("relayout", self._relayout)
        self.overlay.on_event("hover", self._hover)
        self.overlay.on_event("key", self._key)
        self.reader_toggles: dict[str, w.ToggleButton] = {}
        self.readers = w.HBox(layout=w.Layout(display="none"))
        self.row: dict[str, Any] | None = None
        self.png = b""
        self.measurement: dict[str, Any] | None = None
        self.pixel_value: dict[str, Any] | None = None
        self.zoom: dict[str, list[float]] | None = None
        self._spacing: PixelSpacing | str | None = "unread"
        self._spacing_problem = ""
        self._generation = 0
        self._slices: OrderedDict[int, np.ndarray] = OrderedDict()
        self._quiet = False
        self.title = w.HTML()
        self.invert = w.ToggleButton(value=False, description="Invert", icon="adjust",
                                     tooltip="Invert the grey scale (key i)",
                                     layout=w.Layout(width="auto"))
        self.measure = w.ToggleButton(value=False, description="Measure", icon="arrows-h",
                                      tooltip="Draw a line to measure a distance (key m)",
                                      layout=w.Layout(width="auto"))
        self.reset_zoom = w.Button(description="Reset zoom", icon="expand",
                                   tooltip="Show the whole image (key r)",
                                   layout=w.Layout(width="auto"))
        self.tools = w.HBox([self.invert, self.measure, self.reset_zoom])
        self.readout = w.HTML()
        self.distance = w.HTML()
        self.preset, self.level, self.width = window_controls()
        self.slice = w.IntSlider(description="Slice", min=0, max=0, continuous_update=False,
                                 layout=w.Layout(width="420px", display="none"))
        self.close_button = w.Button(description="Close", icon="times",
                                     tooltip="Back to the thumbnails")
        self.message = w.HTML()
        self.help = w.HTML(f"<small>{escape(_HELP)}</small>")
        self.preset.observe(self._preset_changed, names="value")
        self.level.observe(self._slider_changed, names="value")
        self.width.observe(self._slider_changed, names="value")
        self.slice.observe(lambda _c: self._render(), names="value")
        self.invert.observe(lambda _c: self._render(), names="value")
        self.measure.observe(lambda _c: self._render(), names="value")
        self.reset_zoom.on_click(lambda _b: self.reset_view())
        super().__init__([self.title, self.overlay, self.readers, self.tools, self.readout,
                          self.distance, self.preset, self.level, self.width, self.slice,
                          self.message, self.help, self.close_button],
                         layout=w.Layout(display="none"))
        self.add_class("covidimg-viewer")

    # ------------------------------------------------------------------ public
    @property
    def image_uid(self) -> str | None:
        """The image shown, or ``None``."""
        return None if self.row is None else str(self.row.get("image_uid"))

    @property
    def image(self) -> _Shown:
        """The PNG drawn now, as ``.value`` (the figure draws it over the pixel axes)."""
        return _Shown(self.png)

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
    def slice_index(self) -> int | None:
        """The slice shown of a series, ``None`` for a single image."""
        return int(self.slice.value) if self.n_slices > 1 else None

    @property
    def shapes(self) -> list[dict[str, Any]]:
        """The regions drawn over the image now, as plotly shapes in pixel coordinates
        (``rect`` with ``x0, y0, x1, y1``; ``path`` for a polygon; ``name`` = label · reader);
        a measured line is not one of them (see :attr:`measurement`)."""
        return [shape.to_plotly_json() for shape in self.overlay.figure.layout.shapes
                if shape.name != MEASURE_NAME]

    @property
    def spacing(self) -> PixelSpacing | None:
        """The pixel spacing of the image shown (read from its header on first use), or
        ``None`` when it has none (see :func:`covidimg.imaging.spacing.pixel_spacing`)."""
        if isinstance(self._spacing, str):
            self._spacing = None
            if self.row is not None and not idc.is_remote(self.row.get("path")):
                try:
                    self._spacing = pixel_spacing(self.row)
                except (imaging.ImageReadError, OSError, ValueError) as err:
                    self._spacing_problem = f"its pixel spacing cannot be read: {err}"
        return self._spacing

    def load(self, row: Mapping[str, Any], annotations: pd.DataFrame | None = None) -> None:
        """Show the image of an ``images`` row (a mapping of its harmonized fields), with the
        boxes and polygons of ``annotations`` (default: :attr:`annotations`) on it; the zoom
        and the last measurement are reset."""
        self.row = dict(row)
        self._set_regions(self.annotations if annotations is None else annotations)
        self._slices.clear()
        self._spacing = "unread"
        self._spacing_problem = ""
        self._generation += 1
        self.measurement = self.pixel_value = self.zoom = None
        self.readout.value = self.distance.value = ""
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
            self._show_placeholder()
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

    def reset_view(self) -> None:
        """Show the whole image again (undo the user's zoom and pan)."""
        self._generation += 1
        self.zoom = None
        self._render()

    def measure_line(self, x0: float, y0: float, x1: float, y1: float) -> dict[str, Any]:
        """Measure the line from ``(x0, y0)`` to ``(x1, y1)`` (pixel coordinates of the image
        shown), draw it and show its length: what drawing the line with the mouse does.
        Returns :attr:`measurement`."""
        if self.row is None:
            raise RuntimeError("measure_line: no image is shown; call load(row) first")
        ends = [float(v) for v in (x0, y0, x1, y1)]
        if not all(math.isfinite(v) for v in ends):
            raise ValueError(f"measure_line: the ends {ends} must be finite numbers")
        dx, dy = ends[2] - ends[0], ends[3] - ends[1]
        spacing = self.spacing
        mm = None if spacing is None else spacing.distance_mm(dx, dy)
        self.measurement = {
            "x0": ends[0], "y0": ends[1], "x1": ends[2], "y1": ends[3],
            "slice_index": self.slice_index, "pixels": math.hypot(dx, dy), "mm": mm,
            "spacing_source": None if spacing is None else spacing.source,
            "spacing_mm": None if spacing is None else (spacing.row, spacing.column)}
        self._render()
        return self.measurement

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
        index = self.slice_index
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

    # ------------------------------------------------------------------ page events
    def _relayout(self, message: Mapping[str, Any]) -> None:
        """Zoom and pan the user made, and a line drawn or moved in the page."""
        update = message.get("update")
        if not isinstance(update, Mapping) or self.row is None:
            return
        self._note_zoom(update)
        shapes = update.get("shapes")
        if isinstance(shapes, list):
            lines = [s for s in shapes if isinstance(s, Mapping) and s.get("type") == "line"]
            drawn = [s for s in lines if s.get("name") != MEASURE_NAME] or lines
            if drawn:
                self._measure_shape(drawn[-1])
            return
        moved = {}
        for key, value in update.items():
            found = _SHAPE_KEY.match(str(key))
            if found:
                moved.setdefault(int(found.group(1)), {})[found.group(2)] = value
        shown = self.overlay.spec["layout"].get("shapes", [])
        for index, ends in moved.items():
            if index < len(shown) and shown[index].get("name") == MEASURE_NAME:
                self._measure_shape({**shown[index], **ends})

    def _note_zoom(self, update: Mapping[str, Any]) -> None:
        if update.get("xaxis.autorange") or update.get("yaxis.autorange"):
            self.zoom = None
            return
        zoom = dict(self.zoom or {})
        for axis in ("x", "y"):
            pair = update.get(f"{axis}axis.range")
            if not isinstance(pair, list):
                pair = [update.get(f"{axis}axis.range[0]"), update.get(f"{axis}axis.range[1]")]
            try:
                zoom[axis] = [float(pair[0]), float(pair[1])]
            except (TypeError, ValueError, IndexError):
                continue
        self.zoom = zoom or self.zoom

    def _measure_shape(self, shape: Mapping[str, Any]) -> None:
        try:
            self.measure_line(*(float(shape[k]) for k in ("x0", "y0", "x1", "y1")))
        except (KeyError, TypeError, ValueError):
            return

    def _hover(self, message: Mapping[str, Any]) -> None:
        """The value of the pixel under the mouse, from the slice held (never a new read)."""
        if self.row is None or message.get("curve") not in (0, None):
            return
        try:
            x, y = float(message["x"]), float(message["y"])
        except (KeyError, TypeError, ValueError):
            return
        key = -1 if self.slice_index is None else self.slice_index
        pixels = self._slices.get(key)
        if pixels is None or not (math.isfinite(x) and math.isfinite(y)):
            return
        pixels = pixels if pixels.ndim == 2 else pixels[pixels.shape[0] // 2]
        column, row = math.floor(x), math.floor(y)
        if not (0 <= row < pixels.shape[0] and 0 <= column < pixels.shape[1]):
            self.pixel_value = None
            self.readout.value = ""
            return
        unit = "HU" if str(self.row.get("modality")) == "CT" else ""
        value = float(pixels[row, column])
        self.pixel_value = {"x": column, "y": row, "value": value, "unit": unit}
        self.readout.value = (f"<code>x {column}, y {row}: {value:.6g}"
                              f"{f' ({unit})' if unit else ''}</code>")

    def _key(self, message: Mapping[str, Any]) -> None:
        key = message.get("key")
        if self.row is None or key not in SHORTCUTS:
            return
        if key in _SLICE_STEP:
            if self.n_slices > 1:
                self.slice.value = min(max(int(self.slice.value) + _SLICE_STEP[key], 0),
                                       self.slice.max)
        elif key == "i":
            self.invert.value = not self.invert.value
        elif key == "m":
            self.measure.value = not self.measure.value
        elif key == "r":
            self.reset_view()
        else:
            self.preset.value = list(imaging.WINDOW_PRESETS)[int(key) - 1]

    # ------------------------------------------------------------------ drawing
    def _pixels(self) -> np.ndarray:
        index = self.slice_index
        key = -1 if index is None else index
        if key not in self._slices:
            self._slices[key] = imaging.read_image(self.row, slice_index=index, voi=False)
            while len(self._slices) > 8:
                self._slices.popitem(last=False)
        self._slices.move_to_end(key)
        pixels = self._slices[key]
        return pixels if pixels.ndim == 2 else pixels[pixels.shape[0] // 2]

    def _fit_sliders(self, pixels: np.ndarray, center: float, width: float) -> None:
        self._quiet = True
        try:
            fit_sliders(self.level, self.width, [pixels], center, width)
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
        self._quiet = True
        try:
            show_custom(self.preset)
        finally:
            self._quiet = False
        self._render()

    def _render(self) -> None:
        if self._quiet or self.row is None or idc.is_remote(self.row.get("path")):
            return
        try:
            pixels = self._pixels()
        except (imaging.ImageReadError, OSError, ValueError, IndexError) as err:
            self._fail(err)
            return
        display = windowed(pixels, self.preset, self.level, self.width)
        if self.invert.value:
            display = 255 - display
        self.png = render_png(display, self.size)
        self.message.value = ""
        rows, columns = display.shape
        lines = []
        done = self.measurement
        if done is not None and done["slice_index"] == self.slice_index:
            lines.append({**done, "text": _distance_text(done, short=True)})
        self.distance.value = "" if done is None else escape(
            _distance_text(done, problem=self._spacing_problem))
        self._draw(plot_image_overlay.spec(
            self.png, rows, columns, self._visible_regions(), size=self.size, lines=lines,
            dragmode="drawline" if self.measure.value else "pan", hover=True,
            uirevision=f"{self.image_uid}#{self._generation}"),
            rows=rows, columns=columns)

    def _draw(self, spec: dict, **meta: Any) -> None:
        self.overlay.show(spec, image_uid=self.image_uid, slice_index=self.slice_index,
                          inverted=bool(self.invert.value), **meta)

    def _show_placeholder(self) -> None:
        self.png = imaging.placeholder(self.size)
        self._draw(plot_image_overlay.spec(self.png, self.size, self.size, size=self.size,
                                           uirevision=f"{self.image_uid}#{self._generation}"))

    def _fail(self, err: Exception) -> None:
        self._show_placeholder()
        self.message.value = (f"<span style='color:#B00'>This image cannot be shown: "
                              f"{escape(err)}</span>")


def _distance_text(measurement: Mapping[str, Any], short: bool = False,
                   problem: str = "") -> str:
    """A measurement in words: ``"Distance 41.3 mm (from PixelSpacing) · 41.3 px"``;
    ``short`` for the label on the line; ``problem`` says why there is no spacing."""
    pixels = f"{measurement['pixels']:.1f} px"
    if measurement["mm"] is None:
        why = problem or "no pixel spacing for this image"
        return pixels if short else f"Distance {pixels} ({why})"
    mm = f"{measurement['mm']:.1f} mm"
    if short:
        return mm
    where = SPACING_SOURCES[measurement["spacing_source"]]
    at = "" if measurement["slice_index"] is None else f" on slice {measurement['slice_index']}"
    return f"Distance {mm} (from {where}) · {pixels}{at}"
