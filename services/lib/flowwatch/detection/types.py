"""Shared types of the detection package."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass

# Presidio-style patterns use ``\b``, which fails next to Chinese characters (Python counts them as word
# characters). Our boundaries look only at ASCII letters and digits.
NOT_AFTER_ALNUM = r"(?<![0-9A-Za-z])"
NOT_BEFORE_ALNUM = r"(?![0-9A-Za-z])"
NOT_AFTER_DIGIT = r"(?<![0-9])"
NOT_BEFORE_DIGIT = r"(?![0-9])"


@dataclass(frozen=True, slots=True)
class Match:
    """One detected entity: ``[start, end)`` character offsets into the scanned text, score in 0..1."""

    type: str
    start: int
    end: int
    score: float
    value: str

    def overlaps(self, other: Match) -> bool:
        """True when the two spans share at least one character."""
        return self.start < other.end and other.start < self.end


class Recognizer(ABC):
    """A recognizer for one entity type (Presidio's term). Subclasses set ``entity`` and ``pattern``.

    ``validate`` returns the score of a candidate (0 rejects it); checksum-validated types return a high
    score only when the standard algorithm accepts the value.
    """

    entity: str
    pattern: re.Pattern[str]
    min_digits: int = 0
    """Fewest ASCII digits a match contains; texts with fewer are skipped without running the pattern."""
    needs: str = ""
    """A character every match contains ("@" for e-mail); texts without it are skipped."""
    after_labels: bool = True
    """Also looked for right after a glued ASCII label (``HKIDB974925(5)``); False for entities written in
    Chinese characters (names, addresses), which an ASCII label never touches."""
    requires_identified: bool = False
    """In free text, report this entity only when the same text also names or identifies a person (a name,
    an ID, a phone …): "患者张三确诊肺癌" is health PI, a news report on lung cancer is not (PIPL Art. 4: PI
    relates to identified or identifiable natural persons). Record fields named for it are always reported."""

    def could_match(self, text: str, digits: int) -> bool:
        """Cheap necessary condition, given the number of ASCII digits in ``text``."""
        return digits >= self.min_digits and (not self.needs or self.needs in text)

    def analyze(self, text: str) -> Iterator[Match]:
        """Yield the validated matches of this entity in ``text``."""
        for m in self.pattern.finditer(text):
            value = m.group(0)
            score = self.validate(value)
            if score > 0:
                yield Match(self.entity, m.start(), m.end(), score, value)

    def analyze_field(self, value: str, field: str) -> Iterator[Match]:
        """Matches that only the record field name makes (a whole ``diagnosis`` value is medical PI).

        Called by the scanner for record values in addition to ``analyze``; offsets are into ``value``.
        Default: none.
        """
        return iter(())

    @abstractmethod
    def validate(self, value: str) -> float:
        """Score of a pattern match (0 = not this entity)."""

    def subject_key(self, value: str) -> str | None:
        """Normalised value that identifies a person, or None when this entity does not identify one."""
        return None
