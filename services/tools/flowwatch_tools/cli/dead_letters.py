"""``flowwatch dead-letters redrive``: re-produce the kept originals of dead letters after a fix, each once.

The redrive itself (claims, checks, the redrive records) is ``flowwatch.redrives``; this module is its
command line: filters, the audit record of the run, and the report.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from elasticsearch import Elasticsearch

from flowwatch.redrives import dead_letter_query, redrive

app = typer.Typer(help="Dead letters: redrive the kept originals after a fix (idempotent).", no_args_is_help=True)


@app.command("redrive")
def redrive_command(
    reason: Annotated[list[str] | None, typer.Option(help="Only this reason (repeatable), e.g. schema_violation.")]
    = None,
    processor_id: Annotated[list[str] | None, typer.Option("--processor-id", help="Only this processor (repeatable).")]
    = None,
    dead_letter_id: Annotated[list[str] | None, typer.Option("--id", help="Only this dead letter (repeatable).")]
    = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Read and check the originals; produce nothing.")]
    = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Re-produce the kept originals of the matching dead letters to their source topic, each once."""
    import getpass

    from flowwatch.audit import Actor, AuditRecord, write_audit
    from flowwatch_tools.cli.main import _endpoints, console

    kafka, es_url, prefix = _endpoints()
    es = Elasticsearch(es_url, request_timeout=30)
    user = getpass.getuser()
    report = redrive(es, prefix, kafka, dead_letter_query(processor_id, reason, dead_letter_id), actor=f"cli:{user}",
                     dry_run=dry_run)
    redriven = [i["dead_letter_id"] for i in report.items if i["outcome"] == "redriven"]
    if redriven:  # one audit record per run: the counts and (up to 100) the dead letters redriven
        write_audit(es, prefix, AuditRecord(
            actor=Actor(key_id="cli", name=user, role="admin"), action="dead_letter.redrive",
            target_type="dead_letter", target_id=redriven[0] if len(redriven) == 1 else f"{len(redriven)} dead letters",
            details={"counts": report.counts, "dead_letter_ids": redriven[:100], "filters": {
                "reason": reason, "processor_id": processor_id, "id": dead_letter_id}}), ensure=True)
    if as_json:
        sys.stdout.write(json.dumps({"counts": report.counts, "items": report.items}) + "\n")
    else:
        for outcome, n in sorted(report.counts.items()):
            console.print(f"{outcome}: {n}")
        if not report.counts:
            console.print("no matching dead letters")
