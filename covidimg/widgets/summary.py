"""CohortSummary: Table 1 by a chosen group, and the data-quality findings per kind."""

from __future__ import annotations

import ipywidgets as w
import pandas as pd

from covidimg import stats
from covidimg.cohort import Cohort
from covidimg.plotting.summary import table_one_cells
from covidimg.stats.selection import Selection
from covidimg.widgets._controls import GROUPS, check_group
from covidimg.widgets._figures import SelectionView
from covidimg.widgets._html import escape
from covidimg.widgets._html import table as html_table

__all__ = ["CohortSummary", "table_one_html"]

#: Table 1's look; colours from JupyterLab's theme variables (light and dark), with fallbacks
#: for pages without them.
_STYLE = """<style>
.covidimg-table-one {overflow-x: auto;}
.covidimg-table-one table {border-collapse: collapse; width: 100%;
  font-size: var(--jp-content-font-size1, 13px); color: var(--jp-content-font-color1, #222);}
.covidimg-table-one th, .covidimg-table-one td {text-align: left; padding: 3px 8px;
  vertical-align: top; border: 0;}
.covidimg-table-one thead th {background: var(--jp-layout-color2, #E8ECF0);
  border-bottom: 1px solid var(--jp-border-color1, #BBB);}
.covidimg-table-one tbody.covidimg-shade td {background: var(--jp-layout-color2, #F4F6F8);}
.covidimg-table-one td.covidimg-number {min-width: 4em;}
.covidimg-table-one caption {caption-side: bottom; text-align: left; padding-top: 6px;
  font-size: 11px; color: var(--jp-content-font-color2, #555);}
</style>"""
#: What Table 1's cells mean (as under :func:`covidimg.plotting.plot_table_one`).
NOTE = ("n (%) of patients with a known value; median [IQR]; lab rows: first value per "
        "patient, Turnbull estimate, <x = below detection limit; tests leave out 'unknown'")


def table_one_html(table: pd.DataFrame) -> str:
    """Table 1 (from :func:`covidimg.stats.table_one`) as an HTML table, every text escaped.

    The cells are :func:`covidimg.plotting.table_one_cells`; each variable's rows are one
    ``<tbody>``, shaded every other variable. An HTML table rather than a plotly table: it
    wraps long names, follows the page's theme, can be copied, and draws the same in a tab
    that is hidden when it arrives (plotly's table measures words to wrap them and draws
    every cell holding a space empty when it is drawn hidden).
    """
    header, columns = table_one_cells(table)
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    variables = table.index.get_level_values("variable")
    bodies, rows, shade = [], [], False
    for i in range(len(table)):
        if i and variables[i] != variables[i - 1]:
            bodies.append((shade, rows))
            rows, shade = [], not shade
        cells = "".join(
            f"<td>{escape(col[i])}</td>" if j < 2 or j == len(columns) - 1
            else f'<td class="covidimg-number">{escape(col[i])}</td>'
            for j, col in enumerate(columns))
        rows.append(f"<tr>{cells}</tr>")
    if rows:
        bodies.append((shade, rows))
    shaded = ' class="covidimg-shade"'
    body = "".join(f"<tbody{shaded if s else ''}>{''.join(r)}</tbody>" for s, r in bodies)
    return (f'{_STYLE}<table><caption>{escape(NOTE)}</caption><thead><tr>{head}</tr></thead>'
            f"{body}</table>")



class CohortSummary(SelectionView, w.VBox):
    """Table 1 of the selection by a chosen group, and its data-quality findings per kind.

    Table 1 is :func:`covidimg.stats.table_one` as an HTML table (:func:`table_one_html`; the
    cells of :func:`covidimg.plotting.plot_table_one`): counts with percentages, medians with
    quartiles, lab values respecting their intervals, tests across groups. The findings table
    (:func:`covidimg.stats.findings_table`) counts what the loaders reported per kind
    (duplicates dropped, ids remapped, values that could not be read, …) for the patients that
    match.

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
    table
        ``ipywidgets.HTML`` with Table 1 (class ``covidimg-table-one``).
    table_one
        The Table 1 shown (:func:`covidimg.stats.table_one`), ``None`` when no patient matches.
    meta
        What the table shows: ``covidimg_view="summary"``, ``n_patients``, ``by``.
    findings
        ``ipywidgets.HTML`` with the findings per kind.
    labels
        ``ipywidgets.HTML`` with the expert labels of these patients per scheme and label
        (:func:`covidimg.stats.annotation_summary`).
    sources
        ``ipywidgets.HTML`` with where the data come from, the licence, what to cite and the
        data-use terms (:func:`covidimg.stats.sources_table`, from ``cohort.provenance``).

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
        self.table = w.HTML(layout=w.Layout(width="100%"))
        self.table.add_class("covidimg-table-one")
        self.table_one: pd.DataFrame | None = None
        self.meta: dict = {"covidimg_view": "summary", "n_patients": 0, "by": by}
        self._codes: tuple[object, stats.FindingCodes] | None = None
        self.findings = w.HTML()
        self.labels = w.HTML()
        self.sources = w.HTML()
        self.by.observe(lambda _c: self._redraw_table(), names="value")
        super().__init__([self.by, self.table,
                          w.HTML("<h4>Data-quality findings of these patients</h4>"),
                          self.findings,
                          w.HTML("<h4>Expert labels of these patients</h4>"), self.labels,
                          w.HTML("<h4>Sources: licences, citations and terms</h4>"),
                          self.sources])
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
        self._show_labels_and_sources(cohort.annotations, cohort.provenance)

    def update_selection(self, selection: Selection) -> None:
        """Summarise a selection of a cohort (what the :class:`Dashboard` calls on a change)."""
        self._show(None, selection)
        self._redraw_table()
        arrays = selection.arrays
        if self._codes is None or self._codes[0] is not arrays:   # once per cohort
            self._codes = (arrays, stats.FindingCodes.of(arrays.cohort.findings))
        codes = self._codes[1]
        self._show_findings(codes.table(selection.rows("findings")))
        whole = arrays.cohort
        self._show_labels_and_sources(whole.annotations[selection.rows("annotations")],
                                      whole.provenance[selection.rows("provenance")])

    def _show_labels_and_sources(self, annotations: pd.DataFrame,
                                 provenance: pd.DataFrame) -> None:
        labels = stats.annotation_summary(annotations)
        self.labels.value = (html_table(labels, "covidimg-labels") if len(labels) else
                             "<i>No expert labels for these patients (MHH and CRDW publish "
                             "none).</i>")
        sources = stats.sources_table(provenance)
        self.sources.value = (html_table(sources, "covidimg-sources") if len(sources) else
                              "<i>No source recorded.</i>")

    def _show_findings(self, table: pd.DataFrame) -> None:
        if len(table):
            self.findings.value = html_table(table, "covidimg-findings")
        else:
            self.findings.value = "<i>No findings for these patients.</i>"

    def _redraw_table(self) -> None:
        sel = self.selection
        n = sel.n_patients if sel is not None else len(self.cohort.patients)
        by = self.by.value
        title = "<h4>Cohort summary" + (f" by {escape(self.by.label)}" if by else "") + "</h4>"
        if n:
            self.table_one = stats.table_one(sel if sel is not None else self.cohort, by=by)
            self.table.value = title + table_one_html(self.table_one)
        else:
            self.table_one = None
            self.table.value = (title + "<p><i>No patients match the filter: nothing to "
                                "summarise.</i></p>")
        self.meta = {"covidimg_view": "summary", "n_patients": n, "by": by}
