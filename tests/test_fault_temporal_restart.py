"""The Temporal server is stopped in the middle of a run and started again on the same SQLite file:
no case is lost, every case carries on to closure on the same worker process, and the API answers
503 problem+json to what needs Temporal while it is down (lists from the read model still work) and
recovers by itself once it is back.

The real `temporal server start-dev` and the real `worker.py`, each in its own process."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from infra.access_keys import create_api_key
from readmodel.database import make_engine, session_scope
from readmodel.migrate import upgrade
from tests.fault_support import (
    CLOSURES_FINAL,
    DevServer,
    WorkerProcess,
    command,
    lifecycle,
    new_case,
    start_case,
)
from tests.support import eventually, make_settings, utc_today

pytestmark = pytest.mark.slow

CASES = 4
PROBLEM = "application/problem+json"


async def test_temporal_restart_loses_no_case_and_the_api_recovers_by_itself(tmp_path: Path) -> None:
    server = DevServer(tmp_path / "t.db", tmp_path / "temporal.log")
    settings = make_settings(tmp_path, temporal_address=server.address, task_queue=f"restart-{uuid.uuid4().hex}",
                             clocks=CLOSURES_FINAL)  # each case ends at its closure: its result is awaited
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    with session_scope(engine) as session:
        token = create_api_key(session, "officer-jb", "caseworker")
    engine.dispose()
    headers = {"Authorization": f"Bearer {token}"}
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    app = create_app(settings)

    server.start()
    worker.start()
    try:
        client = await server.client(settings)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
                              base_url="http://api", timeout=60) as api,
        ):
            cases = [new_case() for _ in range(CASES)]
            scripts = {case.case_ref: lifecycle(case) for case in cases}
            handles = [await start_case(client, case, settings.task_queue) for case in cases]
            # Halfway: consent asked and refused on every case.
            for case, handle in zip(cases, handles, strict=True):
                for n, (action, cmd) in enumerate(scripts[case.case_ref][:2]):
                    await command(handle, action, cmd, update_id=f"{case.case_ref}:{n}")
            ref = cases[0].case_ref
            r = await api.get(f"/cases/{ref}", headers=headers)
            assert r.status_code == 200 and r.json()["state"]["stage"] == "deciding", r.text

            server.stop()

            # What needs Temporal answers 503 problem+json; the read model still lists the cases.
            read, act, ready, listed = await asyncio.gather(
                api.get(f"/cases/{ref}", headers=headers),
                api.post(f"/cases/{ref}/decision", headers=headers,
                         json={"outcome": "la_provision", "reason": "GP letter held"}),
                api.get("/readyz"),
                api.get("/cases", headers=headers),
            )
            for r in (read, act):
                assert r.status_code == 503, (r.request.url, r.status_code, r.text)
                assert r.headers["content-type"].startswith(PROBLEM)
                assert r.headers["retry-after"]
            assert ready.status_code == 503 and ready.json()["checks"]["temporal"]["ok"] is False
            assert listed.status_code == 200 and listed.json()["total"] == CASES

            server.start()  # same SQLite file, same port

            async def api_recovered() -> bool:
                r = await api.get(f"/cases/{ref}", headers=headers)
                return r.status_code == 200

            await eventually(api_recovered, timeout=45, what="the API answering again once Temporal is back")

            # Every case carries on where it was, on the worker that was running all along.
            for case, handle in zip(cases, handles, strict=True):
                for n, (action, cmd) in enumerate(scripts[case.case_ref][2:], start=2):
                    await command(handle, action, cmd, update_id=f"{case.case_ref}:{n}")
            results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), timeout=60)
            today = utc_today()
            assert [(r.outcome, r.closed_on) for r in results] == [("left_area", today)] * CASES
            assert worker.running and worker.starts == 1
            on_server = [w.id async for w in client.list_workflows(f"TaskQueue = '{settings.task_queue}'")]
            assert sorted(on_server) == sorted(c.case_ref for c in cases)
    finally:
        worker.stop()
        server.stop()
