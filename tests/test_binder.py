"""The Binder build, reproduced as far as this machine can.

A fresh virtual environment gets ``binder/requirements.txt`` alone (pip may use the package
index and its cache), ``binder/postBuild`` runs in a copy of the repository with the real-data
download pointed at a closed local port (it must not fail the build), and every notebook, the
dashboard app's included, then runs top to bottom on that environment's own kernel.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"
NOTEBOOKS = sorted((ROOT / "notebooks").rglob("*.ipynb"))
#: A port nothing listens on: downloads fail at once, as with no network.
CLOSED = "http://127.0.0.1:9/"


def _pins() -> dict[str, str]:
    pins = {}
    for line in (BINDER / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"binder/requirements.txt: {line!r} is not pinned with =="
            pins[re.sub(r"[-_.]+", "-", name.lower())] = version
    return pins


def _names(requirements: list[str]) -> set[str]:
    return {re.sub(r"[-_.]+", "-", re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].lower())
            for r in requirements}


def _runtime_python() -> str:
    """An interpreter of the version binder/runtime.txt names (the build's own Python)."""
    version = (BINDER / "runtime.txt").read_text().strip().removeprefix("python-")
    if f"{sys.version_info.major}.{sys.version_info.minor}" == version:
        return sys.executable
    found = shutil.which(f"python{version}")
    if found is None:
        pytest.skip(f"binder/runtime.txt asks for Python {version}, not installed here")
    return found


def test_binder_files_are_complete_and_pinned():
    tomllib = pytest.importorskip("tomllib")
    pins = _pins()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    needed = _names(project["dependencies"] + extras["widgets"] + extras["dashboard"]
                    + extras["notebooks"])
    assert needed <= set(pins), f"missing from binder/requirements.txt: {needed - set(pins)}"
    assert re.fullmatch(r"python-3\.\d+", (BINDER / "runtime.txt").read_text().strip())
    post_build = BINDER / "postBuild"
    assert post_build.stat().st_mode & stat.S_IXUSR, "binder/postBuild must be executable"
    assert post_build.read_text().startswith("#!/")


def _copy_of_the_repository(target: Path) -> Path:
    ignore = shutil.ignore_patterns(".git", ".venv", "__pycache__", ".pytest_cache",
                                    ".ruff_cache", "*.egg-info", "build", "dist")
    shutil.copytree(ROOT, target, ignore=ignore)
    return target


CONFIG_CHECK = r"""
from pathlib import Path
from jupyter_core.paths import jupyter_config_dir
from traitlets.config.loader import PyFileConfigLoader

config = PyFileConfigLoader("jupyter_server_config.py", path=jupyter_config_dir()).load_config()
print(config.MappingKernelManager.cull_idle_timeout, config.MappingKernelManager.cull_interval,
      config.VoilaConfiguration.prelaunch_hook.__name__)
"""

RUNNER = r"""
import json, sys
from pathlib import Path
import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient

spec = KernelSpecManager().get_kernel_spec("python3")
python = Path(spec.argv[0] if spec.argv[0] != "python" else sys.executable)
assert python.resolve().is_relative_to(Path(sys.prefix).resolve()) or \
    python.resolve() == Path(sys.executable).resolve(), f"kernel {spec.argv} is not this venv's"
results = {}
for path in map(Path, sys.argv[1:]):
    nb = nbformat.read(path, as_version=4)
    try:
        # In the notebook's own folder, as JupyterLab on Binder runs it (the copy is ours).
        NotebookClient(nb, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        results[str(path)] = "ok"
    except Exception as exc:
        results[str(path)] = f"{type(exc).__name__}: {str(exc)[-2000:]}"
print(json.dumps(results))
"""


@pytest.mark.slow
def test_binder_build_then_every_notebook_runs(tmp_path):
    python = _runtime_python()
    repo = _copy_of_the_repository(tmp_path / "repo")
    venv = tmp_path / "venv"
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    private = {name: tmp_path / folder for name, folder in [
        ("JUPYTER_CONFIG_DIR", "jupyter-config"), ("JUPYTER_DATA_DIR", "jupyter-data"),
        ("JUPYTER_RUNTIME_DIR", "jupyter-runtime"), ("IPYTHONDIR", "ipython"),
        ("MPLCONFIGDIR", "matplotlib"), ("COVIDIMG_CACHE", "covidimg-cache")]}
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH", "JUPYTER_", "COVIDIMG_"))}
    env.update({k: str(v) for k, v in private.items()})
    env.update({"PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
                "VIRTUAL_ENV": str(venv), "COVIDIMG_MHH_BASE_URL": CLOSED,
                "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_PROGRESS_BAR": "off"})

    def run(*command: str | Path, timeout: float = 1800,
            cwd: Path = repo) -> subprocess.CompletedProcess[str]:
        out = subprocess.run([str(c) for c in command], cwd=cwd, env=env, text=True,
                             capture_output=True, timeout=timeout)
        assert out.returncode == 0, (f"{' '.join(map(str, command))} failed "
                                     f"({out.returncode}):\n{out.stdout[-3000:]}\n"
                                     f"{out.stderr[-5000:]}")
        return out

    run(python, "-m", "venv", venv)
    run(bin_dir / "python", "-m", "pip", "install", "-q", "-r",
        repo / "binder" / "requirements.txt")
    build = run("bash", repo / "binder" / "postBuild")
    assert "MHH pre-fetch skipped" in build.stdout + build.stderr, build.stdout + build.stderr
    run(bin_dir / "python", "-m", "pip", "check")
    # The Jupyter server on Binder culls kernels and lets the Voila page shut its own down.
    config = run(bin_dir / "python", "-c", CONFIG_CHECK, cwd=tmp_path).stdout.split()
    assert config == ["300", "60", "set_xsrf_cookie"], config

    # The package is installed from its wheel (not linked to the checkout), with the app;
    # asked from outside the checkout, where the source folder cannot shadow it.
    where = run(bin_dir / "python", "-c", "import covidimg, covidimg.app as a; "
                "print(covidimg.__file__); print(a.NOTEBOOK.is_file())",
                cwd=tmp_path).stdout.split()
    assert Path(where[0]).resolve().is_relative_to(venv.resolve()) and where[1] == "True", where
    # The pins are what the build got.
    frozen = dict(line.split("==", 1) for line in run(
        bin_dir / "python", "-m", "pip", "freeze", "--exclude-editable").stdout.split()
        if "==" in line)
    frozen = {re.sub(r"[-_.]+", "-", k.lower()): v for k, v in frozen.items()}
    assert {k: frozen.get(k) for k in _pins()} == _pins()

    notebooks = [repo / p.relative_to(ROOT) for p in NOTEBOOKS]
    notebooks.append(repo / "covidimg" / "app" / "dashboard.ipynb")
    (tmp_path / "runner.py").write_text(RUNNER)
    out = run(bin_dir / "python", tmp_path / "runner.py", *notebooks, timeout=3600)
    results = json.loads(out.stdout.strip().splitlines()[-1])
    failed = {Path(k).name: v for k, v in results.items() if v != "ok"}
    assert not failed, json.dumps(failed, indent=1)
    assert len(results) == len(notebooks) >= 2
