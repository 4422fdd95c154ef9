"""Reliability tests: adversarial DICOM/NIfTI corpora, fuzzing, privacy, atomic writes.

The corpora are built by code (:mod:`.corpus`), never stored as binaries. The checks that the
tests assert on are in :mod:`.harness`, so ``python -m tests.reliability.tally`` can print the
same figures as a table (see ``docs/reliability.md``).
"""
