"""The read-model database (PostgreSQL) becomes unreachable while a case is being worked: the API's
reads answer 503 problem+json (never 500), a command sent to the case still answers (through the
API it is refused whole with 503: the caller's key cannot be checked), and once the database is
back the workflow's retried projection brings the read model up to date by itself.

PostgreSQL itself is shared with other tests, so it is not stopped: the service reaches it through a
TCP proxy in this test that is cut (listener closed, open connections dropped) and restored, so
"unreachable" is real from the service's side. The read model is a fresh schema, dropped afterwards."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.catalog import build_activities
from api.app import create_app
from domain.case_commands import ConsentDecision, RecordConsent, RequestConsent
from domain.stages import Stage
from infra.access_keys import create_api_key
from readmodel.database import make_engine, session_scope
from readmodel.migrate import upgrade
from readmodel.tables import CaseRow
from tests.fault_support import OFFICER, TcpProxy, command, new_case, start_case
from tests.support import eventually, make_settings
from workflows.case_workflow import CaseWorkflow

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

PROBLEM = "application/problem+json"


@pytest.fixture
def proxy(postgres_url: str) -> Iterator[TcpProxy]:
    url = make_url(postgres_url)
    forwarder = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    forwarder.start()
    try:
        yield forwarder
    finally:
        forwarder.close()


async def test_database_outage_answers_503_and_the_read_model_catches_up(
    temporal_dev_server: WorkflowEnvironment, postgres_url: str, proxy: TcpProxy, tmp_path: Path
) -> None:
    upgrade(postgres_url)
    direct = make_engine(postgres_url)  # the test's own view of the database, never through the proxy
    with session_scope(direct) as session:
        token = create_api_key(session, "officer-jb", "caseworker")
    through_proxy = make_url(postgres_url).set(host="127.0.0.1", port=proxy.port)
    client = temporal_dev_server.client
    settings = make_settings(
        tmp_path,
        database_url=through_proxy.render_as_string(hide_password=False),
        temporal_address=client.service_client.config.target_host,
        task_queue=f"db-down-{uuid.uuid4().hex}",
    )
    headers = {"Authorization": f"Bearer {token}"}

    def stage_in_read_model(ref: str) -> str | None:
        with session_scope(direct) as session:
            row = session.get(CaseRow, ref)
            return row.stage if row else None

    app = create_app(settings)
    case = new_case()
    with ThreadPoolExecutor(max_workers=8) as executor:
        async with (
            Worker(client, task_queue=settings.task_queue, workflows=[CaseWorkflow],
                   activities=build_activities(settings), activity_executor=executor),
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
                              base_url="http://api", timeout=30) as api,
        ):
            handle = await start_case(client, case, settings.task_queue)
            try:
                await command(handle, "request_consent", RequestConsent(actor=OFFICER), update_id="consent")

                async def projected(stage: Stage) -> bool:
                    return stage_in_read_model(case.case_ref) == stage.value

                await eventually(lambda: projected(Stage.AWAITING_CONSENT), timeout=15, what="first projection")
                listed = await api.get("/cases", headers=headers)
                assert listed.status_code == 200, listed.text
                assert [c["case_ref"] for c in listed.json()["items"]] == [case.case_ref]

                proxy.cut()  # PostgreSQL unreachable from the service from here on

                for path in ("/cases", "/tasks"):
                    r = await api.get(path, headers=headers)
                    assert r.status_code == 503, (path, r.status_code, r.text)
                    assert r.headers["content-type"].startswith(PROBLEM)
                    assert r.headers["retry-after"]
                    assert r.json()["status"] == 503
                ready = await api.get("/readyz")
                assert ready.status_code == 503 and ready.json()["checks"]["database"]["ok"] is False

                # A command still answers (after its brief wait for the read model), from the case.
                began = time.monotonic()
                view = await command(handle, "record_consent",
                                     RecordConsent(actor=OFFICER, decision=ConsentDecision.REFUSED),
                                     update_id="refused")
                answered_in = time.monotonic() - began
                assert view.state.stage is Stage.DECIDING
                assert answered_in < 20, f"the command took {answered_in:.1f} s with the database down"
                assert stage_in_read_model(case.case_ref) == Stage.AWAITING_CONSENT.value  # stale, for now
                r = await api.get("/cases", headers=headers)
                assert r.status_code == 503, r.text

                # Through the API a command is refused whole: its key cannot be checked (503), and
                # nothing reaches the case.
                r = await api.post(f"/cases/{case.case_ref}/notes", headers=headers, json={"text": "Rang again"})
                assert r.status_code == 503, r.text
                assert r.headers["content-type"].startswith(PROBLEM)
                latest = await handle.query(CaseWorkflow.view)
                assert "Rang again" not in [n.text for n in latest.state.notes]

                proxy.restore()  # the database is back; nobody touches the case

                await eventually(lambda: projected(Stage.DECIDING), timeout=20,
                                 what="the read model catching up with the command given during the outage")
                listed = await api.get("/cases", headers=headers)
                assert listed.status_code == 200, listed.text
                assert [(c["case_ref"], c["stage"]) for c in listed.json()["items"]] == [
                    (case.case_ref, Stage.DECIDING.value)
                ]
                tasks = await api.get("/tasks", headers=headers)
                assert tasks.status_code == 200, tasks.text
                assert "decide" in [t["kind"] for t in tasks.json()["items"]]
            finally:
                await handle.terminate("end of test")
    direct.dispose()
