"""A shared filter link opens the app with that filter: ``covidimg dashboard`` in headless
Chromium, opened at ``/?filter=...`` (Voila gives the page's query string to its kernel as
``$QUERY_STRING``; the notebook applies it). The filter's buttons are pressed and the counts are
``cohort.filter``'s; the Share panel shows the same call and a link to the same page. A
malformed parameter leaves the whole cohort with a one-line message naming the bad key; a box
selection dragged across the lab histogram sets the analyte's range, and one across the
timeline's days (Box Select from its toolbar) the exam-day window.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from servers import chromium, dashboard_command, free_port, started

import covidimg as ci
from covidimg.cohort import filter_call, filter_query, parse_filter, parse_filter_query

pytestmark = [pytest.mark.browser, pytest.mark.slow]

MATCH = re.compile(r"(\d+) of (\d+) patients · (\d+) of (\d+) images match")
READY = """() => { const g = document.querySelector('.covidimg-timeline .js-plotly-plot');
    return g && g.data && g.layout && g.layout.meta && g.layout.meta.covidimg_view
        && document.querySelector('.covidimg-match-count b') !== null; }"""
#: Pressed state of the filter's toggle buttons: {css class: pressed}.
PRESSED = """(classes) => Object.fromEntries(classes.map(c => {
    const b = document.querySelector('.' + c);
    return [c, b ? b.classList.contains('mod-active') : null]; }))"""


#: Page position of the middle exam on the timeline's day axis, and the plot area's top/height.
MIDDLE_EXAM = """() => { const g = document.querySelector('.covidimg-timeline .js-plotly-plot');
    const full = g._fullLayout, xa = full.xaxis, box = g.getBoundingClientRect();
    const exam = g._fullData.find(d => d.name === 'exam');
    const xs = Array.from(exam.x).sort((a, b) => a - b);
    const day = xs[Math.floor(xs.length / 2)];
    return {x: box.left + xa._offset + xa.d2p(day), top: box.top + full._size.t,
            height: full._size.h}; }"""


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[ci.Cohort, Path]:
    cohort = ci.load_demo(n_patients=8, cache=tmp_path_factory.mktemp("demo"))
    folder = tmp_path_factory.mktemp("cohort") / "demo"
    cohort.save(folder)
    return ci.Cohort.open(folder), folder


def _counts(page) -> tuple[int, ...]:  # type: ignore[no-untyped-def]
    text = page.inner_text(".covidimg-match-count")
    found = MATCH.search(text)
    assert found, text
    return tuple(int(g) for g in found.groups())


def _open(page, url: str, shots: Path) -> None:  # type: ignore[no-untyped-def]
    page.goto(url, timeout=240_000)      # Voila runs the notebook before it answers
    try:
        page.wait_for_selector(".covidimg-dashboard .covidimg-match-count", timeout=180_000)
        page.wait_for_function(READY, timeout=120_000)
    except Exception:
        page.screenshot(path=str(shots / "failure.png"))
        pytest.fail(f"the dashboard at {url} did not show; the page says: "
                    + page.inner_text("body")[:2000])
    assert "Error displaying widget" not in page.content()


def test_a_filter_link_opens_the_app_filtered_and_a_bad_one_says_why(saved, tmp_path):
    cohort, folder = saved
    sexes = set(cohort.patients["sex"].astype(str))
    modalities = set(cohort.images["modality"].astype(str))
    assert {"F", "M"} <= sexes and {"CR", "CT"} <= modalities, (sexes, modalities)
    criteria = {"sex": ["F"], "modality": ["CR", "CT"], "icu": False}
    expected = cohort.filter(**criteria)
    assert 0 < len(expected.patients) < len(cohort.patients)
    port = free_port()
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    errors: list[str] = []
    with started(dashboard_command(str(folder), port=port), env=env,
                 log=tmp_path / "dashboard.log") as server, chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 950})
        page.on("pageerror", lambda e: errors.append(str(e)))

        # -- the shared link: controls set, counts those of cohort.filter
        _open(page, f"{server.url}?{filter_query(criteria)}", tmp_path)
        page.wait_for_function(
            "(n) => document.querySelector('.covidimg-match-count').textContent"
            ".includes(n + ' of ')", arg=len(expected.patients), timeout=60_000)
        assert _counts(page) == (len(expected.patients), len(cohort.patients),
                                 len(expected.images), len(cohort.images))
        buttons = ["covidimg-filter-sex-f", "covidimg-filter-sex-m",
                   "covidimg-filter-modality-cr", "covidimg-filter-modality-ct"]
        pressed = page.evaluate(PRESSED, buttons)
        assert pressed == {"covidimg-filter-sex-f": True, "covidimg-filter-sex-m": False,
                           "covidimg-filter-modality-cr": True,
                           "covidimg-filter-modality-ct": True}, pressed
        icu = page.locator(".covidimg-filter-icu .mod-active").inner_text().strip()
        assert icu == "no"
        assert page.locator(".covidimg-filter-error").inner_text().strip() == ""
        # the Share panel: the same call, and a link back to this page with this filter
        page.locator(".covidimg-filter .lm-AccordionPanel-title, "
                     ".covidimg-filter .jupyter-widget-Collapse-header",
                     has_text="Share this filter").first.click()
        call = page.locator(".covidimg-share-call textarea")
        call.wait_for(state="visible", timeout=30_000)
        assert call.input_value() == filter_call(criteria)   # the panel's order: as given
        link = page.locator(".covidimg-share-url input").input_value()
        assert link.startswith(server.url + "?filter=")
        assert parse_filter_query(urlsplit(link).query) == criteria

        # -- a malformed parameter: the whole cohort and one line naming the bad key
        _open(page, f"{server.url}?filter=sexx%3D%5B%27F%27%5D", tmp_path)
        message = page.locator(".covidimg-filter-error")
        message.wait_for(state="visible", timeout=30_000)
        text = message.inner_text().strip()
        assert "sexx=['F']: not a criterion of Cohort.filter" in text
        assert "\n" not in text
        assert _counts(page) == (len(cohort.patients), len(cohort.patients),
                                 len(cohort.images), len(cohort.images))
        assert not page.evaluate(PRESSED, buttons[:1])["covidimg-filter-sex-f"]

        # -- a box selection dragged across the lab histogram sets that analyte's range
        page.locator(".covidimg-dashboard .lm-TabBar-tab", has_text="Labs").click()
        page.wait_for_function(
            "() => { const g = document.querySelector('.covidimg-labs .js-plotly-plot');"
            " return g && g.layout && g.layout.meta && g.layout.meta.analyte"
            " && g.layout.meta.n_values > 0 && g.layout.dragmode === 'select'; }",
            timeout=60_000)
        analyte = page.evaluate("() => document.querySelector('.covidimg-labs .js-plotly-plot')"
                                ".layout.meta.analyte")
        drag = page.locator(".covidimg-labs .nsewdrag").first
        box = drag.bounding_box()
        assert box is not None
        y = box["y"] + box["height"] / 2
        page.mouse.move(box["x"] + box["width"] * 0.3, y)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.5, y, steps=8)
        page.mouse.move(box["x"] + box["width"] * 0.7, y, steps=8)
        page.mouse.up()
        page.wait_for_function(
            "(n) => !document.querySelector('.covidimg-match-count').textContent"
            ".startsWith(n + ' of')", arg=len(cohort.patients), timeout=60_000)
        n_patients = _counts(page)[0]
        assert 0 < n_patients < len(cohort.patients)
        page.locator(".covidimg-filter .lm-AccordionPanel-title, "
                     ".covidimg-filter .jupyter-widget-Collapse-header",
                     has_text="Share this filter").first.click()
        brushed = page.locator(".covidimg-share-call textarea").input_value()
        assert brushed.startswith(f"cohort.filter(labs={{'{analyte}': (")
        # the call, read as literals, selects as many patients as the page says
        assert len(cohort.filter(**parse_filter(brushed)).patients) == n_patients

        # -- on the timeline: Box Select from the toolbar, dragged across days
        page.locator(".covidimg-dashboard .lm-TabBar-tab", has_text="Timeline").click()
        page.wait_for_function(          # the timeline has followed the brushed lab range
            "(n) => { const g = document.querySelector('.covidimg-timeline .js-plotly-plot');"
            " return g && g.layout.meta && g.layout.meta.n_patients === n"
            " && g.closest('.covidimg-plot').parentElement.dataset.pending !== '1'; }",
            arg=n_patients, timeout=60_000)
        page.locator(".covidimg-timeline .js-plotly-plot").hover()
        page.locator(".covidimg-timeline .modebar-btn[data-val='select']").click()
        # around the middle exam (a brush over the whole axis would be no criterion)
        where = page.evaluate(MIDDLE_EXAM)
        x, top, height = where["x"], where["top"], where["height"]
        page.mouse.move(x - 30, top + 2)
        page.mouse.down()
        page.mouse.move(x, top + height / 2, steps=8)
        page.mouse.move(x + 30, top + height - 2, steps=8)
        page.mouse.up()
        page.wait_for_function(
            "() => document.querySelector('.covidimg-share-call textarea').value"
            ".includes('day=(')", timeout=60_000)
        both = parse_filter(page.locator(".covidimg-share-call textarea").input_value())
        assert set(both) == {"labs", "day"}, both
        page.wait_for_function(
            "(n) => { const c = document.querySelector('.covidimg-match-count').textContent;"
            " return c.startsWith(n + ' of'); }",
            arg=len(cohort.filter(**both).patients), timeout=60_000)
        assert _counts(page)[2] == len(cohort.filter(**both).images)
        page.close()
    assert server.process.returncode == 0, (tmp_path / "dashboard.log").read_text()[-3000:]
    assert not errors, errors
