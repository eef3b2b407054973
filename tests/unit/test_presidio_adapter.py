"""The Flowwatch recognizers inside a real Presidio AnalyzerEngine (no spaCy model), for zh and en."""

from __future__ import annotations

import pytest

from flowwatch.detection.presidio import PRESIDIO_RECOGNIZERS, analyzer_engine
from flowwatch.detection.recognizers import ALL_RECOGNIZERS
from flowwatch.detection.scanner import default_scanner

TEXT = "客户张三，身份证11010519491231002X，手机+86 138-1234-5678，卡号6222021234567890128，邮箱zs@example.com"


@pytest.fixture(scope="module")
def engine():  # type: ignore[no-untyped-def]
    return analyzer_engine()


def test_one_presidio_class_per_recognizer() -> None:
    assert len(PRESIDIO_RECOGNIZERS) == len(ALL_RECOGNIZERS)
    for cls in ALL_RECOGNIZERS:
        presidio_cls = PRESIDIO_RECOGNIZERS[cls.__name__]
        assert presidio_cls.__name__ == "Presidio" + cls.__name__
        assert presidio_cls().supported_entities == [cls.entity]


@pytest.mark.parametrize("language", ["zh", "en"])
def test_analyzer_engine_finds_what_the_scanner_finds(engine, language: str) -> None:  # type: ignore[no-untyped-def]
    got = sorted((r.entity_type, r.start, r.end) for r in engine.analyze(text=TEXT, language=language))
    expected = sorted((m.type, m.start, m.end) for m in default_scanner().scan_text(TEXT))
    assert got == expected
    assert {t for t, _, _ in got} == {"PERSON", "CN_RESIDENT_ID", "CN_MOBILE_PHONE", "CN_BANK_CARD", "EMAIL_ADDRESS"}


def test_entity_filter_and_negative_context(engine) -> None:  # type: ignore[no-untyped-def]
    only = engine.analyze(text=TEXT, language="zh", entities=["CN_BANK_CARD"])
    assert [(r.entity_type, TEXT[r.start : r.end]) for r in only] == [("CN_BANK_CARD", "6222021234567890128")]
    assert engine.analyze(text="订单号6222021234567890128", language="zh") == []
