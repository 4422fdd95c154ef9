"""Stored XSS in the dashboard app: a saved cohort full of script payloads runs nothing.

The cohort is the demo with a payload in every text column a saved cohort may hold freely
(patient and image uids, source ids, sites, study and series uids, paths, value_raw, files'
paths and reasons, findings' details and paths, extra columns; see ``adversarial/xss.py``).
``covidimg dashboard DIR`` serves it in headless Chromium; the test goes through every tab
(filter, timeline with hover and a click, labs with every analyte, gallery with the viewer on
a readable and an unreadable image, summary) and checks that no payload ran
(``window.__xss`` stays undefined, no dialog), that no payload's markup became an element,
and that the payloads are on the page as text. Payloads in ``labs.analyte``, ``labs.unit`` or
``findings.kind`` make ``Cohort.open`` refuse the folder, so the dashboard does not start.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from adversarial.xss import PAYLOADS, payload, poisoned
from servers import chromium, dashboard_command, free_port, started

import covidimg as ci
from covidimg.errors import CohortFileError

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TABS = ("Timeline", "Labs", "Gallery", "Summary")
#: Elements a payload would have become, had it been parsed as markup.
INJECTED = """() => {
    const found = [];
    const all = [document, ...Array.from(document.querySelectorAll('iframe'))
        .map(f => { try { return f.contentDocument; } catch (e) { return null; } })
        .filter(d => d)];
    for (const doc of all) {
        for (const e of doc.querySelectorAll('img[src="x"], svg[onload], iframe[srcdoc], '
                                            + 'a[href^="javascript:"], [onerror], [onload]'))
            found.push(e.outerHTML.slice(0, 120));
        for (const s of doc.querySelectorAll('script'))
            if (s.textContent.includes('__xss')) found.push(s.outerHTML.slice(0, 120));
    }
    return found;
}"""
RAN = "() => [window.__xss, window.parent && window.parent.__xss]"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> ci.Cohort:
    return ci.load_demo(n_patients=8, cache=tmp_path_factory.mktemp("demo"))


def _show_tab(page, title: str) -> None:  # type: ignore[no-untyped-def]
    page.locator(".covidimg-dashboard .lm-TabBar-tab", has_text=title).click()
    page.wait_for_function(
        "(t) => { const c = document.querySelector('.covidimg-dashboard "
        ".lm-TabBar-tab.lm-mod-current'); return c && c.textContent.trim() === t; }",
        arg=title)


def _hover_first(page, selector: str) -> None:  # type: ignore[no-untyped-def]
    target = page.locator(selector).first
    if target.count():
        box = target.bounding_box()
        if box is not None:
            page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            page.wait_for_timeout(300)


def test_a_cohort_of_script_payloads_runs_nothing(demo: ci.Cohort, tmp_path: Path) -> None:
    folder = tmp_path / "cohort"
    cohort = poisoned(demo)
    cohort.save(folder)
    port = free_port()
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    dialogs: list[str] = []
    errors: list[str] = []
    with started(dashboard_command(str(folder), port=port), env=env,
                 log=tmp_path / "dashboard.log") as server, chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 950})
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(server.url, timeout=240_000)
        page.wait_for_selector(".covidimg-dashboard .covidimg-match-count", timeout=120_000)
        page.wait_for_function(      # the first tab; the others draw when shown below
            "() => ['covidimg-timeline'].every(c => {"
            " const g = document.querySelector(`.${c} .js-plotly-plot`);"
            " return g && g.data && g.layout && g.layout.meta; })", timeout=120_000)
        assert "Error displaying widget" not in page.content()

        # -- the filter: open the lab controls, press a choice, reset
        header = page.locator(".covidimg-filter .jupyter-widget-Collapse-header, "
                              ".covidimg-filter .lm-AccordionPanel-title")
        if header.count():
            header.first.click()
        count = page.inner_text(".covidimg-match-count")
        page.click(".covidimg-filter-sex-f")
        page.wait_for_function("(c) => document.querySelector('.covidimg-match-count')"
                               ".innerText !== c", arg=count, timeout=60_000)
        page.click(".covidimg-reset")

        # -- every tab: hover the timeline's exams, every analyte, the gallery and its viewer
        for title in TABS:
            _show_tab(page, title)
            if title == "Timeline":
                page.locator(".covidimg-timeline input[type=checkbox]").first.check()
                page.wait_for_timeout(1000)
                _hover_first(page, ".covidimg-timeline .scatterlayer .trace path.point")
            elif title == "Labs":
                select = page.locator(".covidimg-labs select").first
                for value in select.locator("option").all_inner_texts()[:6]:
                    select.select_option(label=value)
                    page.wait_for_timeout(500)
                    _hover_first(page, ".covidimg-labs .barlayer .point path")
            elif title == "Gallery":
                page.wait_for_selector(".covidimg-gallery-open")
                for index in (0, 1):      # a readable image, then one whose path does not exist
                    page.locator(".covidimg-gallery-open").nth(index).click()
                    page.locator(".covidimg-viewer").wait_for(state="visible", timeout=60_000)
                    page.wait_for_timeout(1000)
                page.wait_for_function("() => document.querySelector('.covidimg-viewer')"
                                       ".textContent.includes('cannot be shown')",
                                       timeout=60_000)
                page.click(".covidimg-gallery-next")
                page.wait_for_timeout(1000)
            elif title == "Summary":
                page.wait_for_selector(".covidimg-table-one table", timeout=60_000)
        page.wait_for_timeout(1500)

        shown = page.evaluate("() => document.querySelector('.covidimg-dashboard')"
                              ".textContent")   # every tab's text, shown or hidden
        injected = page.evaluate(INJECTED)
        ran = page.evaluate(RAN)
        page.close()
    assert ran == [None, None], f"a payload ran: window.__xss = {ran}"
    assert not dialogs, dialogs
    assert not injected, injected
    assert not [e for e in errors if "__xss" in e], errors
    # the payloads are on the page, as text (patient uids in captions, the viewer's error)
    assert sum(p in shown for p in PAYLOADS) >= 3, shown[:2000]
    assert "cannot be shown" in shown
    assert server.process.returncode == 0, (tmp_path / "dashboard.log").read_text()[-3000:]


def test_a_cohort_with_a_payload_analyte_is_refused(demo: ci.Cohort, tmp_path: Path) -> None:
    labs = demo.labs.copy()
    labs["analyte"] = pd.Categorical([payload(i) for i in range(len(labs))])
    folder = tmp_path / "cohort"
    ci.Cohort(**{**demo.tables(), "labs": labs}).save(folder)
    with pytest.raises(CohortFileError, match=r"labs\.analyte holds"):
        ci.Cohort.open(folder)
    done = subprocess.run([sys.executable, "-m", "covidimg.cli", "dashboard", "--no-browser",
                           "--port", str(free_port()), str(folder)], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "TMPDIR": str(tmp_path)})
    assert done.returncode == 2, done.stdout + done.stderr
    assert "labs.analyte holds" in done.stderr and "serving" not in done.stdout
