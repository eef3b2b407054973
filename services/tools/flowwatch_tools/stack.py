"""The local stack: embedded engines plus every Flowwatch service, supervised by process id.

``Stack.up()`` is idempotent: it starts only what is not running. State (pids, ports, logs, engine data)
lives in one folder (default ``./.flowwatch``; ``FLOWWATCH_HOME`` overrides), so ``down`` stops exactly
what ``up`` started and ``status`` tells what runs. Used by the CLI, the integration tests and the bench.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from flowwatch.cluster import ClusterError, ensure_topics
from flowwatch.settings import KafkaSettings, Topics
from flowwatch_tools.engines import (
    EngineError,
    free_port,
    pid_alive,
    port_open,
    start_noida,
    start_tansu,
    stop_process_group,
)

EMBEDDED_SECURITY: dict[str, str] = {
    "FLOWWATCH_KAFKA_SECURITY_PROTOCOL": "PLAINTEXT", "FLOWWATCH_KAFKA_SSL_CA_FILE": "",
    "FLOWWATCH_KAFKA_SSL_CERT_FILE": "", "FLOWWATCH_KAFKA_SSL_KEY_FILE": "", "FLOWWATCH_ES_CLOUD_ID": "",
    "FLOWWATCH_ES_API_KEY": "", "FLOWWATCH_ES_USERNAME": "", "FLOWWATCH_ES_CA_FILE": "",
    "FLOWWATCH_ES_SSL_FINGERPRINT": "",
}
"""The embedded engines speak plaintext without authentication: services started on them get these values, so
security settings exported for an external cluster (attach mode) do not leak onto the local stack."""
DEFAULT_HOME = Path(".flowwatch")
STATE_FILE = "state.json"


class StackError(RuntimeError):
    """The stack could not be started or reached; the message says what to look at."""


def home_dir() -> Path:
    """The state folder of this checkout (``FLOWWATCH_HOME`` or ``./.flowwatch``), absolute."""
    return Path(os.environ.get("FLOWWATCH_HOME", DEFAULT_HOME)).resolve()


@dataclass
class Component:
    """A supervised process: name, pid, log file, and its command (for restarts)."""

    name: str
    pid: int
    log: str
    cmd: list[str]
    env: dict[str, str] = field(default_factory=dict)

    def alive(self) -> bool:
        """True while the process runs."""
        return pid_alive(self.pid)


@dataclass
class StackState:
    """What ``up`` started: engine endpoints, components, the API URL and the topic layout."""

    kafka_bootstrap: str = ""
    es_url: str = ""
    kafka_engine: str = "noida-db"
    api_url: str = ""
    index_prefix: str = "flowwatch"
    partitions: int = 4
    components: dict[str, Component] = field(default_factory=dict)

    @classmethod
    def load(cls, home: Path) -> StackState:
        """State saved in ``home``, or an empty state."""
        path = home / STATE_FILE
        if not path.exists():
            return cls()
        raw = json.loads(path.read_text())
        comps = {k: Component(**v) for k, v in raw.pop("components", {}).items()}
        return cls(**raw, components=comps)

    def save(self, home: Path) -> None:
        """Write the state atomically."""
        home.mkdir(parents=True, exist_ok=True)
        tmp = home / (STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(home / STATE_FILE)


class Stack:
    """Embedded engines + detector workers + indexer + API on one machine.

    ``workers``: number of detector worker processes. ``broker``: ``noida`` (Kafka and Elasticsearch
    from noida-db), ``tansu`` (Kafka from Tansu, Elasticsearch still from noida-db) or ``external`` (attach
    mode: no engine is started; the Kafka and Elasticsearch of the ``FLOWWATCH_KAFKA_*`` / ``FLOWWATCH_ES_*``
    settings, from the environment and ``extra_env``, are checked and prepared like ``flowwatch init-cluster``
    does: credentials, protocol versions, Elasticsearch 8.x, topics, index templates, ILM policies).
    ``replication_factor``: of the topics attach mode creates; ``ilm``: put ILM policies (attach mode).
    """

    def __init__(
        self,
        home: Path | None = None,
        workers: int = 2,
        broker: str = "noida",
        partitions: int = 4,
        index_prefix: str = "flowwatch",
        api: bool = True,
        extra_env: dict[str, str] | None = None,
        static_membership: bool = True,
        replication_factor: int = 1,
        ilm: bool = True,
    ) -> None:
        if broker not in ("noida", "tansu", "external"):
            raise StackError(f"unknown broker {broker!r}: noida, tansu or external")
        self.home = (home or home_dir()).resolve()
        self.replication_factor = replication_factor
        self.ilm = ilm
        self.workers = workers
        self.broker = broker
        self.api_enabled = api
        self.extra_env = extra_env or {}
        self.static_membership = static_membership
        self.state = StackState.load(self.home)
        if not self.state.components:
            self.state.partitions = partitions
            self.state.index_prefix = index_prefix
        self.logs = self.home / "logs"

    # ------------------------------------------------------------------ lifecycle

    def up(self, progress: Any = None) -> StackState:
        """Start whatever is not running; return the state. Raises StackError with the failing log."""
        say = progress or (lambda msg: None)
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / ".gitignore").write_text("*\n")
        if self.broker == "external":
            self._attach(say)
        else:
            self._ensure_engines(say)
            say(f"creating topics ({self.state.partitions} partitions)")
            local = settings_from(KafkaSettings, {**os.environ, **EMBEDDED_SECURITY,
                                                  "FLOWWATCH_KAFKA_BOOTSTRAP": self.state.kafka_bootstrap})
            try:
                ensure_topics(local, self.topics().all_with_partitions(), timeout=30.0)
            except ClusterError as exc:
                raise StackError(str(exc)) from exc
        env = self.service_env()
        for i in range(1, self.workers + 1):
            member = {"FLOWWATCH_INSTANCE_ID": f"detector-{i}"} if self.static_membership else {}
            self._ensure(f"detector-{i}", [sys.executable, "-m", "flowwatch_detector", "-l", "info"],
                         {**env, "FLOWWATCH_DETECTOR_DATADIR": str(self.home / f"detector-{i}"), **member}, say)
        self._ensure("indexer", [sys.executable, "-m", "flowwatch_indexer"], env, say)
        self._ensure("notifier", [sys.executable, "-m", "flowwatch_notifier"], env, say)
        if self.api_enabled:
            api = self.state.components.get("api")
            port = int(self.state.api_url.rsplit(":", 1)[1]) if api and api.alive() else free_port()
            self._ensure("api", [sys.executable, "-m", "flowwatch_api"],
                         {**env, "FLOWWATCH_API_PORT": str(port)}, say)
            self.state.api_url = f"http://127.0.0.1:{port}"
        self.state.save(self.home)
        if self.api_enabled:
            self._wait_api(say)
        return self.state

    def down(self, progress: Any = None) -> list[str]:
        """Stop every component this stack started (services first, engines last). Returns their names."""
        say = progress or (lambda msg: None)
        stopped = []
        order = sorted(self.state.components, key=lambda n: n.startswith("engine-"))
        for name in order:
            comp = self.state.components[name]
            if comp.alive():
                say(f"stopping {name} (pid {comp.pid})")
                stop_process_group(comp.pid, grace=20)
                stopped.append(name)
        self.state.components.clear()
        self.state.api_url = ""
        self.state.save(self.home)
        return stopped

    def status(self) -> dict[str, Any]:
        """``{"running": bool, "api_url": str|None, "components": {name: {"pid", "alive", "log"}}, ...}``."""
        comps = {n: {"pid": c.pid, "alive": c.alive(), "log": c.log} for n, c in self.state.components.items()}
        running = bool(comps) and all(c["alive"] for c in comps.values())
        return {
            "running": running,
            "api_url": self.state.api_url or None,
            "kafka_bootstrap": self.state.kafka_bootstrap or None,
            "es_url": self.state.es_url or None,
            "kafka_engine": self.state.kafka_engine,
            "home": str(self.home),
            "components": comps,
        }

    # ------------------------------------------------------------------ service control (tests, bench)

    def kill(self, name: str, sig: int = 9) -> None:
        """Send ``sig`` to a component's process group (the kill test's SIGKILL)."""
        comp = self.state.components[name]
        os.killpg(os.getpgid(comp.pid), sig)
        for _ in range(100):
            if not comp.alive():
                return
            time.sleep(0.05)

    def restart(self, name: str) -> None:
        """Start a stopped component again with its original command and environment."""
        comp = self.state.components[name]
        if comp.alive():
            stop_process_group(comp.pid)
        self.state.components[name] = self._spawn(name, comp.cmd, comp.env)
        self.state.save(self.home)

    def topics(self) -> Topics:
        """Topic layout of this stack."""
        return Topics(partitions=self.state.partitions)

    def service_env(self) -> dict[str, str]:
        """Environment every service gets: engine addresses, prefix, partitions, HMAC key."""
        attach = {"FLOWWATCH_FINDINGS_PARTITION": os.environ.get("FLOWWATCH_FINDINGS_PARTITION", "day")} \
            if self.broker == "external" else EMBEDDED_SECURITY  # daily findings indices on a real cluster
        return {
            **attach,
            "FLOWWATCH_KAFKA_BOOTSTRAP": self.state.kafka_bootstrap,
            "FLOWWATCH_ES_URL": self.state.es_url,
            "FLOWWATCH_ES_INDEX_PREFIX": self.state.index_prefix,
            "FLOWWATCH_TOPIC_PARTITIONS": str(self.state.partitions),
            "FLOWWATCH_HASH_KEY": os.environ.get("FLOWWATCH_HASH_KEY") or self._hash_key(),
            # noida-db answers empty fetches at once: pause caught-up confluent-kafka consumers and probe
            # (flowwatch.kafka_idle); a real Kafka long-polls, so attach mode and the chart leave it off
            **({"FLOWWATCH_KAFKA_IDLE_PROBE": "0.05"} if self.broker == "noida" else {}),
            **self.extra_env,
        }

    # ------------------------------------------------------------------ internals

    def _attach(self, say: Any) -> None:
        """Attach mode: check and prepare the external Kafka and Elasticsearch (``init-cluster``)."""
        from flowwatch.cluster import ClusterError, init_cluster
        from flowwatch.settings import ElasticsearchSettings

        env = {**os.environ, **self.extra_env}
        try:
            kafka = settings_from(KafkaSettings, env)
            es = settings_from(ElasticsearchSettings, env)
        except ValueError as exc:
            raise StackError(str(exc)) from None
        self.state.partitions = int(env.get("FLOWWATCH_TOPIC_PARTITIONS", self.state.partitions))
        self.state.index_prefix = es.es_index_prefix
        say(f"attaching to Kafka at {kafka.kafka_bootstrap} ({kafka.kafka_security_protocol}) and "
            f"Elasticsearch at {es.es_cloud_id or es.es_url}: checking versions, creating topics and templates")
        try:
            summary = init_cluster(replication_factor=self.replication_factor, kafka=kafka, es=es,
                                   topic_settings=self.topics(), timeout=60.0, ilm=self.ilm)
        except ClusterError as exc:
            raise StackError(str(exc)) from None
        say(f"Kafka APIs {summary['kafka_api_versions']}, Elasticsearch {summary['elasticsearch_version']}; "
            f"{len(summary['topics_created'])} topics created")
        self.state.kafka_bootstrap = kafka.kafka_bootstrap
        self.state.es_url = es.es_url
        self.state.kafka_engine = "external"
        self.state.save(self.home)

    def _ensure_engines(self, say: Any) -> None:
        noida = self.state.components.get("engine-noida")
        if noida is None or not noida.alive():
            old_es = self.state.es_url
            kafka_port = es_port = None
            if noida is not None and old_es:  # restart on the same ports: same data, same URLs
                es_port = int(old_es.rsplit(":", 1)[1])
                kafka_port = int(self.state.kafka_bootstrap.rsplit(":", 1)[1]) if self.broker == "noida" else None
                if port_open("127.0.0.1", es_port) or (kafka_port and port_open("127.0.0.1", kafka_port)):
                    kafka_port = es_port = None
            say("starting noida-db (Kafka + Elasticsearch)")
            try:
                engine = start_noida(self.home / "noida" / "data", kafka_port, es_port)
            except EngineError as exc:
                raise StackError(str(exc)) from exc
            self.state.components["engine-noida"] = Component("engine-noida", engine.pid, str(engine.log), [])
            self.state.es_url = engine.es_url or ""
            if self.broker == "noida":
                self.state.kafka_bootstrap = engine.kafka_bootstrap
                self.state.kafka_engine = "noida-db"
        if self.broker == "tansu":
            tansu = self.state.components.get("engine-tansu")
            if tansu is None or not tansu.alive():
                say("starting tansu (Kafka)")
                try:
                    engine = start_tansu(self.home / "tansu")
                except EngineError as exc:
                    raise StackError(str(exc)) from exc
                self.state.components["engine-tansu"] = Component("engine-tansu", engine.pid, str(engine.log), [])
                self.state.kafka_bootstrap = engine.kafka_bootstrap
                self.state.kafka_engine = "tansu"
        self.state.save(self.home)

    def _ensure(self, name: str, cmd: list[str], env: dict[str, str], say: Any) -> None:
        comp = self.state.components.get(name)
        if comp is not None and comp.alive():
            return
        say(f"starting {name}")
        self.state.components[name] = self._spawn(name, cmd, env)
        self.state.save(self.home)

    def _spawn(self, name: str, cmd: list[str], env: dict[str, str]) -> Component:
        self.logs.mkdir(parents=True, exist_ok=True)
        log = self.logs / f"{name}.log"
        with open(log, "ab") as fh:
            proc = subprocess.Popen(
                cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.home,
                env={**os.environ, **env}, start_new_session=True,
            )
        return Component(name, proc.pid, str(log), cmd, env)

    def _wait_api(self, say: Any, timeout: float = 60.0) -> None:
        say(f"waiting for the API at {self.state.api_url}")
        deadline = time.monotonic() + timeout
        api = self.state.components["api"]
        while time.monotonic() < deadline:
            if not api.alive():
                raise StackError(f"the API exited; see {api.log}:\n{_tail(api.log)}")
            try:
                if httpx.get(self.state.api_url + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise StackError(f"the API did not become ready in {timeout:.0f}s; see {api.log}")

    def _hash_key(self) -> str:
        path = self.home / "hash.key"
        if not path.exists():
            path.write_text(secrets.token_hex(32))
            path.chmod(0o600)
        return path.read_text().strip()


def settings_from(cls: type[Any], env: dict[str, str]) -> Any:
    """``cls()`` (a ``FLOWWATCH_*`` settings model) with the values of ``env`` instead of the process
    environment's. Raises ``ValueError`` (pydantic's ``ValidationError``) for values that cannot work."""
    prefix = cls.model_config.get("env_prefix", "")
    given = {name: env[f"{prefix}{name}".upper()] for name in cls.model_fields if f"{prefix}{name}".upper() in env}
    return cls(**given)


def _tail(path: str, chars: int = 3000) -> str:
    try:
        return Path(path).read_text(errors="replace")[-chars:]
    except OSError:
        return ""
