"""Bearer-token authentication for every API route but health.

The token is compared in constant time and is only ever read from the Authorization
header: never from a query string, so it cannot end up in access logs or browser history.
"""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Security, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

from partnersync.config import require

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="`Authorization: Bearer <PARTNERSYNC_API_TOKEN>`",
)


def token_guard(token: SecretStr | None) -> object:
    """A dependency that admits requests carrying `token`; no token configured fails here."""
    expected = require(token, "PARTNERSYNC_API_TOKEN").get_secret_value().encode()

    def check(credentials: HTTPAuthorizationCredentials | None = Security(bearer)) -> None:
        given = credentials.credentials.encode() if credentials is not None else b""
        if not hmac.compare_digest(given, expected):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "missing or wrong bearer token",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return check
