"""Issue 12 point 1: scanning one text is linear in its length (work counted, not timed)."""

from __future__ import annotations

import cProfile
import pstats
from functools import cache

from hypothesis import given, settings
from hypothesis import strategies as st

from flowwatch.detection.scanner import _resolve_overlaps, default_scanner
from flowwatch.detection.types import Match
from flowwatch_tools.evaluation.corpus import generate_corpus


@cache
def dense_text(chars: int, seed: int) -> str:
    """PII-dense text of ``chars`` characters: text documents of a corpus generated with ``seed``, never
    repeated (a repeated text would hit per-value caches and understate the work of a real big text)."""
    docs = "\n".join(d.text for d in generate_corpus(seed=seed, n_docs=chars // 70 + 50) if d.text)
    assert len(docs) >= chars
    return docs[:chars]


def function_calls(text: str) -> int:
    """Python function calls made by one ``scan_text`` (deterministic for a given text)."""
    scanner = default_scanner()
    profile = cProfile.Profile()
    profile.enable()
    scanner.scan_text(text)
    profile.disable()
    return int(pstats.Stats(profile).total_calls)  # type: ignore[attr-defined]


def test_work_grows_linearly_with_text_length() -> None:
    """32× the text makes at most 1.25 × 32× the function calls. The former overlap resolution compared
    every candidate with every kept match: on 512 KB of dense text it made ~10⁸ calls (quadratic)."""
    default_scanner().scan_text(dense_text(16_384, 1))  # warm-up: lazy set-up is not counted
    small = function_calls(dense_text(16_384, 2))
    big = function_calls(dense_text(16_384 * 32, 3))
    assert small > 1_000  # the text really is dense: the count measures scanning, not start-up
    assert big / small <= 1.25 * 32, (small, big)


def test_matches_grow_linearly_too() -> None:
    """The work bound above is meaningful only if the big text holds proportionally as many matches."""
    small = len(default_scanner().scan_text(dense_text(16_384, 2)))
    big = len(default_scanner().scan_text(dense_text(16_384 * 32, 3)))
    assert 0.9 * 32 <= big / small <= 1.1 * 32


def _reference(matches: list[Match]) -> list[Match]:
    """The former quadratic resolution, the specification of the greedy order."""
    kept: list[Match] = []
    for m in sorted(matches, key=lambda m: (-m.score, -(m.end - m.start), m.start)):
        if not any(m.overlaps(k) for k in kept):
            kept.append(m)
    return sorted(kept, key=lambda m: m.start)


_spans = st.tuples(
    st.sampled_from(["A", "B", "C"]),
    st.integers(0, 200),
    st.integers(1, 30),
    st.sampled_from([0.5, 0.6, 0.7, 0.9]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_spans, max_size=60))
def test_overlap_resolution_equals_pairwise_reference(spans: list[tuple[str, int, int, float]]) -> None:
    matches = [Match(t, s, s + n, score, "x" * n) for t, s, n, score in spans]
    assert _resolve_overlaps(matches) == _reference(matches)


def test_overlap_resolution_keeps_adjacent_spans() -> None:
    a, b = Match("A", 0, 5, 0.9, "aaaaa"), Match("B", 5, 9, 0.9, "bbbb")
    assert _resolve_overlaps([b, a]) == [a, b]
    assert _resolve_overlaps([a, Match("C", 4, 6, 0.95, "cc")]) == [Match("C", 4, 6, 0.95, "cc")]
