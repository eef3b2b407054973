"""The held-out glued templates of ``make eval`` (issue 16 point 1)."""

from __future__ import annotations

import pytest

from flowwatch.detection.scanner import default_scanner
from flowwatch_tools.evaluation.__main__ import glued_bars
from flowwatch_tools.evaluation.glued import GLUED_TEMPLATES, generate_glued_corpus
from flowwatch_tools.evaluation.run import scan_corpus


def test_glued_corpus_is_deterministic_test_only_and_labelled() -> None:
    docs = generate_glued_corpus(n_docs=90)
    assert docs == generate_glued_corpus(n_docs=90)
    assert {d.split for d in docs} == {"test"}
    assert {d.template for d in docs} == {t.id for t in GLUED_TEMPLATES}
    for d in docs:
        assert d.labels
        for label in d.labels:
            value = d.value_of(label)
            assert value and value == value.strip()
    with pytest.raises(ValueError):
        generate_glued_corpus(n_docs=-1)


def test_identifiers_glued_to_text_meet_the_bars() -> None:
    docs = generate_glued_corpus(n_docs=180)
    _, bars = glued_bars(docs, scan_corpus(docs, default_scanner()))
    assert bars and all(b.passed for b in bars), [(b.name, b.value) for b in bars if not b.passed]
