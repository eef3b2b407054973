"""MEDICAL_TERM: curated term list (terms.yaml) and record field names."""

from __future__ import annotations

from flowwatch.detection.recognizers.term_list import TermListRecognizer


class MedicalTermRecognizer(TermListRecognizer):
    """医疗健康 — medical and health information (PIPL Art. 28). Diagnoses and conditions
    from the curated list in ``terms.yaml``, reported next to a context word or in a field named for it.
    """

    entity = "MEDICAL_TERM"
