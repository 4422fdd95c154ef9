"""CohortSummary: Table 1 by a chosen group, and the data-quality findings per kind."""

from __future__ import annotations

import ipywidgets as w
import pandas as pd

from covidimg import stats
from covidimg.cohort import Cohort
from covidimg.plotting import empty_figure, plot_table_one
from covidimg.stats.selection import Selection
from covidimg.widgets._controls import GROUPS, check_group
from covidimg.widgets._figures import FigureSlot, FigureView, SelectionView
from covidimg.widgets._html import table as html_table

__all__ = ["CohortSummary"]



class CohortSummary(FigureView, SelectionView, w.VBox):
    """Table 1 of the selection by a chosen group, and its data-quality findings per kind.

    Table 1 is :func:`covidimg.stats.table_one` drawn by :func:`covidimg.plotting.plot_table_one`
    (counts with percentages, medians with quartiles, lab values respecting their intervals,
    tests across groups). The findings table (:func:`covidimg.stats.findings_table`) counts
    what the loaders reported per kind (duplicates dropped, ids remapped, values that could not
    be read, …) for the patients that match.

    Parameters
    ----------
    cohort
        The cohort to summarise.
    by
        Patients column to group Table 1 by, or ``None``.
    selection
        Show this selection of a cohort instead (see :meth:`update_selection`).

    Attributes
    ----------
    figure
        The Table 1 FigureWidget; ``figure.layout.meta`` holds ``covidimg_view="summary"``,
        ``n_patients``, ``by``.
    findings
        ``ipywidgets.HTML`` with the findings per kind.

    Examples
    --------
    >>> import covidimg as ci
    >>> from covidimg.widgets import CohortSummary
    >>> CohortSummary(ci.load_demo(n_patients=12), by="icu")          # doctest: +SKIP
    """

    def __init__(self, cohort: Cohort, *, by: str | None = "icu",
                 selection: Selection | None = None) -> None:
        check_group(by)
        self.by = w.Dropdown(options=list(GROUPS), value=by, description="Group by",
                             layout=w.Layout(width="260px"))
        self.figure_slot = FigureSlot("summary", n_patients=0)
        self._codes: tuple[object, stats.FindingCodes] | None = None
        self.findings = w.HTML()
        self.by.observe(lambda _c: self._redraw_table(), names="value")
        super().__init__([self.by, self.figure_slot,
                          w.HTML("<h4>Data-quality findings of these patients</h4>"),
                          self.findings])
        self.add_class("covidimg-summary")
        if selection is not None:
            self.update_selection(selection)
        else:
            self.update(cohort)

    def update(self, cohort: Cohort) -> None:
        """Summarise ``cohort``."""
        self._show(cohort, None)
        self._redraw_table()
        self._show_findings(stats.findings_table(cohort))

    def update_selection(self, selection: Selection) -> None:
        """Summarise a selection of a cohort (what the :class:`Dashboard` calls on a change)."""
        self._show(None, selection)
        self._redraw_table()
        arrays = selection.arrays
        if self._codes is None or self._codes[0] is not arrays:   # once per cohort
            self._codes = (arrays, stats.FindingCodes.of(arrays.cohort.findings))
        codes = self._codes[1]
        self._show_findings(codes.table(selection.rows("findings")))

    def _show_findings(self, table: pd.DataFrame) -> None:
        if len(table):
            self.findings.value = html_table(table, "covidimg-findings")
        else:
            self.findings.value = "<i>No findings for these patients.</i>"

    def _redraw_table(self) -> None:
        sel = self.selection
        n = sel.n_patients if sel is not None else len(self.cohort.patients)
        if n:
            table = stats.table_one(sel if sel is not None else self.cohort, by=self.by.value)
            fig = plot_table_one.spec(table)
        else:
            fig = empty_figure.spec(
                "Cohort summary", "No patients match the filter: nothing to summarise.")
        self.figure_slot.show(fig, n_patients=n, by=self.by.value)
