"""Dashboard: the filter beside tabs of every view, all linked."""

from __future__ import annotations

import time

import ipywidgets as w

from covidimg.cohort import Cohort, Selection
from covidimg.widgets.filter import CohortFilter
from covidimg.widgets.gallery import ImageGallery
from covidimg.widgets.labs import LabDistribution
from covidimg.widgets.summary import CohortSummary
from covidimg.widgets.timeline import OffsetTimeline

__all__ = ["Dashboard"]

TAB_TITLES = ("Timeline", "Labs", "Gallery", "Summary")
GALLERY_TAB = TAB_TITLES.index("Gallery")


class Dashboard(w.HBox):
    """The cohort filter beside tabs of linked views: Timeline, Labs, Gallery, Summary.

    Changing a filter updates every view (hidden tabs too), each with its figure changes
    sent as one batch. Clicking an exam on the timeline opens it in the gallery's viewer and
    switches to the Gallery tab. An empty selection shows "no patients match" in every view.

    Parameters
    ----------
    cohort
        The cohort to explore (not modified).
    page_size
        Thumbnails per gallery page.

    Attributes
    ----------
    filter, timeline, labs, gallery, summary
        The :class:`CohortFilter`, :class:`OffsetTimeline`, :class:`LabDistribution`,
        :class:`ImageGallery` and :class:`CohortSummary`.
    tabs
        The ``ipywidgets.Tab`` holding the views.
    update_time
        ``ipywidgets.HTML`` under the filter saying how long the last update of the views took
        in the kernel (its ``data-update`` attribute counts the updates: the page knows from it
        that every view's new state has arrived; the browser benchmark reads both).

    Examples
    --------
    >>> import covidimg as ci
    >>> from covidimg.widgets import Dashboard
    >>> d = Dashboard(ci.load_demo())                   # doctest: +SKIP
    >>> d                                               # doctest: +SKIP
    >>> d.filter.set(icu=True, modality=["CR", "DX"])   # every view follows   # doctest: +SKIP
    """

    def __init__(self, cohort: Cohort, *, page_size: int = 12) -> None:
        self.cohort = cohort
        self.filter = CohortFilter(cohort)
        start = self.filter.selection
        self.timeline = OffsetTimeline(cohort, selection=start)
        self.labs = LabDistribution(cohort, selection=start)
        self.gallery = ImageGallery(cohort, page_size=page_size, selection=start)
        self.summary = CohortSummary(cohort, selection=start)
        self.views = (self.timeline, self.labs, self.gallery, self.summary)
        self.tabs = w.Tab(list(self.views), titles=TAB_TITLES,
                          layout=w.Layout(flex="1 1 auto", min_width="0"))
        self.n_updates = 0
        self.update_time = w.HTML()
        self.update_time.add_class("covidimg-update-time")
        self.filter.observe_selection(self.update_selection)
        self.timeline.on_exam_click(self.open_exam)
        side = w.VBox([self.filter, self.update_time],
                      layout=w.Layout(flex="0 0 auto", width="auto"))
        super().__init__([side, self.tabs], layout=w.Layout(width="100%",
                                                            align_items="flex-start"))
        self.add_class("covidimg-dashboard")

    def update(self, cohort: Cohort) -> None:
        """Show ``cohort`` in every view (from its tables)."""
        for view in self.views:
            with view.hold_sync():
                view.update(cohort)

    def update_selection(self, selection: Selection) -> None:
        """Show a selection of the cohort in every view (what a filter change calls): each
        view analyses the selection's masks with the row positions the cohort keeps."""
        start = time.perf_counter()
        for view in self.views:
            with view.hold_sync():
                view.update_selection(selection)
        self._updated(time.perf_counter() - start)

    def _updated(self, seconds: float) -> None:
        self.n_updates += 1
        self.update_time.value = (
            f"<span data-update='{self.n_updates}' data-ms='{seconds * 1000:.1f}' "
            "style='font-size:0.8em;color:var(--jp-content-font-color2, #777)'>views updated "
            f"in {seconds * 1000:.0f} ms</span>")

    def open_exam(self, image_uid: str) -> None:
        """Open ``image_uid`` in the gallery's viewer and switch to the Gallery tab."""
        self.gallery.show(image_uid)
        self.tabs.selected_index = GALLERY_TAB
