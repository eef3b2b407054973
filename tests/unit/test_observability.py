"""Observability: JSON logs with the event id as correlation id, Prometheus metrics of the detector, the indexer
and the API, and readiness (the API's /readyz names the dependency that is down; the indexer's /readyz)."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from faust.types import TP
from prometheus_client import REGISTRY

from flowwatch.observability import (
    JsonFormatter,
    KafkaCheck,
    Readiness,
    logging_config,
    metrics_port,
    start_metrics_server,
)
from flowwatch.settings import ApiSettings, IndexerSettings
from flowwatch_api.app import create_app
from flowwatch_detector import metrics as detector_metrics
from flowwatch_detector.loopmon import LoopMonitor
from flowwatch_detector.processing import RawEvent, process_batch
from flowwatch_indexer import metrics as indexer_metrics
from flowwatch_indexer.documents import alert_action
from flowwatch_indexer.worker import Indexer
from flowwatch_tools.engines import free_port


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# ------------------------------------------------------------------------------------------------ logs


def test_json_formatter_carries_event_id_and_extras() -> None:
    record = logging.LogRecord("flowwatch.detector", logging.INFO, __file__, 1, "dead letter %s", ("x",), None)
    record.event_id = "evt-1"
    record.processor_id = "acme"
    record.reason = "schema_violation"
    doc = json.loads(JsonFormatter("detector").format(record))
    assert doc["message"] == "dead letter x" and doc["level"] == "INFO" and doc["logger"] == "flowwatch.detector"
    assert doc["service"] == "detector" and doc["ts"].endswith("+00:00")
    assert doc["event_id"] == "evt-1" and doc["processor_id"] == "acme" and doc["reason"] == "schema_violation"
    assert "args" not in doc and "msg" not in doc


def test_json_formatter_merges_fields_and_keeps_exceptions() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, __import__("sys").exc_info())
    record.fields = {"event": "loop_stats", "loop_lag_p99": 0.01}
    line = JsonFormatter("detector").format(record)
    doc = json.loads(line)
    assert doc["event"] == "loop_stats" and doc["loop_lag_p99"] == 0.01 and "ValueError: boom" in doc["exc_info"]
    assert '"event": "loop_stats"' in line  # what the loop-lag integration test greps in the detector's log


def test_log_format_and_metrics_port_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLOWWATCH_LOG_FORMAT", raising=False)
    config = logging_config("detector")
    assert config is not None and config["formatters"]["json"]["service"] == "detector"
    monkeypatch.setenv("FLOWWATCH_LOG_FORMAT", "text")
    assert logging_config("detector") is None
    monkeypatch.delenv("FLOWWATCH_METRICS_PORT", raising=False)
    assert metrics_port() is None
    monkeypatch.setenv("FLOWWATCH_METRICS_PORT", "9101")
    assert metrics_port() == 9101


def test_dead_letter_outcome_carries_the_event_id() -> None:
    raw = RawEvent("flow-events", 0, 7, b"acme", b'{"event_id": "evt-9", "processor": {"id": "acme"}}')
    (out,) = process_batch([raw], "flow-events-dlq")
    assert out.reason == "schema_violation" and out.event_id == "evt-9" and out.processor_id == "acme"


# ------------------------------------------------------------------------------------------------ detector


def test_detector_alert_and_loop_lag_metrics() -> None:
    before = value("flowwatch_alerts_total", type="export_threshold", severity="high")
    detector_metrics.observe_alert(SimpleNamespace(type="export_threshold", severity=SimpleNamespace(value="high")))
    assert value("flowwatch_alerts_total", type="export_threshold", severity="high") == before + 1
    count = value("flowwatch_loop_lag_seconds_count", loop="main")
    monitor = LoopMonitor(probe_interval=0.1, report_interval=1.0, sample_sink=detector_metrics.observe_loop_lag)
    for lag in (0.001, 0.002, 0.2):
        monitor.main.ring.add(lag)
    monitor.report()
    assert value("flowwatch_loop_lag_seconds_count", loop="main") == count + 3


class FakeFaustConsumer:
    def __init__(self, assigned: dict[Any, tuple[int, int | None]]) -> None:
        self.assigned = assigned
        self._committed_offset = {tp: committed for tp, (_high, committed) in assigned.items()}

    def assignment(self) -> set[Any]:
        return set(self.assigned)

    def highwater(self, tp: Any) -> int:
        return self.assigned[tp][0]


def test_detector_consumer_lag_per_partition() -> None:
    tp0, tp1, tp2 = (TP("t-lag", p) for p in range(3))
    lags = detector_metrics.update_consumer_lag(FakeFaustConsumer({tp0: (120, 100), tp1: (5, 5), tp2: (9, None)}))
    assert lags == {("t-lag", 0): 20, ("t-lag", 1): 0}
    assert value("flowwatch_consumer_lag", topic="t-lag", partition="0") == 20
    detector_metrics.update_consumer_lag(FakeFaustConsumer({tp1: (8, 5)}))  # partition 0 revoked
    assert REGISTRY.get_sample_value("flowwatch_consumer_lag", {"topic": "t-lag", "partition": "0"}) is None
    assert value("flowwatch_consumer_lag", topic="t-lag", partition="1") == 3


def test_detector_app_is_instrumented() -> None:
    from flowwatch_detector import app as detector_app

    assert detector_app.monitor is None or detector_app.monitor.sample_sink is detector_metrics.observe_loop_lag
    for name in ("flowwatch_events_in_total", "flowwatch_findings_out_total", "flowwatch_dead_letters_total",
                 "flowwatch_detection_seconds", "flowwatch_alerts_total", "flowwatch_consumer_lag"):
        assert name.removesuffix("_total") in REGISTRY._names_to_collectors


# ------------------------------------------------------------------------------------------------ indexer


class FakeEs:
    def __init__(self, responses: list[Any]) -> None:
        self.responses = responses

    def bulk(self, operations: bytes, refresh: bool) -> Any:
        response = self.responses.pop(0)
        if isinstance(response, Exception):
            raise response
        return response


@pytest.fixture
def indexer() -> Iterator[Indexer]:
    idx = Indexer(IndexerSettings(kafka_bootstrap="127.0.0.1:9", es_url="http://127.0.0.1:9", es_index_prefix="fw"))
    idx.consumer.close()
    yield idx


def test_indexer_counts_documents_by_kind_and_retries(indexer: Indexer, monkeypatch: pytest.MonkeyPatch) -> None:
    from elastic_transport import ConnectionError as EsConnectionError

    monkeypatch.setattr("flowwatch_indexer.worker.time.sleep", lambda _s: None)
    docs = value("flowwatch_indexer_documents_total", kind="alerts")
    retries = value("flowwatch_indexer_bulk_retries_total")
    unavailable = value("flowwatch_indexer_bulk_failures_total", reason="unavailable")
    bulks = value("flowwatch_indexer_bulk_seconds_count")
    indexer.es = FakeEs([EsConnectionError("down"), {"items": [{"index": {"_id": "a", "status": 201}}]}])  # type: ignore[assignment]
    alert = {"alert_id": "a", "raised_at": "2026-11-01T00:00:00Z", "title": "t", "message": "m", "severity": "high"}
    indexer._bulk_with_retry([alert_action("fw", orjson.dumps(alert))])
    assert value("flowwatch_indexer_documents_total", kind="alerts") == docs + 1
    assert value("flowwatch_indexer_bulk_retries_total") == retries + 1
    assert value("flowwatch_indexer_bulk_failures_total", reason="unavailable") == unavailable + 1
    assert value("flowwatch_indexer_bulk_seconds_count") == bulks + 2  # every attempt, the failed one too
    assert value("flowwatch_elasticsearch_up") == 1.0
    assert indexer.readiness.status()[1]["elasticsearch"] == "ok"


def test_indexer_kind_of_index_names() -> None:
    assert indexer_metrics.kind_of("fw", "fw-findings-2025.06") == "findings"
    assert indexer_metrics.kind_of("fw", "fw-deadletters") == "deadletters"


class FakeKafkaConsumer:
    def assignment(self) -> list[Any]:
        return [SimpleNamespace(topic="ix-lag", partition=0, offset=-1001)]

    def committed(self, tps: list[Any], timeout: float) -> list[Any]:
        return [SimpleNamespace(topic="ix-lag", partition=0, offset=40), SimpleNamespace(topic="ix-lag", partition=1,
                                                                                          offset=-1001)]

    def get_watermark_offsets(self, tp: Any, timeout: float, cached: bool) -> tuple[int, int]:
        return (10, 50)


def test_indexer_consumer_lag() -> None:
    lags = indexer_metrics.update_consumer_lag(FakeKafkaConsumer())
    assert lags == {("ix-lag", 0): 10, ("ix-lag", 1): 40}  # no committed offset: from the low watermark
    assert value("flowwatch_consumer_lag", topic="ix-lag", partition="0") == 10


def test_readiness_and_metrics_server() -> None:
    now = [100.0]
    readiness = Readiness(("kafka", "elasticsearch"), max_age=30, clock=lambda: now[0])
    assert readiness.status() == (False, {"kafka": "unknown", "elasticsearch": "unknown"})
    readiness.mark("kafka", True)
    readiness.mark("elasticsearch", True)
    assert readiness.status()[0]
    server, _thread = start_metrics_server(0, addr="127.0.0.1", readiness=readiness)
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        with urllib.request.urlopen(base + "/readyz", timeout=5) as resp:
            assert resp.status == 200 and json.loads(resp.read())["status"] == "ready"
        with urllib.request.urlopen(base + "/metrics", timeout=5) as resp:
            assert b"flowwatch_indexer_bulk_seconds" in resp.read()
        now[0] += 31  # no check for longer than max_age
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(base + "/readyz", timeout=5)
        assert err.value.code == 503 and json.loads(err.value.read())["checks"]["kafka"] == "stale"
    finally:
        server.shutdown()
        server.server_close()


# ------------------------------------------------------------------------------------------------ API


@pytest.fixture
def api() -> Iterator[TestClient]:
    app = create_app(ApiSettings(es_url=f"http://127.0.0.1:{free_port()}",
                                 kafka_bootstrap=f"127.0.0.1:{free_port()}"))
    with TestClient(app) as client:
        yield client


def test_api_metrics_count_requests_by_route(api: TestClient) -> None:
    before = value("flowwatch_api_requests_total", method="GET", route="/healthz", status="200")
    assert api.get("/healthz").status_code == 200
    resp = api.get("/metrics")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    assert 'flowwatch_api_requests_total{method="GET",route="/healthz",status="200"}' in resp.text
    assert value("flowwatch_api_requests_total", method="GET", route="/healthz", status="200") == before + 1
    api.get("/no/such/path")
    assert value("flowwatch_api_requests_total", method="GET", route="<unmatched>", status="404") >= 1


def test_api_readyz_names_the_kafka_broker_when_it_is_down(api: TestClient) -> None:
    api.app.state.es.ping = lambda: True  # type: ignore[attr-defined]
    api.app.state.es.options = lambda **_kw: api.app.state.es  # type: ignore[attr-defined]
    resp = api.get("/readyz")
    assert resp.status_code == 503 and resp.headers["Retry-After"]
    body = resp.json()
    assert body["checks"] == {"elasticsearch": "ok", "kafka": "down"} and "kafka" in body["detail"]


def test_api_readyz_when_both_answer(api: TestClient) -> None:
    api.app.state.es.ping = lambda: True  # type: ignore[attr-defined]
    api.app.state.es.options = lambda **_kw: api.app.state.es  # type: ignore[attr-defined]
    api.app.state.kafka_check = SimpleNamespace(check=lambda: (True, "ok"))  # type: ignore[attr-defined]
    resp = api.get("/readyz")
    assert resp.status_code == 200 and resp.json()["checks"] == {"elasticsearch": "ok", "kafka": "ok"}


def test_kafka_check_is_cached() -> None:
    now = [0.0]
    check = KafkaCheck(f"127.0.0.1:{free_port()}", timeout=0.5, ttl=5.0, clock=lambda: now[0])
    calls: list[int] = []
    check._probe = lambda: (calls.append(1), (False, "down"))[1]  # type: ignore[method-assign]
    assert check.check() == (False, "down") and check.check() == (False, "down") and len(calls) == 1
    now[0] = 6.0
    check.check()
    assert len(calls) == 2


# ---------------------------------------------------------------------------------------------------- build, compliance


def test_build_info_names_version_service_and_python() -> None:
    import platform

    from prometheus_client import REGISTRY, generate_latest

    from flowwatch import __version__
    from flowwatch.observability import service_name, set_build_info

    assert service_name() == "flowwatch"  # pytest is not `python -m flowwatch_<service>`
    set_build_info("indexer")
    text = generate_latest(REGISTRY).decode()
    assert (f'flowwatch_build_info{{python="{platform.python_version()}",service="indexer",version="{__version__}"}} '
            "1.0") in text


class CountingEs:
    """Answers the two searches of ComplianceGauges; counts the calls (the real searches: test_secure_es.py)."""

    def __init__(self) -> None:
        self.calls = 0
        self.fail = False

    def search(self, index: str, **kw: object) -> dict:
        self.calls += 1
        if self.fail:
            raise ConnectionError("down")
        if "alerts" in index:
            assert kw["query"] == {"term": {"status": "open"}}
            return {"aggregations": {"by": {"buckets": [{"key": "critical", "doc_count": 3}]}}}
        return {"aggregations": {"ob": {"due": {"by": {"buckets": [{"key": "regulator_report", "doc_count": 2}]}}}}}


def test_compliance_gauges_are_cached_and_keep_their_values_while_es_is_down() -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from flowwatch.observability import ComplianceGauges

    now = [100.0]
    gauges = ComplianceGauges(ttl=30, clock=lambda: now[0])
    registry = CollectorRegistry()
    registry.register(gauges)
    assert "flowwatch_compliance_gauges_up 0.0" in generate_latest(registry).decode()  # nothing attached yet
    es = CountingEs()
    gauges.attach(es, "fw")
    text = generate_latest(registry).decode()
    assert 'flowwatch_open_alerts{severity="critical"} 3.0' in text and es.calls == 2
    assert 'flowwatch_overdue_obligations{obligation="regulator_report"} 2.0' in text
    generate_latest(registry)
    assert es.calls == 2  # within the ttl: answered from the cache
    now[0] += 31
    es.fail = True
    text = generate_latest(registry).decode()
    assert "flowwatch_compliance_gauges_up 0.0" in text and 'severity="critical"} 3.0' in text


def test_the_api_exposes_build_info_and_the_compliance_gauges() -> None:
    from fastapi.testclient import TestClient

    from flowwatch.settings import ApiSettings
    from flowwatch_api.app import create_app
    from flowwatch_tools.engines import free_port

    settings = ApiSettings(es_url=f"http://127.0.0.1:{free_port()}", kafka_bootstrap=f"127.0.0.1:{free_port()}")
    with TestClient(create_app(settings)) as client:
        text = client.get("/metrics").text
    assert 'service="api"' in text and "flowwatch_build_info" in text
    assert "flowwatch_compliance_gauges_up 0.0" in text  # Elasticsearch is not there: counted as down
