"""``flowwatch.kafka_client``: one set of Kafka security settings turned into each client's configuration, and
clear messages for refused credentials and TLS failures. The real handshakes are in
tests/integration/test_secure_kafka.py; these check the mapping and the messages."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import trustme
from pydantic import ValidationError

from flowwatch.kafka_client import (
    REQUIRED_APIS,
    KafkaConfigError,
    aiokafka_kwargs,
    check_api_versions,
    confluent_config,
    explain_kafka_error,
    faust_broker,
    faust_credentials,
    kafka_settings,
    ssl_context,
)
from flowwatch.settings import ApiSettings, DetectorSettings, IndexerSettings, KafkaSettings


@pytest.fixture
def pem(tmp_path: Path) -> dict[str, str]:
    ca = trustme.CA()
    client = ca.issue_cert("client@example.com")
    paths = {"ca": tmp_path / "ca.pem", "cert": tmp_path / "client.pem", "key": tmp_path / "client.key"}
    ca.cert_pem.write_to_path(str(paths["ca"]))
    client.cert_chain_pems[0].write_to_path(str(paths["cert"]))
    client.private_key_pem.write_to_path(str(paths["key"]))
    return {k: str(v) for k, v in paths.items()}


def sasl_ssl(pem: dict[str, str], **kw: object) -> KafkaSettings:
    return KafkaSettings(kafka_bootstrap="b1:9093,b2:9093", kafka_security_protocol="SASL_SSL",
                         kafka_sasl_mechanism="SCRAM-SHA-512", kafka_sasl_username="fw",
                         kafka_sasl_password="pw", kafka_ssl_ca_file=pem["ca"], **kw)  # type: ignore[arg-type]


def test_plaintext_config_is_the_bootstrap_only() -> None:
    assert confluent_config(KafkaSettings(kafka_bootstrap="k:9092"), **{"group.id": "g"}) == {
        "bootstrap.servers": "k:9092", "group.id": "g"}
    assert faust_credentials(KafkaSettings()) is None
    assert aiokafka_kwargs(KafkaSettings(kafka_bootstrap="k:9092")) == {"bootstrap_servers": "k:9092",
                                                                        "security_protocol": "PLAINTEXT"}


def test_sasl_ssl_scram_for_librdkafka(pem: dict[str, str]) -> None:
    conf = confluent_config(sasl_ssl(pem), **{"acks": "all"})
    assert conf == {"bootstrap.servers": "b1:9093,b2:9093", "security.protocol": "sasl_ssl",
                    "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "fw", "sasl.password": "pw",
                    "ssl.ca.location": pem["ca"], "ssl.endpoint.identification.algorithm": "https", "acks": "all"}


def test_mutual_tls_for_librdkafka_and_python_ssl(pem: dict[str, str]) -> None:
    s = KafkaSettings(kafka_security_protocol="SSL", kafka_ssl_ca_file=pem["ca"], kafka_ssl_cert_file=pem["cert"],
                      kafka_ssl_key_file=pem["key"], kafka_ssl_check_hostname=False)
    conf = confluent_config(s)
    assert conf["security.protocol"] == "ssl" and "sasl.mechanism" not in conf
    assert (conf["ssl.certificate.location"], conf["ssl.key.location"]) == (pem["cert"], pem["key"])
    assert conf["ssl.endpoint.identification.algorithm"] == "none"
    context = ssl_context(s)
    assert context is not None and context.check_hostname is False and context.verify_mode == ssl.CERT_REQUIRED
    assert any(c["subject"] for c in context.get_ca_certs())  # the CA bundle is loaded


def test_faust_credentials_carry_mechanism_and_tls(pem: dict[str, str]) -> None:
    import faust
    from faust.types.auth import AuthProtocol

    creds = faust_credentials(sasl_ssl(pem))
    assert isinstance(creds, faust.SASLCredentials)
    assert (creds.username, creds.password, creds.mechanism.value) == ("fw", "pw", "SCRAM-SHA-512")
    assert creds.protocol == AuthProtocol.SASL_SSL and isinstance(creds.ssl_context, ssl.SSLContext)
    plain = faust_credentials(KafkaSettings(kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_mechanism="PLAIN",
                                            kafka_sasl_username="u", kafka_sasl_password="p"))
    assert plain.protocol == AuthProtocol.SASL_PLAINTEXT and plain.ssl_context is None
    tls = faust_credentials(KafkaSettings(kafka_security_protocol="SSL", kafka_ssl_ca_file=pem["ca"]))
    assert isinstance(tls, faust.SSLCredentials)
    assert faust_broker(sasl_ssl(pem)) == ["kafka://b1:9093", "kafka://b2:9093"]


def test_aiokafka_kwargs_as_faust_passes_them(pem: dict[str, str]) -> None:
    kw = aiokafka_kwargs(sasl_ssl(pem))
    assert kw["security_protocol"] == "SASL_SSL" and kw["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (kw["sasl_plain_username"], kw["sasl_plain_password"]) == ("fw", "pw")
    assert isinstance(kw["ssl_context"], ssl.SSLContext)


def test_settings_from_environment_for_every_service(monkeypatch: pytest.MonkeyPatch, pem: dict[str, str]) -> None:
    monkeypatch.setenv("FLOWWATCH_KAFKA_BOOTSTRAP", "k1:9094")
    monkeypatch.setenv("FLOWWATCH_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("FLOWWATCH_KAFKA_SASL_MECHANISM", "SCRAM-SHA-256")
    monkeypatch.setenv("FLOWWATCH_KAFKA_SASL_USERNAME", "svc")
    monkeypatch.setenv("FLOWWATCH_KAFKA_SASL_PASSWORD", "secret")
    monkeypatch.setenv("FLOWWATCH_KAFKA_SSL_CA_FILE", pem["ca"])
    for cls in (KafkaSettings, DetectorSettings, IndexerSettings, ApiSettings):
        conf = confluent_config(cls())
        assert (conf["bootstrap.servers"], conf["sasl.mechanism"], conf["sasl.username"]) == (
            "k1:9094", "SCRAM-SHA-256", "svc"), cls
    # an address given on the command line keeps the environment's security settings
    assert confluent_config(kafka_settings("other:9094"))["sasl.username"] == "svc"
    assert "secret" not in repr(KafkaSettings())


@pytest.mark.parametrize(("kw", "names"), [
    ({"kafka_security_protocol": "SASL_SSL"}, "FLOWWATCH_KAFKA_SASL_USERNAME and FLOWWATCH_KAFKA_SASL_PASSWORD"),
    ({"kafka_security_protocol": "SSL", "kafka_ssl_cert_file": "c.pem"}, "FLOWWATCH_KAFKA_SSL_KEY_FILE"),
    ({"kafka_ssl_ca_file": "ca.pem"}, "does not use TLS: use SSL or SASL_SSL"),
    ({"kafka_security_protocol": "SASL_SSL", "kafka_sasl_username": "u", "kafka_sasl_password": "p",
      "kafka_sasl_mechanism": "GSSAPI"}, "kafka_sasl_mechanism"),
])
def test_impossible_combinations_name_the_variables(kw: dict, names: str) -> None:
    with pytest.raises(ValidationError, match=names):
        KafkaSettings(**kw)


# Error texts as librdkafka, aiokafka and ssl produce them (captured from the integration runs).
SASL_FAILED = ('KafkaError{code=_AUTHENTICATION,val=-169,str="sasl_ssl://127.0.0.1:40091/bootstrap: SASL '
               'authentication error: Authentication failed: invalid credentials (after 15ms in state AUTH_REQ)"}')
UNTRUSTED = ('KafkaError{code=_SSL,val=-181,str="sasl_ssl://127.0.0.1:40091/bootstrap: SSL handshake failed: '
             'error:0A000086:SSL routines::certificate verify failed: broker certificate could not be verified"}')
NO_CLIENT_CERT = ("FAIL [rdkafka#producer-1] [thrd:ssl://127.0.0.1:54393/bootstrap]: ssl://127.0.0.1:54393/"
                  "bootstrap: Disconnected: SSL connection closed by peer (after 0ms in state APIVERSION_QUERY)")
MECHANISM = ("Kafka broker does not support SCRAM-SHA-256 sasl mechanism. Enabled mechanisms are: "
             "['PLAIN', 'SCRAM-SHA-512']")


@pytest.mark.parametrize(("error", "protocol", "expected"), [
    (SASL_FAILED, "SASL_SSL", "refused the SASL credentials of user 'fw' (SCRAM-SHA-512): fix "
                              "FLOWWATCH_KAFKA_SASL_USERNAME / FLOWWATCH_KAFKA_SASL_PASSWORD"),
    (UNTRUSTED, "SASL_SSL", "not trusted: set FLOWWATCH_KAFKA_SSL_CA_FILE"),
    (NO_CLIENT_CERT, "SSL", "client certificate (mutual TLS): set FLOWWATCH_KAFKA_SSL_CERT_FILE"),
    (MECHANISM, "SASL_SSL", "does not offer SASL mechanism SCRAM-SHA-512: fix FLOWWATCH_KAFKA_SASL_MECHANISM"),
    ("[Errno 111] Connect call failed ('127.0.0.1', 1)", "SASL_SSL", "cannot reach Kafka at b1:9093,b2:9093: "
                                                                     "check FLOWWATCH_KAFKA_BOOTSTRAP"),
    ("SaslAuthenticationFailedError: invalid credentials", "PLAINTEXT",
     "asks for SASL authentication: set FLOWWATCH_KAFKA_SECURITY_PROTOCOL=PLAINTEXT to SASL_SSL"),
])
def test_errors_are_explained_with_the_setting_to_fix(pem: dict[str, str], error: str, protocol: str,
                                                      expected: str) -> None:
    s = sasl_ssl(pem) if protocol == "SASL_SSL" else KafkaSettings(
        kafka_bootstrap="b1:9093,b2:9093", kafka_security_protocol=protocol,  # type: ignore[arg-type]
        kafka_ssl_ca_file=pem["ca"] if protocol == "SSL" else None)
    message = explain_kafka_error(error, s)
    assert expected in message
    assert "\n" not in message


def test_api_versions_check_names_what_is_missing() -> None:
    enough = {key: (0, need) for key, (_, need, _) in REQUIRED_APIS.items()}
    check_api_versions(enough)
    old = {**enough, 11: (0, 4)}  # a Kafka 2.2 group coordinator
    with pytest.raises(KafkaConfigError, match=r"JoinGroup v5 \(static group membership \(KIP-345\), Kafka 2.3; "
                                               r"broker: v4\)"):
        check_api_versions(old)
    with pytest.raises(KafkaConfigError, match=r"Produce v3 .*broker: none"):
        check_api_versions({k: v for k, v in enough.items() if k != 0})


def test_detector_refuses_impossible_settings_with_one_line(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {**{k: v for k, v in os.environ.items() if not k.startswith("FLOWWATCH_")},
           "FLOWWATCH_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "FLOWWATCH_KAFKA_BOOTSTRAP": "127.0.0.1:1"}
    done = subprocess.run([sys.executable, "-m", "flowwatch_detector"], env=env, capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == ("error: FLOWWATCH_KAFKA_SECURITY_PROTOCOL=SASL_SSL needs "
                                   "FLOWWATCH_KAFKA_SASL_USERNAME and FLOWWATCH_KAFKA_SASL_PASSWORD")


def test_empty_values_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    """The chart's ConfigMap renders unset options as "" (and the local stack blanks them): they must not count."""
    from flowwatch.es_client import es_client_kwargs
    from flowwatch.settings import ElasticsearchSettings

    for name in ("FLOWWATCH_KAFKA_SSL_CA_FILE", "FLOWWATCH_KAFKA_SSL_CERT_FILE", "FLOWWATCH_KAFKA_SSL_KEY_FILE",
                 "FLOWWATCH_ES_CLOUD_ID", "FLOWWATCH_ES_API_KEY", "FLOWWATCH_ES_CA_FILE",
                 "FLOWWATCH_ES_SSL_FINGERPRINT", "FLOWWATCH_ES_USERNAME"):
        monkeypatch.setenv(name, "")
    assert confluent_config(KafkaSettings(kafka_bootstrap="k:9092")) == {"bootstrap.servers": "k:9092"}
    assert es_client_kwargs(ElasticsearchSettings(es_url="http://es:9200")) == {"hosts": ["http://es:9200"]}
    monkeypatch.setenv("FLOWWATCH_KAFKA_SECURITY_PROTOCOL", "SSL")
    assert ssl_context(KafkaSettings()) is not None  # "" CA file: the system's CAs


def test_the_local_stack_keeps_attach_mode_security_off_the_embedded_engines(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from flowwatch_tools.stack import EMBEDDED_SECURITY, Stack, settings_from

    monkeypatch.setenv("FLOWWATCH_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("FLOWWATCH_KAFKA_SASL_USERNAME", "u")
    monkeypatch.setenv("FLOWWATCH_KAFKA_SASL_PASSWORD", "p")
    monkeypatch.setenv("FLOWWATCH_ES_API_KEY", "id:key")
    monkeypatch.setenv("FLOWWATCH_HASH_KEY", "k")
    embedded = Stack(home=tmp_path / "a").service_env()
    assert embedded.items() >= EMBEDDED_SECURITY.items()
    services = settings_from(KafkaSettings, {**embedded})
    assert services.kafka_security_protocol == "PLAINTEXT"
    external = Stack(home=tmp_path / "b", broker="external").service_env()
    assert "FLOWWATCH_KAFKA_SECURITY_PROTOCOL" not in external  # the services keep the environment's settings
    assert external["FLOWWATCH_FINDINGS_PARTITION"] == "day"
