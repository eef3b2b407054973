"""Running the scanner over the labelled corpus and scoring it per split."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from flowwatch.detection.scanner import FieldMatch
from flowwatch.detection.types import Match
from flowwatch_tools.evaluation.corpus import Document
from flowwatch_tools.evaluation.display import masked_context
from flowwatch_tools.evaluation.metrics import Score, Span, match_document, score

__all__ = [
    "SPLITS",
    "ErrorExample",
    "SpanScanner",
    "error_examples",
    "gold_spans",
    "predict",
    "scan_corpus",
    "score_split",
]

SPLITS = ("test", "dev", "all")


class SpanScanner(Protocol):
    """What the evaluation needs of ``flowwatch.detection.scanner.Scanner``."""

    def scan_text(self, text: str, hint: str = "") -> list[Match]:
        """Entities in ``text``."""
        ...

    def scan_records(self, records: Sequence[dict[str, object]]) -> list[FieldMatch]:
        """Entities in the values of ``records``."""
        ...


def gold_spans(doc: Document) -> list[Span]:
    """The labels of ``doc`` as spans."""
    return [Span(label.type, label.start, label.end, label.record, label.field) for label in doc.labels]


def predict(doc: Document, scanner: SpanScanner) -> list[Span]:
    """The scanner's detections in ``doc`` as spans (record documents: offsets into the field's string)."""
    if doc.kind == "records":
        records: list[dict[str, object]] = [dict(r) for r in doc.records]
        return [
            Span(fm.match.type, fm.match.start, fm.match.end, fm.record, fm.field)
            for fm in scanner.scan_records(records)
        ]
    return [Span(m.type, m.start, m.end) for m in scanner.scan_text(doc.text)]


def scan_corpus(
    docs: Sequence[Document], scanner: SpanScanner, progress: Callable[[], None] | None = None
) -> list[list[Span]]:
    """Predictions for every document, in order; ``progress()`` is called after each document."""
    out: list[list[Span]] = []
    for doc in docs:
        out.append(predict(doc, scanner))
        if progress is not None:
            progress()
    return out


def _in_split(doc: Document, split: str) -> bool:
    return split == "all" or doc.split == split


def score_split(
    docs: Sequence[Document], predictions: Sequence[Sequence[Span]], split: str = "test", mode: str = "exact"
) -> Score:
    """Scores of the documents of ``split`` (``test``, ``dev`` or ``all``) in ``mode`` (``exact``/``overlap``)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}")
    return score(((gold_spans(d), p) for d, p in zip(docs, predictions, strict=True) if _in_split(d, split)), mode)


ErrorExample = dict[str, str]


def _context(doc: Document, span: Span, others: Sequence[Span]) -> str:
    text = doc.text if span.record is None or span.field is None else str(doc.records[span.record][span.field])
    hide = [(o.start, o.end) for o in others if (o.record, o.field) == (span.record, span.field) and o != span]
    where = "" if span.field is None else f"[{span.record}].{span.field}: "
    return where + masked_context(text, span.start, span.end, span.type, hide)


def error_examples(
    docs: Sequence[Document], predictions: Sequence[Sequence[Span]], split: str = "test", per_type: int = 5
) -> dict[str, dict[str, list[ErrorExample]]]:
    """Up to ``per_type`` false negatives and false positives (exact matching) per entity type:
    ``{type: {"fn": [...], "fp": [...]}}``; each example has the document id, template, masked context
    and, when a gold/predicted span of the same type overlaps it, what that span was (boundary error)."""
    found: dict[str, dict[str, list[ErrorExample]]] = {}
    for doc, predicted in zip(docs, predictions, strict=True):
        if not _in_split(doc, split):
            continue
        gold = gold_spans(doc)
        outcome = match_document(gold, predicted, "exact")
        everything = [*gold, *predicted]
        for kind, spans, counterpart in (
            ("fn", outcome.false_negatives, predicted),
            ("fp", outcome.false_positives, gold),
        ):
            for span in spans:
                bucket = found.setdefault(span.type, {"fn": [], "fp": []})[kind]
                if len(bucket) >= per_type:
                    continue
                near = next((o for o in counterpart if o.overlaps(span)), None)
                example = {"doc": doc.id, "template": doc.template, "context": _context(doc, span, everything)}
                example["span"] = f"[{span.start}, {span.end})"
                if near is not None:
                    example["other"] = f"{'predicted' if kind == 'fn' else 'gold'} [{near.start}, {near.end})"
                bucket.append(example)
    return found
