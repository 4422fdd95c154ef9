"""The MIDRC demo: a synthetic download in MIDRC's native layout, with the truth it encodes.

:func:`write` writes a whole download (Gen3 exports as TSV and JSON, gen3-client DICOM, legacy
NIfTI; :mod:`covidimg.demo.midrc.download`); :func:`write_case_export` the portal's case
export alone (:mod:`covidimg.demo.midrc.export`).
"""

from __future__ import annotations

from covidimg.demo.midrc.common import CASE_COLUMNS
from covidimg.demo.midrc.download import CT_SHAPE, IMAGE_SHAPE, write
from covidimg.demo.midrc.export import EXPORT_DATE, write_case_export

__all__ = ["CASE_COLUMNS", "CT_SHAPE", "EXPORT_DATE", "IMAGE_SHAPE", "write", "write_case_export"]
