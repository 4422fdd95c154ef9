"""Figures: the right things at the right places, readable labels, paging, empty selections."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

import covidimg.plotting as cp
import covidimg.stats as st
from covidimg.cohort import Cohort
from covidimg.plotting.timeline import MAX_BAR_DAYS

INF = np.inf


def _cohort(n: int, rng: np.random.Generator) -> Cohort:
    uid = [f"mhh:p{i:03d}" for i in range(n)]
    icu = np.arange(n) % 3 == 0
    died = np.arange(n) % 4 == 0
    patients = pd.DataFrame({"patient_uid": uid, "source": "mhh", "source_patient_id": uid,
                             "sex": np.where(np.arange(n) % 2, "F", "M"),
                             "covid_status": "positive", "icu": icu, "died": died,
                             "age_min": np.nan, "age_max": np.nan, "site": None})
    events = [pd.DataFrame({"patient_uid": uid, "event": "admission", "day": 0.0}),
              pd.DataFrame({"patient_uid": np.array(uid)[icu], "event": "icu_admission",
                            "day": 2.0}),
              pd.DataFrame({"patient_uid": np.array(uid)[icu], "event": "icu_release",
                            "day": 8.0}),
              pd.DataFrame({"patient_uid": np.array(uid)[died], "event": "death",
                            "day": 10.0 + np.arange(died.sum()) % 5})]
    day = np.tile([1.0, 4.0], n)
    pid = np.repeat(uid, 2)
    images = pd.DataFrame({
        "image_uid": [f"mhh:i{i}" for i in range(2 * n)], "patient_uid": pid, "source": "mhh",
        "modality": "CR", "view": "AP", "day": day, "admission_offset": -day,
        "icu_admission_offset": np.nan, "icu_release_offset": np.nan, "death_offset": np.nan,
        "path": "/x.png", "format": "png", "study_uid": None, "series_uid": None,
        "n_instances": None, "rows": None, "columns": None})
    x = rng.lognormal(3.5, 0.8, 2 * n)
    x[:4] = [3.0, 200.0, 2.0, 300.0]          # below and above the detection limits
    lo, hi = np.floor(x), np.floor(x) + 1
    lo[x < 8], hi[x < 8] = -INF, 8
    lo[x > 150], hi[x > 150] = 150, INF
    labs = pd.DataFrame({"patient_uid": pid, "image_uid": images["image_uid"], "analyte": "crp",
                         "unit": "mg/L", "lower": lo, "upper": hi, "censor": "interval",
                         "day": day, "offset": 0.0, "value_raw": ""})
    labs["censor"] = np.select([np.isneginf(lo), np.isposinf(hi)], ["left", "right"], "interval")
    return Cohort.from_tables({"patients": patients, "images": images,
                               "events": pd.concat(events), "labs": labs})


@pytest.fixture(scope="module")
def small() -> Cohort:
    return _cohort(12, np.random.default_rng(0))


def _trace(fig: go.Figure, name: str) -> go.Scatter:
    return next(t for t in fig.data if t.name == name)


def test_timeline_lanes_put_marks_on_their_days(small: Cohort) -> None:
    tl = st.timeline(small, align="icu_admission", labs=True)
    fig = cp.plot_timeline(tl)
    assert isinstance(fig, go.Figure)
    death = _trace(fig, "death")
    # ICU patients dying: p000 (death day 10) -> 8 days after ICU admission on day 2
    assert set(np.round(death.x, 6)) <= {8.0, 9.0, 10.0, 11.0, 12.0}
    exams = _trace(fig, "exam")
    assert sorted(set(exams.x)) == [-1.0, 2.0]
    assert "negative = before" in exams.hovertemplate
    assert "days since ICU admission" in fig.layout.xaxis.title.text
    assert "MHH convention" in fig.layout.title.text
    assert "patients without icu admission not shown" in fig.layout.title.text
    icu = _trace(fig, "ICU stay")
    segments = np.asarray(icu.x, dtype=float).reshape(-1, 3)[:, :2]
    assert (segments == [0.0, 6.0]).all()
    assert fig.layout.yaxis.ticktext[0] == tl.loc[tl["lane"] == 0, "patient_uid"].iloc[0]


def test_large_timelines_aggregate_or_page() -> None:
    big = _cohort(250, np.random.default_rng(1))
    tl = st.timeline(big)
    census_fig = cp.plot_timeline(tl)
    assert "Patients per day" in census_fig.layout.title.text
    assert "page=0…4" in census_fig.layout.title.text
    in_hospital = _trace(census_fig, "in hospital")
    assert max(in_hospital.y) == 250
    assert _trace(census_fig, "exams that day").type == "bar"
    page = cp.plot_timeline(tl, page=4)
    assert len(page.layout.yaxis.tickvals) == 10            # 250 = 4 * 60 + 10
    assert "page 5 of 5" in page.layout.title.text
    with pytest.raises(ValueError, match="page=5; this timeline has pages 0 to 4"):
        cp.plot_timeline(tl, page=5)


def test_a_census_of_many_days_draws_exams_as_one_step_line() -> None:
    """Thousands of days (IDC's whole index spans ~5,900) are one filled step line, not a
    bar each; the counts are the same."""
    days = np.arange(-1000, 2000, dtype=float)
    census = pd.DataFrame({"day": days, "under_observation": 3, "in_hospital": 2, "in_icu": 1,
                           "exams": (days % 7 == 0).astype(int), "deaths": 0})
    census.attrs.update(align="first_exam", n_patients=3)
    assert len(census) > MAX_BAR_DAYS
    exams = _trace(cp.plot_census(census), "exams that day")
    assert (exams.type, exams.fill, exams.line.shape) == ("scatter", "tozeroy", "hv")
    assert list(exams.y) == census["exams"].tolist() and list(exams.x) == days.tolist()


def test_lab_distribution_shows_censored_bars_and_reference(small: Cohort) -> None:
    res = st.compare_labs(small, "crp", by="icu", per_patient="all")
    fig = cp.plot_lab_distribution(res)
    assert fig.layout.xaxis.title.text == "C-reactive protein (mg/L)"
    # CRP's reference range (≤ 5 mg/L) lies below every finite bound (the limit is 8): it is
    # named, not shaded as an empty band
    assert [a.text for a in fig.layout.annotations] == ["reference ≤ 5 mg/L"]
    assert fig.layout.shapes == ()
    censored = [t for t in fig.data if t.text is not None]
    labels = {s for t in censored for s in t.text}
    assert "< 8" in labels and "> 150" in labels
    # shares of each group add up to 1 over the bins and the censored bars
    for group in ("ICU", "no ICU"):
        total = sum(sum(t.y) for t in fig.data if t.legendgroup == group)
        assert total == pytest.approx(1.0)
    assert "below<br>limit" in fig.layout.xaxis.ticktext


def test_lab_cdf_kaplan_meier_table_one_privacy_figures(small: Cohort) -> None:
    res = st.compare_labs(small, "crp", by="icu")
    cdf = cp.plot_lab_cdf(res)
    assert "gehan wilcoxon: p =" in cdf.layout.title.text
    assert cdf.data[0].y[-1] == pytest.approx(1.0)
    assert [a.text for a in cdf.layout.annotations] == ["reference ≤ 5 mg/L"]
    # the figure draws the comparison's curves, one step curve and one fit per group
    for group in ("ICU", "no ICU"):
        step = _trace(cdf, next(t.name for t in cdf.data
                                if t.name.startswith(f"{group} (n=")))
        drawn = res.curves[(res.curves["group"] == group) & (res.curves["curve"] == "turnbull")]
        np.testing.assert_array_equal(step.x, drawn["x"])
        np.testing.assert_array_equal(step.y, drawn["cdf"])
        median = res.groups.set_index("group").loc[group, "fit_median"]
        assert any(t.name == f"{group}: lognorm fit, median {median:.3g}" for t in cdf.data)
    km = st.kaplan_meier(small, "death", by="icu")
    fig = cp.plot_kaplan_meier(km)
    assert fig.layout.yaxis.title.text == "probability of being alive"
    assert "days since hospital admission" in fig.layout.xaxis.title.text
    assert "log-rank p =" in fig.layout.title.text
    line = next(t for t in fig.data if t.name and t.name.startswith("ICU (n="))
    curve = km.curves[km.curves["group"] == "ICU"]
    np.testing.assert_allclose(line.y, curve["survival"])
    table = cp.plot_table_one(st.table_one(small, by="icu"))
    assert isinstance(table.data[0], go.Table)
    assert "<b>ICU</b>" in table.data[0].header.values
    miss = cp.plot_missingness(st.missingness(small))
    assert "patients.age_min" in list(miss.data[0].y)
    rep = st.k_anonymity(small.patients, ["sex", "icu"], k=5)
    bars = cp.plot_equivalence_classes(rep)
    assert sorted(bars.data[0].x) == sorted(rep.classes["size"])


def test_empty_selections_give_a_figure_that_says_so(small: Cohort) -> None:
    empty = small.filter(patient_uid="mhh:nobody")
    assert "empty" in cp.plot_timeline(st.timeline(empty)).layout.annotations[0].text
    res = st.compare_labs(empty, "crp", by="icu")
    assert "No crp values" in cp.plot_lab_distribution(res).layout.annotations[0].text
    assert "No patients" in cp.plot_kaplan_meier(
        st.kaplan_meier(empty)).layout.annotations[0].text


def test_lab_distribution_draws_a_histogram_from_stats_with_its_own_bins() -> None:
    values = pd.DataFrame({"lower": [0.0, 1.0, 1.0, -INF], "upper": [2.0, 1.0, 1.0, 0.5],
                           "group": ["a", "a", "b", "b"]})
    hist = st.lab_histogram(values, "crp", bins=[0.0, 1.0, 2.0])
    fig = cp.plot_lab_distribution(hist, share=False)
    a, b = (_trace(fig, f"{g} (n=2)") for g in "ab")
    # a: [0, 2) spread half and half, plus the exact 1 -> [0.5, 1.5]; b: the exact 1 -> [0, 1]
    assert list(a.y) == [0.5, 1.5] and list(b.y) == [0.0, 1.0]
    below = _trace(fig, "b: below detection limit")
    assert list(below.text) == ["< 0.5"] and list(below.y) == [1.0]
    with pytest.raises(ValueError, match="a LabHistogram has its bins already"):
        cp.plot_lab_distribution(hist, bins=5)
    # a DataFrame of values is binned by stats.lab_histogram: the same figure
    assert cp.plot_lab_distribution(values, "crp", bins=[0.0, 1.0, 2.0], share=False) == fig
    # the values span 0 to 2: CRP's reference range (≤ 5 mg/L) is shaded from the axis' start
    (band,) = fig.layout.shapes
    assert (band.x0, band.x1) == (0.0, 5.0)
    log = cp.plot_lab_distribution(hist, share=False, log_count=True)
    assert log.layout.yaxis.type == "log"


def test_every_plot_function_returns_a_figure_and_its_dict() -> None:
    import inspect

    for name in cp.__all__:
        plot = getattr(cp, name)
        assert callable(plot.spec), name
        assert inspect.signature(plot).return_annotation in (go.Figure, "go.Figure"), name
        assert "Returns" in plot.__doc__ and ".spec(" in plot.__doc__, name
    spec = cp.empty_figure.spec("Title", "nothing here")
    assert isinstance(spec, dict) and spec["layout"]["annotations"][0]["text"] == "nothing here"
    fig = cp.empty_figure("Title", "nothing here")
    assert isinstance(fig, go.Figure) and fig.layout.title.text == "Title"


def test_plotting_computes_nothing_and_only_style_imports_plotly() -> None:
    import ast
    from pathlib import Path

    root = Path(cp.__file__).parent
    for path in root.glob("*.py"):
        tree = ast.parse(path.read_text())
        modules = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        modules |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                    and n.module}
        stats_modules = {m for m in modules if m.startswith("covidimg.stats")}
        assert stats_modules <= {"covidimg.stats"}, (path.name, stats_modules)
        assert "scipy" not in {m.split(".")[0] for m in modules}, path.name
        if path.name != "_style.py":
            assert not any(m.startswith("plotly") for m in modules), path.name


def test_plotting_reads_no_files_and_imports_no_widgets() -> None:
    import ast
    from pathlib import Path

    root = Path(cp.__file__).parent
    for path in root.glob("*.py"):
        tree = ast.parse(path.read_text())
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        attrs = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        assert "open" not in names, path
        assert not attrs & {"read_csv", "read_parquet", "read_text", "read_bytes"}, path
        imports = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert not any(i.startswith("ipywidgets") for i in imports), path
