"""The API's access rules and error answers, with Temporal deliberately unreachable.

Every error must be `application/problem+json`; no token is 401, a wrong role 403, another school's
case 404; malformed input is 422 naming the field; Temporal or the database down is 503 with
Retry-After; nothing any client sends produces a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis
from fastapi import FastAPI
from schemathesis.generation.modes import GenerationMode
from sqlmodel import Session, select
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.app import create_app
from api.auth import principal_for_token
from infra.access_keys import create_api_key, hash_token, revoke_api_key
from infra.settings import Settings
from readmodel.database import make_engine, session_scope
from readmodel.migrate import upgrade
from readmodel.tables import ApiKey, CaseRow, LedgerEntry, TaskRow
from tests.support import eventually, free_port, make_settings

PROBLEM = "application/problem+json"
REF_A = "MN-26-AAAAA1"
REF_B = "MN-26-BBBBB2"
URN_A = "120001"
URN_B = "120002"

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def _case_row(ref: str, urn: str, stage: str = "deciding") -> CaseRow:
    now = datetime(2026, 1, 12, 9, 0, tzinfo=UTC)
    return CaseRow(
        case_ref=ref,
        version=1,
        school_urn=urn,
        stage=stage,
        officer="officer-jb",
        opened_at=now,
        first_day_of_absence=date(2026, 1, 12),
        next_deadline=date(2026, 2, 2),
        last_progress_on=date(2026, 1, 12),
        child_key=f"key-{ref}",
        personal=b"not-real-ciphertext",
        updated_at=now,
    )


def _task_row(ref: str, urn: str, due: date) -> TaskRow:
    return TaskRow(
        case_ref=ref,
        task_id="decide",
        school_urn=urn,
        kind="decide",
        description="Decide the referral",
        assignee_role="caseworker",
        assignee="officer-jb",
        due_on=due,
    )


@dataclass
class Api:
    app: FastAPI
    client: httpx.AsyncClient
    settings: Settings
    tokens: dict[str, str]

    def h(self, who: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}", **extra}


def seed(settings: Settings) -> dict[str, str]:
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        with session_scope(engine) as s:
            tokens = {
                "school_a": create_api_key(s, "school-a", "school", [URN_A]),
                "school_b": create_api_key(s, "school-b", "school", [URN_B]),
                "caseworker": create_api_key(s, "officer-jb", "caseworker"),
                "supervisor": create_api_key(s, "supervisor-1", "supervisor"),
                "finance": create_api_key(s, "finance-1", "finance"),
                "revoked": create_api_key(s, "old-key", "caseworker"),
            }
            revoke_api_key(s, "old-key")
            s.add(_case_row(REF_A, URN_A))
            s.add(_case_row(REF_B, URN_B))
            s.add(_task_row(REF_A, URN_A, date(2026, 2, 2)))
            s.add(_task_row(REF_B, URN_B, date(2026, 1, 30)))
            s.add(
                LedgerEntry(
                    idempotency_key=f"{REF_A}:{URN_A}:spring:2026-02-02:2026-02-13",
                    case_ref=REF_A,
                    school_urn=URN_A,
                    period="2025-26 spring",
                    from_date=date(2026, 2, 2),
                    to_date=date(2026, 2, 13),
                    school_days=10,
                    key_stage="ks3",
                    amount="367.60",
                    posted_at=datetime(2026, 2, 14, 1, 0, tzinfo=UTC),
                )
            )
    finally:
        engine.dispose()
    return tokens


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    settings = make_settings(tmp_path, temporal_address=f"127.0.0.1:{free_port()}", max_document_bytes=4096)
    tokens = seed(settings)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield Api(app, client, settings, tokens)


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status
    assert body["title"] and body["type"]
    assert "Traceback" not in response.text
    return body


# -- authentication -----------------------------------------------------------------------------


async def test_no_token_is_401_with_bearer_challenge(api: Api) -> None:
    r = await api.client.get("/cases")
    body = assert_problem(r, 401)
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert "Authorization" in body["detail"]


@pytest.mark.parametrize(
    "header",
    [
        "Bearer cw_not-a-real-token-but-well-formed-000000000",
        "Bearer nonsense",
        "Basic dXNlcjpwYXNz",
        "Bearer " + "x" * 5000,
    ],
)
async def test_bad_token_is_401(api: Api, header: str) -> None:
    r = await api.client.get("/cases", headers={"Authorization": header})
    assert_problem(r, 401)
    assert r.headers["www-authenticate"].startswith("Bearer")


async def test_revoked_key_is_refused(api: Api) -> None:
    r = await api.client.get("/cases", headers=api.h("revoked"))
    assert_problem(r, 401)


def test_tokens_are_stored_only_as_hashes(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    with Session(engine) as s:
        token = create_api_key(s, "officer-x", "caseworker")
        s.commit()
        row = s.exec(select(ApiKey).where(ApiKey.name == "officer-x")).one()
        assert token.startswith("cw_") and len(token) >= 40
        assert row.token_hash == hash_token(token) and token not in row.token_hash
        principal = principal_for_token(s, token)
        assert principal is not None and principal.role.value == "caseworker"
    engine.dispose()


# -- roles and school scope ---------------------------------------------------------------------


async def test_wrong_role_is_403(api: Api) -> None:
    assert_problem(await api.client.get("/cases", headers=api.h("finance")), 403)
    assert_problem(await api.client.get(f"/cases/{REF_A}", headers=api.h("finance")), 403)
    assert_problem(await api.client.get("/reports/caseload", headers=api.h("finance")), 403)
    assert_problem(await api.client.get("/reports/recoupment", headers=api.h("caseworker")), 403)
    assert_problem(await api.client.get("/access-records", headers=api.h("caseworker")), 403)
    # A school may record absences and notes, but not decide.
    r = await api.client.post(
        f"/cases/{REF_A}/decision", headers=api.h("school_a"), json={"outcome": "la_provision", "reason": "x"}
    )
    assert_problem(r, 403)
    assert_problem(await api.client.get(f"/cases/{REF_A}/timeline", headers=api.h("school_a")), 403)


async def test_another_schools_case_is_404(api: Api) -> None:
    # School A asks about school B's case: exactly as if it did not exist.
    unknown = assert_problem(await api.client.get("/cases/MN-26-ZZZZZ9", headers=api.h("school_a")), 404)
    other = assert_problem(await api.client.get(f"/cases/{REF_B}", headers=api.h("school_a")), 404)
    assert other["title"] == unknown["title"]
    r = await api.client.post(f"/cases/{REF_B}/notes", headers=api.h("school_a"), json={"text": "hello"})
    assert_problem(r, 404)
    r = await api.client.post(f"/cases/{REF_B}/absences", headers=api.h("school_a"), json={"days": []})
    assert_problem(r, 404)


async def test_school_lists_only_its_own_cases_and_tasks(api: Api) -> None:
    r = await api.client.get("/cases", headers=api.h("school_a"))
    assert r.status_code == 200
    body = r.json()
    assert [c["case_ref"] for c in body["items"]] == [REF_A] and body["total"] == 1
    r = await api.client.get("/cases", params={"school_urn": URN_B}, headers=api.h("school_a"))
    assert r.json()["items"] == []
    r = await api.client.get("/tasks", headers=api.h("school_a"))
    assert [t["case_ref"] for t in r.json()["items"]] == [REF_A]

    r = await api.client.get("/cases", headers=api.h("caseworker"))
    assert {c["case_ref"] for c in r.json()["items"]} == {REF_A, REF_B}
    r = await api.client.get("/tasks", headers=api.h("caseworker"))
    assert [t["case_ref"] for t in r.json()["items"]] == [REF_B, REF_A]  # by due date


async def test_school_cannot_notify_for_another_school(api: Api) -> None:
    body = {
        "school_urn": URN_B,
        "child": {"given_name": "Ada", "family_name": "Byron", "date_of_birth": "2013-05-04"},
        "parent": {"name": "Anne Byron"},
        "first_day_of_absence": "2026-01-12",
        "reason": "physical_illness",
    }
    assert_problem(await api.client.post("/cases", headers=api.h("school_a"), json=body), 403)


# -- validation ---------------------------------------------------------------------------------


async def test_malformed_json_is_422_problem(api: Api) -> None:
    r = await api.client.post(
        "/cases",
        headers=api.h("caseworker", **{"Content-Type": "application/json"}),
        content=b'{"school_urn": ',
    )
    body = assert_problem(r, 422)
    assert body["errors"][0]["field"] == "body"
    assert "JSON" in body["errors"][0]["message"]


async def test_missing_and_wrong_fields_are_named(api: Api) -> None:
    body = {
        "school_urn": "12",
        "child": {"given_name": "Ada", "family_name": "Byron"},
        "parent": {"name": "Anne Byron"},
        "first_day_of_absence": "not a date",
        "reason": "physical_illness",
    }
    r = await api.client.post("/cases", headers=api.h("caseworker"), json=body)
    problem = assert_problem(r, 422)
    fields = {e["field"] for e in problem["errors"]}
    assert {"body.school_urn", "body.child.date_of_birth", "body.first_day_of_absence"} <= fields
    assert "body.child.date_of_birth" in problem["detail"]
    assert "Ada" not in r.text  # input is never echoed


async def test_actor_may_not_be_sent(api: Api) -> None:
    r = await api.client.post(
        f"/cases/{REF_A}/notes",
        headers=api.h("caseworker"),
        json={"text": "hello", "actor": {"role": "supervisor", "name": "someone-else"}},
    )
    problem = assert_problem(r, 422)
    assert [e["field"] for e in problem["errors"]] == ["body.actor"]


async def test_cross_field_rule_is_422(api: Api) -> None:
    r = await api.client.post(
        f"/cases/{REF_A}/reintegration-plan",
        headers=api.h("caseworker"),
        json={"start_date": "2026-03-16", "end_date": "2026-03-01", "hours_per_week": 15},
    )
    problem = assert_problem(r, 422)
    assert "end_date must be after start_date" in problem["detail"]


async def test_query_and_header_validation(api: Api) -> None:
    problem = assert_problem(await api.client.get("/cases?limit=0", headers=api.h("caseworker")), 422)
    assert problem["errors"][0]["field"] == "query.limit"
    problem = assert_problem(await api.client.get("/cases?stage=bogus", headers=api.h("caseworker")), 422)
    assert problem["errors"][0]["field"] == "query.stage"
    r = await api.client.post(
        f"/cases/{REF_A}/notes",
        headers=api.h("caseworker", **{"Idempotency-Key": "has space"}),
        json={"text": "x"},
    )
    assert assert_problem(r, 422)["errors"][0]["field"] == "header.Idempotency-Key"


async def test_unknown_route_and_method_are_problems(api: Api) -> None:
    assert_problem(await api.client.get("/nowhere"), 404)
    assert_problem(await api.client.delete("/cases", headers=api.h("caseworker")), 405)
    assert_problem(await api.client.get("/cases/not-a-ref", headers=api.h("caseworker")), 404)
    assert_problem(
        await api.client.post(f"/cases/{REF_A}/teleport", headers=api.h("caseworker"), json={}), 404
    )


# -- dependencies down ----------------------------------------------------------------------------


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


async def test_unexpected_error_is_a_generic_500(api: Api) -> None:
    @api.app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret personal detail: Ada Byron, asthma")

    r = await api.client.get("/boom")
    problem = assert_problem(r, 500)
    assert problem["correlation_id"]
    assert "Ada" not in r.text and "RuntimeError" not in r.text


# -- reports, documents, access records -----------------------------------------------------------


async def test_reports_json_and_csv(api: Api) -> None:
    r = await api.client.get("/reports/caseload", headers=api.h("caseworker"))
    assert r.status_code == 200 and r.json()["total"] == 2
    r = await api.client.get("/reports/caseload?format=csv", headers=api.h("caseworker"))
    assert r.headers["content-type"].startswith("text/csv")
    assert r.text.splitlines()[0] == "stage,cases" and "deciding,2" in r.text
    r = await api.client.get("/reports/overdue", headers=api.h("supervisor", Accept="text/csv"))
    assert r.headers["content-type"].startswith("text/csv")

    r = await api.client.get("/reports/recoupment", headers=api.h("finance"))
    assert r.status_code == 200
    assert r.json()["totals"] == [
        {"school_urn": URN_A, "period": "2025-26 spring", "amount": "367.60", "lines": 1}
    ]
    r = await api.client.get("/reports/recoupment/lines?format=csv", headers=api.h("finance"))
    assert r.text.splitlines()[1] == f"{REF_A},{URN_A},2025-26 spring,2026-02-02,2026-02-13,10,ks3,367.60"


async def test_document_upload_checks_size_and_content(api: Api) -> None:
    url = f"/cases/{REF_A}/documents"
    big = PDF + b"0" * 5000
    assert_problem(
        await api.client.post(url, headers=api.h("caseworker"), files={"file": ("a.pdf", big)}), 413
    )
    exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 200
    r = await api.client.post(
        url, headers=api.h("caseworker"), files={"file": ("letter.pdf", exe, "application/pdf")}
    )
    assert_problem(r, 415)
    assert_problem(await api.client.post(url, headers=api.h("caseworker"), json={"file": "x"}), 415)
    r = await api.client.post(url, headers=api.h("caseworker"), files={"other": ("a.pdf", PDF)})
    assert assert_problem(r, 422)["errors"][0]["field"] == "body.file"
    r = await api.client.post(url, headers=api.h("school_a"), files={"file": ("a.pdf", PDF)})
    assert_problem(r, 403)
    r = await api.client.post(
        "/cases/MN-26-ZZZZZ9/documents", headers=api.h("caseworker"), files={"file": ("a", PDF)}
    )
    assert_problem(r, 404)

    r = await api.client.post(
        url,
        headers=api.h("caseworker"),
        files={"file": ("x.bin", PDF, "image/png")},
        data={"kind": "gp_letter"},
    )
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["content_type"] == "application/pdf" and doc["kind"] == "gp_letter"
    assert doc["doc_ref"].startswith("doc-") and r.headers["location"] == doc["download_url"]

    r = await api.client.get(doc["download_url"], headers=api.h("supervisor"))
    assert r.status_code == 200 and r.content == PDF
    assert r.headers["content-type"] == "application/pdf"
    assert "attachment" in r.headers["content-disposition"]
    # The same document is not another case's.
    assert_problem(
        await api.client.get(f"/cases/{REF_B}/documents/{doc['doc_ref']}", headers=api.h("supervisor")), 404
    )

    r = await api.client.get("/access-records", params={"case_ref": REF_A}, headers=api.h("supervisor"))
    records = r.json()["items"]
    assert records[0]["actor_name"] == "supervisor-1" and doc["doc_ref"] in records[0]["what"]


async def test_metrics_by_route_template(api: Api) -> None:
    await api.client.get(f"/cases/{REF_A}", headers=api.h("school_b"))
    await api.client.get("/nowhere")
    text = (await api.client.get("/metrics")).text
    assert 'route="/cases/{case_ref}"' in text and 'status="404"' in text
    assert 'route="unmatched"' in text
    assert "casework_http_request_duration_seconds_bucket" in text
    assert REF_A not in text


async def test_openapi_documents_every_action(api: Api) -> None:
    spec = (await api.client.get("/openapi.json")).json()
    assert "/cases/{case_ref}/consent-request" in spec["paths"]
    decision = spec["paths"]["/cases/{case_ref}/decision"]["post"]
    assert "409" in decision["responses"] and "422" in decision["responses"]
    assert "application/problem+json" in decision["responses"]["409"]["content"]
    assert "allowed_actions" in spec["components"]["schemas"]["Problem"]["properties"]
    body_schema = spec["components"]["schemas"]["DecideBody"]
    assert set(body_schema["properties"]) == {"outcome", "reason"}
    assert decision["requestBody"]["content"]["application/json"]["examples"]
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


async def test_cors_preflight_for_the_ui(api: Api) -> None:
    r = await api.client.options(
        "/codec/decode",
        headers={
            "Origin": api.settings.ui_origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
        },
    )
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == api.settings.ui_origin


# -- fuzzing: no input, however malformed, produces a 500 ------------------------------------------


@pytest.fixture(scope="module")
def fuzz_schema(tmp_path_factory: pytest.TempPathFactory) -> Any:
    base = tmp_path_factory.mktemp("fuzz")
    settings = make_settings(base, temporal_address=f"127.0.0.1:{free_port()}", max_document_bytes=4096)
    tokens = seed(settings)
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(settings))
    schema.fuzz_tokens = tokens  # type: ignore[attr-defined]
    return schema


def _fuzz_operation(operation: Any, mode: GenerationMode, tokens: dict[str, str]) -> None:
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    @hypothesis.settings(
        max_examples=15,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    def check(case: Any) -> None:
        for who in ("supervisor", "school_a"):
            response = case.call(headers={"Authorization": f"Bearer {tokens[who]}"})
            assert response.status_code != 500, f"{operation.label}: {response.text}"
            if response.status_code >= 400:
                content_type = response.headers["content-type"][0]
                assert content_type.startswith(PROBLEM), (
                    f"{operation.label}: {response.status_code} {content_type}"
                )

    try:
        check()
    except hypothesis.errors.Unsatisfiable:
        pass  # an operation with nothing to get wrong (no parameters, no body) in negative mode


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_input_produces_a_500(fuzz_schema: Any, mode: GenerationMode) -> None:
    """Every operation, with generated valid and invalid input, as a staff key and as a school key:
    never a 500, and every error is a problem document. (Temporal is down: commands answer 503.)"""
    for result in fuzz_schema.get_all_operations():
        _fuzz_operation(result.ok(), mode, fuzz_schema.fuzz_tokens)


# -- Temporal's answers, mapped (a stand-in client; the e2e test uses the real server) ---------------


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


async def test_oversized_bodies_are_413(api: Api) -> None:
    r = await api.client.post(
        f"/cases/{REF_A}/notes", headers=api.h("caseworker"), json={"text": "x" * 2_000_000}
    )
    assert "1,048,576-byte" in assert_problem(r, 413)["detail"]

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(30):
            yield b"x" * 100_000

    headers = api.h("caseworker", **{"Content-Type": "application/json"})
    r = await api.client.post(f"/cases/{REF_A}/notes", headers=headers, content=chunks())
    assert_problem(r, 413)


async def test_notification_cross_field_rule_is_422_before_temporal(api: Api) -> None:
    body = {
        "school_urn": URN_A,
        "child": {"given_name": "Ada", "family_name": "Byron", "date_of_birth": "2013-05-04"},
        "parent": {"name": "Anne Byron"},
        "first_day_of_absence": "2026-01-12",
        "expected_return": "2026-01-05",
        "reason": "physical_illness",
    }
    problem = assert_problem(await api.client.post("/cases", headers=api.h("school_a"), json=body), 422)
    assert "expected_return must be after first_day_of_absence" in problem["detail"]
