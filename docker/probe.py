"""Health probes of the Flowwatch images (Docker HEALTHCHECK and Kubernetes exec probes). Standard library only.

    python /opt/flowwatch/probe.py detector   the worker's event loop is alive: its loop monitor appended a report
                                              to FLOWWATCH_LOOP_STATS_FILE within --max-age seconds (default
                                              3 x FLOWWATCH_LOOP_STATS_INTERVAL + 5); the file is truncated when it
                                              grows past --truncate-above bytes (the monitor appends forever)
    python /opt/flowwatch/probe.py http URL   GET URL answers 2xx (the API's /healthz and /readyz)
    python /opt/flowwatch/probe.py api        GET http://127.0.0.1:$FLOWWATCH_API_PORT/healthz answers 2xx
    python /opt/flowwatch/probe.py reachable  TCP connect to a FLOWWATCH_KAFKA_BOOTSTRAP server and to FLOWWATCH_ES_URL
    python /opt/flowwatch/probe.py alive MOD  a process whose command line names MOD runs and is not a zombie or
                                              stopped (the indexer has no health endpoint: this is all it offers)

Exit 0 = healthy, 1 = unhealthy (with the reason on stderr).
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit


def _unhealthy(reason: str) -> int:
    sys.stderr.write(f"unhealthy: {reason}\n")
    return 1


def detector(max_age: float | None, truncate_above: int) -> int:
    """The loop monitor's stats file was appended to recently (the event loop runs its timers)."""
    template = os.environ.get("FLOWWATCH_LOOP_STATS_FILE")
    if not template:
        return _unhealthy("FLOWWATCH_LOOP_STATS_FILE is not set (the probe reads the loop monitor's reports)")
    if float(os.environ.get("FLOWWATCH_LOOP_PROBE_INTERVAL", "0.1")) <= 0:
        return _unhealthy("FLOWWATCH_LOOP_PROBE_INTERVAL=0 turns the loop monitor off")
    path = Path(template.replace("{instance}", os.environ.get("FLOWWATCH_INSTANCE_ID", "")))
    if max_age is None:
        max_age = 3 * float(os.environ.get("FLOWWATCH_LOOP_STATS_INTERVAL", "10")) + 5
    try:
        stat = path.stat()
    except FileNotFoundError:
        return _unhealthy(f"no loop report yet in {path}")
    age = time.time() - stat.st_mtime
    if age > max_age:
        return _unhealthy(f"last loop report {age:.0f}s ago (limit {max_age:.0f}s): the event loop is stuck")
    if stat.st_size > truncate_above:
        os.truncate(path, 0)  # the monitor opens the file in append mode for every report
    return 0


def http(url: str, timeout: float) -> int:
    """GET ``url`` answers 2xx."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            status = int(resp.status)
    except urllib.error.HTTPError as exc:
        return _unhealthy(f"GET {url}: {exc.code}")
    except (OSError, ValueError) as exc:
        return _unhealthy(f"GET {url}: {exc}")
    return 0 if 200 <= status < 300 else _unhealthy(f"GET {url}: {status}")


def _connect(host: str, port: int, timeout: float) -> str | None:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return f"{host}:{port}: {exc}"


def reachable(timeout: float) -> int:
    """A Kafka bootstrap server and Elasticsearch accept TCP connections."""
    errors = []
    servers = [s.strip() for s in os.environ.get("FLOWWATCH_KAFKA_BOOTSTRAP", "127.0.0.1:9092").split(",") if s]
    kafka = [_connect(*_host_port(s, 9092), timeout) for s in servers]
    if all(kafka):
        errors.append("Kafka: " + "; ".join(e for e in kafka if e))
    es = urlsplit(os.environ.get("FLOWWATCH_ES_URL", "http://127.0.0.1:9200"))
    es_port = es.port or (443 if es.scheme == "https" else 9200)
    es_error = _connect(es.hostname or "127.0.0.1", es_port, timeout)
    if es_error:
        errors.append(f"Elasticsearch: {es_error}")
    return _unhealthy(", ".join(errors)) if errors else 0


def _host_port(server: str, default_port: int) -> tuple[str, int]:
    host, _, port = server.rpartition(":")
    return (host.strip("[]"), int(port)) if host else (server, default_port)


def alive(module: str) -> int:
    """A process whose command line names ``module`` runs (state not Z = zombie, T = stopped)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if module in cmdline and "probe.py" not in cmdline:
            return 0 if state not in ("Z", "T", "X") else _unhealthy(f"{module} (pid {proc.name}) state {state}")
    return _unhealthy(f"no process runs {module}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="check", required=True)
    det = sub.add_parser("detector")
    det.add_argument("--max-age", type=float, default=None)
    det.add_argument("--truncate-above", type=int, default=1 << 20)
    get = sub.add_parser("http")
    get.add_argument("url")
    get.add_argument("--timeout", type=float, default=3.0)
    api = sub.add_parser("api")
    api.add_argument("--path", default="/healthz")
    api.add_argument("--timeout", type=float, default=3.0)
    reach = sub.add_parser("reachable")
    reach.add_argument("--timeout", type=float, default=3.0)
    live = sub.add_parser("alive")
    live.add_argument("module")
    args = parser.parse_args(argv)
    if args.check == "detector":
        return detector(args.max_age, args.truncate_above)
    if args.check == "http":
        return http(args.url, args.timeout)
    if args.check == "api":
        return http(f"http://127.0.0.1:{os.environ.get('FLOWWATCH_API_PORT', '8080')}{args.path}", args.timeout)
    if args.check == "reachable":
        return reachable(args.timeout)
    return alive(args.module)


if __name__ == "__main__":
    sys.exit(main())
