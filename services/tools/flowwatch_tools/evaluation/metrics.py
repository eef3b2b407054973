"""Precision, recall and F-beta of predicted entity spans against gold spans (pure functions).

A ``Span`` is an entity type and ``[start, end)`` character offsets, plus ``record`` and ``field`` for
values inside record documents (``None`` in text documents). Two matching modes:

* ``"exact"``: a prediction is a true positive when a gold span has the same type, start, end, record and
  field (multiset matching: two identical gold spans need two identical predictions);
* ``"overlap"``: same type, record and field, and the spans share at least one character; matching is
  one-to-one, greedy in order of start (each gold span and each prediction is used at most once).

Every unmatched prediction is a false positive of its own type, every unmatched gold span a false
negative of its type. ``overall`` is the micro average (counts summed over all types).

Conventions for empty denominators: precision with no predictions is 1.0 when there is nothing to find
and 0.0 otherwise; recall with nothing to find is 1.0 when nothing was predicted and 0.0 otherwise.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

__all__ = ["MODES", "Counts", "DocumentMatch", "Score", "Span", "f_beta", "match_document", "score"]

MODES = ("exact", "overlap")


@dataclass(frozen=True, slots=True, order=True)
class Span:
    """An entity occurrence: ``type`` and ``[start, end)`` offsets; ``record``/``field`` locate a record value."""

    type: str
    start: int
    end: int
    record: int | None = None
    field: str | None = None

    def same_place(self, other: Span) -> bool:
        """Same type, record and field."""
        return (self.type, self.record, self.field) == (other.type, other.record, other.field)

    def overlaps(self, other: Span) -> bool:
        """Same type, record and field, and at least one shared character."""
        return self.same_place(other) and self.start < other.end and other.start < self.end


@dataclass(slots=True)
class Counts:
    """True positives, false positives and false negatives of one entity type (or of all)."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def support(self) -> int:
        """Number of gold spans (``tp + fn``)."""
        return self.tp + self.fn

    @property
    def predicted(self) -> int:
        """Number of predicted spans (``tp + fp``)."""
        return self.tp + self.fp

    @property
    def precision(self) -> float:
        """``tp / (tp + fp)``; with no predictions 1.0 if there was nothing to find, else 0.0."""
        if self.predicted == 0:
            return 1.0 if self.fn == 0 else 0.0
        return self.tp / self.predicted

    @property
    def recall(self) -> float:
        """``tp / (tp + fn)``; with nothing to find 1.0 if nothing was predicted, else 0.0."""
        if self.support == 0:
            return 1.0 if self.fp == 0 else 0.0
        return self.tp / self.support

    def f(self, beta: float = 2.0) -> float:
        """F-beta of ``precision`` and ``recall`` (β = 2 weighs recall four times as much as precision)."""
        return f_beta(self.precision, self.recall, beta)

    @property
    def f2(self) -> float:
        """F2 (β = 2)."""
        return self.f(2.0)

    def add(self, other: Counts) -> None:
        """Add ``other``'s counts to these."""
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn

    def as_dict(self) -> dict[str, float | int]:
        """Counts and ratios (rounded to 4 decimals) for JSON output."""
        return {
            "support": self.support,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f2": round(self.f2, 4),
        }


def f_beta(precision: float, recall: float, beta: float = 2.0) -> float:
    """``(1 + β²)·P·R / (β²·P + R)``; 0.0 when both are 0. Raises ``ValueError`` for ``beta <= 0``."""
    if beta <= 0:
        raise ValueError("beta must be > 0")
    b2 = beta * beta
    denominator = b2 * precision + recall
    return 0.0 if denominator == 0 else (1 + b2) * precision * recall / denominator


@dataclass(frozen=True, slots=True)
class DocumentMatch:
    """Outcome of matching one document: matched ``(gold, predicted)`` pairs, unmatched predictions
    (false positives) and unmatched gold spans (false negatives)."""

    matched: list[tuple[Span, Span]]
    false_positives: list[Span]
    false_negatives: list[Span]


def match_document(gold: Sequence[Span], predicted: Sequence[Span], mode: str = "exact") -> DocumentMatch:
    """Match the spans of one document (see the module docstring). Raises ``ValueError`` for an unknown
    ``mode``."""
    if mode == "exact":
        return _match_exact(gold, predicted)
    if mode == "overlap":
        return _match_overlap(gold, predicted)
    raise ValueError(f"mode must be one of {MODES}, not {mode!r}")


def _match_exact(gold: Sequence[Span], predicted: Sequence[Span]) -> DocumentMatch:
    left = Counter(gold)
    matched: list[tuple[Span, Span]] = []
    false_positives: list[Span] = []
    for p in sorted(predicted):
        if left[p] > 0:
            left[p] -= 1
            matched.append((p, p))
        else:
            false_positives.append(p)
    false_negatives = sorted(left.elements())
    return DocumentMatch(matched, false_positives, false_negatives)


def _match_overlap(gold: Sequence[Span], predicted: Sequence[Span]) -> DocumentMatch:
    free = sorted(predicted)
    matched: list[tuple[Span, Span]] = []
    false_negatives: list[Span] = []
    for g in sorted(gold):
        hit = next((i for i, p in enumerate(free) if g.overlaps(p)), None)
        if hit is None:
            false_negatives.append(g)
        else:
            matched.append((g, free.pop(hit)))
    return DocumentMatch(matched, free, false_negatives)


@dataclass(slots=True)
class Score:
    """Counts per entity type and the micro-averaged ``overall`` counts."""

    by_type: dict[str, Counts] = field(default_factory=dict)
    overall: Counts = field(default_factory=Counts)

    def get(self, entity: str) -> Counts:
        """The counts of ``entity`` (all zero when it never occurred)."""
        return self.by_type.get(entity, Counts())

    def as_dict(self) -> dict[str, object]:
        """``{"overall": {...}, "by_type": {type: {...}}}`` for JSON output."""
        return {
            "overall": self.overall.as_dict(),
            "by_type": {t: c.as_dict() for t, c in sorted(self.by_type.items())},
        }


def score(documents: Iterable[tuple[Sequence[Span], Sequence[Span]]], mode: str = "exact") -> Score:
    """Score ``(gold, predicted)`` span lists, one pair per document, in ``mode`` (``exact``/``overlap``).

    Returns counts per entity type (types that occur in gold or predictions) and overall micro counts.
    """
    result = Score()

    def counts(entity: str) -> Counts:
        return result.by_type.setdefault(entity, Counts())

    for gold, predicted in documents:
        outcome = match_document(gold, predicted, mode)
        for g, _ in outcome.matched:
            counts(g.type).tp += 1
        for p in outcome.false_positives:
            counts(p.type).fp += 1
        for g in outcome.false_negatives:
            counts(g.type).fn += 1
    for c in result.by_type.values():
        result.overall.add(c)
    return result
