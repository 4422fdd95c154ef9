"""Source loaders: one module per data system, each reading its native layout into tables.

Every loader module exposes the same four names:

``NAME``
    the source name used in ``patient_uid`` / ``image_uid`` prefixes and the ``source`` column;
``LOOKS_FOR``
    one sentence saying which files make a folder look like this source (used in errors);
``detect(root) -> bool``
    whether ``root`` has this source's layout;
``load(root, *, progress=False) -> SourceTables``
    read everything under ``root``, recording every file in ``files`` and every problem in
    ``findings``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from covidimg.errors import LoadError
from covidimg.sources._engine.archives import archive_limits
from covidimg.sources._engine.index import index_options
from covidimg.sources._engine.ledger import Ledger, SourceTables, raise_if_strict, strict_mode

__all__ = ["LOADER_MODULES", "Ledger", "LoadError", "SourceTables", "archive_limits",
           "index_options", "loader", "loaders", "raise_if_strict", "strict_mode"]

#: Source name -> module implementing it, in detection order.
LOADER_MODULES: dict[str, str] = {
    "mhh": "covidimg.sources.mhh",
    "nccid": "covidimg.sources.nccid",
    "midrc": "covidimg.sources.midrc",
    "crdw": "covidimg.sources.crdw",
    "tcia": "covidimg.sources.tcia",
}


def loader(name: str) -> ModuleType:
    """Return the loader module for source ``name``.

    Raises
    ------
    ValueError
        If ``name`` is not a known source; the message lists the known ones.
    """
    try:
        module = LOADER_MODULES[name]
    except KeyError:
        raise ValueError(
            f"unknown source {name!r}; known sources are {sorted(LOADER_MODULES)}"
        ) from None
    return importlib.import_module(module)


def loaders() -> dict[str, ModuleType]:
    """Return every loader module, keyed by source name."""
    return {name: loader(name) for name in LOADER_MODULES}
