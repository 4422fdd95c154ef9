"""Stored XSS (issue 16, item 2): text from a cohort reaches the dashboard only escaped, and
``Cohort.open`` refuses values outside a column's vocabulary.

A saved cohort is data someone else may have written. Every ``ipywidgets.HTML`` value is
markup put into the page as it is, so each place that shows a value from the data is checked
here with a cohort whose every text column holds script payloads (:mod:`.xss`): the payload
must appear escaped, and no payload's markup unescaped. Figures are checked the same way
(plotly draws a subset of HTML in its text). ``tests/test_browser_xss.py`` checks in Chromium
that nothing runs.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import covidimg as ci
from covidimg import plotting, schema, stats
from covidimg.cohort import Criteria
from covidimg.errors import CohortFileError
from covidimg.widgets import (
    CohortFilter,
    CohortSummary,
    Dashboard,
    ImageGallery,
    LabDistribution,
    OffsetTimeline,
    SerialComparison,
)
from covidimg.widgets._controls import RangeChoice
from covidimg.widgets._html import escape

from .xss import ESCAPED_IMG, PAYLOADS, figure_texts, html_values, payload, poisoned, raw_markup

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> ci.Cohort:
    return ci.load_demo(n_patients=8, cache=tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="module")
def bad(demo: ci.Cohort) -> ci.Cohort:
    """Payloads in every text column, analyte, unit and finding kind too (in memory only:
    Cohort.open refuses those three)."""
    return poisoned(demo, names=True)


@pytest.fixture(scope="module")
def dashboard(bad: ci.Cohort) -> Dashboard:
    return Dashboard(bad)


def _analytes(cohort: ci.Cohort) -> list[str]:
    return sorted(cohort.labs["analyte"].astype(str).unique())


def _clean_and_escaped(texts: list[str], escaped: str = ESCAPED_IMG) -> None:
    assert not raw_markup(iter(texts)), raw_markup(iter(texts))
    assert any(escaped in t for t in texts), texts[:5]


# ---------------------------------------------------------------------- the widgets' HTML
def test_the_escaping_helper_escapes_markup_and_quotes() -> None:
    for text in PAYLOADS:
        assert html.unescape(escape(text)) == text
        assert "<" not in escape(text) and '"' not in escape(text)


def test_filter_labels_of_lab_controls(bad: ci.Cohort) -> None:
    f = CohortFilter(bad)
    labels = [v for key, control in f.controls.items() if key.startswith("lab:")
              for v in html_values(control) if v]     # (a control's empty note left out)
    assert len(labels) == len(_analytes(bad))
    _clean_and_escaped(labels)
    _clean_and_escaped(list(html_values(RangeChoice("x", PAYLOADS[0], 0.0, 1.0))))


def test_filter_description_of_the_criteria(bad: ci.Cohort) -> None:
    f = CohortFilter(bad)
    control = f.controls[f"lab:{PAYLOADS[0]}"]
    f.set(labs={PAYLOADS[0]: ((control.low + control.high) / 2, None)})
    assert PAYLOADS[0] in str(f.criteria)
    _clean_and_escaped([f.describe()])


def test_gallery_captions(bad: ci.Cohort) -> None:
    g = ImageGallery(bad, page_size=6)
    captions = [v for v in html_values(g.grid)]
    _clean_and_escaped(captions)
    assert any("#" in c for c in g.captions)    # the captions themselves stay text


def test_viewer_title_and_error_message(bad: ci.Cohort) -> None:
    g = ImageGallery(bad, page_size=6)
    g.show(g.image_uids[1])          # every other image has a payload path that does not exist
    viewer = g.viewer
    assert viewer.image_uid == g.image_uids[1]
    _clean_and_escaped([viewer.title.value], "&lt;")
    assert "cannot be shown" in viewer.message.value
    _clean_and_escaped([viewer.message.value], "&lt;")


def test_serial_comparison_title_and_captions(bad: ci.Cohort) -> None:
    images = bad.images[bad.images["modality"].astype(str).isin(["CR", "DX"])]
    with_labs = set(bad.labs["patient_uid"].astype(str))
    patient = next(p for p in images["patient_uid"].astype(str) if p in with_labs and "<" in p)
    view = SerialComparison(bad, patient)
    assert view.image_uids and any("[" in c or "<" in c for c in view.captions)
    texts = list(html_values(view))
    _clean_and_escaped(texts, "&lt;")
    assert any(escape(patient) in t for t in texts)


def test_labs_message_names_the_analyte_escaped(bad: ci.Cohort) -> None:
    analyte = PAYLOADS[0]
    view = LabDistribution(bad, analyte=analyte)
    view.update_selection(bad.select(Criteria(age=(1000, None))))   # nobody: "No <a> values"
    assert "No " in view.message.value
    _clean_and_escaped([view.message.value])


def test_summary_findings_table(bad: ci.Cohort) -> None:
    view = CohortSummary(bad)
    assert "covidimg-findings" in view.findings.value
    _clean_and_escaped([view.findings.value])


def test_every_html_value_of_the_dashboard(dashboard: Dashboard) -> None:
    dashboard.refresh()                       # the tabs not shown yet draw too
    dashboard.gallery.show(dashboard.gallery.image_uids[1])
    radiographs = dashboard.cohort.images["modality"].astype(str).isin(["CR", "DX"])
    dashboard.open_course(str(dashboard.cohort.images.loc[radiographs, "patient_uid"].iloc[0]))
    assert dashboard.course.image_uids
    for _label, analyte in dashboard.labs.analyte.options:
        dashboard.labs.analyte.value = analyte
        assert not raw_markup(html_values(dashboard))
    _clean_and_escaped(list(html_values(dashboard)))


# ---------------------------------------------------------------------- figure text
def _figure_clean(spec: dict) -> list[str]:
    texts = list(figure_texts(spec))
    assert not raw_markup(iter(texts)), raw_markup(iter(texts))
    return texts


def test_timeline_hover_and_patient_ticks(bad: ci.Cohort) -> None:
    marks = stats.timeline(bad, "admission", labs=True)
    spec = plotting.plot_timeline.spec(marks, page=0, show_labs=True)
    texts = _figure_clean(spec)
    assert any(ESCAPED_IMG in t for t in texts)
    ticks = spec["layout"]["yaxis"]["ticktext"]
    assert all("<" not in t for t in ticks) and any(ESCAPED_IMG in t for t in ticks)


def test_timeline_click_reports_the_raw_image_uid(bad: ci.Cohort) -> None:
    view = OffsetTimeline(bad)
    clicked: list[str] = []
    view.on_exam_click(clicked.append)
    fig = view.figure
    index = next(i for i, t in enumerate(fig.data) if t.name == "exam")
    # the message the page's plot code sends on a click: [trace, point] pairs
    view.figure_slot.plot._handle_custom_msg({"event": "click", "points": [[index, 0]]}, [])
    assert clicked and clicked[0] in set(bad.images["image_uid"].astype(str))
    assert any(p in clicked[0] for p in PAYLOADS)


def test_lab_figures_title_axis_legend_and_hover(bad: ci.Cohort) -> None:
    analyte = PAYLOADS[0]
    hist = stats.lab_histogram(stats.lab_values(bad, analyte, by="site"), analyte)
    texts = _figure_clean(plotting.plot_lab_distribution.spec(hist))
    assert any(ESCAPED_IMG in t for t in texts)
    comparison = stats.compare_labs(bad, analyte, by="sex")
    texts = _figure_clean(plotting.plot_lab_cdf.spec(comparison))
    assert any(ESCAPED_IMG in t for t in texts)


def test_table_one_cells_and_headers(bad: ci.Cohort) -> None:
    texts = _figure_clean(plotting.plot_table_one.spec(stats.table_one(bad, by="site")))
    assert any(ESCAPED_IMG in t for t in texts)


def test_missingness_labels(bad: ci.Cohort) -> None:
    texts = _figure_clean(plotting.plot_missingness.spec(stats.missingness(bad)))
    assert any(ESCAPED_IMG in t for t in texts)


def test_kaplan_meier_group_names(bad: ci.Cohort) -> None:
    texts = _figure_clean(plotting.plot_kaplan_meier.spec(
        stats.kaplan_meier(bad, event="death", by="site", include_unknown=True)))
    assert any(ESCAPED_IMG in t for t in texts)


def test_equivalence_class_labels() -> None:
    people = pd.DataFrame({payload(0): [payload(i) for i in range(6)],
                           "age": [31, 38, 52, 55, 61, 70], "dx": ["a", "b"] * 3})
    report = stats.k_anonymity(people, [payload(0), "age"], k=2, bands={"age": 10},
                               sensitive="dx")
    texts = _figure_clean(plotting.plot_equivalence_classes.spec(report))
    assert any(ESCAPED_IMG in t for t in texts)


def test_census_note() -> None:
    census = stats.timeline_census(stats.timeline(ci.load_demo(n_patients=8)))
    texts = _figure_clean(plotting.plot_census.spec(census, note=PAYLOADS[0]))
    assert any(ESCAPED_IMG in t for t in texts)


# ---------------------------------------------------------------------- Cohort.open
def test_free_text_payloads_are_data_and_survive_a_save(demo: ci.Cohort, tmp_path: Path) -> None:
    cohort = poisoned(demo)
    cohort.save(tmp_path / "c")
    again = ci.Cohort.open(tmp_path / "c", lazy=())
    for name, column in (("patients", "site"), ("images", "path"), ("findings", "detail"),
                         ("patients", "note")):
        assert again.tables()[name][column].astype(str).tolist() == \
            cohort.tables()[name][column].astype(str).tolist()


@pytest.mark.parametrize(("table", "column"), [("labs", "analyte"), ("labs", "unit"),
                                               ("findings", "kind")])
def test_a_payload_in_a_named_column_is_refused_on_open(demo: ci.Cohort, tmp_path: Path,
                                                        table: str, column: str) -> None:
    tables = poisoned(demo).tables()
    frame = tables[table].copy()
    dtype = frame[column].dtype
    frame[column] = pd.Series([payload(i) for i in range(len(frame))]).astype(dtype) \
        if str(dtype) != "category" else pd.Categorical([payload(i) for i in range(len(frame))])
    tables[table] = frame
    ci.Cohort(**tables).save(tmp_path / "c")
    with pytest.raises(schema.SchemaError, match=column):
        ci.Cohort(**tables).validate()
    with pytest.raises(CohortFileError, match=rf"{table}\.{column} holds {len(PAYLOADS)} values"):
        opened = ci.Cohort.open(tmp_path / "c")
        getattr(opened, table)      # findings is read on first access


def test_a_value_outside_allowed_is_refused_and_a_long_one_not_quoted(
        demo: ci.Cohort, tmp_path: Path) -> None:
    demo.save(tmp_path / "c")
    manifest = json.loads((tmp_path / "c" / "manifest.json").read_text())
    path = tmp_path / "c" / manifest["tables_dir"] / "patients.parquet"
    table = pq.read_table(path)
    long = PAYLOADS[0] * 20
    sex = pa.array([long] + ["F"] * (table.num_rows - 1)).dictionary_encode()
    pq.write_table(table.set_column(table.schema.get_field_index("sex"), "sex", sex), path)
    with pytest.raises(CohortFileError, match=r"patients\.sex holds 1 value") as caught:
        ci.Cohort.open(tmp_path / "c")
    message = str(caught.value)
    assert f"a text of {len(long)} characters" in message and "<img" not in message
    assert "the schema allows ['F', 'M', 'U']" in message


def test_a_non_text_column_where_text_is_expected_is_refused(demo: ci.Cohort,
                                                             tmp_path: Path) -> None:
    demo.save(tmp_path / "c")
    manifest = json.loads((tmp_path / "c" / "manifest.json").read_text())
    path = tmp_path / "c" / manifest["tables_dir"] / "labs.parquet"
    table = pq.read_table(path)
    binary = pa.array([b"\xff\xfe"] * table.num_rows, type=pa.binary())
    pq.write_table(table.set_column(table.schema.get_field_index("unit"), "unit", binary), path)
    with pytest.raises(CohortFileError, match=r"labs\.unit"):
        ci.Cohort.open(tmp_path / "c")
