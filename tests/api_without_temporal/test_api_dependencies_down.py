"""Temporal or the database down: 503 with Retry-After, and /readyz names the failing part;
lists, which read the database, keep working while Temporal is down."""

from __future__ import annotations

from pathlib import Path

import httpx

from api.app import create_app
from tests.api_without_temporal.stub_api import REF_A, URN_A, Api, assert_problem
from tests.support import free_port, make_settings


async def test_temporal_down_is_503_with_retry_after(api: Api) -> None:
    r = await api.client.get(f"/cases/{REF_A}", headers=api.h("caseworker"))
    problem = assert_problem(r, 503)
    assert int(r.headers["retry-after"]) > 0
    assert "Temporal" in problem["detail"]
    r = await api.client.post(f"/cases/{REF_A}/notes", headers=api.h("caseworker"), json={"text": "x"})
    assert_problem(r, 503)
    body = {
        "school_urn": URN_A,
        "child": {"given_name": "Ada", "family_name": "Byron", "date_of_birth": "2013-05-04"},
        "parent": {"name": "Anne Byron"},
        "first_day_of_absence": "2026-01-12",
        "reason": "physical_illness",
    }
    r = await api.client.post("/cases", headers=api.h("school_a", **{"Idempotency-Key": "n-1"}), json=body)
    assert_problem(r, 503)
    # Lists read the database and still work.
    assert (await api.client.get("/cases", headers=api.h("caseworker"))).status_code == 200


async def test_readyz_names_the_failing_part(api: Api) -> None:
    assert (await api.client.get("/healthz")).json() == {"status": "ok"}
    r = await api.client.get("/readyz")
    problem = assert_problem(r, 503)
    assert problem["checks"]["temporal"]["ok"] is False
    assert problem["checks"]["database"]["ok"] is True


async def test_database_down_is_503(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        temporal_address=f"127.0.0.1:{free_port()}",
        database_url=f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none",
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            r = await client.get("/cases", headers={"Authorization": "Bearer cw_" + "a" * 43})
            problem = assert_problem(r, 503)
            assert "database" in problem["detail"]
            assert "nobody" not in r.text
            r = await client.get("/readyz")
            assert assert_problem(r, 503)["checks"]["database"]["ok"] is False
