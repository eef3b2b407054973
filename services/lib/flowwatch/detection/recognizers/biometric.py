"""BIOMETRIC: curated term list (terms.yaml) and record field names."""

from __future__ import annotations

from flowwatch.detection.recognizers.term_list import TermListRecognizer


class BiometricRecognizer(TermListRecognizer):
    """生物识别 — biometric information (PIPL Art. 28; GB/T 35273-2020 Annex B). Modalities
    from the curated list in ``terms.yaml``, reported next to a context word or in a field named for it.
    """

    entity = "BIOMETRIC"
