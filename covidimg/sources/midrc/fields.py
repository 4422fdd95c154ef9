"""Where every field of the MIDRC Gen3 nodes goes: a column, an event, an observation, or
deliberately nowhere (with the reason).

The fields are those of the MIDRC data dictionary (``uc-cdis/midrc_dictionary``,
``gdcdictionary/schemas/<node>.yaml``), plus the names older exports use. A column of a node
export that is in none of the lists here is an ``unexpected_field`` finding naming the file
and the key, so a field MIDRC adds later is never dropped without a word.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["DATA_FILE_NODES", "LINK_PREFIXES", "NOT_KEPT", "OBSERVED", "READ", "FieldSpec",
           "is_known"]

Kind = Literal["vocabulary", "boolean", "list", "number", "code", "text"]


@dataclass(frozen=True)
class FieldSpec:
    """One published field that becomes observations.

    ``kind`` says how the cell is read: ``vocabulary`` (a Gen3 enum: the published text is the
    value), ``boolean`` (``True``/``False`` -> ``yes``/``no``), ``list`` (one observation per
    element), ``number`` (``value_num``, with ``unit``), ``code`` (an identifier or code, kept
    as it is), ``text`` (free text: not stored unless descriptions are kept).
    """

    column: str
    field: str
    kind: Kind
    vocabulary: tuple[str, ...] = ()
    unit: str = ""
    #: Harmonized values for vocabulary members (lower-case published text -> value).
    values: tuple[tuple[str, str], ...] = ()


RACE = ("American Indian or Alaska Native", "Asian", "Black or African American",
        "Native Hawaiian or other Pacific Islander", "Other", "White", "Not Reported")
ETHNICITY = ("Hispanic or Latino", "Not Hispanic or Latino", "Not Reported")
#: ``annotation.annotation_name`` and the other annotation enums (dictionary v1.3.7).
ANNOTATION_NAMES = ("midrc_bpr_landmarks", "midrc_bpr_regions", "midrc_lung_segs",
                    "midrc_lung_measures", "midrc_mdai_chestxr",
                    "midrc_mRALE_Mastermind_Challenge", "SIFT")

_ANNOTATION: tuple[FieldSpec, ...] = (
    FieldSpec("midrc_mRALE_score", "midrc:midrc_mRALE_score", "number", unit="points"),
    FieldSpec("class_covid19_pneumonia", "midrc:class_covid19_pneumonia", "vocabulary",
              ("atypical", "indeterminate", "negative", "typical")),
    FieldSpec("airspace_disease_grading", "midrc:airspace_disease_grading", "vocabulary",
              ("mild", "moderate", "severe")),
    FieldSpec("sift_image_quality_index", "midrc:sift_image_quality_index", "vocabulary",
              ("A", "B", "C", "D", "Not Reported")),
    FieldSpec("annotation_name", "midrc:annotation_name", "vocabulary", ANNOTATION_NAMES),
    FieldSpec("annotation_method", "midrc:annotation_method", "vocabulary",
              ("Clinically_derived", "Retrospective_expert", "Retrospective_general",
               "Retrospective_auto")),
    FieldSpec("annotation_long_name", "midrc:annotation_long_name", "text"),
    FieldSpec("software_version", "midrc:software_version", "code"),
    FieldSpec("instance_uids", "midrc:instance_uids", "list"),
)

#: Node -> the fields that become observations by the generic rule (the node's own readers
#: turn the other fields into columns and events).
OBSERVED: dict[str, tuple[FieldSpec, ...]] = {
    "case": (
        FieldSpec("race", "race", "vocabulary", RACE),
        FieldSpec("ethnicity", "ethnicity", "vocabulary", ETHNICITY),
        FieldSpec("ventilator_indicator", "ventilation", "boolean",
                  values=(("true", "mechanical"), ("false", "none"))),
        FieldSpec("long_covid_diagnosis", "long_covid", "vocabulary",
                  ("Positive", "Not Reported"),
                  values=(("positive", "yes"), ("not reported", "no"))),
        FieldSpec("treatment_info", "midrc:treatment_info", "boolean"),
        FieldSpec("gen3_linked_subjects_available", "midrc:gen3_linked_subjects_available",
                  "boolean"),
        FieldSpec("linked_external_data", "midrc:linked_external_data", "list"),
        FieldSpec("race_ethnicity", "midrc:race_ethnicity", "list", RACE + ETHNICITY),
        FieldSpec("race_ethnicity_detail", "midrc:race_ethnicity_detail", "list"),
        FieldSpec("race_ethnicity_write_in", "midrc:race_ethnicity_write_in", "text"),
        FieldSpec("datasets.submitter_id", "release_batch", "list"),
    ),
    "imaging_study": (
        FieldSpec("study_modality", "midrc:study_modality", "list"),
        FieldSpec("body_part_examined", "midrc:body_part_examined", "list"),
        FieldSpec("loinc_code", "midrc:loinc_code", "code"),
        FieldSpec("loinc_long_common_name", "midrc:loinc_long_common_name", "text"),
        FieldSpec("loinc_system", "midrc:loinc_system", "code"),
        FieldSpec("loinc_method", "midrc:loinc_method", "code"),
        FieldSpec("loinc_contrast", "midrc:loinc_contrast", "code"),
        FieldSpec("age_at_imaging", "midrc:age_at_imaging", "number", unit="years"),
        FieldSpec("age_at_imaging_gt89", "midrc:age_at_imaging_gt89", "vocabulary",
                  ("Yes", "No")),
        FieldSpec("study_year", "midrc:study_year", "number"),
        FieldSpec("study_year_shifted", "midrc:study_year_shifted", "boolean"),
        FieldSpec("image_data_modified", "midrc:image_data_modified", "boolean"),
        FieldSpec("datasets.submitter_id", "release_batch", "list"),
    ),
    "visit": (
        FieldSpec("discharge_type", "midrc:discharge_type", "vocabulary",
                  ("Home", "Expired", "Deceased", "Hospice", "Skilled Nursing Facility",
                   "Rehabilitation Facility", "Transfer", "Other", "Not Reported")),
    ),
    "measurement": (
        FieldSpec("test_method", "midrc:test_method", "vocabulary",
                  ("RT-PCR", "Rapid antigen test", "Not Reported")),
    ),
    "procedure": (),
    "condition": (FieldSpec("condition_name", "midrc:condition_name", "text"),),
    "medication": (
        FieldSpec("medication_name", "midrc:medication_name", "text"),
        FieldSpec("medication_code", "midrc:medication_code", "code"),
        FieldSpec("medication_code_system", "midrc:medication_code_system", "code"),
        FieldSpec("medication_manufacturer", "midrc:medication_manufacturer", "text"),
        FieldSpec("dose_sequence_number", "midrc:dose_sequence_number", "number"),
    ),
    "annotation": _ANNOTATION,
    "imaging_study_annotation": _ANNOTATION,
}

#: Node -> fields the node's reader turns into patients columns, events or observations.
READ: dict[str, tuple[str, ...]] = {
    "case": ("submitter_id", "age_at_index", "age_at_index_gt89", "sex", "covid19_positive",
             "icu_indicator", "site_id", "project_id", "index_event"),
    "imaging_study": ("study_uid", "days_to_study", "days_from_study_to_pos_covid_test",
                      "days_from_study_to_neg_covid_test"),
    "visit": ("days_to_hospital_admission", "days_to_hospital_discharge",
              "days_to_icu_admission", "days_to_icu_discharge"),
    "measurement": ("test_name", "test_result_text", "test_days_from_index"),
    "procedure": ("procedure_name", "breathing_support_type", "days_to_procedure_start",
                  "days_to_procedure_end"),
    "condition": ("condition_code", "condition_code_system",
                  "days_to_condition_start", "days_to_condition_end"),
    "medication": ("medication_type", "days_to_medication_start", "days_to_medication_end"),
    "annotation": ("study_uid", "series_uid"),
    "imaging_study_annotation": ("study_uid", "series_uid"),
}

#: Fields known and deliberately not copied, with the reason (recorded in the file's ``files``
#: row, so the choice is visible per export).
NOT_KEPT: dict[str, str] = {
    "zip": "a 3-digit ZIP prefix (quasi-identifier)",
    "country_of_residence": "country (quasi-identifier)",
    "country_of_origin": "country (quasi-identifier)",
    "token_record_id": "a privacy-preserving record-linkage token",
    "annotator_id": "the annotator's identity (readers are pseudonymous)",
    "study_description": "a free-text description (the exam label comes from the DICOM, whose "
                         "descriptions descriptions=\"keep\" keeps in images)",
    "id": "Gen3 record UUID (bookkeeping)",
    "type": "the node name",
    "project_id": "the Gen3 project (kept for the case node)",
    "case_ids": "case link (read as the link)",
    "state": "Gen3 record state (bookkeeping)",
    "created_datetime": "Gen3 record timestamps (bookkeeping)",
    "updated_datetime": "Gen3 record timestamps (bookkeeping)",
}

#: Link columns (``cases.submitter_id``, ``datasets.id``, ``imaging_studies.submitter_id``,
#: ...): the node's links, read as links where the loader follows them.
LINK_PREFIXES: tuple[str, ...] = ("cases", "datasets", "imaging_studies", "procedures",
                                  "conditions", "annotation_files", "dicom_annotation_files",
                                  "projects")

#: Gen3 data-file nodes: read for ``file_name`` -> case, study and series (how a NIfTI file
#: finds its case); their other fields describe stored files (object ids, sizes, checksums).
DATA_FILE_NODES: tuple[str, ...] = (
    "cr_series_file", "ct_series_file", "dx_series_file", "mr_series_file", "mg_series_file",
    "nm_series_file", "pt_series_file", "rf_series_file", "us_series_file", "xa_series_file",
    "annotation_file", "dicom_annotation_file", "supplementary_file")


def is_known(node: str, column: str) -> bool:
    """Whether ``column`` of a ``node`` export is a field this loader reads or deliberately
    leaves out (``submitter_id`` and the link columns are known for every node)."""
    if column in READ.get(node, ()) or column == "submitter_id" or column in NOT_KEPT:
        return True
    if any(spec.column == column for spec in OBSERVED.get(node, ())):
        return True
    prefix, dot, _rest = column.partition(".")
    return (bool(dot) and (prefix in LINK_PREFIXES or prefix.endswith("_series_files"))) or \
        column in ("cases", "case_submitter_id")
