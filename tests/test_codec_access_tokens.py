"""Behind the council's sign-in (docker-compose.yml), the Temporal UI passes the person's access token
to `/codec` (`passAccessToken`). Against a real OpenID Connect provider started here (panva's
`oidc-provider`, tests/oidc_provider), issuing JWT access tokens for this service's client id as
Microsoft Entra ID does for an API: a supervisor's token decodes and the read is recorded under their
name; a caseworker's is refused at once with the reason; an expired or wrongly signed token is 401."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from google.protobuf import json_format
from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlmodel import Session, select
from temporalio.api.common.v1 import Payload, Payloads

from api.app import create_app
from infra.encryption import Keyring
from infra.payload_codec import EncryptionCodec
from readmodel.database import get_engine
from readmodel.migrate import upgrade
from readmodel.tables import AccessRecord, Account
from tests.api_world import api_client
from tests.oidc_world import first_form, running_provider
from tests.support import eventually, free_port, make_settings

CLIENT_ID, CLIENT_SECRET = "casework-ui", "casework-ui-secret"
CASE_REF = "MN-26-7K3Q9P"
ACCOUNTS = {
    "sam": {"name": "Sam Supervisor", "preferred_username": "sam.supervisor@council.example",
            "roles": ["supervisor"]},
    "jo": {"name": "Jo Bloggs", "preferred_username": "jo.bloggs@council.example", "roles": ["caseworker"]},
}


@asynccontextmanager
async def provider(ttl_seconds: int = 3600) -> AsyncIterator[tuple[str, str]]:
    """A running provider: its issuer, and the redirect URI of the UI's client (nothing listens there:
    the code is read from the redirect, as the UI server's callback would)."""
    redirect_uri = f"http://127.0.0.1:{free_port()}/auth/sso/callback"
    async with running_provider(free_port(), CLIENT_ID, CLIENT_SECRET, redirect_uri, ACCOUNTS,
                                OIDC_ACCESS_TOKEN_AUDIENCE=CLIENT_ID,
                                OIDC_ACCESS_TOKEN_TTL=str(ttl_seconds)) as issuer:
        yield issuer, redirect_uri


async def access_token(issuer: str, redirect_uri: str, login: str) -> str:
    """The authorization code flow the UI server runs, through the provider's login and consent pages."""
    verifier = secrets.token_urlsafe(32)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    async with httpx.AsyncClient(timeout=30) as c:

        async def follow(r: httpx.Response) -> httpx.Response | httpx.URL:
            while r.is_redirect:
                target = r.url.join(r.headers["location"])
                if str(target).startswith(redirect_uri):
                    return target
                r = await c.get(target)
            return r

        step = await follow(await c.get(f"{issuer}/auth", params={
            "client_id": CLIENT_ID, "response_type": "code", "redirect_uri": redirect_uri,
            "scope": "openid profile email codec", "state": "s", "nonce": "n",
            "code_challenge": challenge, "code_challenge_method": "S256"}))
        for _ in range(3):  # login, then consent
            if isinstance(step, httpx.URL):
                break
            action, fields = first_form(step)
            step = await follow(await c.post(action, data={**fields, "login": login, "password": "any"}))
        assert isinstance(step, httpx.URL), "the provider did not come back with a code"
        code = step.params["code"]
        r = await c.post(f"{issuer}/token", auth=(CLIENT_ID, CLIENT_SECRET), data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
            "code_verifier": verifier})
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])


def encrypted_case_payload(settings: Any) -> dict[str, Any]:
    codec = EncryptionCodec(Keyring.from_settings(settings), CASE_REF)
    sealed = codec.encode_now([Payload(metadata={"encoding": b"json/plain"}, data=b'"Ewing sarcoma"')])
    return json_format.MessageToDict(Payloads(payloads=sealed))


@asynccontextmanager
async def codec_site(tmp_path: Path, issuer: str) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    settings = make_settings(tmp_path, oidc_issuer=issuer, oidc_client_id=CLIENT_ID,
                             oidc_client_secret=CLIENT_SECRET, task_queue=f"tokens-{uuid.uuid4().hex}",
                             temporal_address=f"127.0.0.1:{free_port()}")
    upgrade(settings.database_url)
    async with api_client(create_app(settings), base_url="https://testserver") as c:
        yield c, settings


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Origin": "https://testserver:8233"}


async def test_a_supervisors_access_token_decodes_and_the_read_is_recorded_by_name(tmp_path: Path) -> None:
    async with provider() as (issuer, redirect_uri), codec_site(tmp_path, issuer) as (c, settings):
        token = await access_token(issuer, redirect_uri, "sam")
        r = await c.post("/codec/decode", json=encrypted_case_payload(settings), headers=bearer(token))
        assert r.status_code == 200, r.text
        assert base64.b64decode(r.json()["payloads"][0]["data"]) == b'"Ewing sarcoma"'

        with Session(get_engine(settings.database_url)) as s:
            records = list(s.exec(select(AccessRecord).where(AccessRecord.case_ref == CASE_REF)))
            account = s.exec(select(Account).where(Account.username == "sam.supervisor")).one()
        assert [(a.actor_role, a.actor_name, a.what) for a in records] == [
            ("supervisor", "sam.supervisor", "Temporal history (codec)")]
        assert account.display_name == "Sam Supervisor"  # the access records page names them


async def test_a_caseworkers_access_token_is_refused_at_once_with_the_reason(tmp_path: Path) -> None:
    async with provider() as (issuer, redirect_uri), codec_site(tmp_path, issuer) as (c, settings):
        token = await access_token(issuer, redirect_uri, "jo")
        began = time.monotonic()
        r = await c.post("/codec/decode", json=encrypted_case_payload(settings), headers=bearer(token))
        assert r.status_code == 403 and time.monotonic() - began < 5
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "supervisor" in r.json()["detail"] and "Ewing" not in r.text


async def test_a_wrongly_signed_token_is_401(tmp_path: Path) -> None:
    async with provider() as (issuer, redirect_uri), codec_site(tmp_path, issuer) as (c, settings):
        genuine = await access_token(issuer, redirect_uri, "sam")
        header = json.loads(base64.urlsafe_b64decode(genuine.split(".")[0] + "=="))
        claims = json.loads(base64.urlsafe_b64decode(genuine.split(".")[1] + "=="))
        forged = jwt.encode({"alg": "RS256", "kid": header.get("kid")}, claims, RSAKey.generate_key(2048))
        r = await c.post("/codec/decode", json=encrypted_case_payload(settings), headers=bearer(forged))
        assert r.status_code == 401 and 'error="invalid_token"' in r.headers["www-authenticate"]
        tampered = ".".join([genuine.split(".")[0],
                             base64.urlsafe_b64encode(json.dumps({**claims, "aud": "someone-else"}).encode())
                             .decode().rstrip("="), genuine.split(".")[2]])
        r = await c.post("/codec/decode", json=encrypted_case_payload(settings), headers=bearer(tampered))
        assert r.status_code == 401
        # The genuine one still decodes: the refusals were the signatures'.
        r = await c.post("/codec/decode", json=encrypted_case_payload(settings), headers=bearer(genuine))
        assert r.status_code == 200


async def test_an_expired_token_is_401(tmp_path: Path) -> None:
    async with provider(ttl_seconds=5) as (issuer, redirect_uri), codec_site(tmp_path, issuer) as (c, settings):
        token = await access_token(issuer, redirect_uri, "sam")
        expires = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))["exp"]
        r = await c.post("/codec/decode", json=encrypted_case_payload(settings), headers=bearer(token))
        assert r.status_code == 200, r.text  # while it lasts

        async def refused() -> bool:
            r = await c.post("/codec/decode", json=encrypted_case_payload(settings), headers=bearer(token))
            return r.status_code == 401 and time.time() > expires

        await eventually(refused, timeout=20, what="the expired access token refused")


async def test_the_ui_behind_the_sign_in_may_send_its_tokens_across_origins(tmp_path: Path) -> None:
    # The UI (https://PUBLIC_HOST:8233) calls https://PUBLIC_HOST/codec with both of its tokens; the
    # preflight carries neither, and must let both headers through.
    settings = make_settings(tmp_path)
    async with api_client(create_app(settings), base_url="https://testserver") as c:
        r = await c.options("/codec/decode", headers={
            "Origin": settings.ui_origin, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, authorization-extras, content-type, x-namespace"})
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == settings.ui_origin
        allowed = r.headers["access-control-allow-headers"].lower()
        assert "authorization-extras" in allowed and "authorization" in allowed
