"""Staff sign-in through the council's OpenID Connect provider (e.g. Microsoft Entra ID): the
authorization code flow with PKCE, a `state` and a `nonce`, the ID token checked with `joserfc`
(the Authlib project's JOSE library) against the provider's published keys: signature, issuer,
audience, expiry and nonce. Who the person is comes from the token's claims: their role from
`oidc_roles_claim`, a school person's schools from `oidc_schools_claim`, their name from `name`."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from domain.people import Role
from infra.settings import Settings

ROLES = {r.value: r for r in (Role.SCHOOL, Role.CASEWORKER, Role.SUPERVISOR, Role.FINANCE)}
#: Most to least: a person with several roles signs in with the widest.
ROLE_ORDER = (Role.SUPERVISOR, Role.CASEWORKER, Role.FINANCE, Role.SCHOOL)
DISCOVERY_TTL_SECONDS = 3600
_URN = re.compile(r"^\d{6}$")


class SignInFailed(Exception):
    """The provider's answer cannot sign anyone in; the message is for the person (no token data)."""


@dataclass(frozen=True)
class Provider:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


@dataclass(frozen=True)
class Started:
    """What the browser is sent to, and what the callback must find again."""

    url: str
    state: str
    nonce: str
    verifier: str


@dataclass(frozen=True)
class Identity:
    subject: str
    username: str
    display_name: str
    role: Role
    school_urns: tuple[str, ...]


def _challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


def username_from(claims: dict[str, Any]) -> str:
    """A case name from `preferred_username` or `email` (the part before any @), as a username."""
    raw = str(claims.get("preferred_username") or claims.get("email") or claims["sub"]).split("@")[0].lower()
    name = re.sub(r"[^a-z0-9._-]+", "-", raw).strip("-._")[:64]
    return name or hashlib.sha256(str(claims["sub"]).encode()).hexdigest()[:16]


class OidcClient:
    def __init__(self, settings: Settings, http: httpx.AsyncClient | None = None) -> None:
        if not (settings.oidc_issuer and settings.oidc_client_id):
            raise ValueError("OpenID Connect needs CASEWORK_OIDC_ISSUER and CASEWORK_OIDC_CLIENT_ID")
        self.settings = settings
        self.issuer = settings.oidc_issuer.rstrip("/")
        self.client_id = settings.oidc_client_id
        self._http = http or httpx.AsyncClient(timeout=10)
        self._provider: Provider | None = None
        self._keys: KeySet | None = None
        self._fetched_at = 0.0

    async def provider(self) -> Provider:
        if self._provider is None or time.monotonic() - self._fetched_at > DISCOVERY_TTL_SECONDS:
            try:
                r = await self._http.get(f"{self.issuer}/.well-known/openid-configuration")
                r.raise_for_status()
                meta = r.json()
                keys = await self._http.get(meta["jwks_uri"])
                keys.raise_for_status()
            except (httpx.HTTPError, KeyError, ValueError) as exc:
                raise SignInFailed("The sign-in service cannot be reached. Try again later.") from exc
            if meta.get("issuer", "").rstrip("/") != self.issuer:
                raise SignInFailed("The sign-in service is not the one this service is set up for.")
            self._provider = Provider(meta["issuer"], meta["authorization_endpoint"], meta["token_endpoint"],
                                      meta["jwks_uri"])
            self._keys = KeySet.import_key_set(keys.json())
            self._fetched_at = time.monotonic()
        return self._provider

    async def verification_keys(self) -> tuple[Provider, KeySet]:
        """The provider and the keys its tokens are signed with (fetched with its metadata)."""
        provider = await self.provider()
        assert self._keys is not None  # noqa: S101 - provider() set them
        return provider, self._keys

    async def start(self, redirect_uri: str) -> Started:
        provider = await self.provider()
        state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
        query = urlencode({
            "response_type": "code", "client_id": self.client_id, "redirect_uri": redirect_uri,
            "scope": "openid profile email", "state": state, "nonce": nonce,
            "code_challenge": _challenge(verifier), "code_challenge_method": "S256",
        })
        return Started(f"{provider.authorization_endpoint}?{query}", state, nonce, verifier)

    async def finish(self, code: str, redirect_uri: str, nonce: str, verifier: str) -> Identity:
        provider = await self.provider()
        secret = self.settings.oidc_client_secret
        try:
            r = await self._http.post(
                provider.token_endpoint,
                data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                      "code_verifier": verifier},
                auth=(self.client_id, secret.get_secret_value() if secret else ""),
            )
        except httpx.HTTPError as exc:
            raise SignInFailed("The sign-in service cannot be reached. Try again later.") from exc
        if r.status_code != 200 or "id_token" not in r.json():
            raise SignInFailed("The sign-in service refused this sign-in. Try again.")
        return self.identity(self.claims(r.json()["id_token"], nonce))

    def claims(self, id_token: str, nonce: str) -> dict[str, Any]:
        assert self._provider is not None and self._keys is not None  # noqa: S101 - provider() ran
        try:
            token = jwt.decode(id_token, self._keys, algorithms=["RS256", "PS256", "ES256"])
            jwt.JWTClaimsRegistry(
                iss={"essential": True, "value": self._provider.issuer},
                aud={"essential": True, "value": self.client_id},
                exp={"essential": True}, sub={"essential": True},
                nonce={"essential": True, "value": nonce},
            ).validate(token.claims)
        except (JoseError, ValueError) as exc:
            raise SignInFailed("The sign-in could not be checked. Try again.") from exc
        return dict(token.claims)

    def identity(self, claims: dict[str, Any]) -> Identity:
        granted = claims.get(self.settings.oidc_roles_claim) or []
        granted = [granted] if isinstance(granted, str) else list(granted)
        role = next((r for r in ROLE_ORDER if r.value in granted), None)
        if role is None:
            raise SignInFailed("Your account has no role in this service. Ask your manager for access.")
        urns = claims.get(self.settings.oidc_schools_claim) or []
        urns = tuple(sorted({str(u) for u in ([urns] if isinstance(urns, str) else urns) if _URN.match(str(u))}))
        if role is Role.SCHOOL and not urns:
            raise SignInFailed("Your school account names no school. Ask the Inclusion Service for access.")
        display = str(claims.get("name") or claims.get("preferred_username") or claims["sub"])[:100]
        return Identity(str(claims["sub"]), username_from(claims), display, role,
                        urns if role is Role.SCHOOL else ())
