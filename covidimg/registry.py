"""The one list of the data systems covidimg reads.

Each entry names a source (the prefix of ``patient_uid`` / ``image_uid`` and the value of every
``source`` column), the module that loads it, a display name and one line saying what it is.
Everything that needs the list derives it from here:

* :mod:`covidimg.schema` -- the allowed values of the ``source`` columns (``schema.SOURCES``);
* :mod:`covidimg.sources` -- ``loader(name)`` / ``loaders()`` import the modules named here, and
  :func:`covidimg.load` detects a folder's source by asking each of them in this order;
* :mod:`covidimg.demo` -- which sources have a demo writer (``covidimg.demo.<name>``), and the
  seed of each one's random generator (its position in this list);
* the command line, whose help names the sources.

This module is data only and sits at the bottom of the package: it imports nothing from
covidimg (and no heavy library), so the schema can use it without importing the loaders, which
sit above the schema. Adding a source is one entry here plus its loader module and demo writer
(``docs/dev/adding-a-source.md``).

The order is part of the contract: it is the order of the ``source`` categories in every table
and fixes each demo source's random generator, so a new source goes at the end.

Examples
--------
>>> from covidimg.registry import SOURCE_NAMES, source_entry
>>> SOURCE_NAMES
('mhh', 'nccid', 'crdw', 'midrc', 'tcia', 'idc')
>>> source_entry("nccid").module
'covidimg.sources.nccid'
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SOURCES", "SOURCE_NAMES", "SourceEntry", "source_entry"]


@dataclass(frozen=True)
class SourceEntry:
    """One data system in the registry.

    Parameters
    ----------
    name
        The source name: lower case, used in ``patient_uid`` / ``image_uid`` prefixes, the
        ``source`` columns, ``covidimg.load({name: folder})`` and ``options={name: {...}}``.
    module
        The module implementing the loader protocol
        (:class:`covidimg.sources.SourceLoader`) for this source.
    title
        Display name.
    description
        One line saying what the source is.
    license
        The licence the source publishes its data under (for the ``provenance`` table).
    citation
        The DOI (or URL) users must cite, or ``""`` when the source names none.
    terms
        The data-use terms in one line.
    folder_root
        Whether a root of this source is a folder path (``False``: the loader module's
        ``root_of`` writes the root from what the user gave, as IDC's collection ids).
    """

    name: str
    module: str
    title: str
    description: str
    license: str = ""
    citation: str = ""
    terms: str = ""
    folder_root: bool = True


SOURCES: dict[str, SourceEntry] = {entry.name: entry for entry in (
    SourceEntry("mhh", "covidimg.sources.mhh", "MHH",
                "Hannover Medical School COVID-19 Image Repository (data.csv, PNG and NIfTI)",
                license="CC BY 3.0", citation="https://doi.org/10.6084/m9.figshare.12275009",
                terms="free use with attribution: cite the DOI (and the release or commit used)"),
    SourceEntry("nccid", "covidimg.sources.nccid", "NCCID",
                "UK National COVID-19 Chest Imaging Database (bucket copy, local or s3://)",
                license="NCCID data sharing agreement",
                citation="https://nhsx.github.io/covid-chest-imaging-database/",
                terms="use for COVID-19 purposes only, under the data sharing agreement signed "
                      "with NHS England; no re-identification, no onward sharing"),
    SourceEntry("crdw", "covidimg.sources.crdw", "CRDW",
                "UChicago CRDW COVID-19 Limited Datamart (HIRO exam zips, datamart tables)",
                license="limited data set under a data use agreement",
                terms="HIPAA limited data set: use only as the signed data use agreement allows; "
                      "no re-identification, no contact with patients, no onward sharing"),
    SourceEntry("midrc", "covidimg.sources.midrc", "MIDRC",
                "MIDRC / RICORD Gen3 data commons (node TSV exports, gen3-client DICOM)",
                license="MIDRC data use agreement (non-commercial)",
                citation="https://www.midrc.org",
                terms="non-commercial use only, by registered users who attest to the data use "
                      "agreement; acknowledge MIDRC in every publication or presentation"),
    SourceEntry("tcia", "covidimg.sources.tcia", "TCIA",
                "TCIA COVID-19 collections (NBIA Data Retriever tree, clinical sheets)",
                license="per collection (RICORD: CC BY-NC 4.0; COVID-19-AR, COVID-19-NY-SBU: "
                        "CC BY 4.0)",
                citation="https://doi.org/10.1007/s10278-013-9622-7",
                terms="TCIA data usage policy: cite the collection's DOI and TCIA; "
                      "no re-identification"),
    SourceEntry("idc", "covidimg.sources.idc", "IDC",
                "TCIA's COVID-19 collections in NCI Imaging Data Commons (series index "
                "offline, pixels on demand)",
                license="per collection, from IDC's index (RICORD: CC BY-NC 4.0; COVID-19-AR, "
                        "COVID-19-NY-SBU: CC BY 4.0)",
                citation="https://doi.org/10.1148/rg.230180",
                terms="IDC's public data: cite each collection's DOI (images.doi, "
                      "cohort.citations()) and IDC; respect each collection's licence",
                folder_root=False),
)}

#: The source names, in registry order.
SOURCE_NAMES: tuple[str, ...] = tuple(SOURCES)


def source_entry(name: str) -> SourceEntry:
    """Return the registry entry of source ``name``.

    Raises
    ------
    ValueError
        If ``name`` is not a registered source; the message lists the registered ones.

    Examples
    --------
    >>> from covidimg.registry import source_entry
    >>> source_entry("mhh").title
    'MHH'
    >>> source_entry("acme")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unknown source 'acme'; the sources are ['mhh', 'nccid', 'crdw', 'midrc', ...]
    """
    try:
        return SOURCES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown source {name!r}; the sources are "
                         f"{list(SOURCE_NAMES)}") from None
