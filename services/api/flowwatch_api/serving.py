"""How the API is served: uvicorn's settings for slow clients and connection floods (issue 17 point 4).

``uvicorn_kwargs(settings)`` maps ``ApiSettings`` to ``uvicorn.run`` arguments:

- ``timeout_keep_alive`` (``FLOWWATCH_API_TIMEOUT_KEEP_ALIVE``, 5 s): an idle keep-alive connection is closed.
- ``limit_concurrency`` (``FLOWWATCH_API_LIMIT_CONCURRENCY``, 500): beyond that many open connections or
  running requests, uvicorn answers new requests 503 at once (plain text, ``Connection: close``) instead
  of queueing them; a flood degrades to fast 503s, not to unbounded memory and latency.
- ``backlog`` (``FLOWWATCH_API_BACKLOG``, 2048): connections the kernel queues before ``accept``.
- ``h11_max_incomplete_event_size`` (``FLOWWATCH_API_MAX_HEADER_BYTES``, 16 KiB): largest request line plus
  headers; beyond it uvicorn answers 400.
- ``forwarded_allow_ips`` (``FLOWWATCH_API_FORWARDED_ALLOW_IPS``, 127.0.0.1): the proxies whose
  ``X-Forwarded-For`` names the client IP (the failed-authentication budget is per client IP).
- ``http``: ``HeaderTimeoutH11Protocol`` below.

uvicorn has no timeout on reading request headers: a client that connects, or sends a request line and then
one header byte every few seconds (slowloris), holds its connection — and a place under
``limit_concurrency`` — for ever. ``HeaderTimeoutH11Protocol`` closes a connection whose request headers are
not complete ``FLOWWATCH_API_HEADER_TIMEOUT`` seconds (10 s) after it opened or after the first byte of a
further keep-alive request. A slow *body* is cut by ``flowwatch_api.abuse.RequestLimits`` (408 after
``FLOWWATCH_API_BODY_TIMEOUT``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from flowwatch.settings import ApiSettings


class HeaderTimeoutH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline on the request headers (``header_timeout`` seconds, class
    attribute set by ``protocol_for``); the connection is closed without an answer when it passes."""

    header_timeout: float = 10.0

    def __init__(self, config: Config, server_state: ServerState, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._header_timer: asyncio.TimerHandle | None = None

    def _arm_header_timer(self) -> None:
        self._disarm_header_timer()
        self._header_timer = self.loop.call_later(self.header_timeout, self._header_timed_out)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timed_out(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing() and (self.cycle is None or self.cycle.response_complete):
            self.logger.info("closing a connection whose request headers took over %.0f s", self.header_timeout)
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        idle = self.cycle is None or self.cycle.response_complete
        if idle and self._header_timer is None:  # first bytes of a further keep-alive request
            self._arm_header_timer()
        before = self.cycle
        super().data_received(data)
        if self.cycle is not before:  # headers complete: a new request cycle started
            self._disarm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)


def protocol_for(settings: ApiSettings) -> type[HeaderTimeoutH11Protocol]:
    """A ``HeaderTimeoutH11Protocol`` subclass with ``settings.api_header_timeout``."""
    return type("FlowwatchH11Protocol", (HeaderTimeoutH11Protocol,), {"header_timeout": settings.api_header_timeout})


def uvicorn_kwargs(settings: ApiSettings) -> dict[str, Any]:
    """Arguments of ``uvicorn.run`` / ``uvicorn.Config`` for ``settings`` (see module doc)."""
    return {
        "host": settings.api_host,
        "port": settings.api_port,
        "http": protocol_for(settings),
        "timeout_keep_alive": settings.api_timeout_keep_alive,
        "limit_concurrency": settings.api_limit_concurrency,
        "backlog": settings.api_backlog,
        "h11_max_incomplete_event_size": settings.api_max_header_bytes,
        "forwarded_allow_ips": settings.api_forwarded_allow_ips,
    }
