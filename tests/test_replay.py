"""Cases already running must keep running after a deploy: every recorded history in tests/histories
(recorded by `python -m tests.record_histories`) replays against the current workflow code (cases
with `CaseWorkflow`, the retention sweep with `RetentionSweepWorkflow`) without
a nondeterminism error. A failure here means the change would break open cases on the next worker
restart; guard it with `workflow.patched` (README, "Changing workflow code safely").

The files themselves are checked too: every path has a history of the generation it was introduced
in and of the latest generation (a new generation is recorded for every path; one recorded on a
parallel branch could not cover a path introduced meanwhile), and no history ends in the middle of a workflow task (a
history fetched while the worker was still working is not what a case at rest looks like)."""

from collections import defaultdict
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from infra.temporal_client import build_data_converter
from infra.workflow_runner import share_compiled_code, workflow_runner
from tests.case_harness import workflow_task_done
from tests.record_histories import HISTORIES, HISTORY_TEST_KEY, PATHS
from tests.support import make_settings
from workflows.case_workflow import CaseWorkflow
from workflows.retention_sweep import RetentionSweepWorkflow


def history_files() -> list[Path]:
    return sorted(HISTORIES.glob("*.json"))


def path_and_generation(file: Path) -> tuple[str, int]:
    """`<path>.json` is generation 1, `<path>@<n>.json` generation n."""
    name, _, generation = file.stem.partition("@")
    return name, int(generation) if generation else 1


def load_history(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text(encoding="utf-8"))


def replayer_for(*workflows: type, base: Path) -> Replayer:
    """A replayer decoding with the fixed key the histories were recorded with, in the worker's sandbox."""
    settings = make_settings(base, encryption_keys=HISTORY_TEST_KEY)
    share_compiled_code()
    return Replayer(workflows=list(workflows), data_converter=build_data_converter(settings),
                    workflow_runner=workflow_runner())


def test_every_recorded_path_has_a_history() -> None:
    recorded = {path_and_generation(p)[0] for p in history_files()}
    assert recorded, f"no histories in {HISTORIES}: run `.venv/bin/python -m tests.record_histories`"
    assert recorded == set(PATHS), "tests/histories and tests/record_histories.PATHS disagree"


def test_every_path_has_its_first_and_the_latest_generation() -> None:
    generations: dict[str, set[int]] = defaultdict(set)
    for file in history_files():
        name, generation = path_and_generation(file)
        generations[name].add(generation)
    latest = max(g for recorded in generations.values() for g in recorded)
    wrong = {
        name: {"introduced": path.introduced, "recorded": sorted(generations[name])}
        for name, path in PATHS.items()
        if not {path.introduced, latest} <= generations[name] or min(generations[name]) != path.introduced
    }
    assert not wrong, (
        f"each path needs a history of its `introduced` generation and of the latest ({latest}); "
        f"record the missing ones with `.venv/bin/python -m tests.record_histories --generation N <path>`: {wrong}"
    )


@pytest.mark.parametrize("path", history_files(), ids=lambda p: p.stem)
def test_recorded_history_ends_at_a_completed_workflow_task(path: Path) -> None:
    assert workflow_task_done(load_history(path).events), (
        f"{path.name} ends mid-task: its last workflow task has no WorkflowTaskCompleted after it"
    )


@pytest.mark.parametrize("path", history_files(), ids=lambda p: p.stem)
async def test_recorded_history_replays_on_current_code(path: Path, tmp_path: Path) -> None:
    history = load_history(path)
    assert len(history.events) > 20, "a recorded history is never this short"
    replayer = replayer_for(CaseWorkflow, RetentionSweepWorkflow, base=tmp_path)  # each by its workflow type
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name} no longer replays: {result.replay_failure}"
