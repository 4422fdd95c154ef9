"""The Examples sections of every module under covidimg/ run as tests.

Each module is one test, run with :mod:`doctest` inside the test process, so the session's
private cache folder (``COVIDIMG_CACHE``, set by the autouse fixture in conftest.py) applies to
the examples too: a doctest never writes to the user's home. Examples that need files or the
network are marked ``# doctest: +SKIP`` where they are written.
"""

from __future__ import annotations

import doctest
import importlib
import os
import pkgutil
from pathlib import Path

import pytest

import covidimg

#: Modules whose import needs more than the test extra (none today; e.g. a browser).
NEEDS_MORE = frozenset[str]()


def _modules() -> list[str]:
    names = ["covidimg"]
    for info in pkgutil.walk_packages(covidimg.__path__, prefix="covidimg."):
        names.append(info.name)
    return sorted(n for n in names if n not in NEEDS_MORE)


def test_doctests_see_the_private_cache(_private_cache: Path) -> None:
    """The examples below run in this process, under the session's private cache folder."""
    assert os.environ["COVIDIMG_CACHE"] == str(_private_cache)


@pytest.mark.parametrize("name", _modules())
def test_module_examples(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = importlib.import_module(name)
    monkeypatch.chdir(tmp_path)  # an example that writes a relative path writes it here
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    failures: list[str] = []
    for test in finder.find(module, name):  # a module without examples passes
        result = runner.run(test, out=failures.append, clear_globs=True)
        if result.failed:
            failures.append(f"-- {test.name}: {result.failed} of {result.attempted} failed\n")
    assert not failures, "".join(failures)
