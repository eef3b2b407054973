"""Kafka client configuration for every client kind, from one :class:`~flowwatch.settings.KafkaSettings`.

Flowwatch talks to Kafka through two client libraries: confluent-kafka (librdkafka: the indexer's consumer, the
API's producers, the CLI's producer and admin client, the registry reader) and aiokafka (under Faust: the
detector's workers). Each one spells the same security settings differently; this module is the only place
that knows how:

- :func:`confluent_config`: the librdkafka configuration dict (``security.protocol``, ``sasl.*``, ``ssl.*``).
- :func:`faust_broker` / :func:`faust_credentials`: ``broker=`` and ``broker_credentials=`` of ``faust.App``.
- :func:`aiokafka_kwargs`: keyword arguments of ``aiokafka.AIOKafkaProducer``/``AIOKafkaConsumer``.
- :func:`explain_kafka_error` / :func:`check_kafka`: a one-line message naming the setting to fix when the
  broker refuses the credentials or the TLS handshake fails (never a traceback).

Security protocols (Kafka's ``security.protocol``): PLAINTEXT, SSL (TLS, optionally mutual with a client
certificate), SASL_PLAINTEXT and SASL_SSL; SASL mechanisms PLAIN (RFC 4616), SCRAM-SHA-256 (RFC 7677) and
SCRAM-SHA-512 (RFC 5802). docs/deployment.md has the table of settings and what was exercised.
"""

from __future__ import annotations

import logging
import re
import ssl
from typing import Any, TypeVar

from flowwatch.settings import KafkaSettings

S = TypeVar("S", bound=KafkaSettings)
AUTH_HINT = "FLOWWATCH_KAFKA_SASL_USERNAME / FLOWWATCH_KAFKA_SASL_PASSWORD / FLOWWATCH_KAFKA_SASL_MECHANISM"


class KafkaConfigError(RuntimeError):
    """Kafka refused the connection (credentials, TLS, protocol) or cannot be reached; the message says which
    ``FLOWWATCH_KAFKA_*`` setting to fix."""


def confluent_config(settings: KafkaSettings, **extra: Any) -> dict[str, Any]:
    """The confluent-kafka (librdkafka) configuration for ``settings``, plus ``extra`` (dotted librdkafka keys
    passed as a dict: ``confluent_config(s, **{"group.id": "g"})``).

    Returns ``{"bootstrap.servers": ..., "security.protocol": ..., "sasl.mechanism": ..., "ssl.ca.location":
    ...}``: only the keys the protocol needs, so a PLAINTEXT configuration is what it was before security
    settings existed. ``extra`` wins over the security keys.
    """
    conf: dict[str, Any] = {"bootstrap.servers": settings.kafka_bootstrap}
    if settings.kafka_security_protocol != "PLAINTEXT":
        conf["security.protocol"] = settings.kafka_security_protocol.lower()
    if settings.kafka_sasl:
        conf["sasl.mechanism"] = settings.kafka_sasl_mechanism
        conf["sasl.username"] = settings.kafka_sasl_username
        conf["sasl.password"] = settings.kafka_sasl_password.get_secret_value() if settings.kafka_sasl_password else ""
    if settings.kafka_tls:
        if settings.kafka_ssl_ca_file:
            conf["ssl.ca.location"] = settings.kafka_ssl_ca_file
        if settings.kafka_ssl_cert_file:
            conf["ssl.certificate.location"] = settings.kafka_ssl_cert_file
            conf["ssl.key.location"] = settings.kafka_ssl_key_file
        if settings.kafka_ssl_key_password:
            conf["ssl.key.password"] = settings.kafka_ssl_key_password.get_secret_value()
        conf["ssl.endpoint.identification.algorithm"] = "https" if settings.kafka_ssl_check_hostname else "none"
    conf.update(extra)
    return conf


def ssl_context(settings: KafkaSettings) -> ssl.SSLContext | None:
    """The client TLS context of ``settings`` (CA bundle, client certificate for mutual TLS, host-name check),
    or None when the protocol does not use TLS. Raises ``OSError``/``ssl.SSLError`` for unreadable files."""
    if not settings.kafka_tls:
        return None
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=settings.kafka_ssl_ca_file or None)
    context.check_hostname = settings.kafka_ssl_check_hostname
    if settings.kafka_ssl_cert_file and settings.kafka_ssl_key_file:
        password = settings.kafka_ssl_key_password.get_secret_value() if settings.kafka_ssl_key_password else None
        context.load_cert_chain(settings.kafka_ssl_cert_file, settings.kafka_ssl_key_file, password)
    return context


def faust_broker(settings: KafkaSettings) -> list[str]:
    """``broker=`` of ``faust.App``: one ``kafka://host:port`` URL per bootstrap address."""
    return [f"kafka://{hp.strip()}" for hp in settings.kafka_bootstrap.split(",") if hp.strip()]


def faust_credentials(settings: KafkaSettings) -> Any:
    """``broker_credentials=`` of ``faust.App``: ``faust.SASLCredentials`` (SASL_*, with the TLS context for
    SASL_SSL), ``faust.SSLCredentials`` (SSL) or None (PLAINTEXT)."""
    import faust

    context = ssl_context(settings)
    if settings.kafka_sasl:
        password = settings.kafka_sasl_password.get_secret_value() if settings.kafka_sasl_password else None
        return faust.SASLCredentials(username=settings.kafka_sasl_username, password=password,
                                     mechanism=settings.kafka_sasl_mechanism, ssl_context=context)
    if context is not None:
        return faust.SSLCredentials(context)
    return None


def aiokafka_kwargs(settings: KafkaSettings) -> dict[str, Any]:
    """Keyword arguments of aiokafka's producer, consumer and admin client for ``settings``:
    ``bootstrap_servers``, ``security_protocol``, ``sasl_mechanism``, ``sasl_plain_username``,
    ``sasl_plain_password`` and ``ssl_context`` (as Faust passes them)."""
    kwargs: dict[str, Any] = {"bootstrap_servers": settings.kafka_bootstrap,
                              "security_protocol": settings.kafka_security_protocol}
    if settings.kafka_sasl:
        kwargs["sasl_mechanism"] = settings.kafka_sasl_mechanism
        kwargs["sasl_plain_username"] = settings.kafka_sasl_username
        kwargs["sasl_plain_password"] = (settings.kafka_sasl_password.get_secret_value()
                                         if settings.kafka_sasl_password else None)
    context = ssl_context(settings)
    if context is not None:
        kwargs["ssl_context"] = context
    return kwargs


def explain_kafka_error(error: object, settings: KafkaSettings) -> str:
    """A one-line message for a Kafka client error (a confluent ``KafkaError``/``KafkaException``, an aiokafka
    error or an ``ssl`` error), naming the ``FLOWWATCH_KAFKA_*`` setting to fix. Unrecognised errors give the
    generic "cannot reach" message with the client's text."""
    text = str(error)
    low = re.sub(r"\b(sasl_ssl|sasl_plaintext|ssl|plaintext)://", "", text.lower())  # not the broker URLs
    where = f"Kafka at {settings.kafka_bootstrap}"
    proto = f"FLOWWATCH_KAFKA_SECURITY_PROTOCOL={settings.kafka_security_protocol}"
    if "sasl" in low and "mechanism" in low and any(w in low for w in ("unsupported", "not supported",
                                                                        "does not support", "not enabled")):
        return (f"{where} does not offer SASL mechanism {settings.kafka_sasl_mechanism}: "
                f"fix FLOWWATCH_KAFKA_SASL_MECHANISM ({text})")
    if any(w in low for w in ("certificate verify failed", "unable to get local issuer", "self-signed",
                              "self signed")):
        return (f"TLS to {where}: the broker's certificate is not trusted: set FLOWWATCH_KAFKA_SSL_CA_FILE to "
                f"the CA bundle that signed it ({text})")
    if "hostname" in low or "ip address mismatch" in low or "doesn't match" in low:
        return (f"TLS to {where}: the broker's certificate does not name that host: fix FLOWWATCH_KAFKA_BOOTSTRAP "
                f"or, for a test only, FLOWWATCH_KAFKA_SSL_CHECK_HOSTNAME=false ({text})")
    if "certificate required" in low or "handshake failure" in low or "bad certificate" in low \
            or "unknown ca" in low:
        return (f"TLS to {where}: the broker refused the client certificate (mutual TLS): set "
                f"FLOWWATCH_KAFKA_SSL_CERT_FILE and FLOWWATCH_KAFKA_SSL_KEY_FILE to a certificate its CA trusts "
                f"({text})")
    if "authentication" in low or "saslauthentication" in low or "sasl_authentication" in low:
        user = settings.kafka_sasl_username or "(none)"
        if not settings.kafka_sasl:
            return f"{where} asks for SASL authentication: set {proto} to SASL_SSL or SASL_PLAINTEXT and {AUTH_HINT}"
        return (f"{where} refused the SASL credentials of user {user!r} ({settings.kafka_sasl_mechanism}): "
                f"fix {AUTH_HINT} ({text})")
    if "ssl connection closed by peer" in low and settings.kafka_tls:
        # TLS 1.3: a broker that wants a client certificate closes the connection after the handshake
        if not settings.kafka_ssl_cert_file:
            return (f"TLS to {where}: the broker closed the connection after the handshake: it may require a "
                    f"client certificate (mutual TLS): set FLOWWATCH_KAFKA_SSL_CERT_FILE and "
                    f"FLOWWATCH_KAFKA_SSL_KEY_FILE ({text})")
        return (f"TLS to {where}: the broker closed the connection after the handshake: it may not trust the "
                f"client certificate: fix FLOWWATCH_KAFKA_SSL_CERT_FILE / FLOWWATCH_KAFKA_SSL_KEY_FILE ({text})")
    if "ssl" in low or "tls" in low or "wrong version number" in low:
        return (f"TLS to {where} failed: check {proto} (SSL/SASL_SSL need a TLS listener, PLAINTEXT/"
                f"SASL_PLAINTEXT a plain one) and FLOWWATCH_KAFKA_SSL_CA_FILE ({text})")
    if "disconnected" in low and settings.kafka_security_protocol == "PLAINTEXT":
        return (f"{where} closed the connection: it may need TLS or SASL: check {proto} and the "
                f"FLOWWATCH_KAFKA_SASL_* / FLOWWATCH_KAFKA_SSL_* settings ({text})")
    return f"cannot reach {where}: check FLOWWATCH_KAFKA_BOOTSTRAP and {proto} ({text})"


def check_kafka(settings: KafkaSettings, timeout: float = 10.0) -> dict[str, int]:
    """Connect with the admin client and list the topics; returns ``{topic: partition count}``.

    Raises :class:`KafkaConfigError` with :func:`explain_kafka_error`'s message when the broker refuses the
    credentials or TLS handshake (librdkafka reports those through ``error_cb``) or does not answer within
    ``timeout`` seconds.
    """
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    errors: list[Any] = []
    lines = _LogLines()
    logger = logging.getLogger(f"flowwatch.kafka_check.{id(lines)}")  # one per check: its own handler
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(lines)
    admin = AdminClient(confluent_config(settings, error_cb=errors.append, logger=logger, **{
        "socket.connection.setup.timeout.ms": max(1000, int(timeout * 500))}))
    try:
        metadata = admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        admin.poll(0.5)  # serves error_cb and the log: the authentication or TLS error behind the timeout
        cause = _most_telling([*errors, *lines.failures]) or (exc.args[0] if exc.args else exc)
        logging.Logger.manager.loggerDict.pop(logger.name, None)
        raise KafkaConfigError(explain_kafka_error(cause, settings)) from None
    admin.poll(0)
    logging.Logger.manager.loggerDict.pop(logger.name, None)
    auth = _most_telling(errors)
    if auth is not None and _is_security_error(auth):
        raise KafkaConfigError(explain_kafka_error(auth, settings))
    return {name: len(t.partitions) for name, t in metadata.topics.items()}


REQUIRED_APIS: dict[int, tuple[str, int, str]] = {
    0: ("Produce", 3, "record headers (dead-letter reasons), Kafka 0.11"),
    1: ("Fetch", 4, "record headers, Kafka 0.11"),
    11: ("JoinGroup", 5, "static group membership (KIP-345), Kafka 2.3"),
    8: ("OffsetCommit", 2, "explicit offset commits, Kafka 0.9"),
}
"""Kafka API key -> (name, lowest max version Flowwatch needs, why): the protocol check of ``init-cluster`` and
``flowwatch up --external``, from the broker's ApiVersions answer (what the broker speaks, not its release)."""


async def broker_api_versions(settings: KafkaSettings, timeout: float = 20.0) -> dict[int, tuple[int, int]]:
    """``{api key: (min version, max version)}`` from the ApiVersions answer of the first bootstrap broker,
    over the configured security protocol (an aiokafka connection, as the Faust workers make it). Raises
    :class:`KafkaConfigError` with a clear message when the connection, TLS handshake or SASL fails."""
    import asyncio

    from aiokafka.conn import create_conn

    host, _, port = settings.kafka_bootstrap.split(",")[0].strip().rpartition(":")
    kwargs = aiokafka_kwargs(settings)
    kwargs.pop("bootstrap_servers")
    try:
        conn = await asyncio.wait_for(create_conn(host, int(port), request_timeout_ms=int(timeout * 1000),
                                                  **kwargs), timeout)
    except Exception as exc:
        raise KafkaConfigError(explain_kafka_error(exc, settings)) from None
    try:
        return dict(conn._versions)  # filled by the connection's own ApiVersions request at connect
    finally:
        conn.close()


def check_api_versions(versions: dict[int, tuple[int, int]],
                       required: dict[int, tuple[str, int, str]] | None = None) -> None:
    """Raise :class:`KafkaConfigError` naming every API of ``required`` (default :data:`REQUIRED_APIS`) that the
    broker does not speak at the needed version."""
    missing = []
    for key, (name, need, why) in (required or REQUIRED_APIS).items():
        have = versions.get(key)
        if have is None or have[1] < need:
            missing.append(f"{name} v{need} ({why}; broker: {'none' if have is None else f'v{have[1]}'})")
    if missing:
        raise KafkaConfigError("the Kafka brokers are too old for Flowwatch: they lack " + ", ".join(missing))


class _LogLines(logging.Handler):
    """Keeps librdkafka's connection-failure log lines (``FAIL``): some TLS refusals reach no error callback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.failures: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "FAIL" in message or "SSL" in message or "SASL" in message:
            self.failures.append(message)


def _is_security_error(error: Any) -> bool:
    low = str(error).lower()
    low = re.sub(r"\b(sasl_ssl|sasl_plaintext|ssl|plaintext)://", "", low)
    return any(w in low for w in ("authentication", "sasl", "ssl", "tls", "certificate", "handshake"))


def _most_telling(errors: list[Any]) -> Any:
    """The first security error among ``errors`` (the others are usually its consequences), else the first."""
    for error in errors:
        if _is_security_error(error):
            return error
    return errors[0] if errors else None


def kafka_settings(kafka: str | KafkaSettings | None = None) -> KafkaSettings:
    """``kafka`` as settings: given settings as they are; a ``host:port[,...]`` string overrides only the
    bootstrap address (the security settings still come from the environment); None: all from the
    environment. Raises ``pydantic.ValidationError`` (wrapping :class:`~flowwatch.settings.SettingsError`)
    for settings that cannot work."""
    if isinstance(kafka, KafkaSettings):
        return kafka
    return KafkaSettings(kafka_bootstrap=kafka) if kafka else KafkaSettings()


def security_problem(settings: KafkaSettings, timeout: float = 15.0) -> str | None:
    """The start-up check of the services: the message of :func:`check_kafka` when the brokers refuse the
    credentials or the TLS handshake (restarting cannot help: the settings must change), else None; an
    unreachable broker is None too (the services wait and retry)."""
    try:
        check_kafka(settings, timeout=timeout)
    except KafkaConfigError as exc:
        return None if str(exc).startswith("cannot reach") else str(exc)
    return None


def settings_problem(cls: type[S]) -> tuple[S | None, str | None]:
    """``(cls(), None)``, or ``(None, message)`` naming the variables when the environment's settings cannot
    work (the services print it instead of a traceback)."""
    from pydantic import ValidationError

    try:
        return cls(), None
    except ValidationError as exc:
        return None, "; ".join(str(e.get("msg", e)).removeprefix("Value error, ") for e in exc.errors())
