"""The timeline's "Show" control: the overview, or one page of lanes picked by its number.

A menu listing every page grows with the selection (~760 entries, all sent to the page, for
45,000 patients); this control is the same three small widgets whatever the number of pages.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as w
import traitlets

__all__ = ["OVERVIEW", "PageChooser"]

#: The :attr:`PageChooser.value` of the overview (the day-by-day census).
OVERVIEW = -1
_OVERVIEW_LABEL = "overview: patients per day"
_LANES_LABEL = "lanes, page"
_ALL_LANES_LABEL = "all lanes"


class PageChooser(w.HBox):
    """Overview or a page of lanes: ``value`` is :data:`OVERVIEW` (-1) or a 0-based page.

    A menu chooses between the overview and the lanes; a number box (1-based, as the user
    reads it) picks the page, and a readout says ``of n · patients a–b``. With one page the
    menu offers only "all lanes" and the number box is hidden.

    Parameters
    ----------
    page_size
        Lanes per page (for the readout's patient range).
    """

    value = traitlets.Int(0)
    n_pages = traitlets.Int(1)
    n_patients = traitlets.Int(0)

    def __init__(self, page_size: int, *, description: str = "Show") -> None:
        self.page_size = page_size
        self._quiet = False
        self.mode = w.Dropdown(options=[_ALL_LANES_LABEL], value=_ALL_LANES_LABEL,
                               description=description, layout=w.Layout(width="300px"))
        self.page = w.BoundedIntText(value=1, min=1, max=1, step=1,
                                     layout=w.Layout(width="90px"))
        self.page.add_class("covidimg-timeline-page")
        self.readout = w.Label(layout=w.Layout(width="auto"))
        self.readout.add_class("covidimg-timeline-page-readout")
        self.mode.observe(self._mode_changed, names="value")
        self.page.observe(self._page_changed, names="value")
        super().__init__([self.mode, self.page, self.readout],
                         layout=w.Layout(align_items="center"))
        self.add_class("covidimg-timeline-show")
        self._sync_controls()

    def set_pages(self, n_patients: int, value: int, *, restart: bool = False) -> None:
        """Set the number of patients (hence of pages) and the value, in one change;
        ``restart``: a new view, whose lanes start again at the first page."""
        n_pages = max(1, -(-n_patients // self.page_size))
        if restart:
            self._quiet = True
            try:
                self.page.value = 1
            finally:
                self._quiet = False
        with self.hold_trait_notifications():
            self.n_patients = n_patients
            self.n_pages = n_pages
            self.value = self._valid(value)
        self._sync_controls()

    def _valid(self, value: int) -> int:
        if value == OVERVIEW:
            return OVERVIEW if self.n_pages > 1 else 0
        return min(max(int(value), 0), self.n_pages - 1)

    @traitlets.validate("value")
    def _check_value(self, proposal: Any) -> int:
        value = int(proposal["value"])
        if value != OVERVIEW and not 0 <= value < max(self.n_pages, 1):
            raise traitlets.TraitError(
                f"value={value!r}; the timeline has pages 0 to {self.n_pages - 1} "
                f"({self.n_patients} patients, {self.page_size} per page), or OVERVIEW (-1)")
        return value

    @traitlets.observe("value")
    def _value_changed(self, _change: Any) -> None:
        self._sync_controls()

    def _sync_controls(self) -> None:
        """Make the menu, the number box and the readout say what ``value`` is."""
        self._quiet = True
        try:
            several = self.n_pages > 1
            options = [_OVERVIEW_LABEL, _LANES_LABEL] if several else [_ALL_LANES_LABEL]
            if list(self.mode.options) != options:
                self.mode.options = options
            overview = self.value == OVERVIEW
            self.mode.value = (_OVERVIEW_LABEL if overview else
                               _LANES_LABEL if several else _ALL_LANES_LABEL)
            # On the overview the box keeps the last page of lanes, to return to it.
            page = min(int(self.page.value), self.n_pages) - 1 if overview else self.value
            with self.page.hold_sync():
                self.page.max = max(self.n_pages, 1)
                self.page.value = page + 1
            shown = several and not overview
            self.page.layout.display = "flex" if shown else "none"
            self.readout.layout.display = "flex" if shown else "none"
            first = page * self.page_size + 1
            last = min((page + 1) * self.page_size, self.n_patients)
            self.readout.value = (f"of {self.n_pages:,} · patients {first:,}–{last:,} "
                                  f"of {self.n_patients:,}")
        finally:
            self._quiet = False

    def _mode_changed(self, change: Any) -> None:
        if self._quiet:
            return
        if change["new"] == _OVERVIEW_LABEL:
            self.value = OVERVIEW
        else:
            self.value = max(int(self.page.value) - 1, 0)

    def _page_changed(self, change: Any) -> None:
        if self._quiet:
            return
        self.value = min(max(int(change["new"]) - 1, 0), self.n_pages - 1)
