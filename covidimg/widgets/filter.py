"""CohortFilter: controls generated from the schema and the cohort's values, with a live count."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import ipywidgets as w
import numpy as np
import pandas as pd

from covidimg import schema
from covidimg._validation import check_choice
from covidimg.cohort import (
    Cohort,
    Criteria,
    FilterTextError,
    Selection,
    parse_filter,
    parse_filter_query,
)
from covidimg.widgets._controls import MultiChoice, RangeChoice, YesNoAny
from covidimg.widgets._html import escape
from covidimg.widgets._share import SharePanel

__all__ = ["CohortFilter"]

#: Multi-choice controls: (filter keyword, table, label).
CHOICES = (("source", "patients", "Source"), ("sex", "patients", "Sex"),
           ("covid_status", "patients", "COVID-19"), ("modality", "images", "Modality"),
           ("view", "images", "View"))
#: Yes / no / any controls.
FLAGS = (("icu", "ICU"), ("died", "Died"))
#: More multi-choice controls, shown (under "More facets") when the cohort holds 2 to
#: :data:`MAX_FACET_VALUES` values: (filter keyword, table, column, label).
MORE_CHOICES = (("site", "patients", "site", "Site"), ("split", "patients", "split", "Split"),
                ("exam", "images", "exam", "Exam"),
                ("annotation", "annotations", "label", "Expert label"))
#: A facet with more values than this is not offered as buttons (filter in code instead).
MAX_FACET_VALUES = 16


def _present(frame: pd.DataFrame, column: str, table: str) -> list[str]:
    """Values of a column present in the cohort, in the schema's order where it has one."""
    if column not in frame.columns:
        return []
    values = set(frame[column].dropna().astype(str).unique())
    allowed = schema.TABLES[table].column(column).allowed
    if allowed:
        return [v for v in allowed if v in values] + sorted(values - set(allowed))
    return sorted(values)


class CohortFilter(w.VBox):
    """The filter panel: one control per criterion of :meth:`covidimg.Cohort.filter`.

    Controls are generated from the schema and the values the cohort actually holds: source,
    sex, COVID-19 status, modality and view as toggle buttons (none pressed = any), ICU and
    death as yes / no / any, age band and exam-day window as range sliders; under "More
    facets" site, split, exam and expert label, and under "Clinical observations" each
    harmonized observation field (ethnicity, race, comorbidities, smoking, ventilation,
    scores, ...), when the cohort holds 2 to 16 of its values; and one range slider per
    measured analyte. A control left at "any" (or at its full span) is inactive.
    The match count under the controls updates as they change, and observers receive the
    filtered cohort after every change. Every change goes through the cohort's one filter
    engine (:meth:`covidimg.Cohort.select`: criteria -> masks over row positions kept with the
    cohort), so :attr:`filtered` is ``cohort.filter(**criteria)``.

    The "Share this filter" panel shows the current filter as a ``cohort.filter(...)`` call
    (:attr:`share_text`) and as a link to the app with the filter in its ``?filter=`` URL
    parameter (:attr:`share_url`); a call or link pasted there is applied with Apply
    (:meth:`apply_text`), checked first, a bad one refused with a one-line message
    (:attr:`error`). Brushing a range on the dashboard's histogram or timeline calls
    :meth:`set_range`.

    Parameters
    ----------
    cohort
        The cohort to filter (not modified).
    lab_match
        How a lab range matches a measurement interval, as for :meth:`covidimg.Cohort.filter`.

    Attributes
    ----------
    controls
        Mapping of filter keyword (``labs`` analytes as ``lab:<analyte>``) to control.
    match_count
        ``ipywidgets.HTML``: "12 of 30 patients · 80 of 200 images match".

    Examples
    --------
    >>> import covidimg as ci
    >>> from covidimg.widgets import CohortFilter
    >>> f = CohortFilter(ci.load_demo(n_patients=12))           # doctest: +SKIP
    >>> f.set(sex="F", icu=True)                                # doctest: +SKIP
    >>> f.criteria                                              # doctest: +SKIP
    {'sex': ['F'], 'icu': True}
    >>> f.observe_filtered(lambda sub: print(len(sub.patients)))  # doctest: +SKIP
    >>> f                                                       # doctest: +SKIP
    """

    def __init__(self, cohort: Cohort, *, lab_match: str = "overlap") -> None:
        Criteria(lab_match=lab_match)   # checks it
        self.cohort = cohort
        self.lab_match = lab_match
        self._observers: list[Callable[[Cohort], None]] = []
        self._selection_observers: list[Callable[[Selection], None]] = []
        self._holding = 0
        self._dirty = False
        self._selection: Selection = cohort.select()
        self._criteria: dict[str, Any] = {}
        self.controls: dict[str, Any] = {}
        for name, table, label in CHOICES:
            options = _present(getattr(cohort, table), name, table)
            self.controls[name] = MultiChoice(name, label, options)
        for name, label in FLAGS:
            self.controls[name] = YesNoAny(name, label)
        ages = cohort.patients[["age_min", "age_max"]].to_numpy(dtype=float)
        finite = ages[np.isfinite(ages)]
        self.controls["age"] = RangeChoice(
            "age", "Age (years)", float(finite.min()) if finite.size else np.nan,
            float(finite.max()) if finite.size else np.nan, step=1.0)
        days = cohort.images["day"].to_numpy(dtype=float)
        days = days[np.isfinite(days)]
        self.controls["day"] = RangeChoice(
            "day", "Exam day", float(np.floor(days.min())) if days.size else np.nan,
            float(np.ceil(days.max())) if days.size else np.nan, step=1.0)
        more_boxes = []
        for name, table, column, label in MORE_CHOICES:
            options = _present(getattr(cohort, table), column, table)
            if 2 <= len(options) <= MAX_FACET_VALUES:
                self.controls[name] = MultiChoice(name, label, options)
                more_boxes.append(self.controls[name])
        observation_boxes = []
        for field, values in _observation_facets(cohort.observations).items():
            control = MultiChoice(f"obs-{field}", field.replace("_", " ").capitalize(), values)
            self.controls[f"obs:{field}"] = control
            observation_boxes.append(control)
        lab_boxes = []
        for analyte in self.analytes:
            rows = cohort.labs[cohort.labs["analyte"].astype(str) == analyte]
            bounds = np.concatenate([rows["lower"].to_numpy(float), rows["upper"].to_numpy(float)])
            bounds = bounds[np.isfinite(bounds)]
            info = schema.ANALYTES.get(analyte)
            unit = info.unit if info else str(rows["unit"].iloc[0])
            label = f"{info.label if info else analyte} ({unit})"
            control = RangeChoice(f"lab-{analyte}", label,
                                  float(bounds.min()) if bounds.size else np.nan,
                                  float(bounds.max()) if bounds.size else np.nan)
            self.controls[f"lab:{analyte}"] = control
            lab_boxes.append(control)
        for control in self.controls.values():
            control.watch(self._changed)
        self.match_count = w.HTML()
        self.match_count.add_class("covidimg-match-count")
        self.reset_button = w.Button(description="Reset filters", icon="undo",
                                     tooltip="Clear every criterion")
        self.reset_button.add_class("covidimg-reset")
        self.reset_button.on_click(lambda _b: self.reset())
        #: One line saying why a pasted filter or the page's ``?filter=`` was not applied.
        self.error = w.HTML()
        self.error.add_class("covidimg-filter-error")
        self.share = SharePanel(self.apply_text)
        panels = [(title, boxes) for title, boxes in (
            ("More facets", more_boxes), ("Clinical observations", observation_boxes),
            ("Lab values", lab_boxes), ("Share this filter", [self.share])) if boxes]
        labs_panel = w.Accordion([w.VBox(boxes) for _t, boxes in panels],
                                 titles=tuple(t for t, _b in panels))
        main = [self.controls[n] for n, _t, _l in CHOICES[:3]]
        main += [self.controls["icu"], self.controls["died"], self.controls["age"]]
        main += [self.controls[n] for n, _t, _l in CHOICES[3:]] + [self.controls["day"]]
        # A range's readout ("0.100 – 9.75") gets its own width, not what the slider leaves.
        style = ("<style>.covidimg-filter .widget-readout {min-width: 88px; "
                 "overflow: visible;}</style>")
        super().__init__([w.HTML(style + "<h3 style='margin:4px 0'>Filter the cohort</h3>"),
                          self.match_count, self.error, *main, labs_panel,
                          self.reset_button],
                         layout=w.Layout(width="390px", min_width="390px"))
        self.add_class("covidimg-filter")
        self._recompute()

    # ------------------------------------------------------------------ reading
    @property
    def analytes(self) -> list[str]:
        """Analytes measured in the cohort, in the schema's order."""
        present = set(self.cohort.labs["analyte"].dropna().astype(str).unique())
        return [a for a in schema.ANALYTES if a in present] + sorted(present - set(
            schema.ANALYTES))

    @property
    def criteria(self) -> dict[str, Any]:
        """Keyword arguments for :meth:`covidimg.Cohort.filter` (active criteria only)."""
        return dict(self._criteria)

    @property
    def filtered(self) -> Cohort:
        """The cohort restricted to the current criteria, equal to ``cohort.filter(**criteria)``.

        Its tables are built on first access after a change (the views work from
        :attr:`selection` and do not need them).
        """
        return self._selection.cohort

    @property
    def selection(self) -> Selection:
        """The patients and images the criteria keep, as masks (see
        :class:`covidimg.cohort.Selection`)."""
        return self._selection

    def _read_criteria(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        labs: dict[str, tuple[float | None, float | None]] = {}
        observed: dict[str, Any] = {}
        for key, control in self.controls.items():
            value = control.criterion()
            if value is None:
                continue
            if key.startswith("lab:"):
                labs[key[4:]] = value
            elif key.startswith("obs:"):
                observed[key[4:]] = value
            else:
                out[key] = value
        if labs:
            out["labs"] = labs
        if observed:
            out["observations"] = observed
        if labs and self.lab_match != "overlap":
            out["lab_match"] = self.lab_match
        return out

    # ------------------------------------------------------------------ changing
    def set(self, **criteria: Any) -> None:
        """Set several controls at once (one recomputation, one notification).

        Keywords are those of :meth:`covidimg.Cohort.filter`; ``labs`` is a mapping of
        analyte to ``(low, high)``. Controls not named keep their value.

        Raises
        ------
        ValueError
            Unknown keyword, a value the cohort does not hold, or a malformed range.
        """
        known = {k for k in self.controls if not k.startswith(("lab:", "obs:"))} | {
            "labs", "observations"}
        for name in criteria:
            check_choice(name, sorted(known), "CohortFilter.set criterion")
        labs: Mapping[str, Any] = criteria.pop("labs", None) or {}
        bad = sorted(set(labs) - set(self.analytes))
        if bad:
            raise ValueError(f"labs: {bad} not measured in this cohort; analytes are "
                             f"{self.analytes}")
        observed: Mapping[str, Any] = criteria.pop("observations", None) or {}
        for field in observed:
            check_choice(field, sorted(k[4:] for k in self.controls if k.startswith("obs:")),
                         "observations field")
        with self.hold():
            for key, value in criteria.items():
                self.controls[key].set(value)
            for analyte, bounds in labs.items():
                self.controls[f"lab:{analyte}"].set(bounds)
            for field, values in observed.items():
                self.controls[f"obs:{field}"].set(values)

    def reset(self) -> None:
        """Clear every criterion."""
        with self.hold():
            for control in self.controls.values():
                control.reset()

    def set_range(self, name: str, low: float | None, high: float | None) -> None:
        """Set one range control (what brushing a histogram or the timeline calls).

        Parameters
        ----------
        name
            ``"age"``, ``"day"`` or ``"lab:<analyte>"`` (a key of :attr:`controls`).
        low, high
            The range's ends, ``None`` for an open end; ends beyond the cohort's values give
            an open end. The ends are rounded inwards to the control's steps (whole years,
            whole days, the step of a lab slider), so the range holds the values brushed (if
            no step lies inside, the steps around the range).

        Raises
        ------
        ValueError
            ``name`` is not a range control, or ``low > high``.
        """
        ranges = sorted(k for k, c in self.controls.items() if isinstance(c, RangeChoice))
        check_choice(name, ranges, "CohortFilter.set_range name")
        control = self.controls[name]
        if low is not None and high is not None and low > high:
            raise ValueError(f"set_range({name!r}, {low!r}, {high!r}): low is greater than "
                             "high")
        step, origin = float(control.slider.step), control.low

        def snap(value: float | None, rounding: Any) -> float | None:
            if value is None:
                return None
            return round(origin + float(rounding((value - origin) / step)) * step, 10)

        inner = (snap(low, np.ceil), snap(high, np.floor))
        if inner[0] is not None and inner[1] is not None and inner[0] > inner[1]:
            inner = (snap(low, np.floor), snap(high, np.ceil))
        low, high = inner
        control.set((low, high))

    # ------------------------------------------------------------------ sharing
    @property
    def share_text(self) -> str:
        """The current filter as a ``cohort.filter(...)`` call (see
        :func:`covidimg.cohort.filter_call`): run on the cohort, it selects :attr:`selection`."""
        return self.share.call.value

    @property
    def share_url(self) -> str:
        """The app's link with the current filter as its ``?filter=`` parameter (the parameter
        alone until the app sets :attr:`share_base_url`)."""
        return self.share.url.value

    @property
    def share_base_url(self) -> str:
        """The app's address the share link starts with (``""``: none known)."""
        return self.share.base_url

    @share_base_url.setter
    def share_base_url(self, url: str) -> None:
        self.share.base_url = str(url)
        self.share.show(self._criteria)

    def apply_text(self, text: str) -> bool:
        """Set the filter from a ``cohort.filter(...)`` call, its arguments, or a link or query
        string with a ``?filter=`` parameter (what the Share panel's Apply does).

        Nothing in the text is run (:func:`covidimg.cohort.parse_filter`). Every criterion is
        checked against the controls and the cohort's values before any is set: a bad one
        changes nothing, and its one-line message (naming the bad key or value) is shown under
        the match count.

        Returns
        -------
        bool
            Whether the filter was applied.
        """
        text = text.strip() if isinstance(text, str) else text
        if isinstance(text, str) and (text.startswith(("?", "filter=", "/"))
                                      or "://" in text):
            return self.apply_query(text.removeprefix("?"))
        try:
            criteria = parse_filter(text)
        except FilterTextError as exc:
            return self._refuse(str(exc))
        return self._apply(criteria)

    def apply_query(self, query: str | None) -> bool:
        """Set the filter from a URL's query string (its ``filter`` parameter; the app passes
        the page's ``QUERY_STRING``). No ``filter`` parameter: the filter is left as it is.

        Returns
        -------
        bool
            Whether the filter was applied (``False``: the message is shown, nothing changed).
        """
        try:
            criteria = parse_filter_query(query or "")
        except FilterTextError as exc:
            return self._refuse(f"?filter= not applied: {exc}")
        return self._apply(criteria)

    def _apply(self, criteria: dict[str, Any]) -> bool:
        match = criteria.pop("lab_match", self.lab_match)
        if match != self.lab_match:
            return self._refuse(f"lab_match={match!r}: this filter matches lab ranges by "
                                f"{self.lab_match!r}; leave lab_match out")
        offered = sorted({k for k in self.controls if not k.startswith(("lab:", "obs:"))}
                         | {"labs", "observations"})
        for name, value in criteria.items():
            if name not in offered:
                return self._refuse(f"{name}={value!r}: not a control of this filter panel; "
                                    f"it filters on {offered} (filter on {name} in code)")
        previous = self.criteria
        try:
            with self.hold():
                self.reset()
                self.set(**criteria)
        except (TypeError, ValueError) as exc:
            with self.hold():                      # put back what was there
                self.reset()
                self.set(**previous)
            self._recompute(notify=True)
            return self._refuse(str(exc))
        self.error.value = ""
        return True

    def _refuse(self, message: str) -> bool:
        self.error.value = ("<div style='color:#b00020;font-size:0.9em;"
                            "overflow-wrap:anywhere'>"
                            f"{escape(' '.join(message.split()))}</div>")
        return False

    def hold(self) -> _Hold:
        """Context manager: change several controls, recompute once on exit."""
        return _Hold(self)

    def observe_filtered(self, callback: Callable[[Cohort], None]) -> None:
        """Call ``callback(filtered_cohort)`` after every change of the criteria."""
        self._observers.append(callback)

    def observe_selection(self, callback: Callable[[Selection], None]) -> None:
        """Call ``callback(selection)`` after every change of the criteria (no tables built)."""
        self._selection_observers.append(callback)

    def _changed(self) -> None:
        self.error.value = ""            # a message about an earlier paste no longer applies
        if self._holding:
            self._dirty = True
            return
        self._recompute(notify=True)

    def _recompute(self, notify: bool = False) -> None:
        criteria = self._read_criteria()
        if notify and criteria == self._criteria:
            return
        self._criteria = criteria
        self._selection = self.cohort.select(Criteria(**criteria))
        self.match_count.value = self._count_text()
        self.share.show(criteria)
        if notify:
            for callback in list(self._selection_observers):
                callback(self._selection)
            for callback in list(self._observers):
                callback(self.filtered)

    def _count_text(self) -> str:
        sub, full = self._selection, self.cohort
        n_p, n_i = sub.n_patients, sub.n_images
        text = (f"<b>{n_p:,}</b> of {len(full.patients):,} patients · <b>{n_i:,}</b> of "
                f"{len(full.images):,} images match")
        if not n_p:
            text += "<br><i>No patients match: loosen a criterion or press Reset.</i>"
        return f"<div style='font-size:1.05em'>{text}</div>"

    def describe(self) -> str:
        """The active criteria as one line of text (``"all patients"`` when none)."""
        if not self._criteria:
            return "all patients"
        return escape("; ".join(f"{k}={v}" for k, v in self._criteria.items()))


def _observation_facets(observations: pd.DataFrame) -> dict[str, list[str]]:
    """The harmonized observation fields (:data:`covidimg.schema.OBSERVATION_FIELDS`) with 2 to
    :data:`MAX_FACET_VALUES` distinct values, in the schema's order, each with its values."""
    if not len(observations):
        return {}
    known = observations[observations["field"].isin(list(schema.OBSERVATION_FIELDS))]
    values = known.dropna(subset=["value"]).groupby("field")["value"].unique()
    return {field: sorted(str(v) for v in values[field])
            for field in schema.OBSERVATION_FIELDS
            if field in values.index and 2 <= len(values[field]) <= MAX_FACET_VALUES}


class _Hold:
    def __init__(self, owner: CohortFilter) -> None:
        self.owner = owner

    def __enter__(self) -> CohortFilter:
        if not self.owner._holding:
            self.owner._dirty = False
        self.owner._holding += 1
        return self.owner

    def __exit__(self, *exc: object) -> None:
        self.owner._holding -= 1
        if not self.owner._holding and self.owner._dirty and exc[0] is None:
            self.owner._recompute(notify=True)

