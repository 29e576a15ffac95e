"""Who may call the API at all: no token or a bad token is 401 with a Bearer challenge, a revoked
key is refused, and tokens are stored only as hashes."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session, select

from api.auth import principal_for_token
from infra.access_keys import create_api_key, hash_token
from readmodel.database import make_engine
from readmodel.migrate import upgrade
from readmodel.tables import ApiKey
from tests.api_without_temporal.stub_api import Api, assert_problem
from tests.support import make_settings


async def test_no_token_is_401_with_bearer_challenge(api: Api) -> None:
    r = await api.client.get("/cases")
    body = assert_problem(r, 401)
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert "Authorization" in body["detail"]


@pytest.mark.parametrize(
    "header",
    [
        "Bearer cw_not-a-real-token-but-well-formed-000000000",
        "Bearer nonsense",
        "Basic dXNlcjpwYXNz",
        "Bearer " + "x" * 5000,
    ],
)
async def test_bad_token_is_401(api: Api, header: str) -> None:
    r = await api.client.get("/cases", headers={"Authorization": header})
    assert_problem(r, 401)
    assert r.headers["www-authenticate"].startswith("Bearer")


async def test_revoked_key_is_refused(api: Api) -> None:
    r = await api.client.get("/cases", headers=api.h("revoked"))
    assert_problem(r, 401)


def test_tokens_are_stored_only_as_hashes(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    with Session(engine) as s:
        token = create_api_key(s, "officer-x", "caseworker")
        s.commit()
        row = s.exec(select(ApiKey).where(ApiKey.name == "officer-x")).one()
        assert token.startswith("cw_") and len(token) >= 40
        assert row.token_hash == hash_token(token) and token not in row.token_hash
        principal = principal_for_token(s, token)
        assert principal is not None and principal.role.value == "caseworker"
    engine.dispose()
