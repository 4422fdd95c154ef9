"""LabDistribution: the interval-aware histogram of one analyte, by group."""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as w
import numpy as np

from covidimg import schema, stats
from covidimg.cohort import Cohort
from covidimg.plotting import empty_figure, plot_lab_distribution
from covidimg.stats.selection import Selection, lab_counts
from covidimg.widgets._controls import GROUPS, check_group
from covidimg.widgets._figures import FigureSlot, FigureView, SelectionView, selected_x_range
from covidimg.widgets._html import escape

__all__ = ["LabDistribution"]

_PER_PATIENT = (("every draw", "all"), ("first draw per patient", "first"),
                ("peak per patient", "peak"))


def _analytes(cohort: Cohort) -> list[str]:
    present = set(cohort.labs["analyte"].dropna().astype(str).unique())
    return [a for a in schema.ANALYTES if a in present] + sorted(present - set(schema.ANALYTES))


class LabDistribution(FigureView, SelectionView, w.VBox):
    """Distribution of one lab analyte, each value spread over its interval.

    Values published on a precision grid or below / above a detection limit are intervals,
    not numbers (see :func:`covidimg.stats.interval_histogram`); the figure spreads each
    value over its interval, draws censored values as separate hatched bars and shades the
    reference range. Menus choose the analyte, the grouping (shares per group), and whether
    every draw or one per patient is counted; the toggle puts the count axis on a log scale.
    Dragging across the histogram selects a range of values (a box selection over the value
    axis): the callbacks registered with :meth:`on_brush` receive it (the :class:`Dashboard`
    sets the analyte's filter range from it).

    Parameters
    ----------
    cohort
        The cohort to show.
    analyte
        The analyte shown first (default: the first one measured).
    by
        Patients column to group by (``icu``, ``died``, ``sex``, ``source``, ``covid_status``)
        or ``None``.
    selection
        Show this selection of a cohort instead (see :meth:`update_selection`).

    Attributes
    ----------
    figure
        The FigureWidget; ``figure.layout.meta`` holds ``covidimg_view="labs"``,
        ``analyte``, ``n_values`` and ``n_patients``.

    Examples
    --------
    >>> import covidimg as ci
    >>> from covidimg.widgets import LabDistribution
    >>> LabDistribution(ci.load_demo(n_patients=12), analyte="crp", by="icu")  # doctest: +SKIP
    """

    def __init__(self, cohort: Cohort, analyte: str | None = None, *,
                 by: str | None = "icu", selection: Selection | None = None) -> None:
        names = _analytes(cohort)
        if analyte is not None and analyte not in names:
            raise ValueError(f"analyte={analyte!r} is not measured in this cohort; measured "
                             f"analytes are {names}")
        check_group(by)
        labels = {a: (schema.ANALYTES[a].label if a in schema.ANALYTES else a) for a in names}
        self.analyte = w.Dropdown(options=[(labels[a], a) for a in names] or [("none", None)],
                                  value=analyte or (names[0] if names else None),
                                  description="Analyte", layout=w.Layout(width="280px"))
        self.by = w.Dropdown(options=list(GROUPS), value=by, description="Group by",
                             layout=w.Layout(width="240px"))
        self.per_patient = w.Dropdown(options=list(_PER_PATIENT), value="all",
                                      description="Count", layout=w.Layout(width="280px"))
        self.log_scale = w.ToggleButton(value=False, description="log count axis",
                                        icon="signal", layout=w.Layout(width="140px"))
        self.figure_slot = FigureSlot("labs", n_values=0, n_patients=0)
        self._brush_callbacks: list[Callable[[str, float | None, float | None], None]] = []
        self.figure_slot.on_event("selected", self._brushed)
        # A drag brushes a range of values (zoom stays in the modebar).
        self.figure_slot.layout_extra.update(dragmode="select", selectdirection="h")
        self.message = w.HTML()
        for control in (self.analyte, self.by, self.per_patient):
            control.observe(lambda _c: self._redraw(), names="value")
        self.log_scale.observe(lambda _c: self._redraw(), names="value")
        super().__init__([w.HBox([self.analyte, self.by, self.per_patient, self.log_scale],
                                 layout=w.Layout(flex_flow="row wrap")),
                          self.message, self.figure_slot])
        self.add_class("covidimg-labs")
        if selection is not None:
            self.update_selection(selection)
        else:
            self.update(cohort)

    def update(self, cohort: Cohort) -> None:
        """Show ``cohort`` with the current analyte and grouping."""
        self._show(cohort, None)
        self._redraw()

    def update_selection(self, selection: Selection) -> None:
        """Show a selection of a cohort (what the :class:`Dashboard` calls on a filter change)."""
        self._show(None, selection)
        self._redraw()

    def _redraw(self) -> None:
        analyte = self.analyte.value
        if analyte is None:
            fig = empty_figure.spec("Lab values", "This cohort has no lab values.")
            self.figure_slot.show(fig, analyte=None, n_values=0, n_patients=0)
            return
        sel = self.selection
        if sel is not None:     # counts per distinct interval: the same histogram, faster
            counts = lab_counts(sel, analyte, by=self.by.value,
                                per_patient=self.per_patient.value)
            values = counts.values.assign(analyte=analyte, unit=counts.unit)
            n_values, n_patients = counts.n_values, counts.n_patients
        else:
            values = stats.lab_values(self.cohort, analyte, by=self.by.value,
                                      per_patient=self.per_patient.value)
            n_values = len(values)
            n_patients = int(values["patient_uid"].nunique()) if len(values) else 0
        fig = plot_lab_distribution.spec(stats.lab_histogram(values, analyte),
                                         log_count=self.log_scale.value)
        self.figure_slot.show(fig, analyte=analyte, n_values=n_values,
                              n_patients=n_patients, by=self.by.value)
        self.message.value = ("" if n_values else
                              f"<i>No {escape(analyte)} values for the patients that match.</i>")


    def on_brush(self, callback: Callable[[str, float | None, float | None], None]) -> None:
        """Call ``callback(analyte, low, high)`` when a range of values is brushed.

        An end beyond the histogram's bins (over the bars of values below or above a detection
        limit, or past the data) is ``None``: open, as for :meth:`covidimg.Cohort.filter`.
        """
        self._brush_callbacks.append(callback)

    def _brushed(self, message: dict) -> None:
        span = selected_x_range(message)
        analyte = self.analyte.value
        if span is None or analyte is None:
            return
        low: float | None
        high: float | None
        low, high = span
        edges = self._bin_span()
        if edges is not None:
            low = None if low <= edges[0] else low
            high = None if high >= edges[1] else high
        for callback in list(self._brush_callbacks):
            callback(analyte, low, high)

    def _bin_span(self) -> tuple[float, float] | None:
        """The first and last bin edges of the histogram shown (``None``: no bins)."""
        ends = [np.asarray(trace["customdata"], dtype=float)[:, :2]
                for trace in self.figure_slot.spec["data"]
                if trace.get("type") == "bar" and "detection limit" not in trace.get("name", "")
                and len(trace.get("customdata", ()))]
        if not ends:
            return None
        stacked = np.concatenate(ends)
        return float(stacked[:, 0].min()), float(stacked[:, 1].max())
