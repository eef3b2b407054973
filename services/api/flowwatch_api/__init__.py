"""Flowwatch query service (FastAPI): findings, incidents, alerts and their triage, the export ledger,
the processor registry, dead letters, notification routes, detection settings, the audit log, regulator
reports and the web UI, behind API keys (or OIDC bearer tokens) with tenant scoping; ``POST /v1/events``
ingests flow events.

Layout: ``app.create_app`` mounts one router per resource (``findings``, ``alerts``, ``incidents``,
``exports``, ``registry``, ``dead_letters``, ``notifications``, ``detection_config``, ``audit_log``,
``ingest``, ``ui_routes``, ``docs_routes``) and the ops routes (``ops``: ``/healthz``, ``/readyz``,
``/metrics``). Routers share ``deps`` (typed dependencies), ``paging`` (``Page[T]``, one sort builder, cursors),
``params``, ``partitions``, ``query`` and ``problems`` (RFC 9457 errors), never each other.
Run with ``flowwatch-api`` (see ``__main__``) or build the app with ``create_app``.
"""

from flowwatch_api.app import create_app

__all__ = ["create_app"]
