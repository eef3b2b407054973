"""Evaluation harness (flowwatch_tools.evaluation): corpus, metrics, prose sample, command.

Recognizer quality is not asserted here (``make eval`` measures it); these tests check that the corpus is
deterministic and correctly labelled and that the metrics compute what they claim.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from stdnum import luhn
from stdnum.cn import ric, uscc

from flowwatch.detection.terms import terms
from flowwatch.detection.types import Match
from flowwatch_tools.evaluation import __main__ as cli
from flowwatch_tools.evaluation.corpus import (
    CHECKSUM_TYPES,
    DEFAULT_N_DOCS,
    ENTITY_TYPES,
    HARD_NEGATIVE_KINDS,
    TEMPLATES,
    Document,
    Label,
    generate_corpus,
    template_split,
)
from flowwatch_tools.evaluation.display import masked_context
from flowwatch_tools.evaluation.metrics import Counts, Span, f_beta, match_document, score
from flowwatch_tools.evaluation.prose_fp import ProseSample, prose_sample, scan_prose
from flowwatch_tools.evaluation.run import error_examples, gold_spans, score_split
from flowwatch_tools.samples import checksums as ck

TERM_TYPES = ("MEDICAL_TERM", "RELIGIOUS_BELIEF", "BIOMETRIC")
DATE = re.compile(r"(?P<y>(?:19|20)\d\d)(?:年\d{1,2}月\d{1,2}日|(?P<sep>[-/.])\d\d(?P=sep)\d\d)")
SHAPES: dict[str, re.Pattern[str]] = {
    "CN_PASSPORT": re.compile(r"[EG][A-Z0-9]\d{7}"),
    "HK_ID": re.compile(r"[A-Z]{1,2}\d{6}\([0-9A]\)"),
    "MO_ID": re.compile(r"[157]\d{6}\(\d\)"),
    "TW_ID": re.compile(r"[A-Z][12]\d{8}"),
    "CN_HMT_PERMIT": re.compile(r"[HM]\d{8}(?:\d\d)?|\d{8}"),
    "CN_MOBILE_PHONE": re.compile(r"(?:(?:\+|00)86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}"),
    "CN_LANDLINE": re.compile(r"(?:0\d{2,3}[- ]|\(0\d{2,3}\) ?|（0\d{2,3}）|\+86[ -]\d{2,3}[ -])[2-7]\d{6,7}"),
    "CN_LICENSE_PLATE": re.compile(rf"[{ck.PLATE_PROVINCES}][A-Z]·?[A-Z0-9]{{5,6}}"),
    "EMAIL_ADDRESS": re.compile(r"[a-z0-9._]+@[a-z0-9.-]+\.[a-z]{2,}"),
    "GEO_COORDINATE": re.compile(r"N?\d{2,3}\.\d{4,6}(?:, ?| E)\d{2,3}\.\d{4,6}"),
    "PERSON": re.compile(r"[\u4e00-\u9fff]{2,4}"),
    "ADDRESS": re.compile(r"[\u4e00-\u9fff]{2,}.*\d+号(?:.*[室楼座])?"),
}


@pytest.fixture(scope="module")
def corpus() -> list[Document]:
    return generate_corpus()


def _label_counts(docs: list[Document]) -> dict[str, Counter[str]]:
    counts: dict[str, Counter[str]] = {"dev": Counter(), "test": Counter()}
    for d in docs:
        counts[d.split].update(label.type for label in d.labels)
    return counts


# ---------------------------------------------------------------------------------------------------
# corpus
# ---------------------------------------------------------------------------------------------------


def test_same_seed_same_corpus_and_other_seed_differs(corpus: list[Document]) -> None:
    assert generate_corpus() == corpus
    other = generate_corpus(seed=7, n_docs=200)
    assert [d.text for d in other] != [d.text for d in corpus[:200]]
    assert generate_corpus(seed=7, n_docs=50) == other[:50]  # a prefix does not depend on the size


def test_size_kinds_and_ids(corpus: list[Document]) -> None:
    assert len(corpus) == DEFAULT_N_DOCS
    assert len({d.id for d in corpus}) == len(corpus)
    kinds = Counter(d.kind for d in corpus)
    assert 0.14 <= kinds["records"] / len(corpus) <= 0.21
    for d in corpus:
        assert (d.kind == "text") == bool(d.text) and (d.kind == "records") == bool(d.records)
    assert any(not d.labels for d in corpus)  # documents without PI
    assert any(isinstance(v, int) for d in corpus for r in d.records for v in r.values())
    with pytest.raises(ValueError):
        generate_corpus(n_docs=-1)


def test_labels_cover_the_planted_values(corpus: list[Document]) -> None:
    checked: Counter[str] = Counter()
    for d in corpus:
        for label in d.labels:
            value = d.value_of(label)
            assert value and value == value.strip(), (d.id, label)
            if d.kind == "records":
                assert label.record is not None and label.field in d.records[label.record]
            else:
                assert label.record is None and label.field is None
            t = label.type
            if t == "CN_RESIDENT_ID":
                assert ric.is_valid(value)
            elif t == "CN_BANK_CARD":
                assert luhn.is_valid(re.sub(r"[ -]", "", value))
            elif t == "CN_USCC":
                assert uscc.is_valid(value)
            elif t == "HK_ID":
                assert SHAPES[t].fullmatch(value) and ck.hk_id_check_char(value[:-9], value[-9:-3]) == value[-2]
            elif t == "TW_ID":
                assert SHAPES[t].fullmatch(value) and ck.tw_id_check_digit(value[:9]) == value[9]
            elif t == "IP_ADDRESS":
                assert ipaddress.ip_address(value).is_global
            elif t == "DATE_OF_BIRTH":
                assert DATE.fullmatch(value), value
            elif t in TERM_TYPES:
                assert value in terms(t), value
            else:
                assert SHAPES[t].fullmatch(value), (t, value)
            if t == "CN_LANDLINE":
                assert not re.search(r"转|ext|分机", value)  # the extension is outside the span
            checked[t] += 1
    assert set(checked) == set(ENTITY_TYPES)


def test_labels_do_not_overlap(corpus: list[Document]) -> None:
    for d in corpus:
        spans = sorted(gold_spans(d), key=lambda s: (s.record or 0, s.field or "", s.start))
        for a, b in itertools.pairwise(spans):
            assert not (a.record == b.record and a.field == b.field and b.start < a.end), (d.id, a, b)


def test_every_entity_in_both_splits_and_templates(corpus: list[Document]) -> None:
    counts = _label_counts(corpus)
    docs_with: Counter[str] = Counter()
    templates_with: dict[str, set[str]] = defaultdict(set)
    for d in corpus:
        for t in {label.type for label in d.labels}:
            docs_with[t] += 1
            templates_with[t].add(d.template)
    for entity in ENTITY_TYPES:
        assert counts["test"][entity] >= 20, entity
        assert counts["dev"][entity] >= 20, entity
        assert docs_with[entity] >= 60, entity
        assert len(templates_with[entity]) >= 3, entity


def test_split_is_by_template(corpus: list[Document]) -> None:
    split_of: dict[str, set[str]] = defaultdict(set)
    for d in corpus:
        split_of[d.template].add(d.split)
    assert all(len(s) == 1 for s in split_of.values())
    assert {t.id for t in TEMPLATES} == set(split_of)
    for i, template in enumerate(TEMPLATES):
        assert split_of[template.id] == {template_split(i)}
    share = Counter(d.split for d in corpus)["test"] / len(corpus)
    assert 0.25 <= share <= 0.40


def test_hard_negatives_present(corpus: list[Document]) -> None:
    planted = Counter(kind for d in corpus for kind in d.negatives)
    assert set(planted) == set(HARD_NEGATIVE_KINDS)
    for split in ("dev", "test"):
        kinds = {kind for d in corpus if d.split == split for kind in d.negatives}
        assert {"near_resident_id", "near_bank_card", "near_mobile", "order_no", "version"} <= kinds, split


def test_terms_appear_unlabelled_only_in_negative_documents(corpus: list[Document]) -> None:
    """A curated term outside a label of its type occurs only where it was planted as a negative."""
    vocabulary = {  # every start position of a term (the longest one there)
        t: re.compile("(?=(" + "|".join(map(re.escape, sorted(terms(t), key=len, reverse=True))) + "))")
        for t in TERM_TYPES
    }
    for d in corpus:
        if "term_without_context" in d.negatives:
            continue
        values = [(d.text, None, None)] if d.kind == "text" else [
            (str(v), i, f) for i, r in enumerate(d.records) for f, v in r.items()
        ]  # fmt: skip
        for text, record, field in values:
            covered = {
                (label.type, pos)
                for label in d.labels
                if (label.record, label.field) == (record, field)
                for pos in range(label.start, label.end)
            }
            for entity, pattern in vocabulary.items():
                for m in pattern.finditer(text):
                    assert (entity, m.start()) in covered, (d.id, entity, m.group(1))


def test_minor_birth_dates(corpus: list[Document]) -> None:
    years = [
        int(DATE.fullmatch(d.value_of(label))["y"])  # type: ignore[index]
        for d in corpus
        if d.template in {"school_enroll", "school_kindergarten", "pediatric_visit", "rec_students"}
        for label in d.labels
        if label.type == "DATE_OF_BIRTH"
    ]
    assert years and all(2012 <= y <= 2023 for y in years)


# ---------------------------------------------------------------------------------------------------
# metrics (figures computed by hand)
# ---------------------------------------------------------------------------------------------------

GOLD = [Span("A", 0, 5), Span("A", 10, 15), Span("B", 20, 25)]
PRED = [Span("A", 0, 5), Span("A", 11, 15), Span("B", 30, 35), Span("C", 40, 45)]


def test_f_beta() -> None:
    assert f_beta(0.8, 0.6) == pytest.approx(2.4 / 3.8)  # 5·0.48 / (4·0.8 + 0.6)
    assert f_beta(0.8, 0.6, beta=1) == pytest.approx(0.96 / 1.4)
    assert f_beta(0.0, 0.0) == 0.0
    assert f_beta(1.0, 1.0) == 1.0
    with pytest.raises(ValueError):
        f_beta(0.5, 0.5, beta=0)


def test_exact_scores() -> None:
    s = score([(GOLD, PRED)], "exact")
    a, b, c = s.get("A"), s.get("B"), s.get("C")
    assert (a.tp, a.fp, a.fn) == (1, 1, 1) and a.precision == 0.5 and a.recall == 0.5 and a.f2 == 0.5
    assert (b.tp, b.fp, b.fn) == (0, 1, 1) and b.f2 == 0.0
    assert (c.tp, c.fp, c.fn, c.support) == (0, 1, 0, 0) and c.precision == 0.0 and c.recall == 0.0
    o = s.overall
    assert (o.tp, o.fp, o.fn) == (1, 3, 2)
    assert o.precision == 0.25 and o.recall == pytest.approx(1 / 3)
    assert o.f2 == pytest.approx(0.3125)  # 5·(1/4)·(1/3) / (4·(1/4) + 1/3) = (5/12) / (4/3)


def test_overlap_scores() -> None:
    s = score([(GOLD, PRED)], "overlap")
    assert (s.get("A").tp, s.get("A").fp, s.get("A").fn) == (2, 0, 0)
    o = s.overall
    assert (o.tp, o.fp, o.fn) == (2, 2, 1)
    assert o.f2 == pytest.approx(0.625)  # P 1/2, R 2/3: (5/3) / (8/3)


def test_matching_is_one_to_one_and_per_field() -> None:
    twice = [Span("A", 0, 5), Span("A", 0, 5)]
    outcome = match_document(twice, [Span("A", 0, 5)], "exact")
    assert len(outcome.matched) == 1 and outcome.false_negatives == [Span("A", 0, 5)]
    wide = match_document([Span("A", 0, 3), Span("A", 3, 6)], [Span("A", 0, 6)], "overlap")
    assert len(wide.matched) == 1 and len(wide.false_negatives) == 1 and not wide.false_positives
    fields = match_document([Span("A", 0, 5, 0, "x")], [Span("A", 0, 5, 0, "y"), Span("A", 0, 5, 1, "x")])
    assert not fields.matched and len(fields.false_positives) == 2
    assert not match_document([Span("A", 0, 5)], [Span("B", 0, 5)], "overlap").matched
    with pytest.raises(ValueError):
        match_document([], [], "fuzzy")


def test_empty_counts_and_micro_sum() -> None:
    assert Counts().precision == 1.0 and Counts().recall == 1.0 and Counts().f2 == 1.0
    assert Counts(fn=3).precision == 0.0
    s = score([(GOLD, PRED), ([Span("B", 1, 2)], [Span("B", 1, 2)])], "exact")
    assert s.get("B").tp == 1 and s.overall.tp == sum(c.tp for c in s.by_type.values())
    assert s.as_dict()["overall"] == {"support": 4, "tp": 2, "fp": 3, "fn": 2, "precision": 0.4, "recall": 0.5,
                                      "f2": round(5 * 0.4 * 0.5 / (4 * 0.4 + 0.5), 4)}  # fmt: skip


def test_score_split_and_error_examples_are_masked() -> None:
    doc = Document("d1", "t", "test", "text", "姓名：王小明，手机13812345678。", [], [Label("PERSON", 3, 6)])
    other = Document("d2", "u", "dev", "text", "无", [], [])
    predictions = [[Span("PERSON", 3, 5), Span("CN_MOBILE_PHONE", 9, 20)], []]
    exact = score_split([doc, other], predictions, "test", "exact")
    assert (exact.get("PERSON").fn, exact.get("PERSON").fp, exact.get("CN_MOBILE_PHONE").fp) == (1, 1, 1)
    assert score_split([doc, other], predictions, "test", "overlap").get("PERSON").tp == 1
    assert score_split([doc, other], predictions, "dev").overall.support == 0
    errors = error_examples([doc, other], predictions, "test")
    text = json.dumps(errors, ensure_ascii=False)
    assert "王小明" not in text and "13812345678" not in text and "王小" not in text
    assert errors["PERSON"]["fn"][0]["other"] == "predicted [3, 5)"


def test_masked_context() -> None:
    text = "联系人：张三丰，电话13812345678，邮编518000"
    line = masked_context(text, 10, 21, "CN_MOBILE_PHONE", hide=[(4, 7)], width=8)
    assert "13812345678" not in line and "张三丰" not in line
    assert "⟦138****5678⟧" in line and line.startswith("…")


# ---------------------------------------------------------------------------------------------------
# prose and command
# ---------------------------------------------------------------------------------------------------


def test_prose_sample_size() -> None:
    sample = prose_sample()
    assert sample.chars >= 1_000_000
    assert sample.news_chars >= 450_000 and sample.review_chars >= 450_000
    assert sample.chars == sum(map(len, sample.texts)) <= sample.available_chars
    small = prose_sample(20_000)
    assert small == prose_sample(20_000) and 20_000 <= small.chars < 30_000


def test_scan_prose_rates_and_masked_examples() -> None:
    sample = ProseSample(("甲乙丙丁" * 25, "电话13812345678"), 115, 1, 100, 1, 15, 115)

    def fake_scan(text: str) -> list[Match]:
        return [Match("CN_MOBILE_PHONE", 2, 13, 0.8, text[2:13])] if "电话" in text else []

    result = scan_prose(sample, fake_scan)
    assert result.counts == {"CN_MOBILE_PHONE": 1}
    assert result.per_100k() == pytest.approx(100_000 / 115)
    assert result.examples[0]["source"] == "review" and "13812345678" not in result.examples[0]["context"]


def test_command_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "eval.json"
    code = cli.main(["--docs", "152", "--prose-chars", "20000", "--json", str(out), "--show-errors"])
    assert code == 0
    result = json.loads(out.read_text("utf-8"))
    assert result["corpus"]["documents"]["all"] == 152
    assert set(result["results"]) == {"test", "dev", "all"}
    assert {b["name"].split(" (")[0] for b in result["bars"]} >= {f"precision {t}" for t in CHECKSUM_TYPES}
    assert result["prose"]["chars"] >= 20_000
    assert isinstance(result["passed"], bool)
