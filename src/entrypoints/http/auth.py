"""Who is calling: a pluggable authenticator, and the default bearer-JWT one.

A host application that has its own sessions passes any object with an async
``authenticate(request) -> user id`` to ``create_app``; it raises ``NotAuthenticated`` to refuse.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol

import jwt
from aiohttp import web

from media_core.errors import NotAuthenticated

MAX_TOKEN_LENGTH = 8192


class Authenticator(Protocol):
    """Finds the user id behind a request, or raises ``NotAuthenticated``."""

    async def authenticate(self, request: web.Request) -> str:
        """The caller's user id."""
        ...


class JwtBearerAuthenticator:
    """``Authorization: Bearer <JWT>``, HS256 with a shared secret or RS256 with a public key.

    The token must carry ``sub`` (the user id) and ``exp``; ``aud`` and ``iss`` are checked when
    configured. Sixty seconds of leeway absorb clock skew between issuer and service.

    Verified tokens are remembered (up to ``cache_size``, until their ``exp``): a client sends
    the same token with every request, and checking its signature again is most of the cost of
    a status read. Only tokens that passed every check are kept, and expiry is checked on use.
    """

    def __init__(
        self,
        *,
        key: str,
        algorithms: Sequence[str],
        audience: str | None = None,
        issuer: str | None = None,
        leeway: float = 60.0,
        cache_size: int = 10_000,
    ) -> None:
        self._cache: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._cache_size = cache_size
        self._key = key
        self._algorithms = list(algorithms)
        self._audience = audience
        self._issuer = issuer
        self._leeway = leeway

    async def authenticate(self, request: web.Request) -> str:
        """The ``sub`` of a valid bearer token."""
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthenticated("send Authorization: Bearer <token>")
        token = token.strip()
        if len(token) > MAX_TOKEN_LENGTH:
            raise NotAuthenticated("the bearer token is too long")
        if not token.isascii():  # a JWT is base64url; other bytes arrive surrogate-escaped
            raise NotAuthenticated("the bearer token is not valid")
        cached = self._cache.get(token)
        if cached is not None:
            if time.time() <= cached[1] + self._leeway:
                self._cache.move_to_end(token)
                return cached[0]
            del self._cache[token]
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=self._algorithms,
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": ["sub", "exp"], "verify_aud": self._audience is not None},
            )
        except jwt.ExpiredSignatureError as exc:
            raise NotAuthenticated("the bearer token has expired") from exc
        except jwt.InvalidTokenError as exc:
            raise NotAuthenticated("the bearer token is not valid") from exc
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject or len(subject) > 255:
            raise NotAuthenticated("the bearer token's sub must be a user id")
        self._cache[token] = (subject, float(claims["exp"]))
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return subject


def issue_token(secret: str, user_id: str, *, ttl_seconds: int = 30 * 24 * 3600) -> str:
    """An HS256 token for ``user_id`` (development tokens and tests)."""
    now = int(time.time())
    return jwt.encode(
        {"sub": user_id, "iat": now, "exp": now + ttl_seconds}, secret, algorithm="HS256"
    )
