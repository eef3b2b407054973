"""OIDC/JWT bearer tokens: signature, issuer, audience, lifetime and role claims (PyJWT, a local RSA key)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from flowwatch.apikeys import Role
from flowwatch.settings import ApiSettings
from flowwatch_api.app import create_app
from flowwatch_api.oidc import InvalidToken, OidcVerifier, looks_like_jwt

ISSUER = "https://sso.example.cn/realms/soc"


def make_key() -> Any:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


KEY, OTHER = make_key(), make_key()


@pytest.fixture
def settings(tmp_path: Path) -> ApiSettings:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(KEY.public_key()))
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}))
    return ApiSettings(es_url="http://127.0.0.1:9", oidc_issuer=ISSUER, oidc_audience="flowwatch",
                       oidc_jwks_file=str(path))


def token(key: Any = KEY, kid: str = "k1", alg: str = "RS256", **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": "flowwatch", "sub": "u-42", "exp": now + 300, "iat": now,
            "preferred_username": "li.lei", "flowwatch_role": "soc_analyst", **claims}
    body = {k: v for k, v in body.items() if v is not None}
    return jwt.encode(body, key, algorithm=alg, headers={"kid": kid})


def test_a_valid_token_gives_its_role_and_name(settings: ApiSettings) -> None:
    verifier = OidcVerifier(settings)
    assert verifier.verify(token()) == ("oidc:u-42", Role.SOC_ANALYST, None, "li.lei")
    platform = token(flowwatch_role="platform", flowwatch_processor="acme-cn")
    assert verifier.verify(platform) == ("oidc:u-42", Role.PLATFORM, "acme-cn", "li.lei")
    # a processor claim on another role is ignored (it cannot narrow or widen anything)
    assert verifier.verify(token(flowwatch_processor="acme-cn"))[2] is None


@pytest.mark.parametrize(
    "bad",
    [
        lambda: token(key=OTHER),  # signed by someone else
        lambda: token(kid="k2"),  # unknown key id
        lambda: token(iss="https://evil.example.com"),
        lambda: token(aud="another-app"),
        lambda: token(exp=int(time.time()) - 120),  # expired beyond the leeway
        lambda: token(exp=None),  # no expiry
        lambda: token(flowwatch_role="superuser"),
        lambda: token(flowwatch_role=None),
        lambda: token(flowwatch_role="platform"),  # no processor
        lambda: jwt.encode({"iss": ISSUER, "aud": "flowwatch", "sub": "x", "exp": int(time.time()) + 60,
                            "flowwatch_role": "admin"}, "shared-secret", algorithm="HS256",
                           headers={"kid": "k1"}),  # HMAC: never accepted
        lambda: jwt.encode({"iss": ISSUER, "aud": "flowwatch", "sub": "x", "exp": int(time.time()) + 60,
                            "flowwatch_role": "admin"}, None, algorithm="none", headers={"kid": "k1"}),
    ],
)
def test_bad_tokens_are_refused(settings: ApiSettings, bad: Any) -> None:
    with pytest.raises(InvalidToken):
        OidcVerifier(settings).verify(bad())


def test_api_keys_are_not_mistaken_for_jwts() -> None:
    assert looks_like_jwt(token()) and not looks_like_jwt("fw_0123456789abcdef_secret.part.x")
    assert not looks_like_jwt("fw_0123456789abcdef_s3cr3t")


def test_verifier_needs_keys() -> None:
    with pytest.raises(ValueError, match="JWKS"):
        OidcVerifier(ApiSettings(oidc_issuer=ISSUER))


def test_the_api_authenticates_with_a_token_and_401s_a_bad_one(settings: ApiSettings) -> None:
    app = create_app(settings)
    with TestClient(app) as client:
        # a valid token passes authentication; the route then needs Elasticsearch, which is down here (503)
        ok = client.get("/v1/alerts/x", headers={"Authorization": f"Bearer {token()}"})
        assert ok.status_code == 503
        bad = client.get("/v1/alerts/x", headers={"Authorization": f"Bearer {token(key=OTHER)}"})
        assert bad.status_code == 401 and bad.headers["www-authenticate"] == "Bearer"
        regulator = token(flowwatch_role="regulator")
        denied = client.post("/v1/alerts/x/acknowledge", headers={"Authorization": f"Bearer {regulator}"})
        assert denied.status_code == 403  # roles from the token apply
