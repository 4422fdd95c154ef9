"""The widgets in JupyterLab 4, in a real browser: run a notebook that shows the Dashboard.

JupyterLab runs from the installed environment with every Jupyter and IPython folder in the
test's temporary folder (never the home folder), token off, on 127.0.0.1 only.
"""

from __future__ import annotations

import os
import sys

import nbformat
import pytest
from servers import chromium, free_port, started

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CELLS = [
    "import covidimg as ci\nfrom covidimg.widgets import Dashboard\n\n"
    "cohort = ci.load_demo(n_patients=12)  # built by the demo_cohort fixture",
    "dashboard = Dashboard(cohort)\ndashboard",
]


#: The timeline's figure and the tab panel it is drawn in, in CSS pixels.
FIT = """() => {
    const plot = document.querySelector('.covidimg-timeline .covidimg-plot');
    const panel = plot.closest('.widget-tab-contents');
    const css = getComputedStyle(panel);
    const titles = Array.from(plot.querySelectorAll('.gtitle'));
    return {plot: plot.getBoundingClientRect().width,
            panel: panel.clientWidth - parseFloat(css.paddingLeft) - parseFloat(css.paddingRight),
            plot_right: plot.getBoundingClientRect().right,
            title_right: Math.max(0, ...titles.map(t => t.getBoundingClientRect().right))};
}"""
FILLS_PANEL = ("() => { const f = (" + FIT + ")(); return f.plot >= 0.95 * f.panel"
               " && f.title_right <= f.plot_right + 1; }")


def _luminance(color: str) -> float:
    """Relative brightness 0..1 of a CSS colour (#rgb, #rrggbb or rgb()/rgba())."""
    color = color.strip()
    if color.startswith("#"):
        digits = color[1:]
        if len(digits) == 3:
            digits = "".join(d * 2 for d in digits)
        parts = [int(digits[i:i + 2], 16) for i in (0, 2, 4)]
    else:
        parts = [float(v) for v in color[color.index("(") + 1:].rstrip(")").split(",")[:3]]
    red, green, blue = (p / 255 for p in parts)
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def _notebook(path) -> None:  # type: ignore[no-untyped-def]
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, path)


def test_dashboard_renders_and_follows_a_filter_in_jupyterlab(demo_cohort, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    _notebook(root / "dashboard.ipynb")
    folders = {name: tmp_path / name.lower() for name in
               ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR")}
    for folder in folders.values():
        folder.mkdir()
    env = {**os.environ, **{k: str(v) for k, v in folders.items()}}
    port = free_port()
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser",
               f"--ServerApp.port={port}", "--ServerApp.ip=127.0.0.1",
               "--ServerApp.port_retries=0", "--IdentityProvider.token=",
               "--ServerApp.password=", f"--ServerApp.root_dir={root}",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
               "--LabApp.expose_app_in_browser=True"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    console: list[str] = []
    with started(command, env=env, log=tmp_path / "jupyterlab.log", listens_on=port) as server, \
            chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: console.append(str(e)))
        page.goto(f"{server.url}lab/tree/dashboard.ipynb", timeout=120_000)
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']",
                               timeout=120_000)
        # Run > Run All Cells, as a user would; again if the kernel was not ready to take it.
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
        dialogs: list[str] = []
        for attempt in range(3):
            # A dialog JupyterLab opened meanwhile (a slow kernel start asks which kernel to
            # use) would take the clicks: answer it with its default, and say so on failure.
            for dialog in page.locator(".jp-Dialog").all():
                dialogs.append(dialog.inner_text())
                accept = dialog.locator(".jp-mod-accept")
                if accept.count():
                    accept.first.click()
                else:
                    page.keyboard.press("Escape")
            page.locator(".lm-MenuBar-item", has_text="Run").first.click()
            page.click(".lm-Menu-item[data-command='runmenu:run-all']")
            try:
                page.wait_for_selector(".covidimg-dashboard .covidimg-match-count",
                                       timeout=180_000)
                break
            except Exception:
                page.screenshot(path=str(tmp_path / f"not-run-{attempt}.png"))
        else:
            pytest.fail("the Dashboard did not appear after three Run All Cells; see "
                        f"{tmp_path}/not-run-*.png and jupyterlab.log; dialogs: {dialogs}")
        page.wait_for_selector(".covidimg-timeline .js-plotly-plot", timeout=120_000)
        page.wait_for_selector(".covidimg-gallery .covidimg-gallery-caption", state="attached")
        assert page.locator("text=Error displaying widget").count() == 0
        page.screenshot(path=str(tmp_path / "jupyterlab-dashboard.png"))
        page.wait_for_function(
            "() => { const g = document.querySelector('.covidimg-timeline "
            ".js-plotly-plot'); return g && g.data && g.data.length > 0 && g.layout.meta; }",
            timeout=90_000)
        page.screenshot(path=str(tmp_path / "jupyterlab-dashboard-drawn.png"))
        before = page.evaluate("() => document.querySelector('.covidimg-timeline "
                               ".js-plotly-plot').layout.meta")
        assert before["covidimg_view"] == "timeline" and before["n_exams"] > 0
        count = page.inner_text(".covidimg-match-count")
        page.click(".covidimg-filter-modality-ct")
        page.wait_for_function(
            "(c) => document.querySelector('.covidimg-match-count').textContent !== c",
            arg=count, timeout=60_000)
        page.wait_for_function(
            "(n) => { const g = document.querySelector('.covidimg-timeline "
            ".js-plotly-plot'); return g.layout.meta && g.layout.meta.n_exams < n; }",
            arg=before["n_exams"], timeout=60_000)
        after = page.evaluate(
            "() => { const g = document.querySelector('.covidimg-timeline .js-plotly-plot');"
            " return {meta: g.layout.meta, exams: g.data.filter(d => d.name === 'exam')"
            ".reduce((n, d) => n + d.x.length, 0)}; }")
        assert 0 < after["exams"] == after["meta"]["n_exams"] < before["n_exams"]
        page.screenshot(path=str(tmp_path / "jupyterlab-dashboard-ct.png"))
        for width in (1280, 1920):
            page.set_viewport_size({"width": width, "height": 1000})
            page.wait_for_function(FILLS_PANEL, timeout=30_000)
            fit = page.evaluate(FIT)
            assert fit["plot"] >= 0.95 * fit["panel"] and fit["panel"] >= 320, (width, fit)
            assert fit["title_right"] <= fit["plot_right"] + 1, (width, fit)   # not cut
            page.screenshot(path=str(tmp_path / f"jupyterlab-dashboard-{width}.png"))
        # The dark theme: the figures follow it (transparent background, the theme's text).
        page.evaluate("() => window.jupyterapp.commands.execute('apputils:change-theme', "
                      "{theme: 'JupyterLab Dark'})")
        page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'",
                               timeout=60_000)
        page.wait_for_function(
            "() => { const g = document.querySelector('.covidimg-timeline .js-plotly-plot');"
            " return g._fullLayout.paper_bgcolor.replace(/ /g, '') === 'rgba(0,0,0,0)'; }",
            timeout=30_000)
        colors = page.evaluate(
            "() => { const g = document.querySelector('.covidimg-timeline .js-plotly-plot');"
            " const css = getComputedStyle(document.body);"
            " return {font: g._fullLayout.font.color,"
            " theme: css.getPropertyValue('--jp-ui-font-color1').trim(),"
            " background: getComputedStyle(document.querySelector('.jp-Notebook'))"
            ".backgroundColor}; }")
        assert _luminance(colors["font"]) > 0.5 > _luminance(colors["background"]), colors
        page.screenshot(path=str(tmp_path / "jupyterlab-dashboard-dark.png"))
        page.close()
    assert not [m for m in console if "widget" in m.lower() and "anywidget] Failed to "
                "initialize" not in m], console
