"""Children's health data never reaches Temporal, the read model or document storage in the clear.

On the real dev server, with a real worker and the API: a case goes through notification, consent,
an evidence upload, the decision and a note, each carrying the child's names, date of birth,
address, the parent's email and the diagnosis; a small test workflow fails with an activity error
and a workflow error whose messages name the child and the diagnosis. Then a client with **no**
codec (the SDK's default converter) reads every raw history, and the `temporal` CLI shows them as
JSON: none of the personal data appears, also not after base64-decoding every value. The read
model's SQLite files and the stored document files hold none of it either.

A supervisor then sees the same history decoded: through the API's `/codec/decode` over HTTP, and
through `temporal workflow show --codec-endpoint ... --codec-auth ...` against the API served by
uvicorn, exactly as the README tells supervisors to. Other roles get 403 from the codec.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from google.protobuf import json_format
from temporalio import activity, workflow
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from api.app import create_app
from api.codec_routes import CODEC_READ
from infra.payload_codec import CASE_REF_METADATA
from infra.settings import Settings
from tests.api_world import api_client, case_worker, migrate_and_create_keys
from tests.support import dev_server_path, eventually, free_port, make_settings, recent_school_days

pytestmark = pytest.mark.slow

GIVEN = "Philippa"
FAMILY = "Quartermaine"
DATE_OF_BIRTH = "2014-02-17"
ADDRESS = "14 Larkspur Crescent, Oadby"
POSTCODE = "LE2 4QZ"
PARENT_EMAIL = "m.quartermaine@family.example"
DIAGNOSIS = "Ewing sarcoma"
HEALTH_SUMMARY = f"{DIAGNOSIS} of the left femur; chemotherapy at the Royal Infirmary"
CONSULTANT = "Dr Oluwaseun Brightwater"
#: What must never be readable without the keys.
SECRETS = [
    GIVEN,
    FAMILY,
    DATE_OF_BIRTH,
    "Larkspur",
    POSTCODE,
    PARENT_EMAIL,
    DIAGNOSIS,
    "chemotherapy",
    CONSULTANT,
]
LETTER = f"Dear colleague,\n{GIVEN} {FAMILY} ({DATE_OF_BIRTH}) is treated for {DIAGNOSIS}.\n".encode()


# -- a workflow that fails with personal data in its error messages ----------------------------------


@activity.defn(name="privacy_test_find_gp")
async def find_gp(child: str) -> str:
    raise ApplicationError(f"no GP record for {child} ({DIAGNOSIS})", non_retryable=True)


@workflow.defn(name="PrivacyTestFailingWorkflow")
class FailingWorkflow:
    @workflow.run
    async def run(self, child: str) -> str:
        try:
            await workflow.execute_activity(find_gp, child, start_to_close_timeout=timedelta(seconds=10))
        except ActivityError:
            pass
        raise ApplicationError(f"cannot go on with the case of {child}: {DIAGNOSIS}", non_retryable=True)


# -- the world ----------------------------------------------------------------------------------------


@dataclass
class World:
    api: httpx.AsyncClient
    app: Any
    settings: Settings
    tokens: dict[str, str]
    target: str
    failing_queue: str

    def h(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    async def act(self, ref: str, slug: str, body: dict[str, Any] | None = None) -> Any:
        r = await self.api.post(f"/cases/{ref}/{slug}", headers=self.h("caseworker"), json=body or {})
        assert r.status_code == 200, f"{slug}: {r.status_code} {r.text}"
        return r.json()


@pytest.fixture
async def world(temporal_dev_server: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[World]:
    target = temporal_dev_server.client.service_client.config.target_host
    settings = make_settings(tmp_path, temporal_address=target, task_queue=f"privacy-{uuid.uuid4().hex}")
    tokens = migrate_and_create_keys(settings.database_url, {
        "caseworker": ("officer-privacy", "caseworker", None),
        "supervisor": ("supervisor-privacy", "supervisor", None),
        "finance": ("finance-privacy", "finance", None),
    })
    failing_queue = f"privacy-failing-{uuid.uuid4().hex}"
    app = create_app(settings)
    client = temporal_dev_server.client
    async with (
        case_worker(client, settings),
        Worker(
            client,
            task_queue=failing_queue,
            workflows=[FailingWorkflow],
            activities=[find_gp],
            workflow_runner=UnsandboxedWorkflowRunner(),
        ),
        api_client(app) as api,
    ):
        yield World(api, app, settings, tokens, target, failing_queue)


# -- looking for secrets -------------------------------------------------------------------------------


def strings_in(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from strings_in(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings_in(v)


def readable_forms(text: str) -> Iterator[bytes]:
    """The text itself, and the bytes of every value in it that is base64 (payload data, metadata)."""
    yield text.encode("utf-8")
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        return
    for s in strings_in(document):
        if len(s) >= 4 and len(s) % 4 == 0:
            try:
                yield base64.b64decode(s, validate=True)
            except (binascii.Error, ValueError):
                pass


def assert_no_secrets(text: str, where: str) -> None:
    for form in readable_forms(text):
        lowered = form.lower()
        for secret in SECRETS:
            assert secret.lower().encode("utf-8") not in lowered, f"{secret!r} readable in {where}"


def encrypted_payloads(value: Any) -> list[dict[str, Any]]:
    """Every payload (JSON form) in a history that the codec encrypted."""
    found: list[dict[str, Any]] = []
    marker = base64.b64encode(b"binary/encrypted").decode()
    if isinstance(value, dict):
        metadata = value.get("metadata")
        if isinstance(metadata, dict) and metadata.get("encoding") == marker:
            found.append({"metadata": metadata, "data": value.get("data", "")})
        for v in value.values():
            found += encrypted_payloads(v)
    elif isinstance(value, list):
        for v in value:
            found += encrypted_payloads(v)
    return found


async def run_cli(*args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        dev_server_path(), *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, err.decode(errors="replace")
    return out.decode("utf-8")


# -- the test ---------------------------------------------------------------------------------------------


async def test_histories_hold_no_personal_data_and_supervisors_see_them_decoded(
    world: World, temporal_dev_server: WorkflowEnvironment
) -> None:
    days = recent_school_days(8)
    c = world.api
    notification = {
        "school_urn": "120001",
        "child": {
            "given_name": GIVEN,
            "family_name": FAMILY,
            "date_of_birth": DATE_OF_BIRTH,
            "address": f"{ADDRESS} {POSTCODE}",
        },
        "parent": {"name": f"Morwenna {FAMILY}", "email": PARENT_EMAIL},
        "first_day_of_absence": days[0].isoformat(),
        "reason": "physical_illness",
        "health_summary": HEALTH_SUMMARY,
        "absence_days": [d.isoformat() for d in days],
    }
    r = await c.post("/cases", headers=world.h("caseworker"), json=notification)
    assert r.status_code == 201, r.text
    ref = r.json()["state"]["case_ref"]
    await world.act(ref, "consent-request")
    consultant = {"id": "consultant-1", "name": CONSULTANT, "role": "consultant", "email": "onc@nhs.example"}
    await world.act(ref, "consent", {"decision": "granted", "professionals": [consultant]})
    await world.act(ref, "evidence-requests", {"professional_ids": ["consultant-1"]})
    r = await c.post(
        f"/cases/{ref}/documents",
        headers=world.h("caseworker"),
        files={"file": ("letter.txt", LETTER, "text/plain")},
        data={"kind": "consultant_letter"},
    )
    assert r.status_code == 201, r.text
    doc_ref = r.json()["doc_ref"]
    await world.act(ref, "evidence", {"document_ref": doc_ref, "kind": "consultant_letter"})
    view = await world.act(
        ref, "decision", {"outcome": "la_provision", "reason": f"Oncology confirms {DIAGNOSIS}"}
    )
    view = await world.act(ref, "notes", {"text": f"{GIVEN} tired after {DIAGNOSIS} treatment"})
    assert view["state"]["health_summary"] == HEALTH_SUMMARY  # the service itself reads it all back

    # A failing workflow: our client (with the codec) still reads the messages back.
    failing_id = f"privacy-failing-{uuid.uuid4().hex}"
    with pytest.raises(WorkflowFailureError) as failed:
        await temporal_dev_server.client.execute_workflow(
            FailingWorkflow.run, f"{GIVEN} {FAMILY}", id=failing_id, task_queue=world.failing_queue
        )
    assert DIAGNOSIS in str(failed.value.cause) and GIVEN in str(failed.value.cause)

    # 1. A client without the codec: raw histories (every payload, failure, memo, search attribute).
    raw = await Client.connect(world.target, namespace=world.settings.temporal_namespace)
    histories: dict[str, str] = {}
    for workflow_id in (ref, failing_id):
        handle = raw.get_workflow_handle(workflow_id)
        histories[workflow_id] = (await handle.fetch_history()).to_json()
        assert_no_secrets(histories[workflow_id], f"raw history of {workflow_id}")
        description = await handle.describe()
        assert_no_secrets(
            json_format.MessageToJson(description.raw_description), f"description of {workflow_id}"
        )
    case_history = json.loads(histories[ref])
    assert len(case_history["events"]) > 20
    failing_history = json.loads(histories[failing_id])
    assert "Encoded failure" in histories[failing_id]  # messages moved into encrypted attributes

    # 2. The CLI, as an operator without the codec sees it.
    for workflow_id in (ref, failing_id):
        shown = await run_cli(
            "workflow", "show", "--workflow-id", workflow_id, "--address", world.target, "--output", "json"
        )
        assert len(shown) > 1000
        assert_no_secrets(shown, f"`temporal workflow show` of {workflow_id}")

    # 3. At rest: the read model's database files and the stored documents.
    db_dir = Path(world.settings.database_url.removeprefix("sqlite:///")).parent
    for path in [*db_dir.glob("casework.db*"), *world.settings.document_dir.rglob("*.bin")]:
        assert_no_secrets(path.read_bytes().decode("latin-1"), str(path.name))
    assert list(world.settings.document_dir.rglob("*.bin")), "the letter was not stored"

    # 4. A supervisor decodes the same payloads through the codec server: the data is all there.
    payloads = encrypted_payloads(case_history) + encrypted_payloads(failing_history)
    r = await c.post("/codec/decode", headers=world.h("supervisor"), json={"payloads": payloads})
    assert r.status_code == 200, r.text
    decoded = b"".join(base64.b64decode(p.get("data", "")) for p in r.json()["payloads"]).decode("utf-8")
    for secret in (
        GIVEN,
        FAMILY,
        DATE_OF_BIRTH,
        PARENT_EMAIL,
        DIAGNOSIS,
        POSTCODE,
        f"no GP record for {GIVEN}",
    ):
        assert secret in decoded, f"{secret!r} not decoded"
    for who in ("caseworker", "finance"):
        r = await c.post("/codec/decode", headers=world.h(who), json={"payloads": payloads[:1]})
        assert r.status_code == 403, r.text

    # 5. ...and through the CLI with the codec endpoint, against the API served over HTTP.
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(world.app, host="127.0.0.1", port=port, lifespan="off", log_level="error")
    )
    serving = asyncio.create_task(server.serve())
    try:
        await eventually(lambda: server.started, timeout=10, what="uvicorn serving")
        shown = await run_cli(
            "workflow",
            "show",
            "--workflow-id",
            ref,
            "--address",
            world.target,
            "--output",
            "json",
            "--codec-endpoint",
            f"http://127.0.0.1:{port}/codec",
            "--codec-auth",
            f"Bearer {world.tokens['supervisor']}",
        )
    finally:
        server.should_exit = True
        await serving
    readable = b"\n".join(readable_forms(shown))
    assert GIVEN.encode() in readable and DIAGNOSIS.encode() in readable


async def test_a_supervisors_decode_is_one_access_record_per_case_not_one_per_call(
    world: World, temporal_dev_server: WorkflowEnvironment
) -> None:
    days = recent_school_days(4)
    c = world.api
    refs = []
    for given in ("Ada", "Grace"):
        body = {
            "school_urn": "120001",
            "child": {"given_name": given, "family_name": FAMILY, "date_of_birth": DATE_OF_BIRTH},
            "parent": {"name": f"Morwenna {FAMILY}", "email": PARENT_EMAIL},
            "first_day_of_absence": days[0].isoformat(),
            "reason": "physical_illness",
            "health_summary": HEALTH_SUMMARY,
            "absence_days": [d.isoformat() for d in days],
        }
        r = await c.post("/cases", headers=world.h("caseworker"), json=body)
        assert r.status_code == 201, r.text
        refs.append(r.json()["state"]["case_ref"])
        await world.act(refs[-1], "notes", {"text": f"{given} tired after {DIAGNOSIS} treatment"})

    # The Temporal UI's summary and details of the case: readable with the codec, encrypted without.
    description = await temporal_dev_server.client.get_workflow_handle(refs[0]).describe()
    assert await description.static_summary() == f"Case {refs[0]} · school 120001"
    details = await description.static_details()
    assert details is not None and f"/cases/{refs[0]})" in details
    raw = await Client.connect(world.target, namespace=world.settings.temporal_namespace)
    raw_description = await raw.get_workflow_handle(refs[0]).describe()
    summary = raw_description.raw_description.execution_config.user_metadata.summary
    assert summary.metadata["encoding"] == b"binary/encrypted"
    history = json.loads((await raw.get_workflow_handle(refs[0]).fetch_history()).to_json())
    payloads = encrypted_payloads(history)
    assert len(payloads) > 10

    # The Temporal UI decodes a history page a few payloads at a time: many calls, one record.
    for start in range(0, len(payloads), 3):
        r = await c.post(
            "/codec/decode", headers=world.h("supervisor"), json={"payloads": payloads[start : start + 3]}
        )
        assert r.status_code == 200, r.text
        assert all(CASE_REF_METADATA not in p.get("metadata", {}) for p in r.json()["payloads"])
    records = await c.get("/access-records", headers=world.h("supervisor"), params={"case_ref": refs[0]})
    assert records.status_code == 200, records.text
    through_codec = [
        (rec["actor_name"], rec["case_ref"])
        for rec in records.json()["items"]
        if rec["what"] == CODEC_READ
    ]
    assert through_codec == [("supervisor-privacy", refs[0])]
    # The other child's case was not decoded, so it has no such record.
    other = await c.get("/access-records", headers=world.h("supervisor"), params={"case_ref": refs[1]})
    assert [rec for rec in other.json()["items"] if rec["what"] == CODEC_READ] == []
    # A caller who may not decode is refused at once, and told why.
    r = await c.post("/codec/decode", headers=world.h("finance"), json={"payloads": payloads[:1]})
    assert r.status_code == 403
    assert "supervisor" in r.json()["detail"]
