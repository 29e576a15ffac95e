"""The Temporal UI decodes through `/codec` with the supervisor's signed-in session (the service's
cookie, sent because the UI is configured to include credentials), not with a token: a supervisor's
session decodes, anyone else's is refused at once and says why, and the CORS answer lets the UI's
origin send the cookie."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from api.app import create_app
from infra.encryption import Keyring
from infra.payload_codec import EncryptionCodec
from tests.api_world import api_client
from tests.browser_world import PEOPLE, create_people
from tests.support import make_settings
from tests.test_sign_in import sign_in


@pytest.fixture
async def site(tmp_path: Path) -> Any:
    settings = make_settings(tmp_path)
    create_people(settings)
    async with api_client(create_app(settings), base_url="https://testserver") as c:
        yield c, settings


async def _encrypted(settings: Any) -> dict[str, Any]:
    from google.protobuf import json_format
    from temporalio.api.common.v1 import Payload, Payloads

    codec = EncryptionCodec(Keyring.from_settings(settings))
    encoded = codec.encode_now([Payload(metadata={"encoding": b"json/plain"}, data=b'"Ewing sarcoma"')])
    return json_format.MessageToDict(Payloads(payloads=encoded))


async def test_a_supervisors_session_decodes_through_the_codec(site: Any) -> None:
    c, settings = site
    body = await _encrypted(settings)
    assert (await c.post("/codec/decode", json=body)).status_code == 401  # nobody signed in

    r = await sign_in(c, PEOPLE["supervisor"][0])
    assert r.status_code == 303
    origin = {"Origin": settings.ui_origin}
    r = await c.post("/codec/decode", json=body, headers=origin)
    assert r.status_code == 200, r.text
    assert r.json()["payloads"][0]["data"] == "IkV3aW5nIHNhcmNvbWEi"  # base64 of '"Ewing sarcoma"'
    assert r.headers["access-control-allow-origin"] == settings.ui_origin
    assert r.headers["access-control-allow-credentials"] == "true"


@pytest.mark.parametrize("who", ["caseworker", "finance"])
async def test_another_persons_session_is_refused_at_once_with_the_reason(site: Any, who: str) -> None:
    c, settings = site
    assert (await sign_in(c, PEOPLE[who][0])).status_code == 303
    r = await c.post("/codec/decode", json=await _encrypted(settings), headers={"Origin": settings.ui_origin})
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "supervisor" in r.json()["detail"]
    assert "Ewing" not in r.text


async def test_the_ui_preflight_needs_no_cookie(site: Any) -> None:
    c, settings = site
    r = await c.options("/codec/decode", headers={
        "Origin": settings.ui_origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, x-namespace",
    })
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == settings.ui_origin
    assert r.headers["access-control-allow-credentials"] == "true"
    assert "x-namespace" in r.headers["access-control-allow-headers"].lower()
