"""API abuse bench (issue 17 point 4): slow clients, a connection flood and query latency while ingest is
saturated, on loopback against a real API process (``python -m flowwatch_api``, started as
``bench/api_latency.py`` starts it) over noida-db with a small data set (findings built by ``api_latency``).

1. **Slow clients**: ``--slow`` connections, half sending request headers one byte per second (slowloris),
   half sending complete headers and then a body one byte per second; meanwhile one normal client times
   ``GET /v1/findings``. Reports the normal p95 against the baseline, and when/how the slow ones were cut
   (header timeout: closed without an answer; body timeout: 408).
2. **Connection flood**: ``--flood`` connections opened at once and held idle (no bytes), then the same
   number sending one request each at once. Reports accepted / refused / 503 / 200 and the normal query's
   answers and p95 while the idle flood holds its connections.
3. **Ingest saturation**: the p95 of ``GET /v1/findings`` (baseline without load, same run), then while
   ``--ingest-threads`` clients post batches of 100 events with one platform key paced at the key's rate limit,
   then unpaced (beyond it: 429s). Prints each p95 and its ratio to the baseline, 202/429 counts and the events
   accepted per second.

The API runs with the limits of the environment except these (the bench's, printed): ingest rate
``--ingest-rate`` events/s per key, header and body timeouts, ``limit_concurrency``. ``run(quick)`` returns the
figures as a dict (for ``bench/chaos.py``); as a script it prints a table and writes
``bench/results/api_abuse.json``. Exit code 0 (a report), 1 when the bench cannot run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from elasticsearch import Elasticsearch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from api_latency import (  # noqa: E402
    PREFIX,
    BulkLoader,
    Params,
    findings,
    load,
    machine_info,
    pct,
    start_api,
    wait_ready,
)

from flowwatch.apikeys import Role, create_key  # noqa: E402
from flowwatch.cluster import ensure_topics  # noqa: E402
from flowwatch.es_indices import ensure_templates  # noqa: E402
from flowwatch.settings import topics  # noqa: E402
from flowwatch_tools.engines import Engine, start_noida, stop_process_group  # noqa: E402
from tests.flows import event  # noqa: E402

RESULTS = HERE / "results" / "api_abuse.json"
QUERY = "/v1/findings?size=20"
BATCH = 100


def log(msg: str) -> None:
    print(f"[bench-abuse] {msg}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """``os.environ`` with ``values`` for the block (start_api passes os.environ to the API)."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def summary(samples: list[float]) -> dict[str, Any]:
    """n, p50, p95, max in ms of ``samples`` (ms)."""
    if not samples:
        return {"n": 0, "p50_ms": None, "p95_ms": None, "max_ms": None}
    return {"n": len(samples), "p50_ms": round(pct(samples, 50), 1), "p95_ms": round(pct(samples, 95), 1),
            "max_ms": round(max(samples), 1)}


class Querier(threading.Thread):
    """Times ``GET /v1/findings`` sequentially on one keep-alive connection until stopped; counts statuses and
    transport errors (a fresh connection after an error)."""

    def __init__(self, url: str, key: str) -> None:
        super().__init__(daemon=True)
        self.url, self.key = url, key
        self.samples: list[float] = []
        self.statuses: Counter[str] = Counter()
        self.stop = threading.Event()

    def run(self) -> None:
        client = httpx.Client(base_url=self.url, timeout=30, headers={"Authorization": f"Bearer {self.key}"})
        try:
            while not self.stop.is_set():
                started = time.perf_counter()
                try:
                    status = client.get(QUERY).status_code
                except httpx.HTTPError as exc:
                    self.statuses[type(exc).__name__] += 1
                    client.close()
                    client = httpx.Client(base_url=self.url, timeout=30,
                                          headers={"Authorization": f"Bearer {self.key}"})
                    time.sleep(0.05)
                    continue
                self.statuses[str(status)] += 1
                if status == 200:
                    self.samples.append((time.perf_counter() - started) * 1000)
                time.sleep(0.01)
        finally:
            client.close()


def timed_queries(url: str, key: str, seconds: float) -> Querier:
    """A ``Querier`` run for ``seconds`` (returned, stopped)."""
    q = Querier(url, key)
    q.start()
    time.sleep(seconds)
    q.stop.set()
    q.join()
    return q


# ------------------------------------------------------------------ 1. slow clients


async def slow_client(host: str, port: int, kind: str, key: str, limit: float) -> dict[str, Any]:
    """One slow client: ``header`` (a header byte per second) or ``body`` (complete headers, then a body byte
    per second). Returns how it ended: ``closed`` (no answer) or ``answered <status>``, after how many seconds."""
    started = time.monotonic()
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError as exc:
        return {"kind": kind, "end": f"refused ({type(exc).__name__})", "seconds": 0.0}
    if kind == "header":
        head = b"GET " + QUERY.encode() + b" HTTP/1.1\r\nHost: bench\r\n"
        trickle = b"X-Slow: " + b"a" * 10_000
    else:
        head = (b"POST /v1/events HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                b"Authorization: Bearer " + key.encode() + b"\r\nContent-Length: 100000\r\n\r\n")
        trickle = b" " * 100_000
    end = "still open"
    try:
        writer.write(head)
        await writer.drain()
        read = asyncio.ensure_future(reader.read(4096))
        for byte in trickle:
            if time.monotonic() - started > limit:
                break
            done, _ = await asyncio.wait({read}, timeout=1.0)
            if done:
                data = read.result()
                end = f"answered {data.split(b' ', 2)[1].decode()}" if data.startswith(b"HTTP/") else "closed"
                break
            writer.write(bytes([byte]))
            await writer.drain()
        read.cancel()
    except (ConnectionError, OSError):
        end = "closed"
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    return {"kind": kind, "end": end, "seconds": round(time.monotonic() - started, 1)}


def slow_clients(url: str, key: str, n: int, limit: float) -> dict[str, Any]:
    host, port = url.removeprefix("http://").split(":")
    q = Querier(url, key)
    q.start()

    async def all_slow() -> list[dict[str, Any]]:
        kinds = ["header" if i % 2 == 0 else "body" for i in range(n)]
        return await asyncio.gather(*(slow_client(host, int(port), k, key, limit) for k in kinds))

    ends = asyncio.run(all_slow())
    q.stop.set()
    q.join()
    by: dict[str, Any] = {}
    for kind in ("header", "body"):
        mine = [e for e in ends if e["kind"] == kind]
        by[kind] = {"n": len(mine), "ends": dict(Counter(e["end"] for e in mine)),
                    "max_seconds": max((e["seconds"] for e in mine), default=None)}
    return {"slow": by, "normal": summary(q.samples), "normal_statuses": dict(q.statuses)}


# ------------------------------------------------------------------ 2. connection flood


async def flood(host: str, port: int, n: int, hold: float, url: str, key: str) -> dict[str, Any]:
    """``n`` idle connections held ``hold`` seconds (normal queries timed meanwhile), then ``n`` requests at once."""
    async def connect() -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | str:
        try:
            return await asyncio.wait_for(asyncio.open_connection(host, port), 10)
        except (OSError, TimeoutError) as exc:
            return type(exc).__name__

    conns = await asyncio.gather(*(connect() for _ in range(n)))
    opened = [c for c in conns if not isinstance(c, str)]
    refused = Counter(c for c in conns if isinstance(c, str))
    q = Querier(url, key)
    q.start()
    await asyncio.sleep(hold)
    q.stop.set()
    await asyncio.to_thread(q.join)
    still_open = 0
    for reader, writer in opened:
        try:
            closed = await asyncio.wait_for(reader.read(1), 0.01) == b""
        except TimeoutError:
            closed = False
        except OSError:
            closed = True
        still_open += not closed
        writer.close()
    idle = {"opened": len(opened), "refused": dict(refused), "open_after_hold": still_open,
            "normal": summary(q.samples), "normal_statuses": dict(q.statuses)}

    async def one_request() -> str:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
        except (OSError, TimeoutError) as exc:
            return f"connect {type(exc).__name__}"
        try:
            writer.write(f"GET {QUERY} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {key}\r\n"
                         "Connection: close\r\n\r\n".encode())
            await writer.drain()
            line = await asyncio.wait_for(reader.readline(), 60)
            return line.split(b" ", 2)[1].decode() if line.startswith(b"HTTP/") else "closed"
        except (OSError, TimeoutError) as exc:
            return type(exc).__name__
        finally:
            writer.close()

    started = time.perf_counter()
    answers = Counter(await asyncio.gather(*(one_request() for _ in range(n))))
    burst = {"requests": n, "answers": dict(answers), "seconds": round(time.perf_counter() - started, 1)}
    return {"idle_flood": idle, "request_flood": burst}


# ------------------------------------------------------------------ 3. ingest saturation


class Ingester(threading.Thread):
    """Posts batches of ``BATCH`` events with ``key`` until stopped; ``pace`` batches/s (0: as fast as it can)."""

    def __init__(self, url: str, key: str, worker: int, pace: float) -> None:
        super().__init__(daemon=True)
        self.url, self.key, self.worker, self.pace = url, key, worker, pace
        self.statuses: Counter[str] = Counter()
        self.accepted = 0
        self.stop = threading.Event()

    def run(self) -> None:
        rng = random.Random(self.worker)
        template = [event(i, "shop-cn", rng) for i in range(BATCH)]
        n = 0
        with httpx.Client(base_url=self.url, timeout=60, headers={"Authorization": f"Bearer {self.key}"}) as c:
            next_at = time.monotonic()
            while not self.stop.is_set():
                for i, doc in enumerate(template):
                    doc["event_id"] = f"bench-{self.worker}-{n}-{i}"
                n += 1
                try:
                    resp = c.post("/v1/events", content=orjson.dumps(template),
                                  headers={"content-type": "application/json"})
                    self.statuses[str(resp.status_code)] += 1
                    if resp.status_code == 202:
                        self.accepted += BATCH
                except httpx.HTTPError as exc:
                    self.statuses[type(exc).__name__] += 1
                if self.pace:
                    next_at += 1 / self.pace
                    time.sleep(max(0.0, next_at - time.monotonic()))


def ingest_phase(url: str, keys: dict[str, str], threads: int, pace_total: float, seconds: float) -> dict[str, Any]:
    """Query p95 while ``threads`` ingesters post (together ``pace_total`` batches/s; 0: unpaced)."""
    ingesters = [Ingester(url, keys["platform"], w, pace_total / threads if pace_total else 0) for w in range(threads)]
    for i in ingesters:
        i.start()
    time.sleep(1.0)  # let the bucket drain to its steady state
    started = time.monotonic()
    before = sum(i.accepted for i in ingesters)
    q = timed_queries(url, keys["admin"], seconds)
    accepted = sum(i.accepted for i in ingesters) - before
    elapsed = time.monotonic() - started
    for i in ingesters:
        i.stop.set()
    for i in ingesters:
        i.join()
    statuses: Counter[str] = Counter()
    for i in ingesters:
        statuses.update(i.statuses)
    return {"query": summary(q.samples), "query_statuses": dict(q.statuses), "ingest_statuses": dict(statuses),
            "events_accepted_per_s": round(accepted / elapsed)}


# ------------------------------------------------------------------ the run


def run(quick: bool) -> dict[str, Any]:
    """Start noida-db and the API, run the three scenarios, stop everything; return the figures (dict)."""
    cfg = {"slow": 20 if quick else 60, "slow_limit": 12.0 if quick else 25.0,
           "flood": 300 if quick else 1000, "flood_hold": 7.0 if quick else 15.0,
           "ingest_threads": 4 if quick else 8, "ingest_rate": 1000, "phase_seconds": 6.0 if quick else 20.0,
           "header_timeout": 5.0 if quick else 10.0, "body_timeout": 8.0 if quick else 20.0,
           "limit_concurrency": 100 if quick else 500}
    api_env = {"FLOWWATCH_API_RATE_INGEST_EVENTS": str(cfg["ingest_rate"]), "FLOWWATCH_API_RATE_INGEST_BURST": "1000",
               "FLOWWATCH_API_HEADER_TIMEOUT": str(cfg["header_timeout"]),
               "FLOWWATCH_API_BODY_TIMEOUT": str(cfg["body_timeout"]),
               "FLOWWATCH_API_LIMIT_CONCURRENCY": str(cfg["limit_concurrency"]),
               "FLOWWATCH_API_RATE_READ": "0"}  # the bench's own query client must not hit the read budget
    workdir = Path(tempfile.mkdtemp(prefix="fw-bench-abuse-"))
    engine: Engine | None = None
    api = None
    out: dict[str, Any] = {"bench": "api_abuse", "quick": quick, "config": cfg, "api_env": api_env}
    t0 = time.monotonic()
    try:
        log(f"starting noida-db in {workdir} …")
        engine = start_noida(workdir / "noida")
        assert engine.es_url is not None
        es = Elasticsearch(engine.es_url, request_timeout=120)
        ensure_topics(engine.kafka_bootstrap, {topics().flow_events: 4})
        ensure_templates(es, PREFIX)
        params = Params(20261121, 5_000 if quick else 20_000, 500, 20, 7, 2,
                        datetime.now(UTC).replace(microsecond=0).isoformat())
        keys = {"admin": create_key(es, PREFIX, Role.ADMIN, name="bench-admin")[0],
                "platform": create_key(es, PREFIX, Role.PLATFORM, processor_id="shop-cn", name="bench-shop")[0]}
        # findings only: the read timed here is GET /v1/findings (api_latency.load_all's alert generator
        # fails on the current incident packs: KeyError 'followup_report')
        loader = BulkLoader(engine.es_url, 1)
        try:
            with contextlib.redirect_stdout(sys.stderr):
                load(loader, "findings", findings(params, PREFIX), params.findings, 1000, params.findings // 100)
        finally:
            loader.close()
        es.indices.refresh(index=f"{PREFIX}-*")
        out["data"] = {"findings": params.findings}
        with environment(api_env):
            api, url, api_log = start_api(engine.es_url, engine.kafka_bootstrap, workdir)
        wait_ready(api, url, api_log)
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {keys['admin']}"}) as c:
            for _ in range(5):
                c.get(QUERY).raise_for_status()  # warm-up
        log("baseline: query p95 without load …")
        out["baseline"] = summary(timed_queries(url, keys["admin"], cfg["phase_seconds"]).samples)
        log(f"slow clients: {cfg['slow']} …")
        out["slow_clients"] = slow_clients(url, keys["platform"], cfg["slow"], cfg["slow_limit"])
        log(f"connection flood: {cfg['flood']} …")
        host, port = url.removeprefix("http://").split(":")
        out["flood"] = asyncio.run(flood(host, int(port), cfg["flood"], cfg["flood_hold"], url, keys["admin"]))
        time.sleep(1)
        at_limit = cfg["ingest_rate"] / BATCH
        log(f"ingest at the rate limit ({at_limit:.0f} batches/s of {BATCH}) …")
        out["ingest_at_limit"] = ingest_phase(url, keys, cfg["ingest_threads"], at_limit, cfg["phase_seconds"])
        log("ingest beyond the limit (unpaced) …")
        out["ingest_beyond"] = ingest_phase(url, keys, cfg["ingest_threads"], 0, cfg["phase_seconds"])
        base = out["baseline"]["p95_ms"] or 0
        for name in ("ingest_at_limit", "ingest_beyond"):
            p95 = out[name]["query"]["p95_ms"]
            out[name]["p95_ratio"] = round(p95 / base, 2) if p95 and base else None
        sp = out["slow_clients"]["normal"]["p95_ms"]
        out["slow_clients"]["p95_ratio"] = round(sp / base, 2) if sp and base else None
        out["api_alive"] = api.poll() is None
    finally:
        if api is not None:
            stop_process_group(api.pid)
        if engine is not None:
            engine.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    out["machine"] = machine_info()
    out["load_average"] = os.getloadavg()
    out["seconds"] = round(time.monotonic() - t0, 1)
    return out


def table(r: dict[str, Any]) -> str:
    """The figures as a readable text table."""
    cfg, lines = r["config"], []
    m = r["machine"]
    lines.append(f"machine: {m['cpus']} cores ({m['cpus_usable']} usable), shared; load {r['load_average'][0]:.2f}; "
                 f"git {m['git']}; run {r['seconds']} s{' (--quick)' if r['quick'] else ''}")
    settings = ", ".join(f"{k.removeprefix('FLOWWATCH_API_')}={v}" for k, v in r["api_env"].items())
    lines.append(f"API settings: {settings}")
    b = r["baseline"]
    lines.append(f"\nquery GET {QUERY} (admin, {r['data']['findings']:,} findings)")
    lines.append(f"{'scenario':42} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'x base':>7}  other")
    lines.append(f"{'baseline (no load)':42} {b['n']:>5} {b['p50_ms']:>8} {b['p95_ms']:>8} {'1.00':>7}")
    s = r["slow_clients"]
    lines.append(f"{'during ' + str(cfg['slow']) + ' slow clients':42} {s['normal']['n']:>5} "
                 f"{s['normal']['p50_ms']!s:>8} {s['normal']['p95_ms']!s:>8} {s['p95_ratio']!s:>7}  "
                 f"statuses {s['normal_statuses']}")
    f = r["flood"]["idle_flood"]
    lines.append(f"{'during ' + str(cfg['flood']) + ' idle connections':42} {f['normal']['n']:>5} "
                 f"{f['normal']['p50_ms']!s:>8} {f['normal']['p95_ms']!s:>8} {'':>7}  statuses {f['normal_statuses']}")
    threads = cfg["ingest_threads"]
    for name, label in (("ingest_at_limit", "ingest at the limit"), ("ingest_beyond", "ingest beyond the limit")):
        p = r[name]
        label = f"{label} ({threads} clients)"
        lines.append(f"{label:42} {p['query']['n']:>5} "
                     f"{p['query']['p50_ms']!s:>8} {p['query']['p95_ms']!s:>8} {p['p95_ratio']!s:>7}  ingest "
                     f"{p['ingest_statuses']}, {p['events_accepted_per_s']:,} events/s accepted")
    lines.append(f"\nslow clients (header timeout {cfg['header_timeout']} s, body timeout {cfg['body_timeout']} s, "
                 f"given up by the bench after {cfg['slow_limit']} s):")
    for kind, v in s["slow"].items():
        lines.append(f"  {kind:6} n={v['n']}: {v['ends']}, last ended after {v['max_seconds']} s")
    lines.append(f"connection flood (limit_concurrency {cfg['limit_concurrency']}):")
    lines.append(f"  idle: {f['opened']} accepted, refused {f['refused'] or 0}, still open after "
                 f"{cfg['flood_hold']} s: {f['open_after_hold']}")
    rf = r["flood"]["request_flood"]
    lines.append(f"  {rf['requests']} requests at once: answers {rf['answers']} in {rf['seconds']} s")
    lines.append(f"API process alive at the end: {r['api_alive']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts and shorter phases (< ~60 s)")
    parser.add_argument("--json", type=Path, default=RESULTS, help="results file (bench/results/api_abuse.json)")
    args = parser.parse_args(argv)
    try:
        result = run(args.quick)
    except Exception as exc:  # the bench could not run
        log(f"failed: {type(exc).__name__}: {exc}")
        return 1
    print(table(result))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
