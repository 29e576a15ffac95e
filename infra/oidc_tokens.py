"""The council's OpenID Connect access tokens, as the Temporal UI passes them to `/codec`.

Behind the council's sign-in (docker-compose.yml, `passAccessToken`), the UI calls the codec with
`Authorization: Bearer <access token>` from its own login with the same provider. The token is a
JWT checked here with `joserfc` against the provider's published keys (the keys and issuer that
`infra.oidc.OidcClient` fetches for the pages' sign-in): signature, issuer, audience (this service's
client id, the audience the UI's login asks the provider for), expiry and subject. Who the person is
then follows exactly the pages' sign-in: role and schools from `oidc_roles_claim` and
`oidc_schools_claim`, the username from `preferred_username`/`email` (`OidcClient.identity`).

A token that cannot be checked (malformed, wrongly signed, expired, another issuer or audience) is
`TokenRefused`; a valid token of a person with no role here is `NoRole`; neither message carries
anything of the token."""

from __future__ import annotations

from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError

from infra.oidc import Identity, OidcClient, SignInFailed

ALGORITHMS = ["RS256", "PS256", "ES256"]


class TokenRefused(Exception):
    """The access token is not one this service can trust (the reason is for logs, not the caller)."""


class NoRole(Exception):
    """The token is good, but its person has no role in this service."""


def looks_like_jwt(token: str) -> bool:
    """Three base64url parts: worth checking as an access token (an access key is `cw_...`)."""
    return token.count(".") == 2 and len(token) < 16_384


async def identity_of_access_token(client: OidcClient, token: str) -> Identity:
    provider, keys = await client.verification_keys()  # SignInFailed: the provider cannot be reached
    try:
        decoded = jwt.decode(token, keys, algorithms=ALGORITHMS)
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": provider.issuer},
            aud={"essential": True, "value": client.client_id},
            exp={"essential": True}, sub={"essential": True},
        ).validate(decoded.claims)
    except (JoseError, ValueError) as exc:
        raise TokenRefused(type(exc).__name__) from None
    claims: dict[str, Any] = dict(decoded.claims)
    try:
        return client.identity(claims)
    except SignInFailed as exc:
        raise NoRole(str(exc)) from None
