"""CohortSummary: Table 1 by a chosen group, and the data-quality findings per kind."""

from __future__ import annotations

import ipywidgets as w
import pandas as pd

from covidimg import plotting, stats
from covidimg.cohort import Cohort
from covidimg.widgets._figures import FigureSlot, FigureView

__all__ = ["CohortSummary", "findings_table"]

_GROUPS = (("no grouping", None), ("ICU", "icu"), ("died", "died"), ("sex", "sex"),
           ("source", "source"), ("COVID-19 status", "covid_status"))


def findings_table(findings: pd.DataFrame) -> pd.DataFrame:
    """Number of findings per kind and source (most frequent kind first).

    Examples
    --------
    >>> import pandas as pd
    >>> from covidimg.widgets.summary import findings_table
    >>> findings_table(pd.DataFrame({"kind": ["a", "a", "b"], "source": ["x", "y", "x"]}))
      kind  findings sources
    0    a         2    x, y
    1    b         1       x
    """
    if not len(findings):
        return pd.DataFrame(columns=["kind", "findings", "sources"])
    frame = pd.DataFrame({"kind": findings["kind"].astype(str).to_numpy(),
                          "source": findings["source"].astype(str).to_numpy()})
    out = frame.groupby("kind").agg(findings=("source", "size"),
                                    sources=("source", lambda s: ", ".join(sorted(set(s)))))
    return out.sort_values("findings", ascending=False, kind="stable").reset_index()


class CohortSummary(FigureView, w.VBox):
    """Table 1 of the selection by a chosen group, and its data-quality findings per kind.

    Table 1 is :func:`covidimg.stats.table_one` drawn by :func:`covidimg.plotting.plot_table_one`
    (counts with percentages, medians with quartiles, lab values respecting their intervals,
    tests across groups). The findings table counts what the loaders reported per kind
    (duplicates dropped, ids remapped, values that could not be read, …) for the patients
    that match.

    Parameters
    ----------
    cohort
        The cohort to summarise.
    by
        Patients column to group Table 1 by, or ``None``.

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

    def __init__(self, cohort: Cohort, *, by: str | None = "icu") -> None:
        if by not in {v for _l, v in _GROUPS}:
            raise ValueError(f"by={by!r}; allowed values are {[v for _l, v in _GROUPS]}")
        self.by = w.Dropdown(options=list(_GROUPS), value=by, description="Group by",
                             layout=w.Layout(width="260px"))
        self.figure_slot = FigureSlot("summary", n_patients=0)
        self.findings = w.HTML()
        self.by.observe(lambda _c: self._redraw_table(), names="value")
        super().__init__([self.by, self.figure_slot,
                          w.HTML("<h4>Data-quality findings of these patients</h4>"),
                          self.findings])
        self.add_class("covidimg-summary")
        self.update(cohort)

    def update(self, cohort: Cohort) -> None:
        """Summarise ``cohort``."""
        self.cohort = cohort
        self._redraw_table()
        table = findings_table(cohort.findings)
        if len(table):
            self.findings.value = table.to_html(index=False, escape=True, border=0,
                                                classes="covidimg-findings")
        else:
            self.findings.value = "<i>No findings for these patients.</i>"

    def _redraw_table(self) -> None:
        n = len(self.cohort.patients)
        if n:
            fig = plotting.plot_table_one(stats.table_one(self.cohort, by=self.by.value))
        else:
            fig = plotting.empty_figure(
                "Cohort summary", "No patients match the filter: nothing to summarise.")
        self.figure_slot.show(fig, n_patients=n, by=self.by.value)

