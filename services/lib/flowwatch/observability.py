"""Logging and metrics plumbing shared by the Flowwatch services.

* JSON logs (``FLOWWATCH_LOG_FORMAT=json``, the default of the services; ``text`` for humans): one JSON object
  per line with ``ts`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, ``service`` and every field passed
  with ``extra=`` — ``event_id`` (the correlation id of a flow event through the pipeline), ``processor_id``,
  ``reason`` … A ``fields`` dict in ``extra`` is merged into the object (the loop monitor's reports).
* Prometheus: ``metrics_port()`` reads ``FLOWWATCH_METRICS_PORT`` (unset: no metrics server);
  ``start_metrics_server`` serves ``/metrics`` and, with a ``Readiness``, ``/readyz`` on that port.
* ``Readiness``: the times of the last successful dependency checks; ready while every one is recent.
* ``KafkaCheck``: a cached broker metadata call (readiness of the API).
* ``flowwatch_build_info`` (``set_build_info``; every service) and ``ComplianceGauges``: open alerts and overdue
  obligations counted in Elasticsearch at scrape time (the API's ``/metrics``).
"""

from __future__ import annotations

import json
import logging
import os
import platform
import sys
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from wsgiref.simple_server import make_server

from prometheus_client import REGISTRY, CollectorRegistry, Gauge, Info, make_wsgi_app
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import ThreadingWSGIServer, _SilentHandler
from prometheus_client.registry import Collector

from flowwatch.settings import KafkaSettings

LOG_FORMAT_ENV = "FLOWWATCH_LOG_FORMAT"
METRICS_PORT_ENV = "FLOWWATCH_METRICS_PORT"

_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "color_message",  # uvicorn adds an ANSI-coloured copy of the message
}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, message, service, and the record's ``extra`` fields."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "service": self.service,
        }
        for key, value in vars(record).items():
            if key in _STANDARD_ATTRS or key.startswith("_") or key in out:
                continue
            if key == "fields" and isinstance(value, dict):
                out.update({k: v for k, v in value.items() if k not in out})
            else:
                out[key] = value
        if record.exc_info:
            out["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(out, default=str, ensure_ascii=False)


def log_format() -> str:
    """``json`` (default) or ``text``, from ``FLOWWATCH_LOG_FORMAT``."""
    value = os.environ.get(LOG_FORMAT_ENV, "json").strip().lower()
    return "text" if value == "text" else "json"


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def make_formatter(service: str) -> logging.Formatter:
    """The formatter ``FLOWWATCH_LOG_FORMAT`` asks for."""
    return JsonFormatter(service) if log_format() == "json" else logging.Formatter(TEXT_FORMAT)


def setup_logging(service: str, level: int = logging.INFO) -> None:
    """Root logger → stderr in the ``FLOWWATCH_LOG_FORMAT`` format (replaces existing root handlers)."""
    handler = logging.StreamHandler()
    handler.setFormatter(make_formatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def logging_config(service: str, level: str = "INFO") -> dict[str, Any] | None:
    """A ``logging.config.dictConfig`` dict for JSON logs (Faust's ``logging_config``); None for text logs."""
    if log_format() != "json":
        return None
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter, "service": service}},
        "handlers": {"default": {"class": "logging.StreamHandler", "formatter": "json"}},
        "root": {"handlers": ["default"], "level": level},
    }


def uvicorn_log_config(service: str) -> dict[str, Any] | None:
    """uvicorn's ``log_config`` for JSON logs (its own and the access log go through ``JsonFormatter``)."""
    config = logging_config(service)
    if config is None:
        return None
    config["loggers"] = {name: {"handlers": ["default"], "level": "INFO", "propagate": False}
                         for name in ("uvicorn", "uvicorn.error", "uvicorn.access")}
    return config


# ------------------------------------------------------------------------------------------------ readiness


class Readiness:
    """Dependency checks by name → time of the last success; ready while each succeeded within ``max_age`` s."""

    def __init__(self, names: Iterable[str], max_age: float = 30.0, clock: Callable[[], float] = time.monotonic):
        self.max_age = max_age
        self._clock = clock
        self._last: dict[str, tuple[bool, float] | None] = dict.fromkeys(names)
        self._lock = threading.Lock()

    def mark(self, name: str, ok: bool) -> None:
        """Record one check of ``name``; a failure makes the service not ready at once."""
        with self._lock:
            self._last[name] = (ok, self._clock())

    def status(self) -> tuple[bool, dict[str, str]]:
        """(ready, ``{name: "ok" | "down" | "stale" | "unknown"}``); stale: no check for ``max_age`` s."""
        now = self._clock()
        with self._lock:
            states = {
                name: "unknown" if last is None else "down" if not last[0]
                else "stale" if now - last[1] > self.max_age else "ok"
                for name, last in self._last.items()
            }
        return all(s == "ok" for s in states.values()), states


# ------------------------------------------------------------------------------------------------ metrics

CONSUMER_LAG = Gauge("flowwatch_consumer_lag", "Messages not yet committed: high watermark − committed offset.",
                     ["topic", "partition"])
"""Shared by the detector and the indexer (one metric name, told apart by the scrape's job/pod labels)."""


def set_consumer_lag(lags: dict[tuple[str, int], int]) -> None:
    """Set ``flowwatch_consumer_lag`` to ``lags`` ((topic, partition) → messages); drop partitions not in it."""
    for (topic, partition), lag in lags.items():
        CONSUMER_LAG.labels(topic=topic, partition=str(partition)).set(lag)
    for metric in CONSUMER_LAG.collect():
        for sample in metric.samples:
            name, number = sample.labels["topic"], sample.labels["partition"]
            if (name, int(number)) not in lags:
                CONSUMER_LAG.remove(name, number)


def metrics_port() -> int | None:
    """``FLOWWATCH_METRICS_PORT`` as an int; None when unset or empty (no metrics server)."""
    value = os.environ.get(METRICS_PORT_ENV, "").strip()
    if not value:
        return None
    port = int(value)
    if not 0 <= port <= 65535:
        raise ValueError(f"{METRICS_PORT_ENV}={value} is not a port")
    return port


def metrics_app(readiness: Readiness | None = None, registry: CollectorRegistry = REGISTRY) -> Callable[..., Any]:
    """WSGI app: ``/readyz`` (200/503 JSON) when ``readiness`` is given, Prometheus text everywhere else."""
    prometheus = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if readiness is not None and environ.get("PATH_INFO") == "/readyz":
            ok, checks = readiness.status()
            body = json.dumps({"status": "ready" if ok else "unavailable", "checks": checks}).encode()
            start_response("200 OK" if ok else "503 Service Unavailable",
                           [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        result: Iterable[bytes] = prometheus(environ, start_response)
        return result

    return app


def start_metrics_server(port: int, addr: str = "0.0.0.0", readiness: Readiness | None = None,
                         registry: CollectorRegistry = REGISTRY) -> tuple[Any, threading.Thread]:
    """Serve ``metrics_app`` on ``addr:port`` in a daemon thread; returns (server, thread). Port 0 = any free."""
    set_build_info(service_name())
    server = make_server(addr, port, metrics_app(readiness, registry), ThreadingWSGIServer,
                         handler_class=_SilentHandler)
    thread = threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True)
    thread.start()
    return server, thread


class KafkaCheck:
    """Is a broker reachable? A metadata request (``list_topics``) with a short timeout, cached ``ttl`` seconds."""

    def __init__(self, bootstrap: str | KafkaSettings, timeout: float = 1.5, ttl: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.bootstrap = bootstrap
        self.timeout = timeout
        self.ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: tuple[float, bool, str] | None = None

    def _probe(self) -> tuple[bool, str]:
        """A metadata request with the security settings; the detail of a failure names the setting to fix
        (``flowwatch.kafka_client.check_kafka``: refused credentials and TLS are told apart from no answer)."""
        from flowwatch.kafka_client import KafkaConfigError, check_kafka, kafka_settings

        try:
            check_kafka(kafka_settings(self.bootstrap), timeout=self.timeout)
        except KafkaConfigError as exc:
            return False, str(exc)
        return True, "ok"

    def check(self) -> tuple[bool, str]:
        """(reachable, detail); answered from the cache for ``ttl`` seconds after a probe."""
        with self._lock:
            now = self._clock()
            if self._cached is not None and now - self._cached[0] < self.ttl:
                return self._cached[1], self._cached[2]
            ok, detail = self._probe()
            self._cached = (self._clock(), ok, detail)
            return ok, detail


# ------------------------------------------------------------------------------------------------ build, compliance

BUILD_INFO = Info("flowwatch_build", "Flowwatch build: version, service and Python version (value always 1).")


def service_name() -> str:
    """``detector``, ``indexer``, ``api`` … from the package run as ``python -m flowwatch_<service>``; else
    ``flowwatch``."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    package = (getattr(spec, "name", "") or "").split(".")[0]
    return package.removeprefix("flowwatch_") if package.startswith("flowwatch_") else "flowwatch"


def set_build_info(service: str) -> None:
    """Set ``flowwatch_build_info{version, service, python}`` of this process."""
    from flowwatch import __version__

    BUILD_INFO.info({"version": __version__, "service": service, "python": platform.python_version()})


class ComplianceGauges(Collector):
    """Gauges counted in Elasticsearch when Prometheus scrapes (the API registers it; cached ``ttl`` seconds):

    - ``flowwatch_open_alerts{severity}``: alerts whose ``status`` is ``open``;
    - ``flowwatch_overdue_obligations{obligation}``: incident obligations past due and not done or waived
      (``pending`` with ``due_at`` <= now, or ``overdue``), by obligation id (a bounded set: the rule packs');
    - ``flowwatch_compliance_gauges_up``: 1 when the last count succeeded (the other two keep their last values
      while Elasticsearch is down, so an alert on them does not flap).

    Legal deadlines behind the obligations: PIPL Art. 57, CSL Art. 25, the draft Network Data Security Regulations
    Art. 11 (docs/detection.md). Until :meth:`attach` gives it a client, it yields nothing but ``up`` 0.
    """

    def __init__(self, ttl: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._es: Any = None
        self._prefix = "flowwatch"
        self._lock = threading.Lock()
        self._at = float("-inf")
        self._alerts: dict[str, int] = {}
        self._overdue: dict[str, int] = {}
        self._up = 0
        self._registered = False

    def attach(self, es: Any, prefix: str, registry: CollectorRegistry | None = None) -> None:
        """Count in ``es`` under index prefix ``prefix`` from now on; the first call with a ``registry``
        registers the collector there (the API passes the default one: only the API exposes these gauges)."""
        with self._lock:
            self._es, self._prefix, self._at = es, prefix, float("-inf")
        if registry is not None and not self._registered:
            registry.register(self)
            self._registered = True

    def describe(self) -> list[Any]:
        """Metric families without samples (registration does not query Elasticsearch)."""
        return self._families()

    def collect(self) -> Iterable[Any]:
        """Count (at most every ``ttl`` seconds) and yield the three gauges."""
        with self._lock:
            if self._es is not None and self._clock() - self._at >= self.ttl:
                self._refresh()
            alerts, overdue, up = self._families()
            for severity, n in sorted(self._alerts.items()):
                alerts.add_metric([severity], n)
            for obligation, n in sorted(self._overdue.items()):
                overdue.add_metric([obligation], n)
            up.add_metric([], self._up)
        return [alerts, overdue, up]

    @staticmethod
    def _families() -> list[Any]:
        return [GaugeMetricFamily("flowwatch_open_alerts", "Alerts with status open, by severity.",
                                  labels=["severity"]),
                GaugeMetricFamily("flowwatch_overdue_obligations",
                                  "Incident obligations past their legal deadline and not done, by obligation.",
                                  labels=["obligation"]),
                GaugeMetricFamily("flowwatch_compliance_gauges_up",
                                  "1 when the last count of open alerts and overdue obligations succeeded.")]

    def _refresh(self) -> None:
        from flowwatch.es_indices import alerts_pattern, incidents_index

        self._at = self._clock()
        # a scrape must not hang on a slow cluster: short timeout, no retries (the next scrape tries again)
        es = self._es.options(request_timeout=5, max_retries=0) if hasattr(self._es, "options") else self._es
        try:
            answer = es.search(index=alerts_pattern(self._prefix), size=0, ignore_unavailable=True,
                                     allow_no_indices=True, query={"term": {"status": "open"}},
                                     aggs={"by": {"terms": {"field": "severity", "size": 20}}})
            alerts = {b["key"]: int(b["doc_count"]) for b in answer["aggregations"]["by"]["buckets"]} \
                if "aggregations" in answer else {}
            past_due = {"bool": {"should": [
                {"term": {"obligations.status": "overdue"}},
                {"bool": {"filter": [{"term": {"obligations.status": "pending"}},
                                     {"range": {"obligations.due_at": {"lte": "now"}}}]}}],
                "minimum_should_match": 1}}
            answer = es.search(index=incidents_index(self._prefix), size=0, ignore_unavailable=True,
                                     allow_no_indices=True, aggs={"ob": {"nested": {"path": "obligations"}, "aggs": {
                                         "due": {"filter": past_due, "aggs": {
                                             "by": {"terms": {"field": "obligations.id", "size": 100}}}}}}})
            overdue = {b["key"]: int(b["doc_count"]) for b in answer["aggregations"]["ob"]["due"]["by"]["buckets"]} \
                if "aggregations" in answer else {}
        except Exception as exc:  # Elasticsearch down or refusing: keep the last counts, report up 0
            logging.getLogger("flowwatch.observability").warning("compliance gauges not counted: %s", exc)
            self._up = 0
            return
        self._alerts = alerts
        self._overdue = {**dict.fromkeys(self._overdue, 0), **overdue}  # a count that fell to 0 is reported as 0
        self._alerts = {**dict.fromkeys(self._alerts, 0), **alerts}
        self._up = 1


COMPLIANCE_GAUGES = ComplianceGauges()
"""The API's collector: ``create_app`` attaches its client and registers it on the default registry."""
