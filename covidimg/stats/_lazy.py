"""The scipy and statsmodels modules the statistics use, each imported on its first use.

Importing ``scipy.stats`` and statsmodels' survival models takes ~1.5 s, which every
``import covidimg.stats`` paid (the dashboard's widgets import it for the selection engine)
though most views never test or fit anything. The modules here are the real modules, loaded
by :class:`importlib.util.LazyLoader` when an attribute is first read.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

__all__ = ["hazard_regression", "numdiff", "optimize", "special", "stats", "survfunc"]


def _lazy(name: str) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:  # pragma: no cover - scipy is a dependency
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module


stats = _lazy("scipy.stats")
optimize = _lazy("scipy.optimize")
special = _lazy("scipy.special")
hazard_regression = _lazy("statsmodels.duration.hazard_regression")
survfunc = _lazy("statsmodels.duration.survfunc")
numdiff = _lazy("statsmodels.tools.numdiff")
