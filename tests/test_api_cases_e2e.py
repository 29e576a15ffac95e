"""End to end through HTTP: the API app (httpx ASGI transport) against the real Temporal dev server,
a real worker in-process (the case workflow and every real activity), a real SMTP server (aiosmtpd)
and the read model on SQLite and on PostgreSQL.

A school notifies; a caseworker takes the case through consent, evidence, decision, provision, a
review, a reintegration plan and a full-time return; another school can neither see nor list it;
finance sees the recoupment lines and no health data; a wrong-stage action answers 409 with the
actions allowed; the same notification twice opens one case.

The dev server runs in real time, so dates are chosen from the real school calendar around today.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy.exc import DataError
from sqlmodel import select
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from api import case_updates
from api.app import create_app
from domain.case_state import CaseView
from domain.school_calendar import academic_year_of
from infra.settings import Settings
from readmodel.database import ReadModelUnavailable, make_engine, session_scope
from readmodel.tables import AccessRecord, CaseRow
from tests.api_world import api_client, case_worker, migrate_and_create_keys
from tests.support import Days, eventually, free_port, make_settings, school_days_around_today

pytestmark = pytest.mark.slow

PROBLEM = "application/problem+json"
URN_A = "120001"
URN_B = "120002"
HEALTH_SUMMARY = "Leukaemia treatment; immunosuppressed until March"
PARENT_EMAIL = "parent@family.example"
CONSULTANT_EMAIL = "consultant@nhs.example"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


# -- SMTP -------------------------------------------------------------------------------------------


@dataclass
class Inbox:
    messages: list[Message] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook
        message = message_from_bytes(envelope.content)
        message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        self.messages.append(message)
        return "250 OK"

    def to(self, address: str) -> list[Message]:
        return [m for m in self.messages if address in m["X-Envelope-To"]]


# -- the world --------------------------------------------------------------------------------------


@dataclass
class World:
    client: httpx.AsyncClient
    settings: Settings
    tokens: dict[str, str]
    inbox: Inbox

    def h(self, who: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}", **extra}

    async def act(
        self, ref: str, slug: str, body: dict[str, Any] | None = None, who: str = "caseworker"
    ) -> Any:
        r = await self.client.post(f"/cases/{ref}/{slug}", headers=self.h(who), json=body or {})
        assert r.status_code == 200, f"{slug}: {r.status_code} {r.text}"
        return r.json()


@pytest.fixture
async def world(
    temporal_dev_server: WorkflowEnvironment, database_url: str, tmp_path: Path
) -> AsyncIterator[World]:
    inbox = Inbox()
    smtp_port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    settings = make_settings(
        tmp_path,
        database_url=database_url,
        temporal_address=temporal_dev_server.client.service_client.config.target_host,
        task_queue=f"e2e-{uuid.uuid4().hex}",
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
    )
    tokens = migrate_and_create_keys(database_url, {
        "school_a": ("school-120001", "school", [URN_A]),
        "school_b": ("school-120002", "school", [URN_B]),
        "caseworker": ("officer-jb", "caseworker", None),
        "supervisor": ("supervisor-1", "supervisor", None),
        "finance": ("finance-1", "finance", None),
    })
    try:
        async with case_worker(temporal_dev_server.client, settings), api_client(create_app(settings)) as client:
            yield World(client, settings, tokens, inbox)
    finally:
        controller.stop()


# -- dates from the real calendar --------------------------------------------------------------------


def notification(days: Days, *, given: str = "Ada", family: str = "Byron") -> dict[str, Any]:
    absence = days.past[-8:]
    return {
        "school_urn": URN_A,
        "child": {
            "given_name": given,
            "family_name": family,
            "date_of_birth": "2013-05-04",
            "upn": "A123456789012",
        },
        "parent": {"name": "Anne Byron", "email": PARENT_EMAIL},
        "first_day_of_absence": absence[0].isoformat(),
        "reason": "physical_illness",
        "health_summary": HEALTH_SUMMARY,
        "absence_days": [d.isoformat() for d in absence],
    }


def assert_problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    return r.json()


# -- the test ----------------------------------------------------------------------------------------


async def test_a_case_through_the_api_from_notification_to_full_time_return(world: World) -> None:
    days = school_days_around_today()
    c = world.client

    # 1. The school notifies: 201, a Location, and the school's (redacted) view of the new case.
    r = await c.post(
        "/cases", headers=world.h("school_a", **{"Idempotency-Key": "notify-1"}), json=notification(days)
    )
    assert r.status_code == 201, r.text
    ref = r.json()["case_ref"]
    assert r.headers["location"] == f"/cases/{ref}"
    school_view = r.json()
    assert school_view["stage"] == "notified" and school_view["status"] == "open"
    assert school_view["absence_days_recorded"] == 8
    assert "health_summary" not in r.text and HEALTH_SUMMARY not in r.text
    assert set(school_view["allowed_actions"]) <= {"record_absence_days", "add_note"}

    # 2. The same notification again opens no second case: same key, no key, another spelling.
    r = await c.post(
        "/cases", headers=world.h("school_a", **{"Idempotency-Key": "notify-1"}), json=notification(days)
    )
    assert (r.status_code, r.json()["case_ref"]) == (200, ref)
    r = await c.post("/cases", headers=world.h("school_a"), json=notification(days))
    assert (r.status_code, r.json()["case_ref"]) == (200, ref)
    r = await c.post(
        "/cases", headers=world.h("caseworker"), json=notification(days, given="ADA ", family="byron")
    )
    assert (r.status_code, r.json()["state"]["case_ref"]) == (200, ref)
    listed = (await c.get("/cases", headers=world.h("supervisor"))).json()
    assert [i["case_ref"] for i in listed["items"]] == [ref] and listed["total"] == 1

    # 3. The caseworker reads the whole case (recorded), with the health summary.
    r = await c.get(f"/cases/{ref}", headers=world.h("caseworker"))
    assert r.status_code == 200
    assert r.json()["state"]["health_summary"] == HEALTH_SUMMARY
    assert r.json()["state"]["child"]["given_name"] == "Ada"

    # 4. A wrong-stage action: 409 with the stage and the actions allowed now.
    provision = {
        "kind": "home_tuition",
        "provider": "County Home Tuition Service",
        "hours_per_week": "25",
        "start_date": days.past[-3].isoformat(),
        "weekly_cost": "450.00",
    }
    r = await c.post(
        f"/cases/{ref}/provisions", headers=world.h("caseworker"), json={"provisions": [provision]}
    )
    problem = assert_problem(r, 409)
    assert problem["stage"] == "notified"
    assert (
        "request_consent" in problem["allowed_actions"]
        and "commission_provision" not in problem["allowed_actions"]
    )

    # 5. Consent, evidence, decision.
    view = await world.act(ref, "consent-request")
    assert view["state"]["stage"] == "awaiting_consent"
    consultant = {
        "id": "consultant-1",
        "name": "Dr A Consultant",
        "role": "consultant",
        "email": CONSULTANT_EMAIL,
    }
    view = await world.act(ref, "consent", {"decision": "granted", "professionals": [consultant]})
    assert view["state"]["stage"] == "gathering_evidence"
    await world.act(ref, "evidence-requests", {"professional_ids": ["consultant-1"]}, who="supervisor")

    r = await c.post(
        f"/cases/{ref}/documents",
        headers=world.h("caseworker"),
        files={"file": ("letter.pdf", PDF, "application/pdf")},
        data={"kind": "consultant_letter"},
    )
    assert r.status_code == 201, r.text
    doc_ref = r.json()["doc_ref"]
    view = await world.act(
        ref,
        "evidence",
        {"document_ref": doc_ref, "kind": "consultant_letter", "professional_id": "consultant-1"},
    )
    assert view["state"]["stage"] == "deciding"
    assert view["state"]["evidence"][0]["document_ref"] == doc_ref
    view = await world.act(
        ref, "decision", {"outcome": "la_provision", "reason": "Consultant confirms absence"}
    )
    assert view["state"]["stage"] == "commissioning"

    # 6. Provision with a named officer; a review; reintegration; the full-time return.
    view = await world.act(ref, "provisions", {"provisions": [provision], "officer": "officer-jb"})
    assert view["state"]["stage"] == "in_provision" and view["state"]["officer"] == "officer-jb"
    view = await world.act(ref, "reviews", {"on": days.next[0].isoformat()})
    assert view["state"]["reviews"][0]["scheduled_on"] == days.next[0].isoformat()
    view = await world.act(
        ref, "review-outcomes", {"outcome": "start_reintegration", "held_on": days.today.isoformat()}
    )
    assert view["state"]["stage"] == "reintegrating"
    # A part-time timetable stays inside one school year: in late July its days are September's.
    same_year = max(([d for d in days.next if academic_year_of(d) == y] for y in {academic_year_of(d) for d in days.next}),
                    key=len)
    plan = {
        "start_date": same_year[0].isoformat(),
        "end_date": same_year[min(5, len(same_year) - 1)].isoformat(),
        "hours_per_week": 15,
    }
    view = await world.act(ref, "reintegration-plan", plan)
    assert view["state"]["reintegration"]["end_date"] == plan["end_date"]

    # The school sees provision, officer, review dates and the plan; never health data or evidence.
    r = await c.get(f"/cases/{ref}", headers=world.h("school_a"))
    assert r.status_code == 200
    seen = r.json()
    assert seen["stage"] == "reintegrating" and seen["officer"] == "officer-jb"
    assert seen["provisions"][0]["kind"] == "home_tuition" and seen["reintegration"]["hours_per_week"] == 15
    assert seen["reviews"][0]["scheduled_on"] == days.next[0].isoformat()
    for secret in (HEALTH_SUMMARY, "consultant", doc_ref, "Consultant confirms", PARENT_EMAIL):
        assert secret not in r.text
    # The school may add a note, but not decide anything.
    await world.act(ref, "notes", {"text": "Ada attended a morning session."}, who="school_a")
    assert_problem(
        await c.post(f"/cases/{ref}/close", headers=world.h("school_a"), json={"outcome": "withdrawn"}), 403
    )

    view = await world.act(ref, "full-time-return", {"returned_on": days.past[-1].isoformat()})
    assert view["state"]["stage"] == "closed"
    assert view["state"]["close_outcome"] == "returned_full_time"

    # 7. After closing, commands answer 409 with nothing allowed but a supervisor's reopening (for
    # the reopening window).
    problem = assert_problem(
        await c.post(f"/cases/{ref}/notes", headers=world.h("caseworker"), json={"text": "late"}), 409
    )
    assert problem["stage"] == "closed" and problem["allowed_actions"] == ["reopen"]

    # 8. Another school neither sees nor lists the case, nor its tasks.
    assert_problem(await c.get(f"/cases/{ref}", headers=world.h("school_b")), 404)
    assert_problem(await c.post(f"/cases/{ref}/notes", headers=world.h("school_b"), json={"text": "x"}), 404)
    assert (await c.get("/cases", headers=world.h("school_b"))).json()["items"] == []
    assert (await c.get("/tasks", headers=world.h("school_b"))).json()["items"] == []
    assert [i["case_ref"] for i in (await c.get("/cases", headers=world.h("school_a"))).json()["items"]] == [
        ref
    ]

    # 9. Finance: the recoupment lines and totals, and nothing about health; no case access.
    async def lines() -> list[dict[str, Any]]:
        r = await c.get("/reports/recoupment/lines", headers=world.h("finance"))
        assert r.status_code == 200, r.text
        return [line for line in r.json()["items"] if line["case_ref"] == ref]

    ledger = await eventually(lines, timeout=20, what="the case's recoupment lines")
    assert ledger, "the settlement line was not posted"
    assert {line["school_urn"] for line in ledger} == {URN_A}
    assert all(float(line["amount"]) > 0 and line["school_days"] > 0 for line in ledger)
    totals = await c.get("/reports/recoupment?format=csv", headers=world.h("finance"))
    assert totals.headers["content-type"].startswith("text/csv") and URN_A in totals.text
    for r in (totals, await c.get("/reports/recoupment/lines", headers=world.h("finance"))):
        for secret in (HEALTH_SUMMARY, "Ada", "Byron", PARENT_EMAIL, "consultant", "physical_illness"):
            assert secret not in r.text
    assert_problem(await c.get(f"/cases/{ref}", headers=world.h("finance")), 403)
    assert_problem(await c.get("/cases", headers=world.h("finance")), 403)
    assert_problem(await c.get(f"/cases/{ref}/timeline", headers=world.h("finance")), 403)

    # 10. The timeline names who did what; the access records show who read health data.
    timeline = (await c.get(f"/cases/{ref}/timeline", headers=world.h("supervisor"))).json()["events"]
    actors = {(e["actor"]["role"], e["actor"]["name"]) for e in timeline}
    assert ("school", "school-120001") in actors and ("caseworker", "officer-jb") in actors
    assert ("supervisor", "supervisor-1") in actors
    records = (await c.get("/access-records", params={"case_ref": ref}, headers=world.h("supervisor"))).json()
    assert {"officer-jb"} <= {r["actor_name"] for r in records["items"]}
    assert any(r["what"] == "case view" for r in records["items"])

    # 11. Reports and mail: the case is counted closed; the parent and consultant were written to.
    caseload = (await c.get("/reports/caseload", headers=world.h("supervisor"))).json()
    assert {s["stage"]: s["cases"] for s in caseload["stages"]}["closed"] == 1
    assert world.inbox.to(PARENT_EMAIL), [m["Subject"] for m in world.inbox.messages]
    assert world.inbox.to(CONSULTANT_EMAIL)
    for message in world.inbox.messages:
        assert HEALTH_SUMMARY not in message.as_string()

    # 12. The ready check sees Temporal and the database.
    ready = await c.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


async def test_idempotent_commands_and_invalid_commands(world: World) -> None:
    days = school_days_around_today()
    c = world.client
    r = await c.post(
        "/cases", headers=world.h("caseworker"), json=notification(days, given="Grace", family="Hopper")
    )
    assert r.status_code == 201, r.text
    ref = r.json()["state"]["case_ref"]

    # The same Idempotency-Key applies a note once.
    headers = world.h("caseworker", **{"Idempotency-Key": "note-1"})
    first = await c.post(f"/cases/{ref}/notes", headers=headers, json={"text": "Called the parent."})
    again = await c.post(f"/cases/{ref}/notes", headers=headers, json={"text": "Called the parent."})
    assert first.status_code == again.status_code == 200
    assert len(again.json()["state"]["notes"]) == 1

    # A command the workflow finds invalid for this case answers 422 naming the reason.
    future = (days.today + timedelta(days=7)).isoformat()
    r = await c.post(
        f"/cases/{ref}/hospital-admissions",
        headers=world.h("caseworker"),
        json={"admitted_on": future, "hospital": "LRI"},
    )
    problem = assert_problem(r, 422)
    assert "future" in problem["detail"]

    # Evidence cannot be requested before consent names the professional.
    r = await c.post(
        f"/cases/{ref}/evidence-requests", headers=world.h("caseworker"), json={"professional_ids": ["x"]}
    )
    problem = assert_problem(r, 409)
    assert problem["stage"] == "notified" and "record_consent" in problem["allowed_actions"]

    # An unknown case is 404, through the workflow as through the read model.
    assert_problem(await c.get("/cases/MN-26-ZZZZZ9", headers=world.h("caseworker")), 404)
    r = await c.post("/cases/MN-26-ZZZZZ9/notes", headers=world.h("caseworker"), json={"text": "x"})
    assert_problem(r, 404)


async def test_a_command_shows_in_the_lists_the_moment_it_answers(
    world: World, temporal_dev_server: WorkflowEnvironment
) -> None:
    """The API writes a command's answer to the read model in the transaction that records the read,
    so a caseworker's inbox and a supervisor's list never lag behind the command they just gave; the
    case schedules no projection of its own for it."""
    days = school_days_around_today()
    r = await world.client.post("/cases", headers=world.h("school_a"), json=notification(days, given="Grace"))
    assert r.status_code == 201, r.text
    ref = r.json()["case_ref"]

    view = await world.act(ref, "consent-request")
    assert view["state"]["stage"] == "awaiting_consent"
    listed = await world.client.get("/cases", params={"stage": "awaiting_consent"}, headers=world.h("supervisor"))
    assert [i["case_ref"] for i in listed.json()["items"]] == [ref]
    tasks = await world.client.get("/tasks", headers=world.h("caseworker"))
    assert [t["kind"] for t in tasks.json()["items"] if t["case_ref"] == ref] == [
        t["kind"] for t in view["pending_tasks"]
    ]

    history = await temporal_dev_server.client.get_workflow_handle(ref).fetch_history()
    accepted = max(i for i, e in enumerate(history.events)
                   if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED)
    after = history.events[accepted:]
    scheduled = [e.activity_task_scheduled_event_attributes.activity_type.name for e in after
                 if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]
    assert not {"project_case", "project_case_by_reference"} & set(scheduled), scheduled
    assert "send_email" in scheduled  # the consent request to the parent still goes out

    # The field is the API's to set: a request body cannot.
    r = await world.client.post(f"/cases/{ref}/notes", headers=world.h("caseworker"),
                                json={"text": "Called", "caller_writes_read_model": False})
    assert_problem(r, 422)


@pytest.mark.parametrize(
    ("who", "failure"),
    [
        ("caseworker", DataError("UPDATE cases ...", {}, Exception("value too long"))),
        ("school_a", ReadModelUnavailable("read model database is unavailable (OperationalError)")),
    ],
    ids=["staff, rows refused", "school, database gone after the key was checked"],
)
async def test_when_the_api_cannot_write_the_answer_the_case_writes_it(
    world: World, temporal_dev_server: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch,
    who: str, failure: Exception,
) -> None:
    """The API's own write of a command's answer fails: the caller still gets the answer (the command
    was applied; a staff read is still recorded), the API signals the case, and the case writes the
    read model itself."""
    days = school_days_around_today()
    r = await world.client.post("/cases", headers=world.h("school_a"), json=notification(days, given="Ida"))
    ref = r.json()["case_ref"]

    def failing_write(*args: Any, **kwargs: Any) -> bool:
        raise failure

    monkeypatch.setattr(case_updates, "write_case_view", failing_write)
    r = await world.client.post(f"/cases/{ref}/notes", headers=world.h(who), json={"text": "Spoke to the office"})
    monkeypatch.undo()
    assert r.status_code == 200, r.text
    after = await temporal_dev_server.client.get_workflow_handle(ref).query("view", result_type=CaseView)
    assert [n.text for n in after.state.notes] == ["Spoke to the office"]

    engine = make_engine(world.settings.database_url)
    try:
        async def written_by_the_case() -> bool:
            with session_scope(engine) as session:
                return session.get(CaseRow, ref).version == after.state.version

        assert await eventually(written_by_the_case, timeout=20)
        with session_scope(engine) as session:
            reads = session.exec(select(AccessRecord.what).where(AccessRecord.case_ref == ref)).all()
        assert reads == (["case view (after add_note)"] if who == "caseworker" else [])
    finally:
        engine.dispose()
