"""``flowwatch init-cluster``: prepare a real Kafka and Elasticsearch for Flowwatch (idempotent).

1. Kafka: creates every topic of ``Topics().all_with_partitions()`` with its partition count and the given
   replication factor. The detector's table changelogs and the processor registry are compacted
   (``cleanup.policy=compact``): with the broker's default ``delete`` policy, table state and registry entries
   older than the topic retention would be lost. An existing topic with fewer partitions is an error (keyed data
   cannot be re-spread silently); more partitions, or other settings, are left as they are.
2. Elasticsearch: puts the index templates of ``flowwatch.es_indices``, then the ILM policies and, for every
   bound template, a second index template of higher priority (``<template>-lifecycle``) with the same
   mappings plus ``index.lifecycle.name``. A second template, because the indexer re-puts the plain templates
   at start; existing indices that match get the policy too.

Retention follows the legal minimum of each record class (:data:`LEGAL_MINIMUM_DAYS`; docs/law.md,
"Retention"). A policy whose delete phase comes earlier than the legal minimum of its record class is refused
before anything is written. Policies come from ``--ilm-dir`` (one ``<class>.json``
per policy, the body of ``PUT _ilm/policy/<prefix>-<class>``, and ``bindings.json``: ``{template suffix:
class}``; the Helm chart renders them into a ConfigMap) or, without it, from :func:`default_policies`.

Before anything is written, it checks that Kafka accepts the credentials and speaks the protocol versions
Flowwatch needs (``flowwatch.kafka_client.REQUIRED_APIS``), and that Elasticsearch accepts its credentials and is
8.x. A refusal is a one-line error naming the setting to fix (docs/deployment.md).

Settings come from the environment like every service (``FLOWWATCH_KAFKA_*`` including the SASL/TLS settings,
``FLOWWATCH_ES_*`` including API key, CA bundle, fingerprint and cloud id, ``FLOWWATCH_TOPIC_*``), and its
clients come from ``flowwatch.kafka_client`` and ``flowwatch.es_client``.
Run it as ``python -m flowwatch.cluster`` or register :func:`init_cluster_command` on the CLI.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from flowwatch.settings import DETECTOR_CHANGELOGS, ElasticsearchSettings, KafkaSettings, Topics

# Minimum retention in days per record class (docs/law.md, "Retention"), counted in the longest calendar span:
#   network-logs     CSL Art. 21(3): network and security-event logs "不少于六个月" -> six months are at most
#                    184 days (1 July to 1 January)
#   export-records   Draft Regs (the 2021 draft Network Data Security Regulations) Art. 39(6): export logs
#                    and export approvals "三年以上" (also Art. 32 risk reports, PIPL Art. 56 PIA records:
#                    >= 3 years) -> 3 years with a leap day = 1,096 days
#   consent-records  Draft Regs Art. 12(3): consent records, logs of providing PI to third parties, approvals
#                    for sharing/trading/entrusting important data "至少五年" -> 5 years with two leap days = 1,827
#   incidents        no article sets a period: as long as the longest related record (Flowwatch) = 1,827 days
LEGAL_MINIMUM_DAYS: dict[str, int] = {
    "network-logs": 184,
    "export-records": 1096,
    "consent-records": 1827,
    "incidents": 1827,
}
MONTHLY_MARGIN_DAYS = 31
"""ILM ages an index from its creation: a time-based index is deleted only when its newest record (written up to
31 days after the index was created: a late finding of an hourly or daily index, an alert folded into a weekly
one) has reached the minimum."""

DEFAULT_BINDINGS: dict[str, str] = {"findings": "network-logs"}
"""Index template suffix -> record class. Only time-based indices may be bound: ILM deletes whole indices, and
deleting the single ``deadletters``, ``incidents``, ``alerts`` or ``apikeys`` index would drop recent records
too. Those indices are kept (never deleted by ILM) until they become time-based."""
TIME_BASED_TEMPLATES = frozenset({"findings"})
LIFECYCLE_PRIORITY = 200
"""Priority of the ``-lifecycle`` templates; the plain templates of ``es_indices`` have 100."""

_AGE = re.compile(r"^(\d+)(d|h|m|s|ms)$")
_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 0.001}


class ClusterError(RuntimeError):
    """Kafka or Elasticsearch is not ready, or a policy breaks the legal minimum; the message says which."""


def default_policies(period_days: int = MONTHLY_MARGIN_DAYS) -> dict[str, dict[str, Any]]:
    """Record class -> ILM policy keeping every record the legal minimum (the Helm chart's defaults)."""
    return {cls: policy_body(days, cls, period_days) for cls, days in LEGAL_MINIMUM_DAYS.items()}


def policy_body(retention_days: int, record_class: str, period_days: int = MONTHLY_MARGIN_DAYS) -> dict[str, Any]:
    """An ILM policy: hot from creation; the index is deleted ``retention_days + period_days`` after its creation,
    so that the newest record of a time-based index (written up to ``period_days`` later) is kept
    ``retention_days``. The same body as the Helm chart's ``flowwatch.ilmPolicy``."""
    return {
        "policy": {
            "_meta": {"managed_by": "flowwatch", "record_class": record_class,
                      "legal_minimum_days": LEGAL_MINIMUM_DAYS[record_class], "retention_days": retention_days},
            "phases": {
                "hot": {"min_age": "0ms", "actions": {"set_priority": {"priority": 100}}},
                "delete": {"min_age": f"{retention_days + period_days}d", "actions": {"delete": {}}},
            },
        }
    }


def delete_age_days(policy: dict[str, Any]) -> float | None:
    """Days after creation at which ``policy`` deletes an index; None when it never deletes."""
    delete = policy.get("policy", {}).get("phases", {}).get("delete")
    if not delete or "delete" not in delete.get("actions", {}):
        return None
    match = _AGE.match(str(delete.get("min_age", "0ms")))
    if not match:
        raise ClusterError(f"unreadable delete min_age {delete.get('min_age')!r}")
    return int(match.group(1)) * _SECONDS[match.group(2)] / 86400


def check_policies(policies: dict[str, dict[str, Any]], bindings: dict[str, str]) -> None:
    """Refuse unknown record classes, deletions before the legal minimum and bindings of non-time-based indices."""
    for cls, policy in policies.items():
        if cls not in LEGAL_MINIMUM_DAYS:
            raise ClusterError(f"unknown record class {cls!r}; known: {sorted(LEGAL_MINIMUM_DAYS)}")
        age = delete_age_days(policy)
        if age is not None and age < LEGAL_MINIMUM_DAYS[cls]:
            raise ClusterError(f"ILM policy {cls}: delete after {age:g} days is below the legal minimum of "
                               f"{LEGAL_MINIMUM_DAYS[cls]} days (docs/law.md, Retention)")
    for template, cls in bindings.items():
        if template not in TIME_BASED_TEMPLATES:
            raise ClusterError(f"ILM binding {template} -> {cls}: only time-based indices "
                               f"({sorted(TIME_BASED_TEMPLATES)}) may get a delete phase")
        if cls not in policies:
            raise ClusterError(f"ILM binding {template} -> {cls}: no such policy")
        age = delete_age_days(policies[cls])
        if age is not None and age < LEGAL_MINIMUM_DAYS[cls] + MONTHLY_MARGIN_DAYS:
            raise ClusterError(f"ILM policy {cls} bound to time-based indices ({template}): delete after {age:g} "
                               f"days keeps the newest records less than {LEGAL_MINIMUM_DAYS[cls]} days")


def load_policies(ilm_dir: Path) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """``(<class> -> policy body, template suffix -> class)`` from a folder of ``<class>.json`` + ``bindings.json``."""
    policies: dict[str, dict[str, Any]] = {}
    bindings: dict[str, str] = {}
    for path in sorted(ilm_dir.glob("*.json")):
        body = json.loads(path.read_text(encoding="utf-8"))
        if path.stem == "bindings":
            bindings = {str(k): str(v) for k, v in body.items()}
        else:
            policies[path.stem] = body
    if not policies:
        raise ClusterError(f"no ILM policy (*.json) in {ilm_dir}")
    return policies, bindings


def compacted_topics(topics: Topics) -> frozenset[str]:
    """Topics whose last record per key is the state: the detector's table changelogs, the processor registry."""
    return frozenset({*DETECTOR_CHANGELOGS, topics.registry})


def ensure_topics(bootstrap: str | KafkaSettings, wanted: dict[str, int], replication_factor: int = 1,
                  timeout: float = 120.0, compacted: frozenset[str] = frozenset()) -> list[str]:
    """Create the missing topics of ``wanted`` (name -> partitions), ``compacted`` ones with
    ``cleanup.policy=compact``; returns the names created. ``bootstrap``: settings, or an address that takes
    its security settings from the environment (``flowwatch.kafka_client.kafka_settings``)."""
    from confluent_kafka.admin import AdminClient, NewTopic

    from flowwatch.kafka_client import confluent_config, kafka_settings

    settings = kafka_settings(bootstrap)
    admin = AdminClient(confluent_config(settings))
    existing = _retry(lambda: admin.list_topics(timeout=5).topics, timeout, f"Kafka at {settings.kafka_bootstrap}")
    short = {t: len(existing[t].partitions) for t in wanted if t in existing
             and len(existing[t].partitions) < wanted[t]}
    if short:
        raise ClusterError(f"topics exist with fewer partitions than FLOWWATCH_TOPIC_PARTITIONS: {short}; "
                           "add partitions with the Kafka tools (keys move to other partitions) or lower the setting")
    created = []
    missing = []
    for name, partitions in wanted.items():
        if name in existing:
            continue
        config = {"cleanup.policy": "compact"} if name in compacted else {}
        if replication_factor >= 3:
            config["min.insync.replicas"] = "2"
        missing.append(NewTopic(name, partitions, replication_factor, config=config))
    if missing:
        for name, future in admin.create_topics(missing, operation_timeout=30).items():
            try:
                future.result()
                created.append(name)
            except Exception as exc:
                if "TOPIC_ALREADY_EXISTS" not in str(exc):
                    raise ClusterError(f"cannot create topic {name}: {exc}") from exc
    deadline = time.monotonic() + timeout
    while True:
        md = admin.list_topics(timeout=5).topics
        if all(t in md and len(md[t].partitions) >= n for t, n in wanted.items()):
            return created
        if time.monotonic() > deadline:
            raise ClusterError(f"topics not ready with their partition counts: {wanted}")
        time.sleep(0.5)


def ensure_elasticsearch(es: Any, prefix: str, policies: dict[str, dict[str, Any]],
                         bindings: dict[str, str]) -> dict[str, str]:
    """Index templates, ILM policies and lifecycle templates; returns ``{index template: policy name}``."""
    from elasticsearch import BadRequestError

    from flowwatch.es_indices import ensure_templates, templates

    check_policies(policies, bindings)
    ensure_templates(es, prefix)
    for cls, body in policies.items():
        try:
            es.ilm.put_lifecycle(name=f"{prefix}-{cls}", **body)
        except BadRequestError as exc:
            if "no handler found" in str(exc):
                raise ClusterError("this Elasticsearch has no ILM API (_ilm/policy); the embedded engine has none: "
                                   "use --no-ilm there") from None
            raise
    bound: dict[str, str] = {}
    plain = templates(prefix)
    for suffix, cls in bindings.items():
        name, policy = f"{prefix}-{suffix}", f"{prefix}-{cls}"
        body = json.loads(json.dumps(plain[name]))
        body["template"].setdefault("settings", {})["index.lifecycle.name"] = policy
        body["priority"] = LIFECYCLE_PRIORITY
        body["meta"] = {"managed_by": "flowwatch", "adds": "index.lifecycle.name", "base_template": name}
        es.indices.put_index_template(name=f"{name}-lifecycle", **body)
        for pattern in body["index_patterns"]:  # indices created before the policy existed
            es.indices.put_settings(index=pattern, settings={"index.lifecycle.name": policy},
                                    allow_no_indices=True, expand_wildcards="open")
        bound[f"{name}-lifecycle"] = policy
    return bound


def init_cluster(ilm_dir: Path | None = None, replication_factor: int = 1, topics: bool = True,
                 elasticsearch: bool = True, timeout: float = 120.0, kafka: KafkaSettings | None = None,
                 es: ElasticsearchSettings | None = None, topic_settings: Topics | None = None,
                 ilm: bool = True) -> dict[str, Any]:
    """Prepare Kafka and Elasticsearch (``kafka``/``es``/``topic_settings``, default: from the environment);
    returns a summary (idempotent): ``kafka_api_versions``, ``topics_created``, ``topics``,
    ``elasticsearch_version``, ``lifecycle_templates``, ``policies``.

    Checks first, and raises :class:`ClusterError` naming the setting to fix: refused credentials or TLS, a
    broker without the Kafka protocol versions of ``flowwatch.kafka_client.REQUIRED_APIS``, an Elasticsearch
    that is not 8.x, ILM policies below the legal minimum, an Elasticsearch without the ILM API (``ilm=False``
    puts the index templates only: the embedded engine has no ILM).
    """
    policies, bindings = load_policies(ilm_dir) if ilm_dir else (default_policies(), dict(DEFAULT_BINDINGS))
    check_policies(policies, bindings)  # before anything is written
    summary: dict[str, Any] = {}
    if topics:
        topic_settings = topic_settings or Topics()
        wanted = topic_settings.all_with_partitions()
        kafka = kafka or _settings(KafkaSettings)
        summary["kafka_api_versions"] = check_kafka_cluster(kafka, timeout)
        summary["topics_created"] = ensure_topics(kafka, wanted, replication_factor, timeout,
                                                  compacted_topics(topic_settings))
        summary["topics"] = wanted
    if elasticsearch:
        s = es or _settings(ElasticsearchSettings)
        client, info = check_es_cluster(s, timeout)
        summary["elasticsearch_version"] = info["version"]["number"]
        if ilm:
            summary["lifecycle_templates"] = ensure_elasticsearch(client, s.es_index_prefix, policies, bindings)
        else:
            from flowwatch.es_indices import ensure_templates

            ensure_templates(client, s.es_index_prefix)
            summary["lifecycle_templates"] = {}
        summary["policies"] = {f"{s.es_index_prefix}-{c}": delete_age_days(p) for c, p in policies.items()}
    return summary


def check_kafka_cluster(settings: KafkaSettings, timeout: float = 120.0) -> dict[str, int]:
    """Wait until Kafka answers with these credentials, then check that it speaks the protocol versions
    Flowwatch needs (``flowwatch.kafka_client.REQUIRED_APIS``); returns ``{API name: max version}`` of those.

    Raises :class:`ClusterError` at once when the broker refuses the credentials or TLS handshake (retrying
    cannot help), after ``timeout`` seconds when it does not answer, and when its protocol level is too old.
    """
    import asyncio

    from flowwatch.kafka_client import (
        REQUIRED_APIS,
        KafkaConfigError,
        broker_api_versions,
        check_api_versions,
        check_kafka,
    )

    deadline = time.monotonic() + timeout
    while True:
        try:
            check_kafka(settings, timeout=min(10.0, timeout))
            versions = asyncio.run(broker_api_versions(settings, timeout=min(20.0, timeout)))
            check_api_versions(versions)
            return {name: versions[key][1] for key, (name, _, _) in REQUIRED_APIS.items()}
        except KafkaConfigError as exc:
            if _is_config_problem(str(exc)) or time.monotonic() > deadline:
                raise ClusterError(str(exc)) from None
            time.sleep(1.0)


def check_es_cluster(settings: ElasticsearchSettings, timeout: float = 120.0) -> tuple[Any, dict[str, Any]]:
    """The Elasticsearch client of ``settings`` once the cluster answers as 8.x: ``(client, GET / answer)``.

    Raises :class:`ClusterError` at once on 401/403/TLS errors or another major version, after ``timeout``
    seconds when it does not answer.
    """
    from flowwatch.es_client import ElasticsearchConfigError, check_es, make_es

    es = make_es(settings, request_timeout=30)
    deadline = time.monotonic() + timeout
    while True:
        try:
            return es, check_es(es, settings)
        except ElasticsearchConfigError as exc:
            if not str(exc).startswith("cannot reach") or time.monotonic() > deadline:
                raise ClusterError(str(exc)) from None
            time.sleep(1.0)


def _is_config_problem(message: str) -> bool:
    """True for errors that waiting cannot cure (credentials, TLS, mechanism, protocol level)."""
    return not message.startswith("cannot reach")


def _settings(cls: Any) -> Any:
    """``cls()`` from the environment; a combination that cannot work is a ClusterError naming the variables."""
    from pydantic import ValidationError

    try:
        return cls()
    except ValidationError as exc:
        raise ClusterError("; ".join(str(e.get("msg", e)).removeprefix("Value error, ") for e in exc.errors())) \
            from None


def _retry(call: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    delay = 0.5
    while True:
        try:
            return call()
        except Exception as exc:
            if time.monotonic() > deadline:
                raise ClusterError(f"{what} does not answer: {exc}") from exc
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def init_cluster_command(
    ilm_dir: Annotated[Path | None, typer.Option(
        help="Folder of ILM policies (<class>.json) and bindings.json; default: the legal minimums + 31 days.")
    ] = None,
    replication_factor: Annotated[int, typer.Option(min=1, help="Replication factor of new topics.")] = 1,
    topics: Annotated[bool, typer.Option(help="Create the Kafka topics.")] = True,
    elasticsearch: Annotated[bool, typer.Option(help="Put index templates and ILM policies.")] = True,
    ilm: Annotated[bool, typer.Option(help="Put the ILM policies and lifecycle templates (off: templates only, "
                                           "for an engine without ILM such as the embedded one).")] = True,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for Kafka and Elasticsearch.")] = 120.0,
) -> None:
    """Create the Kafka topics and put the Elasticsearch index templates and ILM policies (idempotent)."""
    try:
        summary = init_cluster(ilm_dir, replication_factor, topics, elasticsearch, timeout, ilm=ilm)
    except ClusterError as exc:
        sys.stderr.write(f"error: {exc}\n")
        raise typer.Exit(1) from exc
    sys.stdout.write(json.dumps(summary, sort_keys=True) + "\n")


def main() -> None:
    """``python -m flowwatch.cluster``: the command without the ``flowwatch`` CLI."""
    typer.run(init_cluster_command)


if __name__ == "__main__":
    main()
