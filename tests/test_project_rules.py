"""Project rules checked in the test suite: the import layers of docs/dev/architecture.md, ruff.

The rules themselves are written once, as import-linter contracts in pyproject.toml
(``[tool.importlinter]``); docs/dev/architecture.md explains them. import-linter sees imports
inside functions too, so no second check is needed here.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: import-linter depends on tomli there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
ARCHITECTURE = ROOT / "docs" / "dev" / "architecture.md"


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed; install the test extra: pip install -e '.[test]'")
    return found


def _contracts() -> dict[str, dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return {c["id"]: c for c in config["contracts"]}


def test_import_contracts_are_kept():
    """The contracts in pyproject.toml: layers, private modules, no plotting/widget engines below.

    See docs/dev/architecture.md for what each contract means and how to fix a broken one.
    """
    if importlib.util.find_spec("importlinter.contracts.private_modules") is None:
        pytest.fail("the installed import-linter has no 'private_modules' contract type; "
                    "upgrade it: pip install -U import-linter")
    out = subprocess.run([_tool("lint-imports"), "--no-cache"], cwd=ROOT, capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_architecture_doc_names_every_layer():
    """docs/dev/architecture.md describes every module the layers contract places."""
    text = ARCHITECTURE.read_text()
    layers = _contracts()["layers"]["layers"]
    names = [name.strip(" ()") for layer in layers for name in re.split(r"[|:]", layer)]
    missing = [n for n in names if f"covidimg/{n}" not in text and f"covidimg.{n}" not in text]
    assert not missing, f"{ARCHITECTURE.relative_to(ROOT)} does not describe {missing}"


def test_ruff_is_clean():
    targets = [d for d in ("covidimg", "tests", "benchmarks") if (ROOT / d).is_dir()]
    out = subprocess.run([_tool("ruff"), "check", *targets], cwd=ROOT, capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_dataclasses_holding_tables_or_arrays_compare_by_identity():
    """A generated ``__eq__`` on a DataFrame or array field raises ("truth value of a
    DataFrame is ambiguous"): every such dataclass of the package is ``eq=False``."""
    import dataclasses
    import importlib
    import pkgutil

    import covidimg

    offenders = []
    for info in pkgutil.walk_packages(covidimg.__path__, "covidimg."):
        if info.name.startswith(("covidimg.app", "covidimg.widgets")):
            continue  # need a notebook front end; they hold widgets, not tables
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if not (isinstance(obj, type) and dataclasses.is_dataclass(obj)
                    and obj.__module__ == module.__name__):
                continue
            types = " ".join(str(f.type) for f in dataclasses.fields(obj))
            if re.search(r"DataFrame|ndarray|Series", types) and obj.__eq__ is not object.__eq__:
                offenders.append(f"{module.__name__}.{name}")
    assert not offenders, f"add eq=False to these dataclasses: {offenders}"


def test_choice_checks_are_written_once_in_validation() -> None:
    """Every "allowed values are" message comes from ``covidimg._validation.check_choice``.

    A parameter that takes one of a fixed set of values declares the set once (a ``Literal``
    type, or the collection it comes from) and checks it with ``check_choice``; a hand-written
    ``raise ValueError(f"... allowed values are ...")`` elsewhere is a second copy of that rule.
    """
    pattern = re.compile(r"allowed (values )?are", re.IGNORECASE)
    not_choices = {
        "covidimg/imaging/slicing.py",  # a slice index: a range of integers, not a set of values
        "covidimg/schema.py",  # a column's values in a table's rows (SchemaError), not an argument
    }
    offenders = []
    for path in sorted((ROOT / "covidimg").rglob("*.py")):
        name = path.relative_to(ROOT).as_posix()
        if name == "covidimg/_validation.py" or name in not_choices:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            stripped = code.strip()
            if stripped.startswith(">>>") or stripped.startswith("ValueError:"):
                continue  # a doctest showing check_choice's message
            if pattern.search(code) and ('"' in code or "'" in code):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {stripped}")
    assert not offenders, ("write the choice as a Literal and check it with "
                           "covidimg._validation.check_choice:\n" + "\n".join(offenders))
