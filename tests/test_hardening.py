"""What a council's security review checks (issue: hardening): security headers on every route
family, HSTS in production, slow clients cut off, refused keys slowed down, the codec's work off
the event loop, and a private data folder."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import stat
import subprocess
import threading
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from temporalio.api.common.v1 import Payload
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.codec_routes import get_codec
from api.serve import server_config
from infra.encryption import Keyring
from infra.payload_codec import EncryptionCodec
from infra.settings import Settings
from tests.api_world import api_client, case_worker, migrate_and_create_keys
from tests.support import eventually, free_port, make_settings, recent_school_days

ROOT = Path(__file__).resolve().parent.parent
URN = "120001"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
CALLERS = {
    "school": ("school-120001", "school", [URN]),
    "caseworker": ("officer-jb", "caseworker", None),
    "supervisor": ("supervisor-1", "supervisor", None),
    "finance": ("finance-1", "finance", None),
}


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    return make_settings(tmp_path, database_url=f"sqlite:///{tmp_path / 'casework.db'}", **overrides)


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_hardened(r: httpx.Response, *, docs: bool = False) -> None:
    where = f"{r.request.method} {r.request.url.path} ({r.status_code})"
    assert r.headers.get("cache-control") == "no-store", where
    assert r.headers.get("x-content-type-options") == "nosniff", where
    assert r.headers.get("x-frame-options") == "DENY", where
    assert r.headers.get("referrer-policy") == "no-referrer", where
    policy = r.headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in policy, where
    if not docs:
        assert policy.startswith("default-src 'none'"), where
        assert "script-src" not in policy, where
    assert "strict-transport-security" not in r.headers, f"{where}: no HSTS outside production"


# -- headers on every route family ------------------------------------------------------------------


@pytest.mark.slow
async def test_every_route_family_answers_with_the_security_headers(
    temporal_dev_server: WorkflowEnvironment, tmp_path: Path
) -> None:
    settings = _settings(
        tmp_path,
        temporal_address=temporal_dev_server.client.service_client.config.target_host,
        task_queue=f"hardening-{uuid.uuid4().hex}",
    )
    tokens = migrate_and_create_keys(settings.database_url, CALLERS)
    days = recent_school_days(3)
    notification = {
        "school_urn": URN,
        "child": {"given_name": "Ada", "family_name": "Byron", "date_of_birth": "2013-05-04"},
        "parent": {"name": "Anne Byron", "email": "parent@family.example"},
        "first_day_of_absence": days[0].isoformat(),
        "reason": "physical_illness",
        "health_summary": "Post-operative recovery",
        "absence_days": [d.isoformat() for d in days],
    }
    async with case_worker(temporal_dev_server.client, settings), api_client(create_app(settings)) as c:
        cw, sup = _auth(tokens["caseworker"]), _auth(tokens["supervisor"])
        r = await c.post("/cases", headers=_auth(tokens["school"]), json=notification)
        assert r.status_code == 201, r.text
        assert_hardened(r)
        ref = r.json()["case_ref"]  # the school view

        r = await c.get(f"/cases/{ref}", headers=cw)  # the health summary, date of birth, parent's email
        assert r.status_code == 200 and r.json()["state"]["health_summary"]
        assert_hardened(r)
        r = await c.post(f"/cases/{ref}/notes", headers=cw, json={"text": "Spoke to parent."})
        assert r.status_code == 200, r.text
        assert_hardened(r)
        r = await c.post(
            f"/cases/{ref}/documents",
            headers=cw,
            files={"file": ("letter.pdf", PDF, "application/pdf")},
            data={"kind": "gp_letter"},
        )
        assert r.status_code == 201, r.text
        assert_hardened(r)
        doc_ref = r.json()["doc_ref"]

        answers = [
            await c.get(f"/cases/{ref}/timeline", headers=cw),
            await c.get("/cases", headers=cw),
            await c.get("/tasks", headers=cw),
            await c.get(f"/cases/{ref}/documents", headers=cw),
            await c.get(f"/cases/{ref}/documents/{doc_ref}", headers=cw),
            await c.get("/reports/caseload", headers=cw),
            await c.get("/reports/recoupment", headers=_auth(tokens["finance"])),
            await c.get("/access-records", headers=sup, params={"case_ref": ref}),
            await c.post("/codec/decode", headers=sup, json={"payloads": []}),
            await c.get("/healthz"),
            await c.get("/metrics"),
            await c.get("/openapi.json"),
        ]
        for r in answers:
            assert r.status_code == 200, f"{r.request.url.path}: {r.status_code} {r.text[:200]}"
            assert_hardened(r)
        # Refusals carry them too: no token, another school's case, nothing there, a preflight.
        refusals = [
            await c.get("/cases"),
            await c.get("/cases/MN-26-ZZZZZZ", headers=cw),
            await c.get("/nowhere"),
            await c.options(
                "/codec/decode",
                headers={"Origin": settings.ui_origin, "Access-Control-Request-Method": "POST"},
            ),
        ]
        assert [r.status_code for r in refusals] == [401, 404, 404, 200]
        for r in refusals:
            assert_hardened(r)
        for path in ("/docs", "/redoc"):
            r = await c.get(path)
            assert r.status_code == 200
            assert_hardened(r, docs=True)


async def test_production_sends_hsts(tmp_path: Path) -> None:
    settings = _settings(tmp_path, environment="production")
    migrate_and_create_keys(settings.database_url, {})
    async with api_client(create_app(settings)) as c:
        r = await c.get("/healthz")
    assert r.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
    assert r.headers["cache-control"] == "no-store"


# -- a real server: slow clients, the codec and the event loop --------------------------------------


@dataclass
class Served:
    base_url: str
    port: int
    tokens: dict[str, str]
    settings: Settings
    app: FastAPI


@pytest.fixture
async def served(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Served]:
    """The API under uvicorn as `python -m api.serve` configures it, on a free port (no Temporal
    needed for what these tests call)."""
    overrides = getattr(request, "param", {})
    port = free_port()
    settings = _settings(
        tmp_path,
        api_port=port,
        temporal_address=f"127.0.0.1:{free_port()}",
        request_header_timeout_seconds=1.0,
        request_body_timeout_seconds=1.0,
        **overrides,
    )
    tokens = migrate_and_create_keys(settings.database_url, CALLERS)
    app = create_app(settings)
    config = server_config(settings, app)
    config.log_level = "warning"
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        await eventually(lambda: server.started, what="the API listening", every=0.02)
        yield Served(f"http://127.0.0.1:{port}", port, tokens, settings, app)
    finally:
        server.should_exit = True
        await task


async def _read_until_closed(reader: asyncio.StreamReader, within: float) -> bytes:
    """Everything the server sends until it closes the connection (failing after `within` s)."""
    async with asyncio.timeout(within):
        return await reader.read()


async def test_a_request_head_trickled_in_is_cut_off(served: Served) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # ... and the rest never comes
    await writer.drain()
    assert await _read_until_closed(reader, within=15) == b""
    writer.close()

    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)  # says nothing at all
    assert await _read_until_closed(reader, within=15) == b""
    writer.close()

    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)  # a prompt client is served
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    await writer.drain()
    answer = await _read_until_closed(reader, within=15)
    assert answer.startswith(b"HTTP/1.1 200")
    assert b"server: uvicorn" not in answer.lower()
    writer.close()


async def test_a_body_trickled_in_gets_408(served: Served) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    token = served.tokens["caseworker"]
    writer.write(
        f"POST /cases HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
        "Content-Type: application/json\r\nContent-Length: 500\r\n\r\n{".encode()
    )
    await writer.drain()
    answer = await _read_until_closed(reader, within=15)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"application/problem+json" in answer
    writer.close()


@pytest.mark.parametrize("served", [{"failed_auth_limit_per_minute": 5}], indirect=True)
async def test_refused_keys_from_one_address_are_slowed_down(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.base_url) as c:
        wrong = {"Authorization": "Bearer cw_" + "x" * 43}
        statuses = [(await c.get("/cases", headers=wrong)).status_code for _ in range(5)]
        assert statuses == [401] * 5
        r = await c.get("/cases", headers=wrong)
        assert r.status_code == 429
        assert 1 <= int(r.headers["retry-after"]) <= 60
        assert r.headers["content-type"].startswith("application/problem+json")
        # A caller with a valid key is never slowed, even from the same address.
        r = await c.get("/cases", headers=_auth(served.tokens["caseworker"]))
        assert r.status_code == 200


class _SignallingCodec(EncryptionCodec):
    """The real codec, saying when its work has begun and when it has ended."""

    def __init__(self, keyring: Keyring) -> None:
        super().__init__(keyring)
        self.begun = threading.Event()
        self.ended = threading.Event()

    def encode_now(self, payloads: Sequence[Payload]) -> list[Payload]:
        self.begun.set()
        try:
            return super().encode_now(payloads)
        finally:
            self.ended.set()


@pytest.mark.parametrize("served", [{"max_codec_payloads": 40_000}], indirect=True)
async def test_health_answers_while_a_maximal_codec_call_runs(served: Served) -> None:
    codec = _SignallingCodec(Keyring.from_settings(served.settings))
    served.app.dependency_overrides[get_codec] = lambda: codec
    body = json.dumps({"payloads": [{"data": "eA=="}] * 40_000})
    async with httpx.AsyncClient(base_url=served.base_url, timeout=60) as c:
        coding = asyncio.create_task(
            c.post(
                "/codec/encode",
                headers={**_auth(served.tokens["supervisor"]), "Content-Type": "application/json"},
                content=body,
            )
        )
        assert await asyncio.to_thread(codec.begun.wait, 30)
        healthy = await c.get("/healthz")
        # Answered while the codec was still at work: its work does not hold up the event loop.
        answered_during_the_codec_call = not codec.ended.is_set()
        coded = await coding
    assert healthy.status_code == 200
    assert answered_during_the_codec_call
    assert coded.status_code == 200 and len(coded.json()["payloads"]) == 40_000


@pytest.mark.parametrize("served", [{"max_codec_payloads": 10}], indirect=True)
async def test_a_codec_call_over_the_payload_bound_is_refused(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.base_url) as c:
        r = await c.post(
            "/codec/decode",
            headers=_auth(served.tokens["supervisor"]),
            json={"payloads": [{"data": "eA=="}] * 11},
        )
    assert r.status_code == 413
    assert "at most 10 payloads" in r.json()["detail"]


# -- the data folder ------------------------------------------------------------------------------


def test_make_run_makes_the_data_folder_private(tmp_path: Path) -> None:
    """`make run` on a checkout whose var/ an older run left world-readable: var/ becomes 0700 and
    every file in it 0600 before anything starts (here a bad setting stops it right after)."""
    checkout = tmp_path / "checkout"
    (checkout / "scripts").mkdir(parents=True)
    shutil.copy2(ROOT / "scripts" / "run.sh", checkout / "scripts" / "run.sh")
    # The real .venv, left as it is: this checkout's bootstrap does nothing.
    (checkout / "scripts" / "bootstrap.sh").write_text("exit 0\n")
    (checkout / ".venv").symlink_to(ROOT / ".venv")
    old = checkout / "var" / "log"
    old.mkdir(parents=True, mode=0o755)
    (checkout / "var" / "casework.db").write_bytes(b"")
    (old / "api.log").write_text("old log\n")
    for path in (checkout / "var", old):
        path.chmod(0o755)
    for path in (checkout / "var" / "casework.db", old / "api.log"):
        path.chmod(0o644)

    env = {**os.environ, "CASEWORK_ENVIRONMENT": "not-an-environment", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(  # noqa: S603 - our own script
        ["bash", "scripts/run.sh"], cwd=checkout, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode != 0
    assert "CASEWORK_ENVIRONMENT" in done.stderr + done.stdout
    modes = {
        str(p.relative_to(checkout)): stat.S_IMODE(p.stat().st_mode)
        for p in [checkout / "var", *sorted((checkout / "var").rglob("*"))]
    }
    assert modes == {"var": 0o700, "var/casework.db": 0o600, "var/log": 0o700, "var/log/api.log": 0o600}
