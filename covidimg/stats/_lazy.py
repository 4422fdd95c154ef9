"""The scipy and statsmodels modules the statistics use, each imported on its first use.

Importing ``scipy.stats`` and statsmodels' survival models takes ~1.5 s, which every
``import covidimg.stats`` paid (the dashboard's widgets import it for the selection engine)
though most views never test or fit anything. Each name here stands for the real module and
imports it (with :func:`importlib.import_module`) when an attribute is first read; nothing,
not even the parent package (``statsmodels/__init__`` alone takes ~0.1 s), is imported before.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

__all__ = ["hazard_regression", "numdiff", "optimize", "special", "stats", "survfunc"]


class _OnFirstUse:
    """The module ``name``, imported when one of its attributes is first read."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attribute: str) -> Any:
        module = self.__dict__["_module"]
        if module is None:
            module = self.__dict__["_module"] = importlib.import_module(self.__dict__["_name"])
        return getattr(module, attribute)

    def __repr__(self) -> str:
        return f"<{self._name}, imported on first use>"


stats: Any = _OnFirstUse("scipy.stats")
optimize: Any = _OnFirstUse("scipy.optimize")
special: Any = _OnFirstUse("scipy.special")
hazard_regression: Any = _OnFirstUse("statsmodels.duration.hazard_regression")
survfunc: Any = _OnFirstUse("statsmodels.duration.survfunc")
numdiff: Any = _OnFirstUse("statsmodels.tools.numdiff")
