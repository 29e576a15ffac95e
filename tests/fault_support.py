"""What the fault tests share: real processes that can be killed (the `temporal` dev server, the
service's own `worker.py`), free ports, an SMTP server that can be stopped and started again on the
same port, a TCP proxy that can cut the service off from PostgreSQL, and one short case lifecycle on
the real school calendar (the dev server runs on the real clock).

Nothing here fakes a failure inside the service: every fault is one the service would meet in
production (a dead process, a refused connection)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Awaitable
from datetime import date, timedelta
from decimal import Decimal
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from temporalio.client import Client, RPCTimeoutOrCancelledError, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError

from domain.case_commands import (
    CloseCase,
    CloseOutcome,
    CommissionProvision,
    ConsentDecision,
    Decide,
    DecisionOutcome,
    OpenCase,
    RecordConsent,
    RequestConsent,
)
from domain.case_state import CaseResult, CaseView
from domain.people import Actor, Role
from domain.provision import Provision, ProvisionKind
from domain.search_attributes import cli_flags
from domain.statutory_clocks import ClockSettings
from infra.settings import Settings
from infra.temporal_client import build_data_converter
from tests.case_harness import notification
from tests.support import dev_server_path, eventually, free_port, school_days_around_today
from workflows.case_workflow import CaseWorkflow

PROJECT_ROOT = Path(__file__).resolve().parent.parent
OFFICER = Actor(role=Role.CASEWORKER, name="officer-jb")


def _stop_process(process: subprocess.Popen, sig: int, grace: float) -> None:
    if process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


# -- the Temporal dev server as a process ------------------------------------------------------------


class DevServer:
    """`temporal server start-dev` on a free port with a SQLite file: stop it and start it again on
    the same file and port, as an operator restarting it would."""

    def __init__(self, db_file: Path, log_file: Path) -> None:
        self.db_file = db_file
        self.log_file = log_file
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        args = [
            dev_server_path(), "server", "start-dev",
            "--db-filename", str(self.db_file),
            "--ip", "127.0.0.1", "--port", str(self.port),
            "--ui-port", str(free_port()), "--headless",
            "--namespace", "default",
            "--log-level", "error",
            *cli_flags(),
        ]
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self) -> None:
        if self.process is not None:
            _stop_process(self.process, signal.SIGTERM, grace=20)

    async def client(self, settings: Settings, within: float = 60) -> Client:
        """A client with the service's data converter, once the server answers."""

        async def connect() -> Client | None:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"the dev server exited ({self.process.returncode}); see {self.log_file}")
            try:
                return await Client.connect(self.address, data_converter=build_data_converter(settings))
            except RuntimeError:
                return None

        return await eventually(connect, timeout=within, what=f"the dev server answering at {self.address}")


#: Clocks under which a closed case's workflow ends at once (no reopening window), so that a test
#: can await its result in real time.
CLOSURES_FINAL = ClockSettings(reopen_within=0)


# -- the service's worker as a process ---------------------------------------------------------------


def service_environment(settings: Settings) -> dict[str, str]:
    """Environment variables (infra/settings.py names) that make a process use `settings`; every
    other CASEWORK_ variable of this process is dropped so nothing leaks in from outside."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASEWORK_")}
    values: dict[str, Any] = {
        "ENVIRONMENT": settings.environment,
        "LOG_LEVEL": "INFO",
        "TEMPORAL_ADDRESS": settings.temporal_address,
        "TEMPORAL_NAMESPACE": settings.temporal_namespace,
        "TASK_QUEUE": settings.task_queue,
        "DATABASE_URL": settings.database_url,
        "SMTP_HOST": settings.smtp_host,
        "SMTP_PORT": settings.smtp_port,
        "OUTBOX_DIR": settings.outbox_dir,
        "DOCUMENT_DIR": settings.document_dir,
        "SCHOOL_CALENDAR_FILE": settings.school_calendar_file,
        "CLOCKS__REOPEN_WITHIN": settings.clocks.reopen_within,
        "ENCRYPTION_KEYS": settings.encryption_keys.get_secret_value() if settings.encryption_keys else None,
    }
    env.update({f"CASEWORK_{name}": str(value) for name, value in values.items() if value is not None})
    return env


class WorkerProcess:
    """`python worker.py`, started, SIGKILLed and started again like a crashing container."""

    def __init__(self, settings: Settings, log_file: Path) -> None:
        self.env = service_environment(settings)
        self.log_file = log_file
        self.process: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> None:
        with self.log_file.open("ab") as log:
            # Run from the log's folder, so no `.env` of the developer's is read.
            self.process = subprocess.Popen(
                [sys.executable, str(PROJECT_ROOT / "worker.py")],
                env=self.env, cwd=self.log_file.parent, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.starts += 1

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, no chance to report anything to Temporal."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None:
            _stop_process(self.process, signal.SIGTERM, grace=40)


# -- SMTP ----------------------------------------------------------------------------------------------


class Mailbox:
    """An aiosmtpd handler that keeps every message delivered to it."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.arrived: list[float] = []  # time.monotonic() of each message's acceptance

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook
        self.messages.append(message_from_bytes(envelope.content))
        self.arrived.append(time.monotonic())
        return "250 OK"

    def deliveries_by_message_id(self) -> Counter[str]:
        return Counter(str(m["Message-ID"]) for m in self.messages)

    def templates_for(self, case_ref: str) -> Counter[str]:
        return Counter(str(m["X-Casework-Template"]) for m in self.messages if m["X-Casework-Case-Ref"] == case_ref)


class SmtpServer:
    """A real SMTP server on a fixed port that can be stopped (connections refused) and started again."""

    def __init__(self) -> None:
        self.port = free_port()
        self.mailbox = Mailbox()
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


# -- a TCP proxy that can be cut ---------------------------------------------------------------------


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target, on its own thread and event loop (so a blocking database
    call anywhere in the test process cannot stall it). `cut()` stops listening and drops every open
    connection, as a dead database server would; `restore()` listens again on the same port."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-proxy", daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    def start(self) -> None:
        self._thread.start()
        self.restore()

    def restore(self) -> None:
        self._run(self._listen())

    def cut(self) -> None:
        self._run(self._cut())

    def close(self) -> None:
        if self._thread.is_alive():
            self.cut()
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)

    def _run(self, coro: Awaitable[None]) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._forward, "127.0.0.1", self.port)

    async def _cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._open):
            writer.transport.abort()
        self._open.clear()

    async def _forward(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            target_r, target_w = await asyncio.open_connection(*self.target)
        except OSError:
            client_w.transport.abort()
            return
        pair = {client_w, target_w}
        self._open |= pair

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            except (OSError, asyncio.IncompleteReadError):
                pass

        await asyncio.wait([asyncio.ensure_future(pipe(client_r, target_w)),
                            asyncio.ensure_future(pipe(target_r, client_w))],
                           return_when=asyncio.FIRST_COMPLETED)
        for writer in pair:
            writer.transport.abort()
        self._open -= pair


# -- one case's life on the real calendar ---------------------------------------------------------------


def new_case(today: date | None = None) -> OpenCase:
    """A school's notification: off sick for the last ten school days, no return date known."""
    absent = school_days_around_today(today).before_today(10)
    return notification(absent[0], absence_days=absent)


def lifecycle(case: OpenCase) -> list[tuple[str, Any]]:
    """The commands that take a case from notification to closure without waiting for any timer:
    consent asked (mail to the parent) and refused, provision decided (decision letter to parent and
    school), full-time tuition commissioned from three school days ago (within the grace for
    recording a start late; the officer is named to the parent), then the child leaves the area
    today: the recoupment is settled (ledger lines) and parent and school are told the case is
    closed."""
    started = school_days_around_today().before_today(3)[0]
    tuition = Provision(kind=ProvisionKind.HOME_TUITION, provider="County tuition", hours_per_week=Decimal(25),
                        start_date=started, weekly_cost=Decimal("500.00"))
    return [
        ("request_consent", RequestConsent(actor=OFFICER)),
        ("record_consent", RecordConsent(actor=OFFICER, decision=ConsentDecision.REFUSED)),
        ("decide", Decide(actor=OFFICER, outcome=DecisionOutcome.LA_PROVISION, reason="GP letter held")),
        ("commission_provision", CommissionProvision(actor=OFFICER, officer="officer-jb", provisions=[tuition])),
        ("close", CloseCase(actor=OFFICER, outcome=CloseOutcome.LEFT_AREA, reason="Family moved away")),
    ]


#: The emails every case of `lifecycle` sends, once each.
LIFECYCLE_TEMPLATES = Counter({"consent_request": 1, "decision_letter": 1, "officer_assigned": 1, "case_closed": 1})


async def start_case(client: Client, case: OpenCase, task_queue: str) -> WorkflowHandle[Any, CaseResult]:
    return await client.start_workflow(CaseWorkflow.run, case, id=case.case_ref, task_queue=task_queue,
                                       result_type=CaseResult)


async def command(handle: WorkflowHandle, action: str, cmd: Any, *, update_id: str,
                  within: float = 90) -> CaseView:
    """Send one command the way a careful client does: with a fixed update id, and sent again with
    that same id after a transport error or timeout (Temporal applies one update id once)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        try:
            return await handle.execute_update(action, cmd, id=update_id, result_type=CaseView,
                                               rpc_timeout=timedelta(seconds=20))
        except WorkflowUpdateFailedError:
            raise  # the case refused the command: a real answer, not a fault
        except (RPCError, RPCTimeoutOrCancelledError) as exc:
            if loop.time() > deadline:
                raise AssertionError(f"{action} on {handle.id} never answered") from exc
            await asyncio.sleep(0.5)
