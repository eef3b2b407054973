"""The one Elasticsearch client factory of Flowwatch (indexer, query API, CLI, init-cluster).

:func:`make_es` builds an ``elasticsearch.Elasticsearch`` 8.x client from
:class:`~flowwatch.settings.ElasticsearchSettings`: URL(s) or Elastic Cloud id, API key or basic auth, CA bundle
or certificate fingerprint, ``verify_certs``. :func:`explain_es_error` turns a 401, a 403, a TLS failure or an
unreachable cluster into one line naming the ``FLOWWATCH_ES_*`` setting to fix; :func:`check_es` asks the
cluster who it is and refuses anything but Elasticsearch 8.x with that kind of message (never a traceback).
docs/deployment.md has the table of settings.
"""

from __future__ import annotations

from typing import Any

from elasticsearch import Elasticsearch

from flowwatch.settings import ElasticsearchSettings

SUPPORTED_MAJOR = 8
"""Elasticsearch major version Flowwatch's mappings, index templates and ILM bodies are written for."""
CREDENTIALS_HINT = "FLOWWATCH_ES_API_KEY, or FLOWWATCH_ES_USERNAME / FLOWWATCH_ES_PASSWORD"


class ElasticsearchConfigError(RuntimeError):
    """Elasticsearch refused the credentials or the TLS handshake, is not 8.x, or cannot be reached; the
    message names the ``FLOWWATCH_ES_*`` setting to fix."""


def es_client_kwargs(settings: ElasticsearchSettings) -> dict[str, Any]:
    """Keyword arguments of ``Elasticsearch(...)`` for ``settings`` (without timeouts).

    ``hosts`` (list of URLs) or ``cloud_id``; ``api_key`` (the encoded string, or ``(id, key)`` from
    ``id:key``) else ``basic_auth``; ``ca_certs`` or ``ssl_assert_fingerprint`` (hex, no colons);
    ``verify_certs`` (only when false: the client's default is to verify).
    """
    kwargs: dict[str, Any] = {}
    if settings.es_cloud_id:
        kwargs["cloud_id"] = settings.es_cloud_id
    else:
        kwargs["hosts"] = [u.strip() for u in settings.es_url.split(",") if u.strip()]
    if settings.es_api_key is not None and settings.es_api_key.get_secret_value():
        key = settings.es_api_key.get_secret_value()
        key_id, sep, secret = key.partition(":")
        kwargs["api_key"] = (key_id, secret) if sep else key
    elif settings.es_username:
        password = settings.es_password.get_secret_value() if settings.es_password else ""
        kwargs["basic_auth"] = (settings.es_username, password)
    if settings.es_ca_file:
        kwargs["ca_certs"] = settings.es_ca_file
    if settings.es_ssl_fingerprint:
        kwargs["ssl_assert_fingerprint"] = settings.es_ssl_fingerprint.replace(":", "").lower()
    if not settings.es_verify_certs:
        kwargs["verify_certs"] = False
        kwargs["ssl_show_warn"] = False
    return kwargs


def make_es(settings: ElasticsearchSettings | None = None, request_timeout: float = 30.0,
            **kwargs: Any) -> Elasticsearch:
    """An Elasticsearch 8.x client for ``settings`` (default: from the environment); ``request_timeout`` in
    seconds; ``kwargs`` go to the client as they are (e.g. ``max_retries``). Connects lazily: nothing is sent
    until the first request (use :func:`check_es` to fail early with a clear message)."""
    settings = settings or ElasticsearchSettings()
    return Elasticsearch(**es_client_kwargs(settings), request_timeout=request_timeout, **kwargs)


def explain_es_error(exc: BaseException, settings: ElasticsearchSettings) -> str:
    """One line for an Elasticsearch client error, naming the setting to fix:

    - 401 (``AuthenticationException``): the credentials;
    - 403 (``AuthorizationException``): the role of the user or API key (the privileges it lacks);
    - ``TlsError``: the CA bundle / fingerprint / ``verify_certs``; ``https`` against a plain port and back;
    - ``ConnectionError``/``ConnectionTimeout``: the URL or cloud id;
    - ``UnsupportedProductError``: the URL does not lead to Elasticsearch.
    """
    from elastic_transport import ConnectionError as TransportConnectionError
    from elastic_transport import ConnectionTimeout, TlsError
    from elasticsearch import AuthenticationException, AuthorizationException, UnsupportedProductError

    where = f"Elasticsearch at {f'cloud id {settings.es_cloud_id}' if settings.es_cloud_id else settings.es_url}"
    if isinstance(exc, AuthenticationException):
        used = ("the API key" if settings.es_api_key and settings.es_api_key.get_secret_value()
                else f"user {settings.es_username!r}" if settings.es_username else "no credentials")
        return f"{where} refused {used} (401 Unauthorized): fix {CREDENTIALS_HINT}"
    if isinstance(exc, AuthorizationException):
        who = "the API key" if settings.es_api_key and settings.es_api_key.get_secret_value() \
            else f"user {settings.es_username!r}"
        reason = _reason(exc)
        return (f"{where} authenticated {who} but refused the request (403 Forbidden): give it a role with the "
                f"index privileges on {settings.es_index_prefix}-* (create_index, write, read, manage_ilm, "
                f"manage_index_templates) or use other credentials in {CREDENTIALS_HINT}" + (f" ({reason})"
                                                                                              if reason else ""))
    if isinstance(exc, TlsError):
        text = _text(exc)
        if "fingerprint" in text.lower():
            return (f"TLS to {where}: the certificate's fingerprint is not FLOWWATCH_ES_SSL_FINGERPRINT: fix it "
                    f"({text})")
        if "wrong version number" in text.lower() or "record layer failure" in text.lower():
            return (f"TLS to {where} failed: the server does not speak TLS there: use http:// in FLOWWATCH_ES_URL "
                    f"({text})")
        return (f"TLS to {where}: the certificate is not trusted: set FLOWWATCH_ES_CA_FILE to the CA bundle that "
                f"signed it, or FLOWWATCH_ES_SSL_FINGERPRINT to its SHA-256 fingerprint ({text})")
    if isinstance(exc, UnsupportedProductError):
        return f"{where} is not Elasticsearch (no X-Elastic-Product header): fix FLOWWATCH_ES_URL"
    if isinstance(exc, ConnectionTimeout | TransportConnectionError):
        text = _text(exc)
        if settings.es_url.startswith("http://") and ("reset" in text.lower() or "aborted" in text.lower()
                                                      or "disconnected" in text.lower()):
            return f"{where} closed the connection: it may need TLS: use https:// in FLOWWATCH_ES_URL ({text})"
        return f"cannot reach {where}: fix FLOWWATCH_ES_URL or FLOWWATCH_ES_CLOUD_ID ({text})"
    return f"{where}: {type(exc).__name__}: {exc}"


def check_es(es: Elasticsearch, settings: ElasticsearchSettings,
             major: int = SUPPORTED_MAJOR) -> dict[str, Any]:
    """``GET /`` and a check of the version; returns the answer (``version.number``, ``cluster_name`` ...).

    Raises :class:`ElasticsearchConfigError` with :func:`explain_es_error`'s message on 401/403/TLS/connection
    errors, and when ``version.number`` is not ``major``.x.
    """
    from elastic_transport import TransportError
    from elasticsearch import ApiError

    try:
        info = dict(es.info())
    except (ApiError, TransportError) as exc:
        raise ElasticsearchConfigError(explain_es_error(exc, settings)) from None
    number = str(info.get("version", {}).get("number", "?"))
    if not number.split(".")[0].isdigit() or int(number.split(".")[0]) != major:
        raise ElasticsearchConfigError(f"Elasticsearch at {settings.es_url} is version {number}; Flowwatch needs "
                                       f"{major}.x (its mappings, index templates and ILM policies)")
    return info


def _text(exc: BaseException) -> str:
    """The transport error's message and its causes (``str()`` of a ``TlsError`` is only "TLS error")."""
    parts = [str(getattr(exc, "message", "") or exc), *(str(e) for e in getattr(exc, "errors", ()) or ())]
    return "; ".join(dict.fromkeys(p for p in parts if p))


def _reason(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return str(error.get("reason", ""))
    return ""
