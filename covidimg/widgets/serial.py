"""SerialComparison: one patient's radiographs side by side in day order, one window for all."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import ipywidgets as w
import numpy as np
import pandas as pd

from covidimg import imaging, stats
from covidimg.cohort import Cohort
from covidimg.imaging.thumbnails import browser_jpeg, render_jpeg
from covidimg.sources import idc
from covidimg.widgets._html import escape
from covidimg.widgets._window import (
    CUSTOM,
    fit_sliders,
    show_custom,
    window_controls,
    windowed,
)

__all__ = ["SerialComparison"]

#: What each offset column is called in a caption.
_OFFSET_LABELS = {"admission_offset": "admission", "icu_admission_offset": "ICU admission",
                  "icu_release_offset": "ICU release", "death_offset": "death"}
#: Short analyte names for captions (others: the analyte's name with spaces).
_SHORT = {"crp": "CRP", "d_dimer": "D-dimer", "ldh": "LDH", "po2": "pO2", "pco2": "pCO2",
          "fio2": "FiO2", "factor_xiii": "factor XIII", "troponin_i": "troponin I"}
_READ_ERRORS = (imaging.ImageReadError, OSError, ValueError, IndexError)


def _number(value: float) -> str:
    return f"{value:.4g}"


def _offset_text(value: Any) -> str:
    """An MHH-convention offset as a caption says it: ``+3 d``, ``-2 d``, or ``–`` (none)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "–"
    return "–" if not np.isfinite(v) else f"{v:+g} d"


def _value_text(lower: float, upper: float) -> str:
    """A lab interval as a caption says it: ``97``, ``< 0.5``, ``> 300`` or ``[30, 31)``."""
    if lower == upper:
        return _number(lower)
    if np.isneginf(lower):
        return f"< {_number(upper)}"
    if np.isposinf(upper):
        return f"> {_number(lower)}"
    return f"[{_number(lower)}, {_number(upper)})"


def _when_text(days: float) -> str:
    if days == 0:
        return "same day"
    return f"{abs(days):g} d {'before' if days < 0 else 'after'}"


def _day_text(day: Any) -> str:
    try:
        d = float(day)
    except (TypeError, ValueError):
        return "day ?"
    return f"day {d:g}" if np.isfinite(d) else "day ?"


class SerialComparison(w.VBox):
    """A patient's radiographs side by side in day order: reading a course.

    Each radiograph (``CR`` or ``DX``) is captioned with its day, its MHH-convention offsets
    to hospital admission, ICU admission, ICU release and death as the ``images`` table holds
    them (days from the exam to the event, negative = the event came before the exam), and,
    per analyte, the lab draw nearest the exam (:func:`covidimg.stats.nearest_labs`). One
    window control applies to every image: a preset (``auto`` stretches each image's own
    percentiles; the CT presets are in modality units) or a level and width, which then hold
    for all. CT and MR series are volumes, not projections: they are not laid out here (the
    header counts them; the gallery's viewer opens them).

    Images are read only for the page shown (``per_page`` at a time, default 6) and kept for
    the last two pages. Captions hold harmonized fields only (never a DICOM header's names,
    dates or institution); every text is escaped.

    Parameters
    ----------
    cohort
        The cohort holding the patient (its ``images`` and ``labs``).
    patient_uid
        The patient to show first (or ``None``: empty until :meth:`load`).
    per_page
        Radiographs per page.
    size
        Side of each image in pixels.
    within
        Show only lab draws at most this many days from the exam (default: the nearest at
        any distance, with its distance in the caption).

    Attributes
    ----------
    preset, level, width
        The linked window controls (a ``Dropdown`` and two ``FloatSlider`` s).
    exams
        The radiographs of the patient in day order (:func:`covidimg.stats.serial_exams`).
    labs
        The nearest draws (:func:`covidimg.stats.nearest_labs` of :attr:`exams`).

    Examples
    --------
    >>> import covidimg as ci
    >>> from covidimg.widgets import SerialComparison
    >>> cohort = ci.load_demo(n_patients=12)                              # doctest: +SKIP
    >>> s = SerialComparison(cohort, "mhh:4ecde8b8")                      # doctest: +SKIP
    >>> s.preset.value = "bone"            # every image follows          # doctest: +SKIP
    """

    def __init__(self, cohort: Cohort, patient_uid: str | None = None, *, per_page: int = 6,
                 size: int = 256, within: float | None = None,
                 modalities: Sequence[str] = stats.RADIOGRAPH_MODALITIES) -> None:
        if per_page < 1:
            raise ValueError(f"per_page={per_page!r}; pass a positive number of images")
        self.cohort = cohort
        self.per_page = per_page
        self.size = size
        self._placeholder = browser_jpeg(imaging.placeholder(size))  # for an unreadable image
        self.within = within
        self.modalities = tuple(modalities)
        self.exams = pd.DataFrame()
        self.labs = pd.DataFrame()
        self._labs_by_image: dict[str, pd.DataFrame] = {}
        self._patient: str | None = None
        self._page = 0
        self._pixels: OrderedDict[str, np.ndarray] = OrderedDict()
        self._quiet = False
        self.title = w.HTML("<i>No patient chosen: click a patient's lane on the timeline, or "
                            "call <code>load(patient_uid)</code>.</i>")
        self.title.add_class("covidimg-serial-title")
        self.preset, self.level, self.width = window_controls(
            "custom (sliders, all images)", slider_width="360px")
        self.previous_button = w.Button(description="Previous", icon="arrow-left",
                                        layout=w.Layout(width="110px"))
        self.next_button = w.Button(description="Next", icon="arrow-right",
                                    layout=w.Layout(width="110px"))
        self.page_label = w.Label()
        self.previous_button.on_click(lambda _b: self.previous_page())
        self.next_button.on_click(lambda _b: self.next_page())
        self.preset.observe(self._preset_changed, names="value")
        self.level.observe(self._slider_changed, names="value")
        self.width.observe(self._slider_changed, names="value")
        self._cells: list[tuple[w.VBox, w.Image, w.HTML]] = []
        for _ in range(per_page):
            image = w.Image(format="jpeg", layout=w.Layout(width=f"{size}px",
                                                          height=f"{size}px"))
            text = w.HTML(layout=w.Layout(width=f"{size}px"))
            text.add_class("covidimg-serial-caption")
            cell = w.VBox([image, text], layout=w.Layout(display="none", margin="0 8px 8px 0"))
            cell.add_class("covidimg-serial-cell")
            self._cells.append((cell, image, text))
        self.grid = w.HBox([c for c, _i, _t in self._cells],
                           layout=w.Layout(flex_flow="row wrap", align_items="flex-start"))
        self.controls = w.HBox([self.preset, self.level, self.width],
                               layout=w.Layout(flex_flow="row wrap"))
        self.pager = w.HBox([self.previous_button, self.page_label, self.next_button],
                            layout=w.Layout(align_items="center"))
        super().__init__([self.title, self.controls, self.pager, self.grid])
        self.add_class("covidimg-serial")
        self._show_controls(False)
        if patient_uid is not None:
            self.load(patient_uid)

    # ------------------------------------------------------------------ public
    @property
    def patient_uid(self) -> str | None:
        """The patient shown, or ``None``."""
        return self._patient

    @property
    def image_uids(self) -> list[str]:
        """Every radiograph of the patient, in day order (all pages)."""
        return [str(u) for u in self.exams["image_uid"]] if len(self.exams) else []

    @property
    def n_pages(self) -> int:
        """Number of pages (at least 1)."""
        return max(1, -(-len(self.exams) // self.per_page))

    @property
    def page(self) -> int:
        """The page shown (0-based)."""
        return self._page

    @property
    def page_uids(self) -> list[str]:
        """The radiographs on the page shown, in day order."""
        return self.image_uids[self._page * self.per_page:(self._page + 1) * self.per_page]

    @property
    def images(self) -> list[bytes]:
        """The JPEG of each radiograph on the page, as drawn now."""
        return [bytes(image.value) for _c, image, _t in self._cells[:len(self.page_uids)]]

    @property
    def captions(self) -> list[str]:
        """The caption of each radiograph on the page, as plain text (one line per part)."""
        return [self._caption_lines(row) for row in self._page_rows()]

    def load(self, patient_uid: str) -> None:
        """Show the radiographs of ``patient_uid`` (first page, window back to ``auto``)."""
        exams = stats.serial_exams(self.cohort, patient_uid, modalities=self.modalities)
        self._patient = str(patient_uid)
        self.exams = exams
        self.labs = stats.nearest_labs(self.cohort, exams, within=self.within)
        self._labs_by_image = {str(k): g for k, g in self.labs.groupby("image_uid", sort=False)}
        self._pixels.clear()
        self._page = 0
        self.title.value = self._title_html()
        self._show_controls(len(exams) > 0)
        self._quiet = True
        try:
            self.preset.value = "auto"
        finally:
            self._quiet = False
        self._draw_page(fit=True)

    def go_to_page(self, page: int) -> None:
        """Show page ``page`` (0-based; clamped to the pages there are)."""
        self._page = min(max(int(page), 0), self.n_pages - 1)
        self._draw_page(fit=False)

    def next_page(self) -> None:
        """Show the next page of radiographs."""
        self.go_to_page(self._page + 1)

    def previous_page(self) -> None:
        """Show the previous page of radiographs."""
        self.go_to_page(self._page - 1)

    # ------------------------------------------------------------------ text
    def _page_rows(self) -> list[dict[str, Any]]:
        start = self._page * self.per_page
        return self.exams.iloc[start:start + self.per_page].to_dict("records")

    def _title_html(self) -> str:
        n = len(self.exams)
        other = self.exams.attrs.get("other_modalities", {})
        parts = [f"<b>{escape(self._patient)}</b>: {n} radiograph{'s' if n != 1 else ''} "
                 "in day order"]
        if other:
            listed = ", ".join(f"{count} {escape(modality)}" for modality, count in other.items())
            parts.append(f"not compared here: {listed} (volumes, not projections; the "
                         "gallery's viewer opens them)")
        if not n:
            parts.append("<i>this patient has no radiograph to compare</i>")
        return ("<div>" + " · ".join(parts) + "</div><div style='font-size:0.85em;"
                "color:var(--jp-content-font-color2, #666)'>Offsets: days from the exam to the "
                "event as the images table holds them (MHH convention; negative = before the "
                "exam). Labs: per analyte, the draw nearest the exam.</div>")

    def _lab_lines(self, image_uid: str) -> list[str]:
        rows = self._labs_by_image.get(image_uid)
        if rows is None:
            return []
        lines = []
        for lab in rows.to_dict("records"):
            name = str(lab["analyte"])
            short = _SHORT.get(name, name.replace("_", " "))
            unit = "" if pd.isna(lab["unit"]) or lab["unit"] == "" else f" {lab['unit']}"
            lines.append(f"{short} {_value_text(float(lab['lower']), float(lab['upper']))}{unit}"
                         f" ({_when_text(float(lab['days_from_exam']))})")
        return lines

    def _caption_parts(self, row: dict[str, Any]) -> tuple[str, str, list[str]]:
        head = f"{_day_text(row.get('day'))} · {row.get('modality')} {row.get('view')}"
        offsets = " · ".join(f"{label} {_offset_text(row.get(column))}"
                             for column, label in _OFFSET_LABELS.items())
        return head, offsets, self._lab_lines(str(row.get("image_uid")))

    def _caption_lines(self, row: dict[str, Any]) -> str:
        head, offsets, labs = self._caption_parts(row)
        return "\n".join([head, offsets, *labs])

    def _caption_html(self, row: dict[str, Any], note: str = "") -> str:
        head, offsets, labs = self._caption_parts(row)
        small = "font-size:0.85em;line-height:1.3"
        lab_html = ("<br>".join(escape(line) for line in labs) if labs
                    else "<i>no lab draw</i>")
        return (f"<div style='{small}'><b>{escape(head)}</b><br>{escape(offsets)}"
                f"<br><span style='color:var(--jp-content-font-color2, #555)'>{lab_html}</span>"
                + (f"<br><span style='color:#B00'>{escape(note)}</span>" if note else "")
                + "</div>")

    # ------------------------------------------------------------------ drawing
    def _show_controls(self, visible: bool) -> None:
        self.controls.layout.display = "flex" if visible else "none"
        self.pager.layout.display = "flex" if visible and self.n_pages > 1 else "none"

    def _read(self, row: dict[str, Any]) -> np.ndarray:
        uid = str(row["image_uid"])
        if uid not in self._pixels:
            pixels = imaging.read_image(row, voi=False)
            self._pixels[uid] = pixels if pixels.ndim == 2 else pixels[pixels.shape[0] // 2]
            while len(self._pixels) > 2 * self.per_page:
                self._pixels.popitem(last=False)
        self._pixels.move_to_end(uid)
        return self._pixels[uid]

    def _page_pixels(self) -> list[tuple[dict[str, Any], np.ndarray | None, str]]:
        out: list[tuple[dict[str, Any], np.ndarray | None, str]] = []
        for row in self._page_rows():
            if idc.is_remote(row.get("path")):
                out.append((row, None, "not downloaded yet (cohort.download())"))
                continue
            try:
                out.append((row, self._read(row), ""))
            except _READ_ERRORS as err:
                out.append((row, None, f"cannot be shown: {err}"))
        return out

    def _draw_page(self, *, fit: bool) -> None:
        self.page_label.value = f"page {self._page + 1} of {self.n_pages}"
        self.previous_button.disabled = self._page == 0
        self.next_button.disabled = self._page >= self.n_pages - 1
        shown = self._page_pixels()
        if fit or self.preset.value != CUSTOM:
            self._fit_sliders([p for _r, p, _n in shown if p is not None])
        self._render(shown)

    def _render(self, shown: list[tuple[dict[str, Any], np.ndarray | None, str]] | None = None
                ) -> None:
        shown = self._page_pixels() if shown is None else shown
        for index, (cell, image, text) in enumerate(self._cells):
            if index >= len(shown):
                cell.layout.display = "none"
                continue
            row, pixels, note = shown[index]
            if pixels is None:
                image.value = self._placeholder
            else:
                image.value = render_jpeg(windowed(pixels, self.preset, self.level, self.width),
                                          self.size)
            text.value = self._caption_html(row, note)
            cell.layout.display = "flex"

    def _fit_sliders(self, pixels: list[np.ndarray]) -> None:
        """Slider ranges covering the page's images and every preset; values: the preset's
        window on the page's first image (a starting point for a custom window)."""
        if not pixels:
            return
        name = "auto" if self.preset.value == CUSTOM else self.preset.value
        low, high = imaging.window_bounds(pixels[0], name)
        self._quiet = True
        try:
            fit_sliders(self.level, self.width, pixels, (low + high) / 2, max(high - low, 1.0))
        finally:
            self._quiet = False

    def _preset_changed(self, _change: Any) -> None:
        if self._quiet or not len(self.exams):
            return
        shown = self._page_pixels()
        if self.preset.value != CUSTOM:
            self._fit_sliders([p for _r, p, _n in shown if p is not None])
        self._render(shown)

    def _slider_changed(self, _change: Any) -> None:
        if self._quiet or not len(self.exams):
            return
        self._quiet = True
        try:
            show_custom(self.preset)
        finally:
            self._quiet = False
        self._render()

