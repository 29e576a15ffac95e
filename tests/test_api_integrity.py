"""Integrity through the API (issue 12, "Integrity"), against the real Temporal dev server with a real
worker and every real activity, the read model on SQLite and on PostgreSQL:

- a refused notification starts no case: no workflow, no `/cases` row, and a retry under the same
  `Idempotency-Key` opens a new case with only the corrected days;
- an `Idempotency-Key` used again with a different body is refused naming the key; the same key and
  the same body stays a replay;
- NUL and other control characters in text are refused naming the field;
- uploads are judged by content: a PDF cut off before its end and an HTML page sent as text are refused;
- the same document in two cases has two unrelated references; in one case, one.

The dev server runs in real time, so dates come from the shipped calendar around today.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import select
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from infra.settings import Settings
from readmodel.database import make_engine, session_scope
from readmodel.tables import IdempotencyRecord
from tests.api_world import api_client, case_worker, migrate_and_create_keys
from tests.support import eventually, make_settings, school_days_around_today

pytestmark = pytest.mark.slow

URN = "120001"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@dataclass
class World:
    client: httpx.AsyncClient
    temporal: Client
    settings: Settings
    tokens: dict[str, str]

    def h(self, who: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}", **extra}

    async def notify(self, body: dict[str, Any], key: str | None = None, who: str = "school") -> httpx.Response:
        headers = self.h(who, **({"Idempotency-Key": key} if key else {}))
        return await self.client.post("/cases", headers=headers, json=body)

    async def workflows(self) -> list[str]:
        query = f"TaskQueue = '{self.settings.task_queue}'"
        return sorted([w.id async for w in self.temporal.list_workflows(query)])

    async def listed(self) -> list[str]:
        r = await self.client.get("/cases", headers=self.h("supervisor"))
        assert r.status_code == 200, r.text
        return sorted(i["case_ref"] for i in r.json()["items"])

    def idempotency_records(self) -> list[IdempotencyRecord]:
        engine = make_engine(self.settings.database_url)
        try:
            with session_scope(engine) as s:
                return list(s.exec(select(IdempotencyRecord)))
        finally:
            engine.dispose()


@pytest.fixture
async def world(temporal_dev_server: WorkflowEnvironment, database_url: str, tmp_path: Path) -> AsyncIterator[World]:
    settings = make_settings(
        tmp_path,
        database_url=database_url,
        temporal_address=temporal_dev_server.client.service_client.config.target_host,
        task_queue=f"integrity-{uuid.uuid4().hex}",
    )
    tokens = migrate_and_create_keys(database_url, {
        "school": ("school-120001", "school", [URN]),
        "caseworker": ("officer-jb", "caseworker", None),
        "supervisor": ("supervisor-1", "supervisor", None),
    })
    async with case_worker(temporal_dev_server.client, settings), api_client(create_app(settings)) as client:
        yield World(client, temporal_dev_server.client, settings, tokens)


def school_days() -> tuple[list[date], date]:
    """The last ten school days up to today, and a Sunday between two of them."""
    days = school_days_around_today().past[-10:]
    weekend = next(d for d in (days[0] + timedelta(n) for n in range(30)) if d.weekday() == 6 and d < days[-1])
    return days, weekend


def notification(days: list[date], *, given: str = "Ada", extra_days: list[date] = ()) -> dict[str, Any]:
    return {
        "school_urn": URN,
        "child": {"given_name": given, "family_name": "Byron", "date_of_birth": "2013-05-04"},
        "parent": {"name": "Anne Byron", "email": "parent@family.example"},
        "first_day_of_absence": days[0].isoformat(),
        "reason": "physical_illness",
        "absence_days": [d.isoformat() for d in [*days, *extra_days]],
    }


def problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    return r.json()


async def test_a_refused_notification_creates_nothing(world: World) -> None:
    days, sunday = school_days()
    p = problem(await world.notify(notification(days, extra_days=[sunday]), key="first-try"), 422)
    field = f"body.absence_days[{len(days)}]"
    assert [e["field"] for e in p["errors"]] == [field]
    assert "is not a school day" in p["errors"][0]["message"] and "nearest school days" in p["errors"][0]["message"]
    assert world.idempotency_records() == []  # the key is not spent on a refused request

    # The retry with the Sunday taken out opens a new case, with only the school days.
    r = await world.notify(notification(days), key="first-try")
    assert r.status_code == 201, r.text
    ref = r.json()["case_ref"]
    assert r.json()["absence_days_recorded"] == len(days)
    await eventually(lambda: _has(world.workflows, ref), timeout=20, what="the new case listed in Temporal")
    assert await world.workflows() == [ref]
    assert await world.listed() == [ref]


async def _has(probe: Any, ref: str) -> bool:
    return ref in await probe()


async def test_a_notification_with_a_saturday_first_day_is_refused(world: World) -> None:
    days, sunday = school_days()
    body = {**notification(days), "first_day_of_absence": (sunday - timedelta(days=1)).isoformat()}
    p = problem(await world.notify(body), 422)
    assert [e["field"] for e in p["errors"]] == ["body.first_day_of_absence"]
    assert await world.listed() == []


async def test_an_idempotency_key_used_again_for_another_child_is_refused(world: World) -> None:
    days, _ = school_days()
    first = await world.notify(notification(days, given="Ada"), key="notify-1")
    assert first.status_code == 201, first.text
    ref = first.json()["case_ref"]

    # Another child under the same key: refused, naming the key, and no second case.
    p = problem(await world.notify(notification(days, given="Grace"), key="notify-1"), 422)
    assert [e["field"] for e in p["errors"]] == ["header.Idempotency-Key"]
    assert "different request" in p["detail"]
    assert "Grace" not in p["detail"] and "Ada" not in p["detail"]

    # The same key and the same body is still a replay of the first answer.
    again = await world.notify(notification(days, given="Ada"), key="notify-1")
    assert (again.status_code, again.json()["case_ref"]) == (200, ref)

    # The other child, under a key of their own, gets their own case.
    grace = await world.notify(notification(days, given="Grace"), key="notify-2")
    assert grace.status_code == 201, grace.text
    assert grace.json()["case_ref"] != ref


async def test_nul_and_control_characters_in_text_are_refused(world: World) -> None:
    days, _ = school_days()
    body = notification(days, given="Ada\x00")
    p = problem(await world.notify(body, key="nul-1"), 422)
    assert [e["field"] for e in p["errors"]] == ["body.child.given_name"]
    assert "\x00" not in p["detail"] and "Ada" not in p["detail"]
    assert world.idempotency_records() == []
    assert await world.listed() == []

    r = await world.notify(notification(days), who="caseworker")
    assert r.status_code == 201, r.text
    ref = r.json()["state"]["case_ref"]
    p = problem(await world.client.post(f"/cases/{ref}/notes", headers=world.h("caseworker"),
                                        json={"text": "Called\x00 the parent"}), 422)
    assert [e["field"] for e in p["errors"]] == ["body.text"]
    ok = await world.client.post(f"/cases/{ref}/notes", headers=world.h("caseworker"),
                                 json={"text": "Called the parent.\nBack on Monday."})
    assert ok.status_code == 200, ok.text


async def _upload(world: World, ref: str, name: str, data: bytes, declared: str) -> httpx.Response:
    return await world.client.post(f"/cases/{ref}/documents", headers=world.h("caseworker"),
                                   files={"file": (name, data, declared)}, data={"kind": "gp_letter"})


async def _open(world: World, given: str) -> str:
    days, _ = school_days()
    r = await world.notify(notification(days, given=given), who="caseworker")
    assert r.status_code == 201, r.text
    return r.json()["state"]["case_ref"]


async def test_uploads_are_checked_by_content(world: World) -> None:
    ref = await _open(world, "Ada")
    p = problem(await _upload(world, ref, "letter.pdf", PDF[: len(PDF) // 2], "application/pdf"), 422)
    assert [e["field"] for e in p["errors"]] == ["body.file"]
    assert "PDF is incomplete" in p["detail"] and "cut off" in p["detail"]

    page = b"<!DOCTYPE html>\n<html><body><script>alert(1)</script>Letter</body></html>\n"
    p = problem(await _upload(world, ref, "letter.txt", page, "text/plain"), 415)
    assert "text/html" in p["detail"] and "web page" in p["detail"]

    listed = await world.client.get(f"/cases/{ref}/documents", headers=world.h("caseworker"))
    assert listed.json()["items"] == []


async def test_the_same_document_in_two_cases_has_unrelated_references(world: World) -> None:
    first, second = await _open(world, "Ada"), await _open(world, "Grace")
    a = await _upload(world, first, "letter.pdf", PDF, "application/pdf")
    b = await _upload(world, second, "letter.pdf", PDF, "application/pdf")
    again = await _upload(world, first, "copy.pdf", PDF, "application/pdf")
    assert a.status_code == b.status_code == again.status_code == 201, (a.text, b.text, again.text)
    assert a.json()["doc_ref"] != b.json()["doc_ref"]
    assert again.json()["doc_ref"] == a.json()["doc_ref"]  # one case: stored and listed once
    listed = await world.client.get(f"/cases/{first}/documents", headers=world.h("caseworker"))
    assert [d["doc_ref"] for d in listed.json()["items"]] == [a.json()["doc_ref"]]
    for ref, doc in ((first, a), (second, b)):
        download = await world.client.get(f"/cases/{ref}/documents/{doc.json()['doc_ref']}",
                                          headers=world.h("caseworker"))
        assert download.status_code == 200 and download.content == PDF
    # Neither case can fetch the other's reference.
    cross = await world.client.get(f"/cases/{second}/documents/{a.json()['doc_ref']}", headers=world.h("caseworker"))
    assert cross.status_code == 404


async def test_a_command_key_used_again_with_another_body_is_refused(world: World) -> None:
    ref = await _open(world, "Ada")
    url = f"/cases/{ref}/notes"
    first = await world.client.post(url, headers=world.h("caseworker", **{"Idempotency-Key": "note-1"}),
                                    json={"text": "Called the parent."})
    assert first.status_code == 200, first.text
    p = problem(await world.client.post(url, headers=world.h("caseworker", **{"Idempotency-Key": "note-1"}),
                                        json={"text": "Wrote to the GP."}), 422)
    assert [e["field"] for e in p["errors"]] == ["header.Idempotency-Key"]
    again = await world.client.post(url, headers=world.h("caseworker", **{"Idempotency-Key": "note-1"}),
                                    json={"text": "Called the parent."})
    assert again.status_code == 200 and [n["text"] for n in again.json()["state"]["notes"]] == ["Called the parent."]

    # A command the case refuses does not spend its key: the corrected one goes through under it.
    future = (datetime.now(UTC).date() + timedelta(days=7)).isoformat()
    admit = f"/cases/{ref}/hospital-admissions"
    headers = world.h("caseworker", **{"Idempotency-Key": "admit-1"})
    problem(await world.client.post(admit, headers=headers, json={"admitted_on": future, "hospital": "LRI"}), 422)
    today = datetime.now(UTC).date().isoformat()
    ok = await world.client.post(admit, headers=headers, json={"admitted_on": today, "hospital": "LRI"})
    assert ok.status_code == 200, ok.text
    assert ok.json()["state"]["hospital_stays"][0]["admitted_on"] == today


@pytest.mark.parametrize(("path", "name"), [("/cases", "officer"), ("/access-records", "actor_name"),
                                            ("/tasks", "assignee")])
async def test_a_control_character_in_a_search_is_refused_naming_the_parameter(
    world: World, path: str, name: str
) -> None:
    p = problem(await world.client.get(path, params={name: "officer\x00jb"}, headers=world.h("supervisor")), 422)
    assert [e["field"] for e in p["errors"]] == [f"query.{name}"]
