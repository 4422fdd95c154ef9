"""covidimg: COVID-19 chest-imaging cohorts from many systems, one harmonized cohort.

>>> import covidimg as ci
>>> cohort = ci.load_demo()          # doctest: +SKIP
>>> cohort.filter(sex="F", icu=True) # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from covidimg.errors import (
    CohortFileError,
    LoadError,
    SchemaError,
    SourceDetectionError,
    StrictModeError,
)

if TYPE_CHECKING:  # for type checkers and editors; at run time they load on first use
    from covidimg.cohort import Cohort, detect_source, load
    from covidimg.datasets import fetch_mhh
    from covidimg.demo import load_demo
    from covidimg.imaging import ImageReadError

__version__ = "0.1.0"

__all__ = [
    "Cohort",
    "CohortFileError",
    "ImageReadError",
    "LoadError",
    "SchemaError",
    "SourceDetectionError",
    "StrictModeError",
    "__version__",
    "detect_source",
    "diff",
    "fetch_mhh",
    "load",
    "load_demo",
]

# Everything but the errors loads on first use (pandas, pyarrow and pydicom come with
# `covidimg.load` or `covidimg.Cohort`, not with `import covidimg`), so the import stays fast.
_LAZY_MODULES = {"widgets", "plotting", "stats", "imaging", "demo", "datasets", "intervals",
                 "schema", "sources", "export"}
_LAZY_FUNCTIONS = {"load_demo": "covidimg.demo", "fetch_mhh": "covidimg.datasets",
                   "ImageReadError": "covidimg.imaging", "Cohort": "covidimg.cohort",
                   "load": "covidimg.cohort", "detect_source": "covidimg.cohort",
                   "diff": "covidimg.cohort"}


def __getattr__(name: str) -> Any:
    if name in _LAZY_MODULES:
        return importlib.import_module(f"covidimg.{name}")
    if name in _LAZY_FUNCTIONS:
        return getattr(importlib.import_module(_LAZY_FUNCTIONS[name]), name)
    raise AttributeError(f"module 'covidimg' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(__all__) | _LAZY_MODULES)
