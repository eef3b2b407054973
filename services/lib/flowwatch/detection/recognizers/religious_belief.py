"""RELIGIOUS_BELIEF: curated term list (terms.yaml) and record field names."""

from __future__ import annotations

from flowwatch.detection.recognizers.term_list import TermListRecognizer


class ReligiousBeliefRecognizer(TermListRecognizer):
    """宗教信仰 — religious belief (PIPL Art. 28). Religions and their adherents
    from the curated list in ``terms.yaml``, reported next to a context word or in a field named for it.
    """

    entity = "RELIGIOUS_BELIEF"
