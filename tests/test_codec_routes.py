"""The codec server the Temporal UI and `temporal workflow show --codec-endpoint` call."""

import base64
import dataclasses
import json
import os
from datetime import UTC, date, datetime
from types import SimpleNamespace

import httpx
import pytest
from fastapi import FastAPI
from google.protobuf import json_format
from pydantic import BaseModel
from sqlmodel import SQLModel
from temporalio.api.common.v1 import Payloads
from temporalio.contrib.pydantic import pydantic_data_converter

from api.auth_throttle import FailedAuthThrottle
from api.codec_routes import router
from api.problems import install_problem_handlers
from domain.people import Role
from infra.access_keys import hash_token, new_token
from infra.encryption import Keyring
from infra.payload_codec import EncryptionCodec
from readmodel.database import make_engine, session_scope
from readmodel.tables import ApiKey

OLD_KEY, NEW_KEY = os.urandom(32), os.urandom(32)
KEYRING = Keyring([("k2", NEW_KEY), ("k1", OLD_KEY)])


class Child(BaseModel):
    given_name: str
    family_name: str
    date_of_birth: date
    diagnosis: str


CHILD = Child(given_name="Amelia", family_name="Hartley", date_of_birth=date(2014, 3, 9), diagnosis="asthma")


@pytest.fixture
async def client(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'casework.db'}")
    SQLModel.metadata.create_all(engine)
    tokens = {"supervisor": new_token(), "caseworker": new_token()}
    with session_scope(engine) as session:
        for (who, token), role in zip(tokens.items(), (Role.SUPERVISOR, Role.CASEWORKER), strict=True):
            session.add(
                ApiKey(
                    name=f"{who}-key",
                    role=role.value,
                    token_hash=hash_token(token),
                    created_at=datetime.now(UTC),
                )
            )
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(router)
    app.state.services = SimpleNamespace(engine=engine, keyring=KEYRING, auth_failures=FailedAuthThrottle(20))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://casework.test") as http:
        http.tokens = tokens
        yield http
    engine.dispose()


def auth(client, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {client.tokens[who]}", "X-Namespace": "default"}


async def encrypted_history_payloads(keyring: Keyring = KEYRING) -> str:
    """What the UI or CLI posts: Temporal's JSON payloads format, as stored in the history."""
    converter = dataclasses.replace(pydantic_data_converter, payload_codec=EncryptionCodec(keyring))
    payloads = await converter.encode([CHILD, "case-MN-26-7K3Q9P"])
    return json_format.MessageToJson(Payloads(payloads=payloads))


async def test_supervisor_sees_decoded_payloads(client):
    body = await encrypted_history_payloads()
    assert "Amelia" not in body and "asthma" not in body
    response = await client.post("/codec/decode", content=body, headers=auth(client, "supervisor"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")

    data = response.json()
    first = data["payloads"][0]
    assert base64.b64decode(first["metadata"]["encoding"]) == b"json/plain"
    assert json.loads(base64.b64decode(first["data"]))["given_name"] == "Amelia"
    decoded = await pydantic_data_converter.decode(
        json_format.Parse(response.content, Payloads()).payloads, [Child, str]
    )
    assert decoded == [CHILD, "case-MN-26-7K3Q9P"]


async def test_encode_then_decode(client):
    plain = await pydantic_data_converter.encode([CHILD])
    body = json_format.MessageToJson(Payloads(payloads=plain))
    encoded = await client.post("/codec/encode", content=body, headers=auth(client, "supervisor"))
    assert encoded.status_code == 200
    [payload] = encoded.json()["payloads"]
    assert base64.b64decode(payload["metadata"]["encoding"]) == b"binary/encrypted"
    assert base64.b64decode(payload["metadata"]["encryption-key-id"]) == b"k2"
    assert b"Amelia" not in base64.b64decode(payload["data"])

    decoded = await client.post("/codec/decode", content=encoded.content, headers=auth(client, "supervisor"))
    assert json_format.Parse(decoded.content, Payloads()).payloads[0] == plain[0]


async def test_old_key_payloads_decode_after_rotation(client):
    body = await encrypted_history_payloads(Keyring([("k1", OLD_KEY)]))
    response = await client.post("/codec/decode", content=body, headers=auth(client, "supervisor"))
    assert response.status_code == 200
    assert json.loads(base64.b64decode(response.json()["payloads"][0]["data"]))["family_name"] == "Hartley"


async def test_only_supervisors(client):
    body = await encrypted_history_payloads()
    for path in ("/codec/decode", "/codec/encode"):
        no_token = await client.post(path, content=body)
        assert no_token.status_code == 401
        caseworker = await client.post(path, content=body, headers=auth(client, "caseworker"))
        assert caseworker.status_code == 403
        assert "Amelia" not in caseworker.text
        bad_token = await client.post(path, content=body, headers={"Authorization": "Bearer cw_" + "x" * 43})
        assert bad_token.status_code == 401


async def test_bad_requests(client):
    headers = auth(client, "supervisor")
    response = await client.post("/codec/decode", content=b"not json", headers=headers)
    assert response.status_code == 400

    unknown = Keyring([("retired", os.urandom(32))])
    body = await encrypted_history_payloads(unknown)
    response = await client.post("/codec/decode", content=body, headers=headers)
    assert response.status_code == 400
    assert "retired" in response.text
    assert "Amelia" not in response.text
