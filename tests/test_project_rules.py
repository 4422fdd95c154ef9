"""Project rules checked in the test suite: the layering of DESIGN.md and ruff."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "covidimg"


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed; install the test extra: pip install -e '.[test]'")
    return found


def test_import_layers_go_one_way():
    """import-linter contracts in pyproject.toml: cli > widgets > plotting > stats > ... ."""
    out = subprocess.run([_tool("lint-imports")], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("layer", ["sources", "schema.py", "intervals.py", "cohort.py",
                                   "stats", "imaging", "demo", "datasets.py"])
def test_lower_layers_import_no_plotting_or_widget_engine(layer):
    """Also catches imports inside functions, which import-linter sees too, as a second check."""
    target = PACKAGE / layer
    files = [target] if target.is_file() else sorted(target.rglob("*.py"))
    offenders = {str(f.relative_to(ROOT)): sorted(_imports(f) & {"plotly", "ipywidgets"})
                 for f in files}
    assert not {k: v for k, v in offenders.items() if v}


def test_ruff_is_clean():
    targets = [d for d in ("covidimg", "tests", "benchmarks") if (ROOT / d).is_dir()]
    out = subprocess.run([_tool("ruff"), "check", *targets], cwd=ROOT, capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stdout + out.stderr
