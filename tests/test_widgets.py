"""The dashboard widgets on the demo cohort: filter controls, linked views, gallery and viewer."""

from __future__ import annotations

import io
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from covidimg import imaging, schema
from covidimg.imaging.thumbnails import render_png
from covidimg.widgets import (
    CohortFilter,
    CohortSummary,
    Dashboard,
    ImageGallery,
    LabDistribution,
    OffsetTimeline,
)
from covidimg.widgets.viewer import caption

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _frames_equal(a, b) -> None:
    for name in ("patients", "images", "events", "labs", "files", "findings"):
        pd.testing.assert_frame_equal(getattr(a, name).reset_index(drop=True),
                                      getattr(b, name).reset_index(drop=True), obj=name)


@pytest.fixture(scope="module")
def dashboard(demo_cohort):
    return Dashboard(demo_cohort)


@pytest.fixture(autouse=True)
def _reset(request):
    yield
    if "dashboard" in request.fixturenames:
        dashboard = request.getfixturevalue("dashboard")
        dashboard.filter.reset()
        dashboard.refresh()
        dashboard.tabs.selected_index = 0


def _click_exam(timeline: OffsetTimeline, point: int = 0) -> str:
    """Send the message plotly.js sends when an exam marker is clicked; return its uid."""
    fig = timeline.figure
    index = next(i for i, t in enumerate(fig.data) if t.name == "exam")
    uid = str(fig.data[index].customdata[point][-1])
    # the custom message PlotlyView's page code sends on plotly_click: [trace, point] pairs
    timeline.figure_slot.plot._handle_custom_msg({"event": "click", "points": [[index, point]]},
                                                 [])
    return uid


# ---------------------------------------------------------------------- CohortFilter
def test_controls_come_from_the_cohort_values(demo_cohort):
    f = CohortFilter(demo_cohort)
    # the demo holds every source with a demo writer (IDC's roots are collection ids, it has
    # none), so the choices are those, in the schema's order
    from covidimg.demo import available_sources

    demo_sources = [s for s in schema.SOURCES if s in available_sources()]
    assert set(demo_cohort.patients["source"].astype(str)) == set(demo_sources)
    assert list(f.controls["source"].options) == demo_sources
    assert set(f.controls["modality"].options) == set(demo_cohort.images["modality"].astype(str))
    measured = set(demo_cohort.labs["analyte"].astype(str))
    assert {k[4:] for k in f.controls if k.startswith("lab:")} == measured
    assert f.criteria == {}
    assert f.filtered is demo_cohort


@pytest.mark.parametrize("criteria", [
    {"sex": "F"},
    {"icu": True, "modality": ["CR", "DX"]},
    {"died": False, "source": ["nccid", "mhh"]},
    {"day": (0, 5)},
    {"age": (40, 70)},
    {"view": "PA", "covid_status": "positive"},
    {"labs": {"crp": (50, None)}},
])
def test_filter_matches_cohort_filter(demo_cohort, criteria):
    f = CohortFilter(demo_cohort)
    seen = []
    f.observe_filtered(seen.append)
    f.set(**criteria)
    assert f.criteria, "a criterion should be active"
    assert len(seen) == 1, "one set() call notifies once"
    assert seen[0] is f.filtered
    _frames_equal(f.filtered, demo_cohort.filter(**f.criteria))
    text = f.match_count.value
    assert f"<b>{len(f.filtered.patients)}</b> of {len(demo_cohort.patients)} patients" in text
    assert f"<b>{len(f.filtered.images)}</b> of {len(demo_cohort.images)} images" in text
    f.reset()
    assert f.criteria == {} and len(seen) == 2


def test_user_clicks_change_criteria(demo_cohort):
    f = CohortFilter(demo_cohort)
    f.controls["sex"].value = ["F"]                  # what the page sends for a click on F
    assert f.criteria == {"sex": ["F"]}
    f.controls["icu"].buttons.value = "no"
    assert f.criteria == {"sex": ["F"], "icu": False}
    day = f.controls["day"]
    day.slider.value = (day.low, 3)
    assert f.criteria["day"] == (None, 3.0)
    _frames_equal(f.filtered, demo_cohort.filter(sex="F", icu=False, day=(None, 3)))
    lab = f.controls["lab:crp"]
    lab.slider.value = (lab.low + (lab.high - lab.low) / 2, lab.high)
    assert f.criteria["labs"]["crp"][1] is None
    _frames_equal(f.filtered, demo_cohort.filter(**f.criteria))


def test_age_control_is_disabled_with_a_note_when_every_age_is_redacted(demo_cohort):
    import covidimg as ci

    patients = demo_cohort.patients.assign(age_min=np.nan, age_max=np.nan)
    redacted = ci.Cohort(**{**demo_cohort.tables(), "patients": patients})
    f = CohortFilter(redacted)
    age = f.controls["age"]
    assert age.slider.disabled and not age.slider.readout
    assert age.slider.layout.display == "none" and age.note.layout.display == "flex"
    assert "no known values" in age.note.value
    assert age.criterion() is None and "age" not in f.criteria
    known = CohortFilter(demo_cohort).controls["age"]
    assert not known.slider.disabled and known.note.layout.display == "none"


def test_filter_rejects_unknown_values(demo_cohort):
    f = CohortFilter(demo_cohort)
    with pytest.raises(ValueError, match="allowed values are"):
        f.set(colour="red")
    with pytest.raises(ValueError, match="not in this cohort"):
        f.set(modality="PET")
    with pytest.raises(ValueError, match="not measured"):
        f.set(labs={"troponin": (0, 1)})


# ---------------------------------------------------------------------- linked views
def test_every_view_follows_the_filter(dashboard, demo_cohort):
    before = {"timeline": dashboard.timeline.figure.layout.meta,
              "labs": dashboard.labs.figure.layout.meta,
              "summary": dashboard.summary.meta,
              "captions": dashboard.gallery.captions}
    assert before["timeline"]["n_patients"] == len(demo_cohort.patients)
    dashboard.filter.set(modality="CT")
    dashboard.refresh()
    sub = dashboard.filter.filtered
    assert set(sub.images["modality"].astype(str)) == {"CT"}
    tl = dashboard.timeline.figure.layout.meta
    assert tl["covidimg_view"] == "timeline"
    assert tl["n_patients"] == len(sub.patients) < before["timeline"]["n_patients"]
    assert tl["n_exams"] == len(sub.images)
    labs = dashboard.labs.figure.layout.meta
    expected = sub.labs[sub.labs["analyte"].astype(str) == labs["analyte"]]
    assert labs["n_patients"] == expected["patient_uid"].nunique()
    assert dashboard.summary.meta["n_patients"] == len(sub.patients)
    captions = dashboard.gallery.captions
    assert captions and captions != before["captions"]
    assert all(" · CT AXIAL · " in c for c in captions)
    assert len(captions) == min(len(sub.images), dashboard.gallery.page_size)


def test_summary_findings_follow_the_filter(dashboard, demo_cohort):
    dashboard.filter.set(source="crdw")
    dashboard.tabs.selected_index = 3          # the Summary tab: it follows when shown
    html = dashboard.summary.findings.value
    kinds = set(dashboard.filter.filtered.findings["kind"].astype(str))
    assert kinds and all(k in html for k in kinds)
    others = set(demo_cohort.findings["kind"].astype(str)) - kinds
    assert not any(f">{k}<" in html for k in others)


def test_empty_selection_says_no_patients_match(dashboard, demo_cohort):
    present = set(demo_cohort.images.loc[demo_cohort.images["source"] == "mhh",
                                         "modality"].astype(str))
    missing = next(m for m in ("CT", "MR", "CR", "DX") if m not in present
                   and m in dashboard.filter.controls["modality"].options)
    dashboard.filter.set(source="mhh", modality=missing)
    dashboard.refresh()
    assert len(dashboard.filter.filtered.patients) == 0
    assert "No patients match" in dashboard.filter.match_count.value
    assert dashboard.timeline.figure.layout.meta["n_patients"] == 0
    assert "No patients" in dashboard.timeline.figure.layout.annotations[0].text
    assert dashboard.labs.figure.layout.meta["n_values"] == 0
    assert dashboard.gallery.captions == []
    assert "no patients match" in dashboard.gallery.status.value
    assert "No patients match" in dashboard.summary.table.value
    assert dashboard.summary.table_one is None
    dashboard.filter.reset()
    dashboard.tabs.selected_index = 0
    assert dashboard.timeline.figure.layout.meta["n_patients"] == len(demo_cohort.patients)


def test_a_change_updates_the_shown_view_and_the_others_when_shown(dashboard, demo_cohort):
    dashboard.tabs.selected_index = 1                     # Labs shown
    summary_before = dashboard.summary.table.value
    dashboard.filter.set(sex="F")
    sub = demo_cohort.filter(sex="F")
    assert dashboard.stale_views == ("Timeline", "Gallery", "Summary")
    assert dashboard.labs.figure.layout.meta["n_values"] == LabDistribution(sub).figure.layout \
        .meta["n_values"]
    assert dashboard.summary.table.value == summary_before          # not computed yet
    assert "data-update" in dashboard.update_time.value
    dashboard.tabs.selected_index = 3                     # the user opens Summary
    assert dashboard.stale_views == ("Timeline", "Gallery")
    assert dashboard.summary.table.value == CohortSummary(sub).table.value
    dashboard.refresh()
    assert dashboard.stale_views == ()
    assert dashboard.timeline.figure.layout.meta["n_patients"] == len(sub.patients)
    dashboard.tabs.selected_index = 0


def test_timeline_click_opens_the_exam_in_the_gallery(dashboard):
    dashboard.tabs.selected_index = 0
    if dashboard.timeline.figure.layout.meta["mode"] == "census":
        dashboard.timeline.show.value = 0          # the first page of lanes
    uid = _click_exam(dashboard.timeline, point=1)
    assert dashboard.tabs.selected_index == 2
    viewer = dashboard.gallery.viewer
    assert viewer.image_uid == uid
    assert viewer.layout.display == "flex"
    assert uid in dashboard.gallery.image_uids, "the gallery turns to the exam's page"
    png = Image.open(io.BytesIO(viewer.image.value))
    assert png.size == (viewer.size, viewer.size)


def test_timeline_pages_and_census_for_many_patients(demo_cohort):
    t = OffsetTimeline(demo_cohort, page_size=10)
    meta = t.figure.layout.meta
    assert meta["mode"] == "census"
    t.show.value = 1
    assert t.figure.layout.meta["mode"] == "lanes"
    lanes = {tr.name for tr in t.figure.data}
    assert "exam" in lanes
    seen = []
    t.on_exam_click(seen.append)
    uid = _click_exam(t)
    assert seen == [uid]


# ---------------------------------------------------------------------- gallery & viewer
def test_gallery_pages_and_captions_hold_only_harmonized_fields(demo_cohort):
    g = ImageGallery(demo_cohort, page_size=5)
    assert g.n_pages == int(np.ceil(len(demo_cohort.images) / 5))
    first = g.captions
    g.next_page()
    assert g.page == 1 and g.captions != first
    g.previous_page()
    assert g.captions == first
    images = demo_cohort.images.set_index(demo_cohort.images["image_uid"].astype(str))
    forbidden = [c for c in images.columns if c not in
                 ("patient_uid", "day", "modality", "view", "source")]
    for uid, text in zip(g.image_uids, g.captions, strict=True):
        row = images.loc[uid]
        assert text == caption(row.to_dict())
        for column in forbidden:
            value = row[column]
            if isinstance(value, str) and len(value) > 3:
                assert value not in text, f"{column} leaked into a caption"
    pngs = imaging.thumbnails(g._page_rows(), size=g.thumb_size, use_preview=True,
                              cache=False, progress=False).images
    for (_cell, image, _text, _button), png in zip(g._cells, pngs, strict=False):
        assert image.format == "jpeg" and image.value[:3] == b"\xff\xd8\xff"
        sent = np.asarray(Image.open(io.BytesIO(image.value)), dtype=float)
        made = np.asarray(Image.open(io.BytesIO(png)), dtype=float)
        assert sent.shape == made.shape == (g.thumb_size, g.thumb_size)
        assert np.abs(sent - made).mean() < 4, "the JPEG sent is not the thumbnail made"


def test_captions_never_show_dicom_identifying_fields():
    row = {"patient_uid": "nccid:Covid1", "day": 2.0, "modality": "DX", "view": "AP",
           "source": "nccid", "PatientName": "DOE^JANE", "PatientBirthDate": "19500101",
           "InstitutionName": "General Hospital", "path": "/data/DOE_JANE/1.dcm"}
    text = caption(row)
    for secret in ("DOE", "JANE", "1950", "General Hospital"):
        assert secret not in text


def test_enlarge_button_opens_viewer_and_window_controls_change_the_image(demo_cohort):
    g = ImageGallery(demo_cohort, page_size=4)
    g._cells[0][3].click()
    v = g.viewer
    assert v.image_uid == g.image_uids[0] and v.layout.display == "flex"
    auto = v.image.value
    v.preset.value = "bone"
    assert v.image.value != auto
    bone = v.image.value
    v.level.value = (v.level.min + v.level.value) / 2
    assert v.level.value != v.level.max
    assert v.preset.value == "custom" and v.image.value != bone
    narrow = v.image.value
    v.width.value = max(v.width.value / 3, 2.0)
    assert v.image.value != narrow
    v.close_button.click()
    assert v.layout.display == "none"
    # a click on a thumbnail opens it too (the message the page sends)
    g._cells[1][1]._handle_custom_msg({"event": "click"}, [])
    assert v.image_uid == g.image_uids[1] and v.layout.display == "flex"


def test_ct_viewer_has_a_slice_slider(demo_cohort):
    images = demo_cohort.images
    ct = images[(images["modality"].astype(str) == "CT")
                & (images["n_instances"].fillna(1) > 2)]
    assert len(ct), "the demo holds CT series"
    uid = str(ct["image_uid"].iloc[0])
    g = ImageGallery(demo_cohort)
    g.show(uid)
    v = g.viewer
    assert v.n_slices == int(ct["n_instances"].iloc[0])
    assert v.slice.layout.display == "flex" and v.slice.max == v.n_slices - 1
    assert v.preset.value == "lung"
    middle = v.image.value
    v.slice.value = 0
    assert v.image.value != middle
    with pytest.raises(KeyError, match="filtered out"):
        g.show("no-such-image")


def test_viewer_window_after_switching_radiograph_and_ct_is_the_preset(demo_cohort):
    """CR -> CT -> CR: each opens with its preset (CT lung -600/1500; a radiograph its own
    percentiles), and each slider's new min, max and value reach the page in one message: sent
    one by one, the page's slider clamps the value to the range it still holds and sends the
    clamped value back (the CT opened nearly black, "custom" with the level at the maximum)."""
    from covidimg import imaging

    images = demo_cohort.images
    modality = images["modality"].astype(str)
    cr = images[modality == "CR"].iloc[0].to_dict()
    ct = images[(modality == "CT") & (images["n_instances"].fillna(1) > 2)].iloc[0].to_dict()
    g = ImageGallery(demo_cohort)
    v = g.viewer
    sent: list[tuple[str, dict]] = []
    for slider in (v.level, v.width):
        original = slider.send_state

        def record(key=None, _original=original, _slider=slider):  # type: ignore[no-untyped-def]
            sent.append((_slider.description, _slider.get_state(key)))
            return _original(key)

        slider.send_state = record
    for row in (cr, ct, cr):
        sent.clear()
        g.show(str(row["image_uid"]))
        if row["modality"] == "CT":
            assert v.preset.value == "lung"
            assert (v.level.value, v.width.value) == (-600.0, 1500.0)
        else:
            assert v.preset.value == "auto"
            low, high = imaging.window_bounds(imaging.read_image(row, voi=False), "auto")
            assert v.level.value == pytest.approx((low + high) / 2)
            assert v.width.value == pytest.approx(high - low)
        assert sorted(name for name, _state in sent) == ["Level", "Width"], sent
        for name, state in sent:    # one message per slider: the page never holds a mix
            slider = v.level if name == "Level" else v.width
            assert state["value"] == slider.value, (name, state)
            assert state.get("min", slider.min) <= state["value"] <= state.get("max", slider.max)


# ---------------------------------------------------------------------- labs & summary
def test_lab_and_summary_controls_redraw(demo_cohort):
    labs = LabDistribution(demo_cohort, analyte="crp", by=None)
    n_all = labs.figure.layout.meta["n_values"]
    labs.per_patient.value = "first"
    assert labs.figure.layout.meta["n_values"] == labs.figure.layout.meta["n_patients"] <= n_all
    labs.analyte.value = "ldh"
    assert labs.figure.layout.meta["analyte"] == "ldh"
    labs.log_scale.value = True
    assert labs.figure.layout.yaxis.type == "log"
    labs.log_scale.value = False
    assert labs.figure.layout.yaxis.type != "log"
    summary = CohortSummary(demo_cohort, by=None)
    summary.by.value = "sex"
    assert summary.meta["by"] == "sex"
    assert "F" in summary.table_one.columns
    assert "<th>F</th>" in summary.table.value
    with pytest.raises(ValueError, match="not measured"):
        LabDistribution(demo_cohort, analyte="troponin")


class _Cells(HTMLParser):
    """The text of every ``<td>`` and ``<th>`` of an HTML table, row by row."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):  # type: ignore[no-untyped-def]
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data):  # type: ignore[no-untyped-def]
        if self._cell is not None:
            self._cell.append(data)


def test_table_one_cells_are_the_statistics(demo_cohort):
    from covidimg import stats

    summary = CohortSummary(demo_cohort, by="icu")
    parser = _Cells()
    parser.feed(summary.table.value)
    header, *rows = parser.rows
    expected = stats.table_one(demo_cohort, by="icu")
    groups = list(expected.attrs["groups"])
    assert header == ["variable", "", "overall", *groups, "missing", "p", "test"]
    assert len(rows) == len(expected)
    for row, ((variable, level), values) in zip(rows, expected.iterrows(), strict=True):
        assert row[0] in ("", variable) and row[1] == level
        for column, cell in zip(["overall", *groups, "missing"], row[2:-2], strict=True):
            value = values[column]
            assert cell == ("" if pd.isna(value) else str(value)), (variable, column)
        p = values["p_value"]
        assert (row[-2] == "" if pd.isna(p) else
                row[-2] == "<0.001" if p < 0.001 else abs(float(row[-2]) - p) <= 5e-4)
        assert row[-1] == values["test"]
    assert sum(r[0] != "" for r in rows) == expected.index.get_level_values(0).nunique()


# ---------------------------------------------------------------------- serialisation
def test_dashboard_embeds_as_html(dashboard, tmp_path):
    from ipywidgets.embed import embed_minimal_html

    out = tmp_path / "dashboard.html"
    embed_minimal_html(out, views=[dashboard], title="covidimg dashboard")
    text = out.read_text()
    assert "covidimg-dashboard" in text and "application/vnd.jupyter.widget-state+json" in text


# ---------------------------------------------------------------------- the fast path
def _figure_json(figure) -> str:
    import json

    data = figure.to_plotly_json()
    for trace in data["data"]:
        trace.pop("uid", None)
    return json.dumps(data, sort_keys=True,
                      default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o))


@pytest.mark.parametrize("criteria", [
    {"sex": "F"},
    {"icu": True, "modality": ["CR", "DX"]},
    {"day": (0, 5), "labs": {"crp": (20, None)}},
    {"source": "mhh", "view": "PA"},
])
def test_views_drawn_from_the_selection_equal_views_drawn_from_the_filtered_cohort(
        dashboard, demo_cohort, criteria):
    dashboard.filter.set(**criteria)
    dashboard.refresh()
    sub = demo_cohort.filter(**criteria)
    for view, plain in ((dashboard.timeline, OffsetTimeline(sub)),
                        (dashboard.labs, LabDistribution(sub))):
        assert view.selection is dashboard.filter.selection
        assert _figure_json(view.figure) == _figure_json(plain.figure), type(view).__name__
    assert dashboard.summary.table.value == CohortSummary(sub).table.value
    assert dashboard.summary.findings.value == CohortSummary(sub).findings.value
    gallery = ImageGallery(sub)
    assert dashboard.gallery.captions == gallery.captions
    assert dashboard.gallery.n_pages == gallery.n_pages
    _frames_equal(dashboard.labs.cohort, sub)


def _every_figure_spec(dashboard, demo_cohort) -> list[tuple[str, dict]]:
    """Every figure the package draws, built as a dict from the demo (names of the functions)."""
    import covidimg.plotting as cp
    import covidimg.stats as st
    from covidimg.stats.selection import lab_counts

    selection = dashboard.cohort.select()
    counts = lab_counts(selection, "crp", by="icu")
    values = counts.values.assign(analyte="crp", unit=counts.unit)
    comparison = st.compare_labs(demo_cohort, "crp", by="icu", per_patient="all")
    marks = st.timeline(demo_cohort, labs=True)
    privacy = st.k_anonymity(demo_cohort.patients, ["sex", "icu"], k=5, sensitive="died")
    return [
        ("empty_figure", cp.empty_figure.spec("Nothing", "no values")),
        ("plot_census", cp.plot_census.spec(st.cohort_census(selection), note="a note")),
        ("plot_timeline", cp.plot_timeline.spec(marks, page=0, page_size=8)),
        ("plot_timeline", cp.plot_timeline.spec(marks, page_size=8)),       # the census
        ("plot_lab_distribution", cp.plot_lab_distribution.spec(st.lab_histogram(values))),
        ("plot_lab_distribution", cp.plot_lab_distribution.spec(comparison, log_count=True)),
        ("plot_lab_cdf", cp.plot_lab_cdf.spec(comparison)),
        ("plot_table_one", cp.plot_table_one.spec(st.table_one(selection, by="sex"))),
        ("plot_missingness", cp.plot_missingness.spec(st.missingness(demo_cohort))),
        ("plot_kaplan_meier", cp.plot_kaplan_meier.spec(st.kaplan_meier(demo_cohort,
                                                                          by="icu"))),
        ("plot_equivalence_classes", cp.plot_equivalence_classes.spec(privacy)),
        ("plot_image_overlay", cp.plot_image_overlay.spec(
            render_png(np.zeros((40, 30), np.uint8), 64), 40, 30,
            [{"kind": "box", "geometry": '{"x":1,"y":2,"w":3,"h":4}', "label": "a", "reader": 1},
             {"kind": "polygon", "geometry": '{"points":[[1,2],[5,6],[9,2]]}', "label": "b",
              "reader": None}], title="overlay")),
    ]


def test_figure_widget_without_validation_equals_the_validated_widget(dashboard, demo_cohort):
    """The one use of plotly's private ``_validate=False`` (``widgets._figures.figure_widget``)
    gives the widget plotly's validation gives, for every figure the package draws."""
    import plotly.graph_objects as go

    import covidimg.plotting as cp
    from covidimg.widgets._figures import figure_widget

    specs = _every_figure_spec(dashboard, demo_cohort)
    assert {name for name, _s in specs} == set(cp.__all__)    # no figure left out
    for name, spec in specs:
        fast = figure_widget(spec).get_state()
        checked = go.FigureWidget(spec).get_state()
        for state in (fast, checked):
            for trace in state["_widget_data"]:
                trace.pop("uid")
        for key in ("_widget_data", "_widget_layout"):
            assert _plain(fast[key]) == _plain(checked[key]), (name, key)


def test_installed_plotly_is_within_the_range_figure_widget_is_checked_for():
    from pathlib import Path

    import plotly
    from packaging.requirements import Requirement
    from packaging.version import Version

    from covidimg.widgets._figures import PLOTLY_RANGE

    tomllib = pytest.importorskip("tomllib")     # Python 3.11+
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    declared = next(r for r in map(Requirement, pyproject["project"]["dependencies"])
                    if r.name == "plotly")
    assert str(declared.specifier) == ",".join(sorted(PLOTLY_RANGE)), declared
    assert any(s.operator == "<" for s in declared.specifier), "plotly needs an upper bound"
    assert Version(plotly.__version__) in declared.specifier, plotly.__version__


def _plain(value):
    """Widget state with binary buffers as bytes, so two states compare by content."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, memoryview):
        return bytes(value)
    return value


def test_summary_shows_expert_labels_and_the_sources_terms_of_the_selection():
    """The Summary tab lists the annotations of the matching patients per label and, per
    source still present, its licence, what to cite and its terms (from provenance)."""
    import covidimg as ci
    from covidimg.widgets import CohortSummary

    cohort = ci.load_demo(n_patients=12)
    summary = CohortSummary(cohort)
    for scheme in set(cohort.annotations["scheme"].astype(str)):
        assert f"<td>{scheme}</td>" in summary.labels.value
    assert summary.sources.value.count("CC BY 3.0") == 1          # MHH's licence
    assert "COVID-19 purposes" in summary.sources.value          # NCCID's terms
    summary.update_selection(cohort.select(source="mhh"))
    assert "No expert labels" in summary.labels.value
    assert "<td>nccid</td>" not in summary.sources.value and "<td>mhh</td>" in \
        summary.sources.value


def test_filter_offers_observation_site_exam_and_label_facets_that_filter_as_the_cohort():
    """Facets generated from the cohort's values: the harmonized observation fields (here
    ethnicity and race), exam and expert labels; each filters exactly as Cohort.filter."""
    import covidimg as ci
    from covidimg.widgets import CohortFilter

    cohort = ci.load_demo(n_patients=12)
    panel = CohortFilter(cohort)
    for key in ("obs:ethnicity", "obs:race", "exam", "annotation"):
        assert key in panel.controls, key
    ethnicity = cohort.observations.query("field == 'ethnicity'")["value"].dropna()
    chosen = sorted(ethnicity.astype(str).unique())[:2]
    label = str(cohort.annotations["label"].dropna().iloc[0])
    panel.set(observations={"ethnicity": chosen}, annotation=[label])
    assert panel.criteria == {"annotation": [label], "observations": {"ethnicity": chosen}}
    expected = cohort.filter(observations={"ethnicity": chosen}, annotation=label)
    assert sorted(panel.filtered.patients["patient_uid"]) == sorted(
        expected.patients["patient_uid"])
    owners = set(cohort.observations.query("field == 'ethnicity' and value in @chosen")[
        "patient_uid"]) & set(cohort.annotations.query("label == @label")["patient_uid"])
    assert set(expected.patients["patient_uid"]) == owners   # by hand, from the tables
    with pytest.raises(ValueError, match="observations field"):
        panel.set(observations={"shoe_size": ["42"]})


def test_multi_choice_is_one_widget_and_keeps_to_the_cohorts_values():
    """The filter's buttons are drawn by one widget per control; what the page sends is
    checked like what code sets."""
    import traitlets

    from covidimg.widgets._controls import MultiChoice

    choice = MultiChoice("modality", "Modality", ["CR", "CT", "DX"])
    assert choice.classes == ["covidimg-filter-modality-cr", "covidimg-filter-modality-ct",
                              "covidimg-filter-modality-dx"]
    seen = []
    choice.watch(lambda: seen.append(choice.criterion()))
    choice.value = ["DX", "CR"]                       # pressed in this order in the page
    assert choice.criterion() == ["CR", "DX"] and seen == [["CR", "DX"]]
    with pytest.raises(traitlets.TraitError, match=r"\['MR'\] not in this cohort"):
        choice.value = ["MR"]
    with pytest.raises(ValueError, match=r"modality='MR'"):
        choice.set("MR")
    choice.reset()
    assert choice.criterion() is None and seen[-1] is None
    assert MultiChoice("sex", "Sex", ["F"]).disabled      # one value: nothing to choose
