"""The bearer-JWT authenticator built from settings: RS256, audience and issuer (finding 11).

Tokens are made here with PyJWT and a key generated for the test; the authenticator is the one
the composition root builds from ``AUTH_JWT_PUBLIC_KEY``/``AUTH_JWT_AUDIENCE``/``AUTH_JWT_ISSUER``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from aiohttp.test_utils import make_mocked_request
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from entrypoints.http.auth import Authenticator
from entrypoints.settings import load_settings
from entrypoints.wiring.service import build_authenticator
from media_core.errors import NotAuthenticated

AUDIENCE = "media-core-test"
ISSUER = "https://id.example.test/"


@pytest.fixture(scope="module")
def keys() -> tuple[rsa.RSAPrivateKey, str]:
    """A fresh RSA key and its public half as PEM."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public.decode()


def authenticator(public_pem: str, **env: str) -> Authenticator:
    """What ``build_authenticator`` makes of these settings (fake provider, RS256 key)."""
    return build_authenticator(load_settings({"AUTH_JWT_PUBLIC_KEY": public_pem, **env}))


def claims(**changes: Any) -> dict[str, Any]:
    """Valid claims for ``alice`` for an hour; ``None`` values are dropped."""
    now = int(time.time())
    body: dict[str, Any] = {"sub": "alice", "iat": now, "exp": now + 3600}
    body.update(changes)
    return {key: value for key, value in body.items() if value is not None}


async def who(auth: Authenticator, token: str) -> str:
    """The user the authenticator finds behind ``token``."""
    request = make_mocked_request("GET", "/", headers={"Authorization": f"Bearer {token}"})
    return await auth.authenticate(request)


async def test_an_rs256_token_signed_with_the_private_key_is_accepted(
    keys: tuple[rsa.RSAPrivateKey, str],
) -> None:
    """RS256: the public key from the settings verifies a token from the identity provider."""
    private, public = keys
    token = jwt.encode(claims(), private, algorithm="RS256")
    assert await who(authenticator(public), token) == "alice"


async def test_an_rs256_token_from_another_key_is_refused(
    keys: tuple[rsa.RSAPrivateKey, str],
) -> None:
    """A token signed by some other key pair is not valid."""
    _, public = keys
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(NotAuthenticated, match="not valid"):
        await who(authenticator(public), jwt.encode(claims(), other, algorithm="RS256"))


async def test_an_hs256_token_keyed_with_the_public_key_is_refused(
    keys: tuple[rsa.RSAPrivateKey, str],
) -> None:
    """Algorithm confusion: the public PEM used as an HMAC secret does not pass as RS256."""
    _, public = keys
    header = jwt.utils.base64url_encode(b'{"alg":"HS256","typ":"JWT"}')
    payload = jwt.utils.base64url_encode(json.dumps(claims()).encode())
    signing_input = header + b"." + payload
    signature = hmac.new(public.encode(), signing_input, hashlib.sha256).digest()
    token = (signing_input + b"." + jwt.utils.base64url_encode(signature)).decode()
    with pytest.raises(NotAuthenticated):
        await who(authenticator(public), token)


async def test_an_unsigned_token_is_refused(keys: tuple[rsa.RSAPrivateKey, str]) -> None:
    """``alg: none`` is never accepted."""
    _, public = keys
    token = jwt.encode(claims(), "", algorithm="none")
    with pytest.raises(NotAuthenticated):
        await who(authenticator(public), token)


async def test_audience_and_issuer_when_configured_are_required_and_checked(
    keys: tuple[rsa.RSAPrivateKey, str],
) -> None:
    """With AUTH_JWT_AUDIENCE and AUTH_JWT_ISSUER set, the right ones pass."""
    private, public = keys
    auth = authenticator(public, AUTH_JWT_AUDIENCE=AUDIENCE, AUTH_JWT_ISSUER=ISSUER)
    token = jwt.encode(claims(aud=AUDIENCE, iss=ISSUER), private, algorithm="RS256")
    assert await who(auth, token) == "alice"
    listed = jwt.encode(claims(aud=["other", AUDIENCE], iss=ISSUER), private, algorithm="RS256")
    assert await who(auth, listed) == "alice"


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"aud": "someone-else"}, id="wrong-audience"),
        pytest.param({"aud": None}, id="missing-audience"),
        pytest.param({"iss": "https://evil.example/"}, id="wrong-issuer"),
        pytest.param({"iss": None}, id="missing-issuer"),
        pytest.param({"exp": int(time.time()) - 3600}, id="expired"),
        pytest.param({"sub": None}, id="missing-subject"),
        pytest.param({"sub": ""}, id="empty-subject"),
    ],
)
async def test_each_wrong_claim_is_refused(
    keys: tuple[rsa.RSAPrivateKey, str], changes: dict[str, Any]
) -> None:
    """Each wrong or missing claim alone is a 401 (NotAuthenticated)."""
    private, public = keys
    auth = authenticator(public, AUTH_JWT_AUDIENCE=AUDIENCE, AUTH_JWT_ISSUER=ISSUER)
    token = jwt.encode(
        claims(**{"aud": AUDIENCE, "iss": ISSUER, **changes}), private, algorithm="RS256"
    )
    with pytest.raises(NotAuthenticated):
        await who(auth, token)


async def test_hs256_audience_and_issuer_are_checked_too() -> None:
    """The HS256 path checks audience and issuer the same way."""
    secret = "s" * 32
    auth = build_authenticator(
        load_settings(
            {"AUTH_JWT_SECRET": secret, "AUTH_JWT_AUDIENCE": AUDIENCE, "AUTH_JWT_ISSUER": ISSUER}
        )
    )
    good = jwt.encode(claims(aud=AUDIENCE, iss=ISSUER), secret, algorithm="HS256")
    assert await who(auth, good) == "alice"
    for wrong in (claims(aud="x", iss=ISSUER), claims(aud=AUDIENCE, iss="x")):
        with pytest.raises(NotAuthenticated):
            await who(auth, jwt.encode(wrong, secret, algorithm="HS256"))
