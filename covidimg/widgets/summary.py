"""CohortSummary: Table 1 by a chosen group, and the data-quality findings per kind."""

from __future__ import annotations

import ipywidgets as w
import numpy as np
import pandas as pd

from covidimg import stats
from covidimg.cohort import Cohort
from covidimg.plotting._style import empty_spec
from covidimg.plotting.summary import table_one_spec
from covidimg.stats.selection import Selection
from covidimg.widgets._figures import FigureSlot, FigureView, SelectionView

__all__ = ["CohortSummary", "findings_counts", "findings_table"]

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
    kind, kinds = pd.factorize(findings["kind"].astype(str).to_numpy(dtype=object), sort=True)
    source, sources = pd.factorize(findings["source"].astype(str).to_numpy(dtype=object),
                                   sort=True)
    return findings_counts(np.asarray(kind), list(kinds), np.asarray(source), list(sources))


def findings_counts(kind: np.ndarray, kinds: list[str], source: np.ndarray,
                    sources: list[str]) -> pd.DataFrame:
    """:func:`findings_table` from codes: each finding's kind and source as positions in the
    sorted lists ``kinds`` and ``sources``."""
    if not kind.size:
        return pd.DataFrame(columns=["kind", "findings", "sources"])
    pairs = np.bincount(kind * len(sources) + source,
                        minlength=len(kinds) * len(sources)).reshape(len(kinds), len(sources))
    n = pairs.sum(axis=1)
    present = np.flatnonzero(n)
    out = pd.DataFrame({
        "kind": [kinds[k] for k in present], "findings": n[present],
        "sources": [", ".join(sources[j] for j in np.flatnonzero(pairs[k])) for k in present]})
    order = np.argsort(-out["findings"].to_numpy(), kind="stable")
    return out.iloc[order].reset_index(drop=True)


class CohortSummary(FigureView, SelectionView, w.VBox):
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
        if by not in {v for _l, v in _GROUPS}:
            raise ValueError(f"by={by!r}; allowed values are {[v for _l, v in _GROUPS]}")
        self.by = w.Dropdown(options=list(_GROUPS), value=by, description="Group by",
                             layout=w.Layout(width="260px"))
        self.figure_slot = FigureSlot("summary", n_patients=0)
        self._codes: tuple | None = None
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
        self._show_findings(cohort.findings)

    def update_selection(self, selection: Selection) -> None:
        """Summarise a selection of a cohort (what the :class:`Dashboard` calls on a change)."""
        self._show(None, selection)
        self._redraw_table()
        arrays = selection.arrays
        if self._codes is None or self._codes[0] is not arrays:
            findings = arrays.cohort.findings
            kind, kinds = pd.factorize(findings["kind"].astype(str).to_numpy(dtype=object),
                                       sort=True)
            source, sources = pd.factorize(
                findings["source"].astype(str).to_numpy(dtype=object), sort=True)
            self._codes = (arrays, np.asarray(kind), list(kinds), np.asarray(source),
                           list(sources))
        _arrays, kind, kinds, source, sources = self._codes
        rows = selection.rows("findings")
        self._show_table(findings_counts(kind[rows], kinds, source[rows], sources))

    def _show_findings(self, findings: pd.DataFrame) -> None:
        self._show_table(findings_table(findings))

    def _show_table(self, table: pd.DataFrame) -> None:
        if len(table):
            self.findings.value = table.to_html(index=False, escape=True, border=0,
                                                classes="covidimg-findings")
        else:
            self.findings.value = "<i>No findings for these patients.</i>"

    def _redraw_table(self) -> None:
        sel = self.selection
        n = sel.n_patients if sel is not None else len(self.cohort.patients)
        if n:
            table = stats.table_one(sel if sel is not None else self.cohort, by=self.by.value)
            fig = table_one_spec(table)
        else:
            fig = empty_spec(
                "Cohort summary", "No patients match the filter: nothing to summarise.")
        self.figure_slot.show(fig, n_patients=n, by=self.by.value)

