"""Offline PI scan of a text or JSON file, in bounded memory (``flowwatch scan``)."""

from __future__ import annotations

import bisect
import datetime as dt
import glob
import sys
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Annotated, Any, NoReturn

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from flowwatch.detection.categories import GENERAL, NOT_PI, CategoryTable, default_table
from flowwatch.detection.masking import mask
from flowwatch.detection.minors import MINOR_CATEGORY, category_at
from flowwatch.detection.scanner import Scanner
from flowwatch.detection.types import Match

CHUNK_CHARS = 1 << 20
OVERLAP_CHARS = 512  # longer than any entity
CONTEXT_CARRY_CHARS = 128  # longer than the context window


def scan_text_stream(scanner: Scanner, stream: IO[str], chunk: int = CHUNK_CHARS) -> Iterator[Match]:
    """Scan a text stream chunk by chunk with an overlap; offsets are characters from the stream start.

    Memory is bounded by ``chunk + OVERLAP_CHARS`` characters whatever the input size.
    """
    base = 0  # character offset of buf[0]
    skip = 0  # matches starting before buf[skip] were reported with the previous chunk
    buf = ""
    while True:
        data = stream.read(chunk)
        buf += data
        final = not data
        limit = len(buf) if final else max(skip, len(buf) - OVERLAP_CHARS)
        for m in scanner.scan_text(buf):
            if skip <= m.start < limit:
                yield Match(m.type, m.start + base, m.end + base, m.score, m.value)
        if final:
            return
        # carry the unreported tail plus enough already-reported text to serve as context
        keep_from = max(0, limit - CONTEXT_CARRY_CHARS)
        base += keep_from
        skip = limit - keep_from
        buf = buf[keep_from:]


def scan_json_document(scanner: Scanner, doc: Any) -> Iterator[tuple[str | None, int | None, Match]]:
    """Scan a JSON document: a flow event (records + text), a list of records or one record."""
    if isinstance(doc, dict) and ("records" in doc or "text" in doc):
        records = doc.get("records") or []
        text = doc.get("text") or ""
    elif isinstance(doc, list):
        records, text = doc, ""
    elif isinstance(doc, dict):
        records, text = [doc], ""
    else:
        records, text = [], str(doc)
    for fm in scanner.scan_records(r for r in records if isinstance(r, dict)):
        yield fm.field, fm.record, fm.match
    for m in scanner.scan_text(text):
        yield None, None, m


def entity_json(
    match: Match, reveal: bool, field: str | None = None, record: int | None = None, on: dt.date | None = None,
    table: CategoryTable | None = None,
) -> bytes:
    """One output line: type, start, end, score, category, masked (and value only with ``reveal``).

    ``on``: the date ages are computed at (default today): birth dates and resident IDs of persons under
    14 on that date have the category ``minor_under_14`` (PIPL Art. 28, 31). ``table``: the category table
    (default: the process table).
    """
    category = category_at(match, on or dt.date.today(), table or default_table())
    out: dict[str, Any] = {
        "type": match.type, "start": match.start, "end": match.end, "score": match.score,
        "category": category, "masked": mask(match.type, match.value),
    }
    if field is not None:
        out["field"] = field
        out["record"] = record
    if reveal:
        out["value"] = match.value
    return orjson.dumps(out)


# ---------------------------------------------------------------------------------------------------
# ``flowwatch scan``: inputs, outputs, exit codes for CI (issue 16 point 4)
# ---------------------------------------------------------------------------------------------------

EXIT_OK = 0
EXIT_FINDINGS = 1
"""A finding matched ``--fail-on``."""
EXIT_ERROR = 2
"""Bad usage or input: an unreadable file, invalid JSON, invalid settings. Reported, and the scan goes on."""
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
BINARY_PROBE = 8192
_GLOB_CHARS = frozenset("*?[")


class InputError(ValueError):
    """An input that cannot be scanned (missing file, unreadable, invalid JSON); ``where`` names it."""

    def __init__(self, where: str, message: str) -> None:
        self.where = where
        super().__init__(f"{where}: {message}")


def expand_inputs(specs: Sequence[str]) -> tuple[list[str], list[InputError]]:
    """Files to scan for ``specs``: ``-`` (standard input), files, directories (every regular file below
    them, recursively, hidden ones skipped) and glob patterns (``logs/**/*.txt``, recursive ``**``), in
    order, without duplicates. Specs that name nothing are returned as errors."""
    out: list[str] = []
    errors: list[InputError] = []
    seen: set[str] = set()

    def add(path: str) -> None:
        if path not in seen:
            seen.add(path)
            out.append(path)

    for spec in specs:
        if spec == "-":
            add(spec)
            continue
        path = Path(spec)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and not _hidden(p.relative_to(path)))
        elif _GLOB_CHARS & set(spec):
            found = sorted(Path(p) for p in glob.glob(spec, recursive=True) if Path(p).is_file())
        elif path.is_file():
            found = [path]
        else:
            errors.append(InputError(spec, "no such file or directory"))
            continue
        if not found:
            errors.append(InputError(spec, "matches no file"))
        for p in found:
            add(str(p))
    return out, errors


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


def is_binary(path: str) -> bool:
    """True when the first bytes of ``path`` hold a NUL byte (not text; skipped in directory scans)."""
    with open(path, "rb") as fh:
        return b"\0" in fh.read(BINARY_PROBE)


@dataclass(frozen=True)
class FailOn:
    """What makes ``flowwatch scan`` exit 1: entity types, categories, or ``sensitive`` (any sensitive
    category of the table)."""

    types: frozenset[str]
    categories: frozenset[str]
    sensitive: bool

    @classmethod
    def parse(cls, values: Sequence[str], entities: set[str], table: CategoryTable) -> FailOn:
        """Split ``values`` into types and categories. Raises ValueError naming the valid values."""
        categories = set(table.sensitive) | {GENERAL, NOT_PI, MINOR_CATEGORY}
        types, cats, sensitive, bad = set(), set(), False, []
        for v in values:
            if v == "sensitive":
                sensitive = True
            elif v in categories:
                cats.add(v)
            elif v in entities:
                types.add(v)
            else:
                bad.append(v)
        if bad:
            raise ValueError(f"--fail-on {', '.join(bad)}: not an entity type, a category or 'sensitive' "
                             f"(categories: {', '.join(sorted(categories))}; types: {', '.join(sorted(entities))})")
        return cls(frozenset(types), frozenset(cats), sensitive)

    def matches(self, entity: str, category: str, table: CategoryTable) -> bool:
        """True when a finding of ``entity`` in ``category`` fails the scan."""
        return entity in self.types or category in self.categories or (self.sensitive and table.is_sensitive(category))


class LineIndex:
    """Newline offsets of a text read in chunks, to turn character offsets into 1-based line and column
    (SARIF regions). Memory: one integer per line."""

    def __init__(self) -> None:
        self._starts = array("q", [0])
        self._seen = 0

    def feed(self, chunk: str) -> None:
        """Record the newlines of the next ``chunk``."""
        at = chunk.find("\n")
        while at >= 0:
            self._starts.append(self._seen + at + 1)
            at = chunk.find("\n", at + 1)
        self._seen += len(chunk)

    def position(self, offset: int) -> tuple[int, int]:
        """``(line, column)``, both 1-based, of character ``offset``."""
        line = bisect.bisect_right(self._starts, offset) - 1
        return line + 1, offset - self._starts[line] + 1


class _Tracked:
    """A text stream that feeds a ``LineIndex`` as it is read."""

    def __init__(self, stream: IO[str], index: LineIndex) -> None:
        self._stream, self._index = stream, index

    def read(self, n: int = -1) -> str:
        data = self._stream.read(n)
        self._index.feed(data)
        return data


@dataclass
class Hit:
    """One entity found in one input."""

    file: str
    match: Match
    category: str
    field: str | None = None
    record: int | None = None
    line: int | None = None
    column: int | None = None
    end_line: int | None = None
    end_column: int | None = None


def scan_input(
    scanner: Scanner, name: str, stream: IO[str], as_records: bool, whole: bool, want_lines: bool,
    on: dt.date | None, table: CategoryTable,
) -> Iterator[Hit]:  # fmt: skip
    """Hits of one input (``name`` is how it is reported). Text is streamed in chunks (bounded memory);
    JSON (``as_records``) is a flow event, a list of records, one record, or JSON Lines (``whole`` False:
    one document per line; record number = line number for one-record lines). Raises ``InputError`` for
    invalid JSON (the hits before it have been yielded)."""
    when = on or dt.date.today()
    if not as_records:
        index = LineIndex()
        source: Any = _Tracked(stream, index) if want_lines else stream
        for m in scan_text_stream(scanner, source):
            hit = Hit(name, m, category_at(m, when, table))
            if want_lines:
                hit.line, hit.column = index.position(m.start)
                hit.end_line, hit.end_column = index.position(m.end)
            yield hit
        return
    lines: Any = stream
    if whole:
        data = stream.read()
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError:
            lines = data.splitlines()
        else:
            for field, rec, m in scan_json_document(scanner, doc):
                yield Hit(name, m, category_at(m, when, table), field, rec)
            return
    for number, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise InputError(name, f"line {number + 1} is not JSON: {exc}") from None
        single_record = isinstance(doc, dict) and "records" not in doc and "text" not in doc
        for field, rec, m in scan_json_document(scanner, doc):
            yield Hit(name, m, category_at(m, when, table), field, number if single_record else rec,
                      line=number + 1)  # fmt: skip


def hit_json(hit: Hit, reveal: bool, with_file: bool) -> dict[str, Any]:
    """The JSON-lines object of ``hit``: type, start, end, score, category, masked (+ field, record; file
    when several inputs are scanned; line/column when known; value only with ``reveal``)."""
    m = hit.match
    out: dict[str, Any] = {"type": m.type, "start": m.start, "end": m.end, "score": m.score,
                           "category": hit.category, "masked": mask(m.type, m.value)}  # fmt: skip
    if hit.field is not None:
        out["field"] = hit.field
        out["record"] = hit.record
    if with_file:
        out["file"] = hit.file
        if hit.line is not None:
            out["line"] = hit.line
        if hit.column is not None:
            out["column"] = hit.column
    if reveal:
        out["value"] = m.value
    return out


def sarif_log(hits: Sequence[Hit], errors: Sequence[InputError], table: CategoryTable, reveal: bool,
              version: str) -> dict[str, Any]:  # fmt: skip
    """A SARIF 2.1.0 log of ``hits``: one rule per entity type (its category and basis in the rule's
    properties), one result per hit with the masked value, ``error`` level for sensitive categories and
    ``warning`` otherwise, the file region in Unicode code points (``columnKind``) or, for records, a
    logical location ``record[i].field``; input errors are tool notifications."""
    rules: dict[str, dict[str, Any]] = {}
    results = []
    for hit in hits:
        m = hit.match
        if m.type not in rules:
            rules[m.type] = {
                "id": m.type, "name": m.type,
                "shortDescription": {"text": f"Personal information: {m.type}"},
                "properties": {"category": table.category(m.type), "basis": table.basis.get(m.type, "")},
            }  # fmt: skip
        shown = m.value if reveal else mask(m.type, m.value)
        location: dict[str, Any] = {"physicalLocation": {"artifactLocation": {"uri": _uri(hit.file)}}}
        if hit.line is not None:
            region: dict[str, Any] = {"startLine": hit.line}
            if hit.column is not None:
                region.update(startColumn=hit.column, endLine=hit.end_line, endColumn=hit.end_column)
            location["physicalLocation"]["region"] = region
        if hit.field is not None:
            location["logicalLocations"] = [{"fullyQualifiedName": f"record[{hit.record}].{hit.field}"}]
        results.append({
            "ruleId": m.type,
            "level": "error" if table.is_sensitive(hit.category) else "warning",
            "message": {"text": f"{m.type} ({hit.category}): {shown}"},
            "locations": [location],
            "properties": {"score": m.score, "category": hit.category, "masked": mask(m.type, m.value)},
        })  # fmt: skip
    notifications = [{"level": "error", "message": {"text": str(e)}} for e in errors]
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "flowwatch", "version": version, "informationUri":
                                "https://github.com/flowwatch/flowwatch", "rules": list(rules.values())}},
            "columnKind": "unicodeCodePoints",
            "results": results,
            "invocations": [{"executionSuccessful": not errors, "toolExecutionNotifications": notifications}],
        }],
    }  # fmt: skip


def _uri(name: str) -> str:
    return "stdin" if name == "-" else Path(name).as_posix()


def scan_command(
    files: Annotated[
        list[str] | None,
        typer.Argument(help="Files, directories (recursive) or glob patterns ('logs/**/*.txt'); - for stdin."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format jsonl.")] = False,
    fmt: Annotated[str, typer.Option("--format", help="text, jsonl (one JSON object per entity) or sarif.")] = "text",
    reveal: Annotated[bool, typer.Option("--reveal", help="Also print raw values (handle with care).")] = False,
    records: Annotated[bool, typer.Option("--records/--text", help="Treat input as JSON/JSONL records.")] = False,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Date (YYYY-MM-DD) ages are computed at, for minor_under_14; default today."),
    ] = None,
    fail_on: Annotated[
        list[str] | None,
        typer.Option("--fail-on", help="Exit 1 when an entity of this type or category is found ('sensitive': "
                     "any sensitive category); repeatable."),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Detection settings YAML: allow/deny lists, custom recognizers "
                     "(default: FLOWWATCH_DETECTION_CONFIG)."),
    ] = None,
    processor: Annotated[str | None, typer.Option("--processor", help="Apply this processor's lists too.")] = None,
    progress: Annotated[
        bool | None, typer.Option("--progress/--no-progress", help="Progress on stderr (default: on a terminal).")
    ] = None,
) -> None:
    """Scan text or JSON records offline for personal information; prints masked values only.

    Text is scanned in 1 MB chunks (bounded memory). A file ending in .json/.jsonl, or --records, is read
    as JSON: a flow event, a list of records, or one record per line. Exit codes for CI: 0 nothing that
    --fail-on names was found, 1 it was, 2 an input or the settings could not be read (every other input
    is still scanned; the error is on stderr and, with --format sarif, in the log's notifications).
    """
    from flowwatch import __version__
    from flowwatch.detection.config import ConfigError, load_config, startup_config
    from flowwatch.detection.custom import BUILTIN_ENTITIES, category_table, configured_scanner

    console = Console(stderr=True)
    out = Console(highlight=False)

    def fail(msg: str) -> NoReturn:
        console.print(f"[bold red]error:[/] {msg}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_ERROR)

    fmt = "jsonl" if as_json else fmt
    if fmt not in ("text", "jsonl", "sarif"):
        fail(f"--format must be text, jsonl or sarif, got {fmt!r}")
    try:
        on = dt.date.fromisoformat(as_of) if as_of else None
    except ValueError:
        fail(f"--as-of must be a date YYYY-MM-DD, got {as_of!r}")
    try:
        settings = load_config(config) if config else startup_config()
        scanner = configured_scanner(settings, processor)
    except ConfigError as exc:
        fail(str(exc))
    table = category_table(settings)
    entities = set(BUILTIN_ENTITIES) | {r.entity for r in (settings.recognizers if settings else [])}
    try:
        gate = FailOn.parse(fail_on or [], entities, table)
    except ValueError as exc:
        fail(str(exc))

    paths, errors = expand_inputs(files or ["-"])
    several = len(paths) > 1 or any(Path(f).is_dir() or _GLOB_CHARS & set(f) for f in files or [])
    hits: list[Hit] = []
    failed = count = 0
    show = progress if progress is not None else (console.is_terminal and len(paths) > 1)
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TextColumn("{task.fields[found]} entities"), console=console, transient=True,
                   disable=not show)  # fmt: skip
    for e in errors:
        console.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
    with bar:
        task = bar.add_task("scanning", total=len(paths), found=0)
        for name in paths:
            bar.update(task, description=f"scanning {name[-40:]}")
            is_json = records or name.endswith((".json", ".jsonl"))
            try:
                if name != "-" and several and not is_json and is_binary(name):
                    bar.advance(task)
                    continue
                stream = sys.stdin if name == "-" else open(name, encoding="utf-8", errors="replace")  # noqa: SIM115
            except OSError as exc:
                errors.append(InputError(name, exc.strerror or str(exc)))
                console.print(f"[bold red]error:[/] {errors[-1]}", highlight=False, soft_wrap=True)
                bar.advance(task)
                continue
            try:
                for hit in scan_input(scanner, name, stream, is_json, not name.endswith(".jsonl"),
                                      fmt == "sarif" or several, on, table):  # fmt: skip
                    count += 1
                    failed += gate.matches(hit.match.type, hit.category, table)
                    if fmt == "sarif":
                        hits.append(hit)
                    elif fmt == "jsonl":
                        sys.stdout.write(orjson.dumps(hit_json(hit, reveal, several)).decode() + "\n")
                    else:
                        _print_hit(out, hit, reveal, several)
                    bar.update(task, found=count)
            except InputError as exc:
                errors.append(exc)
                console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            finally:
                if stream is not sys.stdin:
                    stream.close()
            bar.advance(task)
    if fmt == "sarif":
        sys.stdout.write(orjson.dumps(sarif_log(hits, errors, table, reveal, __version__),
                                      option=orjson.OPT_INDENT_2).decode() + "\n")  # fmt: skip
    if fmt == "text":
        console.print(f"{count} entities" + (f" in {len(paths)} inputs" if several else "")
                      + (f"; {failed} match --fail-on" if fail_on else ""))  # fmt: skip
    if errors:
        raise typer.Exit(EXIT_ERROR)
    raise typer.Exit(EXIT_FINDINGS if failed else EXIT_OK)


def _print_hit(out: Console, hit: Hit, reveal: bool, with_file: bool) -> None:
    m = hit.match
    where = f" {hit.field}[{hit.record}]" if hit.field is not None else ""
    origin = f"{hit.file}:{hit.line or ''} " if with_file else ""
    out.print(f"{origin}{m.type:<16} {m.start:>8}-{m.end:<8} {m.score:.2f} {hit.category:<18} "
              f"{mask(m.type, m.value)}{where}" + (f"  {m.value}" if reveal else ""), highlight=False)  # fmt: skip
