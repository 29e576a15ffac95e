"""Liveness (`/healthz`), readiness (`/readyz`: Temporal and the database reachable) and Prometheus
metrics (`/metrics`: request counts and latency by method, route template and status)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from api.problems import TemporalUnavailable, problem_response
from infra.logging import get_logger
from readmodel.database import ping

log = get_logger(__name__)
router = APIRouter(tags=["health"])

CHECK_TIMEOUT_SECONDS = 3.0


class Health(BaseModel):
    status: str


class Check(BaseModel):
    ok: bool
    detail: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, Check]


@router.get("/healthz", summary="Liveness: the process answers", response_model=Health)
async def healthz() -> Health:
    return Health(status="ok")


async def _check_temporal(request: Request) -> Check:
    svc = getattr(request.app.state, "services", None)
    if svc is None:
        return Check(ok=False, detail="starting")
    try:
        client = await svc.temporal.client()
        serving = await asyncio.wait_for(
            client.service_client.check_health(timeout=timedelta(seconds=CHECK_TIMEOUT_SECONDS)),
            CHECK_TIMEOUT_SECONDS + 0.5,
        )
    except TemporalUnavailable:
        return Check(ok=False, detail=f"cannot connect to Temporal at {svc.settings.temporal_address}")
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready", with its kind
        return Check(ok=False, detail=f"Temporal health check failed ({type(exc).__name__})")
    if not serving:
        return Check(ok=False, detail="Temporal answers but its workflow service is not serving")
    return Check(ok=True, detail=f"connected to {svc.settings.temporal_address}")


async def _check_database(request: Request) -> Check:
    svc = getattr(request.app.state, "services", None)
    if svc is None:
        return Check(ok=False, detail="starting")
    try:
        await asyncio.wait_for(run_in_threadpool(ping, svc.engine), CHECK_TIMEOUT_SECONDS + 5)
    except Exception as exc:  # noqa: BLE001
        return Check(ok=False, detail=f"database not reachable ({type(exc).__name__})")
    return Check(ok=True, detail="reachable")


@router.get(
    "/readyz",
    summary="Readiness: Temporal and the database are reachable",
    response_model=Readiness,
    responses={503: {"description": "Not ready; `checks` says which part failed"}},
)
async def readyz(request: Request) -> Response:
    temporal, database = await asyncio.gather(_check_temporal(request), _check_database(request))
    checks = {"temporal": temporal, "database": database}
    if temporal.ok and database.ok:
        return Response(
            Readiness(status="ready", checks=checks).model_dump_json(), media_type="application/json"
        )
    failing = [name for name, c in checks.items() if not c.ok]
    log.warning("not_ready", failing=failing)
    return problem_response(
        request,
        503,
        "Not ready: " + "; ".join(f"{name}: {checks[name].detail}" for name in failing),
        slug="not-ready",
        title="Not ready",
        headers={"Retry-After": "5"},
        checks={name: c.model_dump() for name, c in checks.items()},
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
)
async def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
