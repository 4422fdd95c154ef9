"""PlotlyView: a light widget that draws a plotly figure with the plotly.js the page loads once.

plotly's own ``FigureWidget`` (plotly 6+) is an anywidget whose front-end code, plotly's
4.96 MB ``widgetbundle.js``, is part of every widget's synced state: a dashboard with three
figures sent ~15 MB to each page, and a redraw that made new widgets sent it again. A
:class:`PlotlyView` holds only its figure (data, layout and template as JSON text, each sent
when it changes) and a few kilobytes of JavaScript that draw it with ``Plotly.react``.

plotly.js reaches the page once, by one of two ways:

* from a URL, when the server offers one (``covidimg dashboard`` serves it, gzip-compressed
  and cacheable, and tells the kernel where through :data:`PLOTLY_URL_ENV`);
* otherwise (JupyterLab, a notebook, Voila without covidimg's server) from one
  :class:`PlotlyLibrary` widget per kernel whose code is plotly.js: sent once per page
  instead of once per figure.

Which plotly.js: :func:`plotly_js_path`, covidimg's copy of plotly.js's cartesian bundle
(a third of the full build's size, every trace type the widgets draw).

Clicks on points come back to the kernel as messages (:meth:`PlotlyView.on_click`); a view
can also ask for box/lasso selections, zoom and drawn shapes, the point under the mouse and
key presses (:meth:`PlotlyView.on_event`), each sent only when asked for.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import anywidget
import ipywidgets as w
import plotly
import traitlets
from plotly.io.json import to_json_plotly

__all__ = ["BUNDLE", "EVENTS", "PLOTLY_URL_ENV", "PlotlyLibrary", "PlotlyView", "plotly_js_path"]

#: Environment variable holding the URL (path on the page's server) of ``plotly.min.js``; set
#: by the server (``covidimg dashboard``), read by the kernel when a view is made.
PLOTLY_URL_ENV = "COVIDIMG_PLOTLY_URL"
#: Page events a view can ask for besides clicks (:meth:`PlotlyView.on_event`).
EVENTS = ("selected", "relayout", "hover", "key")


#: plotly.js's cartesian bundle (trace types bar, box, contour, heatmap, histogram,
#: histogram2d, histogram2dcontour, image, pie, scatter, scatterternary, violin: every type the
#: widgets draw), from npm's ``plotly.js-cartesian-dist-min``, with its licence and
#: package.json beside it. 0.50 MB gzip-compressed against 1.47 MB for the full build: the
#: dashboard's first page is a third lighter.
BUNDLE = Path(__file__).parent / "static" / "plotly-cartesian.min.js"


@lru_cache(maxsize=1)
def _bundle_version() -> str:
    try:
        meta = json.loads((BUNDLE.parent / "package.json").read_text(encoding="utf-8"))
        return str(meta.get("version", ""))
    except (OSError, ValueError):
        return ""


def plotly_js_path() -> Path:
    """The plotly.js the widgets draw with: covidimg's cartesian bundle (:data:`BUNDLE`) when
    its major version is that of the plotly.js the installed plotly makes figures for, else
    plotly's own full ``plotly.min.js``."""
    from plotly.offline import get_plotlyjs_version

    wanted = get_plotlyjs_version().split(".")[0]
    if BUNDLE.is_file() and _bundle_version().split(".")[0] == wanted:
        return BUNDLE
    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


_LOADER = r"""
function plotlyReady() {
  if (window.Plotly && window.Plotly.react) return Promise.resolve(window.Plotly);
  if (!window.__covidimgPlotly) {
    let resolve;
    const promise = new Promise((r) => { resolve = r; });
    promise.resolve = resolve;
    window.__covidimgPlotly = promise;
  }
  return window.__covidimgPlotly;
}
"""

_LIBRARY_ESM = _LOADER + r"""
export default {
  initialize() {
    const waiting = window.__covidimgPlotly;
    if (waiting && waiting.resolve) waiting.resolve(window.Plotly);
  },
};
"""

_VIEW_ESM = _LOADER + r"""
function loadFrom(url) {
  const ready = plotlyReady();
  if (!window.__covidimgPlotlyScript && !(window.Plotly && window.Plotly.react)) {
    window.__covidimgPlotlyScript = true;
    const script = document.createElement("script");
    const define = window.define;           // plotly.min.js is UMD: no AMD loader, please
    window.define = undefined;
    script.src = new URL(url, document.baseURI).href;
    script.onload = () => {
      window.define = define;
      window.__covidimgPlotly.resolve(window.Plotly);
    };
    script.onerror = () => { window.define = define; };
    document.head.appendChild(script);
  }
  return ready;
}

function darkTheme() {
  const body = document.body;
  return body && body.getAttribute("data-jp-theme-light") === "false";
}

function themed(layout) {
  if (!darkTheme()) return layout;
  const css = getComputedStyle(document.body);
  const color = (css.getPropertyValue("--jp-ui-font-color1") || "#e0e0e0").trim();
  const grid = (css.getPropertyValue("--jp-border-color2") || "#444").trim();
  const out = {...layout, paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
               font: {...(layout.font || {}), color}};
  for (const key of Object.keys(layout)) {
    if (/^[xy]axis\d*$/.test(key)) out[key] = {...layout[key], gridcolor: grid, zerolinecolor: grid,
                                                linecolor: grid};
  }
  if (!Object.keys(out).some((k) => /^[xy]axis/.test(k))) {
    out.xaxis = {gridcolor: grid, zerolinecolor: grid};
    out.yaxis = {gridcolor: grid, zerolinecolor: grid};
  }
  return out;
}

// A line of plotly's pseudo-HTML broken at spaces (never inside a tag) into lines of at most
// ``room`` visible characters.
function wrapLine(line, room) {
  const lines = [""];
  let visible = 0;
  for (const token of line.split(/(<[^>]*>)/)) {
    if (token.startsWith("<")) { lines[lines.length - 1] += token; continue; }
    for (const word of token.split(/( )/)) {
      if (!word) continue;
      if (word === " ") {
        if (visible > 0) { lines[lines.length - 1] += " "; visible += 1; }
        continue;
      }
      if (visible > 0 && visible + word.length > room) {
        lines[lines.length - 1] = lines[lines.length - 1].trimEnd();
        lines.push("");
        visible = 0;
      }
      lines[lines.length - 1] += word;
      visible += word.length;
    }
  }
  return lines;
}

// plotly's margins where a layout names none.
const PLOTLY_MARGIN = {l: 80, r: 80, t: 100, b: 80};

// The x-axis titles of ``layout`` wrapped to ``roomPx`` pixels: {axis key: lines}.
function xTitles(layout, roomPx) {
  const out = {};
  for (const key of Object.keys(layout)) {
    const axis = layout[key];
    if (!/^xaxis\d*$/.test(key) || !axis || !axis.title) continue;
    const text = typeof axis.title === "string" ? axis.title : axis.title.text;
    if (typeof text !== "string") continue;
    out[key] = text.split("<br>").flatMap((line) => wrapLine(line, Math.max(12,
      Math.floor(roomPx / (0.58 * 14)))));
  }
  return out;
}

// The number of lines of those titles.
function xTitleLines(layout, roomPx) {
  return Object.values(xTitles(layout, roomPx)).reduce((n, lines) => n + lines.length, 0);
}

// The layout fitted to the width it is drawn at: a title longer than the width is wrapped,
// put at the top of the figure and given the room its lines take (the height grows by as
// much); an x-axis title is wrapped to the plot's width; below 640 px the legend goes under
// the plot instead of taking a third of its width on the right.
function fitted(layout, width, axisRoom, legendY, entries) {
  // Hidden (no width yet), or a figure of a fixed size (an image at its pixels): as it is.
  if (!(width > 0) || layout.width) return layout;
  const out = {...layout};
  const margin = {...PLOTLY_MARGIN, ...(layout.margin || {})};
  const title = layout.title;
  if (title && typeof title.text === "string" && title.text) {
    const size = (title.font && title.font.size) || 17;
    const room = Math.max(16, Math.floor((width - 30) / (0.58 * size)));
    const lines = title.text.split("<br>");
    const wrapped = lines.flatMap((line) => wrapLine(line, room));
    if (wrapped.length > lines.length) {
      const needed = Math.ceil(wrapped.length * 1.3 * size) + 16;
      const grow = Math.max(0, needed - margin.t);
      out.title = {...title, text: wrapped.join("<br>"), yref: "container", y: 1,
                   yanchor: "top", pad: {...(title.pad || {}), t: 14}};
      margin.t += grow;
      if (layout.height) out.height = layout.height + grow;
    }
  }
  // Room for an x-axis title, centred on the plot: measured after the first drawing (the
  // plot's left margin grows with its tick labels), else estimated from the margins.
  const plotWidth = axisRoom || (width - margin.l - margin.r);
  for (const [key, lines] of Object.entries(xTitles(layout, plotWidth))) {
    const axis = layout[key];
    if (lines.length > 1) {
      out[key] = {...axis, title: {...(typeof axis.title === "string" ? {} : axis.title),
                                   text: lines.join("<br>")}};
      margin.b += 18 * (lines.length - 1);
      if (layout.height) out.height = (out.height || layout.height) + 18 * (lines.length - 1);
    }
  }
  out.margin = margin;
  const legend = layout.legend || {};
  if (width < 640 && entries > 0 && layout.showlegend !== false && legend.orientation !== "h") {
    const plotHeight = Math.max(100, (out.height || 450) - margin.t - margin.b);
    out.legend = {...legend, orientation: "h", x: 0, xanchor: "left",
                  y: legendY || -(margin.b + 4) / plotHeight, yanchor: "top"};
    // The plot keeps its height: the figure grows by the legend's lines (one per entry at
    // the narrowest, as the names are long).
    if (layout.height) out.height = (out.height || layout.height) + 19 * entries + 10;
  }
  return out;
}

function figure(model, width, axisRoom, legendY) {
  const data = JSON.parse(model.get("data_json") || "[]");
  const names = new Set(data.filter((t) => t.showlegend !== false && t.name)
    .map((t) => t.legendgroup || t.name));
  const layout = JSON.parse(model.get("layout_json") || "{}");
  const template = model.get("template_json");
  if (template) layout.template = JSON.parse(template);
  layout.autosize = true;
  return {data, raw: layout,
          layout: fitted(themed(layout), width, axisRoom, legendY, names.size)};
}

export default {
  async render({ model, el }) {
    const div = document.createElement("div");
    div.className = "covidimg-plot";
    div.style.width = "100%";
    el.appendChild(div);
    const url = model.get("library_url");
    const Plotly = await (url ? loadFrom(url) : plotlyReady());
    let drawnWidth = -1;
    let queued = false;
    let axisRoom = 0;          // px an x-axis title has (measured after a drawing)
    let legendY = 0;           // where a legend under the plot clears the x axis (measured)
    let refits = 0;
    // el.dataset.pending is "1" from a new figure's arrival until plotly has drawn it;
    // el.dataset.drawn counts the figures drawn (read by the browser tests and benchmark).
    el.dataset.drawn = "0";
    const draw = async () => {
      queued = false;
      drawnWidth = div.clientWidth;
      const {data, layout, raw} = figure(model, drawnWidth, axisRoom, legendY);
      await Plotly.react(div, data, layout, {responsive: false, displaylogo: false});
      // Now that the plot is laid out: the room an x-axis title centred on the plot really
      // has, and where a legend under the plot clears that title. Drawn once more when
      // either differs from what the drawing was fitted to.
      const size = div._fullLayout && div._fullLayout._size;
      if (size && drawnWidth > 0 && size.h > 0) {
        const centre = size.l + size.w / 2;
        const room = Math.max(40, 2 * Math.min(centre, drawnWidth - centre) - 10);
        const plotBottom = div.getBoundingClientRect().top + size.t + size.h;
        const below = Array.from(div.querySelectorAll(".g-xtitle, .xtick"))
          .map((t) => t.getBoundingClientRect().bottom - plotBottom);
        const wanted = div._fullLayout.legend && div._fullLayout.legend.orientation === "h"
          ? -(Math.max(20, ...below) + 10) / size.h : legendY;
        const margin = {...PLOTLY_MARGIN, ...(raw.margin || {})};
        const fittedRoom = axisRoom || (drawnWidth - margin.l - margin.r);
        const moved = (!raw.width && xTitleLines(raw, room) !== xTitleLines(raw, fittedRoom))
          || Math.abs((wanted || 0) - (legendY || 0)) * size.h > 6;
        if (moved && refits < 3) {
          axisRoom = room;
          legendY = wanted;
          refits += 1;
          redraw();
        } else {
          refits = 0;
        }
      }
      if (!queued) el.dataset.pending = "0";
      el.dataset.drawn = String(Number(el.dataset.drawn) + 1);
    };
    const redraw = () => {       // the data, layout and template of one message: one drawing
      el.dataset.pending = "1";
      if (!queued) { queued = true; queueMicrotask(draw); }
    };
    el.dataset.pending = "1";
    await draw();
    div.on("plotly_click", (event) => {
      const points = event.points.map((p) => [p.curveNumber, p.pointIndex ?? p.pointNumber]);
      model.send({event: "click", points});
    });
    // Further events reach the kernel only when the view asks for them (the "events" list).
    const wanted = (name) => (model.get("events") || []).includes(name);
    const pointsOf = (event) => ((event && event.points) || []).map(
      (p) => [p.curveNumber, p.pointIndex ?? p.pointNumber]);
    div.on("plotly_selected", (event) => {
      if (!wanted("selected")) return;
      const range = (event && event.range) || null;
      model.send({event: "selected", points: pointsOf(event), range});
    });
    div.on("plotly_deselect", () => {
      if (wanted("selected")) model.send({event: "selected", points: [], range: null});
    });
    div.on("plotly_relayout", (update) => {
      if (!wanted("relayout")) return;
      const kept = {};
      for (const [key, value] of Object.entries(update || {})) {
        if (/^(shapes|[xy]axis\d*\.(range|autorange)|dragmode)/.test(key)) kept[key] = value;
      }
      if (Object.keys(kept).length) model.send({event: "relayout", update: kept});
    });
    let hoverTimer = null;
    let lastHover = null;
    div.on("plotly_hover", (event) => {
      if (!wanted("hover") || !event.points || !event.points.length) return;
      const p = event.points[0];
      lastHover = {event: "hover", curve: p.curveNumber, x: p.x, y: p.y};
      if (!hoverTimer) {           // at most one message per 60 ms while the mouse moves
        hoverTimer = setTimeout(() => { hoverTimer = null; model.send(lastHover); }, 60);
      }
    });
    const keydown = (event) => {
      const keys = model.get("shortcut_keys") || [];
      if (!keys.includes(event.key) || event.ctrlKey || event.metaKey || event.altKey) return;
      event.preventDefault();
      event.stopPropagation();
      model.send({event: "key", key: event.key, shift: event.shiftKey});
    };
    el.tabIndex = 0;               // focusable: keys reach the view once it is clicked
    // plotly cancels the mouse-down of a drag or click on the plot (no focus change): give
    // the view the focus itself, in the capture phase, when it takes keys.
    const focus = () => {
      if ((model.get("shortcut_keys") || []).length) el.focus({preventScroll: true});
    };
    el.addEventListener("mousedown", focus, true);
    el.addEventListener("keydown", keydown);
    model.on("change:data_json", redraw);
    model.on("change:layout_json", redraw);
    model.on("change:template_json", redraw);
    // Drawn while hidden (a tab not shown), a figure takes a default width: draw it again at
    // its panel's width when the panel shows or changes size (the title's wrapping and the
    // legend's place depend on the width).
    const observer = new ResizeObserver(() => {
      const width = div.clientWidth;
      if (width > 0 && width !== drawnWidth) {
        drawnWidth = width;
        redraw();
      }
    });
    observer.observe(el);
    const theme = new MutationObserver(redraw);
    theme.observe(document.body, {attributes: true, attributeFilter: ["data-jp-theme-light"]});
    return () => {
      observer.disconnect();
      theme.disconnect();
      el.removeEventListener("keydown", keydown);
      el.removeEventListener("mousedown", focus, true);
      if (hoverTimer) clearTimeout(hoverTimer);
      model.off("change:data_json", redraw);
      model.off("change:layout_json", redraw);
      model.off("change:template_json", redraw);
      Plotly.purge(div);
    };
  },
};
"""


@lru_cache(maxsize=1)
def _library_source() -> str:
    return plotly_js_path().read_text(encoding="utf-8") + "\n" + _LIBRARY_ESM


class PlotlyLibrary(anywidget.AnyWidget):
    """plotly.js for pages that cannot fetch it from a URL: one widget per kernel
    (:meth:`shared`), whose code defines ``window.Plotly`` when the page creates its model."""

    _instance: PlotlyLibrary | None = None

    def __init__(self) -> None:
        super().__init__(_esm=_library_source())

    @classmethod
    def shared(cls) -> PlotlyLibrary:
        """The kernel's one library widget (made on first use)."""
        if cls._instance is None or cls._instance.comm is None:
            cls._instance = cls()
        return cls._instance


class PlotlyView(anywidget.AnyWidget):
    """One plotly figure, drawn in the page with ``Plotly.react`` and kept for the view's life.

    :meth:`show` replaces the figure: only the parts whose JSON changed (data, layout,
    template) are sent. The figure fills the width of its panel.

    Parameters
    ----------
    spec
        The first figure, a plain dict ``{"data": [...], "layout": {...}}`` (as
        ``covidimg.plotting.plot_x.spec(...)`` returns).
    """

    _esm = traitlets.Unicode(_VIEW_ESM).tag(sync=True)
    data_json = traitlets.Unicode("[]").tag(sync=True)
    layout_json = traitlets.Unicode("{}").tag(sync=True)
    template_json = traitlets.Unicode("").tag(sync=True)
    library_url = traitlets.Unicode("").tag(sync=True)
    #: Page events sent to the kernel besides clicks: any of :data:`EVENTS`.
    events = traitlets.List(traitlets.Unicode()).tag(sync=True)
    #: Keys (``KeyboardEvent.key`` names) the view takes when it has the focus. (Not
    #: ``keys``: ipywidgets keeps the names of a widget's synced traits under that name.)
    shortcut_keys = traitlets.List(traitlets.Unicode()).tag(sync=True)

    def __init__(self, spec: dict | None = None) -> None:
        url = os.environ.get(PLOTLY_URL_ENV, "")
        # Without a URL the page gets plotly.js from the shared library widget, which must
        # exist (its model made in the page) before any view draws.
        self.library = None if url else PlotlyLibrary.shared()
        # The figure's own width follows its element: the element fills the panel.
        super().__init__(library_url=url, layout=w.Layout(width="100%", min_width="0"))
        self._click_callbacks: list[Callable[[int, list[int]], None]] = []
        self._event_callbacks: dict[str, list[Callable[[dict[str, Any]], None]]] = {}
        self.on_msg(self._message)
        if spec is not None:
            self.show(spec)

    def show(self, spec: dict) -> None:
        """Draw ``spec`` (a plain-dict figure) in place of the figure shown."""
        layout = dict(spec.get("layout", {}))
        template = layout.pop("template", None)
        data_json = to_json_plotly(spec.get("data", []))
        layout_json = to_json_plotly(layout)
        template_json = "" if template is None else _template_json(template)
        with self.hold_sync():
            if data_json != self.data_json:
                self.data_json = data_json
            if layout_json != self.layout_json:
                self.layout_json = layout_json
            if template_json != self.template_json:
                self.template_json = template_json

    def on_click(self, callback: Callable[[int, list[int]], None]) -> None:
        """Call ``callback(trace_index, point_indices)`` when points of a trace are clicked."""
        self._click_callbacks.append(callback)

    def on_event(self, name: str, callback: Callable[[dict[str, Any]], None]) -> None:
        """Call ``callback(message)`` on each page event ``name`` (asking the page to send it).

        ``name`` is one of :data:`EVENTS`; the message is a dict:

        * ``"selected"``: ``points`` (``[trace, index]`` pairs) and ``range`` (``{"x": [lo,
          hi], "y": [lo, hi]}`` of a box selection, else ``None``); an empty selection
          (double click) sends no points;
        * ``"relayout"``: ``update``, the zoom (``xaxis.range[0]``, ...) and drawn shapes
          (``shapes``, ``shapes[i].x0``, ...) the user changed;
        * ``"hover"``: ``curve``, ``x``, ``y`` of the point under the mouse (at most one
          message per 60 ms);
        * ``"key"``: ``key`` and ``shift``, for the keys listed in :attr:`shortcut_keys`, while the
          view has the focus.
        """
        if name not in EVENTS:
            raise ValueError(f"name={name!r} is not a page event; use one of {EVENTS}")
        self._event_callbacks.setdefault(name, []).append(callback)
        if name not in self.events:
            self.events = [*self.events, name]

    def _message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        name = content.get("event")
        if name in EVENTS and name in self.events:
            for callback in list(self._event_callbacks.get(name, [])):
                callback(content)
            return
        if name != "click":
            return
        by_trace: dict[int, list[int]] = {}
        for point in content.get("points", []):
            try:
                trace, index = int(point[0]), int(point[1])
            except (TypeError, ValueError, IndexError):
                continue
            by_trace.setdefault(trace, []).append(index)
        for trace, indices in by_trace.items():
            for callback in list(self._click_callbacks):
                callback(trace, indices)


def _template_json(template: Any) -> str:
    """The template as JSON, computed once per template object (the figures share one)."""
    key = id(template)
    cached = _TEMPLATES.get(key)
    if cached is None or cached[0] is not template:
        cached = (template, to_json_plotly(template))
        _TEMPLATES[key] = cached
    return cached[1]


_TEMPLATES: dict[int, tuple[Any, str]] = {}
