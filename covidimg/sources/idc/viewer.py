"""Links to a series in IDC's web viewer.

IDC's radiology viewer is OHIF v3 at ``viewer.imaging.datacommons.cancer.gov``; a series opens at
``/v3/viewer/?StudyInstanceUIDs=<study>&initialSeriesInstanceUID=<series>``, the URL idc-index's
``IDCClient.get_viewer_URL(viewer_selector="ohif_v3")`` builds (without loading the client, which
reads the whole index).
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

__all__ = ["VIEWER_BASE", "viewer_url"]

#: IDC's OHIF v3 viewer.
VIEWER_BASE = "https://viewer.imaging.datacommons.cancer.gov/v3/viewer/"
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")


def viewer_url(study_uid: str, series_uid: str | None = None) -> str:
    """The URL of a study (and, given, a series in it) in IDC's viewer.

    Parameters
    ----------
    study_uid, series_uid
        DICOM UIDs (digits and dots, at most 64 characters).

    Raises
    ------
    ValueError
        If a UID is not a DICOM UID.

    Examples
    --------
    >>> from covidimg.sources.idc import viewer_url
    >>> viewer_url("1.2.3", "1.2.3.4")
    'https://viewer.imaging.datacommons.cancer.gov/v3/viewer/?StudyInstanceUIDs=1.2.3&initialSeriesInstanceUID=1.2.3.4'
    """
    query = {"StudyInstanceUIDs": study_uid}
    if series_uid is not None:
        query["initialSeriesInstanceUID"] = series_uid
    for name, uid in query.items():
        if not isinstance(uid, str) or len(uid) > 64 or not _UID.match(uid):
            raise ValueError(f"viewer_url: {name}={uid!r} is not a DICOM UID (digits and dots, "
                             "at most 64 characters)")
    return f"{VIEWER_BASE}?{urlencode(query)}"
