"""The shareable filter (a ``cohort.filter(...)`` call, the app's ``?filter=`` parameter) and
brushing (a box selection on the lab histogram or the timeline sets the filter's range).

Kernel side: the page's messages are the ones PlotlyView's page code sends on
``plotly_selected``, delivered with ``_handle_custom_msg``.
"""

from __future__ import annotations

import ast
from urllib.parse import urlsplit

import numpy as np
import plotly.graph_objects as go
import pytest

from covidimg.app import QUERY_ENV, REQUEST_URL_ENV, apply_page_filter
from covidimg.cohort import (
    FilterTextError,
    filter_call,
    filter_query,
    parse_filter,
    parse_filter_query,
)
from covidimg.cohort._share import MAX_FILTER_TEXT
from covidimg.widgets import CohortFilter, Dashboard, OffsetTimeline
from covidimg.widgets._controls import MultiChoice, RangeChoice, YesNoAny

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _uids(cohort) -> tuple[list[str], list[str]]:  # type: ignore[no-untyped-def]
    return (sorted(cohort.patients["patient_uid"].astype(str)),
            sorted(cohort.images["image_uid"].astype(str)))


def _run_call(cohort, text: str):  # type: ignore[no-untyped-def]
    """``text`` (a ``cohort.filter(...)`` call) run on ``cohort`` without ``eval``: the call's
    keyword values read by ``ast.literal_eval``, independently of the package's reader."""
    call = ast.parse(text, mode="eval").body
    assert isinstance(call, ast.Call) and ast.unparse(call.func) == "cohort.filter"
    assert not call.args
    return cohort.filter(**{k.arg: ast.literal_eval(k.value) for k in call.keywords})


def _random_criteria(panel: CohortFilter, rng: np.random.Generator) -> dict:
    """Some controls of ``panel`` set to random values it offers."""
    chosen: dict = {}
    labs: dict = {}
    observations: dict = {}
    keys = list(panel.controls)
    for key in rng.choice(keys, size=int(rng.integers(1, 5)), replace=False):
        control = panel.controls[key]
        if isinstance(control, MultiChoice):
            if control.disabled:
                continue
            picked = [str(v) for v in rng.choice(control.options, size=int(rng.integers(
                1, len(control.options))), replace=False)]
            value: object = picked
        elif isinstance(control, YesNoAny):
            value = bool(rng.integers(2))
        elif isinstance(control, RangeChoice):
            if control.slider.disabled:
                continue
            lo, hi = sorted(rng.uniform(control.low, control.high, size=2))
            step = control.slider.step
            lo, hi = round(lo / step) * step, round(hi / step) * step
            value = (float(lo), float(hi))
        else:  # pragma: no cover
            raise AssertionError(key)
        if key.startswith("lab:"):
            labs[key[4:]] = value
        elif key.startswith("obs:"):
            observations[key[4:]] = value
        else:
            chosen[key] = value
    if labs:
        chosen["labs"] = labs
    if observations:
        chosen["observations"] = observations
    return chosen


# ---------------------------------------------------------------------- the text, round trip
def test_the_share_text_run_on_the_cohort_selects_what_the_panel_selects(demo_cohort):
    panel = CohortFilter(demo_cohort)
    other = CohortFilter(demo_cohort)
    rng = np.random.default_rng(20)
    kinds_seen: set[str] = set()
    nonempty = 0
    for _ in range(60):
        panel.reset()
        panel.set(**_random_criteria(panel, rng))
        text = panel.share_text
        assert text == filter_call(panel.criteria)
        expected = _uids(panel.filtered)
        # the call, run on the cohort (values read as literals, nothing evaluated)
        assert _uids(_run_call(demo_cohort, text)) == expected, text
        # the package's own reader, and the URL parameter, give the same criteria
        assert parse_filter(text) == parse_filter_query(panel.share_url) == parse_filter(
            text.removeprefix("cohort.filter(").removesuffix(")"))
        # pasted into another panel (Apply), the same selection and the same text
        assert other.apply_text(text), other.error.value
        assert other.share_text == text and _uids(other.filtered) == expected
        assert other.apply_text(panel.share_url), other.error.value
        assert _uids(other.filtered) == expected
        kinds_seen |= set(panel.criteria)
        nonempty += bool(expected[0]) and len(expected[0]) < len(demo_cohort.patients)
    # the combinations cover choices, flags, ranges, labs and observations
    assert {"sex", "icu", "age", "day", "labs", "modality"} <= kinds_seen, kinds_seen
    assert nonempty >= 15


def test_the_url_parameter_is_the_call_arguments_percent_encoded():
    criteria = {"sex": ["F"], "site": ["A&B #1+2"], "labs": {"crp": (100.0, None)}}
    query = filter_query(criteria)
    assert query.startswith("filter=") and "&" not in query[7:] and "#" not in query
    assert " " not in query and "+" not in query[7:]
    assert parse_filter_query(query) == criteria
    assert parse_filter_query(f"http://127.0.0.1:8866/?theme=dark&{query}#top") == criteria
    assert parse_filter_query("?" + query) == criteria
    assert parse_filter_query("theme=dark") == {}
    assert filter_query({}) == ""
    assert filter_call({"icu": np.bool_(True), "day": (np.float64(1), None)}) == (
        "cohort.filter(icu=True, day=(1.0, None))")


# ---------------------------------------------------------------------- untrusted text
BAD = [
    ("cohort.filter(shoe_size=42)", "shoe_size=42: not a criterion"),
    ("sex=['X']", "sex='X' is not allowed"),
    ("icu=1", "icu=1"),
    ("age=(70, 20)", "age=(70, 20): low is greater than high"),
    ("labs={'crp': (1, 2, 3)}", "labs['crp']=(1, 2, 3)"),
    ("labs=[1]", "labs="),
    ("sex=__import__('os').system('touch /tmp/x')", "sex=__import__('os')"),
    ("cohort.filter(sex=open('/etc/passwd').read())", "sex=open("),
    ("os.system('id')", "os.system(...): not a filter call"),
    ("cohort.filter('F')", "'F': positional argument"),
    ("cohort.filter(**{'sex': 'F'})", "**{'sex': 'F'}"),
    ("sex=['F'], sex=['M']", "sex=['M']: sex is given twice"),
    ("sex=['F'", "not a cohort.filter(...) call"),
    ("[" * 300, "not a cohort.filter(...) call"),
    ("sex=" + "[" * 150 + "]" * 150, "sex="),
    ("x" * (MAX_FILTER_TEXT + 1), "longer than the 4,000 allowed"),
    ("lab_match='sometimes'", "lab_match='sometimes'"),
    ("day=('a', 3)", "day=('a', 3)"),
    ("age=(float('nan'), 3)", "age=(float('nan'), 3): not a literal"),
]


@pytest.mark.parametrize(("text", "named"), BAD)
def test_bad_filter_text_is_one_line_naming_the_key_or_value(text, named):
    with pytest.raises(FilterTextError) as info:
        parse_filter(text)
    message = str(info.value)
    assert "\n" not in message and len(message) < 600
    assert named in message, message


def test_bad_queries_are_refused_in_one_line():
    for query, named in (("filter=icu=True&filter=died=True", "given 2 times"),
                         ("filter=" + "%5B" * 5000, "longer than"),
                         ("&".join(f"a{i}=1" for i in range(60)), "URL query"),
                         ("filter=sexx=%5B%27F%27%5D", "sexx=['F']: not a criterion")):
        with pytest.raises(FilterTextError, match=None) as info:
            parse_filter_query(query)
        assert named in str(info.value) and "\n" not in str(info.value)


def test_the_panel_refuses_bad_text_without_changing_the_filter(demo_cohort):
    panel = CohortFilter(demo_cohort)
    panel.set(sex=["F"])
    before = (panel.criteria, _uids(panel.filtered))
    seen: list[object] = []
    panel.observe_selection(seen.append)
    present = set(demo_cohort.images["modality"].astype(str))
    missing = next(m for m in ("MR", "CT", "DX", "CR") if m not in present)
    for text, named in [*BAD[:8],
                        ("cohort.filter(patient_uid=['x'])", "not a control of this filter"),
                        (f"icu=True, modality=['{missing}']", f"['{missing}'] not in this"),
                        ("labs={'ferritin_x': (1, 2)}", "ferritin_x"),
                        ("lab_match='within'", "lab_match='within'"),
                        ("?filter=sex%3D%5B%27X%27%5D", "?filter= not applied: filter sex='X'")]:
        assert panel.apply_text(text) is False, text
        shown = panel.error.value
        assert named.replace("'", "&#x27;") in shown, (text, shown)
        assert "<script" not in shown and "\n" not in shown
        assert (panel.criteria, _uids(panel.filtered)) == before, text
    assert panel.apply_text("cohort.filter(icu=True)")
    assert panel.error.value == "" and panel.criteria == {"icu": True}
    assert seen, "a good text notifies the views"


def test_the_error_text_is_escaped(demo_cohort):
    panel = CohortFilter(demo_cohort)
    assert not panel.apply_text("sex=['<img src=x onerror=alert(1)>']")
    assert "<img" not in panel.error.value and "&lt;img" in panel.error.value


# ---------------------------------------------------------------------- the app's URL
def test_the_app_applies_the_page_filter_and_links_back(demo_cohort, monkeypatch):
    dashboard = Dashboard(demo_cohort)
    expected = demo_cohort.filter(sex=["F"], modality=["CR", "DX"])
    monkeypatch.setenv(REQUEST_URL_ENV, "http://127.0.0.1:8866/?filter=ignored")
    monkeypatch.setenv(QUERY_ENV, filter_query({"sex": ["F"], "modality": ["CR", "DX"]}))
    assert apply_page_filter(dashboard.filter)
    assert dashboard.filter.criteria == {"sex": ["F"], "modality": ["CR", "DX"]}
    assert _uids(dashboard.filter.filtered) == _uids(expected)
    dashboard.refresh()
    assert dashboard.timeline.figure.layout.meta["n_patients"] == len(expected.patients)
    url = dashboard.filter.share_url
    assert url.startswith("http://127.0.0.1:8866/?filter=") and "ignored" not in url
    assert parse_filter_query(urlsplit(url).query) == dashboard.filter.criteria
    assert "href='http://127.0.0.1:8866/?filter=" in dashboard.filter.share.link.value

    fresh = Dashboard(demo_cohort)
    monkeypatch.setenv(QUERY_ENV, "filter=sex%3D%5B%27F%27%5D%2C%20shoe%3D1")
    assert apply_page_filter(fresh.filter) is False
    assert "shoe=1: not a criterion" in fresh.filter.error.value
    assert fresh.filter.criteria == {} and fresh.filter.selection.n_patients == len(
        demo_cohort.patients)
    monkeypatch.setenv(QUERY_ENV, "")
    assert apply_page_filter(fresh.filter) and fresh.filter.criteria == {}


# ---------------------------------------------------------------------- brushing
def _select(slot, low: float, high: float) -> None:
    """The message the page sends for a box selection from ``low`` to ``high`` on x."""
    slot.plot._handle_custom_msg({"event": "selected", "points": [[0, 0]],
                                  "range": {"x": [low, high], "y": [0, 1]}}, [])


def test_brushing_the_lab_histogram_sets_the_analyte_range(demo_cohort):
    dashboard = Dashboard(demo_cohort)
    dashboard.tabs.selected_index = 1
    labs = dashboard.labs
    labs.analyte.value = "crp"
    layout = labs.figure_slot.spec["layout"]
    assert layout["dragmode"] == "select" and "select2d" in layout["modebar"]["add"]
    go.Figure(labs.figure_slot.spec)          # plotly validates the added layout
    crp = demo_cohort.labs[demo_cohort.labs["analyte"] == "crp"]
    brush = np.nanpercentile(crp["lower"].to_numpy(float), [70, 30])
    _select(labs.figure_slot, *brush)          # dragged right to left
    # the brush's ends are rounded inwards to the CRP slider's steps
    slider = dashboard.filter.controls["lab:crp"].slider
    grid = np.arange(slider.min, slider.max + 1, slider.step, dtype=float)
    lo, hi = grid[grid >= brush[1]].min(), grid[grid <= brush[0]].max()
    assert dashboard.filter.criteria == {"labs": {"crp": (lo, hi)}}
    expected = demo_cohort.filter(labs={"crp": (lo, hi)})
    assert _uids(dashboard.filter.filtered) == _uids(expected)
    # by hand: patients with a CRP interval [lower, upper) overlapping [lo, hi]
    hand = crp[(crp["lower"] <= hi) & (crp["upper"] > lo)]["patient_uid"].nunique()
    assert dashboard.filter.selection.n_patients == hand == len(expected.patients) > 0
    assert 0 < hand < crp["patient_uid"].nunique()
    # the views followed; the share text says the same
    assert labs.figure.layout.meta["n_patients"] == hand
    assert _uids(_run_call(demo_cohort, dashboard.filter.share_text)) == _uids(expected)


def test_a_brush_past_the_bins_is_an_open_end(demo_cohort):
    dashboard = Dashboard(demo_cohort)
    labs = dashboard.labs
    labs.analyte.value = "crp"
    crp = demo_cohort.labs[demo_cohort.labs["analyte"] == "crp"]
    slider = dashboard.filter.controls["lab:crp"].slider
    mid = float(slider.min + 4 * slider.step)         # on the slider's grid
    _select(labs.figure_slot, mid, 1e9)
    assert dashboard.filter.criteria == {"labs": {"crp": (mid, None)}}
    hand = crp[crp["upper"] > mid]["patient_uid"].nunique()
    assert dashboard.filter.selection.n_patients == hand


def test_brushing_the_timeline_sets_the_exam_day_window(demo_cohort):
    dashboard = Dashboard(demo_cohort)
    slot = dashboard.timeline.figure_slot
    assert "select2d" in slot.spec["layout"]["modebar"]["add"]
    go.Figure(slot.spec)
    _select(slot, 0.4, 5.6)                    # rounded inwards to whole days: 1 to 5
    assert dashboard.filter.criteria == {"day": (1.0, 5.0)}
    images = demo_cohort.images
    day = images["day"].to_numpy(float)
    inside = images[(day >= 1) & (day <= 5)]   # by hand, from the images table
    assert dashboard.filter.selection.n_images == len(inside) > 0
    assert dashboard.filter.selection.n_patients == inside["patient_uid"].nunique()
    assert _uids(dashboard.filter.filtered) == _uids(demo_cohort.filter(day=(1, 5)))
    assert dashboard.timeline.figure.layout.meta["n_exams"] == len(inside)
    # a selection cleared (double click), a lasso or junk from the page change nothing
    for message in ({"event": "selected", "points": [], "range": None},
                    {"event": "selected", "points": [[0, 1]], "range": {"x": ["a", 3]}},
                    {"event": "selected", "range": {"x": [float("nan"), 3]}},
                    {"event": "selected", "range": {"x": [True, 3]}},
                    {"event": "selected", "range": "x"}):
        slot.plot._handle_custom_msg(message, [])
    assert dashboard.filter.criteria == {"day": (1.0, 5.0)}
    # aligned on ICU admission a day of the axis is not an exam day: said, not applied
    dashboard.timeline.align.value = "icu_admission"
    _select(slot, -3, 2)
    assert dashboard.filter.criteria == {"day": (1.0, 5.0)}
    assert "cohort's day axis" in dashboard.timeline.message.value


def test_brushing_the_census_overview_sets_the_day_window(demo_cohort):
    panel = CohortFilter(demo_cohort)
    timeline = OffsetTimeline(demo_cohort, page_size=5, selection=panel.selection)
    timeline.day_range_callbacks.append(lambda lo, hi: panel.set_range("day", lo, hi))
    assert timeline.figure.layout.meta["mode"] == "census"
    _select(timeline.figure_slot, -2.5, 3.2)
    assert panel.criteria == {"day": (-2.0, 3.0)}
    day = demo_cohort.images["day"].to_numpy(float)
    assert panel.selection.n_images == int(((day >= -2) & (day <= 3)).sum()) > 0


def test_set_range_checks_its_name_and_rounds_whole_number_controls(demo_cohort):
    panel = CohortFilter(demo_cohort)
    with pytest.raises(ValueError, match="sex"):
        panel.set_range("sex", 1, 2)
    with pytest.raises(ValueError, match="low is greater"):
        panel.set_range("day", 5, 1)
    panel.set_range("day", 2.2, 2.8)           # no whole day inside: the days around it
    assert panel.criteria == {"day": (2.0, 3.0)}
    panel.set_range("day", None, 4.5)
    assert panel.criteria == {"day": (None, 4.0)}
