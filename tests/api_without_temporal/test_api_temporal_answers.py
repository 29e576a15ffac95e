"""Temporal's answers, mapped to problem documents (a stand-in client; the e2e test uses the real
server): not found is 404 (409 for a case the read model knows, now closed), unavailable 503,
a refused action 409 with the allowed actions, an invalid command 422, anything else a generic
500; and the API connects again after Temporal was not there at start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.app import create_app
from infra.settings import Settings
from tests.api_without_temporal.stub_api import REF_A, assert_problem, seed
from tests.support import eventually, make_settings


class _FakeHandle:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    async def query(self, *args: Any, **kwargs: Any) -> Any:
        raise self.exc

    async def execute_update(self, *args: Any, **kwargs: Any) -> Any:
        raise self.exc


class _FakeClient:
    def __init__(self) -> None:
        self.exc: BaseException = RuntimeError("unset")

    def get_workflow_handle(self, workflow_id: str) -> _FakeHandle:
        return _FakeHandle(self.exc)


async def test_temporal_answers_are_mapped_and_the_api_reconnects(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    tokens = seed(settings)
    fake = _FakeClient()
    attempts = 0

    async def connect(_: Settings) -> Any:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise ConnectionRefusedError("Temporal is still starting")
        return fake

    app = create_app(settings, temporal_connect=connect)
    auth = {"Authorization": f"Bearer {tokens['caseworker']}"}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            temporal = app.state.services.temporal
            await eventually(lambda: temporal.last_error, timeout=5, what="the background connect failing")
            assert_problem(await client.get(f"/cases/{REF_A}", headers=auth), 503)
            app.state.services.temporal.retry_interval = 0
            note = {"text": "x"}

            fake.exc = RPCError("workflow not found", RPCStatusCode.NOT_FOUND, b"")
            assert_problem(await client.get("/cases/MN-26-ZZZZZ9", headers=auth), 404)
            assert_problem(await client.post("/cases/MN-26-ZZZZZ9/notes", headers=auth, json=note), 404)
            # A workflow gone but a case known to the read model: the case is closed.
            problem = assert_problem(await client.post(f"/cases/{REF_A}/notes", headers=auth, json=note), 409)
            assert problem["stage"] == "closed" and problem["allowed_actions"] == []

            fake.exc = RPCError("connection reset", RPCStatusCode.UNAVAILABLE, b"")
            r = await client.get(f"/cases/{REF_A}", headers=auth)
            assert_problem(r, 503) and r.headers["retry-after"]

            fake.exc = WorkflowUpdateFailedError(
                ApplicationError(
                    "'decide' is not allowed in stage 'notified'",
                    {"stage": "notified", "allowed_actions": ["add_note", "request_consent"]},
                    type="ActionNotAllowed",
                )
            )
            r = await client.post(
                f"/cases/{REF_A}/decision", headers=auth, json={"outcome": "la_provision", "reason": "x"}
            )
            problem = assert_problem(r, 409)
            assert problem["stage"] == "notified" and problem["allowed_actions"] == [
                "add_note",
                "request_consent",
            ]

            fake.exc = WorkflowUpdateFailedError(
                ApplicationError("admitted_on is in the future", {"stage": "deciding"}, type="InvalidCommand")
            )
            r = await client.post(
                f"/cases/{REF_A}/hospital-admissions",
                headers=auth,
                json={"admitted_on": "2099-01-01", "hospital": "H"},
            )
            assert assert_problem(r, 422)["detail"] == "admitted_on is in the future"

            fake.exc = WorkflowUpdateFailedError(ApplicationError("surprise", type="SomethingElse"))
            r = await client.post(f"/cases/{REF_A}/notes", headers=auth, json=note)
            assert "surprise" not in assert_problem(r, 500)["detail"]
    assert attempts == 2
