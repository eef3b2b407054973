"""Chaos scenarios of issue 17 against the real local stack (noida-db: Kafka + Elasticsearch in one process).

    python bench/chaos.py [--quick] [--scenario poison|broker-restart|stack-restart|api-abuse] [--json]

Each scenario starts its own stack in a temporary folder, sends events, breaks something, and accounts for
every event in Elasticsearch by id (``flowwatch_tools.replay.account``). Printed per scenario: events sent,
findings, dead letters, lost (no finding and no dead letter), duplicated (documents beyond one per event),
time to recover (seconds from the end of the fault until every event is accounted for), and the state checks
(readiness during the outage, service processes that survived, API keys, registry, export ledger).

- ``poison``: the ``flowwatch_tools.poison`` corpus interleaved with good events, into ``flow-events`` and through
  ``POST /v1/events``: each poison event one dead letter with its reason, each good one one finding.
- ``broker-restart``: the engine is stopped (SIGTERM) for 30 s (``--quick``: 8 s) with a backlog in flight;
  ``/readyz`` must name both dependencies, ingest answer 503; the engine is started on the same ports and the
  workers, indexer, notifier and API must carry on with the *same* process ids (they reconnected by themselves).
- ``stack-restart``: mid-replay ``flowwatch down``/``up``, then mid-replay SIGKILL of every process (engine
  included) and ``up``: every event once, and API keys, registry entry and export ledger back complete.
- ``api-abuse``: ``bench.api_abuse.run(quick)`` when that module exists (built elsewhere), else "not available".

Raises nothing on a failed check: the row says so and the exit status is 1.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import orjson  # noqa: E402
from confluent_kafka import Producer  # noqa: E402
from elasticsearch import Elasticsearch  # noqa: E402

from flowwatch.apikeys import Role, create_key  # noqa: E402
from flowwatch.es_indices import dead_letters_index, findings_pattern, ledger_index  # noqa: E402
from flowwatch_api.ops import KAFKA_CHECK_TTL  # noqa: E402
from flowwatch_tools.engines import pid_alive  # noqa: E402
from flowwatch_tools.poison import base_event, corpus  # noqa: E402
from flowwatch_tools.replay import Expected, account, expectation, produce, read_topic  # noqa: E402
from flowwatch_tools.stack import Stack  # noqa: E402

PROCESSORS = 4


@dataclass
class Result:
    """Outcome of one scenario: counts of events, recovery time (seconds) and named checks."""

    scenario: str
    sent: int = 0
    findings: int = 0
    dead_letters: int = 0
    lost: int = 0
    duplicated: int = 0
    recover_s: float = 0.0
    checks: dict[str, bool] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    ledger_short: int = 0
    """Export events the ledger does not count (broker-restart)."""
    engine_dropped_findings: int = 0
    """Lost events the detector handled (their export update is in Kafka): the engine dropped the finding."""
    engine_dropped_updates: int = 0
    """Indexed events whose export update is not in Kafka: the engine dropped it (the ledger cannot count it)."""
    engine_dropped_inputs: int = 0
    """Lost events whose own flow event is no longer in ``flow-events``: the engine dropped the input it had
    acknowledged to the producer (stack-restart's SIGKILL of the engine), so no detector could see it."""
    engine_drop_checks: frozenset[str] = frozenset({"ledger counts every flow once"})
    """The checks an engine drop can fail (besides lost events): the scenario's ledger and replay checks."""

    @property
    def only_engine_drops(self) -> bool:
        """Every loss and every failed check can be the engine dropping records it had acknowledged: each lost
        event was handled (its export update is in Kafka), the ledger is short by no more export updates than
        the engine dropped (it may have counted some before they were dropped), nothing else failed."""
        failed = {name for name, ok in self.checks.items() if not ok}
        return (self.duplicated == 0 and failed <= self.engine_drop_checks
                and self.lost == self.engine_dropped_findings + self.engine_dropped_inputs
                and 0 <= self.ledger_short <= self.engine_dropped_updates + self.engine_dropped_inputs)

    @property
    def ok(self) -> bool:
        """No loss, no duplicate, every check passed."""
        return self.lost == 0 and self.duplicated == 0 and all(self.checks.values())


def good_events(start: int, n: int, run: str, restricted_every: int = 0) -> list[bytes]:
    """``n`` valid export events (a mobile number, an e-mail; CN → SG), spread over ``PROCESSORS`` processors;
    with ``restricted_every`` > 0, every such event (by index) goes to ``RESTRICTED`` instead."""
    out = []
    for i in range(start, start + n):
        doc = base_event(f"{run}-{i:06d}", processor=f"proc-{i % PROCESSORS}")
        if restricted_every and i % restricted_every == 0:
            doc["destination"]["recipient"] = RESTRICTED
        out.append(orjson.dumps(doc))
    return out


RESTRICTED = "Chaos Restricted Trading Pte. Ltd."
"""A recipient put on the restriction list by stack-restart: every flow to it is one occurrence of one
``export_restricted_recipient`` alert per processor (PIPL Art. 42), folded into that alert's ``count``."""
RESTRICTED_EVERY = 10
"""stack-restart sends every tenth export event to ``RESTRICTED``."""
INCIDENT_ID = "chaos-leak-1"


def restricted_events(start: int, n: int, run: str) -> list[bytes]:
    """``good_events`` with every ``RESTRICTED_EVERY``-th one sent to the restricted recipient."""
    return good_events(start, n, run, RESTRICTED_EVERY)


def restricted_flows(raws: list[bytes]) -> dict[str, int]:
    """Flows to ``RESTRICTED`` per processor among ``raws``: the alert count each processor must reach."""
    counts: dict[str, int] = {}
    for raw in raws:
        doc = orjson.loads(raw)
        if doc.get("kind") == "transfer" and doc["destination"].get("recipient") == RESTRICTED:
            counts[doc["processor"]["id"]] = counts.get(doc["processor"]["id"], 0) + 1
    return counts


def incident_events(round_: int, events: int = 5, persons: int = 200) -> tuple[list[bytes], set[str]]:
    """``events`` incident events of ``INCIDENT_ID`` (processor proc-1) for one round, ``persons`` subject keys
    each, overlapping the previous event by a quarter (so distinct persons < keys sent); returns the raw
    events and the distinct subject keys they name."""
    raws, keys_all = [], set()
    step = persons * 3 // 4
    for e in range(events):
        first = (round_ * events + e) * step
        keys = [hashlib.sha256(f"chaos-person-{k}".encode()).hexdigest()  # uniform, as the platforms' HMACs
                for k in range(first, first + persons)]
        keys_all.update(keys)
        raws.append(orjson.dumps({
            "schema_version": "1.0", "event_id": f"sr-incident-{round_}-{e}", "kind": "incident",
            "occurred_at": "2026-11-20T09:30:00+08:00", "processor": {"id": "proc-1", "name": "混沌测试"},
            "dataset": {"record_count": persons}, "subjects": {"keys": keys, "scheme": "hmac-sha256"},
            "text": "泄露字段包括手机号13912345678",
            "incident": {"incident_id": INCIDENT_ID, "type": "leak", "status": "occurred",
                         "detected_at": "2026-11-20T10:00:00+08:00", "harm_to_individuals": True}}))
    return raws, keys_all


def restricted_alert_counts(stack: Stack, admin: str) -> dict[str, int]:
    """``count`` of each processor's ``export_restricted_recipient`` alert, read through the API."""
    resp = httpx.get(stack.state.api_url + "/v1/alerts", timeout=30, headers={"Authorization": f"Bearer {admin}"},
                     params={"type": "export_restricted_recipient", "size": 100})
    if resp.status_code != 200:
        return {}
    return {a["processor_id"]: int(a["count"]) for a in resp.json()["items"]}


def restriction_in_force(stack: Stack, admin: str, run: str, timeout: float = 120.0) -> tuple[bool, list[bytes]]:
    """Put ``RESTRICTED`` on the restriction list and wait until the detector applies it: the list reaches the
    workers through the registry topic (a global table), so probe flows to the recipient are sent
    every 5 s until one raises its alert. Returns (in force, the probe events sent: export flows to account)."""
    resp = httpx.put(stack.state.api_url + "/v1/restrictions", timeout=30,
                     headers={"Authorization": f"Bearer {admin}"},
                     json={"recipients": [{"name": RESTRICTED, "reason": "chaos scenario"}]})
    if resp.status_code != 202:
        return False, []
    probes: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        probe = restricted_events(len(probes) * RESTRICTED_EVERY, 1, f"{run}-probe")
        produce(stack.state.kafka_bootstrap, stack.topics().flow_events, probe)
        probes += probe
        if wait_until(lambda: any(c > 0 for c in restricted_alert_counts(stack, admin).values()), 5):
            return True, probes
    return False, probes


def incident_persons(stack: Stack, admin: str) -> int | None:
    """``persons_counted`` of ``INCIDENT_ID`` through the API (None while it is not indexed)."""
    resp = httpx.get(f"{stack.state.api_url}/v1/incidents/{INCIDENT_ID}", timeout=30,
                     params={"processor_id": "proc-1"}, headers={"Authorization": f"Bearer {admin}"})
    return int(resp.json()["persons_counted"]) if resp.status_code == 200 else None


def produce_capped(stack: Stack, raws: list[bytes]) -> list[Expected]:
    """Produce ``raws`` to ``flow-events`` keyed by ``processor.id`` as platforms do — except a key over 200
    bytes (a poison event's "1 MB" processor id), which Kafka would refuse with the value: then ``poison-src``.
    Raises RuntimeError when a message is not acknowledged."""
    expected = [expectation(raw) for raw in raws]
    producer = Producer({"bootstrap.servers": stack.state.kafka_bootstrap, "acks": "all", "linger.ms": 5,
                         "message.max.bytes": 1_048_576})
    errors: list[str] = []
    for exp, raw in zip(expected, raws, strict=True):
        key = exp.key if exp.key is not None and len(exp.key) <= 200 else b"poison-src"
        producer.produce(stack.topics().flow_events, value=raw, key=key,
                         on_delivery=lambda err, _m: errors.append(str(err)) if err else None)
        producer.poll(0)
    if producer.flush(60) or errors:
        raise RuntimeError(f"not delivered: {errors[:3]}")
    return expected


def es_of(stack: Stack) -> Elasticsearch:
    """Elasticsearch client of the stack's current URL."""
    return Elasticsearch(stack.state.es_url, request_timeout=30)


def count(es: Elasticsearch, index: str) -> int:
    """Documents in ``index`` (pattern) after a refresh; 0 when it does not exist."""
    es.indices.refresh(index=index, ignore_unavailable=True, allow_no_indices=True)
    return int(es.count(index=index, ignore_unavailable=True, allow_no_indices=True)["count"])


def settle(stack: Stack, result: Result, expected: list[Expected], timeout: float) -> tuple[set[str], set[str]]:
    """Account for ``expected`` (waits up to ``timeout`` s) and fill the result's counts.

    ``duplicated``: findings and dead-letter documents beyond one per distinct expected event (documents
    are indexed by deterministic id, so a duplicate would be a second id for one event).
    """
    es = es_of(stack)
    findings, dead, missing = account(es, stack.state.index_prefix, expected, timeout=timeout)
    want_f = {e.finding_id for e in expected if e.finding_id and e.finding_id in findings}
    want_d = {e.dead_letter_id for e in expected if e.dead_letter_id in dead}
    result.sent = len(expected)
    result.findings, result.dead_letters, result.lost = len(findings), len(dead), len(missing)
    extra = (count(es, findings_pattern(stack.state.index_prefix)) - len(want_f)) + (
        count(es, dead_letters_index(stack.state.index_prefix)) - len(want_d))
    result.duplicated = max(0, extra)
    return findings, dead


def ledger_flows(stack: Stack) -> int:
    """Export flows counted in the ledger, summed over every processor and window."""
    es = es_of(stack)
    index = ledger_index(stack.state.index_prefix)
    if count(es, index) == 0:
        return 0
    hits = es.search(index=index, size=1000, source_includes=["flows"])["hits"]["hits"]
    return sum(int(h["_source"].get("flows", 0)) for h in hits)


def topic_values(stack: Stack, topic: str) -> list[bytes]:
    """The value of every record of ``topic`` now (``replay.read_topic``). Raises RuntimeError on a broker
    error or when a partition is not read in 60 s."""
    return [value for _, _, value in read_topic(stack.state.kafka_bootstrap, topic, stack.state.partitions)]


def engine_drops(stack: Stack, raws: list[bytes], found: set[str]) -> tuple[int, int]:
    """Which losses the engine made, not Flowwatch: the pii agent sends an event's finding and its export
    update together and moves on only after the broker acknowledged both (``batched_state.until_applied``), so
    an event with one of them in Kafka (or indexed) and the other nowhere was handled, and the broker dropped
    the other after acknowledging it (noida-db does: ``bench/noida_ack_loss.py``, docs/faults.md).

    ``raws``: the good events sent; ``found``: the finding ids indexed. Returns (lost events whose export update
    is in ``export-updates``, indexed events whose export update is not: the ledger cannot count them). Raises
    what ``topic_values`` raises."""
    topics = stack.topics()
    updated = {orjson.loads(v).get("event_id") for v in topic_values(stack, topics.export_updates)}
    lost_handled = missing_update = 0
    for raw in raws:
        event_id, finding = orjson.loads(raw).get("event_id"), expectation(raw).finding_id
        if finding not in found and event_id in updated:
            lost_handled += 1
        elif finding in found and event_id not in updated:
            missing_update += 1
    return lost_handled, missing_update


def wait_until(predicate: Callable[[], Any], timeout: float) -> bool:
    """Poll ``predicate`` every 0.5 s until truthy (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return False


def readyz(api: str) -> tuple[int, dict[str, Any]]:
    """Status code and body of ``/readyz`` (0 and {} when the API does not answer)."""
    try:
        resp = httpx.get(api + "/readyz", timeout=10)
        return resp.status_code, resp.json()
    except (httpx.HTTPError, ValueError):
        return 0, {}


def post_events(api: str, key: str, raws: list[bytes]) -> httpx.Response:
    """``POST /v1/events`` of ``raws`` as NDJSON."""
    return httpx.post(api + "/v1/events", content=b"\n".join(raws), timeout=30,
                      headers={"Authorization": f"Bearer {key}", "Content-Type": "application/x-ndjson"})


def start(home: Path, workers: int) -> Stack:
    """A started noida-db stack with the API in ``home``."""
    stack = Stack(home=home, workers=workers, broker="noida", api=True)
    stack.up()
    return stack


def service_pids(stack: Stack) -> dict[str, int]:
    """Process id of every service (engines excluded)."""
    return {n: c.pid for n, c in stack.state.components.items() if not n.startswith("engine-")}


# ------------------------------------------------------------------------------------------------ scenarios


def scenario_poison(home: Path, quick: bool) -> Result:
    """The poison corpus interleaved with good events, through Kafka and through the ingest API."""
    result = Result("poison")
    stack = start(home, workers=1)
    try:
        es = es_of(stack)
        admin = create_key(es, stack.state.index_prefix, Role.ADMIN, name="chaos")[0]
        cases = corpus()
        good = good_events(0, len(cases) * (2 if quick else 10), "poison")
        step = len(good) // len(cases)
        mixed: list[bytes] = []
        for i, case in enumerate(cases):
            mixed += [*good[i * step:(i + 1) * step], case.raw]
        t0 = time.monotonic()
        expected = produce_capped(stack, mixed)
        _, dead = settle(stack, result, expected, timeout=float(os.environ.get("CHAOS_SETTLE", "240")))
        result.recover_s = round(time.monotonic() - t0, 1)
        result.checks["every good event a finding"] = result.findings == len(good)
        poison = {c.raw for c in cases}
        poison_expected = [e for e, raw in zip(expected, mixed, strict=True) if raw in poison]
        result.checks["every poison event a dead letter"] = all(e.dead_letter_id in dead for e in poison_expected)
        # the reason of each: the indexed dead-letter record (the fw-dead-letter header)
        by_id = {e.dead_letter_id: c.reason for e, c in zip(poison_expected, cases, strict=True)}
        docs = es.mget(index=dead_letters_index(stack.state.index_prefix), ids=list(by_id))["docs"]
        wrong = [(d["_id"][:12], d.get("_source", {}).get("reason")) for d in docs
                 if not d.get("found") or d["_source"]["reason"] != by_id[d["_id"]]]
        result.checks["each dead letter has its reason"] = not wrong
        if wrong:
            result.notes.append(f"wrong reasons: {wrong[:5]}")
        # the worker kept going: events sent after the corpus still become findings
        after = produce(stack.state.kafka_bootstrap, stack.topics().flow_events, good_events(90_000, 20, "after"))
        result.checks["worker keeps going"] = account(es, stack.state.index_prefix, after, timeout=60)[2] == []
        result.checks["detector alive"] = all(pid_alive(p) for n, p in service_pids(stack).items()
                                              if n.startswith("detector"))
        # through the API: one request per case answers 4xx with the reason, never 2xx or 5xx
        codes: dict[int, int] = {}
        bad = []
        for case in cases:
            resp = httpx.post(stack.state.api_url + "/v1/events", content=case.raw, timeout=30,
                              headers={"Authorization": f"Bearer {admin}", "Content-Type": "application/json"})
            codes[resp.status_code] = codes.get(resp.status_code, 0) + 1
            if resp.status_code not in (400, 413, 422) or not resp.text:
                bad.append((case.name, resp.status_code))
        result.checks["API answers 4xx with a reason"] = not bad
        result.notes.append(f"API status codes for {len(cases)} poison requests: {codes}")
        if bad:
            result.notes.append(f"API not 4xx: {bad[:5]}")
    finally:
        stack.down()
    return result


def scenario_broker_restart(home: Path, quick: bool) -> Result:
    """Stop the engine (Kafka and Elasticsearch: one noida-db process) with a backlog in flight."""
    result = Result("broker-restart")
    outage = 8.0 if quick else 30.0
    stack = start(home, workers=1 if quick else 2)
    try:
        es = es_of(stack)
        admin = create_key(es, stack.state.index_prefix, Role.ADMIN, name="chaos")[0]
        api = stack.state.api_url
        warm_raws = good_events(0, 8, "warm")
        warm = produce(stack.state.kafka_bootstrap, stack.topics().flow_events, warm_raws)
        account(es, stack.state.index_prefix, warm, timeout=120)
        result.checks["restriction list in force"], probes = restriction_in_force(stack, admin, "br")
        warm += [expectation(r) for r in probes]
        warm_raws += probes
        base = restricted_alert_counts(stack, admin)  # probes sent before the list applied raised nothing
        before = service_pids(stack)
        n = 1500 if quick else 6000
        backlog_raws = restricted_events(0, n, "br")
        backlog = produce(stack.state.kafka_bootstrap, stack.topics().flow_events, backlog_raws)
        time.sleep(1.0)
        seen = len(account(es, stack.state.index_prefix, backlog, timeout=0)[0])
        engine = stack.state.components["engine-noida"]
        stack.kill("engine-noida", sig=signal.SIGTERM)  # noida-db snapshots its data on SIGTERM
        wait_until(lambda: not engine.alive(), 60)
        t_down = time.monotonic()
        result.checks["stopped mid-stream"] = 0 < seen < n or not engine.alive()
        result.notes.append(f"{seen}/{n} backlog events indexed when the engine stopped")
        # the API caches its broker check KAFKA_CHECK_TTL (5 s): a readyz of the last 5 s may still say kafka ok
        both_down: list[tuple[int, dict[str, Any]]] = []

        def names_both() -> bool:
            both_down.append(readyz(api))
            code, body = both_down[-1]
            return code == 503 and body.get("checks") == {"elasticsearch": "down", "kafka": "down"}

        result.checks["/readyz 503 naming kafka and elasticsearch"] = wait_until(names_both, KAFKA_CHECK_TTL + 5)
        if not result.checks["/readyz 503 naming kafka and elasticsearch"]:
            result.notes.append(f"/readyz during the outage: {both_down[-1] if both_down else None}")
        ingest = post_events(api, admin, good_events(0, 1, "during"))
        result.checks["ingest 503 during the outage"] = ingest.status_code == 503
        time.sleep(max(0.0, outage - (time.monotonic() - t_down)))
        stack.up()  # starts only the engine again, on the same ports
        t_up = time.monotonic()
        now_pids = service_pids(stack)
        result.checks["services survived (same pids)"] = now_pids == before
        if now_pids != before:
            result.notes.append(f"restarted: {sorted(n for n in before if now_pids.get(n) != before[n])}")
        result.checks["/readyz 200 again"] = wait_until(lambda: readyz(api)[0] == 200, 60)
        after_raws = good_events(n, n // 5, "br")
        after = produce(stack.state.kafka_bootstrap, stack.topics().flow_events, after_raws)
        via_api = good_events(0, 50, "api")
        resp = post_events(api, admin, via_api)
        result.checks["API producer reconnected (202)"] = resp.status_code == 202
        expected = warm + backlog + after + [expectation(r) for r in via_api]
        found, _ = settle(stack, result, expected, timeout=300)
        result.recover_s = round(time.monotonic() - t_up, 1)
        result.checks["ledger counts every flow once"] = wait_until(
            lambda: ledger_flows(stack) == len(expected), 60)
        counted = ledger_flows(stack)
        result.ledger_short = len(expected) - counted
        folds = {p: base.get(p, 0) + c for p, c in restricted_flows(backlog_raws).items()}
        alerts = restricted_alert_counts(stack, admin)
        # an engine drop can only leave a count short; a count above the flows is an alert raised twice
        result.checks["no alert occurrence counted twice"] = all(c <= folds.get(p, 0) for p, c in alerts.items())
        if alerts != folds:
            result.notes.append(f"restricted-recipient alert counts {alerts}, flows {folds}")
        result.notes.append(f"ledger flows {counted} for {len(expected)} export events; outage {outage:.0f} s")
        if result.lost or not result.checks["ledger counts every flow once"]:
            handled, no_update = engine_drops(stack, warm_raws + backlog_raws + after_raws + via_api, found)
            result.engine_dropped_findings, result.engine_dropped_updates = handled, no_update
            result.notes.append(
                f"engine drops: {handled} of the {result.lost} lost events have their export update in Kafka, "
                f"{no_update} indexed events have none (the detector handled them; the engine dropped a record "
                f"it had acknowledged: docs/faults.md); {result.lost - handled} lost events have neither")
    finally:
        stack.down()
    return result


def scenario_stack_restart(home: Path, quick: bool) -> Result:
    """Mid-replay ``down``/``up`` (graceful), then mid-replay SIGKILL of every process and ``up``.

    noida-db keeps what it had acknowledged only once it has written it out; a SIGKILL of the engine can drop
    the last records (``bench/noida_ack_loss.py --stop sigkill``: 150 of 5,900 at 2,000 records/s, more when the
    machine is loaded). When events are lost, the result counts those whose flow event the engine no longer
    holds (``engine_dropped_inputs``) or whose finding it dropped after the detector handled them, so a loss
    Flowwatch made can be told from one the engine made (``Result.only_engine_drops``)."""
    result = Result("stack-restart", engine_drop_checks=frozenset({
        "SIGKILL all: replay complete", "SIGKILL all: ledger exact", "SIGKILL all: incident persons exact",
        "SIGKILL all: restricted-recipient alerts fold every flow once"}))
    raws: list[bytes] = []
    workers = 1 if quick else 2
    n = 1500 if quick else 6000
    stack = start(home, workers)
    expected: list[Expected] = []
    recover = 0.0
    try:
        es = es_of(stack)
        prefix = stack.state.index_prefix
        admin = create_key(es, prefix, Role.ADMIN, name="chaos")[0]
        platform = create_key(es, prefix, Role.PLATFORM, processor_id="proc-1", name="chaos-platform")[0]
        reg = httpx.put(stack.state.api_url + "/v1/processors/proc-1", timeout=30,
                        headers={"Authorization": f"Bearer {admin}"},
                        json={"profile": {"processor_id": "proc-1"}, "mechanisms": []})
        result.checks["registry entry accepted"] = reg.status_code == 202
        if reg.status_code != 202:
            result.notes.append(f"registry PUT {reg.status_code}: {reg.text[:200]}")
        result.checks["restriction list in force"], probes = restriction_in_force(stack, admin, "sr")
        expected += [expectation(r) for r in probes]
        raws += probes
        base = restricted_alert_counts(stack, admin)  # probes sent before the list applied raised nothing
        persons: set[str] = set()
        incidents: list[Expected] = []
        incident_raws: list[bytes] = []
        for round_, how in enumerate(("down/up", "SIGKILL all")):
            round_raws = restricted_events(round_ * n, n, "sr")
            raws += round_raws
            inc_raws, inc_keys = incident_events(round_)
            incident_raws += inc_raws
            persons |= inc_keys
            incidents += produce(stack.state.kafka_bootstrap, stack.topics().flow_events, inc_raws)
            batch = produce(stack.state.kafka_bootstrap, stack.topics().flow_events, round_raws)
            expected += batch
            wait_until(lambda b=batch, s=stack: len(account(es_of(s), prefix, b, timeout=0)[0]) > 0, 60)
            seen = len(account(es_of(stack), prefix, batch, timeout=0)[0])
            if how == "down/up":
                stack.down()
            else:
                comps = list(stack.state.components.values())
                for comp in comps:  # every process at once, engine included
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(os.getpgid(comp.pid), signal.SIGKILL)
                wait_until(lambda c=comps: not any(x.alive() for x in c), 30)
            result.notes.append(f"{how}: {seen}/{n} of the replay indexed at the fault")
            stack = Stack(home=home, workers=workers, broker="noida", api=True)
            t0 = time.monotonic()
            stack.up()
            _, _, missing = account(es_of(stack), prefix, expected + incidents, timeout=300)
            recover = max(recover, time.monotonic() - t0)
            result.checks[f"{how}: replay complete"] = missing == []
            api = stack.state.api_url
            keys_ok = httpx.get(api + "/v1/findings", params={"size": 1}, timeout=30,
                                headers={"Authorization": f"Bearer {platform}"}).status_code == 200
            result.checks[f"{how}: API keys"] = keys_ok
            result.checks[f"{how}: registry entry"] = wait_until(
                lambda a=api: httpx.get(a + "/v1/processors/proc-1", timeout=30,
                                        headers={"Authorization": f"Bearer {admin}"}).status_code == 200, 60)
            want = len(expected)
            result.checks[f"{how}: ledger exact"] = wait_until(lambda s=stack, w=want: ledger_flows(s) == w, 90)
            if not result.checks[f"{how}: ledger exact"]:
                result.notes.append(f"{how}: ledger flows {ledger_flows(stack)} want {want}")
            # state of the incident agent and the alert folding, after the restart: exact, never doubled
            want_persons = len(persons)
            result.checks[f"{how}: incident persons exact"] = wait_until(
                lambda s=stack, w=want_persons: incident_persons(s, admin) == w, 90)
            if not result.checks[f"{how}: incident persons exact"]:
                result.notes.append(f"{how}: incident persons {incident_persons(stack, admin)} want {len(persons)}")
            folds = {p: base.get(p, 0) + c for p, c in restricted_flows(raws[len(probes):]).items()}
            result.checks[f"{how}: restricted-recipient alerts fold every flow once"] = wait_until(
                lambda s=stack, f=folds: restricted_alert_counts(s, admin) == f, 90)
            counted = restricted_alert_counts(stack, admin)
            # an engine drop can only leave a count short; a count above the flows is an alert raised twice
            result.checks[f"{how}: no alert occurrence counted twice"] = all(
                c <= folds.get(proc, 0) for proc, c in counted.items())
            if not result.checks[f"{how}: restricted-recipient alerts fold every flow once"]:
                result.notes.append(f"{how}: alert counts {counted} want {folds}")
        found, _ = settle(stack, result, expected + incidents, timeout=60)
        result.recover_s = round(recover, 1)
        result.ledger_short = len(expected) - ledger_flows(stack)
        if result.lost or result.ledger_short:
            inputs = {orjson.loads(v).get("event_id") for v in topic_values(stack, stack.topics().flow_events)}
            gone = [r for r in raws + incident_raws if orjson.loads(r).get("event_id") not in inputs]
            result.engine_dropped_inputs = sum(expectation(r).finding_id not in found for r in gone)
            kept = [r for r in raws if orjson.loads(r).get("event_id") in inputs]
            result.engine_dropped_findings, result.engine_dropped_updates = engine_drops(stack, kept, found)
            result.notes.append(
                f"engine drops: {len(gone)} flow events no longer in flow-events ({result.engine_dropped_inputs} "
                f"of them lost), {result.engine_dropped_findings} lost events handled (export update in Kafka), "
                f"{result.engine_dropped_updates} indexed events without their export update (docs/faults.md)")
    finally:
        stack.down()
    return result


def scenario_api_abuse(home: Path, quick: bool) -> Result:
    """``bench.api_abuse.run(quick)`` when the module exists; its dict goes into the notes."""
    result = Result("api-abuse")
    try:
        module = importlib.import_module("bench.api_abuse")
    except ImportError:
        result.notes.append("not available (bench/api_abuse.py is not on this branch)")
        return result
    outcome = module.run(quick)
    result.notes.append(json.dumps(outcome, default=str)[:2000])
    return result


SCENARIOS: dict[str, Callable[[Path, bool], Result]] = {
    "poison": scenario_poison,
    "broker-restart": scenario_broker_restart,
    "stack-restart": scenario_stack_restart,
    "api-abuse": scenario_api_abuse,
}


def print_table(results: list[Result]) -> None:
    """One row per scenario, then its checks and notes."""
    head = f"{'scenario':16} {'sent':>7} {'findings':>9} {'dead':>6} {'lost':>5} {'dup':>5} {'recover s':>10}  ok"
    print(head)
    print("-" * len(head))
    for r in results:
        print(f"{r.scenario:16} {r.sent:7} {r.findings:9} {r.dead_letters:6} {r.lost:5} {r.duplicated:5} "
              f"{r.recover_s:10.1f}  {'yes' if r.ok else 'NO'}")
    for r in results:
        for name, ok in r.checks.items():
            print(f"  {r.scenario}: [{'ok' if ok else 'FAIL'}] {name}")
        for note in r.notes:
            print(f"  {r.scenario}: {note}")


def main(argv: list[str] | None = None) -> int:
    """Run the chosen scenarios; exit status 0 when every one is ok."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short version (CI): fewer events, 8 s outage")
    parser.add_argument("--scenario", action="append", choices=sorted(SCENARIOS),
                        help="run only this scenario (repeatable); default: all")
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    parser.add_argument("--keep", type=Path, help="run the stacks in this folder and keep it (logs: <scenario>/logs)")
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory(prefix="flowwatch-chaos-") as tmp:
        base = args.keep or Path(tmp)
        for name in args.scenario or list(SCENARIOS):
            results.append(SCENARIOS[name](base / name, args.quick))
    print_table(results)
    if args.json:
        print(json.dumps([{**asdict(r), "ok": r.ok} for r in results], indent=2))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
