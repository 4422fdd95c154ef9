"""The harmonized exam label of an image: ``images.exam``, from codes and description texts.

Free-text descriptions (StudyDescription, SeriesDescription, ProtocolName, CRDW's exam
description in the zip name) are not kept in the cohort by default (see
:mod:`covidimg.sources._engine.free_text`); what they say about the exam is kept as one label of
the controlled vocabulary :data:`covidimg.schema.EXAMS`, derived here and nowhere else. Every
loader calls :func:`exam_label` (the DICOM header reader for DICOM sources, CRDW with its zip
name's description as well, MHH from its modality and projection).

The rules, on the upper-cased words of every text given (``W/O`` and ``WITHOUT`` read as
``WO``, ``W/`` and ``WITH`` as ``W``):

* CR / DX: a chest radiograph (``CXR``) unless the texts name another region (abdomen, pelvis,
  spine, a limb, the head) and no chest word; then ``XR``. A chest radiograph is labelled by
  its harmonized view (``CXR AP``, ``CXR PA``, ``CXR LAT``); a portable or bedside film whose
  view is AP or unknown is ``CXR AP PORTABLE``; an unknown view gives ``CXR``.
* CT: ``CTA CHEST`` when a text says ``PE`` or ``CTPA`` (the pulmonary embolism protocol), or
  ``CTA`` / angio(graphy) together with a chest word; else ``CT CHEST ABDOMEN PELVIS`` when a
  chest word and the pelvis are named (or ``CAP``); else ``CT CHEST ABDOMEN`` when a chest
  word and the abdomen are named (the HIRO tip sheet's "chest/abdomen scans"); else, with a
  chest word,
  ``CT CHEST W CONTRAST`` when a contrast phase is named (``W CONTRAST``, ``W CON``, ``W IV``,
  ``W AND WO``, a final ``W`` as in CRDW's ``CT-CHEST-W``, ``ENHANCED``, or ``CONTRAST`` with no
  ``WO``) and ``CT CHEST`` otherwise; ``CT`` when nothing names the chest.
* MR: ``MR``. Anything else: ``UNKNOWN``.

Examples
--------
>>> from covidimg.sources._engine.exam import exam_label
>>> exam_label("DX", "AP", "XR PORT CHEST 1V")
'CXR AP PORTABLE'
>>> exam_label("CT", "AXIAL", "CT CHEST W/O CONTRAST", "AXIAL LUNG")
'CT CHEST'
>>> exam_label("CT", "AXIAL", "CTA-CHEST-PE"), exam_label("MR", "AXIAL")
('CTA CHEST', 'MR')
"""

from __future__ import annotations

import re
from functools import lru_cache

from covidimg.schema import EXAMS

__all__ = ["EXAMS", "MODALITY_CODES", "exam_label"]

#: DICOM Modality (0008,0060) defined terms (PS3.3 C.7.3.1.1.1, retired ones included): the
#: vocabulary a finding may quote a modality from (see
#: :func:`covidimg.sources._engine.free_text.describe_value`).
MODALITY_CODES: tuple[str, ...] = (
    "AR", "ASMT", "AU", "BDUS", "BI", "BMD", "CD", "CF", "CP", "CR", "CS", "CT", "DD", "DF",
    "DG", "DM", "DMS", "DOC", "DS", "DX", "EC", "ECG", "EPS", "ES", "FA", "FID", "FS", "GM",
    "HC", "HD", "IO", "IOL", "IVOCT", "IVUS", "KER", "KO", "LEN", "LP", "LS", "MA", "MG", "MR",
    "MS", "NM", "OAM", "OCT", "OP", "OPM", "OPR", "OPT", "OPTBSV", "OPTENF", "OPV", "OSS", "OT",
    "PLAN", "POS", "PR", "PT", "PX", "REG", "RESP", "RF", "RG", "RTDOSE", "RTIMAGE", "RTINTENT",
    "RTPLAN", "RTRAD", "RTRECORD", "RTSEGANN", "RTSTRUCT", "RWV", "SEG", "SM", "SMR", "SR",
    "SRF", "ST", "STAIN", "TEXTUREMAP", "TG", "US", "VA", "VF", "XA", "XAPROTOCOL", "XC")

_RADIOGRAPHS = frozenset({"CR", "DX"})
_NOT_WORD = re.compile(r"[^A-Z0-9]+")
#: Spellings folded before the text is split into words.
_FOLD = ((re.compile(r"\bW\s*/\s*O(UT)?\b"), " WO "), (re.compile(r"\bWITHOUT\b"), " WO "),
         (re.compile(r"\bW\s*/"), " W "), (re.compile(r"\bWITH\b"), " W "),
         (re.compile(r"\bNON\s*-?\s*(CONTRAST|CON)\b"), " WO CONTRAST "))
_CHEST = frozenset({"CHEST", "THORAX", "THORACIC", "THX", "LUNG", "LUNGS", "CXR", "PULMONARY",
                    "TORAX", "CAP"})
_OTHER_REGION = frozenset({"ABD", "ABDOMEN", "ABDOMINAL", "PELVIS", "PELVIC", "SPINE", "HEAD",
                           "SKULL", "BRAIN", "HAND", "WRIST", "KNEE", "FOOT", "ANKLE", "HIP",
                           "SHOULDER", "ELBOW", "FEMUR", "KUB"})
_ABDOMEN = frozenset({"ABD", "ABDOMEN", "ABDOMINAL"})
_PELVIS = frozenset({"PELVIS", "PELVIC"})
_PORTABLE = frozenset({"PORT", "PORTABLE", "BEDSIDE", "MOBILE"})
_ANGIO = frozenset({"CTA", "ANGIO", "ANGIOGRAM", "ANGIOGRAPHY", "CTPA"})
#: Words that name the pulmonary arteries' study (a CT angiography of the chest by itself).
_PULMONARY_ANGIO = frozenset({"PE", "CTPA"})
_CONTRAST = frozenset({"CONTRAST", "CON", "CONT", "IV", "C"})
_VIEW_EXAMS = {"AP": "CXR AP", "PA": "CXR PA", "LAT": "CXR LAT"}


def _words(texts: tuple[str | None, ...]) -> list[list[str]]:
    """Each text's upper-cased words, with the contrast spellings folded."""
    out = []
    for text in texts:
        if text:
            words = _text_words(str(text))
            if words:
                out.append(list(words))
    return out


@lru_cache(maxsize=65_536)
def _text_words(text: str) -> tuple[str, ...]:
    """One text's words (:func:`_words`), remembered: an index repeats the same descriptions
    across hundreds of thousands of series (IDC's whole index: 1.3 M texts, 1.2 s of regular
    expressions each time)."""
    upper = text.upper().replace("Ü", "U")
    for pattern, repl in _FOLD:
        upper = pattern.sub(repl, upper)
    return tuple(w for w in _NOT_WORD.split(upper) if w)


def _with_contrast(words: list[str]) -> bool:
    """Whether one text names a contrast phase (``W CONTRAST``, ``W AND WO``, a final ``W``,
    ``ENHANCED``, ``CONTRAST`` without ``WO``)."""
    for k, word in enumerate(words):
        after = words[k + 1] if k + 1 < len(words) else ""
        if word == "W" and (after in _CONTRAST or after in {"WO", "AND", ""}):
            return True
        if word in {"WC", "ENHANCED", "CE"}:
            return True
    return "CONTRAST" in words and "WO" not in words


def exam_label(modality: str | None, view: str | None, *descriptions: str | None,
               body_part: str | None = None) -> str:
    """Return the harmonized exam label (one of :data:`covidimg.schema.EXAMS`).

    Parameters
    ----------
    modality
        DICOM modality (``CR``, ``DX``, ``CT``, ``MR``, ...).
    view
        The harmonized view (``AP``, ``PA``, ``LAT``, ``AXIAL``, ``UNKNOWN``; see
        :func:`covidimg.sources._engine.dicom.harmonize_view`).
    *descriptions
        Description texts, in any order (``None`` and empty texts are skipped): the exam's
        StudyDescription, SeriesDescription, ProtocolName, CRDW's zip-name description.
    body_part
        Body Part Examined, when the source gives it; read as one more text.

    Returns
    -------
    str
        The label; the texts themselves are not returned or kept.

    Examples
    --------
    >>> from covidimg.sources._engine.exam import exam_label
    >>> exam_label("CR", "PA", "JOHN DOE CHEST"), exam_label("CR", "UNKNOWN")
    ('CXR PA', 'CXR')
    >>> exam_label("CT", "AXIAL", "CT CHEST ABD PELVIS W CONTRAST")
    'CT CHEST ABDOMEN PELVIS'
    >>> exam_label("CT", "AXIAL", "CT-CHEST-ABDOMEN-W-CONTRAST")
    'CT CHEST ABDOMEN'
    >>> exam_label("CT", "AXIAL", "CT CHEST WITH IV CONTRAST"), exam_label("CT", "AXIAL")
    ('CT CHEST W CONTRAST', 'CT')
    """
    code = (modality or "").strip().upper()
    texts = _words((*descriptions, body_part))
    words = {w for text in texts for w in text}
    if code in _RADIOGRAPHS:
        if words & _OTHER_REGION and not words & _CHEST:
            return "XR"
        harmonized = (view or "").upper()
        if words & _PORTABLE and harmonized in {"AP", "UNKNOWN", ""}:
            return "CXR AP PORTABLE"
        return _VIEW_EXAMS.get(harmonized, "CXR")
    if code == "CT":
        if words & _PULMONARY_ANGIO or (words & _ANGIO and words & _CHEST):
            return "CTA CHEST"
        if not words & _CHEST:
            return "CT"
        if "CAP" in words or words & _PELVIS:
            return "CT CHEST ABDOMEN PELVIS"
        if words & _ABDOMEN:
            return "CT CHEST ABDOMEN"
        if any(_with_contrast(text) for text in texts):
            return "CT CHEST W CONTRAST"
        return "CT CHEST"
    if code == "MR":
        return "MR"
    return "UNKNOWN"

