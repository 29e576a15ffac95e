"""What one command adds to a case's history does not grow with the case's age (issue 16): a command
answers with what it changed, and the API puts the whole case together from the read model. Through
the API on the shared dev server, with a real worker: the history a note adds stays flat while the
HTTP answer grows with the case; the read model shows every event and note after concurrent notes and
after an API write that failed; and the HTTP answer is the whole case, as `GET /cases/{ref}` gives."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

import api.case_updates as case_updates
from api.app import create_app
from infra.encryption import Keyring
from infra.settings import Settings
from readmodel.case_lists import held_lists
from readmodel.database import ReadModelUnavailable, make_engine, session_scope
from readmodel.tables import TimelineRow
from tests.api_world import api_client, case_worker, migrate_and_create_keys
from tests.support import eventually, free_port, make_settings, school_days_around_today

pytestmark = pytest.mark.slow


class _Inbox:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook
        return "250 OK"


@dataclass
class World:
    client: httpx.AsyncClient
    settings: Settings
    tokens: dict[str, str]
    temporal: WorkflowEnvironment

    def h(self, who: str = "caseworker") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    async def note(self, ref: str, text: str) -> httpx.Response:
        return await self.client.post(f"/cases/{ref}/notes", headers=self.h(), json={"text": text})

    async def history_bytes(self, ref: str) -> int:
        history = await self.temporal.client.get_workflow_handle(ref).fetch_history()
        return sum(e.ByteSize() for e in history.events)

    def read_model(self, ref: str) -> tuple[list[int], list[str]]:
        """The timeline seqs and the notes' texts the read model holds for a case."""
        engine = make_engine(self.settings.database_url)
        try:
            with session_scope(engine) as session:
                seqs = sorted(session.scalars(select(TimelineRow.seq).where(TimelineRow.case_ref == ref)))
                _, lists = held_lists(session, ref, Keyring.from_settings(self.settings))
                return seqs, [n["text"] for n in lists.get("notes", [])]
        finally:
            engine.dispose()


@pytest.fixture
async def world(temporal_dev_server: WorkflowEnvironment, database_url: str, tmp_path: Path) -> AsyncIterator[World]:
    smtp_port = free_port()
    controller = Controller(_Inbox(), hostname="127.0.0.1", port=smtp_port)
    controller.start()
    settings = make_settings(
        tmp_path, database_url=database_url,
        temporal_address=temporal_dev_server.client.service_client.config.target_host,
        task_queue=f"flat-{uuid.uuid4().hex}", smtp_host="127.0.0.1", smtp_port=smtp_port,
    )
    tokens = migrate_and_create_keys(database_url, {
        "school": ("school-120001", "school", ["120001"]),
        "caseworker": ("officer-jb", "caseworker", None),
    })
    try:
        async with case_worker(temporal_dev_server.client, settings), api_client(create_app(settings)) as client:
            yield World(client, settings, tokens, temporal_dev_server)
    finally:
        controller.stop()


async def open_case(world: World) -> str:
    absence = school_days_around_today().past[-8:]
    r = await world.client.post("/cases", headers=world.h(), json={
        "school_urn": "120001",
        "child": {"given_name": "Ada", "family_name": f"Byron-{uuid.uuid4().hex[:6]}",
                  "date_of_birth": "2013-05-04", "upn": "A123456789012"},
        "parent": {"name": "Anne Byron", "email": "parent@family.example"},
        "first_day_of_absence": absence[0].isoformat(), "reason": "physical_illness",
        "health_summary": "Leukaemia treatment", "absence_days": [d.isoformat() for d in absence],
    })
    assert r.status_code in (200, 201), r.text
    return r.json()["state"]["case_ref"]


@pytest.fixture
def whole_case_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The cases whose command answer the API could not put together from the read model (a gap)."""
    reads: list[str] = []
    real = case_updates._whole_case

    async def counted(request: Any, case_ref: str) -> Any:
        reads.append(case_ref)
        return await real(request, case_ref)

    monkeypatch.setattr(case_updates, "_whole_case", counted)
    return reads


async def test_what_a_note_adds_to_history_does_not_grow_with_the_case(world: World, whole_case_reads) -> None:
    ref = await open_case(world)
    sizes: list[int] = [await world.history_bytes(ref)]
    answers: list[int] = []
    for n in range(30):
        r = await world.note(ref, f"Called the parent ({n})")
        assert r.status_code == 200, r.text
        answers.append(len(r.content))
        sizes.append(await world.history_bytes(ref))
    added = [b - a for a, b in zip(sizes, sizes[1:], strict=False)]
    early, late = sorted(added[1:4])[1], sorted(added[-3:])[1]  # notes 2-4 and 28-30, medians
    # The HTTP answer is the whole case and grows with it; what history takes for it does not.
    assert answers[-1] > answers[1] * 1.5
    assert late <= early * 1.25, (early, late)
    assert late - early < (answers[-1] - answers[1]) / 4, (early, late, answers[1], answers[-1])
    assert whole_case_reads == []  # every answer was put together from the read model


async def test_the_answer_is_the_whole_case_and_the_read_model_holds_it_after_concurrent_notes(
    world: World, whole_case_reads,
) -> None:
    ref = await open_case(world)
    first = await world.note(ref, "First")
    whole = await world.client.get(f"/cases/{ref}", headers=world.h())
    assert first.json() == whole.json()  # the same shape and the same case as a read of it

    answers = await asyncio.gather(*(world.note(ref, f"Concurrent {n}") for n in range(8)))
    assert all(r.status_code == 200 for r in answers), [r.text for r in answers]
    for r in answers:  # each answer is a whole case, with every event up to its own
        state = r.json()["state"]
        assert [e["seq"] for e in state["timeline"]] == list(range(1, len(state["timeline"]) + 1))
    view = (await world.client.get(f"/cases/{ref}", headers=world.h())).json()["state"]
    await eventually(lambda: world.read_model(ref) == ([e["seq"] for e in view["timeline"]],
                                                       [n["text"] for n in view["notes"]]),
                     what="the read model holding every event and note")
    assert sorted(n["text"] for n in view["notes"]) == sorted(["First", *(f"Concurrent {n}" for n in range(8))])


async def test_after_a_failed_write_the_next_answer_is_whole_and_fills_the_read_model(
    world: World, whole_case_reads, monkeypatch: pytest.MonkeyPatch,
) -> None:
    ref = await open_case(world)
    assert (await world.note(ref, "Before")).status_code == 200

    real_write = case_updates.write_case_change

    def failing(*args: Any, **kwargs: Any) -> Any:
        raise ReadModelUnavailable("read model unreachable")

    async def lost(*args: Any) -> None:
        return None  # the signal to the case is lost too: only the next command can notice the gap

    monkeypatch.setattr(case_updates, "write_case_change", failing)
    monkeypatch.setattr(case_updates, "_tell_case_read_model_write_failed", lost)
    assert (await world.note(ref, "Lost write")).status_code == 503
    monkeypatch.setattr(case_updates, "write_case_change", real_write)

    after = await world.note(ref, "After")
    assert after.status_code == 200
    assert whole_case_reads == [ref]  # the gap was found and the case read whole
    state = after.json()["state"]
    assert [n["text"] for n in state["notes"]] == ["Before", "Lost write", "After"]
    assert world.read_model(ref) == ([e["seq"] for e in state["timeline"]], ["Before", "Lost write", "After"])
