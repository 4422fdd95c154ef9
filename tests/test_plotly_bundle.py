"""The dashboard draws with plotly.js's cartesian bundle: every trace type it draws is in it."""

from __future__ import annotations

import json
import re

import covidimg as ci
from covidimg.widgets import Dashboard
from covidimg.widgets.plotly_view import BUNDLE, PlotlyView, plotly_js_path


def _bundle_traces() -> set[str]:
    readme = (BUNDLE.parent / "README.md").read_text(encoding="utf-8")
    listed = re.search(r"Contains trace modules (.+?)\.\n", readme).group(1)
    return set(re.findall(r"`([a-z0-9]+)`", listed))


def _views(widget) -> list[PlotlyView]:
    found = [widget] if isinstance(widget, PlotlyView) else []
    for child in getattr(widget, "children", ()):
        found += _views(child)
    return found


def test_the_bundle_is_used_when_plotly_expects_its_major_version() -> None:
    from plotly.offline import get_plotlyjs_version

    bundled = json.loads((BUNDLE.parent / "package.json").read_text(encoding="utf-8"))
    if get_plotlyjs_version().split(".")[0] == bundled["version"].split(".")[0]:
        assert plotly_js_path() == BUNDLE
    else:   # an older or newer plotly in the allowed range: its own full build
        assert plotly_js_path().name == "plotly.min.js" and plotly_js_path().is_file()


def test_every_trace_type_the_dashboard_draws_is_in_the_bundle() -> None:
    assert {"bar", "scatter", "image"} <= _bundle_traces()
    cohort = ci.load_demo(n_patients=12)
    dashboard = Dashboard(cohort)
    dashboard.refresh()
    with_box = cohort.annotations.query("kind == 'box'")["image_uid"].iloc[0]
    dashboard.open_exam(with_box)
    drawn = {trace.get("type", "scatter") for view in _views(dashboard)
             for trace in json.loads(view.data_json)}
    assert {"bar", "scatter", "image"} <= drawn
    assert drawn <= _bundle_traces()


def test_the_bundle_is_the_published_package() -> None:
    meta = json.loads((BUNDLE.parent / "package.json").read_text(encoding="utf-8"))
    assert meta["name"] == "plotly.js-cartesian-dist-min" and meta["license"] == "MIT"
    head = BUNDLE.read_text(encoding="utf-8")[:200]
    assert f"plotly.js (cartesian - minified) v{meta['version']}" in head
    assert (BUNDLE.parent / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")
