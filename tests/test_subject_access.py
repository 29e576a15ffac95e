"""Subject access: a supervisor exports everything held about one child as one zip archive, and every
read of health data (case view, timeline, document, the export itself) is in the access records.

Through the API (httpx ASGI transport) on the real dev server with a real worker and every real
activity; emails go to the outbox folder.
"""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from tests.api_world import api_client, case_worker, migrate_and_create_keys
from tests.support import make_settings, recent_school_days

pytestmark = pytest.mark.slow

GIVEN, FAMILY = "Wilhelmina", "Cartwright-Ode"
PARENT_EMAIL = "w.parent@family.example"
HEALTH_SUMMARY = "Crohn's disease flare; admitted twice this term"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@pytest.fixture
async def api(
    temporal_dev_server: WorkflowEnvironment, tmp_path: Path
) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    settings = make_settings(
        tmp_path,
        temporal_address=temporal_dev_server.client.service_client.config.target_host,
        task_queue=f"sar-{uuid.uuid4().hex}",
    )
    tokens = migrate_and_create_keys(settings.database_url, {
        "caseworker": ("officer-sar", "caseworker", None),
        "supervisor": ("supervisor-sar", "supervisor", None),
        "school": ("school-sar", "school", ["120001"]),
    })
    async with case_worker(temporal_dev_server.client, settings), api_client(create_app(settings)) as c:
        yield c, tokens


async def test_supervisor_exports_everything_held_about_a_child(
    api: tuple[httpx.AsyncClient, dict[str, str]],
) -> None:
    c, tokens = api

    def h(who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens[who]}"}

    days = recent_school_days(6)
    notification = {
        "school_urn": "120001",
        "child": {"given_name": GIVEN, "family_name": FAMILY, "date_of_birth": "2012-09-30"},
        "parent": {"name": f"Mary {FAMILY}", "email": PARENT_EMAIL},
        "first_day_of_absence": days[0].isoformat(),
        "reason": "physical_illness",
        "health_summary": HEALTH_SUMMARY,
        "absence_days": [d.isoformat() for d in days],
    }
    r = await c.post("/cases", headers=h("caseworker"), json=notification)
    assert r.status_code == 201, r.text
    ref = r.json()["state"]["case_ref"]
    r = await c.post(f"/cases/{ref}/consent-request", headers=h("caseworker"), json={})
    assert r.status_code == 200, r.text
    r = await c.post(
        f"/cases/{ref}/documents",
        headers=h("caseworker"),
        files={"file": ("letter.pdf", PDF, "application/pdf")},
        data={"kind": "gp_letter"},
    )
    assert r.status_code == 201, r.text
    doc_ref = r.json()["doc_ref"]
    r = await c.post(
        f"/cases/{ref}/evidence", headers=h("caseworker"), json={"document_ref": doc_ref, "kind": "gp_letter"}
    )
    assert r.status_code == 200, r.text

    # Reads of health data by the caseworker: the case, its timeline, the document.
    for path in (f"/cases/{ref}", f"/cases/{ref}/timeline", f"/cases/{ref}/documents/{doc_ref}"):
        r = await c.get(path, headers=h("caseworker"))
        assert r.status_code == 200, f"{path}: {r.text}"

    # Only supervisors export; an unknown case is 404.
    for who in ("caseworker", "school"):
        r = await c.get(f"/cases/{ref}/subject-access-export", headers=h(who))
        assert r.status_code == 403, r.text
    r = await c.get("/cases/MN-26-ZZZZZ9/subject-access-export", headers=h("supervisor"))
    assert r.status_code == 404, r.text

    r = await c.get(f"/cases/{ref}/subject-access-export", headers=h("supervisor"))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    assert r.headers["content-disposition"] == f'attachment; filename="subject-access-{ref}.zip"'
    assert "content-length" not in r.headers  # streamed, not built in memory first
    archive = zipfile.ZipFile(io.BytesIO(r.content))
    names = set(archive.namelist())
    assert {
        "README.txt",
        "case.json",
        "read-model/case.json",
        "timeline.json",
        "tasks.json",
        "recoupment.json",
        "access-records.json",
        "documents/index.json",
        "emails/index.json",
    } <= names

    def read_json(name: str) -> Any:
        return json.loads(archive.read(name))

    case = read_json("case.json")["state"]
    assert (case["child"]["given_name"], case["health_summary"]) == (GIVEN, HEALTH_SUMMARY)
    personal = read_json("read-model/case.json")["personal"]
    assert personal["child"]["family_name"] == FAMILY and personal["parent"]["email"] == PARENT_EMAIL
    assert {"notified", "request_consent", "record_evidence"} <= {
        e["action"] for e in read_json("timeline.json")
    }
    assert archive.read(f"documents/{doc_ref}.pdf") == PDF  # decrypted
    assert [d["doc_ref"] for d in read_json("documents/index.json")] == [doc_ref]
    emails = read_json("emails/index.json")
    assert any(e["template"] == "consent_request" and e["file"] for e in emails)
    kept = next(e["file"] for e in emails if e["template"] == "consent_request")
    assert PARENT_EMAIL.encode() in archive.read(kept)

    # The export itself is an access record, in the archive and in the list supervisors read.
    reads = {(a["actor_name"], a["what"]) for a in read_json("access-records.json")}
    assert {
        ("officer-sar", "case view"),
        ("officer-sar", "timeline"),
        ("officer-sar", f"document {doc_ref} (gp_letter)"),
        ("supervisor-sar", "subject access export"),
    } <= reads
    r = await c.get("/access-records", params={"case_ref": ref}, headers=h("supervisor"))
    listed = {(a["actor_name"], a["what"]) for a in r.json()["items"]}
    assert ("supervisor-sar", "subject access export") in listed
    assert ("officer-sar", "timeline") in listed
