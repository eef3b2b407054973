"""The scanner: runs every recognizer over text or records, applies context, resolves overlaps."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from flowwatch.detection.context import ContextRules, default_rules
from flowwatch.detection.recognizers import ALL_RECOGNIZERS
from flowwatch.detection.types import Match, Recognizer

DEFAULT_THRESHOLD = 0.5
NOT_IDENTIFYING = frozenset({"CN_USCC", "IP_ADDRESS", "GEO_COORDINATE", "DATE_OF_BIRTH"})
"""Entities that do not by themselves make a free text about an identifiable person."""


@dataclass(frozen=True, slots=True)
class FieldMatch:
    """A match inside one record field; offsets are into that field's string value."""

    record: int
    field: str
    match: Match


class Scanner:
    """Finds PI in free text and in flat records.

    ``threshold``: minimum score (0..1) of a reported match after context adjustment.
    """

    def __init__(
        self,
        recognizers: Sequence[Recognizer],
        context: ContextRules | None = None,
        threshold: float = DEFAULT_THRESHOLD,
    ) -> None:
        self.recognizers = list(recognizers)
        self.by_entity = {r.entity: r for r in self.recognizers}
        self.context = context or default_rules()
        self.threshold = threshold
        self._any_digits = any(r.min_digits for r in self.recognizers)
        self._dependent = frozenset(r.entity for r in self.recognizers if r.requires_identified)

    def scan_text(self, text: str, hint: str = "") -> list[Match]:
        """Entities in ``text``, sorted by start, non-overlapping. ``hint``: extra context (field name)."""
        candidates: list[Match] = []
        window = self.context.window
        digits = sum(map(text.count, "0123456789")) if self._any_digits else 0
        for recognizer in self.recognizers:
            if not recognizer.could_match(text, digits):
                continue
            for m in recognizer.analyze(text):
                before = text[max(0, m.start - window) : m.start]
                score = self.context.adjust(m.type, m.score, before, hint)
                if score >= self.threshold:
                    candidates.append(Match(m.type, m.start, m.end, round(score, 3), m.value))
        if hint:
            for recognizer in self.recognizers:
                for m in recognizer.analyze_field(text, hint):
                    score = self.context.adjust(m.type, m.score, "", hint)
                    if score >= self.threshold:
                        candidates.append(Match(m.type, m.start, m.end, round(score, 3), m.value))
        if not hint and not self._identifies(candidates):
            candidates = [c for c in candidates if c.type not in self._dependent]
        return _resolve_overlaps(candidates)

    def _identifies(self, candidates: list[Match]) -> bool:
        """True when ``candidates`` name or identify a person (anything but dependent or non-identifying)."""
        return any(c.type not in self._dependent and c.type not in NOT_IDENTIFYING for c in candidates)

    def scan_records(self, records: Iterable[Mapping[str, object]]) -> list[FieldMatch]:
        """Entities in every string or number value of every record; the field name is context."""
        out: list[FieldMatch] = []
        for i, record in enumerate(records):
            for field, value in record.items():
                if value is None or isinstance(value, bool):
                    continue
                text = value if isinstance(value, str) else str(value)
                out.extend(FieldMatch(i, field, m) for m in self.scan_text(text, hint=field))
        return out

    def subject_key(self, match: Match) -> str | None:
        """Normalised identifier of the person behind ``match``, or None."""
        recognizer = self.by_entity.get(match.type)
        return recognizer.subject_key(match.value) if recognizer else None


def _resolve_overlaps(matches: list[Match]) -> list[Match]:
    """Keep the best of overlapping matches: higher score, then longer span, then earlier start."""
    kept: list[Match] = []
    for m in sorted(matches, key=lambda m: (-m.score, -(m.end - m.start), m.start)):
        if not any(m.overlaps(k) for k in kept):
            kept.append(m)
    return sorted(kept, key=lambda m: m.start)


@lru_cache(maxsize=1)
def default_scanner() -> Scanner:
    """The scanner with every built-in recognizer and the packaged context rules."""
    return Scanner([cls() for cls in ALL_RECOGNIZERS])
