"""Query-service latency bench (issue 6): p50/p95 of the API's main queries over 1,000,000 findings and
100,000 alerts on the embedded engine (noida-db), with a baseline measured in the same run.

1. Starts noida-db in a fresh temp folder (or ``--reuse DIR``: load once, rerun the queries later) and
   loads, with a fixed seed, documents built from the real models: findings (``flowwatch.models.Finding``,
   hourly indices by ``occurred_at``, spread over ``--days`` days), alerts (``flowwatch.incidents.models
   .Alert``, weekly indices by ``raised_at``, spread over 12 months), ~2,000 incident records built by
   the real aggregation code (``IncidentState`` + ``build_record``) and one export-ledger record per
   processor. Findings and alerts are a few hundred validated templates varied in plain dicts (ids,
   processor, timestamps); a sample of the final documents is validated with the models again.
2. Starts the API as a real HTTP server (``python -m flowwatch_api``) with keys of every role and times,
   with one keep-alive ``httpx.Client``, ``--repeat`` sequential requests per query after 3 warm-ups.
3. Baseline, same run: the naive single Elasticsearch query (same filters, sort, aggregations) over the
   whole index pattern, sent straight to noida-db (what the service would do without partition walking),
   and ``GET /healthz`` as the HTTP floor. Prints API/naive ratios.

Target: p95 < 100 ms for every query. Exit code 0 even when a target fails (it is a report); 1 only when
the bench itself cannot run. Results also go to ``bench/results/api_latency.json``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import math
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
import orjson
from elasticsearch import Elasticsearch

from flowwatch.alerts import Alert
from flowwatch.apikeys import create_key
from flowwatch.detection.categories import default_table
from flowwatch.detection.masking import mask
from flowwatch.es_indices import (
    alerts_index,
    ensure_templates,
    findings_index,
    incidents_index,
    ledger_index,
)
from flowwatch.exports.evaluate import PIPL_38, RESTRICTION
from flowwatch.exports.models import LedgerRecord, ThresholdProgress
from flowwatch.findings import DETECTOR_VERSION
from flowwatch.ids import alert_id, derived_id, finding_id
from flowwatch.incidents.aggregate import IncidentState, SetPersonStore
from flowwatch.incidents.models import IncidentUpdate
from flowwatch.incidents.report import build_record
from flowwatch.models import Finding
from flowwatch.rules.export_pack import export_pack_for, load_export_packs, window_id, window_start
from flowwatch.rules.incident_pack import load_packs
from flowwatch.stored_form import FINDING, finding_from_source, incident_source, pack
from flowwatch_tools.engines import Engine, free_port, start_noida, stop_process_group

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "api_latency.json"
PREFIX = "fwbench"
TARGET_MS = 100.0
WARMUP = 3
NAIVE_BYTES_PER_DOC = 8 * 1024
"""Memory noida-db 0.2.3 takes (and keeps) per document a search scans (measured: ~7.5 KB per finding)."""
MEM_MARGIN = 3 * 2**30
"""Memory left free when sizing a naive query (other processes, the API, this bench)."""
NOIDA_BYTES_PER_FINDING = 10_752
NOIDA_BYTES_PER_ALERT = 16_384
"""noida-db 0.2.3 resident memory per searchable document (measured 2026-11-21: 10.0 KB per stored finding,
15.1 KB per alert; 17.1 KB per finding before stored_form packed the per-entity detail)."""
NOIDA_SPIKE = 1.6
"""Head-room factor over that: noida-db re-saves its whole store as JSON after writes and grows while it
does (it was killed out of memory at ~24 GB with ~20 GB of documents)."""
META = "bench-meta.json"
"""Written into a ``--reuse`` folder once its data set is loaded (the parameters it was built with)."""
TAG = "[bench-api]"


def log(msg: str) -> None:
    print(f"{TAG} {msg}", flush=True)


# ---------------------------------------------------------------------------------------------------
# The data set
# ---------------------------------------------------------------------------------------------------

PROCESSORS: list[tuple[str, str, list[str]]] = [
    # id, name, profiles of its flows; ordered by size (Zipf weights below: a few big ones)
    ("shop-cn", "华东优选商城", ["order", "marketing", "kyc"]),
    ("pay-cn", "启明支付", ["kyc", "logs"]),
    ("ride-cn", "速达出行", ["ride", "order"]),
    ("health-cn", "康宁互联网医院", ["health", "kyc"]),
    ("social-cn", "微聚社交", ["marketing", "logs", "minors"]),
    ("edu-cn", "启蒙在线教育", ["minors", "order"]),
    ("travel-cn", "远航旅行", ["travel", "order"]),
    ("logistics-cn", "通达物流", ["order", "ride"]),
    ("bank-sh", "沪江银行", ["kyc", "hr"]),
    ("insure-cn", "安泰保险", ["health", "kyc"]),
    ("hr-cn", "智聘人力", ["hr"]),
    ("game-cn", "乐游网络", ["minors", "logs"]),
    ("food-cn", "饱了么外卖", ["order", "ride"]),
    ("news-cn", "今日资讯", ["logs", "marketing"]),
    ("hotel-cn", "栖居酒店", ["travel", "order"]),
    ("car-cn", "驰骋汽车", ["ride", "kyc"]),
    ("telecom-gd", "粤通通信", ["kyc", "logs"]),
    ("retail-hk", "港汇零售", ["order", "travel"]),
    ("cloud-sz", "深云计算", ["logs", "hr"]),
    ("fitness-cn", "悦动健身", ["health", "marketing"]),
]
WEIGHTS = [1 / (rank ** 1.1) for rank in range(1, len(PROCESSORS) + 1)]

PROFILES: dict[str, tuple[list[tuple[str, str]], list[tuple[str, str]]]] = {
    # profile: (entity type, record field) always found, and found in some flows only
    "order": ([("PERSON", "receiver"), ("CN_MOBILE_PHONE", "phone"), ("ADDRESS", "address")],
              [("EMAIL_ADDRESS", "email"), ("CN_RESIDENT_ID", "id_no"), ("CN_BANK_CARD", "card")]),
    "kyc": ([("PERSON", "name"), ("CN_RESIDENT_ID", "id_card")],
            [("CN_BANK_CARD", "bank_card"), ("CN_MOBILE_PHONE", "mobile"), ("BIOMETRIC", "face_template"),
             ("ADDRESS", "address")]),
    "health": ([("PERSON", "patient"), ("MEDICAL_TERM", "diagnosis")],
               [("CN_RESIDENT_ID", "id_no"), ("CN_MOBILE_PHONE", "phone"), ("DATE_OF_BIRTH", "birth")]),
    "ride": ([("GEO_COORDINATE", "pickup"), ("CN_MOBILE_PHONE", "phone")],
             [("CN_LICENSE_PLATE", "plate"), ("PERSON", "driver"), ("IP_ADDRESS", "client_ip")]),
    "hr": ([("PERSON", "employee"), ("CN_RESIDENT_ID", "id_no"), ("DATE_OF_BIRTH", "birthday")],
           [("EMAIL_ADDRESS", "email"), ("CN_BANK_CARD", "salary_card"), ("ADDRESS", "home"),
            ("RELIGIOUS_BELIEF", "dietary_note")]),
    "marketing": ([("CN_MOBILE_PHONE", "mobile")], [("EMAIL_ADDRESS", "email"), ("IP_ADDRESS", "ip"),
                                                     ("PERSON", "nick")]),
    "logs": ([("IP_ADDRESS", "client_ip")], [("EMAIL_ADDRESS", "user"), ("CN_MOBILE_PHONE", "user"),
                                              ("GEO_COORDINATE", "loc")]),
    "travel": ([("PERSON", "traveller"), ("CN_PASSPORT", "passport")],
               [("HK_ID", "permit"), ("CN_HMT_PERMIT", "permit"), ("CN_MOBILE_PHONE", "contact"),
                ("EMAIL_ADDRESS", "contact")]),
    "minors": ([("PERSON", "student"), ("DATE_OF_BIRTH", "birth")],
               [("CN_MOBILE_PHONE", "guardian_phone"), ("CN_RESIDENT_ID", "id_no"), ("ADDRESS", "home")]),
}
RAW: dict[str, list[str]] = {
    # fake raw values, only ever stored masked (flowwatch.detection.masking.mask)
    "PERSON": ["张伟", "王芳", "李娜", "刘洋", "陈静", "杨帆"],
    "CN_MOBILE_PHONE": ["13912345678", "18600001111", "15811112222", "13700003333"],
    "ADDRESS": ["北京市朝阳区建国路88号", "上海市浦东新区世纪大道100号", "广州市天河区体育西路1号"],
    "EMAIL_ADDRESS": ["kefu@example.com", "zhang.wei@example.cn", "li.na@example.org"],
    "CN_RESIDENT_ID": ["11010519491231002X", "440106199001011234", "310104198512120021"],
    "CN_BANK_CARD": ["6222021234567890123", "6228480402564890018"],
    "BIOMETRIC": ["face-template", "fingerprint"],
    "MEDICAL_TERM": ["糖尿病", "高血压", "乙肝"],
    "DATE_OF_BIRTH": ["1990-01-01", "1985-12-12", "2015-03-02"],
    "GEO_COORDINATE": ["39.9042,116.4074", "31.2304,121.4737", "23.1291,113.2644"],
    "CN_LICENSE_PLATE": ["京A12345", "沪B67890", "粤C24680"],
    "IP_ADDRESS": ["203.0.113.7", "198.51.100.23", "192.0.2.45"],
    "RELIGIOUS_BELIEF": ["佛教", "基督教"],
    "CN_PASSPORT": ["E12345678", "G98765432"],
    "HK_ID": ["A123456(7)", "Z987654(3)"],
    "CN_HMT_PERMIT": ["H12345678", "C87654321"],
}
SOURCE_REGIONS = ["CN-BJ", "CN-SH", "CN-GD", "CN-ZJ", "CN-JS", "CN-SC", "CN-HB"]
DESTINATIONS = ["CN", "CN-SH", "CN-GD", "HK", "SG", "US", "DE", "JP", None]
DEST_WEIGHTS = [30, 10, 10, 10, 8, 8, 4, 4, 16]
ACTIVITIES = ["provide", "share", "entrust", "export", "remote_access", "store", "publish", None]
ACT_WEIGHTS = [25, 20, 15, 15, 5, 10, 2, 8]
TEMPLATES_PER_PROFILE = 12

ALERT_TYPES = ["obligation_due_soon", "obligation_overdue", "export_threshold_crossed",
               "export_restricted_recipient", "export_unknown_destination"]
ALERT_TYPE_WEIGHTS = [30, 20, 15, 10, 25]
OBLIGATIONS = ["regulator_report", "followup_report", "notify_individuals"]
OB_NAMES = {"regulator_report": "report to the regulator", "followup_report": "follow-up report to the regulator",
            "notify_individuals": "notice to affected individuals"}
ANALYSTS = ["soc-li", "soc-wang", "soc-chen", "soc-zhao"]
ALERT_TEXT_FIELDS = ["title", "message", "processor_id", "incident_id", "type", "assignee"]
"""What the API's ``q`` searches in alerts (flowwatch_api.alerts.TEXT_FIELDS), for the naive baseline."""
SEARCH_WORD = "regulator"
"""The full-text word of the alert-queue query (in the titles of obligation alerts)."""


@dataclass
class Params:
    """What defines a data set (a ``--reuse`` folder is reused only for the same parameters)."""

    seed: int
    findings: int
    alerts: int
    incidents: int
    days: int
    alert_months: int
    anchor: str
    """Newest instant of the data (RFC 3339): findings lie in ``[anchor - days, anchor)``."""


def iso(ts: float) -> str:
    """RFC 3339, UTC, milliseconds, of epoch seconds ``ts``."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")


def pick(rng: random.Random, values: list[Any], weights: list[float]) -> Any:
    return rng.choices(values, weights)[0]


def finding_templates(rng: random.Random) -> dict[str, list[dict[str, Any]]]:
    """Per profile, ``TEMPLATES_PER_PROFILE`` validated finding documents (ids, processor and times are
    placeholders, set per document)."""
    table = default_table()
    placeholder = datetime(2026, 1, 1, tzinfo=UTC)
    out: dict[str, list[dict[str, Any]]] = {}
    for profile, (always, sometimes) in PROFILES.items():
        docs = []
        for _ in range(TEMPLATES_PER_PROFILE):
            found = sorted(always + [x for x in sometimes if rng.random() < 0.25])
            types = sorted({t for t, _ in found})
            records = int(math.exp(rng.uniform(0, math.log(5000))))
            in_text = rng.random() < 0.2
            entities = []
            for t in types:
                minor = profile == "minors" and t == "DATE_OF_BIRTH" and rng.random() < 0.6
                category = "minor_under_14" if minor else table.category(t)
                values = rng.sample(RAW[t], 1 if rng.random() < 0.7 else 2)
                entities.append({
                    "type": t, "category": category, "sensitive": minor or table.is_sensitive(category),
                    "count": max(1, int(records * rng.uniform(0.5, 1.2))),
                    "fields": sorted({f for e, f in found if e == t} | ({"text"} if in_text else set())),
                    "masked_samples": [mask(t, v) for v in values],
                })  # fmt: skip
            basis = pick(rng, ["subject_keys", "identifiers", "declared"], [30, 60, 10])
            doc = {
                "schema_version": "1.0", "finding_id": "x", "event_id": "x", "processor_id": "x",
                "processor_name": None, "kind": "incident" if rng.random() < 0.02 else "transfer",
                "activity": pick(rng, ACTIVITIES, ACT_WEIGHTS), "occurred_at": placeholder.isoformat(),
                "detected_at": placeholder.isoformat(), "source_region": rng.choice(SOURCE_REGIONS),
                "destination_region": pick(rng, DESTINATIONS, DEST_WEIGHTS),
                "entity_types": types, "categories": sorted({e["category"] for e in entities}),
                "sensitive": any(e["sensitive"] for e in entities),
                "entity_counts": {e["type"]: e["count"] for e in entities}, "entities": entities,
                "distinct_subjects": max(1, int(records * rng.uniform(0.6, 1.0))), "subject_count_basis": basis,
                "record_count": records, "text_chars": rng.choice([120, 800, 4000]) if in_text else 0,
                "detector_version": DETECTOR_VERSION,
            }  # fmt: skip
            Finding.model_validate(doc)
            docs.append(doc)
        out[profile] = docs
    return out


def day_slices(anchor: datetime, days: int, total: int, rng: random.Random) -> list[tuple[float, float, int]]:
    """``(start, end, count)`` per UTC day overlapping ``[anchor - days, anchor)``: weekdays busier than
    weekends, slow growth over the period; counts add up to ``total``."""
    start = anchor - timedelta(days=days)
    slices: list[tuple[float, float, float]] = []
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    while day < anchor:
        lo, hi = max(day, start), min(day + timedelta(days=1), anchor)
        share = (hi - lo).total_seconds() / 86400
        growth = 0.8 + 0.4 * (lo - start).total_seconds() / (anchor - start).total_seconds()
        weight = share * growth * (1.0 if day.weekday() < 5 else 0.7) * rng.uniform(0.9, 1.1)
        slices.append((lo.timestamp(), hi.timestamp(), weight))
        day += timedelta(days=1)
    norm = sum(w for _, _, w in slices)
    counts = [int(total * w / norm) for _, _, w in slices]
    counts[-1] += total - sum(counts)
    return [(lo, hi, n) for (lo, hi, _), n in zip(slices, counts, strict=True)]


def findings(params: Params, prefix: str) -> Iterator[tuple[str, str, bytes]]:
    """``(index, id, source JSON)`` of every finding, oldest day first."""
    rng = random.Random(params.seed)
    templates = finding_templates(rng)
    per_processor = [[t for prof in profiles for t in templates[prof]] for _, _, profiles in PROCESSORS]
    anchor = datetime.fromisoformat(params.anchor)
    n = 0
    for lo, hi, count in day_slices(anchor, params.days, params.findings, rng):
        for ts in sorted(rng.uniform(lo, hi) for _ in range(count)):
            index = findings_index(prefix, datetime.fromtimestamp(ts, UTC))  # hourly, as the indexer's default
            p = rng.choices(range(len(PROCESSORS)), WEIGHTS)[0]
            pid, name, _ = PROCESSORS[p]
            doc = dict(rng.choice(per_processor[p]))
            event = f"evt-{rng.getrandbits(64):016x}-{n}"
            doc["finding_id"] = fid = finding_id(pid, event)
            doc["event_id"] = event
            doc["processor_id"], doc["processor_name"] = pid, name
            doc["occurred_at"] = iso(ts)
            doc["detected_at"] = iso(min(ts + rng.uniform(0.2, 8.0), hi - 0.001))
            n += 1
            yield index, fid, orjson.dumps(pack(doc, FINDING))  # stored as the indexer stores it


def alerts(params: Params, prefix: str) -> Iterator[tuple[str, str, bytes]]:
    """``(index, id, source JSON)`` of every alert, first raised over ``alert_months`` months before the
    anchor: mostly resolved, ~5 % open or acknowledged, a few suppressed. As the pipeline writes them:
    obligation alerts are raised once (``count`` 1, no ``last_raised_at``); export alerts fold repeated
    occurrences (``count`` 1–50, ``last_raised_at`` set)."""
    rng = random.Random(params.seed + 1)
    anchor = datetime.fromisoformat(params.anchor)
    lo = (anchor - timedelta(days=30.4 * params.alert_months)).timestamp()
    hi = anchor.timestamp()
    ob_basis = {r.id: r.legal_basis.model_dump() for r in load_packs()[0].obligations}
    export_pack = export_pack_for(anchor, load_export_packs())
    thresholds = export_pack.volume_thresholds
    seq = dict.fromkeys(ALERT_TYPES, 0)
    for ts in sorted(rng.uniform(lo, hi) for _ in range(params.alerts)):
        kind = pick(rng, ALERT_TYPES, ALERT_TYPE_WEIGHTS)
        j = seq[kind] = seq[kind] + 1
        pid = PROCESSORS[rng.choices(range(len(PROCESSORS)), WEIGHTS)[0]][0]
        raised = datetime.fromtimestamp(ts, UTC)
        doc: dict[str, Any] = {"processor_id": pid, "incident_id": None, "obligation": None, "due_at": None}
        if kind.startswith("obligation_"):
            ob = OBLIGATIONS[j % 3]
            incident = f"INC-{raised:%Y%m}-{j // 3:06d}"
            due = raised + (timedelta(hours=2) if kind == "obligation_due_soon" else -timedelta(minutes=1))
            late = kind == "obligation_overdue" and rng.random() < 0.1
            what = OB_NAMES[ob]
            key = f"{pid}|{incident}|{ob}|{kind.removeprefix('obligation_')}"
            if kind == "obligation_due_soon":
                title = f"Due soon: {what}"
                severity = "high" if ob == "regulator_report" else "medium"
                text = f"is due at {due.isoformat()}, in 2 h 00 min"
            else:
                title = f"{'Detected after the deadline' if late else 'Overdue'}: {what}"
                severity = "critical" if ob == "regulator_report" or late else "high"
                text = f"was due at {due.isoformat()} and is not recorded as done"
            message = (f"Incident {incident} of {pid}: the {what} {text}. Trigger: persons_at_least 100000. "
                       f"Basis: {ob_basis[ob]['document']} {ob_basis[ob]['article']}.")
            doc.update(incident_id=incident, obligation=ob, due_at=due.isoformat(timespec="milliseconds"),
                       rule_pack="cn_incident_draft_2021", legal_basis=ob_basis[ob])
        else:
            window = window_id(export_pack, raised)
            recipient = f"Recipient {j % 5000:04d} Ltd"
            if kind == "export_threshold_crossed":
                t = thresholds[j % len(thresholds)]
                key = f"{pid}|export|{kind}|{window}|{t.id}#{j}"
                severity = "high" if t.at_least >= 10_000 and t.metric == "sensitive_persons" else "medium"
                title = f"Export threshold crossed: {t.at_least:,} {t.metric.replace('_', ' ')}"
                message = (f"{pid} has exported PI of {t.at_least + rng.randint(0, 999):,} "
                           f"{t.metric.replace('_', ' ')} in window {window} (threshold {t.at_least:,}): from now "
                           f"on it needs a standard contract. Event evt-{j:08d}.")
                basis = t.legal_basis.model_dump()
            elif kind == "export_restricted_recipient":
                key = f"{pid}|export|{kind}|{recipient}#{j}"
                severity, basis = "critical", RESTRICTION.model_dump()
                title = f"Export to a restricted recipient: {recipient}"
                message = (f"Event evt-{j:08d}: PI of {rng.randint(1, 50_000):,} persons sent to {recipient} "
                           f"({rng.choice(['US', 'SG', 'DE'])}), which is on the restriction list.")
            else:
                key = f"{pid}|export|{kind}|{window}|{recipient}#{j}"
                severity, basis = "high", PIPL_38.model_dump()
                title = "PI sent to an unknown destination"
                message = (f"Event evt-{j:08d}: PI of {rng.randint(1, 50_000):,} persons went to {recipient} "
                           "whose region could not be resolved (no region, IP or host); whether it left the "
                           "country is unknown.")
            doc.update(rule_pack=export_pack.id, legal_basis=basis)
        if kind.startswith("obligation_"):  # raised once per dedup key by the incident agent
            count, last = 1, None
        else:  # the egress agent tallies occurrences and always sends last_raised_at
            count = 1 if rng.random() < 0.4 else min(50, 1 + int(rng.expovariate(1 / 6)))
            last = ts if count == 1 else min(hi - 0.001, ts + rng.uniform(60, 14 * 86400))
        r = rng.random()
        status = "open" if r < 0.033 else "acknowledged" if r < 0.05 else "suppressed" if r < 0.055 else "resolved"
        history: list[dict[str, Any]] = []
        assignee = suppressed_until = reason = updated = None
        if status != "open":
            analyst = rng.choice(ANALYSTS)
            at = min(hi - 0.001, (last or ts) + rng.uniform(300, 3 * 86400))
            updated = iso(at)
            if status in ("acknowledged", "resolved"):
                assignee = analyst
                history.append({"at": iso(at - 60), "actor": analyst, "role": "soc_analyst", "action": "assign",
                                "reason": None, "assignee": analyst, "suppressed_until": None})
            if status == "acknowledged":
                history.append({"at": updated, "actor": analyst, "role": "soc_analyst", "action": "acknowledge",
                                "reason": None, "assignee": None, "suppressed_until": None})
            elif status == "resolved":
                reason = rng.choice(["report filed", "contract on file", "false positive", "notice sent"])
            else:
                reason = "known batch job"
                suppressed_until = iso(at + rng.choice([7, 30, 90]) * 86400)
            if status in ("resolved", "suppressed"):
                history.append({"at": updated, "actor": analyst, "role": "soc_analyst",
                                "action": "resolve" if status == "resolved" else "suppress", "reason": reason,
                                "assignee": None, "suppressed_until": suppressed_until})
        aid = alert_id(key)
        doc.update(
            alert_id=aid, dedup_key=key, type=kind, severity=severity, title=title, message=message,
            raised_at=iso(ts), last_raised_at=None if last is None else iso(last), status=status, count=count,
            assignee=assignee, suppressed_until=suppressed_until, status_reason=reason, updated_at=updated,
            history=history,
        )  # fmt: skip
        yield alerts_index(prefix, raised), aid, orjson.dumps(doc)


def person_key(i: int) -> str:
    return hashlib.sha256(f"bench-person-{i}".encode()).hexdigest()


def incidents(params: Params, prefix: str) -> Iterator[tuple[str, str, bytes]]:
    """Incident records built by the real aggregation code (``IncidentState`` + ``build_record``) from one
    or two updates each, occurred over ``alert_months`` months; about half report done."""
    rng = random.Random(params.seed + 2)
    anchor = datetime.fromisoformat(params.anchor)
    packs = load_packs()
    span = 30.4 * params.alert_months * 86400
    types = ["leak", "tamper", "destroy", "loss", "theft", "illegal_use", "unauthorized_transfer"]
    for i in range(params.incidents):
        pid, name, _ = PROCESSORS[rng.choices(range(len(PROCESSORS)), WEIGHTS)[0]]
        occurred = anchor - timedelta(seconds=rng.uniform(3600, span))
        detected = occurred + timedelta(minutes=rng.uniform(5, 600))
        received = detected + timedelta(minutes=rng.uniform(1, 30))
        base = rng.randrange(10**6)
        first = IncidentUpdate(
            processor_id=pid, processor_name=name, incident_id=f"INC-{occurred:%Y%m}-{i:05d}", update_id=f"evt-i{i}a",
            source="event", received_at=received, occurred_at=occurred, detected_at=detected,
            type=rng.choice(types), status=pick(rng, ["occurred", "possible"], [80, 20]),
            harm_to_individuals=rng.random() < 0.5, important_data=rng.random() < 0.1,
            affected_subject_count=int(math.exp(rng.uniform(0, math.log(2_000_000)))),
            person_keys=[person_key(base + k) for k in range(rng.randint(1, 8))],
            entity_types=["CN_MOBILE_PHONE", "PERSON"] + (["CN_RESIDENT_ID"] if rng.random() < 0.5 else []),
            categories=["general"], cause="对象存储桶误设为公开" if rng.random() < 0.5 else None,
        )  # fmt: skip
        updates = [first]
        if rng.random() < 0.5:
            updates.append(IncidentUpdate(
                processor_id=pid, incident_id=first.incident_id, update_id=f"evt-i{i}b", source="event",
                received_at=received + timedelta(hours=2), measures_taken="已关闭公开访问并轮换密钥",
                reported_at=received + timedelta(hours=rng.uniform(1, 7)),
            ))  # fmt: skip
        state, store = IncidentState.new(first), SetPersonStore()
        for u in updates:
            state.apply(u, store)
        record = build_record(state, packs, min(anchor, received + timedelta(days=rng.uniform(0, 20))))
        yield incidents_index(prefix), record.id, orjson.dumps(incident_source(record))


def ledger(params: Params, prefix: str) -> Iterator[tuple[str, str, bytes]]:
    """One export-ledger record per processor in the current counting window."""
    rng = random.Random(params.seed + 3)
    anchor = datetime.fromisoformat(params.anchor)
    pack = export_pack_for(anchor, load_export_packs())
    window = window_id(pack, anchor)
    for (pid, name, _), w in zip(PROCESSORS, WEIGHTS, strict=True):
        persons = int(1_500_000 * w * rng.uniform(0.5, 1.0))
        sensitive = persons // rng.randint(8, 40)
        values = {"persons": persons, "sensitive_persons": sensitive}
        required = ("security_assessment" if persons >= 1_000_000 or sensitive >= 10_000
                    else "standard_contract" if persons >= 100_000 or sensitive else "none")
        record = LedgerRecord(
            id=derived_id("export-ledger/v1", pid, window), processor_id=pid, processor_name=name, pack_id=pack.id,
            window_id=window, window_start=window_start(pack, anchor), persons=persons, sensitive_persons=sensitive,
            flows=persons // rng.randint(20, 200) + 1, required_mechanism=required,
            required_reasons=[f"{persons:,} persons, {sensitive:,} sensitive persons in {window}"],
            mechanisms_on_file=["sc-2025-01"] if required != "none" else [],
            thresholds=[ThresholdProgress(name=t.id, counter=t.metric, threshold=t.at_least,
                                          value=values.get(t.metric, 0), reached=values.get(t.metric, 0) >= t.at_least,
                                          article=t.legal_basis.article) for t in pack.volume_thresholds],
            updated_at=anchor - timedelta(minutes=rng.uniform(1, 600)),
        )  # fmt: skip
        yield ledger_index(prefix), record.id, record.model_dump_json().encode()


def validate_sample(kind: str, docs: list[bytes]) -> None:
    """Validate sampled generated documents with their real model. Raises pydantic.ValidationError."""
    for raw in docs:
        if kind == "findings":
            finding_from_source(orjson.loads(raw))
        elif kind == "alerts":
            Alert.model_validate_json(raw)


# ---------------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------------


class BulkLoader:
    """Bulk-indexes NDJSON bodies into Elasticsearch over ``streams`` parallel HTTP connections."""

    def __init__(self, es_url: str, streams: int) -> None:
        self.es_url = es_url
        self.pool = ThreadPoolExecutor(max_workers=streams, thread_name_prefix="bulk")
        self.slots = threading.BoundedSemaphore(streams * 2)
        self.local = threading.local()
        self.lock = threading.Lock()
        self.done = 0
        self.errors: list[str] = []
        self.futures: list[Future[None]] = []

    def _client(self) -> httpx.Client:
        client = getattr(self.local, "client", None)
        if client is None:
            client = self.local.client = httpx.Client(base_url=self.es_url, timeout=600)
        return client

    def _send(self, body: bytes, n: int) -> None:
        try:
            resp = self._client().post("/_bulk", content=body, headers={"Content-Type": "application/x-ndjson"})
            resp.raise_for_status()
            data = orjson.loads(resp.content)
            if data.get("errors"):
                bad = [i for i in data["items"] if next(iter(i.values())).get("error")]
                with self.lock:
                    self.errors.append(json.dumps(bad[:2], ensure_ascii=False)[:1000])
            with self.lock:
                self.done += n
        except Exception as exc:  # reported by load(); the bench stops
            with self.lock:
                self.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            self.slots.release()

    def submit(self, body: bytes, n: int) -> None:
        self.slots.acquire()
        self.futures.append(self.pool.submit(self._send, body, n))

    def wait(self) -> None:
        for f in self.futures:
            f.result()
        self.futures.clear()

    def close(self) -> None:
        self.pool.shutdown(wait=True)


def load(loader: BulkLoader, kind: str, docs: Iterator[tuple[str, str, bytes]], total: int, bulk_docs: int,
         sample_every: int) -> dict[str, Any]:
    """Bulk-load ``docs``, printing progress (docs/s) every 5 s; returns timings. Raises RuntimeError when
    Elasticsearch rejects a document."""
    start = last = time.perf_counter()
    start_done = loader.done
    gen_seconds = 0.0
    lines: list[bytes] = []
    n = count = 0
    sample: list[bytes] = []
    indices: set[str] = set()
    while True:
        t0 = time.perf_counter()
        item = next(docs, None)
        gen_seconds += time.perf_counter() - t0
        if item is not None:
            index, doc_id, source = item
            indices.add(index)
            lines.append(b'{"index":{"_index":"' + index.encode() + b'","_id":"' + doc_id.encode() + b'"}}\n')
            lines.append(source + b"\n")
            n += 1
            count += 1
            if count % sample_every == 0:
                sample.append(source)
        if n and (n >= bulk_docs or item is None):
            loader.submit(b"".join(lines), n)
            lines, n = [], 0
        if loader.errors:
            raise RuntimeError(f"bulk indexing of {kind} failed: {loader.errors[0]}")
        if item is None:
            loader.wait()
        now = time.perf_counter()
        if now - last >= 5 or item is None:
            done = loader.done - start_done
            rate = done / max(now - start, 1e-9)
            eta = (total - done) / rate if rate and done < total else 0
            log(f"  {kind}: {done:,}/{total:,} indexed, {rate:,.0f} docs/s"
                + (f", ETA {eta:,.0f} s" if item is not None else f" in {now - start:,.1f} s"))
            last = now
        if item is None:
            break
    if loader.errors:
        raise RuntimeError(f"bulk indexing of {kind} failed: {loader.errors[0]}")
    validate_sample(kind, sample)
    seconds = time.perf_counter() - start
    return {"docs": count, "indices": len(indices), "seconds": round(seconds, 2),
            "docs_per_s": round(count / max(seconds, 1e-9)), "generation_seconds": round(gen_seconds, 2),
            "validated_sample": len(sample)}


def load_all(es_url: str, es: Elasticsearch, params: Params, streams: int, bulk_docs: int) -> dict[str, Any]:
    """Load every document of the data set and refresh; returns per-kind timings."""
    stale = [i["name"] for i in es.indices.resolve_index(name=f"{PREFIX}-*").get("indices", [])
             if i["name"].split("-")[1] in ("findings", "alerts", "incidents", "ledger")]
    for name in stale:  # a load that was interrupted in a --reuse folder
        es.indices.delete(index=name)
    if stale:
        log(f"deleted {len(stale)} indices of an interrupted load")
    ensure_templates(es, PREFIX)
    loader = BulkLoader(es_url, streams)
    out: dict[str, Any] = {}
    try:
        log(f"loading {params.findings:,} findings over {params.days} days, {params.alerts:,} alerts and "
            f"{params.incidents:,} incidents over {params.alert_months} months, {len(PROCESSORS)} ledger records "
            f"({streams} bulk streams of {bulk_docs:,} docs) …")
        out["findings"] = load(loader, "findings", findings(params, PREFIX), params.findings, bulk_docs,
                               max(1, params.findings // 2000))
        out["alerts"] = load(loader, "alerts", alerts(params, PREFIX), params.alerts, bulk_docs,
                             max(1, params.alerts // 1000))
        out["incidents"] = load(loader, "incidents", incidents(params, PREFIX), params.incidents, 500, 10**9)
        out["ledger"] = load(loader, "ledger", ledger(params, PREFIX), len(PROCESSORS), 500, 10**9)
    finally:
        loader.close()
    t0 = time.perf_counter()
    es.indices.refresh(index=f"{PREFIX}-*")
    out["refresh_seconds"] = round(time.perf_counter() - t0, 2)
    return out


# ---------------------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------------------


def pct(values: list[float], p: float) -> float:
    """The ``p``-th percentile (linear interpolation between closest ranks)."""
    s = sorted(values)
    k = (len(s) - 1) * p / 100
    f = math.floor(k)
    c = min(f + 1, len(s) - 1)
    return s[f] + (s[c] - s[f]) * (k - f)


@dataclass
class Timing:
    """Latencies (ms) of one query, or why it could not be timed."""

    name: str
    role: str
    samples: list[float] = field(default_factory=list)
    first_ms: float | None = None
    result: str = ""
    problem: str | None = None
    """``missing`` (404 from the router: endpoint not there yet) or ``HTTP nnn: …``."""
    failures: int = 0
    naive: Timing | None = None

    @property
    def p50(self) -> float:
        return pct(self.samples, 50)

    @property
    def p95(self) -> float:
        return pct(self.samples, 95)

    @property
    def ok(self) -> bool:
        return bool(self.samples) and self.problem is None

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"query": self.name, "role": self.role, "result": self.result, "problem": self.problem,
                             "failures": self.failures, "first_ms": _r(self.first_ms)}
        if self.samples:
            d.update(n=len(self.samples), p50_ms=_r(self.p50), p95_ms=_r(self.p95), max_ms=_r(max(self.samples)),
                     passed=self.p95 < TARGET_MS and self.problem is None)
        if self.naive is not None:
            d["naive"] = self.naive.as_dict()
        return d


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def describe(body: Any) -> str:
    """Short summary of a response body: items/total of a page, total of stats, an object's id."""
    if isinstance(body, dict):
        if "items" in body and isinstance(body["items"], list):
            total = body.get("total")
            rel = "≥" if body.get("total_relation") == "gte" else ""
            return f"{len(body['items'])} / {rel}{total:,}" if isinstance(total, int) else f"{len(body['items'])}"
        if "total" in body and isinstance(body["total"], int):
            buckets = body.get("over_time")
            return f"total {body['total']:,}" + (f", {len(buckets)} buckets" if isinstance(buckets, list) else "")
        if "hits" in body:  # Elasticsearch
            hits = body["hits"]
            total = hits.get("total", {}).get("value", 0)
            return f"{len(hits.get('hits', []))} / {total:,}"
        for k in ("finding_id", "alert_id", "id", "status"):
            if k in body:
                return f"{k} {str(body[k])[:16]}"
        if "report" in body:
            return f"report, {len(body.get('obligations') or [])} obligations"
    return "ok"


def problem_of(resp: httpx.Response) -> str:
    """``missing`` for a 404 of the router (no such endpoint yet), else ``HTTP nnn: detail``."""
    detail = ""
    with contextlib.suppress(ValueError):
        detail = str(resp.json().get("detail", ""))[:80]
    if resp.status_code in (404, 405) and detail in ("Not Found", "Method Not Allowed"):
        return "missing"
    return f"HTTP {resp.status_code}" + (f": {detail}" if detail else "")


def time_call(name: str, role: str, call: Callable[[], httpx.Response], repeat: int, warmup: int = WARMUP,
              budget: float | None = None) -> Timing:
    """Warm up, then time ``repeat`` sequential calls (wall clock around the whole request). With a
    ``budget`` (seconds), fewer calls (at least 3) when the warm-up says ``repeat`` would take longer."""
    timing = Timing(name, role)
    for i in range(warmup):
        t0 = time.perf_counter()
        try:
            resp = call()
        except httpx.HTTPError as exc:
            timing.problem = f"{type(exc).__name__}: {exc}"[:120]
            return timing
        if i == 0:
            timing.first_ms = (time.perf_counter() - t0) * 1000
        if resp.status_code != 200:
            timing.problem = problem_of(resp)
            return timing
        timing.result = describe(resp.json())
        if budget is not None:
            repeat = max(3, min(repeat, int(budget / max(time.perf_counter() - t0, 1e-3))))
    for _ in range(repeat):
        t0 = time.perf_counter()
        try:
            resp = call()
            status = resp.status_code
        except httpx.HTTPError:
            status = 0
        timing.samples.append((time.perf_counter() - t0) * 1000)
        if status != 200:
            timing.failures += 1
    if timing.failures:
        timing.problem = f"{timing.failures} of {repeat} calls failed"
    return timing


# ---------------------------------------------------------------------------------------------------
# The queries
# ---------------------------------------------------------------------------------------------------


def sort_desc(date_field: str, id_field: str) -> list[dict[str, Any]]:
    return [{date_field: {"order": "desc", "missing": "_last", "unmapped_type": "date"}},
            {id_field: {"order": "asc", "unmapped_type": "keyword"}}]


def page_body(filters: list[dict[str, Any]], sort: list[dict[str, Any]], size: int = 50,
              after: list[Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"query": {"bool": {"filter": filters}}, "sort": sort, "size": size + 1,
                            "track_total_hits": True}
    if after is not None:
        body["search_after"] = after
    return body


def rng_range(field_name: str, from_: datetime, to: datetime) -> dict[str, Any]:
    return {"range": {field_name: {"gte": from_.isoformat(timespec="milliseconds"),
                                   "lt": to.isoformat(timespec="milliseconds")}}}


def findings_stats_body(from_: datetime, to: datetime) -> dict[str, Any]:
    sensitive_only = {"filter": {"term": {"sensitive": True}}}
    return {"size": 0, "track_total_hits": True, "query": {"bool": {"filter": [rng_range("occurred_at", from_, to)]}},
            "aggs": {
                "sensitive": sensitive_only,
                "by_entity_type": {"terms": {"field": "entity_types", "size": 100}},
                "by_category": {"terms": {"field": "categories", "size": 50}},
                "by_processor": {"terms": {"field": "processor_id", "size": 1000}},
                "over_time": {"date_histogram": {"field": "occurred_at", "calendar_interval": "day",
                                                 "min_doc_count": 1}, "aggs": {"sensitive": sensitive_only}},
            }}  # fmt: skip


def open_now(now: datetime) -> dict[str, Any]:
    """Status ``open`` as of ``now``: open, or suppressed with the suppression ended (the API's rule)."""
    ended = {"bool": {"filter": [{"term": {"status": "suppressed"}},
                                 {"range": {"suppressed_until": {"lte": now.isoformat(timespec="milliseconds")}}}]}}
    return {"bool": {"should": [{"term": {"status": "open"}}, ended], "minimum_should_match": 1}}


def alerts_stats_body(from_: datetime, to: datetime, now: datetime) -> dict[str, Any]:
    return {"size": 0, "track_total_hits": True,
            "query": {"bool": {"filter": [rng_range("raised_at", from_, to)]}},
            "aggs": {
                "by_type": {"terms": {"field": "type", "size": 100}},
                "by_severity": {"terms": {"field": "severity", "size": 10}},
                "by_status": {"terms": {"field": "status", "size": 10}},
                "ended_suppressions": {"filter": {"range": {"suppressed_until": {
                    "lte": now.isoformat(timespec="milliseconds")}}},
                    "aggs": {"status": {"terms": {"field": "status", "size": 10}}}},
                "by_processor": {"terms": {"field": "processor_id", "size": 1000}},
                "occurrences": {"sum": {"field": "count"}},
                "over_time": {"date_histogram": {"field": "raised_at", "calendar_interval": "month",
                                                 "min_doc_count": 1}},
            }}  # fmt: skip


def mem_available() -> int:
    """Bytes of memory available to new allocations (``MemAvailable``), or a huge number when unknown."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 1 << 62


def naive_scope(sizes: dict[str, int], kind: str) -> tuple[str, str]:
    """Indices a naive query of ``kind`` (findings, alerts) searches, and a label: the whole pattern, or —
    when noida-db would need more memory to scan every document than is available (it grows by about
    ``NAIVE_BYTES_PER_DOC`` per document scanned and does not give it back) — the newest indices that fit."""
    parts = sorted(((n, c) for n, c in sizes.items() if n.startswith(f"{PREFIX}-{kind}-")), reverse=True)
    total = sum(c for _, c in parts)
    fits = max(0, mem_available() - MEM_MARGIN) // NAIVE_BYTES_PER_DOC
    if total <= fits:
        return f"{PREFIX}-{kind}-*", f"whole pattern: {len(parts)} indices, {total:,} docs"
    chosen, docs = [], 0
    for name, count in parts:
        if chosen and docs + count > fits:
            break
        chosen.append(name)
        docs += count
    return ",".join(chosen), (f"NARROWED to the newest {len(chosen)} of {len(parts)} indices ({docs:,} of {total:,} "
                              f"docs): scanning all would need ~{total * NAIVE_BYTES_PER_DOC / 2**30:.1f} GiB more "
                              f"noida-db memory, {mem_available() / 2**30:.1f} GiB available")


def cursor_values(cursor: str) -> list[Any]:
    """The sort values inside an API cursor (urlsafe base64 of JSON, see flowwatch_api.paging)."""
    return list(json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))))


def run_queries(api: httpx.Client, es_http: httpx.Client, keys: dict[str, str], params: Params,
                picks: dict[str, str], sizes: dict[str, int], platform_processor: str, repeat: int,
                baseline_repeat: int, baseline_budget: float) -> tuple[list[Timing], dict[str, str]]:
    """Time every main query through the API; then, where it has one, its naive single-query equivalent
    straight to Elasticsearch (alerts first, findings last: the whole-pattern scans are the heaviest).
    Returns the timings and the scope of the naive queries per kind."""
    anchor = datetime.fromisoformat(params.anchor)
    now = datetime.now(UTC)
    to = max(anchor, now) + timedelta(seconds=1)
    last7 = anchor - timedelta(days=7)
    last30 = (anchor - timedelta(days=30)).replace(hour=0, minute=0, second=0, microsecond=0)
    year = (anchor - timedelta(days=365)).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    fsort, asort = sort_desc("occurred_at", "finding_id"), sort_desc("raised_at", "alert_id")
    is_open = open_now(now)
    t_iso = to.isoformat()

    def get(path: str, role: str = "admin", **query: Any) -> Callable[[], httpx.Response]:
        headers = {"Authorization": f"Bearer {keys[role]}"} if role != "none" else {}
        return lambda: api.get(path, params=query, headers=headers)

    # page 2 follows the cursor of page 1; the naive page 2 starts after the same sort values
    cursor, after = None, None
    with contextlib.suppress(Exception):
        cursor = get("/v1/findings")().json().get("next_cursor")
        after = cursor_values(cursor) if cursor else None
    inc = picks["incident"]
    Naive = tuple[str, dict[str, Any]] | None
    specs: list[tuple[str, str, Callable[[], httpx.Response], Naive]] = [
        ("findings newest first", "admin", get("/v1/findings"), ("findings", page_body([], fsort))),
        ("findings page 2 (cursor)", "admin",
         get("/v1/findings", cursor=cursor) if cursor else get("/v1/findings", cursor="missing-cursor"),
         ("findings", page_body([], fsort, after=after)) if after else None),
        ("findings, platform key", "platform", get("/v1/findings", "platform"),
         ("findings", page_body([{"term": {"processor_id": platform_processor}}], fsort))),
        ("findings entity_type=CN_RESIDENT_ID", "admin", get("/v1/findings", entity_type="CN_RESIDENT_ID"),
         ("findings", page_body([{"terms": {"entity_types": ["CN_RESIDENT_ID"]}}], fsort))),
        ("findings sensitive=true, last 7 days", "admin",
         get("/v1/findings", sensitive="true", **{"from": last7.isoformat(), "to": t_iso}),
         ("findings", page_body([{"term": {"sensitive": True}}, rng_range("occurred_at", last7, to)], fsort))),
        ("finding by id", "admin", get(f"/v1/findings/{picks['finding']}"), None),
        ("findings stats, 30 days by day", "admin",
         get("/v1/findings/stats", interval="day", **{"from": last30.isoformat(), "to": t_iso}),
         ("findings", findings_stats_body(last30, to))),
        ("alerts status=open (queue)", "admin", get("/v1/alerts", status="open"),
         ("alerts", page_body([is_open], asort))),
        ("alerts open, severity=critical", "admin", get("/v1/alerts", status="open", severity="critical"),
         ("alerts", page_body([{"terms": {"severity": ["critical"]}}, is_open], asort))),
        (f"alerts open, q={SEARCH_WORD}", "admin", get("/v1/alerts", status="open", q=SEARCH_WORD),
         ("alerts", page_body([is_open, {"simple_query_string": {
             "query": SEARCH_WORD, "fields": ALERT_TEXT_FIELDS, "default_operator": "and", "lenient": True}}],
             asort))),
        ("alert by id", "admin", get(f"/v1/alerts/{picks['alert']}"), None),
        ("alerts stats, 12 months", "admin", get("/v1/alerts/stats", **{"from": year.isoformat(), "to": t_iso}),
         ("alerts", alerts_stats_body(year, to, now))),
        ("incidents list", "admin", get("/v1/incidents"), None),
        # as the UI asks (an incident id is unique per processor): processor_id names the record
        ("incident by id", "admin", get(f"/v1/incidents/{inc}", processor_id=picks["incident_processor"]), None),
        ("incident by id, no processor_id", "admin", get(f"/v1/incidents/{inc}"), None),
        ("incident report", "regulator",
         get(f"/v1/incidents/{inc}/report", "regulator", processor_id=picks["incident_processor"]), None),
        ("export ledger list", "admin", get("/v1/exports/ledger"), None),
    ]  # fmt: skip
    out: list[Timing] = []
    floor = time_call("GET /healthz (HTTP floor)", "none", get("/healthz", "none"), repeat)
    log(f"  {floor.name}: p50 {floor.p50:.1f} ms, p95 {floor.p95:.1f} ms")
    out.append(floor)
    for name, role, call, _ in specs:
        t = time_call(name, role, call, repeat)
        log(f"  {name}: " + (t.problem or "") + (f" p50 {t.p50:.1f} ms, p95 {t.p95:.1f} ms, {t.result}"
                                                 if t.samples else ""))
        out.append(t)
    scopes: dict[str, str] = {}
    if baseline_repeat <= 0:
        return out, scopes
    log(f"naive baselines (at most {baseline_repeat} calls or {baseline_budget:.0f} s each, at least 3) …")
    indices: dict[str, str] = {}
    for kind in ("alerts", "findings"):
        for (name, _, _, naive), t in zip(specs, out[1:], strict=True):
            if naive is None or naive[0] != kind:
                continue
            if kind not in indices:
                indices[kind], scopes[kind] = naive_scope(sizes, kind)
                log(f"  {kind}: {scopes[kind]}")
            body = naive[1]
            t.naive = time_call("naive: " + name, "es",
                                lambda body=body, kind=kind: es_http.post(f"/{indices[kind]}/_search", json=body),
                                baseline_repeat, warmup=1, budget=baseline_budget)
            n = t.naive
            log(f"  {name}: " + (n.problem or "")
                + (f" p50 {n.p50:.1f} ms, p95 {n.p95:.1f} ms (n={len(n.samples)}), {n.result}" if n.samples else ""))
    return out, scopes


# ---------------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(OSError, IndexError):
        kb = int(Path("/proc/meminfo").read_text().split("\n")[0].split()[1])
        mem = f"{kb / 1024 / 1024:.1f} GiB"
    git = ""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "services"], cwd=ROOT, capture_output=True,
                               text=True, timeout=10).stdout.strip()
        git = head + (" + uncommitted changes under services/" if dirty else "")
    return {"cpus": os.cpu_count(), "cpus_usable": len(os.sched_getaffinity(0)), "cpu_model": model,
            "memory": mem, "python": platform.python_version(), "noida_db": version("noida-db"), "git": git}


def index_sizes(es_http: httpx.Client) -> dict[str, int]:
    """Documents per index of the bench prefix (``_count`` per index: noida-db's ``_cat/indices`` scans
    every document at once, which took it out of memory at 1.1 M documents)."""
    names = [i["name"] for i in es_http.get(f"/_resolve/index/{PREFIX}-*").json().get("indices", [])]
    return {n: int(es_http.get(f"/{n}/_count").json()["count"]) for n in sorted(names)}


def size_summary(sizes: dict[str, int]) -> list[str]:
    groups: dict[str, list[int]] = {}
    for name, n in sizes.items():
        kind = name.removeprefix(f"{PREFIX}-").split("-", 1)[0]
        groups.setdefault(kind, []).append(n)
    lines = []
    for kind, counts in sorted(groups.items()):
        extra = (f" in {len(counts)} indices (per index min {min(counts):,}, median {int(pct(counts, 50)):,}, "
                 f"max {max(counts):,})") if len(counts) > 1 else ""
        lines.append(f"{kind:<10} {sum(counts):>10,} docs{extra}")
    return lines


def fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f}"


def report(timings: list[Timing], scopes: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """Print the tables; return the summary line and the summary figures."""
    head = (f"{'query':<38} {'role':<9} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'1st ms':>8}  "
            f"{'result (items / total)':<24} {'p95<100':<8}")
    print("\n" + head)
    print("-" * len(head))
    passed, failed, missing, broken = [], [], [], []
    for t in timings:
        if t.samples and t.problem is None:
            verdict = "PASS" if t.p95 < TARGET_MS else "FAIL"
            (passed if verdict == "PASS" else failed).append(t.name)
            row = (f"{t.name:<38} {t.role:<9} {fmt(t.p50):>8} {fmt(t.p95):>8} {fmt(max(t.samples)):>8} "
                   f"{fmt(t.first_ms):>8}  {t.result[:24]:<24} {verdict}")
        else:
            verdict = "missing" if t.problem == "missing" else "ERROR"
            (missing if verdict == "missing" else broken).append(t.name)
            row = (f"{t.name:<38} {t.role:<9} {'':>8} {'':>8} {'':>8} {fmt(t.first_ms):>8}  "
                   f"{(t.problem or '')[:24]:<24} {verdict}")
            if verdict == "ERROR" and t.problem and len(t.problem) > 24:
                row += f"  ({t.problem})"
        print(row)
    base = [t for t in timings if t.naive is not None]
    if base:
        head2 = (f"{'baseline: naive single ES query':<38} {'n':>3} {'p50 ms':>9} {'p95 ms':>9} {'result':<16} "
                 f"{'API p50/naive':>13} {'API p95/naive':>13} {'speed-up p50':>12}")
        print("\n" + head2)
        print("-" * len(head2))
        for kind, scope in scopes.items():
            print(f"  naive {kind} queries search: {scope}")
        for t in base:
            n = t.naive
            assert n is not None
            if n.samples and n.problem is None:
                r50 = f"{t.p50 / n.p50:.3f}" if t.ok else "—"
                r95 = f"{t.p95 / n.p95:.3f}" if t.ok else "—"
                up = f"{n.p50 / t.p50:,.1f}×" if t.ok else "—"
                print(f"{t.name:<38} {len(n.samples):>3} {fmt(n.p50):>9} {fmt(n.p95):>9} {n.result[:16]:<16} "
                      f"{r50:>13} {r95:>13} {up:>12}")
            else:
                print(f"{t.name:<38} {'':>3} {'':>9} {'':>9} {(n.problem or '')[:60]}")
    timed = len(passed) + len(failed)
    line = (f"SUMMARY: {len(passed)}/{timed} timed queries meet p95 < {TARGET_MS:.0f} ms"
            + (f"; FAIL: {', '.join(failed)}" if failed else "")
            + (f"; missing endpoints: {', '.join(missing)}" if missing else "")
            + (f"; errors: {', '.join(broken)}" if broken else ""))
    return line, {"passed": passed, "failed": failed, "missing": missing, "errors": broken}


# ---------------------------------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds ``pid`` has used (``/proc/<pid>/stat``); 0 when unreadable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def wait_quiet(pid: int, timeout: float = 600, window: float = 5.0, quiet_windows: int = 3,
               busy: float = 0.05) -> float:
    """Wait until noida-db (``pid``) uses less than ``busy`` of a core in ``quiet_windows`` consecutive
    windows of ``window`` seconds (it may still be reading or saving its store). Returns the seconds waited
    (at most ``timeout``)."""
    start, quiet = time.monotonic(), 0
    while quiet < quiet_windows and time.monotonic() - start < timeout:
        before = cpu_seconds(pid)
        time.sleep(window)
        quiet = quiet + 1 if cpu_seconds(pid) - before < busy * window else 0
    return time.monotonic() - start


def start_api(es_url: str, bootstrap: str, workdir: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    """Start ``python -m flowwatch_api`` on a free port; return it, its base URL and its log file."""
    port = free_port()
    env = {**os.environ, "FLOWWATCH_ES_URL": es_url, "FLOWWATCH_ES_INDEX_PREFIX": PREFIX,
           "FLOWWATCH_KAFKA_BOOTSTRAP": bootstrap, "FLOWWATCH_API_HOST": "127.0.0.1",
           "FLOWWATCH_API_PORT": str(port), "FLOWWATCH_LOG_FORMAT": "text"}  # fmt: skip
    logfile = workdir / "api.log"
    fh = open(logfile, "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen([sys.executable, "-m", "flowwatch_api"], env=env, cwd=ROOT, stdout=fh,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    fh.close()
    return proc, f"http://127.0.0.1:{port}", logfile


def wait_ready(proc: subprocess.Popen[bytes], url: str, logfile: Path, timeout: float = 90) -> None:
    """Wait for ``/readyz`` to answer 200. Raises RuntimeError (with the log tail) otherwise."""
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the API exited ({proc.returncode}); log tail:\n"
                               + logfile.read_text(errors="replace")[-3000:])
        with contextlib.suppress(httpx.HTTPError):
            status = httpx.get(f"{url}/readyz", timeout=5).status_code
            if status == 200:
                return
        time.sleep(0.3)
    raise RuntimeError(f"the API was not ready after {timeout:.0f} s (last /readyz: {status}); log: {logfile}")


def pick_ids(es_http: httpx.Client, params: Params) -> dict[str, str]:
    """A finding from the middle of the period, an alert from months ago and an incident, to fetch by id."""
    anchor = datetime.fromisoformat(params.anchor)
    mid = anchor - timedelta(days=params.days / 2)
    finding = es_http.post(f"/{findings_index(PREFIX, mid)}/_search", json={"size": 1}).json()
    old = anchor - timedelta(days=30.4 * params.alert_months / 2)
    alert = es_http.post(f"/{alerts_index(PREFIX, old)}/_search", json={"size": 1}).json()
    incident = es_http.post(f"/{incidents_index(PREFIX)}/_search", json={"size": 1}).json()
    return {"finding": finding["hits"]["hits"][0]["_id"], "alert": alert["hits"]["hits"][0]["_id"],
            "incident": incident["hits"]["hits"][0]["_source"]["incident_id"],
            "incident_processor": incident["hits"]["hits"][0]["_source"]["processor_id"]}


def fit_memory(findings: int, alerts: int, days: int) -> tuple[int, int, str | None]:
    """``(findings, days, note)`` that noida-db can hold in the available memory: the requested ones, or
    fewer days at the same findings per day (what the API's latency depends on: it searches the newest
    hourly indices, and stats reuse the results of ended hours), with a note saying so."""
    need = (findings * NOIDA_BYTES_PER_FINDING + alerts * NOIDA_BYTES_PER_ALERT) * NOIDA_SPIKE + 2**30
    have = mem_available()
    if need <= have:
        return findings, days, None
    per_day = findings / days
    room = (have - 2**30) / NOIDA_SPIKE - alerts * NOIDA_BYTES_PER_ALERT
    fit_days = max(1, int(room / NOIDA_BYTES_PER_FINDING / per_day))
    fit = int(fit_days * per_day)
    return fit, fit_days, (
        f"SCALED DOWN: {findings:,} findings over {days} days would need ~{need / 2**30:.0f} GiB in noida-db "
        f"({NOIDA_BYTES_PER_FINDING // 1024} KiB per finding, {NOIDA_BYTES_PER_ALERT // 1024} KiB per alert, "
        f"x{NOIDA_SPIKE} while it saves), {have / 2**30:.1f} GiB available: running {fit:,} findings over "
        f"{fit_days} days instead, the same {per_day:,.0f} findings per day (--no-fit to insist)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--findings", type=int, default=1_000_000, help="findings to index (1,000,000)")
    parser.add_argument("--alerts", type=int, default=100_000, help="alerts to index (100,000)")
    parser.add_argument("--incidents", type=int, default=2_000, help="incident records to index (2,000)")
    parser.add_argument("--days", type=int, default=90, help="days the findings spread over (90)")
    parser.add_argument("--alert-months", type=int, default=12, help="months the alerts spread over (12)")
    parser.add_argument("--seed", type=int, default=20261121, help="random seed (20261121)")
    parser.add_argument("--repeat", type=int, default=50, help="timed requests per query (50)")
    parser.add_argument("--baseline-repeat", type=int, default=10,
                        help="timed naive ES queries per baseline (10; each scans every document); 0: none")
    parser.add_argument("--baseline-budget", type=float, default=60,
                        help="seconds per naive baseline: fewer calls (at least 3) when they are slower (60)")
    parser.add_argument("--no-fit", action="store_true",
                        help="load the requested findings even when noida-db would not fit in the available memory "
                             "(default: fewer days at the same findings per day, with a note)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 50,000 findings, 5,000 alerts, 200 incidents, 20 requests per query")
    parser.add_argument("--reuse", type=Path, metavar="DIR",
                        help="keep noida-db's data in DIR: load it on the first run, reuse it on later runs with "
                             "the same data parameters (default: a fresh temp folder, deleted at the end)")
    parser.add_argument("--streams", type=int, default=2, help="parallel bulk requests while loading (2)")
    parser.add_argument("--bulk-docs", type=int, default=1000, help="documents per bulk request (1,000)")
    parser.add_argument("--json", type=Path, default=RESULTS, help=f"results file ({RESULTS.relative_to(ROOT)})")
    args = parser.parse_args(argv)
    if args.quick:
        args.findings, args.alerts, args.incidents = 50_000, 5_000, 200
        args.repeat, args.baseline_repeat = min(args.repeat, 20), min(args.baseline_repeat, 5)
        args.baseline_budget = min(args.baseline_budget, 15)

    def on_term(*_: Any) -> None:
        log("terminated by SIGTERM: stopping the API and noida-db")
        sys.exit(143)  # runs the finally blocks

    signal.signal(signal.SIGTERM, on_term)

    if args.reuse:
        workdir = args.reuse.resolve()
        workdir.mkdir(parents=True, exist_ok=True)
    else:
        workdir = Path(tempfile.mkdtemp(prefix="fw-bench-api-"))
    meta_file = workdir / META
    requested = {"seed": args.seed, "findings": args.findings, "alerts": args.alerts, "incidents": args.incidents,
                 "days": args.days, "alert_months": args.alert_months}
    scaled: str | None = None
    reuse = False
    if meta_file.exists():
        stored = json.loads(meta_file.read_text())
        if stored.get("requested") != requested:
            log(f"{workdir} holds a data set of other parameters ({stored.get('requested')}); use another --reuse "
                "folder or delete that one")
            return 1
        params, scaled, reuse = Params(**stored["params"]), stored.get("scaled"), True
    else:
        if not args.no_fit:
            args.findings, args.days, scaled = fit_memory(args.findings, args.alerts, args.days)
            if scaled:
                log(scaled)
        params = Params(args.seed, args.findings, args.alerts, args.incidents, args.days, args.alert_months,
                        datetime.now(UTC).replace(microsecond=0).isoformat())

    engine: Engine | None = None
    api: subprocess.Popen[bytes] | None = None
    summary = ""
    try:
        log(f"starting noida-db in {workdir} …")
        engine = start_noida(workdir / "noida", timeout=1800.0)  # a 1 M-document snapshot loads in minutes
        assert engine.es_url is not None
        es = Elasticsearch(engine.es_url, request_timeout=600)
        es_http = httpx.Client(base_url=engine.es_url, timeout=600)
        # keys first: noida-db re-saves its whole store after a write, cheaper before the bulk load
        ensure_templates(es, PREFIX)
        keys = {"admin": create_key(es, PREFIX, "admin", name="bench-admin")[0],
                "soc_analyst": create_key(es, PREFIX, "soc_analyst", name="bench-soc")[0],
                "regulator": create_key(es, PREFIX, "regulator", name="bench-regulator")[0],
                "platform": create_key(es, PREFIX, "platform", processor_id=PROCESSORS[0][0], name="bench-platform")[0]}
        if reuse:
            loading: dict[str, Any] = json.loads(meta_file.read_text()).get("loading", {})
            log(f"reusing the data set loaded on {params.anchor} (seed {params.seed})")
        else:
            loading = load_all(engine.es_url, es, params, args.streams, args.bulk_docs)
            if args.reuse:
                meta_file.write_text(json.dumps({"params": vars(params), "requested": requested, "scaled": scaled,
                                                 "loading": loading}, indent=2))
            # Time queries on a freshly started noida-db holding the data set (as a --reuse run does): right
            # after a bulk load of 1 M documents the same queries measured ~3x slower (findings newest first
            # p50 75 ms against 23-30 ms after a restart), a state the service meets only while bulk loading
            log("restarting noida-db on the loaded data set (it saves its store on the way down) …")
            engine.stop(grace=600)
            engine = start_noida(workdir / "noida", timeout=1800.0)
            es = Elasticsearch(engine.es_url, request_timeout=600)
            es_http = httpx.Client(base_url=engine.es_url, timeout=600)
        sizes = index_sizes(es_http)
        expected = {"findings": params.findings, "alerts": params.alerts, "incidents": params.incidents}
        for kind, n in expected.items():
            got = sum(v for k, v in sizes.items() if k.startswith(f"{PREFIX}-{kind}"))
            if got != n:
                raise RuntimeError(f"{kind}: {got:,} documents indexed, expected {n:,}")

        picks = pick_ids(es_http, params)

        log("starting the API (python -m flowwatch_api) …")
        api, url, api_log = start_api(engine.es_url, engine.kafka_bootstrap, workdir)
        wait_ready(api, url, api_log)
        log("waiting for noida-db to be idle …")
        idle_wait = wait_quiet(engine.pid)
        log(f"noida-db idle after {idle_wait:.0f} s")
        log(f"API ready at {url}; timing {args.repeat} requests per query after {WARMUP} warm-ups "
            f"(naive baselines: {args.baseline_repeat} each) …")
        with httpx.Client(base_url=url, timeout=120) as client:
            load_before = os.getloadavg()
            timings, scopes = run_queries(client, es_http, keys, params, picks, sizes, PROCESSORS[0][0],
                                          args.repeat, args.baseline_repeat, args.baseline_budget)
            load_after = os.getloadavg()
        if not engine.alive():
            log("noida-db is gone (killed out of memory? see dmesg); figures after that point are errors")

        machine = machine_info()
        print(f"\nmachine: {machine['cpus']} cores ({machine['cpus_usable']} usable), {machine['cpu_model']}, "
              f"{machine['memory']} RAM; Python {machine['python']}; noida-db {machine['noida_db']}; "
              f"code: git {machine['git']}")
        print(f"data (prefix {PREFIX}, seed {params.seed}, newest document {params.anchor}):")
        for line in size_summary(sizes):
            print(f"  {line}")
        if loading.get("findings"):
            f, a = loading["findings"], loading["alerts"]
            print(f"  loading: findings {f['docs_per_s']:,} docs/s ({f['seconds']:,.0f} s, of which "
                  f"{f['generation_seconds']:,.0f} s generating), alerts {a['docs_per_s']:,} docs/s "
                  f"({a['seconds']:,.0f} s); refresh {loading.get('refresh_seconds', 0):.1f} s")
        print(f"requests: {args.repeat} sequential per query after {WARMUP} warm-ups, one keep-alive connection; "
              f"'1st ms' = the first (cold) call; target p95 < {TARGET_MS:.0f} ms")
        print(f"timed on a freshly started noida-db holding the data set, idle after {idle_wait:.0f} s")
        print(f"load average (1 min) before/after timing: {load_before[0]:.2f} / {load_after[0]:.2f} on "
              f"{machine['cpus']} cores" + ("  — WARNING: other processes competed for the CPU"
                                            if max(load_before[0], load_after[0]) > (machine["cpus"] or 1) else ""))
        if scaled:
            print(f"\n{scaled}")
        summary, figures = report(timings, scopes)
        if scaled:
            summary += f" [{params.findings:,} findings over {params.days} days, scaled down from " \
                       f"{requested['findings']:,} over {requested['days']}: noida-db memory]"
        print("\n" + summary)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "bench": "api_latency", "at": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine,
            "params": vars(params), "repeat": args.repeat, "baseline_repeat": args.baseline_repeat,
            "target_p95_ms": TARGET_MS, "index_sizes": sizes, "loading": loading,
            "load_average": {"before": load_before, "after": load_after}, "noida_idle_wait_s": round(idle_wait, 1),
            "queries": [t.as_dict() for t in timings], "naive_scope": scopes, "requested": requested,
            "scaled": scaled, "summary": summary, **figures,
        }, indent=2, ensure_ascii=False))
        log(f"results in {args.json}")
        return 0
    except (RuntimeError, httpx.HTTPError, OSError) as exc:
        log(f"ERROR: {exc}")
        return 1
    finally:
        if api is not None:
            stop_process_group(api.pid, grace=10)
        if engine is not None:
            engine.stop()
        if not args.reuse:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
