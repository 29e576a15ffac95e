"""The replay test really catches an incompatible change, and `workflow.patched` really makes such a
change safe. Each variant below is CaseWorkflow (same workflow type name) with one change to the
order of its commands, as a developer might make it."""

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import pytest
from temporalio import workflow

# The sandbox re-imports this module to run the variants below; everything but the workflow's own
# imports is test machinery, passed through rather than re-imported in the sandbox.
with workflow.unsafe.imports_passed_through():
    import email_validator  # noqa: F401  (as in workflows/case_workflow.py: pydantic imports it lazily)
    import idna  # noqa: F401
    from sqlmodel import SQLModel, create_engine
    from temporalio.api.enums.v1 import EventType
    from temporalio.client import WorkflowHistory
    from temporalio.testing import WorkflowEnvironment
    from temporalio.worker import Worker

    import readmodel.tables  # noqa: F401  (registers the tables)
    from activities.catalog import build_activities
    from domain import search_attributes as sa
    from domain.case_commands import OpenCase
    from domain.case_state import CaseResult
    from infra.temporal_client import build_data_converter
    from tests.case_harness import case_settings, notification
    from tests.record_histories import HISTORIES, HISTORY_TEST_KEY
    from tests.support import eventually, test_server_path
    from tests.test_replay import history_files, load_history, replayer_for
    from workflows.case_workflow import CaseWorkflow
    from workflows.retention_sweep import RetentionSweepWorkflow

FULL_CASE = HISTORIES / "full_case_to_full_time_return.json"
PATCH_ID = "pause-before-loading-rules"


@workflow.defn(name="CaseWorkflow")
class PausesBeforeLoadingRules(CaseWorkflow):
    """Incompatible: a new timer before the first activity (load_case_rules)."""

    @workflow.run
    async def run(self, case: OpenCase) -> CaseResult:
        return await super().run(case)

    async def _load_rules(self) -> None:
        await workflow.sleep(timedelta(seconds=1))
        await super()._load_rules()


@workflow.defn(name="CaseWorkflow")
class NeverProjects(CaseWorkflow):
    """Incompatible: the project_case activity is no longer scheduled."""

    @workflow.run
    async def run(self, case: OpenCase) -> CaseResult:
        return await super().run(case)

    async def _publish(self, *, wait: bool = False) -> None:
        self._upsert_search_attributes(self.view())
        self._read_model.stale = False


@workflow.defn(name="CaseWorkflow")
class PausesBeforeLoadingRulesIfPatched(CaseWorkflow):
    """The same change as PausesBeforeLoadingRules, behind `workflow.patched`."""

    @workflow.run
    async def run(self, case: OpenCase) -> CaseResult:
        return await super().run(case)

    async def _load_rules(self) -> None:
        if workflow.patched(PATCH_ID):
            await workflow.sleep(timedelta(seconds=1))
        await super()._load_rules()


async def test_reordered_commands_fail_replay_of_the_full_case(tmp_path: Path) -> None:
    history = load_history(FULL_CASE)
    for variant in (PausesBeforeLoadingRules, NeverProjects):
        result = await replayer_for(variant, base=tmp_path).replay_workflow(history, raise_on_replay_failure=False)
        assert isinstance(result.replay_failure, workflow.NondeterminismError), (variant.__name__, result)


@pytest.mark.timeout(360)  # every recorded history of every generation (about 100), on a shared machine
async def test_patched_change_replays_every_old_history(tmp_path: Path) -> None:
    replayer = replayer_for(PausesBeforeLoadingRulesIfPatched, RetentionSweepWorkflow, base=tmp_path)
    for path in history_files():  # the sweep's too: it replays beside the patched case
        result = await replayer.replay_workflow(load_history(path), raise_on_replay_failure=False)
        assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"


def _event_types(history: WorkflowHistory) -> list[str]:
    return [EventType.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in history.events]


async def test_patched_change_takes_the_new_path_in_new_cases(tmp_path: Path) -> None:
    """New cases do pause (a marker, then the timer, before load_case_rules); the patched code replays
    that new history, and the unpatched code cannot (so rolling back needs the patch kept)."""
    settings = case_settings(tmp_path, None, encryption_keys=HISTORY_TEST_KEY)
    SQLModel.metadata.create_all(create_engine(settings.database_url))
    async with await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(test_server_path()), data_converter=build_data_converter(settings),
    ) as env:
        await env.client.operator_service.add_search_attributes(sa.add_request(env.client.namespace))
        task_queue = f"patched-{uuid.uuid4()}"
        with ThreadPoolExecutor(max_workers=4) as executor:
            async with Worker(env.client, task_queue=task_queue, workflows=[PausesBeforeLoadingRulesIfPatched],
                              activities=build_activities(settings), activity_executor=executor):
                case = notification(date(2030, 1, 7))
                handle = await env.client.start_workflow(PausesBeforeLoadingRulesIfPatched.run, case,
                                                         id=case.case_ref, task_queue=task_queue)
                await env.sleep(timedelta(seconds=5))  # skipped time: the one-second pause's timer fires

                async def rules_requested() -> WorkflowHistory | None:  # load_case_rules scheduled after it
                    history = await handle.fetch_history()
                    return history if "ACTIVITY_TASK_SCHEDULED" in _event_types(history) else None

                history = await eventually(rules_requested, what="load_case_rules scheduled after the pause")

    types = _event_types(history)
    assert "MARKER_RECORDED" in types and "TIMER_STARTED" in types and "ACTIVITY_TASK_SCHEDULED" in types
    assert types.index("MARKER_RECORDED") < types.index("TIMER_STARTED") < types.index("ACTIVITY_TASK_SCHEDULED")
    patched = await replayer_for(PausesBeforeLoadingRulesIfPatched, base=tmp_path).replay_workflow(
        history, raise_on_replay_failure=False)
    assert patched.replay_failure is None, patched.replay_failure
    unpatched = await replayer_for(CaseWorkflow, base=tmp_path).replay_workflow(history, raise_on_replay_failure=False)
    assert isinstance(unpatched.replay_failure, workflow.NondeterminismError), unpatched
