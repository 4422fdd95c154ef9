"""The image viewer as a user drives it: ``covidimg dashboard`` (Voila) in headless Chromium.

On the TCIA demo (RICORD radiographs with MD.ai boxes, ImagerPixelSpacing 0.5 mm; CT series
with PixelSpacing 1 mm), the test reads plotly's own state in the page: a box is drawn at the
right pixel position over the image, a zoom survives a slice change (a key press) and a
window change, and a line drawn with the mouse in ``drawline`` mode is measured right to 1 %.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import numpy as np
import pydicom
import pytest
from servers import chromium, dashboard_command, free_port, started

import covidimg as ci
from covidimg.demo import tcia as demo_tcia

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PLOT = ".covidimg-viewer .covidimg-figure-image_overlay .js-plotly-plot"
#: The viewer's figure as plotly holds it: meta, axis ranges, drag mode, shapes.
STATE = """(sel) => { const g = document.querySelector(sel);
    if (!g || !g._fullLayout || !g._fullLayout.xaxis) return null;
    const L = g._fullLayout;
    return {meta: L.meta || null, x: L.xaxis.range.slice(), y: L.yaxis.range.slice(),
            dragmode: L.dragmode, pending: g.closest('[data-pending]') ?
                g.closest('[data-pending]').dataset.pending : null,
            shapes: (L.shapes || []).map(s => ({type: s.type, x0: s.x0, y0: s.y0, x1: s.x1,
                                               y1: s.y1, name: s.name || ''}))}; }"""
#: Screen position (page pixels) of a point in the image's pixel coordinates.
TO_SCREEN = """([sel, x, y]) => { const g = document.querySelector(sel);
    const L = g._fullLayout, box = g.getBoundingClientRect();
    return [box.left + L.xaxis._offset + L.xaxis.l2p(x),
            box.top + L.yaxis._offset + L.yaxis.l2p(y)]; }"""
#: Where the drawn image and the rectangles are on the screen.
DRAWN = """(sel) => { const g = document.querySelector(sel);
    const r = (e) => { const b = e.getBoundingClientRect();
                       return {left: b.left, top: b.top, width: b.width, height: b.height}; };
    const image = g.querySelector('.imagelayer image');
    return {image: image ? r(image) : null,
            rects: Array.from(g.querySelectorAll('.shapelayer path[data-index]'))
                .filter(p => g._fullLayout.shapes[+p.getAttribute('data-index')].type
                             === 'rect')
                .map(r)}; }"""
DISTANCE = re.compile(r"Distance ([\d.]+) mm \(from ([^)]*\)?)\)")


@pytest.fixture(scope="module")
def tcia_demo(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("viewer-demo") / "tcia"
    truth = demo_tcia.write(root, rng=np.random.default_rng(3), n_patients=8)
    return root, truth


def _state(page) -> dict:  # type: ignore[no-untyped-def]
    return page.evaluate(STATE, PLOT)


def _settled(page, condition: str, arg=None, timeout: int = 60_000) -> None:  # type: ignore[no-untyped-def]
    """Wait until ``condition(state, arg)`` holds for the viewer's figure, drawn."""
    page.wait_for_function(
        f"([sel, arg]) => {{ const s = ({STATE})(sel); return s !== null && s.pending === '0'"
        f" && ({condition})(s, arg); }}", arg=[PLOT, arg], timeout=timeout)


def _open(page, modality: str, wanted: str) -> dict:  # type: ignore[no-untyped-def]
    """Filter on ``modality``, then open the gallery's images one by one until the viewer's
    figure state satisfies ``wanted`` (a JS predicate); release the filter button."""
    button = f".covidimg-filter-modality-{modality.lower()}"
    page.locator(".covidimg-dashboard .lm-TabBar-tab", has_text="Gallery").click()
    page.click(button)
    page.wait_for_function(
        "(m) => { const c = Array.from(document.querySelectorAll('.covidimg-gallery-caption'))"
        ".filter(e => e.parentElement && e.parentElement.style.display !== 'none');"
        " return c.length > 0 && c.every(e => e.textContent.includes(' ' + m + ' ')); }",
        arg=modality, timeout=60_000)
    thumbs = page.locator(".covidimg-gallery-thumb img")
    seen = None
    for index in range(thumbs.count()):
        if not thumbs.nth(index).is_visible():
            continue
        thumbs.nth(index).click()
        _settled(page, "(s, old) => s.meta && s.meta.image_uid && s.meta.image_uid !== old",
                 seen)
        state = _state(page)
        seen = state["meta"]["image_uid"]
        if page.evaluate(f"(s) => ({wanted})(s)", state):
            page.click(button)
            return state
    pytest.fail(f"no {modality} image in the gallery's first page satisfies {wanted}")


def test_viewer_boxes_zoom_slices_and_distance_in_the_browser(tcia_demo, tmp_path: Path):  # type: ignore[no-untyped-def]
    root, truth = tcia_demo
    cohort = ci.load({"tcia": root}, progress=False)
    images = cohort.images.set_index(cohort.images["image_uid"].astype(str))
    port = free_port()
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    errors: list[str] = []
    with started(dashboard_command(f"tcia={root}", port=port), env=env,
                 log=tmp_path / "dashboard.log") as server, chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1400})
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(server.url, timeout=240_000)
        page.wait_for_selector(".covidimg-dashboard .covidimg-match-count", timeout=120_000)

        # -- a radiograph with boxes: each box is where the truth says, over the image
        state = _open(page, "CR", "(s) => s.shapes.some(t => t.type === 'rect')")
        uid = state["meta"]["image_uid"]
        row = images.loc[uid]
        rows, columns = int(row["rows"]), int(row["columns"])
        notes = truth.annotations
        want = notes[(notes["image_uid"] == uid) & (notes["kind"] == "box")]

        expected = sorted((g["x"], g["y"], g["x"] + g["w"], g["y"] + g["h"])
                          for g in map(json.loads, want["geometry"]))
        got = sorted((s["x0"], s["y0"], s["x1"], s["y1"]) for s in state["shapes"]
                     if s["type"] == "rect")
        assert got == expected, (got, expected)
        drawn = page.evaluate(DRAWN, PLOT)
        image, side = drawn["image"], max(rows, columns)
        assert image is not None and len(drawn["rects"]) == len(expected)

        def on_screen(x: float, y: float) -> tuple[float, float]:
            """Where pixel coordinate (x, y) of the image is drawn on the screen."""
            return (image["left"] + (x - (columns - side) / 2) / side * image["width"],
                    image["top"] + (y - (rows - side) / 2) / side * image["height"])

        for (x0, y0, x1, y1), rect in zip(expected, sorted(
                drawn["rects"], key=lambda r: (r["left"], r["top"])), strict=True):
            left, top = on_screen(x0, y0)
            right, bottom = on_screen(x1, y1)
            assert abs(rect["left"] - left) < 1.5 and abs(rect["top"] - top) < 1.5, rect
            assert abs(rect["left"] + rect["width"] - right) < 1.5, rect
            assert abs(rect["top"] + rect["height"] - bottom) < 1.5, rect

        # -- measure: key m (the image has the focus once clicked), then a drag
        header = pydicom.dcmread(row["path"], stop_before_pixels=True)
        spacing = [float(v) for v in header.ImagerPixelSpacing]
        assert "PixelSpacing" not in header
        start, end = (10.0, 20.0), (40.0, 60.0)
        truth_mm = math.hypot((end[0] - start[0]) * spacing[1], (end[1] - start[1]) * spacing[0])
        plot = page.locator(PLOT)
        plot.click(position={"x": 5, "y": 5})
        page.keyboard.press("m")
        _settled(page, "(s) => s.dragmode === 'drawline'")
        a = page.evaluate(TO_SCREEN, [PLOT, *start])
        b = page.evaluate(TO_SCREEN, [PLOT, *end])
        page.mouse.move(*a)
        page.mouse.down()
        for step in range(1, 11):
            page.mouse.move(a[0] + (b[0] - a[0]) * step / 10, a[1] + (b[1] - a[1]) * step / 10)
        page.mouse.up()
        page.wait_for_function("() => /Distance [\\d.]+ mm/.test(document.querySelector("
                               "'.covidimg-viewer').textContent)", timeout=60_000)
        text = page.locator(".covidimg-viewer").inner_text()
        found = DISTANCE.search(text)
        assert found, text
        assert abs(float(found.group(1)) - truth_mm) <= 0.01 * truth_mm, (found.group(0),
                                                                          truth_mm)
        assert found.group(2) == "ImagerPixelSpacing (at the detector)", found.group(0)
        _settled(page, "(s) => s.shapes.some(t => t.type === 'line')")
        page.screenshot(path=str(tmp_path / "viewer-measure.png"))
        # the pixel value under the mouse, as read_image(voi=False) reads it
        page.mouse.move(*page.evaluate(TO_SCREEN, [PLOT, 40.4, 50.4]))
        value = ci.imaging.read_image(row.to_dict(), voi=False)[50, 40]
        page.wait_for_function("(t) => document.querySelector('.covidimg-viewer')"
                               ".textContent.includes(t)", arg=f"x 40, y 50: {value:.6g}",
                               timeout=30_000)

        # -- a CT: zoom, then a slice change (key) and a window change (key) keep it
        state = _open(page, "CT", "(s) => s.meta.slice_index !== null "
                                  "&& s.meta.slice_index !== undefined")
        whole = _state(page)
        # the user's zoom: the modebar's "Zoom in" (a programmatic Plotly.relayout is not a
        # user edit: plotly's uirevision keeps only what the user changed)
        page.hover(PLOT)
        page.locator(f"{PLOT} .modebar-btn[data-title='Zoom in']").click()
        _settled(page, "(s, w) => Math.abs(s.x[1] - s.x[0]) < 0.75 * Math.abs(w[1] - w[0])",
                 whole["x"])
        zoomed = _state(page)
        first_slice = zoomed["meta"]["slice_index"]
        plot.click(position={"x": 5, "y": 5})
        page.keyboard.press("ArrowUp")
        _settled(page, "(s, n) => s.meta.slice_index === n + 1", first_slice)
        after = _state(page)
        assert np.allclose(after["x"], zoomed["x"]) and np.allclose(after["y"], zoomed["y"]), \
            (zoomed, after)
        page.keyboard.press("3")
        page.wait_for_function("() => document.querySelector('.covidimg-viewer select')"
                               ".selectedOptions[0].textContent.includes('mediastinum')",
                               timeout=30_000)
        page.wait_for_timeout(500)
        _settled(page, "(s) => true")
        after = _state(page)
        assert np.allclose(after["x"], zoomed["x"]) and np.allclose(after["y"], zoomed["y"])
        # r: the whole image again
        page.keyboard.press("r")
        _settled(page, "(s, z) => Math.abs(s.x[0] - z) > 1", zoomed["x"][0])
        page.close()
    assert server.process.returncode == 0, (tmp_path / "dashboard.log").read_text()[-3000:]
    assert not errors, errors
