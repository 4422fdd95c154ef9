"""The dashboard app as a user sees it: ``covidimg dashboard`` (Voila) in headless Chromium.

The cohort is the demo written in every source's native layout, with identifying values
planted into each DICOM header; the dashboard must show none of them. Screenshots of every
tab are saved under the test's folder, and also under ``$COVIDIMG_SCREENSHOTS`` when set
(``COVIDIMG_SCREENSHOTS=docs/screenshots`` refreshes the README's pictures).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pydicom
import pytest
from servers import chromium, dashboard_command, free_port, started

import covidimg as ci
from covidimg.demo import generate_demo

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SOURCES = ("mhh", "nccid", "crdw", "midrc", "tcia")
#: Written into every demo DICOM header; none may reach the page.
IDENTIFYING = {
    "PatientName": "Identifiable^Jane^Quinn",
    "OtherPatientNames": "Maidenname^Jane",
    "PatientBirthDate": "19470312",
    "PatientAddress": "99 Private Lane, Hometown",
    "InstitutionName": "Saint Example General Hospital",
    "InstitutionAddress": "12 Example Road, Exampletown",
    "ReferringPhysicianName": "Referrer^Robert",
}
TABS = ("Timeline", "Labs", "Gallery", "Summary")
MATCH = re.compile(r"(\d+) of (\d+) patients · (\d+) of (\d+) images match")

# --------------------------------------------------------------------- page helpers (JS)
FIGURE_STATE = """(cls) => {
    const g = document.querySelector(`.${cls} .js-plotly-plot`);
    if (!g || !g.data || !g.layout) return null;
    return {meta: g.layout.meta || null,
            traces: g.data.map(d => ({name: d.name || '', n: (d.x || []).length,
                                      custom: d.customdata ? d.customdata[0] : null}))};
}"""
#: The first tab's figure drawn (the other tabs draw when first shown).
FIGURES_DRAWN = """() => ['covidimg-timeline'].every(cls => {
    const g = document.querySelector(`.${cls} .js-plotly-plot`);
    return g && g.data && g.data.length > 0 && g.layout && g.layout.meta
        && g.layout.meta.covidimg_view;
})"""
#: A tab's view drawn with the selection once shown (Labs: its histogram has values).
TAB_DRAWN = {
    "Labs": """() => { const g = document.querySelector('.covidimg-labs .js-plotly-plot');
        return g && g.layout && g.layout.meta && g.layout.meta.n_values > 0; }""",
    "Summary": "() => document.querySelector('.covidimg-table-one table') !== null",
}
#: Table 1 as drawn: the text of every cell, row by row (header first).
TABLE_ONE_CELLS = """() => Array.from(document.querySelectorAll('.covidimg-table-one tr'))
    .map(r => Array.from(r.querySelectorAll('th, td')).map(c => c.innerText.trim()))"""
#: Captions of the gallery cells in use (unused cells are hidden and keep stale text).
CAPTIONS = """() => Array.from(document.querySelectorAll('.covidimg-gallery-caption'))
    .filter(e => e.parentElement && e.parentElement.style.display !== 'none')
    .map(e => e.textContent.trim())"""


@pytest.fixture(scope="module")
def demo_with_identifiers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo in native layouts, every DICOM header carrying identifying values."""
    folder = tmp_path_factory.mktemp("demo-native")
    generate_demo(folder, n_patients=8)
    planted = 0
    for path in sorted(folder.rglob("*.dcm")):
        dataset = pydicom.dcmread(path)
        for keyword, value in IDENTIFYING.items():
            setattr(dataset, keyword, value)
        dataset.save_as(path)
        planted += 1
    assert planted >= 50, f"only {planted} DICOM files in the demo under {folder}"
    return folder


def _screenshot_folders(tmp_path: Path) -> list[Path]:
    folders = [tmp_path / "screenshots"]
    extra = os.environ.get("COVIDIMG_SCREENSHOTS")
    if extra:
        folders.append(Path(extra).resolve())
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
    return folders


def _save(page, locator, name: str, folders: list[Path]) -> Path:  # type: ignore[no-untyped-def]
    first = folders[0] / f"{name}.png"
    size = page.viewport_size
    box = locator.bounding_box()
    # Voila's page scrolls inside a box as high as the window: what lies below is not drawn
    # in a screenshot, so the window grows to the part's height for the picture.
    if box and size and box["y"] + box["height"] > size["height"]:
        page.set_viewport_size({"width": size["width"],
                                "height": int(box["y"] + box["height"]) + 20})
        page.wait_for_timeout(500)
    locator.screenshot(path=str(first), animations="disabled")
    if size and page.viewport_size != size:
        page.set_viewport_size(size)
    for folder in folders[1:]:
        shutil.copyfile(first, folder / first.name)
    return first


#: True when every thumbnail on the gallery's page is decoded at its full size.
THUMBS_DECODED = """() => { const i = Array.from(document.querySelectorAll(
    '.covidimg-gallery-thumb img, img.covidimg-gallery-thumb'));
    return i.length > 0 && i.every(e => e.complete && e.naturalWidth === 160
                                        && e.src.startsWith('blob:')); }"""


def _show_tab(page, title: str) -> None:  # type: ignore[no-untyped-def]
    page.locator(".covidimg-dashboard .lm-TabBar-tab", has_text=title).click()
    page.wait_for_function(
        "(t) => { const c = document.querySelector('.covidimg-dashboard "
        ".lm-TabBar-tab.lm-mod-current'); return c && c.textContent.trim() === t; }",
        arg=title)
    if title in TAB_DRAWN:
        page.wait_for_function(TAB_DRAWN[title], timeout=60_000)


def _unexpected(console: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """Console errors other than the two this offline machine always shows.

    - Voila's page template links Font Awesome from a CDN, unreachable here (the same font is
      bundled with Voila's own styles, so icons still show).
    - anywidget reports a model that took over 2 s to start while the kernel was busy; the
      figures it drives are checked to be drawn, with their current data, below.
    """
    return [(kind, text, url) for kind, text, url in console
            if not (kind == "error" and url and not url.startswith("http://127.0.0.1"))
            and "[anywidget] Failed to initialize model" not in text]


VIEWER_STATE = """() => { const v = document.querySelector('.covidimg-viewer');
    const s = v.querySelector('select');
    return {preset: s.selectedOptions[0].textContent.replace(/\\u00a0/g, ' '),
            readouts: Array.from(v.querySelectorAll('.widget-readout'))
                .map(e => e.textContent.trim().replace('\\u2212', '-')),
            title: v.querySelector('.widget-html').textContent}; }"""


def _open_first(page, modality: str) -> None:  # type: ignore[no-untyped-def]
    """Press the modality's filter button, open the gallery's first image (a click on its
    thumbnail), release the button."""
    button = f".covidimg-filter-modality-{modality.lower()}"
    _show_tab(page, "Gallery")
    page.click(button)
    page.wait_for_function(
        f"(m) => {{ const c = ({CAPTIONS})(); return c.length > 0 "
        "&& c.every(t => t.includes(' ' + m + ' ')); }", arg=modality, timeout=60_000)
    page.locator(".covidimg-gallery-thumb img").first.click()
    page.wait_for_function(
        "(m) => document.querySelector('.covidimg-viewer .widget-html').textContent"
        ".includes(' ' + m + ' ')", arg=modality, timeout=60_000)
    page.wait_for_timeout(1500)     # a stray clamped value from the page would arrive by now
    page.click(button)


def _check_window(state: dict, cohort: ci.Cohort) -> None:
    """The viewer shows its modality's preset (CT: lung, -600/1500; else auto: the image's
    own percentiles), with level and width sliders reading the preset's window."""
    from covidimg.widgets.viewer import caption

    title = state["title"].split(" · ")
    row = next(r for r in cohort.images.to_dict("records")
               if caption(r).split(" · ") == title[:4])
    level, width = (float(v) for v in state["readouts"][:2])
    if row["modality"] == "CT":
        assert state["preset"].startswith("CT lung"), state
        assert (level, width) == (-600.0, 1500.0), state
        return
    assert state["preset"].startswith("Auto"), state
    from covidimg import imaging

    low, high = imaging.window_bounds(imaging.read_image(row, voi=False), "auto")
    assert abs(level - (low + high) / 2) <= 0.5 and abs(width - (high - low)) <= 0.5, state


def _check_table_one(drawn: list[list[str]], cohort: ci.Cohort) -> None:
    """Table 1 as the page shows it (the Summary tab's default grouping, ICU) holds the
    values of ``ci.stats.table_one``: every cell visible, none drawn empty."""
    expected = ci.stats.table_one(cohort, by="icu")
    header, *rows = drawn
    groups = [str(g) for g in expected.attrs["groups"]]
    assert header == ["variable", "", "overall", *groups, "missing", "p", "test"], header
    assert len(rows) == len(expected)
    for row, ((variable, level), values) in zip(rows, expected.iterrows(), strict=True):
        assert row[0] in ("", variable) and row[1] == level, row
        for column, cell in zip(["overall", *groups, "missing"], row[2:-2], strict=True):
            value = values[column]
            assert cell == ("" if value != value else str(value)), (variable, column, cell)
        p = values["p_value"]
        if p == p:
            assert row[-2] == "<0.001" if p < 0.001 else abs(float(row[-2]) - p) <= 5e-4
        assert row[-1] == values["test"]
    names = [r[0] for r in rows if r[0]]
    assert names == list(dict.fromkeys(expected.index.get_level_values("variable")))


def test_dashboard_filters_links_and_shows_no_identifiers(demo_with_identifiers, tmp_path):
    folder = demo_with_identifiers
    cohort = ci.load({s: folder / s for s in SOURCES}, progress=False)
    ct_only = cohort.filter(modality=["CT"])
    assert 0 < len(ct_only.images) < len(cohort.images), "the demo needs CT and other exams"
    shots = _screenshot_folders(tmp_path)
    port = free_port()
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    command = dashboard_command(*[f"{s}={folder / s}" for s in SOURCES], port=port)
    console: list[tuple[str, str, str]] = []
    with started(command, env=env, log=tmp_path / "dashboard.log") as server, \
            chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 950})
        page.on("console", lambda m: console.append(
            (m.type, m.text, (m.location or {}).get("url", ""))) if m.type == "error" else None)
        page.on("pageerror", lambda e: console.append(("pageerror", str(e), "")))
        # Voila runs the notebook before it answers: allow for a busy machine.
        page.goto(server.url, timeout=240_000)
        page.wait_for_selector(".covidimg-dashboard .covidimg-match-count", timeout=120_000)
        page.wait_for_function(FIGURES_DRAWN, timeout=120_000)
        assert "Error displaying widget" not in page.content()

        # -- the whole cohort, as first shown
        count = page.inner_text(".covidimg-match-count")
        assert MATCH.search(count).groups() == (
            str(len(cohort.patients)), str(len(cohort.patients)),
            str(len(cohort.images)), str(len(cohort.images))), count
        before = page.evaluate(FIGURE_STATE, "covidimg-timeline")
        assert before["meta"]["covidimg_view"] == "timeline"
        exams_before = sum(t["n"] for t in before["traces"] if t["name"] == "exam")
        assert exams_before == before["meta"]["n_exams"] > 0
        for title in TABS:
            _show_tab(page, title)
            if title == "Gallery":
                page.wait_for_selector(".covidimg-gallery-thumb img, img.covidimg-gallery-thumb")
                page.wait_for_function(THUMBS_DECODED, timeout=60_000)   # JPEGs the page drew
            _save(page, page.locator(".covidimg-dashboard"), f"dashboard-{title.lower()}", shots)
        _check_table_one(page.evaluate(TABLE_ONE_CELLS), cohort)
        captions_before = page.evaluate(CAPTIONS)
        assert captions_before and any(" CT " not in c for c in captions_before)

        # -- clicking an exam on the timeline opens it in the gallery's viewer
        _show_tab(page, "Timeline")
        shown = page.evaluate(FIGURE_STATE, "covidimg-timeline")
        exam_trace = next(i for i, t in enumerate(shown["traces"]) if t["name"] == "exam")
        clicked_patient = shown["traces"][exam_trace]["custom"][0]
        point = page.locator(".covidimg-timeline .scatterlayer .trace").nth(exam_trace) \
            .locator("path.point").first
        box = point.bounding_box()
        assert box is not None, "the exam marker is not drawn"
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.wait_for_function(
            "() => { const c = document.querySelector('.covidimg-dashboard "
            ".lm-TabBar-tab.lm-mod-current'); return c && c.textContent.trim() === 'Gallery'; }",
            timeout=60_000)
        viewer = page.locator(".covidimg-viewer")
        viewer.wait_for(state="visible", timeout=60_000)
        page.wait_for_function(
            "() => { const i = document.querySelector('.covidimg-viewer .imagelayer image');"
            " return i && i.href.baseVal.startsWith('data:image/png'); }",
            timeout=60_000)
        assert clicked_patient in viewer.inner_text()
        _save(page, page.locator(".covidimg-dashboard"), "dashboard-viewer", shots)

        # -- a user presses the "CT" modality button
        page.click(".covidimg-filter-modality-ct")
        expected = (f"{len(ct_only.patients)} of {len(cohort.patients)} patients · "
                    f"{len(ct_only.images)} of {len(cohort.images)} images match")
        try:
            page.wait_for_function(
                "(e) => document.querySelector('.covidimg-match-count').textContent"
                ".includes(e)", arg=expected, timeout=60_000)
        except Exception:
            page.screenshot(path=str(tmp_path / "failure.png"))
            pytest.fail(f"match count {page.text_content('.covidimg-match-count')!r}, "
                        f"expected {expected!r}")
        page.wait_for_function(
            f"() => {{ const c = ({CAPTIONS})(); "
            "return c.length > 0 && c.every(t => t.includes(' CT ')); }", timeout=60_000)
        captions_after = page.evaluate(CAPTIONS)
        assert captions_after != captions_before
        assert len(captions_after) == min(12, len(ct_only.images))
        ct_patients = set(ct_only.images["patient_uid"].astype(str))
        assert all(c.split(" · ")[0] in ct_patients for c in captions_after), captions_after

        # -- nothing identifying anywhere in the page, no widget errors
        html = page.content()
        for keyword, value in IDENTIFYING.items():
            for part in {value, *value.replace(",", "^").split("^")} - {""}:
                if len(part) >= 6:
                    assert part not in html, f"{keyword} value {part!r} is in the page"
        assert "Error displaying widget" not in html
        # -- the timeline follows the filter (brought up to date when its tab is shown)
        _show_tab(page, "Timeline")
        page.wait_for_function(
            "([n]) => { const g = document.querySelector('.covidimg-timeline "
            ".js-plotly-plot'); return g && g.layout && g.layout.meta "
            "&& g.layout.meta.n_exams !== n; }",
            arg=[before["meta"]["n_exams"]], timeout=60_000)
        after = page.evaluate(FIGURE_STATE, "covidimg-timeline")

        # -- the viewer's window after switching between a radiograph and a CT is the preset's
        page.click(".covidimg-filter-modality-ct")      # back to every modality
        for modality in ("CR", "CT", "CR"):
            _open_first(page, modality)
            _check_window(page.evaluate(VIEWER_STATE), cohort)
        page.close()
    assert server.process.returncode == 0, (tmp_path / "dashboard.log").read_text()[-3000:]
    assert not _unexpected(console), console
    for title in (*TABS, "viewer"):
        assert (shots[0] / f"dashboard-{title.lower()}.png").stat().st_size > 10_000
    exams_after = sum(t["n"] for t in after["traces"] if t["name"] == "exam")
    assert exams_after == after["meta"]["n_exams"]
    assert 0 < exams_after <= len(ct_only.images) < exams_before
    assert after["meta"]["n_patients"] == len(ct_only.patients)
