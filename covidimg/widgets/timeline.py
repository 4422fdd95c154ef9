"""OffsetTimeline: per-patient swimlanes (or the day-by-day census) with clickable exams."""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as w
import numpy as np

from covidimg import stats
from covidimg._validation import check_choice
from covidimg.cohort import Cohort, Selection
from covidimg.plotting import empty_figure, plot_census, plot_timeline
from covidimg.widgets._figures import FigureSlot, FigureView, SelectionView, selected_x_range
from covidimg.widgets._pager import OVERVIEW, PageChooser

__all__ = ["OVERVIEW", "OffsetTimeline"]

_ALIGN_LABELS = {"admission": "hospital admission", "icu_admission": "ICU admission",
                 "first_exam": "first exam", "death": "death", "none": "cohort day axis"}
_SORT_LABELS = {"admission": "admission day", "icu_admission": "ICU admission day",
                "first_exam": "first exam", "death": "death day", "discharge": "discharge day",
                "last_known": "last known day", "n_exams": "number of exams",
                "follow_up": "follow-up length", "patient_uid": "patient id"}
#: The "Sort by" value for the alignment day (stats.timeline's sort_by=None).
_SORT_BY_DAY = "day"


class OffsetTimeline(FigureView, SelectionView, w.VBox):
    """Patient timelines on an aligned day axis, with exams you can click.

    Up to ``page_size`` patients are drawn as one lane each: hospital and ICU stays as bars,
    admission, discharge and death as markers, exams as circles (hover for modality, view and
    the MHH-convention offsets). Larger selections open on the day-by-day census; the "Show"
    control switches to the lanes, and its page box (``page k of n · patients a–b``) picks a
    page by number, whatever the size of the selection. Clicking an exam calls the callbacks
    registered with :meth:`on_exam_click` with its ``image_uid`` (the :class:`Dashboard` opens
    it in the gallery). Clicking the patient's handle at the left end of a lane (or one of
    its admission, discharge, ICU release or death markers) calls the callbacks registered
    with :meth:`on_patient_click` with its ``patient_uid`` (the :class:`Dashboard` opens the
    patient's radiographs side by side on its Course tab).

    Parameters
    ----------
    cohort
        The cohort to show (typically ``CohortFilter.filtered``).
    align
        Day 0 of the axis, one of :data:`covidimg.stats.ALIGN`.
    page_size
        Lanes per page.
    selection
        Show this selection of a cohort instead (see :meth:`update_selection`).

    Attributes
    ----------
    show
        The "Show" control: ``show.value`` is :data:`OVERVIEW` (-1, the census) or the 0-based
        page of lanes shown.
    figure
        The ``plotly.graph_objects.FigureWidget``; ``figure.layout.meta`` holds
        ``covidimg_view="timeline"``, ``n_patients``, ``n_exams``, ``mode`` (``lanes`` or
        ``census``) and ``page``.

    Examples
    --------
    >>> import covidimg as ci
    >>> from covidimg.widgets import OffsetTimeline
    >>> t = OffsetTimeline(ci.load_demo(n_patients=12))              # doctest: +SKIP
    >>> t.on_exam_click(print)                                       # doctest: +SKIP
    >>> t                                                            # doctest: +SKIP
    """

    def __init__(self, cohort: Cohort, *, align: str = "admission", page_size: int = 60,
                 selection: Selection | None = None) -> None:
        check_choice(align, stats.ALIGN, "align")
        if page_size < 1:
            raise ValueError(f"page_size={page_size!r}; pass a positive number of lanes")
        self.page_size = page_size
        self._callbacks: list[Callable[[str], None]] = []
        self._patient_callbacks: list[Callable[[str], None]] = []
        self._lane_patients: dict[int, str] = {}
        self._updating = False
        self.align = w.Dropdown(options=[(_ALIGN_LABELS[a], a) for a in stats.ALIGN],
                                value=align, description="Align on",
                                layout=w.Layout(width="260px"))
        # Not None for "the alignment day": a Dropdown whose value is None shows blank.
        self.sort_by = w.Dropdown(options=[("the alignment day", _SORT_BY_DAY)]
                                  + [(label, key) for key, label in _SORT_LABELS.items()],
                                  value=_SORT_BY_DAY, description="Sort by",
                                  layout=w.Layout(width="260px"))
        self.show = PageChooser(page_size)
        self.show_labs = w.Checkbox(value=False, description="lab draws", indent=False,
                                    layout=w.Layout(width="110px"))
        self.figure_slot = FigureSlot("timeline", n_patients=0, n_exams=0)
        self.figure_slot.on_click(self._clicked)
        #: Called with ``(first, last)`` when a box selection spans days of the cohort's day
        #: axis (the :class:`Dashboard` sets the exam-day filter from it).
        self.day_range_callbacks: list[Callable[[float, float], None]] = []
        self.figure_slot.on_event("selected", self._brushed)
        self.message = w.HTML()
        for control in (self.align, self.sort_by, self.show_labs):
            control.observe(lambda _c: self._redraw(reset_page=True), names="value")
        self.show.observe(lambda _c: self._redraw(), names="value")
        super().__init__([w.HBox([self.align, self.sort_by, self.show, self.show_labs],
                                 layout=w.Layout(flex_flow="row wrap")),
                          self.message, self.figure_slot])
        self.add_class("covidimg-timeline")
        if selection is not None:
            self.update_selection(selection)
        else:
            self.update(cohort)

    # ------------------------------------------------------------------ public
    def update(self, cohort: Cohort) -> None:
        """Show ``cohort`` (keeps alignment and sorting; back to the first page)."""
        self._show(cohort, None)
        self._redraw(reset_page=True)

    def update_selection(self, selection: Selection) -> None:
        """Show a selection of a cohort (what the :class:`Dashboard` calls on a filter change)."""
        self._show(None, selection)
        self._redraw(reset_page=True)

    def on_exam_click(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(image_uid)`` when an exam marker is clicked."""
        self._callbacks.append(callback)

    def click_exam(self, image_uid: str) -> None:
        """Act as if the exam ``image_uid`` had been clicked (calls the callbacks)."""
        for callback in list(self._callbacks):
            callback(str(image_uid))

    def on_patient_click(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(patient_uid)`` when a patient's lane is clicked (its handle at the
        lane's left end, or one of its admission, discharge, ICU or death markers)."""
        self._patient_callbacks.append(callback)

    def click_patient(self, patient_uid: str) -> None:
        """Act as if the lane of ``patient_uid`` had been clicked (calls the callbacks)."""
        for callback in list(self._patient_callbacks):
            callback(str(patient_uid))

    # ------------------------------------------------------------------ drawing
    def _redraw(self, reset_page: bool = False) -> None:
        if self._updating:
            return
        sel = self.selection
        census = stats.cohort_census(sel if sel is not None else self.cohort, self.align.value)
        n_patients = int(census.attrs.get("n_patients", 0))
        n_pages = int(np.ceil(n_patients / self.page_size)) if n_patients else 0
        page = OVERVIEW if reset_page else self.show.value
        self._updating = True
        try:
            # the overview only when several pages
            self.show.set_pages(n_patients, page, restart=reset_page)
            page = self.show.value
        finally:
            self._updating = False
        self._lane_patients = {}
        if page == OVERVIEW:
            fig = plot_census.spec(census, note=(
                f"{n_patients:,} patients: too many for one lane each; choose 'lanes, page' "
                "in the Show menu and a page number to see them, and click an exam to open it"))
            mode, n_exams = "census", int(census["exams"].sum()) if len(census) else 0
        elif not n_patients:
            fig = empty_figure.spec(f"Patient timelines (0 patients, aligned on "
                                    f"{self.align.value.replace('_', ' ')})",
                                    "No patients to show: the selection is empty.")
            mode, n_exams = "empty", 0
        else:
            cohort = (sel.subset(tables=("patients", "images", "events", "labs"))
                      if sel is not None else self.cohort)
            sort_by = None if self.sort_by.value == _SORT_BY_DAY else self.sort_by.value
            marks = stats.timeline(cohort, self.align.value, sort_by=sort_by,
                                   labs=self.show_labs.value)
            # lanes number the patients the timeline can place (the census counts all)
            n_lanes = int(marks["lane"].max()) + 1 if len(marks) else 0
            if n_lanes != n_patients:
                self._updating = True
                try:
                    self.show.set_pages(n_lanes, page)
                    page = self.show.value
                finally:
                    self._updating = False
                n_pages = int(np.ceil(n_lanes / self.page_size))
            if len(marks):
                lanes = marks.drop_duplicates("lane")
                self._lane_patients = dict(zip(lanes["lane"].astype(int),
                                               lanes["patient_uid"].astype(str), strict=True))
            fig = plot_timeline.spec(marks, page=page if n_pages > 1 else None,
                                     page_size=self.page_size, show_labs=self.show_labs.value)
            mode = "lanes" if n_patients else "empty"
            n_exams = int((marks["kind"] == "exam").sum()) if len(marks) else 0
        self.figure_slot.show(fig, n_patients=n_patients, n_exams=n_exams, mode=mode,
                              page=int(page))
        self.message.value = ("" if n_patients else
                              "<i>No patients match the filter: nothing to draw.</i>")

    def _brushed(self, message: dict) -> None:
        """A box selection on the census or the lanes: its day span goes to
        :attr:`day_range_callbacks`, when the axis is the cohort's day axis (aligned on
        admission, day 0 of ``images.day``, or not aligned); on another alignment a day of the
        axis is a different day for each patient, so the message says so instead."""
        span = selected_x_range(message)
        if span is None:
            return
        if self.align.value not in ("admission", "none"):
            self.message.value = ("<i>Brushing sets the exam-day filter on the cohort's day "
                                  "axis: align on hospital admission or the cohort day axis."
                                  "</i>")
            return
        for callback in list(self.day_range_callbacks):
            callback(*span)

    def _clicked(self, trace_index: int, points: list[int]) -> None:
        traces = self.figure_slot.spec["data"]
        if not 0 <= trace_index < len(traces):
            return
        trace = traces[trace_index]
        if trace.get("name") == "exam":
            custom = trace.get("customdata")
            for index in points:
                if custom is not None and 0 <= index < len(custom):
                    self.click_exam(str(custom[index][-1]))
            return
        # Any other mark of a lane (the patient handle, an event marker, a lab draw drawn
        # 0.3 below its lane) names its patient through its lane, the y of the point.
        y = trace.get("y")
        if y is None or trace.get("customdata") is None or not self._lane_patients:
            return
        for index in points:
            if 0 <= index < len(y) and np.isfinite(float(y[index])):
                patient = self._lane_patients.get(int(np.floor(float(y[index]))))
                if patient is not None:
                    self.click_patient(patient)
