"""``flowwatch.es_client``: the one Elasticsearch client factory and its error messages. The real 401/403/TLS
answers come from tests/integration/test_secure_es.py; these check the mapping and the messages."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig, TlsError
from elastic_transport import ConnectionError as TransportConnectionError
from elasticsearch import AuthenticationException, AuthorizationException
from pydantic import ValidationError

from flowwatch.es_client import ElasticsearchConfigError, check_es, es_client_kwargs, explain_es_error, make_es
from flowwatch.settings import ApiSettings, ElasticsearchSettings, IndexerSettings

CLOUD_ID = "fw:" + base64.b64encode(b"cn-north-1.example.com$abc123$def456").decode()


def test_api_key_forms_and_precedence_over_basic_auth() -> None:
    encoded = base64.b64encode(b"id1:key1").decode()
    assert es_client_kwargs(ElasticsearchSettings(es_api_key=encoded))["api_key"] == encoded
    kw = es_client_kwargs(ElasticsearchSettings(es_api_key="id1:key1", es_username="u", es_password="p"))
    assert kw["api_key"] == ("id1", "key1") and "basic_auth" not in kw
    assert es_client_kwargs(ElasticsearchSettings(es_username="u", es_password="p"))["basic_auth"] == ("u", "p")
    client = make_es(ElasticsearchSettings(es_api_key="id1:key1"))
    assert client._headers["authorization"] == "ApiKey " + encoded  # what goes on the wire


def test_tls_settings() -> None:
    kw = es_client_kwargs(ElasticsearchSettings(es_url="https://es1:9200,https://es2:9200", es_ca_file="/ca.pem"))
    assert kw == {"hosts": ["https://es1:9200", "https://es2:9200"], "ca_certs": "/ca.pem"}
    kw = es_client_kwargs(ElasticsearchSettings(es_url="https://es:9200", es_ssl_fingerprint="AB:CD:EF"))
    assert kw["ssl_assert_fingerprint"] == "abcdef"
    kw = es_client_kwargs(ElasticsearchSettings(es_url="https://es:9200", es_verify_certs=False))
    assert kw["verify_certs"] is False


def test_cloud_id_replaces_the_url() -> None:
    kw = es_client_kwargs(ElasticsearchSettings(es_cloud_id=CLOUD_ID, es_api_key="a:b"))
    assert kw["cloud_id"] == CLOUD_ID and "hosts" not in kw
    node = make_es(ElasticsearchSettings(es_cloud_id=CLOUD_ID, es_api_key="a:b")).transport.node_pool.get()
    assert (node.scheme, node.host, node.port) == ("https", "abc123.cn-north-1.example.com", 443)


def test_every_service_reads_the_same_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWWATCH_ES_URL", "https://es.internal:9200")
    monkeypatch.setenv("FLOWWATCH_ES_API_KEY", "k:v")
    monkeypatch.setenv("FLOWWATCH_ES_CA_FILE", "/etc/flowwatch/es-ca.pem")
    for cls in (ElasticsearchSettings, IndexerSettings, ApiSettings):
        kw = es_client_kwargs(cls())
        assert (kw["hosts"], kw["api_key"], kw["ca_certs"]) == (
            ["https://es.internal:9200"], ("k", "v"), "/etc/flowwatch/es-ca.pem"), cls


@pytest.mark.parametrize(("kw", "names"), [
    ({"es_username": "u"}, "FLOWWATCH_ES_USERNAME is set without FLOWWATCH_ES_PASSWORD"),
    ({"es_ca_file": "/ca.pem", "es_ssl_fingerprint": "ab"}, "FLOWWATCH_ES_CA_FILE or FLOWWATCH_ES_SSL_FINGERPRINT"),
])
def test_impossible_combinations_name_the_variables(kw: dict, names: str) -> None:
    with pytest.raises(ValidationError, match=names):
        ElasticsearchSettings(**kw)


def _meta(status: int) -> ApiResponseMeta:
    return ApiResponseMeta(status=status, http_version="1.1", headers=HttpHeaders(), duration=0.0,
                           node=NodeConfig("https", "es", 9200))


@pytest.mark.parametrize(("exc", "settings", "expected"), [
    (AuthenticationException("x", _meta(401), {}), {"es_api_key": "a:b"},
     "refused the API key (401 Unauthorized): fix FLOWWATCH_ES_API_KEY, or FLOWWATCH_ES_USERNAME"),
    (AuthenticationException("x", _meta(401), {}), {"es_username": "fw", "es_password": "p"}, "refused user 'fw'"),
    (AuthorizationException("x", _meta(403), {"error": {"reason": "action [indices:admin/create] is unauthorized"}}),
     {"es_username": "fw", "es_password": "p"},
     "refused the request (403 Forbidden): give it a role with the index privileges on flowwatch-*"),
    (TlsError("certificate verify failed: unable to get local issuer certificate"), {},
     "not trusted: set FLOWWATCH_ES_CA_FILE"),
    (TlsError("Fingerprints did not match"), {}, "is not FLOWWATCH_ES_SSL_FINGERPRINT"),
    (TransportConnectionError("Connection refused"), {}, "cannot reach Elasticsearch at https://es:9200: fix "
                                                         "FLOWWATCH_ES_URL"),
])
def test_errors_are_explained_with_the_setting_to_fix(exc: Exception, settings: dict, expected: str) -> None:
    message = explain_es_error(exc, ElasticsearchSettings(es_url="https://es:9200", **settings))
    assert expected in message and "\n" not in message


class FakeEs:
    def __init__(self, answer: Any) -> None:
        self.answer = answer

    def info(self) -> Any:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def test_check_es_wants_8x_and_explains_errors() -> None:
    s = ElasticsearchSettings(es_url="https://es:9200")
    assert check_es(FakeEs({"version": {"number": "8.15.0"}}), s)["version"]["number"] == "8.15.0"  # type: ignore[arg-type]
    with pytest.raises(ElasticsearchConfigError, match=r"is version 7\.17\.9; Flowwatch needs 8\.x"):
        check_es(FakeEs({"version": {"number": "7.17.9"}}), s)  # type: ignore[arg-type]
    with pytest.raises(ElasticsearchConfigError, match="401 Unauthorized"):
        check_es(FakeEs(AuthenticationException("x", _meta(401), {})), s)  # type: ignore[arg-type]
