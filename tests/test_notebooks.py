"""The curated notebooks: stored clean, titled, and runnable top to bottom on the demo, offline.

Each notebook runs in a real Jupyter kernel (nbclient) with the notebook's folder as working
directory, as JupyterLab runs it. The kernel inherits the test session's private cache
(``COVIDIMG_CACHE``, set by conftest) and Jupyter/IPython folders under the test's tmp folder, so
nothing is written to the home folder; the MHH download URL points at a closed local port, so no
notebook can reach the network.
"""

from __future__ import annotations

import importlib.util
import re
import socket
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.rglob("*.ipynb"))
CURATED = ["00_quickstart", "01_cohort_filters", "02_offset_timelines", "03_lab_intervals",
           "04_image_gallery", "05_outcomes", "06_multi_source_harmonization",
           "07_real_mhh_data", "08_real_tcia_idc"]
REAL_DATA = NOTEBOOK_DIR / "07_real_mhh_data.ipynb"
WORKSHOP = NOTEBOOK_DIR / "workshop"
NO_NETWORK_MESSAGE = "No network: the real MHH data could not be downloaded"
IDC_NOTEBOOK = NOTEBOOK_DIR / "08_real_tcia_idc.ipynb"
# DICOM attributes that identify a person or an institution: never printed by a notebook.
IDENTIFYING = ["PatientName", "PatientBirthDate", "PatientAddress", "InstitutionName",
               "InstitutionAddress", "ReferringPhysicianName", "OtherPatientNames",
               "PatientTelephoneNumbers", "(0010,0010)", "(0010,0030)", "(0008,0080)",
               "(0008,0090)"]


def _name(path: Path) -> str:
    return str(path.relative_to(NOTEBOOK_DIR).with_suffix(""))


def closed_port_url() -> str:
    """A URL on 127.0.0.1 whose port was free a moment ago: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture()
def kernel_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Environment the kernel inherits: no network, Jupyter/IPython state in tmp, no MHH copy."""
    monkeypatch.setenv("COVIDIMG_MHH_BASE_URL", closed_port_url())
    monkeypatch.setenv("COVIDIMG_IDC_ENDPOINT", closed_port_url())  # IDC's bucket: unreachable
    monkeypatch.delenv("COVIDIMG_MHH_DIR", raising=False)
    for variable, folder in [("IPYTHONDIR", "ipython"), ("JUPYTER_RUNTIME_DIR", "runtime"),
                             ("JUPYTER_CONFIG_DIR", "jupyter-config"),
                             ("MPLCONFIGDIR", "matplotlib")]:
        (tmp_path / folder).mkdir()
        monkeypatch.setenv(variable, str(tmp_path / folder))
    return monkeypatch


def execute(path: Path) -> nbformat.NotebookNode:
    """Run a notebook top to bottom in a fresh python3 kernel; raise on the first error."""
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return nb


def output_text(nb: nbformat.NotebookNode) -> str:
    """Everything the notebook printed or displayed as text or HTML."""
    parts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                parts.append(output["text"])
            for mime in ("text/plain", "text/html", "text/markdown"):
                value = output.get("data", {}).get(mime)
                if value:
                    parts.append(value if isinstance(value, str) else "".join(value))
    return "\n".join(parts)


def assert_no_identifying_fields(nb: nbformat.NotebookNode, path: Path) -> None:
    text = output_text(nb) + "\n".join(cell.source for cell in nb.cells)
    shown = [field for field in IDENTIFYING if field.lower() in text.lower()]
    assert not shown, f"{_name(path)} shows identifying DICOM fields {shown}"


# --- stored form ------------------------------------------------------------------------------


def test_curated_notebooks_exist() -> None:
    present = {p.stem for p in NOTEBOOK_DIR.glob("*.ipynb")}
    assert present >= set(CURATED), f"missing notebooks: {sorted(set(CURATED) - present)}"
    workshop = sorted(p.stem for p in WORKSHOP.glob("*.ipynb"))
    assert "solutions" in workshop and len(workshop) >= 4, workshop
    assert (NOTEBOOK_DIR / "README.md").is_file()


def test_readme_indexes_every_notebook() -> None:
    readme = (NOTEBOOK_DIR / "README.md").read_text()
    missing = [_name(p) for p in NOTEBOOKS if p.name not in readme]
    assert not missing, f"notebooks/README.md does not mention {missing}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_name)
def test_notebook_stored_clean(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    with_outputs = [i for i, cell in enumerate(nb.cells)
                    if cell.cell_type == "code" and (cell.get("outputs")
                                                     or cell.get("execution_count"))]
    assert not with_outputs, (f"{path.name} is stored with outputs in cells {with_outputs}; "
                              "run `jupyter nbconvert --clear-output --inplace` on it")
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", path.name
    first = nb.cells[0]
    assert first.cell_type == "markdown" and re.match(r"# \S", first.source), (
        f"{path.name} should start with a markdown cell holding a '# Title'")
    narrated = sum(cell.cell_type == "markdown" for cell in nb.cells)
    assert narrated >= 3, f"{path.name} has only {narrated} markdown cells"


# --- execution --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p != REAL_DATA], ids=_name)
def test_notebook_executes(path: Path, kernel_env: pytest.MonkeyPatch) -> None:
    nb = execute(path)
    assert_no_identifying_fields(nb, path)
    text = output_text(nb)
    if path.parent == WORKSHOP and path.stem != "solutions":
        asked = set(re.findall(r'check\("(\d\.\d)"', "\n".join(c.source for c in nb.cells)))
        assert asked, f"{path.name} has no exercise checks"
        unsolved = set(re.findall(r"^(\d\.\d) \(.*\): not yet solved", text, re.MULTILINE))
        assert unsolved == asked, (path.name, sorted(asked), sorted(unsolved))
    if path == IDC_NOTEBOOK:  # the metadata part ran from the index; the download was skipped
        assert "No network:" in text and "so the download and the images below" in text
        assert "<Cohort: " in text and "sources idc>" in text and "Licence: CC BY-NC 4.0" in text
    if path.stem == "solutions":
        solved = set(re.findall(r"^(\d\.\d) \(.*\): correct", text, re.MULTILINE))
        exercises = set()
        for other in WORKSHOP.glob("0*.ipynb"):
            source = "\n".join(c.source for c in nbformat.read(other, as_version=4).cells)
            exercises |= set(re.findall(r'check\("(\d\.\d)"', source))
        assert exercises and solved == exercises, (sorted(exercises), sorted(solved))


def test_real_data_notebook_with_local_copy(kernel_env: pytest.MonkeyPatch, mhh_dir: Path,
                                            mhh_cohort) -> None:  # type: ignore[no-untyped-def]
    kernel_env.setenv("COVIDIMG_MHH_DIR", str(mhh_dir))
    nb = execute(REAL_DATA)
    text = output_text(nb)
    assert NO_NETWORK_MESSAGE not in text
    assert repr(mhh_cohort) in text
    assert_no_identifying_fields(nb, REAL_DATA)
    last = nb.cells[-1]
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {})
               for o in last.outputs), "the dashboard cell displayed no widget"


def test_real_data_notebook_without_network(kernel_env: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    # An empty cache: no earlier download can stand in for the network.
    empty_cache = tmp_path / "empty-cache"
    empty_cache.mkdir()
    kernel_env.setenv("COVIDIMG_CACHE", str(empty_cache))
    nb = execute(REAL_DATA)
    text = output_text(nb)
    assert NO_NETWORK_MESSAGE in text
    assert "Cohort:" not in text, "cells after the failed download should do nothing"
    assert not list((empty_cache / "mhh").rglob("data.csv"))


# --- the workshop's answer checks -------------------------------------------------------------


@pytest.fixture(scope="module")
def checks():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("workshop_checks", WORKSHOP / "checks.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["workshop_checks"] = module
    spec.loader.exec_module(module)
    return module


def test_workshop_checks_judge_against_the_truth(checks) -> None:  # type: ignore[no-untyped-def]
    truth = checks.truth()
    icu = int(truth["patients"]["icu"].astype("boolean").fillna(False).sum())
    assert checks.check("1.1", icu)
    assert not checks.check("1.1", icu + 1)
    assert "not yet solved" in repr(checks.check("1.1", ...))
    assert not checks.check("2.2", "not an analyte")
    assert not checks.check("2.3", (10.0, 9.0, 11.0))       # interval misses the true median
    assert "could not read" in repr(checks.check("3.2", "many"))
    with pytest.raises(AssertionError, match="3.3"):
        checks.check("3.3", -1, strict=True)
    assert not checks.check("9.9", 1)
