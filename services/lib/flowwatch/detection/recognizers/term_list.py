"""Base of the term-list recognizers (MEDICAL_TERM, RELIGIOUS_BELIEF, BIOMETRIC): curated lists, no checksum."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

import ahocorasick

from flowwatch.detection.terms import entry, field_is, fields, terms
from flowwatch.detection.types import Match, Recognizer

TERM_SCORE = 0.1
"""Score of a bare term: far below the threshold. A context word (诊断, 宗教信仰, 采集 …, context.yaml
``entity_boost``) or the record field name raises it to the threshold; "糖尿病防治指南" in news is not PI."""
AFTER_SCORE = 0.5
"""Score of a term followed by a handling word of its entry's ``after`` list (声纹已录入)."""
AFTER_CHARS = 4
FIELD_SCORE = 0.8
"""Score of a whole value of a field named for the entity (``diagnosis: 急性阑尾炎``)."""
MAX_FIELD_VALUE = 4096


class TermListRecognizer(Recognizer):
    """Finds the curated terms of ``entity`` (``flowwatch.detection.terms``) with an Aho–Corasick automaton
    (pyahocorasick), longest match first; ASCII terms (``DNA``) need ASCII boundaries.

    In a record field named for the entity, a value with no listed term is still reported whole (the field
    name says what it is) — the term list cannot name every diagnosis.
    """

    pattern = None  # type: ignore[assignment]  # the automaton replaces the pattern
    requires_identified = True
    _automata: ClassVar[dict[str, ahocorasick.Automaton]] = {}

    def __init__(self) -> None:
        if self.entity not in self._automata:
            automaton = ahocorasick.Automaton()
            for term in terms(self.entity):
                automaton.add_word(term, term)
            automaton.make_automaton()
            self._automata[self.entity] = automaton
        self._automaton = self._automata[self.entity]
        self._fields = fields(self.entity)
        spec = entry(self.entity)
        self._after = tuple(spec.get("after", ()))
        self._none_values = frozenset(v.lower() for v in spec.get("none_values", ()))

    def could_match(self, text: str, digits: int) -> bool:
        """The automaton is the prefilter."""
        return bool(text)

    def analyze(self, text: str) -> Iterator[Match]:
        """Every listed term in ``text``, longest non-overlapping, scored ``TERM_SCORE``."""
        for end_index, term in self._automaton.iter_long(text):
            start, end = end_index - len(term) + 1, end_index + 1
            if term.isascii() and (
                (start > 0 and text[start - 1].isascii() and text[start - 1].isalnum())
                or (end < len(text) and text[end].isascii() and text[end].isalnum())
            ):
                continue
            score = TERM_SCORE
            if self._after and any(w in text[end : end + AFTER_CHARS + 3] for w in self._after):
                score = AFTER_SCORE
            yield Match(self.entity, start, end, score, term)

    def analyze_field(self, value: str, field: str) -> Iterator[Match]:
        """The whole value when ``field`` is named for the entity and no listed term is in it."""
        stripped = value.strip()
        if not stripped or len(stripped) > MAX_FIELD_VALUE or not field_is(field, self._fields):
            return
        if stripped.lower() in self._none_values:
            return
        if any(True for _ in self._automaton.iter_long(stripped)):
            return  # the terms themselves are reported (the field name is their context)
        start = value.index(stripped)
        yield Match(self.entity, start, start + len(stripped), FIELD_SCORE, stripped)

    def validate(self, value: str) -> float:
        """A listed term scores ``TERM_SCORE``; anything else 0."""
        return TERM_SCORE if self._automaton.exists(value) else 0.0
