"""Authentication and tenant scoping of the query service — the ONE place that turns a caller into filters.

Every ``/v1/*`` route depends on ``current_principal`` (``Authorization: Bearer <key>``; missing, malformed,
unknown or revoked key → 401 with ``WWW-Authenticate: Bearer``). Routes never build tenant filters
themselves: they call ``scope_filters(principal)`` and AND the clauses into their query, so a ``platform``
key can only ever see documents whose tenant field equals its processor id, whatever the request says.

Role → filter clauses (Elasticsearch query DSL, for the ``filter`` of a ``bool`` query):

- ``admin``, ``soc_analyst``: ``[]`` (every tenant).
- ``regulator``: ``[]`` (every tenant, read-only; stored documents hold masked PI only). Write routes
  must exclude it with ``require_roles``.
- ``platform``: ``[{"term": {<tenant_field>: <its processor id>}}]``.
- anything else (defensive): ``[{"match_none": {}}]``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from elasticsearch import Elasticsearch
from fastapi import Depends, HTTPException, Request, Response, status
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from flowwatch.apikeys import ApiKeyRecord, KeyCache, Role, lookup_key
from flowwatch.audit import Actor
from flowwatch.settings import ApiSettings
from flowwatch_api.abuse import RateLimits, client_ip, rate_limits_of
from flowwatch_api.oidc import InvalidToken, OidcVerifier, looks_like_jwt

log = logging.getLogger(__name__)

BAD_REQUEST: dict[int | str, dict[str, Any]] = {
    400: {"description": "Malformed cursor, or a request body that is not JSON (UTF-8)."},
}
"""Router-level response of every /v1 router (lists take cursors, writes take bodies)."""

TENANT_FIELD = "processor_id"
"""Field holding the tenant (processor id) in every Flowwatch document."""

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="bearerAuth",
    bearerFormat="fw_<key_id>_<secret>",
    description="API key created with `flowwatch keys create`, sent as `Authorization: Bearer KEY`; or, when "
    "the service is configured for OIDC, a JWT of the organisation's identity provider (role in the "
    "`flowwatch_role` claim, a platform's processor in `flowwatch_processor`).",
)


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: the API key's public id, role and (``platform`` only) processor id."""

    key_id: str
    role: Role
    processor_id: str | None = None
    name: str | None = None

    @classmethod
    def from_record(cls, record: ApiKeyRecord) -> Principal:
        """Principal of a stored, valid API key."""
        return cls(key_id=record.key_id, role=record.role, processor_id=record.processor_id, name=record.name)


def actor_of(principal: Principal) -> Actor:
    """The audit ``Actor`` (``flowwatch.audit``) of an authenticated caller."""
    return Actor(key_id=principal.key_id, name=principal.name, role=str(principal.role))


def scope_filters(principal: Principal, tenant_field: str = TENANT_FIELD) -> list[dict[str, Any]]:
    """ES ``bool.filter`` clauses restricting ``principal`` to the documents it may read (see module doc).

    ``tenant_field`` is the keyword field holding the processor id in the searched index.
    """
    if principal.role in (Role.ADMIN, Role.SOC_ANALYST, Role.REGULATOR):
        return []
    if principal.role is Role.PLATFORM and principal.processor_id:
        return [{"term": {tenant_field: principal.processor_id}}]
    return [{"match_none": {}}]


def may_read(principal: Principal, processor_id: str | None) -> bool:
    """Whether ``principal`` may read a document of tenant ``processor_id`` — the same rule as
    ``scope_filters``, for documents fetched by id (multi-get) rather than searched."""
    if principal.role in (Role.ADMIN, Role.SOC_ANALYST, Role.REGULATOR):
        return True
    return principal.role is Role.PLATFORM and bool(principal.processor_id) and processor_id == principal.processor_id


# ---------------------------------------------------------------------------------------------------
# Request context (objects created once per app by ``create_app``)
# ---------------------------------------------------------------------------------------------------


def app_es(request: Request) -> Elasticsearch:
    """The app's Elasticsearch client (sync; routes are plain ``def`` and run in the threadpool)."""
    es: Elasticsearch = request.app.state.es
    return es


def app_settings(request: Request) -> ApiSettings:
    """The app's settings."""
    settings: ApiSettings = request.app.state.settings
    return settings


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal:
    """Authenticate the request's bearer key (lookups cached for ``key_cache_seconds``) or, when OIDC is
    configured (``flowwatch_api.oidc``), bearer JWT.

    Then charges the request to the key's rate budget (``flowwatch_api.abuse``; once per request).

    Raises HTTPException 401 when the key or token is missing, malformed, unknown, revoked, expired or
    badly signed; 429 when the key's budget is spent, or when the client IP has failed authentication too
    often (checked before the lookup); Elasticsearch errors propagate (the app maps them to 503).
    """
    limits = rate_limits_of(request)
    principal = _authenticate(request, credentials, limits)
    if limits is not None:
        limits.charge_request(request, principal.key_id)
    return principal


def _authenticate(request: Request, credentials: HTTPAuthorizationCredentials | None,
                  limits: RateLimits | None) -> Principal:
    """``current_principal`` without the per-key charge: the failed-authentication budget of the client IP
    (``flowwatch_api.abuse``) is checked before any lookup, except for a key cached as valid."""
    ip = client_ip(request)
    cache: KeyCache = request.app.state.key_cache
    if limits is not None and not (credentials and cache.cached_valid(credentials.credentials)):
        limits.check_auth_failures(ip)

    def refuse(detail: str) -> HTTPException:
        if limits is not None:
            limits.auth_failed(ip)
        return _unauthorized(detail)

    if credentials is None or not credentials.credentials:
        raise refuse("missing bearer API key")
    verifier: OidcVerifier | None = getattr(request.app.state, "oidc", None)
    if verifier is not None and looks_like_jwt(credentials.credentials):
        try:
            key_id, role, processor_id, name = verifier.verify(credentials.credentials)
        except InvalidToken as exc:
            log.info("bearer token refused: %s", exc)
            raise refuse("invalid bearer token") from None
        return Principal(key_id=key_id, role=role, processor_id=processor_id, name=name)
    es = app_es(request)
    prefix = app_settings(request).es_index_prefix
    record = cache.get_or_load(credentials.credentials, lambda key: lookup_key(es, prefix, key))
    if record is None:
        raise refuse("invalid or revoked API key")
    return Principal.from_record(record)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_roles(*roles: Role) -> Any:
    """Dependency factory: the principal, or 403 when its role is not one of ``roles``.

    Use for write or role-specific routes, e.g. ``Depends(require_roles(Role.ADMIN, Role.SOC_ANALYST))``.
    """
    allowed = frozenset(roles)

    def dependency(principal: CurrentPrincipal) -> Principal:
        if principal.role not in allowed:
            raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="role not allowed here")
        return principal

    dependency.allowed_roles = allowed  # type: ignore[attr-defined]  # read by AuthFirstRoute
    return Depends(dependency)


def _allowed_roles(dependant: Any) -> frozenset[Role] | None:
    for dep in dependant.dependencies:
        roles = getattr(dep.call, "allowed_roles", None) or _allowed_roles(dep)
        if roles:
            return frozenset(roles)
    return None


class AuthFirstRoute(APIRoute):
    """A route that authenticates (401) and checks the role (403) BEFORE reading the request body, so an
    unauthenticated or unauthorised caller never learns anything from body parsing (400/422). Used by the
    routers with write routes; the dependencies still run as usual (the key lookup is cached)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The route's handler, preceded by authentication and the role check on /v1 write methods."""
        handler = super().get_route_handler()
        if not self.path.startswith("/v1") or not (self.methods or set()) - {"GET", "HEAD", "OPTIONS"}:
            return handler
        roles = _allowed_roles(self.dependant)

        async def auth_first(request: Request) -> Response:
            override = request.app.dependency_overrides.get(current_principal)
            if override is not None:  # tests that stand in for authentication
                principal = override()
            else:
                credentials = await bearer_scheme(request)
                principal = await run_in_threadpool(current_principal, request, credentials)
            if roles is not None and principal.role not in roles:
                raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="role not allowed here")
            return await handler(request)

        return auth_first
