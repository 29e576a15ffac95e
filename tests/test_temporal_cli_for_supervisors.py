"""What a supervisor runs with the `temporal` CLI: every saved query of the README's supervisor
section, on the dev server; and a case's current details decoded (`temporal workflow metadata`, the
query behind the UI's "Current Details") through the codec with their access key, while a
caseworker's key is refused at once with the codec's reason and decodes nothing.

Why `workflow show` with a refused key still takes 10 s (README, "For supervisors"): the CLI's codec
runs in a gRPC interceptor (temporalio/cli `cliext/client.go`, `converter.NewPayloadCodecGRPCClientInterceptor`);
the Go SDK turns any answer but 200 into a plain error (sdk-go `converter/codec.go`,
`remotePayloadCodec.encodeOrDecode`), which is gRPC code Unknown, retryable (sdk-go
`internal/common/retry/interceptor.go`, `retryableCodesWithoutInternal`) for the SDK's calls such as
`GetWorkflowHistory`, until the 10 s RPC timeout (`defaultRPCTimeout`). `workflow metadata` and
`workflow query` call `WorkflowService().QueryWorkflow` directly, without the SDK's retry, so the
refusal reaches the person at once."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from datetime import timedelta
from pathlib import Path

import pytest

from tests.support import dev_server_path, eventually, utc_today
from tests.temporal_ui_world import CHILD, HEALTH, OVERDUE_TASK, UiWorld, ui_server, ui_world  # noqa: F401

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


async def temporal(w: UiWorld, key: str, *args: str) -> tuple[int, str, float]:
    """`temporal <args>` on the dev server through the codec with `key`: exit status, output, seconds."""
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        dev_server_path(), *args, "--address", w.server.address,
        "--codec-endpoint", w.codec_url, "--codec-auth", f"Bearer {key}",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    return process.returncode or 0, out.decode(), time.monotonic() - started


async def test_the_cli_shows_a_supervisor_the_current_details_decoded_and_refuses_a_caseworker_at_once(
    ui_world: UiWorld,  # noqa: F811
) -> None:
    w = ui_world
    ref = await w.overdue_case()

    code, out, _ = await temporal(w, w.keys["supervisor"], "workflow", "metadata", "-w", ref)
    assert code == 0, out
    details = out.split("Current Details:", 1)[1]
    assert "**Stage:** notified" in details
    assert f"**Overdue (1):** {OVERDUE_TASK}: decide and commission (due " in details

    code, out, took = await temporal(w, w.keys["caseworker"], "workflow", "metadata", "-w", ref)
    assert code != 0
    assert "Forbidden" in out and "A caseworker may not do this (allowed: supervisor)." in out, out
    assert took < 5, f"the refusal took {took:.1f} s"  # not the SDK's 10 s of retries
    assert OVERDUE_TASK not in out and "Stage" not in out

    # The history: decoded for the supervisor (an access record), never for the caseworker.
    code, out, _ = await temporal(w, w.keys["supervisor"], "workflow", "show", "-w", ref, "--output", "json")
    assert code == 0, out[-2000:]
    started = json.loads(out)["events"][0]["workflowExecutionStartedEventAttributes"]
    notification = json.loads(base64.b64decode(started["input"]["payloads"][0]["data"]))
    assert notification["health_summary"] == HEALTH and notification["child"]["given_name"] == CHILD[0]
    records = await eventually(lambda: w.access_records(ref), what="the supervisor's decode recorded")
    assert {(r["actor_name"], r["what"]) for r in records} == {("supervisor-1", "Temporal history (codec)")}
    code, out, took = await temporal(w, w.keys["caseworker"], "workflow", "show", "-w", ref, "--output", "json")
    assert code != 0 and HEALTH not in out and CHILD[0] not in out and "health_summary" not in out
    assert "context deadline exceeded" in out, out[-2000:]  # retried, as the README says
    assert {r["actor_name"] for r in await w.access_records(ref)} == {"supervisor-1"}


def readme_queries() -> dict[str, str]:
    """The saved queries of the README's supervisor section: what -> query."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("**Saved queries.**", 1)[1].split("\n\n", 2)[1]
    rows = re.findall(r"^\| ([^|`]+?) \| `([^`]+)` \|$", section, flags=re.MULTILINE)
    return dict(rows)


async def list_workflows(w: UiWorld, query: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        dev_server_path(), "workflow", "list", "--query", query, "--address", w.server.address, "--output", "json",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    return process.returncode or 0, out.decode()


async def test_every_saved_query_in_the_readme_runs_on_the_dev_server(ui_world: UiWorld) -> None:  # noqa: F811
    w = ui_world
    queries = readme_queries()
    assert {"Overdue", "Stalled", "Technically stuck", "Escalated", "Due before a day"} <= {
        what.split(" (")[0] for what in queries
    }, queries
    ref = await w.overdue_case()
    for what, query in queries.items():
        code, out = await list_workflows(w, query)
        assert code == 0, (what, query, out)
        if what.startswith("Overdue"):
            assert ref in out, (query, out)

    # `NextDeadline` needs a full timestamp, as the README says; with one, it finds the case.
    a_year_on = (utc_today() + timedelta(days=365)).isoformat()
    code, out = await list_workflows(w, f"NextDeadline < '{a_year_on}'")
    assert code != 0 and f"unable to parse datetime '{a_year_on}'" in out and ref not in out, out
    code, out = await list_workflows(w, f"ExecutionStatus = 'Running' AND NextDeadline < '{a_year_on}T00:00:00Z'")
    assert code == 0 and ref in out, out
