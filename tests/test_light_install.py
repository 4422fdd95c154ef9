"""``pip install covidimg`` without extras: the loaders, statistics and plotting need no Jupyter.

A subprocess runs with the Jupyter packages made unimportable (a finder first on
``sys.meta_path`` refuses them, as if they were not installed), builds the demo with the real
loaders, computes statistics and draws figures; ``covidimg dashboard`` then names the extra to
install. The extras themselves are checked in ``pyproject.toml``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: What the base install must work without (the widgets, dashboard and notebooks extras).
JUPYTER = ("jupyterlab", "jupyter_server", "notebook", "voila", "ipywidgets", "anywidget",
           "ipykernel", "IPython", "jupyterlab_widgets", "widgetsnbextension")

BLOCKER = f"""
import sys

class _NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {JUPYTER!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, _NotInstalled())
"""

LIGHT_USE = """
import covidimg, covidimg.plotting as plotting, covidimg.stats as stats

cohort = covidimg.load_demo(n_patients=8)
assert sorted(cohort.patients["source"].astype(str).unique()) == \\
    ["crdw", "mhh", "midrc", "nccid", "tcia"], cohort
table = stats.table_one(cohort, by="icu")
figures = [plotting.plot_timeline(stats.timeline(cohort, align="admission")),
           plotting.plot_kaplan_meier(stats.kaplan_meier(cohort, event="death"))]
assert all(len(f.data) > 0 for f in figures)
print(f"{len(cohort.patients)} patients, table one {table.shape}, "
      f"{sum(len(f.to_json()) for f in figures)} bytes of figures")
"""


def _run(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COVIDIMG_CACHE": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", BLOCKER + code], capture_output=True,
                          text=True, env=env, timeout=600, cwd=tmp_path)


def test_loaders_stats_and_plotting_work_without_jupyter(tmp_path: Path) -> None:
    out = _run(LIGHT_USE, tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert re.search(r"\d+ patients, table one \(\d+, \d+\)", out.stdout), out.stdout


def test_the_blocker_blocks(tmp_path: Path) -> None:
    out = _run("import ipywidgets", tmp_path)
    assert out.returncode == 1 and "No module named 'ipywidgets'" in out.stderr


def test_dashboard_without_its_extra_names_it(tmp_path: Path) -> None:
    code = ("from covidimg.cli import main\n"
            "raise SystemExit(main(['dashboard', '--no-browser']))\n")
    out = _run(code, tmp_path)
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().splitlines() == [
        "covidimg dashboard: error: the dashboard needs voila, ipykernel, ipywidgets, "
        "anywidget, not installed; install them with: pip install 'covidimg[dashboard]'"]
    assert not (tmp_path / "cache").exists(), "the demo was built before the check"


def _names(requirements: list[str]) -> set[str]:
    return {re.sub(r"[-_.]+", "-", re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].lower())
            for r in requirements}


def test_extras_are_layered_and_the_base_has_no_jupyter() -> None:
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = {name: _names(reqs) for name, reqs in project["optional-dependencies"].items()}
    jupyter = {re.sub(r"[-_.]+", "-", name.lower()) for name in JUPYTER}
    assert not _names(project["dependencies"]) & jupyter
    assert extras["widgets"] == {"ipywidgets", "anywidget"}
    assert extras["widgets"] < extras["dashboard"] < extras["notebooks"] <= extras["test"]
    assert {"voila", "ipykernel"} <= extras["dashboard"]
    assert "jupyterlab" in extras["notebooks"]
    assert "covidimg" not in set().union(*extras.values()), "extras list their packages"


def test_import_covidimg_loads_no_heavy_library() -> None:
    """``import covidimg`` brings only the package's errors; pandas, pyarrow, numpy, pydicom
    and plotly come with the first use of ``covidimg.load``, ``covidimg.Cohort``..."""
    code = ("import sys, covidimg\n"
            "heavy = [m for m in ('numpy', 'pandas', 'pyarrow', 'pydicom', 'plotly', 'PIL')"
            " if m in sys.modules]\n"
            "assert not heavy, heavy\n"
            "assert covidimg.Cohort.__name__ == 'Cohort' and callable(covidimg.load)\n"
            "assert 'pandas' in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=120,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.mark.parametrize("named", [True, False], ids=["source named", "source detected"])
def test_a_kept_result_opens_without_the_dicom_readers(tmp_path, named) -> None:
    """The second ``covidimg.load`` of unchanged folders opens the first load's kept result:
    no loader runs, not even a source's detection, so pydicom (a quarter of a second to
    import) is not imported."""
    from covidimg.demo import generate_demo

    generate_demo(tmp_path / "demo", sources=["tcia"], n_patients=8)
    folder = str(tmp_path / "demo" / "tcia")
    roots = repr({"tcia": folder}) if named else repr(folder)
    code = ("import sys, covidimg\n"
            f"cohort = covidimg.load({roots}, "
            f"index_cache={str(tmp_path / 'cache')!r}, progress=False)\n"
            "assert len(cohort.images)\n"
            "print('pydicom' in sys.modules)\n")
    runs = [subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=120,
                           capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout.split()[-1]
            for _ in range(2)]
    assert runs == ["True", "False"]   # the first load reads DICOM; the second opens its result


def test_the_dashboard_builds_without_the_dicom_readers(tmp_path) -> None:
    """Opening a saved cohort and building the dashboard over it import neither pydicom nor
    nibabel: they come with the first image read."""
    pytest.importorskip("anywidget")
    folder = tmp_path / "cohort"
    subprocess.run([sys.executable, "-c", "import covidimg as ci, sys\n"
                    f"ci.load_demo(cache={str(tmp_path / 'cache')!r}).save({str(folder)!r})"],
                   check=True, cwd=ROOT, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    code = ("import sys, covidimg as ci\n"
            "from covidimg.widgets import Dashboard\n"
            f"dashboard = Dashboard(ci.Cohort.open({str(folder)!r}))\n"
            "print(sorted(m for m in ('pydicom', 'nibabel') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=300,
                         capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout.split("\n")[-2]
    assert out == "[]"
