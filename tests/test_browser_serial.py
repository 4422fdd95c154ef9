"""A patient's course in the dashboard app (Voila) in headless Chromium: a click on the
patient's lane on the timeline opens the Course tab with their radiographs in day order."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from servers import chromium, dashboard_command, free_port, started

import covidimg as ci
from covidimg.imaging import WINDOW_PRESETS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

#: Where the handle of a lane is drawn, in page pixels, and its patient (plotly's own axes).
HANDLE = """(patient) => {
    const g = document.querySelector('.covidimg-timeline .js-plotly-plot');
    if (!g || !g.data || !g._fullLayout) return null;
    const trace = g.data.findIndex(d => d.name === 'patient');
    if (trace < 0) return null;
    const point = g.data[trace].customdata.findIndex(c => c[0] === patient);
    if (point < 0) return {missing: true};
    const L = g._fullLayout, box = g.getBoundingClientRect();
    return {x: box.left + L._size.l + L.xaxis2.l2p(g.data[trace].x[point]),
            y: box.top + L._size.t + L.yaxis.l2p(g.data[trace].y[point])};
}"""
#: The captions of the Course tab's cells in use (unused cells are hidden).
CAPTIONS = """() => Array.from(document.querySelectorAll('.covidimg-serial-cell'))
    .filter(c => c.style.display !== 'none')
    .map(c => c.querySelector('.covidimg-serial-caption').innerText.trim())"""
IMAGES_DRAWN = """() => { const i = Array.from(document.querySelectorAll(
        '.covidimg-serial-cell img')).filter(e => e.closest('.covidimg-serial-cell')
        .style.display !== 'none');
    return i.length > 0 && i.every(e => e.complete && e.naturalWidth > 0); }"""


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> ci.Cohort:
    return ci.load_demo(n_patients=8, cache=tmp_path_factory.mktemp("demo"))


def test_a_lane_click_opens_the_course_in_day_order(demo: ci.Cohort, tmp_path: Path) -> None:
    images = demo.images[demo.images["modality"].astype(str).isin(["CR", "DX"])]
    counts = images["patient_uid"].astype(str).value_counts()
    patient = str(counts.index[0])
    assert counts.iloc[0] >= 3, "the demo needs a patient with serial radiographs"
    days = sorted(images.loc[images["patient_uid"].astype(str) == patient, "day"].astype(float))
    folder = tmp_path / "cohort"
    demo.save(folder)
    port = free_port()
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    errors: list[str] = []
    with started(dashboard_command(str(folder), port=port), env=env,
                 log=tmp_path / "dashboard.log") as server, chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 950})
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(server.url, timeout=240_000)
        page.wait_for_selector(".covidimg-dashboard .covidimg-match-count", timeout=120_000)
        page.wait_for_function(f"() => ({HANDLE})({patient!r}) !== null", timeout=120_000)
        where = page.evaluate(HANDLE, patient)
        assert where and "missing" not in where, f"{patient} has no lane handle: {where}"
        page.mouse.move(where["x"], where["y"])
        page.mouse.click(where["x"], where["y"])
        page.wait_for_function(
            "() => { const c = document.querySelector('.covidimg-dashboard "
            ".lm-TabBar-tab.lm-mod-current'); return c && c.textContent.trim() === 'Course'; }",
            timeout=60_000)
        page.wait_for_function(f"() => ({CAPTIONS})().length === {min(len(days), 6)}",
                               timeout=60_000)
        page.wait_for_function(IMAGES_DRAWN, timeout=60_000)
        title = page.inner_text(".covidimg-serial-title")
        captions = page.evaluate(CAPTIONS)
        before = page.evaluate("() => Array.from(document.querySelectorAll("
                               "'.covidimg-serial-cell img')).map(i => i.src)")
        # the linked window: one preset for every image
        page.locator(".covidimg-serial select").first.select_option(
            label=WINDOW_PRESETS["bone"].label)
        page.wait_for_function(
            "(b) => { const s = Array.from(document.querySelectorAll("
            "'.covidimg-serial-cell img')).map(i => i.src);"
            " return s.slice(0, b.n).every((v, k) => v !== b.src[k]); }",
            arg={"src": before, "n": len(captions)}, timeout=60_000)
        page.screenshot(path=str(tmp_path / "course.png"))
        page.close()
    assert patient in title
    shown = [float(re.match(r"day (-?[\d.]+) · ", c).group(1)) for c in captions]
    assert shown == days[:len(shown)], captions
    assert all("admission" in c and "death" in c for c in captions)
    assert not errors, errors
    assert server.process.returncode == 0, (tmp_path / "dashboard.log").read_text()[-3000:]
