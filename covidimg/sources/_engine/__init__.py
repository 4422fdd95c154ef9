"""The ingestion engine every loader shares (private to :mod:`covidimg.sources`).

``ledger``
    :class:`SourceTables`, the files/findings :class:`Ledger`, the bounded walk of a source
    root, strict mode and the bounded text-table reader;
``archives``
    zip members read in place, with limits on size and compression ratio;
``dicom`` and ``header_scan``
    the DICOM header reader (pydicom, DICOM-JSON) and its fast scanner;
``index``, ``index_cache`` and ``series_sampling``
    the DICOM index of a tree, its on-disk cache and the sampling of large CT/MR series.

Loaders in :mod:`covidimg.sources` import from here; nothing outside that package does (an
import contract in ``pyproject.toml`` says so).
"""
