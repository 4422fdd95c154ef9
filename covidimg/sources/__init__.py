"""Source loaders: one module (or package) per data system, each reading its native layout.

Which sources exist is written once, in :mod:`covidimg.registry`; :func:`loader` and
:func:`loaders` import the modules named there. Every loader module follows one protocol,
:class:`SourceLoader`:

``NAME``
    the source name used in ``patient_uid`` / ``image_uid`` prefixes and the ``source`` column
    (the module's key in the registry);
``LOOKS_FOR``
    one sentence saying which files make a folder look like this source (used in errors);
``detect(root) -> bool``
    whether ``root`` has this source's layout;
``load(root, *, progress=False, **options) -> SourceTables``
    read everything under ``root``, recording every file in ``files`` and every problem in
    ``findings``, and return the tables with the contract's columns and dtypes
    (:meth:`SourceTables.conformed`). The options are the loader's own keyword-only parameters
    after ``progress`` (MHH's ``convention``, NCCID's ``site_units`` and ``storage_options``);
    :func:`loader_options` lists them. ``load`` is decorated with
    :func:`rejects_unknown_options`, so an option it does not know raises a ``ValueError``
    naming the option, the source and the options it has (:func:`check_options`, the one
    place that check is written). :func:`covidimg.load` passes ``options={source: {...}}`` on.

Only :mod:`covidimg.cohort` calls ``load``; it checks every option before any source is read,
and combines the sources' tables into one cohort (validated once there).
"""

from __future__ import annotations

import functools
import importlib
import inspect
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from types import ModuleType
from typing import Any, Protocol, TypeVar, runtime_checkable

from covidimg._validation import check_choice
from covidimg.errors import LoadError
from covidimg.registry import SOURCE_NAMES, source_entry
from covidimg.sources._engine.free_text import DESCRIPTION_POLICIES, description_policy
from covidimg.sources._engine.ledger import Ledger, SourceTables, raise_if_strict, strict_mode
from covidimg.sources._engine.nifti import stored_bytes as nifti_stored_bytes
from covidimg.sources._engine.observations import Observations
from covidimg.sources._engine.provenance import covidimg_version, provenance_frame, provenance_row

__all__ = ["DESCRIPTION_POLICIES", "Ledger", "LoadError", "Observations", "SourceLoader",
           "SourceTables", "archive_limits", "check_options", "covidimg_version",
           "description_policy", "index_options", "loader", "loader_options", "loaders",
           "nifti_stored_bytes", "provenance_frame", "provenance_row", "raise_if_strict",
           "rejects_unknown_options", "series_files", "strict_mode"]


#: Names given on first use: they need the DICOM readers (pydicom, ~0.25 s to import), which
#: opening a saved result of a load never does.
_ON_FIRST_USE = {"archive_limits": "covidimg.sources._engine.archives",
                 "index_options": "covidimg.sources._engine.index",
                 "series_files": "covidimg.sources._engine.index"}


def __getattr__(name: str) -> Any:
    if name in _ON_FIRST_USE:
        return getattr(importlib.import_module(_ON_FIRST_USE[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@runtime_checkable
class SourceLoader(Protocol):
    """What every loader module provides (the module itself is the implementation).

    Examples
    --------
    >>> from covidimg.sources import SourceLoader, loader
    >>> isinstance(loader("mhh"), SourceLoader)
    True
    """

    #: The source name, as in :data:`covidimg.registry.SOURCES`.
    NAME: str
    #: One sentence saying which files make a folder look like this source.
    LOOKS_FOR: str

    def detect(self, root: str) -> bool:
        """Whether the folder (or URL) ``root`` has this source's layout."""
        ...

    def load(self, root: str | os.PathLike[str], *, progress: bool = False,
             **options: Any) -> SourceTables:
        """Read everything under ``root`` into the source's harmonized tables."""
        ...


def loader(name: str) -> ModuleType:
    """Return the loader module of source ``name`` (see :mod:`covidimg.registry`).

    Raises
    ------
    ValueError
        If ``name`` is not a registered source; the message lists the registered ones.

    Examples
    --------
    >>> from covidimg.sources import loader
    >>> loader("crdw").NAME
    'crdw'
    """
    return importlib.import_module(source_entry(name).module)


def loaders() -> dict[str, ModuleType]:
    """Return every loader module, keyed by source name, in registry order."""
    return {name: loader(name) for name in SOURCE_NAMES}


def _option_names(load: Callable[..., Any]) -> tuple[str, ...]:
    """The keyword-only parameters of ``load`` other than ``progress`` (through decorators)."""
    return tuple(p.name for p in inspect.signature(load).parameters.values()
                 if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name != "progress")


def loader_options(name: str) -> tuple[str, ...]:
    """The options the loader of source ``name`` accepts.

    Examples
    --------
    >>> from covidimg.sources import loader_options
    >>> loader_options("mhh"), loader_options("tcia")
    (('convention',), ())
    """
    return _option_names(loader(name).load)


def check_options(source: str, options: Mapping[str, Any], allowed: Iterable[str]) -> None:
    """Raise if ``options`` holds a name the loader of ``source`` does not accept.

    Raises
    ------
    ValueError
        Naming the unknown options, the source and the options it accepts.

    Examples
    --------
    >>> from covidimg.sources import check_options
    >>> check_options("mhh", {"convention": "round"}, ["convention"])
    >>> check_options("mhh", {"rounding": "round"}, ["convention"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: option='rounding' is not allowed; allowed values are ['convention']. ...
    """
    allowed = tuple(allowed)
    hint = (f"They are the options the {source!r} loader accepts." if allowed
            else f"The {source!r} loader takes no options.")
    for key in options:
        check_choice(key, allowed, "option", hint=hint)


_Load = TypeVar("_Load", bound=Callable[..., SourceTables])


def rejects_unknown_options(load: _Load) -> _Load:
    """Decorate a loader's ``load`` so that an unknown keyword option raises a clear error.

    The options are ``load``'s keyword-only parameters after ``progress``; the source is the
    ``NAME`` of the module defining ``load``. Without this, Python's own error would name
    neither the source nor the options it has.

    Examples
    --------
    >>> from covidimg.sources import mhh
    >>> mhh.load("downloads/mhh", rounding="round")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: option='rounding' is not allowed; allowed values are ['convention']. ...
    """
    allowed = _option_names(load)

    @functools.wraps(load)
    def checked(root: str | os.PathLike[str], *, progress: bool = False,
                **options: Any) -> SourceTables:
        check_options(sys.modules[load.__module__].NAME, options, allowed)
        return load(root, progress=progress, **options)

    return checked  # type: ignore[return-value]
