"""Small building blocks of the filter panel: multi-choice buttons, yes/no/any, range sliders.

Every control offers the same three things: ``criterion()`` (the value to pass to
:meth:`covidimg.Cohort.filter`, ``None`` when the control is inactive), ``set(value)`` and
``reset()``; ``watch(callback)`` calls ``callback()`` after a user change.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import anywidget
import ipywidgets as w
import traitlets

from covidimg._validation import check_choice
from covidimg.widgets._html import escape

__all__ = ["GROUPS", "MultiChoice", "RangeChoice", "YesNoAny", "check_group", "css_name"]

#: The "group by" choices of the labs and summary views: (label, patients column or None).
GROUPS: tuple[tuple[str, str | None], ...] = (
    ("no grouping", None), ("ICU", "icu"), ("died", "died"), ("sex", "sex"),
    ("source", "source"), ("COVID-19 status", "covid_status"))


def check_group(by: str | None) -> None:
    """Raise ``ValueError`` naming ``by`` and the allowed values unless it is a choice of
    :data:`GROUPS`."""
    check_choice(by, [value for _label, value in GROUPS], "by")

DESCRIPTION_WIDTH = "110px"


def css_name(name: str) -> str:
    """A CSS-class-safe form of a control name (``d_dimer`` → ``d-dimer``)."""
    return "".join(c if c.isalnum() else "-" for c in str(name).lower())


def _label(text: str) -> w.HTML:
    return w.HTML(f"<b>{escape(text)}</b>",
                  layout=w.Layout(width=DESCRIPTION_WIDTH, min_width=DESCRIPTION_WIDTH))


#: The multi-choice control drawn in the page: its label and one toggle button per value, with
#: ipywidgets' own button classes (the same look as ``ToggleButton``, ``mod-active`` pressed).
_MULTI_CHOICE_ESM = r"""
export default {
  render({ model, el }) {
    el.classList.add("covidimg-multichoice");
    el.style.display = "flex";
    el.style.alignItems = "flex-start";
    const label = document.createElement("div");
    label.style.cssText = "width:110px;min-width:110px;font-weight:bold;line-height:28px";
    const box = document.createElement("div");
    box.style.cssText = "display:flex;flex-flow:row wrap";
    el.append(label, box);
    let buttons = [];
    const sync = () => {
      const pressed = new Set(model.get("value"));
      const disabled = model.get("disabled");
      buttons.forEach(([option, button]) => {
        button.classList.toggle("mod-active", pressed.has(option));
        button.setAttribute("aria-pressed", pressed.has(option) ? "true" : "false");
        button.disabled = disabled;
      });
    };
    const build = () => {
      label.textContent = model.get("label");
      box.replaceChildren();
      const classes = model.get("classes");
      buttons = model.get("options").map((option, i) => {
        const button = document.createElement("button");
        button.className = "lm-Widget jupyter-widgets jupyter-button widget-toggle-button "
          + classes[i];
        button.style.cssText = "width:auto;min-width:42px";
        button.textContent = option;
        button.title = model.get("label") + ": " + option;
        button.addEventListener("click", () => {
          const value = model.get("value");
          model.set("value", value.includes(option) ? value.filter((v) => v !== option)
                                                    : [...value, option]);
          model.save_changes();
        });
        box.appendChild(button);
        return [option, button];
      });
      sync();
    };
    model.on("change:value", sync);
    model.on("change:disabled", sync);
    model.on("change:options", build);
    build();
  },
};
"""


class MultiChoice(anywidget.AnyWidget):
    """One toggle button per value, pressed ones kept; none pressed means "any".

    One widget in the page (label and buttons drawn by its own script), where one
    ``ToggleButton`` per value made the filter panel ~400 widgets, each sent and built
    when the page opens.

    Parameters
    ----------
    name
        The :meth:`~covidimg.Cohort.filter` keyword this control sets.
    label
        What the user reads.
    options
        The values found in the cohort, in display order.

    Attributes
    ----------
    value
        The pressed values, in the order pressed (synced with the page).
    """

    _esm = traitlets.Unicode(_MULTI_CHOICE_ESM).tag(sync=True)
    label = traitlets.Unicode("").tag(sync=True)
    options = traitlets.List(traitlets.Unicode()).tag(sync=True)
    #: The CSS class of each option's button (``covidimg-filter-<name>-<option>``).
    classes = traitlets.List(traitlets.Unicode()).tag(sync=True)
    value = traitlets.List(traitlets.Unicode()).tag(sync=True)
    disabled = traitlets.Bool(False).tag(sync=True)

    def __init__(self, name: str, label: str, options: Sequence[str]) -> None:
        self.name = name
        shown = [str(o) for o in options]
        super().__init__(label=label, options=shown,
                         classes=[f"covidimg-filter-{css_name(name)}-{css_name(o)}"
                                  for o in shown],
                         disabled=len(shown) < 2)
        self.add_class(f"covidimg-filter-{css_name(name)}")

    def _unknown(self, values: Sequence[str]) -> str | None:
        """What is wrong with ``values`` (values not in this cohort), or ``None``."""
        unknown = sorted(set(values) - set(self.options))
        return f"{unknown} not in this cohort; choose from {self.options}" if unknown else None

    @traitlets.validate("value")
    def _known_values(self, proposal: Any) -> list[str]:
        # What the page sends is checked like what code sets: only this cohort's values.
        value = [str(v) for v in proposal["value"]]
        problem = self._unknown(value)
        if problem:
            raise traitlets.TraitError(f"{self.name}: {problem}")
        return list(dict.fromkeys(value))

    def criterion(self) -> list[str] | None:
        """The values to keep (in display order), or ``None`` when no button is pressed."""
        chosen = [o for o in self.options if o in self.value]
        return chosen or None

    def set(self, value: str | Sequence[str] | None) -> None:
        """Press exactly the given values (``None`` or empty: none)."""
        wanted = [] if value is None else [value] if isinstance(value, str) else list(value)
        wanted = [str(v) for v in wanted]
        problem = self._unknown(wanted)
        if problem:
            raise ValueError(f"{self.name}={value!r}: {problem}")
        self.value = [o for o in self.options if o in wanted]

    def reset(self) -> None:
        """Release every button."""
        self.set(None)

    def watch(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` whenever the pressed values change."""
        self.observe(lambda _change: callback(), names="value")


class YesNoAny(w.HBox):
    """A yes / no / any switch for a nullable yes-no column (``icu``, ``died``)."""

    _VALUES: ClassVar[dict[str, bool | None]] = {"any": None, "yes": True, "no": False}

    def __init__(self, name: str, label: str) -> None:
        self.name = name
        self.buttons = w.ToggleButtons(options=list(self._VALUES), value="any",
                                       style={"button_width": "52px"})
        super().__init__([_label(label), self.buttons])
        self.add_class(f"covidimg-filter-{css_name(name)}")

    def criterion(self) -> bool | None:
        """``True``, ``False`` or ``None`` (any)."""
        return self._VALUES[self.buttons.value]

    def set(self, value: bool | None) -> None:
        """Select yes (``True``), no (``False``) or any (``None``)."""
        if value is not None and not isinstance(value, bool):
            raise ValueError(f"{self.name}={value!r}: pass True, False or None")
        self.buttons.value = {None: "any", True: "yes", False: "no"}[value]

    def reset(self) -> None:
        """Back to "any"."""
        self.set(None)

    def watch(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` when the choice changes."""
        self.buttons.observe(lambda _change: callback(), names="value")


class RangeChoice(w.HBox):
    """A range slider spanning the cohort's values; the full span means "any".

    Moving one end gives an open-ended range (``(low, None)`` or ``(None, high)``), so values
    beyond the slider's ends still match, as :meth:`covidimg.Cohort.filter` reads ``None``.

    Parameters
    ----------
    name
        CSS name of the control (``age``, ``day``, ``lab-crp``).
    label
        What the user reads (with the unit).
    low, high
        The span of the cohort's values.
    step
        Slider step; whole numbers make an integer slider.
    """

    def __init__(self, name: str, label: str, low: float, high: float,
                 step: float | None = None) -> None:
        self.name = name
        known = math.isfinite(low) and math.isfinite(high)
        if not known:
            low, high = 0.0, 1.0
            disabled = True
        else:
            disabled = high <= low
        step = step or _nice_step(low, high)
        self.low, self.high = _floor_to(low, step), _ceil_to(high, step)
        if self.high <= self.low:
            self.high = self.low + step
        integer = float(step).is_integer()
        slider_class = w.IntRangeSlider if integer else w.FloatRangeSlider
        kwargs: dict[str, Any] = {} if integer else {"readout_format": ".3g"}
        self.slider = slider_class(
            min=int(self.low) if integer else self.low, max=int(self.high) if integer
            else self.high, step=int(step) if integer else step,
            value=(int(self.low), int(self.high)) if integer else (self.low, self.high),
            continuous_update=False, disabled=disabled, readout=known,
            # 250 px: at 230 the readout of a lab range ("0.100 – 9.75") was cut
            layout=w.Layout(width="250px", display="flex" if known else "none"), **kwargs)
        #: Said instead of a range when the cohort holds no value (every age redacted, as in
        #: the real MHH data): the control is disabled, not a "0 – 1" slider.
        self.note = w.HTML("<i>no known values in this cohort</i>" if not known else "",
                           layout=w.Layout(display="none" if known else "flex"))
        self.note.add_class("covidimg-filter-note")
        super().__init__([_label(label), self.slider, self.note])
        self.add_class(f"covidimg-filter-{css_name(name)}")
        if not known:
            self.add_class("covidimg-filter-unknown")

    def criterion(self) -> tuple[float | None, float | None] | None:
        """``(low, high)`` with ``None`` for an end left at the span's limit, or ``None``."""
        lo, hi = self.slider.value
        lo_c = None if lo <= self.low else float(lo)
        hi_c = None if hi >= self.high else float(hi)
        if lo_c is None and hi_c is None:
            return None
        return lo_c, hi_c

    def set(self, value: tuple[float | None, float | None] | None) -> None:
        """Move the ends (``None`` for an open end; ``None`` overall: the full span)."""
        if value is None:
            value = (None, None)
        try:
            lo, hi = value
        except (TypeError, ValueError):
            raise ValueError(f"{self.name}={value!r}: expected a (low, high) pair; use None "
                             "for an open end") from None
        lo = self.low if lo is None else max(float(lo), self.low)
        hi = self.high if hi is None else min(float(hi), self.high)
        if lo > hi:
            raise ValueError(f"{self.name}={value!r}: low is greater than high (the cohort's "
                             f"values span {self.low:g} to {self.high:g})")
        if isinstance(self.slider, w.IntRangeSlider):
            lo, hi = math.floor(lo), math.ceil(hi)
        self.slider.value = (lo, hi)

    def reset(self) -> None:
        """The full span."""
        self.set(None)

    def watch(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` when the range changes."""
        self.slider.observe(lambda _change: callback(), names="value")


def _nice_step(low: float, high: float) -> float:
    span = high - low
    if not math.isfinite(span) or span <= 0:
        return 1.0
    if span >= 20 and float(low).is_integer() and float(high).is_integer():
        return 1.0
    raw = span / 200
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def _floor_to(x: float, step: float) -> float:
    return round(math.floor(x / step) * step, 10)


def _ceil_to(x: float, step: float) -> float:
    return round(math.ceil(x / step) * step, 10)
