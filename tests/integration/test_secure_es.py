"""Elasticsearch authentication and TLS with the product's one client factory (``flowwatch.es_client``) against
a peer that enforces them (``secure_peers.EsAuthPeer``: HTTPS, basic auth, API keys, a read-only role) in front
of noida-db's Elasticsearch API. What a real Elasticsearch 8 adds is listed in docs/deployment.md."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowwatch.es_client import ElasticsearchConfigError, check_es, make_es
from flowwatch.es_indices import ensure_templates
from flowwatch.settings import ElasticsearchSettings
from flowwatch_tools.engines import Engine, start_noida
from tests.integration.secure_peers import EsAuthPeer, Pki

pytestmark = pytest.mark.integration

API_KEY_ID, API_KEY = "fw-indexer", "s3cr3t-api-key"
ENCODED_KEY = base64.b64encode(f"{API_KEY_ID}:{API_KEY}".encode()).decode()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def noida(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = start_noida(tmp_path_factory.mktemp("noida") / "data")
    yield engine
    engine.stop()


@pytest.fixture(scope="module")
def peer(noida: Engine, pki: Pki) -> Iterator[EsAuthPeer]:
    assert noida.es_port is not None
    p = EsAuthPeer(("127.0.0.1", noida.es_port), users={"flowwatch": ("pw-writer", "all"),
                                                        "auditor": ("pw-reader", "read")},
                   api_keys={API_KEY_ID: (API_KEY, "all")}, server_context=pki.server_context()).start()
    yield p
    p.stop()


def settings(peer: EsAuthPeer, **kw: object) -> ElasticsearchSettings:
    return ElasticsearchSettings(es_url=peer.url(), es_index_prefix="sec", **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("credentials", [
    {"es_api_key": ENCODED_KEY},
    {"es_api_key": f"{API_KEY_ID}:{API_KEY}"},
    {"es_username": "flowwatch", "es_password": "pw-writer"},
], ids=["api-key-encoded", "api-key-id-colon-key", "basic-auth"])
def test_writes_and_reads_through_tls_with_credentials(peer: EsAuthPeer, pki: Pki, credentials: dict) -> None:
    s = settings(peer, es_ca_file=pki.ca, **credentials)
    es = make_es(s)
    info = check_es(es, s)
    assert info["version"]["number"].startswith("8.")
    ensure_templates(es, s.es_index_prefix)
    es.index(index="sec-deadletters", id="d1", document={"reason": "schema_violation"}, refresh=True)
    assert es.get(index="sec-deadletters", id="d1")["_source"]["reason"] == "schema_violation"


def test_certificate_fingerprint_instead_of_ca_bundle(peer: EsAuthPeer, pki: Pki) -> None:
    s = settings(peer, es_api_key=ENCODED_KEY, es_ssl_fingerprint=pki.server_fingerprint)
    assert check_es(make_es(s), s)["version"]["number"].startswith("8.")
    wrong = settings(peer, es_api_key=ENCODED_KEY, es_ssl_fingerprint="00" * 32)
    with pytest.raises(ElasticsearchConfigError, match="FLOWWATCH_ES_SSL_FINGERPRINT"):
        check_es(make_es(wrong, max_retries=0), wrong)


def test_verify_certs_off_accepts_an_unknown_ca(peer: EsAuthPeer) -> None:
    s = settings(peer, es_api_key=ENCODED_KEY, es_verify_certs=False)
    assert check_es(make_es(s), s)["version"]["number"].startswith("8.")


@pytest.mark.parametrize(("kw", "expected"), [
    ({"es_username": "flowwatch", "es_password": "wrong"}, "refused user 'flowwatch' (401 Unauthorized): fix "
                                                           "FLOWWATCH_ES_API_KEY, or FLOWWATCH_ES_USERNAME"),
    ({"es_api_key": base64.b64encode(b"fw-indexer:nope").decode()}, "refused the API key (401"),
    ({}, "refused no credentials (401"),
], ids=["wrong-password", "wrong-api-key", "no-credentials"])
def test_wrong_credentials_name_the_setting(peer: EsAuthPeer, pki: Pki, kw: dict, expected: str) -> None:
    s = settings(peer, es_ca_file=pki.ca, **kw)
    with pytest.raises(ElasticsearchConfigError) as caught:
        check_es(make_es(s), s)
    assert expected in str(caught.value)


def test_forbidden_write_names_the_privileges(peer: EsAuthPeer, pki: Pki) -> None:
    from elasticsearch import AuthorizationException

    from flowwatch.es_client import explain_es_error

    s = settings(peer, es_ca_file=pki.ca, es_username="auditor", es_password="pw-reader")
    es = make_es(s)
    check_es(es, s)  # reading is allowed
    with pytest.raises(AuthorizationException) as caught:
        es.index(index="sec-deadletters", id="d2", document={"reason": "x"})
    message = explain_es_error(caught.value, s)
    assert "403 Forbidden" in message and "index privileges on sec-*" in message and "auditor" in message


@pytest.mark.parametrize(("kw", "expected"), [
    ({}, "set FLOWWATCH_ES_CA_FILE"),
    ({"es_ca_file": "OTHER"}, "set FLOWWATCH_ES_CA_FILE"),
], ids=["system-cas", "another-ca"])
def test_untrusted_certificate_names_the_ca_setting(peer: EsAuthPeer, pki: Pki, kw: dict, expected: str) -> None:
    if kw.get("es_ca_file") == "OTHER":
        kw = {"es_ca_file": pki.other_ca}
    s = settings(peer, es_api_key=ENCODED_KEY, **kw)
    with pytest.raises(ElasticsearchConfigError, match=expected):
        check_es(make_es(s, max_retries=0), s)


def test_plain_http_to_a_tls_port_is_explained(peer: EsAuthPeer) -> None:
    s = ElasticsearchSettings(es_url=f"http://127.0.0.1:{peer.port}", es_api_key=ENCODED_KEY)
    with pytest.raises(ElasticsearchConfigError, match="FLOWWATCH_ES_URL"):
        check_es(make_es(s, max_retries=0, request_timeout=5), s)


def _cli(args: list[str], env: dict[str, str], home: Path) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("FLOWWATCH_")}
    full.update(env, FLOWWATCH_HOME=str(home))
    return subprocess.run([sys.executable, "-m", "flowwatch_tools.cli.main", *args], env=full, capture_output=True,
                          text=True, timeout=120)


def test_cli_uses_the_credentials_and_fails_cleanly(peer: EsAuthPeer, pki: Pki, tmp_path: Path) -> None:
    env = {"FLOWWATCH_ES_URL": peer.url(), "FLOWWATCH_ES_CA_FILE": pki.ca, "FLOWWATCH_ES_API_KEY": ENCODED_KEY,
           "FLOWWATCH_ES_INDEX_PREFIX": "cli", "FLOWWATCH_KAFKA_BOOTSTRAP": "127.0.0.1:1"}
    made = _cli(["keys", "create", "--role", "soc_analyst", "--json"], env, tmp_path)
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["key"].startswith("fw_")
    no_ilm = _cli(["init-cluster", "--no-topics", "--timeout", "20"], env, tmp_path)  # noida-db has no ILM API
    assert no_ilm.returncode == 1 and "no ILM API" in no_ilm.stderr and "Traceback" not in no_ilm.stderr
    init = _cli(["init-cluster", "--no-topics", "--no-ilm", "--timeout", "20"], env, tmp_path)
    assert init.returncode == 0, init.stderr
    assert json.loads(init.stdout)["elasticsearch_version"].startswith("8.")
    for args in (["keys", "create", "--role", "soc_analyst"],
                 ["init-cluster", "--no-topics", "--no-ilm", "--timeout", "5"]):
        bad = _cli(args, {**env, "FLOWWATCH_ES_API_KEY": base64.b64encode(b"fw-indexer:bad").decode()}, tmp_path)
        assert bad.returncode == 1
        assert "refused the API key (401 Unauthorized): fix FLOWWATCH_ES_API_KEY" in bad.stdout + bad.stderr
        assert "Traceback" not in bad.stdout + bad.stderr
    untrusted = _cli(["init-cluster", "--no-topics", "--no-ilm", "--timeout", "5"],
                     {**env, "FLOWWATCH_ES_CA_FILE": pki.other_ca}, tmp_path)
    assert untrusted.returncode == 1 and "FLOWWATCH_ES_CA_FILE" in untrusted.stderr
    assert "Traceback" not in untrusted.stderr


def test_compliance_gauges_count_in_elasticsearch_with_a_read_only_user(peer: EsAuthPeer, pki: Pki) -> None:
    """``flowwatch_open_alerts`` and ``flowwatch_overdue_obligations`` from real searches (nested aggregation)
    through the enforcing peer, with the read-only principal a monitoring deployment would use."""
    from datetime import UTC, datetime, timedelta

    from prometheus_client import CollectorRegistry, generate_latest

    from flowwatch.es_indices import alerts_index, incidents_index
    from flowwatch.observability import ComplianceGauges

    writer = settings(peer, es_ca_file=pki.ca, es_api_key=ENCODED_KEY)
    es = make_es(writer)
    ensure_templates(es, "sec")
    now = datetime.now(UTC)
    for i, (severity, status) in enumerate([("critical", "open"), ("critical", "open"), ("high", "open"),
                                            ("high", "acknowledged"), ("low", "resolved")]):
        es.index(index=alerts_index("sec", now), id=f"a{i}", document={
            "alert_id": f"a{i}", "severity": severity, "status": status, "raised_at": now.isoformat()})
    past, future = (now - timedelta(hours=2)).isoformat(), (now + timedelta(days=2)).isoformat()
    es.index(index=incidents_index("sec"), id="i1", document={"id": "i1", "incident_id": "i1", "obligations": [
        {"id": "regulator_report", "status": "pending", "due_at": past},
        {"id": "subject_notice", "status": "pending", "due_at": future},
        {"id": "followup_report", "status": "overdue", "due_at": past}]})
    es.index(index=incidents_index("sec"), id="i2", document={"id": "i2", "incident_id": "i2", "obligations": [
        {"id": "regulator_report", "status": "pending", "due_at": past},
        {"id": "subject_notice", "status": "done", "due_at": past}]})
    es.indices.refresh(index="sec-*")

    reader = settings(peer, es_ca_file=pki.ca, es_username="auditor", es_password="pw-reader")
    gauges = ComplianceGauges(ttl=0)
    registry = CollectorRegistry()
    registry.register(gauges)
    gauges.attach(make_es(reader), "sec")
    text = generate_latest(registry).decode()
    assert 'flowwatch_open_alerts{severity="critical"} 2.0' in text
    assert 'flowwatch_open_alerts{severity="high"} 1.0' in text
    assert 'flowwatch_overdue_obligations{obligation="regulator_report"} 2.0' in text
    assert 'flowwatch_overdue_obligations{obligation="followup_report"} 1.0' in text
    assert "subject_notice" not in text
    assert "flowwatch_compliance_gauges_up 1.0" in text
    refused_before = peer.refused
    gauges.attach(make_es(settings(peer, es_ca_file=pki.ca, es_username="auditor", es_password="wrong")), "sec")
    text = generate_latest(registry).decode()
    assert "flowwatch_compliance_gauges_up 0.0" in text and peer.refused > refused_before
