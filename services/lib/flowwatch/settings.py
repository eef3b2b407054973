"""Settings of every Flowwatch service, read from the environment (prefix ``FLOWWATCH_``).

One model per service family (pydantic-settings). Secrets (``FLOWWATCH_HASH_KEY``) come only from the
environment or a Kubernetes Secret; the demo generates one under the state folder.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DETECTOR_APP_ID = "flowwatch-detector"
INCIDENT_STATE_TABLE = "incident-state"
"""The incident agent's one table: batch records of incident persons and incident states."""
EXPORT_PERSONS_TABLE = "export-persons"
"""The egress agent's one table: batch records of person-year keys, event ids and window counts."""
DETECTOR_CHANGELOGS = tuple(
    f"{DETECTOR_APP_ID}-{t}-changelog"
    for t in (INCIDENT_STATE_TABLE, EXPORT_PERSONS_TABLE)
)
"""Changelog topics of the detector's Faust tables: created with the data topics' partition count before any
worker starts (Faust refuses tables whose changelog has another partition count)."""


class Topics(BaseSettings):
    """Kafka topic names and partition counts. Everything is keyed by ``processor.id``."""

    model_config = SettingsConfigDict(env_prefix="FLOWWATCH_TOPIC_", extra="ignore")

    flow_events: str = "flow-events"
    dead_letters: str = "flow-events-dlq"
    findings: str = "findings"
    incident_updates: str = "incident-updates"
    incidents: str = "incidents"
    alerts: str = "alerts"
    export_updates: str = "export-updates"
    export_ledger: str = "export-ledger"
    registry: str = "processor-registry"
    partitions: int = Field(default=4, ge=1, description="Partitions of every data topic.")

    def all_with_partitions(self) -> dict[str, int]:
        """Topic name → partition count, for creation before any worker starts."""
        names = (self.flow_events, self.dead_letters, self.findings, self.incident_updates, self.incidents,
                 self.alerts, self.export_updates, self.export_ledger, self.registry, *DETECTOR_CHANGELOGS)
        return dict.fromkeys(names, self.partitions)


class SettingsError(ValueError):
    """A combination of settings that cannot work; the message names the environment variables to fix."""


KafkaSecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class KafkaSettings(BaseSettings):
    """Where the Kafka-protocol broker is and how every Flowwatch client authenticates to it.

    One set of settings for every client kind (Faust workers, confluent-kafka producers/consumers/admin, the
    API's producers, the CLI); ``flowwatch.kafka_client`` turns them into each client's configuration
    (docs/deployment.md has the table). Raises :class:`SettingsError` (a ``ValueError``; pydantic wraps it in a
    ``ValidationError``) at construction when the combination cannot work, naming the variables to fix.
    """

    model_config = SettingsConfigDict(env_prefix="FLOWWATCH_", extra="ignore")

    kafka_bootstrap: str = Field(default="127.0.0.1:9092", description="host:port[,host:port]")
    kafka_idle_probe: float = Field(
        default=0.0, ge=0,
        description="Seconds between high-watermark probes of a caught-up confluent-kafka consumer whose "
        "partitions are paused (flowwatch.kafka_idle: no busy fetching on brokers that answer empty fetches "
        "at once, like the embedded noida-db; the local stack sets 0.05 there); 0 = never pause (a real Kafka "
        "long-polls empty fetches).",
    )
    kafka_security_protocol: KafkaSecurityProtocol = Field(
        default="PLAINTEXT", description="PLAINTEXT, SSL (TLS), SASL_PLAINTEXT or SASL_SSL (SASL over TLS).")
    kafka_sasl_mechanism: SaslMechanism = Field(
        default="SCRAM-SHA-512", description="SASL mechanism of the SASL_* protocols: PLAIN (RFC 4616), "
        "SCRAM-SHA-256 (RFC 7677) or SCRAM-SHA-512 (RFC 5802 with SHA-512).")
    kafka_sasl_username: str | None = Field(default=None, description="SASL user name (SASL_* protocols).")
    kafka_sasl_password: SecretStr | None = Field(default=None, description="SASL password (SASL_* protocols).")
    kafka_ssl_ca_file: str | None = Field(
        default=None, description="PEM CA bundle that signed the brokers' certificates; unset: the system's CAs.")
    kafka_ssl_cert_file: str | None = Field(
        default=None, description="PEM client certificate for mutual TLS (with FLOWWATCH_KAFKA_SSL_KEY_FILE).")
    kafka_ssl_key_file: str | None = Field(default=None, description="PEM private key of the client certificate.")
    kafka_ssl_key_password: SecretStr | None = Field(default=None, description="Password of an encrypted key.")
    kafka_ssl_check_hostname: bool = Field(
        default=True, description="Check that a broker's certificate names the host connected to.")

    @property
    def kafka_tls(self) -> bool:
        """True when the connections to the brokers use TLS (SSL or SASL_SSL)."""
        return self.kafka_security_protocol in ("SSL", "SASL_SSL")

    @property
    def kafka_sasl(self) -> bool:
        """True when the clients authenticate with SASL (SASL_PLAINTEXT or SASL_SSL)."""
        return self.kafka_security_protocol.startswith("SASL_")

    @model_validator(mode="after")
    def _check_kafka_security(self) -> KafkaSettings:
        if self.kafka_sasl and not (self.kafka_sasl_username and self.kafka_sasl_password):
            raise SettingsError(
                f"FLOWWATCH_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} needs "
                "FLOWWATCH_KAFKA_SASL_USERNAME and FLOWWATCH_KAFKA_SASL_PASSWORD")
        if bool(self.kafka_ssl_cert_file) != bool(self.kafka_ssl_key_file):
            raise SettingsError("mutual TLS needs both FLOWWATCH_KAFKA_SSL_CERT_FILE and FLOWWATCH_KAFKA_SSL_KEY_FILE")
        tls_files = {"FLOWWATCH_KAFKA_SSL_CA_FILE": self.kafka_ssl_ca_file,
                     "FLOWWATCH_KAFKA_SSL_CERT_FILE": self.kafka_ssl_cert_file}
        if not self.kafka_tls and any(tls_files.values()):
            named = ", ".join(k for k, v in tls_files.items() if v)
            raise SettingsError(f"{named} set but FLOWWATCH_KAFKA_SECURITY_PROTOCOL="
                                f"{self.kafka_security_protocol} does not use TLS: use SSL or SASL_SSL")
        return self


class ElasticsearchSettings(BaseSettings):
    """Where Elasticsearch is, how Flowwatch authenticates to it, and the prefix of Flowwatch's indices.

    ``flowwatch.es_client.make_es`` is the one client factory built from these settings (docs/deployment.md has
    the table). Raises :class:`SettingsError` at construction for combinations that cannot work.
    """

    model_config = SettingsConfigDict(env_prefix="FLOWWATCH_", extra="ignore")

    es_url: str = Field(default="http://127.0.0.1:9200", description="URL(s) of Elasticsearch, comma-separated; "
                        "not used when FLOWWATCH_ES_CLOUD_ID is set.")
    es_cloud_id: str | None = Field(default=None, description="Elastic Cloud deployment id (instead of the URL).")
    es_username: str | None = Field(default=None, description="Basic-auth user (with FLOWWATCH_ES_PASSWORD).")
    es_password: SecretStr | None = None
    es_api_key: SecretStr | None = Field(
        default=None, description="API key: the base64 `encoded` value, or `id:api_key`; wins over basic auth.")
    es_ca_file: str | None = Field(default=None, description="PEM CA bundle that signed Elasticsearch's certificate.")
    es_ssl_fingerprint: str | None = Field(
        default=None, description="SHA-256 fingerprint (hex, colons allowed) of Elasticsearch's certificate, "
        "as printed by Elasticsearch 8 at first start; an alternative to the CA bundle.")
    es_verify_certs: bool = Field(
        default=True, description="Verify Elasticsearch's TLS certificate. Turn off only for a throw-away test.")
    es_index_prefix: str = "flowwatch"
    findings_partition: Literal["hour", "day"] = Field(
        default="hour",
        description="Time span of one findings index: hour (the embedded engine scans whole indices) or day "
        "(a real Elasticsearch cluster; the Helm chart sets it). The API reads both.",
    )

    @model_validator(mode="after")
    def _check_es_security(self) -> ElasticsearchSettings:
        if self.es_username and self.es_password is None:
            raise SettingsError("FLOWWATCH_ES_USERNAME is set without FLOWWATCH_ES_PASSWORD")
        if self.es_ca_file and self.es_ssl_fingerprint:
            raise SettingsError("set FLOWWATCH_ES_CA_FILE or FLOWWATCH_ES_SSL_FINGERPRINT, not both")
        return self


class DetectorSettings(KafkaSettings):
    """Detector (Faust workers)."""

    hash_key: SecretStr = Field(
        default=SecretStr(""),
        description="HMAC key for subject hashes derived from identifiers. Required in production.",
    )
    batch_size: int = Field(default=500, ge=1, description="Events per micro-batch (stream.take).")
    batch_within: float = Field(default=0.2, gt=0, description="Seconds to wait to fill a batch.")
    scan_processes: int = Field(
        default=0, ge=0, description="Process-pool size for scanning; 0 scans in one helper thread of the worker."
    )
    faust_store: str = Field(default="memory://", description="Faust table store; rocksdb:// in production.")
    session_timeout: float = Field(
        default=10.0, gt=0, description="Seconds without heartbeat before a dead worker's partitions move."
    )
    instance_id: str | None = Field(
        default=None,
        description="Static group membership id (KIP-345), stable across restarts (e.g. the StatefulSet pod "
        "name): a restarted worker takes back its partitions without a group rebalance.",
    )
    rebalance_timeout: float = Field(default=20.0, gt=0, description="Seconds members get to rejoin a rebalance.")
    incident_tick: float = Field(
        default=5.0, gt=0, description="Seconds between checks of incident deadlines (alert precision)."
    )
    tail_check_interval: float = Field(
        default=10.0, ge=0,
        description="Seconds between the checks that every source partition assigned to a worker was consumed to "
        "its end; a partition that got no batch for that long while the broker holds records past what its agent "
        "applied is read from the broker and applied (flowwatch_detector.tail_repair). 0 turns the check off.",
    )
    rule_packs_dir: str | None = Field(
        default=None, description="Folder of extra incident rule packs (*.yaml), loaded beside the built-in ones."
    )
    export_packs_dir: str | None = Field(
        default=None, description="Folder of extra export rule packs (*.yaml), loaded beside the built-in ones."
    )
    loop_probe_interval: float = Field(
        default=0.1, ge=0, description="Seconds between event-loop lag probes of a worker; 0 turns the monitor off."
    )
    loop_stats_interval: float = Field(
        default=10.0, gt=0, description="Seconds between loop-lag/heartbeat reports (one JSON log line each)."
    )
    empty_fetch_backoff: float = Field(
        default=0.05, ge=0,
        description="Seconds a worker's consumer waits after a fetch that came back empty before the broker's "
        "fetch.max.wait (client-side long poll for brokers that answer empty fetches at once, like the embedded "
        "noida-db; no effect on a real Kafka). 0 = aiokafka's own behaviour.",
    )


class IndexerSettings(KafkaSettings, ElasticsearchSettings):
    """Indexer (Kafka → Elasticsearch bulk writer)."""

    bulk_max_docs: int = Field(default=1000, ge=1, description="Most documents in one bulk request.")
    bulk_max_wait: float = Field(default=0.5, gt=0, description="Seconds to wait to fill a bulk request.")
    group_id: str = "flowwatch-indexer"


class ApiSettings(ElasticsearchSettings, KafkaSettings):
    """Query service (FastAPI)."""

    api_host: str = "127.0.0.1"
    api_port: int = 8080
    key_cache_seconds: float = Field(default=5.0, ge=0, description="How long a looked-up API key is cached.")
    kafka_bootstrap: str = Field(
        default="127.0.0.1:9092", description="host:port[,host:port]; the API produces obligation marks."
    )
    # Optional OIDC/JWT bearer tokens (issue 6): accepted besides API keys when an issuer is set.
    oidc_issuer: str | None = Field(default=None, description="Expected `iss` of bearer JWTs; unset: JWTs off.")
    oidc_audience: str | None = Field(default=None, description="Expected `aud` of bearer JWTs.")
    oidc_jwks_url: str | None = Field(default=None, description="JWKS URL of the identity provider.")
    oidc_jwks_file: str | None = Field(default=None, description="JWKS JSON file (offline alternative).")
    oidc_role_claim: str = Field(default="flowwatch_role", description="Claim holding the Flowwatch role.")
    oidc_processor_claim: str = Field(default="flowwatch_processor",
                                      description="Claim holding the processor id of a platform role.")
    # API abuse (issue 17 point 4): per-key rate limits, request-size limits, slow clients and floods.
    # flowwatch_api.abuse enforces the first two, flowwatch_api.serving hands the rest to uvicorn.
    # A rate of 0 turns that budget off. Budgets are per API replica (in-process): N replicas admit N x.
    api_rate_ingest_events: float = Field(
        default=2000.0, ge=0,
        description="POST /v1/events: events per second per API key (a batch of n events costs n tokens).")
    api_rate_ingest_burst: int = Field(
        default=10_000, ge=1000,
        description="POST /v1/events: bucket size in events per API key (at least one full batch, 1,000).")
    api_rate_write: float = Field(
        default=20.0, ge=0, description="Other writes (POST/PUT/PATCH/DELETE): requests per second per API key.")
    api_rate_write_burst: int = Field(default=100, ge=1, description="Other writes: bucket size in requests.")
    api_rate_read: float = Field(
        default=100.0, ge=0, description="Reads (GET/HEAD under /v1): requests per second per API key.")
    api_rate_read_burst: int = Field(default=400, ge=1, description="Reads: bucket size in requests.")
    api_rate_auth_failures: float = Field(
        default=5.0, ge=0,
        description="Failed authentications (401) per second per client IP; beyond the burst an IP gets 429 "
        "before any key lookup, except for keys already cached as valid.")
    api_rate_auth_failures_burst: int = Field(default=50, ge=1, description="Failed authentications: bucket size.")
    api_rate_max_tracked: int = Field(
        default=10_000, ge=1,
        description="Most API keys (or client IPs) tracked per budget; idle ones (bucket full again) go first, "
        "then the least recently seen.")
    api_max_body_ingest: int = Field(
        default=16_000_000, ge=1, description="Bytes: largest POST /v1/events body (413 beyond).")
    api_max_body: int = Field(default=1_048_576, ge=0, description="Bytes: largest body of any other request.")
    api_body_timeout: float = Field(
        default=60.0, gt=0, description="Seconds a client gets to send a whole request body (408 beyond).")
    api_header_timeout: float = Field(
        default=10.0, gt=0,
        description="Seconds a client gets from its first byte (or from connecting) to the end of the request "
        "headers; then the connection is closed (slow-header clients).")
    api_timeout_keep_alive: int = Field(
        default=5, ge=1, description="Seconds an idle keep-alive connection stays open (uvicorn).")
    api_limit_concurrency: int | None = Field(
        default=500, ge=1,
        description="Most open connections or running requests before new requests get 503 (uvicorn); unset: "
        "no limit.")
    api_backlog: int = Field(default=2048, ge=1, description="Listen backlog of the server socket (uvicorn).")
    api_max_header_bytes: int = Field(
        default=16_384, ge=1024,
        description="Bytes: largest request line plus headers (uvicorn h11_max_incomplete_event_size; 400 beyond).")
    api_forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        description="Proxies whose X-Forwarded-For uvicorn trusts for the client IP (comma-separated, or *).")


@lru_cache(maxsize=1)
def topics() -> Topics:
    """The topic settings of this process (cached)."""
    return Topics()
