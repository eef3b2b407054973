"""Kafka TLS, mutual TLS and SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) with the product's client configuration
(``flowwatch.kafka_client``) against a real protocol peer that enforces them (``secure_peers.KafkaSecurePeer``)
in front of Tansu, which advertises the peer's address. The clients are the product's: confluent-kafka
(producer, consumer, admin: indexer, API, CLI) and aiokafka (under the Faust workers), and the last test runs
the whole pipeline (Faust detector, indexer, API) in attach mode over SASL_SSL + an Elasticsearch API key.
What was not exercised (a real Kafka's listeners, ACLs, Tansu's own SASL/TLS) is in docs/deployment.md."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer, Producer

from flowwatch.cluster import ensure_topics
from flowwatch.kafka_client import KafkaConfigError, aiokafka_kwargs, check_kafka, confluent_config
from flowwatch.settings import KafkaSettings
from flowwatch_tools.engines import Engine, free_port
from tests.integration.conftest import wait_for
from tests.integration.secure_peers import EsAuthPeer, KafkaSecurePeer, Pki, start_tansu_behind

pytestmark = pytest.mark.integration

USERS = {"PLAIN": {"plain-user": "plain-pw"}, "SCRAM-SHA-256": {"scram256-user": "pw-256"},
         "SCRAM-SHA-512": {"flowwatch": "pw-512"}}


@dataclass
class Case:
    name: str
    protocol: str
    mechanism: str | None = None
    mutual_tls: bool = False

    @property
    def user(self) -> str:
        return next(iter(USERS[self.mechanism])) if self.mechanism else ""

    @property
    def password(self) -> str:
        return USERS[self.mechanism][self.user] if self.mechanism else ""


CASES = [Case("sasl-ssl-scram-sha-512", "SASL_SSL", "SCRAM-SHA-512"),
         Case("sasl-ssl-scram-sha-256", "SASL_SSL", "SCRAM-SHA-256"),
         Case("sasl-ssl-plain", "SASL_SSL", "PLAIN"),
         Case("sasl-plaintext-scram-sha-512", "SASL_PLAINTEXT", "SCRAM-SHA-512"),
         Case("ssl-mutual-tls", "SSL", mutual_tls=True)]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@dataclass
class Secured:
    case: Case
    peer: KafkaSecurePeer
    pki: Pki

    def settings(self, **override: Any) -> KafkaSettings:
        kw: dict[str, Any] = {"kafka_bootstrap": self.peer.bootstrap, "kafka_security_protocol": self.case.protocol}
        if self.case.mechanism:
            kw.update(kafka_sasl_mechanism=self.case.mechanism, kafka_sasl_username=self.case.user,
                      kafka_sasl_password=self.case.password)
        if self.case.protocol.endswith("SSL"):
            kw["kafka_ssl_ca_file"] = self.pki.ca
        if self.case.mutual_tls:
            kw.update(kafka_ssl_cert_file=self.pki.client_cert, kafka_ssl_key_file=self.pki.client_key)
        kw.update(override)
        return KafkaSettings(**kw)

    def env(self) -> dict[str, str]:
        s = self.settings()
        return {f"FLOWWATCH_{k.upper()}": (v.get_secret_value() if hasattr(v, "get_secret_value") else str(v))
                for k, v in s.model_dump().items() if v is not None}


@contextlib.contextmanager
def _secured(case: Case, pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    """Tansu behind a KafkaSecurePeer configured for ``case``; both stopped at the end."""
    port = free_port()
    tansu = start_tansu_behind(tmp_path_factory.mktemp(case.name), port)
    context = pki.server_context(require_client_cert=case.mutual_tls) if case.protocol.endswith("SSL") else None
    users = {case.mechanism: USERS[case.mechanism]} if case.mechanism else {}
    if case.mechanism and case.mechanism != "PLAIN":
        users["PLAIN"] = USERS["PLAIN"]  # two mechanisms offered, as brokers usually do
    peer = KafkaSecurePeer(("127.0.0.1", tansu.kafka_port), users=users, server_context=context, port=port).start()
    try:
        yield Secured(case, peer, pki)
    finally:
        peer.stop()
        tansu.stop()


@pytest.fixture(scope="module", params=CASES, ids=[c.name for c in CASES])
def secured(request: pytest.FixtureRequest, pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    """Every case of CASES in turn."""
    with _secured(request.param, pki, tmp_path_factory) as s:
        yield s


@pytest.fixture
def chosen(request: pytest.FixtureRequest, pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    """One case of CASES, by name (``indirect`` parametrisation)."""
    with _secured(next(c for c in CASES if c.name == request.param), pki, tmp_path_factory) as s:
        yield s


def test_confluent_and_aiokafka_clients_round_trip(secured: Secured) -> None:
    s = secured.settings()
    topic = f"t-{uuid.uuid4().hex[:8]}"
    assert ensure_topics(s, {topic: 2}, timeout=30) == [topic]  # the admin client of init-cluster
    assert check_kafka(s)[topic] == 2
    producer = Producer(confluent_config(s, **{"acks": "all"}))
    for i in range(20):
        producer.produce(topic, key=f"k{i % 4}".encode(), value=json.dumps({"n": i}).encode())
    assert producer.flush(30) == 0
    consumer = Consumer(confluent_config(s, **{"group.id": f"g-{topic}", "auto.offset.reset": "earliest"}))
    consumer.subscribe([topic])
    seen: set[int] = set()
    deadline = time.monotonic() + 60
    while len(seen) < 20 and time.monotonic() < deadline:
        msg = consumer.poll(1.0)
        if msg is not None and not msg.error():
            seen.add(json.loads(msg.value())["n"])
    consumer.close()
    assert seen == set(range(20))
    assert asyncio.run(_aiokafka_read(s, topic, 20)) == set(range(20))  # Faust's client library, same settings
    if secured.case.mechanism:
        assert (secured.case.user, secured.case.mechanism) in secured.peer.authenticated


async def _aiokafka_read(s: KafkaSettings, topic: str, count: int) -> set[int]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(**aiokafka_kwargs(s), enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 0), TopicPartition(topic, 1)])
        seen: set[int] = set()
        deadline = time.monotonic() + 30
        while len(seen) < count and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                seen.update(json.loads(r.value)["n"] for r in records)
        return seen
    finally:
        await consumer.stop()


def test_wrong_credentials_and_tls_settings_name_the_setting(secured: Secured) -> None:
    if secured.case.mechanism:
        with pytest.raises(KafkaConfigError) as caught:
            check_kafka(secured.settings(kafka_sasl_password="wrong"), timeout=5)
        assert f"refused the SASL credentials of user {secured.case.user!r}" in str(caught.value)
        assert "FLOWWATCH_KAFKA_SASL_PASSWORD" in str(caught.value)
        if secured.case.mechanism != "SCRAM-SHA-256":
            with pytest.raises(KafkaConfigError, match="does not offer SASL mechanism SCRAM-SHA-256"):
                asyncio.run(_aiokafka_versions(secured.settings(kafka_sasl_mechanism="SCRAM-SHA-256")))
    if secured.case.protocol.endswith("SSL"):
        with pytest.raises(KafkaConfigError, match="not trusted: set FLOWWATCH_KAFKA_SSL_CA_FILE"):
            check_kafka(secured.settings(kafka_ssl_ca_file=secured.pki.other_ca), timeout=5)
    if secured.case.mutual_tls:
        with pytest.raises(KafkaConfigError, match="FLOWWATCH_KAFKA_SSL_CERT_FILE"):
            check_kafka(secured.settings(kafka_ssl_cert_file=None, kafka_ssl_key_file=None), timeout=5)
    with pytest.raises(KafkaConfigError, match="FLOWWATCH_KAFKA_SECURITY_PROTOCOL"):
        check_kafka(secured.settings(kafka_security_protocol="PLAINTEXT", kafka_ssl_ca_file=None,
                                     kafka_ssl_cert_file=None, kafka_ssl_key_file=None), timeout=5)


async def _aiokafka_versions(s: KafkaSettings) -> Any:
    from flowwatch.kafka_client import broker_api_versions

    return await broker_api_versions(s, timeout=10)


def test_protocol_version_check_over_the_secured_connection(secured: Secured) -> None:
    from flowwatch.kafka_client import REQUIRED_APIS, check_api_versions

    versions = asyncio.run(_aiokafka_versions(secured.settings()))
    check_api_versions(versions)
    with pytest.raises(KafkaConfigError, match="JoinGroup v99"):
        check_api_versions(versions, {**REQUIRED_APIS, 11: ("JoinGroup", 99, "a future KIP")})


# ---------------------------------------------------------------- the whole pipeline, attach mode


@pytest.mark.parametrize("chosen", ["sasl-ssl-scram-sha-512"], indirect=True)
def test_attach_mode_pipeline_over_sasl_ssl_and_es_api_key(chosen: Secured, noida: Engine, make_stack: Any,
                                                           tmp_path: Path) -> None:
    """Faust detector, indexer and API started by ``Stack(broker="external")`` against the secured Kafka and an
    Elasticsearch that demands an API key over TLS; sample flows produced through the same settings become
    findings; the CLI's init-cluster with a wrong password fails with the clear message."""
    secured = chosen
    from flowwatch.es_client import make_es
    from flowwatch.settings import ElasticsearchSettings, Topics
    from flowwatch_tools.replay import replay
    from flowwatch_tools.samples.generator import generate

    assert noida.es_port is not None
    es_peer = EsAuthPeer(("127.0.0.1", noida.es_port), api_keys={"fw": ("api-secret", "all")},
                         server_context=secured.pki.server_context()).start()
    try:
        es_env = {"FLOWWATCH_ES_URL": es_peer.url(), "FLOWWATCH_ES_CA_FILE": secured.pki.ca,
                  "FLOWWATCH_ES_API_KEY": base64.b64encode(b"fw:api-secret").decode(),
                  "FLOWWATCH_ES_INDEX_PREFIX": "attach", "FLOWWATCH_TOPIC_PARTITIONS": "2"}
        env = {**secured.env(), **es_env, "FLOWWATCH_TAIL_CHECK_INTERVAL": "2"}
        stack = make_stack(broker="external", workers=1, api=True, extra_env=env, ilm=False,
                           static_membership=False)
        assert stack.state.kafka_engine == "external"
        api_ready = httpx.get(stack.state.api_url + "/readyz", timeout=5).json()
        assert api_ready["status"] == "ready", api_ready
        es_settings = ElasticsearchSettings(es_url=es_peer.url(), es_ca_file=secured.pki.ca,
                                            es_api_key=env["FLOWWATCH_ES_API_KEY"], es_index_prefix="attach")
        events = list(generate(60, seed=7))
        report = replay(secured.settings(), Topics(partitions=2).flow_events, make_es(es_settings), "attach",
                        events, wait=True, timeout=240)
        assert report.missing == 0, report.as_dict()
        assert report.findings > 0
        assert secured.peer.authenticated.count(("flowwatch", "SCRAM-SHA-512")) >= 3  # detector, indexer, API ...
        # the end-of-partition check asks the secured broker for high watermarks too (tail_repair.Watermarks)
        detector_log = Path(stack.state.components["detector-1"].log)
        wait_for(lambda: "flow-events: end-of-partition check every 2 s" in detector_log.read_text(errors="replace"),
                 timeout=30, what="the end-of-partition check answered over SASL_SSL")
        assert "end-of-partition check failed" not in detector_log.read_text(errors="replace")
        bad = subprocess.run(
            [sys.executable, "-m", "flowwatch_tools.cli.main", "init-cluster", "--no-elasticsearch", "--timeout", "5"],
            env={**{k: v for k, v in os.environ.items() if not k.startswith("FLOWWATCH_")}, **env,
                 "FLOWWATCH_KAFKA_SASL_PASSWORD": "wrong", "FLOWWATCH_HOME": str(tmp_path)},
            capture_output=True, text=True, timeout=120)
        assert bad.returncode == 1
        assert "refused the SASL credentials of user 'flowwatch'" in bad.stderr and "Traceback" not in bad.stderr
        attach = subprocess.run(  # `flowwatch up --external` checks before it starts anything
            [sys.executable, "-m", "flowwatch_tools.cli.main", "up", "--external", "--no-ilm"],
            env={**{k: v for k, v in os.environ.items() if not k.startswith("FLOWWATCH_")}, **env,
                 "FLOWWATCH_KAFKA_SASL_PASSWORD": "wrong", "FLOWWATCH_HOME": str(tmp_path / "attach-bad")},
            capture_output=True, text=True, timeout=180)
        assert attach.returncode == 1, attach.stderr[-2000:]
        assert "refused the SASL credentials" in attach.stderr and "Traceback" not in attach.stderr
        assert not (tmp_path / "attach-bad" / "logs").exists()  # no service was started
    finally:
        es_peer.stop()


@pytest.mark.parametrize("chosen", ["sasl-ssl-scram-sha-512", "ssl-mutual-tls"], indirect=True)
@pytest.mark.parametrize("service", ["flowwatch_detector", "flowwatch_indexer"])
def test_services_refuse_to_start_on_refused_credentials_with_one_line(chosen: Secured, service: str,
                                                                      tmp_path: Path) -> None:
    """The Faust worker and the indexer check their Kafka settings against the broker first: refused SASL
    credentials end them with exit code 2 and the message naming the setting, not a traceback or a retry loop."""
    secured = chosen
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("FLOWWATCH_")}, **secured.env(),
           "FLOWWATCH_LOG_FORMAT": "text", "FLOWWATCH_DETECTOR_DATADIR": str(tmp_path / "d")}
    if secured.case.mechanism:
        env["FLOWWATCH_KAFKA_SASL_PASSWORD"] = "wrong"
        expected = "FLOWWATCH_KAFKA_SASL_PASSWORD"
    else:
        for name in ("FLOWWATCH_KAFKA_SSL_CERT_FILE", "FLOWWATCH_KAFKA_SSL_KEY_FILE"):
            env.pop(name)
        expected = "FLOWWATCH_KAFKA_SSL_CERT_FILE"
    done = subprocess.run([sys.executable, "-m", service], env=env, capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 2, output[-2000:]
    assert expected in output and "Traceback" not in output
