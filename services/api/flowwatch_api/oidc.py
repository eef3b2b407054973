"""Optional OIDC/JWT bearer tokens: an organisation's identity provider signs the token, Flowwatch checks it.

Enabled when ``FLOWWATCH_OIDC_ISSUER`` is set, with the provider's keys from ``FLOWWATCH_OIDC_JWKS_URL``
(fetched and cached by PyJWT's ``PyJWKClient``) or ``FLOWWATCH_OIDC_JWKS_FILE``. A token is accepted when
its signature (RS256/RS384/RS512/ES256/ES384/PS256, never ``none`` or HMAC), ``iss``, ``aud`` (when
``FLOWWATCH_OIDC_AUDIENCE`` is set), ``exp`` and ``nbf`` check out and its role claim
(``flowwatch_role`` by default) names a Flowwatch role; a ``platform`` token must carry the processor claim
(``flowwatch_processor``). The principal's id is ``oidc:<sub>`` (in audit records), its name the
``preferred_username``, ``email`` or ``sub``.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Any

import jwt

from flowwatch.apikeys import Role
from flowwatch.settings import ApiSettings

ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"]
LEEWAY_SECONDS = 30
"""Clock skew tolerated on ``exp``/``nbf`` (seconds)."""


class InvalidToken(Exception):
    """The bearer JWT is not acceptable; the message says why (safe to log, not shown in detail)."""


def looks_like_jwt(token: str) -> bool:
    """Whether ``token`` has the three dot-separated parts of a JWS compact serialisation."""
    return token.count(".") == 2 and not token.startswith("fw_")


class OidcVerifier:
    """Checks bearer JWTs against one issuer (see module doc)."""

    def __init__(self, settings: ApiSettings) -> None:
        if not settings.oidc_issuer:
            raise ValueError("OIDC is not configured (FLOWWATCH_OIDC_ISSUER is unset)")
        if not (settings.oidc_jwks_url or settings.oidc_jwks_file):
            raise ValueError("FLOWWATCH_OIDC_ISSUER needs FLOWWATCH_OIDC_JWKS_URL or FLOWWATCH_OIDC_JWKS_FILE")
        self.settings = settings

    @cached_property
    def _file_keys(self) -> dict[str, Any]:
        data = json.loads(Path(str(self.settings.oidc_jwks_file)).read_text(encoding="utf-8"))
        keys = jwt.PyJWKSet.from_dict(data).keys
        return {k.key_id or "": k for k in keys}

    @cached_property
    def _client(self) -> jwt.PyJWKClient:
        return jwt.PyJWKClient(str(self.settings.oidc_jwks_url), cache_keys=True, lifespan=300)

    def _signing_key(self, token: str) -> Any:
        if self.settings.oidc_jwks_file:
            kid = jwt.get_unverified_header(token).get("kid") or ""
            keys = self._file_keys
            if kid in keys:
                return keys[kid].key
            if len(keys) == 1 and not kid:
                return next(iter(keys.values())).key
            raise InvalidToken("unknown signing key")
        return self._client.get_signing_key_from_jwt(token).key

    def verify(self, token: str) -> tuple[str, Role, str | None, str]:
        """``(principal id, role, processor id or None, display name)`` of a valid token.

        Raises InvalidToken for a bad signature, issuer, audience, lifetime, or role/processor claim."""
        s = self.settings
        try:
            claims = jwt.decode(
                token, self._signing_key(token), algorithms=ALGORITHMS, issuer=s.oidc_issuer,
                audience=s.oidc_audience, leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "sub"], "verify_aud": s.oidc_audience is not None},
            )
        except (jwt.PyJWTError, ValueError, KeyError) as exc:
            raise InvalidToken(str(exc)) from exc
        try:
            role = Role(str(claims.get(s.oidc_role_claim)))
        except ValueError:
            raise InvalidToken(f"claim {s.oidc_role_claim!r} is not a Flowwatch role") from None
        processor = claims.get(s.oidc_processor_claim)
        if role is Role.PLATFORM and not (isinstance(processor, str) and processor):
            raise InvalidToken(f"a platform token needs the {s.oidc_processor_claim!r} claim")
        sub = str(claims["sub"])
        name = str(claims.get("preferred_username") or claims.get("email") or sub)
        return f"oidc:{sub}", role, processor if role is Role.PLATFORM else None, name
