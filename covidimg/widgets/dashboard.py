"""Dashboard: the filter beside tabs of every view, all linked."""

from __future__ import annotations

import time

import ipywidgets as w
import numpy as np

from covidimg.cohort import Cohort, Selection
from covidimg.widgets.filter import CohortFilter
from covidimg.widgets.gallery import ImageGallery
from covidimg.widgets.labs import LabDistribution
from covidimg.widgets.serial import SerialComparison
from covidimg.widgets.summary import CohortSummary
from covidimg.widgets.timeline import OffsetTimeline

__all__ = ["Dashboard"]

TAB_TITLES = ("Timeline", "Labs", "Gallery", "Summary", "Course")
GALLERY_TAB = TAB_TITLES.index("Gallery")
COURSE_TAB = TAB_TITLES.index("Course")


class Dashboard(w.HBox):
    """The cohort filter beside tabs of linked views: Timeline, Labs, Gallery, Summary, and
    the Course of one patient.

    Changing a filter updates the view on the tab shown at once (its changes sent as one
    batch); each other view is brought up to date when its tab is shown (or by
    :meth:`refresh`), so a change costs the kernel and the network one view, not four. The
    same holds when the dashboard is made: the tabs not shown draw when first shown.
    Clicking an exam on the timeline opens it in the gallery's viewer and
    switches to the Gallery tab; clicking a patient's lane (the handle at its left end, or
    one of its admission, discharge, ICU or death markers) opens that patient's radiographs
    side by side in day order on the Course tab (:class:`SerialComparison`; also
    :meth:`open_course`). The Course shows every radiograph of the patient, whatever the
    filter (the filter chooses patients, the course is the patient's), and stays as it is
    when the filter changes. Brushing a range of values on the lab histogram, or of days
    on the timeline (box select), sets that range of the filter. An empty selection shows
    "no patients match" in every other view.

    Parameters
    ----------
    cohort
        The cohort to explore (not modified).
    page_size
        Thumbnails per gallery page.

    Attributes
    ----------
    filter, timeline, labs, gallery, summary, course
        The :class:`CohortFilter`, :class:`OffsetTimeline`, :class:`LabDistribution`,
        :class:`ImageGallery`, :class:`CohortSummary` and :class:`SerialComparison`.
    tabs
        The ``ipywidgets.Tab`` holding the views.
    update_time
        ``ipywidgets.HTML`` under the filter saying how long the last update of the shown view
        took in the kernel (its ``data-update`` attribute counts the updates: the page knows
        from it that the view's new state has arrived; the browser benchmark reads both).

    Examples
    --------
    >>> import covidimg as ci
    >>> from covidimg.widgets import Dashboard
    >>> d = Dashboard(ci.load_demo())                   # doctest: +SKIP
    >>> d                                               # doctest: +SKIP
    >>> d.filter.set(icu=True, modality=["CR", "DX"])   # the views follow    # doctest: +SKIP
    >>> d.refresh(); d.summary.table_one                # every view, now     # doctest: +SKIP
    >>> d.open_course("mhh:4ecde8b8")                   # a patient's course  # doctest: +SKIP
    """

    def __init__(self, cohort: Cohort, *, page_size: int = 12) -> None:
        self.cohort = cohort
        self.filter = CohortFilter(cohort)
        start = self.filter.selection
        # The first tab shows the selection now; the hidden ones are made empty and draw it
        # when first shown (or on refresh()): the first page carries no gallery thumbnails,
        # Table 1 or histograms the user has not asked for yet.
        hidden = Selection(start.arrays, np.zeros(start.arrays.n_patients, dtype=bool),
                           np.zeros(start.arrays.n_images, dtype=bool))
        self.timeline = OffsetTimeline(cohort, selection=start)
        self.labs = LabDistribution(cohort, selection=hidden)
        self.gallery = ImageGallery(cohort, page_size=page_size, selection=hidden)
        self.summary = CohortSummary(cohort, selection=hidden)
        self.course = SerialComparison(cohort)
        # The views that follow the filter; the Course (the last tab) shows one patient.
        self.views = (self.timeline, self.labs, self.gallery, self.summary)
        self.tabs = w.Tab([*self.views, self.course], titles=TAB_TITLES,
                          layout=w.Layout(flex="1 1 auto", min_width="0"))
        self.n_updates = 0
        self._pending: Selection | Cohort | None = start    # what stale views are to show
        self._stale: set[int] = set(range(1, len(self.views)))
        self.update_time = w.HTML()
        self.update_time.add_class("covidimg-update-time")
        self.filter.observe_selection(self.update_selection)
        self.tabs.observe(lambda change: self._catch_up(change["new"]), names="selected_index")
        self.timeline.on_exam_click(self.open_exam)
        # Brushing a range of lab values or of exam days sets that range of the filter.
        self.labs.on_brush(lambda analyte, low, high: self.filter.set_range(
            f"lab:{analyte}", low, high))
        self.timeline.day_range_callbacks.append(
            lambda low, high: self.filter.set_range("day", low, high))
        self.timeline.on_patient_click(self.open_course)
        side = w.VBox([self.filter, self.update_time],
                      layout=w.Layout(flex="0 0 auto", width="auto"))
        super().__init__([side, self.tabs], layout=w.Layout(width="100%",
                                                            align_items="flex-start"))
        self.add_class("covidimg-dashboard")

    def update(self, cohort: Cohort) -> None:
        """Show ``cohort`` (from its tables): the shown view now, the others when shown."""
        self._set_pending(cohort)

    def update_selection(self, selection: Selection) -> None:
        """Show a selection of the cohort (what a filter change calls): the shown view now,
        the others when their tab is shown. Each view analyses the selection's masks with
        the row positions the cohort keeps."""
        self._set_pending(selection)

    def refresh(self) -> None:
        """Bring every view up to date now (hidden tabs included), e.g. before reading a
        hidden view's figure from the kernel."""
        for index in sorted(self._stale):
            self._catch_up(index)

    @property
    def stale_views(self) -> tuple[str, ...]:
        """Titles of the tabs whose view has not followed the last change yet."""
        return tuple(TAB_TITLES[i] for i in sorted(self._stale))

    def _set_pending(self, shown: Selection | Cohort) -> None:
        start = time.perf_counter()
        self._pending = shown
        self._stale = set(range(len(self.views)))
        self._catch_up(self.tabs.selected_index)
        self._updated(time.perf_counter() - start)

    def _catch_up(self, index: int | None) -> None:
        index = 0 if index is None else int(index)
        if index not in self._stale or self._pending is None:
            return
        self._stale.discard(index)
        view = self.views[index]
        with view.hold_sync():
            if isinstance(self._pending, Cohort):
                view.update(self._pending)
            else:
                view.update_selection(self._pending)

    def _updated(self, seconds: float) -> None:
        self.n_updates += 1
        self.update_time.value = (
            f"<span data-update='{self.n_updates}' data-ms='{seconds * 1000:.1f}' "
            "style='font-size:0.8em;color:var(--jp-content-font-color2, #777)'>views updated "
            f"in {seconds * 1000:.0f} ms</span>")

    def open_exam(self, image_uid: str) -> None:
        """Open ``image_uid`` in the gallery's viewer and switch to the Gallery tab."""
        self._catch_up(GALLERY_TAB)
        self.gallery.show(image_uid)
        self.tabs.selected_index = GALLERY_TAB

    def open_course(self, patient_uid: str) -> None:
        """Show the radiographs of ``patient_uid`` side by side on the Course tab, and switch
        to it."""
        self.course.load(patient_uid)
        self.tabs.selected_index = COURSE_TAB
